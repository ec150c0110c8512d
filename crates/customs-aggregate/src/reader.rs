//! The statistics reader: every aggregate instance reads *all* partitions of
//! the statistics topic (read-committed, from the beginning) into its view.
//!
//! This is what makes any instance answer for the whole: the statistics
//! topic holds every partition's absolute values, written by whichever
//! instance owns each partition, and every instance folds all of it — cells,
//! never declarations. While partitions move between owners the view keeps
//! answering from what it has read, and says which partitions are still
//! restoring. Records of a partition this instance owns are its own owner's,
//! which applied them at commit; the reader leaves them (applying an older
//! one after a newer commit would move the owner's base back).

use std::collections::BTreeMap;
use std::time::Duration;

use customs_domain::stats::Minute;
use customs_kafka::KafkaConfig;
use customs_kafka::client_log::Logging;
use customs_kafka::stage::now_ms;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::state::Shared;
use crate::stats_record::StatRecord;

/// Records applied under one write lock.
const MAX_APPLY_BATCH: usize = 2_000;

/// Reads `topic` into `shared` until shutdown. Blocking.
pub fn run(
    config: &KafkaConfig,
    topic: &str,
    shared: &Shared,
    shutdown: &CancellationToken,
) -> Result<(), KafkaError> {
    let consumer: BaseConsumer<Logging> = config
        .client_config()
        .set("group.id", format!("{}-view", config.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .create_with_context(Logging)?;
    let partitions = customs_kafka::reader::wait_for_partitions(&consumer, topic, shutdown)?;
    let mut targets = BTreeMap::new();
    let mut starts = BTreeMap::new();
    let mut assignment = TopicPartitionList::with_capacity(partitions.len());
    for partition in partitions {
        let Some((low, high)) =
            customs_kafka::reader::watermarks(&consumer, topic, partition, shutdown)
        else {
            return Ok(());
        };
        targets.insert(partition, high);
        // Until the consumer reports a position, the next offset is the
        // first one kept: an empty partition is restored at once.
        starts.insert(partition, low);
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    shared.set_positions(starts);
    consumer.assign(&assignment)?;
    tracing::info!(%topic, ?targets, "restoring the statistics view");
    // Exported at 0 from the start, so `rate()` and alerts see the series.
    let _registered = metrics::counter!("customs_aggregate_changelog_errors_total");
    shared.set_restore_targets(targets);
    let idle_ms = shared.statistics.idle_timeout.as_millis() as i64;
    let mut batch = Vec::with_capacity(MAX_APPLY_BATCH);
    let mut restored_logged = false;
    while !shutdown.is_cancelled() {
        batch.clear();
        let mut wait = Duration::from_millis(100);
        while batch.len() < MAX_APPLY_BATCH {
            match consumer.poll(wait) {
                Some(Ok(message)) => batch.push(message.detach()),
                Some(Err(err)) => customs_kafka::client_log::consumer_error(topic, &err),
                None => break,
            }
            wait = Duration::ZERO;
        }
        if !batch.is_empty() {
            apply(shared, &batch, idle_ms);
        }
        if let Ok(positions) = consumer.position() {
            shared.set_positions(positions.elements().iter().filter_map(|element| {
                match element.offset() {
                    Offset::Offset(offset) => Some((element.partition(), offset)),
                    _ => None,
                }
            }));
        }
        let restoring = shared.progress().restoring().len();
        metrics::gauge!("customs_aggregate_restoring_partitions").set(restoring as f64);
        if restoring == 0 && !restored_logged {
            restored_logged = true;
            let mut view = shared.write();
            view.finish_restore(now_ms(), idle_ms);
            tracing::info!(
                panes = view.panes().num_panes(),
                cells = view.panes().num_cells(),
                "statistics view restored"
            );
            drop(view);
            shared.changed();
        }
    }
    Ok(())
}

fn apply(shared: &Shared, batch: &[rdkafka::message::OwnedMessage], idle_ms: i64) {
    let now = now_ms();
    let owned: Vec<i32> = shared.owned().keys().copied().collect();
    let mut changed = false;
    {
        let mut view = shared.write();
        for message in batch {
            if owned.contains(&message.partition()) {
                continue;
            }
            changed = true;
            match StatRecord::decode(message.key().unwrap_or_default(), message.payload()) {
                Ok(StatRecord::Stat(key, value)) => {
                    view.apply_stat(message.partition(), &key, value.as_ref());
                }
                Ok(StatRecord::Watermark(minute)) => {
                    view.observe_watermark(message.partition(), minute as Minute, now);
                }
                Err(error) => {
                    metrics::counter!("customs_aggregate_changelog_errors_total").increment(1);
                    tracing::error!(
                        partition = message.partition(),
                        offset = message.offset(),
                        %error,
                        "statistics record skipped"
                    );
                }
            }
        }
        view.update_watermark(now, idle_ms);
    }
    if changed {
        shared.changed();
    }
}
