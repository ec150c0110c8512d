//! Taking a partition over: its lifecycle state from the changelog, and its
//! statistics in the view, both as the previous owner committed them.
//!
//! The changelog partition is read (read-committed) from its start to the
//! *high watermark* it had when the restore began, into a new store on disk
//! (committed every [`RESTORE_BATCH`] records, so memory holds one batch,
//! not the partition); the view must also have read the statistics
//! partition to its high watermark. The previous owner ended its last
//! transaction before it gave the partition up, so every record of that
//! transaction is below those high watermarks; but its commit markers are
//! written after the commit returns, and a read-committed end offset (the
//! last stable offset) can still stop before them. Reading to the high
//! watermark instead waits until the markers are there, so the changelog,
//! the statistics and the group's committed offsets (fetched as stable
//! offsets, KIP-447) all hold the same last transaction, and the new owner
//! continues from exactly the committed state. An open transaction of an
//! owner that died is waited out until the broker aborts it
//! (`transaction.timeout.ms`). Only then is the partition entered among the
//! owned ones: from that moment the statistics reader leaves that
//! partition's records to the owner, which applies its own at commit.
//!
//! The restore blocks the owner loop (not its consumer's group membership:
//! librdkafka's background thread keeps heartbeating); a restore longer
//! than `max.poll.interval.ms` would still evict the member — see the
//! README's limits.

use std::time::{Duration, Instant};

use customs_domain::lifecycle::partition::PartitionState;
use customs_kafka::client_log::Logging;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::Owner;
use crate::changelog::Change;

/// Changelog records restored per write to the store.
const RESTORE_BATCH: usize = 10_000;

/// Restores `partition` into the owner's state; returns early on shutdown.
pub(super) fn partition(owner: &mut Owner, partition: i32) {
    let started = Instant::now();
    let (Some(consumer), Some(probe)) = (
        client(owner, "read_committed"),
        client(owner, "read_uncommitted"),
    ) else {
        return;
    };
    // Both ends first: they hold every record the previous owner wrote.
    let Some(changelog_end) = end_offset(owner, &probe, &owner.topics.changelog, partition) else {
        return;
    };
    let Some(end) = end_offset(owner, &probe, &owner.topics.stats, partition) else {
        return;
    };
    let Some(state) = read_changelog(owner, &consumer, partition, changelog_end) else {
        return;
    };
    let mut report = Stalled::new();
    while !owner
        .shared
        .wait_for(partition, end, Duration::from_millis(200))
    {
        if owner.shutdown.is_cancelled() {
            return;
        }
        if report.due() {
            let read = owner.shared.progress().positions.get(&partition).copied();
            tracing::warn!(
                partition,
                read,
                end,
                "take-over waits for the statistics view to read the partition"
            );
        }
    }
    let entries = state.num_entries();
    owner.shared.owned().insert(partition, state);
    metrics::counter!("customs_aggregate_take_overs_total").increment(1);
    metrics::histogram!("customs_aggregate_take_over_seconds").record(started.elapsed());
    tracing::info!(
        partition,
        entries,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "partition state restored"
    );
}

/// A consumer for the restore, reading with `isolation` ("read_committed"
/// to read, "read_uncommitted" to learn high watermarks).
fn client(owner: &Owner, isolation: &str) -> Option<BaseConsumer<Logging>> {
    owner
        .kafka
        .client_config()
        .set("group.id", format!("{}-restore", owner.kafka.group_id))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create_with_context(Logging)
        .inspect_err(|error| tracing::error!(%error, "cannot create the restore consumer"))
        .ok()
}

/// The end offset of `topic`'s `partition` as `consumer` sees it: the high
/// watermark for a read-uncommitted one.
fn end_offset(
    owner: &Owner,
    consumer: &BaseConsumer<Logging>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    customs_kafka::reader::watermarks(consumer, topic, partition, &owner.shutdown)
        .map(|(_, high)| high)
}

/// Reads the changelog partition up to `end`, an offset it had reached.
fn read_changelog(
    owner: &Owner,
    consumer: &BaseConsumer<Logging>,
    partition: i32,
    end: i64,
) -> Option<PartitionState> {
    let topic = &owner.topics.changelog;
    let store = match owner.disk.partition(partition) {
        Ok(store) => store,
        Err(error) => {
            // Not recoverable here: the stage's loop cannot own the
            // partition without its state.
            panic!("cannot create the lifecycle state store of partition {partition}: {error}");
        }
    };
    let mut state = PartitionState::with_store(owner.policy, Box::new(store));
    if end == 0 {
        return Some(state);
    }
    let mut assignment = TopicPartitionList::with_capacity(1);
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .ok()?;
    consumer.assign(&assignment).ok()?;
    let mut position = 0;
    let mut report = Stalled::new();
    while position < end {
        if owner.shutdown.is_cancelled() {
            return None;
        }
        if report.due() {
            tracing::warn!(
                partition,
                position,
                end,
                "changelog restore is slow or stalled (a transaction still open there holds it until the transaction ends)"
            );
        }
        if state.num_open() >= RESTORE_BATCH {
            state.commit();
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                position = message.offset() + 1;
                match Change::decode(message.key().unwrap_or_default(), message.payload()) {
                    Ok(Change::Entry(key, stored)) => state.restore_entry(&key, stored),
                    Ok(Change::Summary(id, mark)) => state.restore_summary(&id, mark),
                    Err(error) => {
                        metrics::counter!("customs_aggregate_changelog_errors_total").increment(1);
                        tracing::error!(
                            partition,
                            offset = message.offset(),
                            "changelog record skipped"
                        );
                        tracing::debug!(%error, partition, "changelog record skipped");
                    }
                }
            }
            Some(Err(err)) => customs_kafka::client_log::consumer_error(topic, &err),
            None => {
                state.commit();
                // Past the last record (compaction, transaction markers).
                if let Ok(positions) = consumer.position()
                    && let Some(Offset::Offset(at)) = positions
                        .find_partition(topic, partition)
                        .map(|element| element.offset())
                {
                    position = position.max(at);
                }
            }
        }
    }
    state.commit();
    Some(state)
}

/// Says every [`STALL_REPORT`] that a wait goes on, so an operator (and a
/// failing test's log) sees where a take-over is.
struct Stalled(Instant);

/// How often a long wait is reported.
const STALL_REPORT: Duration = Duration::from_secs(30);

impl Stalled {
    fn new() -> Self {
        Stalled(Instant::now())
    }

    fn due(&mut self) -> bool {
        let due = self.0.elapsed() >= STALL_REPORT;
        if due {
            self.0 = Instant::now();
        }
        due
    }
}
