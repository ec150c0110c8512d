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
//! A [`Restore`] never blocks the owner loop for long: the stage pauses the
//! partition in its consumer and calls [`Restore::step`] between polls, each
//! time for a bounded budget, so the instance keeps its group membership
//! however long the changelog is (or however long a dead owner's
//! transaction holds its end), as Kafka Streams restores with its active
//! partitions paused. A failure to open the restore's clients is retried;
//! shutdown or a revocation drops the restore and the store it was filling.

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
/// Pause before opening a restore's clients again after a failure.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Longest single wait for the next changelog record.
const MAX_POLL_WAIT: Duration = Duration::from_millis(100);
/// How long a changelog read may receive nothing before the restore asks
/// whether an open transaction holds it (and how often it asks again).
const QUIET_BEFORE_ASKING: Duration = Duration::from_secs(1);

/// The take-over of one partition, advanced step by step.
pub(super) struct Restore {
    /// The input (classified) topic, as the stage names the partition.
    topic: String,
    partition: i32,
    started: Instant,
    phase: Phase,
    report: Stalled,
    /// When the changelog last moved the position, or the restore last
    /// asked whether a transaction holds it.
    last_progress: Instant,
    /// The changelog's read-committed end (last stable offset) stops at the
    /// position while its high watermark is beyond: an open transaction
    /// holds the rest.
    held: bool,
}

enum Phase {
    /// No client open yet (again at `not_before` after a failure).
    Start { not_before: Instant },
    /// Reading the changelog partition up to `end`.
    Changelog {
        consumer: BaseConsumer<Logging>,
        state: PartitionState,
        position: i64,
        end: i64,
        stats_end: i64,
    },
    /// Waiting for the view to have read the statistics partition to
    /// `stats_end` (and to have restored every partition once).
    Statistics {
        state: PartitionState,
        stats_end: i64,
    },
}

impl Restore {
    /// The take-over of `topic`'s `partition`, not started yet.
    pub(super) fn new(topic: String, partition: i32) -> Self {
        Restore {
            topic,
            partition,
            started: Instant::now(),
            phase: Phase::Start {
                not_before: Instant::now(),
            },
            report: Stalled::new(),
            last_progress: Instant::now(),
            held: false,
        }
    }

    /// Whether an open transaction (of an owner that died, until the broker
    /// aborts it) holds the changelog's end: the owner then lets the
    /// take-overs queued behind this one go first, so one stuck partition
    /// never holds the others back.
    pub(super) fn held_by_transaction(&self) -> bool {
        self.held
    }

    /// The partition taken over.
    pub(super) fn partition(&self) -> i32 {
        self.partition
    }

    /// The partition as the stage names it.
    pub(super) fn topic_partition(&self) -> (String, i32) {
        (self.topic.clone(), self.partition)
    }

    /// Advances the take-over for at most about `budget`; returns the
    /// partition's state once it holds exactly what the previous owner
    /// committed. Returns early while it can only wait (for the view, or
    /// to retry), so the caller's next poll comes at once.
    pub(super) fn step(&mut self, owner: &Owner, budget: Duration) -> Option<PartitionState> {
        let deadline = Instant::now() + budget;
        while !owner.shutdown.is_cancelled() && Instant::now() < deadline {
            let now = Instant::now();
            let phase = std::mem::replace(&mut self.phase, Phase::Start { not_before: now });
            let (next, waiting) = match phase {
                Phase::Start { not_before } if now < not_before => {
                    (Phase::Start { not_before }, true)
                }
                Phase::Start { .. } => match open(owner, self.partition) {
                    Some(opened) => (opened, false),
                    None => {
                        let not_before = now + RETRY_AFTER;
                        (Phase::Start { not_before }, true)
                    }
                },
                Phase::Changelog {
                    consumer,
                    mut state,
                    mut position,
                    end,
                    stats_end,
                } => {
                    let before = position;
                    let partition = (self.partition, &mut position, end);
                    read_changelog(owner, &consumer, &mut state, partition, deadline);
                    if position > before {
                        self.last_progress = now;
                        self.held = false;
                    } else if self.last_progress.elapsed() >= QUIET_BEFORE_ASKING {
                        self.last_progress = Instant::now();
                        self.held = stable_end(owner, &consumer, self.partition)
                            .is_some_and(|stable| stable <= position);
                    }
                    if position >= end {
                        state.commit();
                        (Phase::Statistics { state, stats_end }, false)
                    } else {
                        if self.report.due() {
                            tracing::warn!(
                                partition = self.partition,
                                position,
                                end,
                                "changelog restore is slow or stalled (a transaction still open there holds it until the transaction ends)"
                            );
                        }
                        let reading = Phase::Changelog {
                            consumer,
                            state,
                            position,
                            end,
                            stats_end,
                        };
                        (reading, false)
                    }
                }
                Phase::Statistics { state, stats_end } => {
                    let shared = &owner.shared;
                    if shared.wait_restored(Duration::ZERO)
                        && shared.wait_for(self.partition, stats_end, Duration::ZERO)
                    {
                        self.finished(&state);
                        return Some(state);
                    }
                    if self.report.due() {
                        let read = shared.progress().positions.get(&self.partition).copied();
                        tracing::warn!(
                            partition = self.partition,
                            read,
                            end = stats_end,
                            "take-over waits for the statistics view to read the partition"
                        );
                    }
                    (Phase::Statistics { state, stats_end }, true)
                }
            };
            self.phase = next;
            if waiting {
                return None;
            }
        }
        None
    }

    fn finished(&self, state: &PartitionState) {
        metrics::counter!("customs_aggregate_take_overs_total").increment(1);
        metrics::histogram!("customs_aggregate_take_over_seconds").record(self.started.elapsed());
        tracing::info!(
            partition = self.partition,
            entries = state.num_entries(),
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            "partition state restored"
        );
    }
}

/// Opens the restore of `partition`: its clients, both end offsets (they
/// hold every record the previous owner wrote) and a new store. `None`
/// when a client cannot be created or shutdown came first.
fn open(owner: &Owner, partition: i32) -> Option<Phase> {
    let consumer = client(owner, "read_committed")?;
    let probe = client(owner, "read_uncommitted")?;
    let end_offset = |topic: &str| {
        customs_kafka::reader::watermarks(&probe, topic, partition, &owner.shutdown)
            .map(|(_, high)| high)
    };
    let changelog_end = end_offset(&owner.topics.changelog)?;
    let stats_end = end_offset(&owner.topics.stats)?;
    let store = match owner.disk.partition(partition) {
        Ok(store) => store,
        Err(error) => {
            // Not recoverable here: the stage's loop cannot own the
            // partition without its state.
            panic!("cannot create the lifecycle state store of partition {partition}: {error}");
        }
    };
    let state = PartitionState::with_store(owner.policy, Box::new(store));
    if changelog_end == 0 {
        return Some(Phase::Statistics { state, stats_end });
    }
    let mut assignment = TopicPartitionList::with_capacity(1);
    assignment
        .add_partition_offset(&owner.topics.changelog, partition, Offset::Beginning)
        .ok()?;
    consumer
        .assign(&assignment)
        .inspect_err(
            |error| tracing::error!(%error, partition, "cannot assign the changelog partition"),
        )
        .ok()?;
    Some(Phase::Changelog {
        consumer,
        state,
        position: 0,
        end: changelog_end,
        stats_end,
    })
}

/// The changelog partition's end as `consumer` (read-committed) sees it:
/// the last stable offset. One request, no retry: on an error the restore
/// keeps its turn, the safe side.
fn stable_end(owner: &Owner, consumer: &BaseConsumer<Logging>, partition: i32) -> Option<i64> {
    consumer
        .fetch_watermarks(&owner.topics.changelog, partition, Duration::from_secs(5))
        .ok()
        .map(|(_, stable)| stable)
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

/// Reads the changelog partition into `state` until `deadline` or its
/// `end`, an offset it had reached; `position` is the next offset to read.
fn read_changelog(
    owner: &Owner,
    consumer: &BaseConsumer<Logging>,
    state: &mut PartitionState,
    (partition, position, end): (i32, &mut i64, i64),
    deadline: Instant,
) {
    let topic = &owner.topics.changelog;
    while *position < end && !owner.shutdown.is_cancelled() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return;
        }
        if state.num_open() >= RESTORE_BATCH {
            state.commit();
        }
        match consumer.poll(remaining.min(MAX_POLL_WAIT)) {
            Some(Ok(message)) => {
                *position = message.offset() + 1;
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
                    *position = (*position).max(at);
                }
            }
        }
    }
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
