//! A read-committed reader of every partition of one topic, from the start.
//!
//! Used where a service's state is a fold over a topic (the aggregate's
//! skeleton state): reading the whole topic again on start rebuilds exactly
//! the same state, so no offsets are committed and no consumer group is
//! joined. Only committed transactions are read (`isolation.level =
//! read_committed`), so aborted or in-flight upstream output never counts.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::config::KafkaConfig;
use crate::stage::Record;

/// Reads `topic` from the beginning until `shutdown`, calling `handle` for
/// each committed record in partition order. Blocking: run it on a
/// dedicated thread.
pub fn read_topic(
    config: &KafkaConfig,
    topic: &str,
    shutdown: &CancellationToken,
    mut handle: impl FnMut(&Record<'_>),
) -> Result<(), KafkaError> {
    let consumer: BaseConsumer = config
        .client_config()
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let partitions = wait_for_partitions(&consumer, topic, shutdown)?;
    let mut assignment = TopicPartitionList::with_capacity(partitions.len());
    for partition in partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    tracing::info!(%topic, num_partitions = assignment.count(), "reading topic from the beginning");
    while !shutdown.is_cancelled() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => handle(&Record {
                topic: message.topic(),
                partition: message.partition(),
                offset: message.offset(),
                key: message.key(),
                payload: message.payload().unwrap_or_default(),
            }),
            Some(Err(err)) => tracing::warn!(%topic, error = %err, "consumer error"),
            None => {}
        }
    }
    Ok(())
}

/// Partition ids of `topic`, waiting (until shutdown) for it to exist.
fn wait_for_partitions(
    consumer: &BaseConsumer,
    topic: &str,
    shutdown: &CancellationToken,
) -> Result<Vec<i32>, KafkaError> {
    loop {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
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
