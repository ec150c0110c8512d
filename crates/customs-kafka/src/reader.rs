//! A read-committed reader of every partition of one topic, from the start.
//!
//! Used where a service's state is a fold over a topic (the aggregate's
//! skeleton state): reading the whole topic again on start rebuilds exactly
//! the same state, so no offsets are committed and no consumer group is
//! joined. Only committed transactions are read (`isolation.level =
//! read_committed`), so aborted or in-flight upstream output never counts.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::client_log::Logging;
use crate::config::KafkaConfig;
use crate::dead_letter::DeadLetter;

/// Reads `topic` from the beginning until `shutdown` or until `handle`
/// returns [`ControlFlow::Break`], calling it for each committed record in
/// partition order. Blocking: run it on a dedicated thread.
pub fn read_topic(
    config: &KafkaConfig,
    topic: &str,
    shutdown: &CancellationToken,
    mut handle: impl FnMut(&BorrowedMessage<'_>) -> ControlFlow<()>,
) -> Result<(), KafkaError> {
    let consumer: BaseConsumer<Logging> = config
        .client_config()
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .create_with_context(Logging)?;
    let partitions = wait_for_partitions(&consumer, topic, shutdown)?;
    let mut assignment = TopicPartitionList::with_capacity(partitions.len());
    for partition in partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    tracing::info!(%topic, num_partitions = assignment.count(), "reading topic from the beginning");
    while !shutdown.is_cancelled() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) if handle(&message).is_break() => break,
            Some(Ok(_)) | None => {}
            Some(Err(err)) => crate::client_log::consumer_error(topic, &err),
        }
    }
    Ok(())
}

/// Partition ids of `topic`, waiting (until shutdown) for it to exist. A
/// failed metadata request is asked again, like a missing topic: both
/// happen while a broker starts or restarts.
pub fn wait_for_partitions<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    shutdown: &CancellationToken,
) -> Result<Vec<i32>, KafkaError> {
    loop {
        let metadata = match consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) {
            Ok(metadata) => metadata,
            Err(err) if !shutdown.is_cancelled() => {
                tracing::warn!(%topic, error = %err, "cannot read topic metadata, retrying");
                std::thread::sleep(RETRY_BACKOFF);
                continue;
            }
            Err(err) => return Err(err),
        };
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if !partitions.is_empty() || shutdown.is_cancelled() {
            return Ok(partitions);
        }
        tracing::info!(%topic, "waiting for topic to exist");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Pause between two attempts of a metadata or offsets request.
const RETRY_BACKOFF: Duration = Duration::from_millis(500);

/// The low and high watermarks of `topic`'s `partition`, asked again until
/// they come or `shutdown` (then `None`).
///
/// librdkafka does not retry a ListOffsets request that a broker refuses
/// (e.g. `NOT_LEADER_OR_FOLLOWER` for a topic created a moment ago, or while
/// a broker restarts), so one refusal must not end the caller: for a
/// service, not knowing an end offset yet is transient, never fatal.
pub fn watermarks<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    shutdown: &CancellationToken,
) -> Option<(i64, i64)> {
    let mut attempts: u32 = 0;
    loop {
        match consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)) {
            Ok(watermarks) => return Some(watermarks),
            Err(_) if shutdown.is_cancelled() => return None,
            Err(err) => {
                attempts += 1;
                // The first refusal is ordinary after a topic was created;
                // say so only when it lasts.
                if attempts % 10 == 2 {
                    tracing::warn!(%topic, partition, attempts, error = %err, "cannot read offsets, retrying");
                }
                std::thread::sleep(RETRY_BACKOFF);
            }
        }
    }
}

/// Reads dead letters (or any records, as payload and headers) from `topic`
/// until `expected` have arrived and no more came for `settle` (so a
/// duplicate would be seen), or until `timeout`. Blocking.
pub fn read_dead_letters(
    config: &KafkaConfig,
    topic: &str,
    expected: usize,
    settle: Duration,
    timeout: Duration,
) -> Result<Vec<DeadLetter>, KafkaError> {
    let stop = CancellationToken::new();
    let deadline = Instant::now() + timeout;
    let settle_until: Arc<Mutex<Option<Instant>>> = Arc::default();
    let watchdog = {
        let (stop, settle_until) = (stop.clone(), Arc::clone(&settle_until));
        std::thread::spawn(move || {
            loop {
                let settled = settle_until
                    .lock()
                    .map(|until| until.is_some_and(|until| Instant::now() >= until))
                    .unwrap_or(true);
                if stop.is_cancelled() || settled || Instant::now() >= deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            stop.cancel();
        })
    };
    let mut letters = Vec::new();
    let outcome = read_topic(config, topic, &stop, |message| {
        letters.push(DeadLetter::from_message(message));
        if letters.len() >= expected
            && let Ok(mut until) = settle_until.lock()
        {
            until.get_or_insert_with(|| Instant::now() + settle);
        }
        ControlFlow::Continue(())
    });
    stop.cancel();
    let _joined = watchdog.join();
    outcome.map(|()| letters)
}

#[cfg(test)]
mod tests;
