//! The owner loop: for the classified partitions this instance owns (one
//! consumer group), run each declaration's lifecycle and publish what it
//! changes.
//!
//! Guarantee: **exactly-once** from the classified topic to the changelog
//! and the statistics topic. It runs inside [`customs_kafka::stage`]: each
//! batch is one transaction holding the changelog records (the partition's
//! lifecycle state), the statistics records (the absolute value of every
//! statistic the batch changed, once per key), the late-event records and
//! the consumed offsets. Only after the commit are the statistics applied to
//! the local view (so a query never sees uncommitted figures); other
//! instances see them when their statistics reader reads them. An aborted
//! batch's changes are rolled back ([`PartitionState::rollback`]) and its
//! records are read again.
//!
//! State: only the partitions this instance owns, one
//! [`PartitionState`] each, restored from that changelog partition when the
//! partition is assigned ([`restore`]: one partition at a time, between the
//! stage's polls, while the stage holds the partition paused), dropped when
//! it is revoked. The
//! statistics of a partition are not held here but in the view, which every
//! instance builds from the statistics topic: the owner reads its
//! partition's current values there.
//!
//! Event time and lateness are the domain's [`Policy`]: an event older than
//! the watermark minus the allowed lateness, or one that would restate a
//! figure dated before that horizon, is diverted to the late topic with the
//! reason `beyond_allowed_lateness` and changes nothing — summary results
//! included.

mod restore;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use customs_domain::lifecycle::partition::{Outcome, PartitionState};
use customs_domain::lifecycle::policy::Policy;
use customs_domain::lifecycle::{Contribution, lifecycle_key};
use customs_domain::stats::cell::Tally;
use customs_domain::stats::time::parse_minute;
use customs_domain::stats::{Measures, Minute, PaneLayout, StatKey, Tier};
use customs_domain::{ClassifiedDeclaration, Receipt, RejectReason};
use customs_kafka::stage::now_ms;
use customs_kafka::{KafkaConfig, Output, Record, Transform};
use customs_proto::v1;
use prost::Message;
use tokio_util::sync::CancellationToken;

use crate::state::Shared;
use crate::store::Disk;
use crate::{changelog, stats_record};

/// Lifecycle changes per partition and housekeeping round, so one
/// transaction stays small.
const MAX_HOUSEKEEPING_CHANGES: usize = 5_000;

/// Where the owner writes.
#[derive(Debug, Clone)]
pub struct OwnerTopics {
    /// The lifecycle state (compacted).
    pub changelog: String,
    /// The statistics (compacted).
    pub stats: String,
    /// Events beyond the allowed lateness.
    pub late: String,
}

/// The aggregate's transform.
pub struct Owner {
    shared: Arc<Shared>,
    /// Where owned partitions keep their committed lifecycle state.
    disk: Disk,
    topics: OwnerTopics,
    kafka: KafkaConfig,
    shutdown: CancellationToken,
    policy: Policy,
    layout: PaneLayout,
    /// Statistics changed by the open transaction: (partition, key) → delta.
    deltas: foldhash::HashMap<(i32, StatKey), Measures>,
    /// Raw-record timestamp and ingest time of each record in the transaction.
    times: Vec<(Option<i64>, i64)>,
    /// What the committed transaction applies to the view.
    to_apply: Vec<(i32, StatKey, Option<Measures>)>,
    num_late: u64,
    num_expired: u64,
    num_sealed: u64,
    num_forgotten: u64,
    /// Partition watermarks: the view's when the transaction began, moved
    /// on by the transaction's own events.
    batch_marks: BTreeMap<i32, Minute>,
    /// Partitions whose watermark this transaction moved.
    marks_moved: Vec<i32>,
    /// The view's global watermark when the transaction began.
    batch_global: Option<Minute>,
    /// Partitions due for housekeeping at their next record.
    housekeeping_due: Vec<i32>,
    last_housekeeping: Instant,
    /// Take-overs not finished yet, in assignment order: only the first
    /// one reads, so one changelog consumer and one new store are open at
    /// a time — except that one held by an open transaction goes to the
    /// back and stays open while the next ones read.
    restores: VecDeque<restore::Restore>,
}

impl Owner {
    /// An owner writing to `topics`.
    pub fn new(
        shared: Arc<Shared>,
        disk: Disk,
        kafka: &KafkaConfig,
        topics: OwnerTopics,
        shutdown: CancellationToken,
    ) -> Self {
        let policy = shared.statistics.policy();
        let layout = *shared.read().panes().layout();
        // Exported at 0 from the start, for `rate()` and alerts.
        let _registered = metrics::counter!("customs_aggregate_take_overs_total");
        Owner {
            layout,
            shared,
            disk,
            topics,
            kafka: kafka.clone(),
            shutdown,
            policy,
            deltas: Default::default(),
            times: Vec::new(),
            to_apply: Vec::new(),
            num_late: 0,
            num_expired: 0,
            num_sealed: 0,
            num_forgotten: 0,
            batch_marks: BTreeMap::new(),
            marks_moved: Vec::new(),
            batch_global: None,
            housekeeping_due: Vec::new(),
            last_housekeeping: Instant::now(),
            restores: VecDeque::new(),
        }
    }

    /// The watermark lateness is judged by: the view's global one, or —
    /// when that is behind, e.g. in the first transaction — the minimum over
    /// every partition's progress including this transaction's.
    fn watermark(&self) -> Option<Minute> {
        let local = self.batch_marks.values().copied().min();
        self.batch_global.max(local)
    }

    /// Takes the view's watermarks for the coming records (they only change
    /// when a transaction commits).
    fn snapshot_marks(&mut self) {
        let view = self.shared.read();
        self.batch_marks = view.watermarks().partitions().collect();
        self.batch_global = view.watermarks().global();
    }

    fn step(&mut self, record: &Record<'_>) -> Result<(), Output> {
        let kind = v1::ClassifiedEvent::decode(record.payload)
            .map_err(|err| dead(RejectReason::UndecodableRecord, err.to_string()))?
            .kind
            .ok_or_else(|| {
                dead(
                    RejectReason::UndecodableRecord,
                    "classified event without kind".to_owned(),
                )
            })?;
        let horizon = self.policy.horizon(self.watermark());
        let partition = record.partition;
        let mut owned = self.shared.owned();
        let Some(state) = owned.get_mut(&partition) else {
            // `prepare` admits a batch only when every partition of it is
            // held; an empty state here would miscount, so stop instead.
            panic!("partition {partition} is not held: its records cannot be counted");
        };
        let (outcome, event_minute) = match kind {
            v1::classified_event::Kind::Declaration(wire) => {
                let classified = ClassifiedDeclaration::try_from(wire)
                    .map_err(|err| dead(RejectReason::UndecodableRecord, err.to_string()))?;
                let at = classified.declaration.declared_at.as_deref().unwrap_or("");
                let minute = event_minute(at)?;
                let key = lifecycle_key(&classified.declaration).to_owned();
                let outcome = state.record_declaration(&key, &classified, minute, horizon);
                (outcome, Some(minute))
            }
            v1::classified_event::Kind::Receipt(wire) => {
                let receipt = Receipt::try_from(wire)
                    .map_err(|err| dead(RejectReason::UndecodableRecord, err.to_string()))?;
                let minute = event_minute(&receipt.returned_at)?;
                (
                    state.record_receipt(&receipt, minute, horizon),
                    Some(minute),
                )
            }
            v1::classified_event::Kind::SummaryResult(wire) => {
                let summary: customs_domain::SummaryResult = wire.into();
                // `opDate`; without one, the watermark when it came (never
                // the wall clock: it must not move event time on).
                let (minute, dated) = match summary.operated_at.as_deref() {
                    Some(at) => (event_minute(at)?, true),
                    None => (
                        self.watermark()
                            .or(record.timestamp_ms.map(|ms| ms.div_euclid(60_000)))
                            .unwrap_or_default(),
                        false,
                    ),
                };
                let outcome =
                    state.record_summary(summary.id(), &summary.invt_nos, minute, horizon);
                (outcome, dated.then_some(minute))
            }
        };
        drop(owned);
        match outcome {
            Outcome::Unchanged => Ok(()),
            Outcome::Late(detail) => {
                self.num_late += 1;
                Err(Output::Divert {
                    topic: self.topics.late.clone(),
                    reason: RejectReason::BeyondAllowedLateness,
                    detail: format!("{detail} (partition {partition})"),
                })
            }
            Outcome::Changed { retract, add } => {
                for contribution in &retract {
                    self.add_delta(partition, contribution, -1)?;
                }
                for contribution in &add {
                    self.add_delta(partition, contribution, 1)?;
                }
                if let Some(minute) = event_minute {
                    self.advance_mark(partition, minute);
                }
                Ok(())
            }
        }
    }

    fn add_delta(
        &mut self,
        partition: i32,
        contribution: &Contribution,
        sign: i64,
    ) -> Result<(), Output> {
        let minute = parse_minute(&contribution.counted_at).ok_or_else(|| {
            dead(
                RejectReason::MalformedDate,
                format!("release time {:?} is not a time", contribution.counted_at),
            )
        })?;
        let tally = Tally::of(contribution);
        let watermark = self.watermark();
        for (key, delta) in self.layout.deltas(&tally, minute, sign, watermark) {
            self.deltas
                .entry((partition, key))
                .or_default()
                .add(&delta, 1);
        }
        Ok(())
    }

    fn advance_mark(&mut self, partition: i32, minute: Minute) {
        let mark = self.batch_marks.get(&partition).copied();
        if mark.is_none_or(|mark| minute > mark) {
            self.batch_marks.insert(partition, minute);
            if !self.marks_moved.contains(&partition) {
                self.marks_moved.push(partition);
            }
        }
    }

    /// Housekeeping of one owned partition: seal final entries, expire
    /// waiting receipts, forget old markers and summaries, and tombstone the
    /// statistics keys whose panes are past their tier's span.
    fn housekeeping(&mut self, partition: i32, outputs: &mut Vec<Output>) {
        let Some(watermark) = self.watermark() else {
            return;
        };
        if let Some(state) = self.shared.owned().get_mut(&partition) {
            let swept = state.housekeeping(watermark, MAX_HOUSEKEEPING_CHANGES);
            tracing::debug!(
                partition,
                watermark = %customs_domain::stats::time::format_minute(watermark),
                entries = state.num_entries(),
                sealed = swept.sealed,
                expired = swept.expired,
                forgotten = swept.forgotten,
                "housekeeping"
            );
            self.num_sealed += swept.sealed;
            self.num_expired += swept.expired;
            self.num_forgotten += swept.forgotten;
        }
        let view = self.shared.read();
        for tier in Tier::ALL {
            let from = self.layout.prune_floor(tier, Some(watermark));
            let to = self.layout.floor(tier, Some(watermark)) - tier.slack();
            for key in view.panes().keys_of(partition, tier, from, to) {
                if self.to_apply.len() >= MAX_HOUSEKEEPING_CHANGES {
                    break;
                }
                outputs.push(send(
                    &self.topics.stats,
                    partition,
                    stats_record::encode_key(&key),
                    None,
                ));
                self.to_apply.push((partition, key, None));
            }
        }
    }

    /// Queues the take-over of each of `partitions` not held or queued
    /// yet; returns the ones queued, whose records must wait.
    fn queue_restores(&mut self, partitions: &[(String, i32)]) -> Vec<(String, i32)> {
        let mut queued = Vec::new();
        for (topic, partition) in partitions {
            let held = self.shared.owned().contains_key(partition);
            if held || self.restores.iter().any(|r| r.partition() == *partition) {
                continue;
            }
            self.restores
                .push_back(restore::Restore::new(topic.clone(), *partition));
            queued.push((topic.clone(), *partition));
        }
        queued
    }

    /// The committed state this instance holds, over its owned partitions.
    fn state_gauges(&self) {
        let (entries, waiting) = self.shared.owned().values().fold((0, 0), |(e, w), state| {
            (e + state.num_entries(), w + state.num_waiting())
        });
        metrics::gauge!("customs_aggregate_state_entries").set(entries as f64);
        metrics::gauge!("customs_aggregate_lifecycle_waiting").set(waiting as f64);
    }

    fn clear(&mut self) {
        self.deltas.clear();
        self.times.clear();
        self.to_apply.clear();
        self.marks_moved.clear();
        self.num_late = 0;
        self.num_expired = 0;
        self.num_sealed = 0;
        self.num_forgotten = 0;
    }
}

/// A record for `topic`'s `partition`; `None` is a tombstone.
fn send(topic: &str, partition: i32, key: Vec<u8>, payload: Option<Vec<u8>>) -> Output {
    Output::Send {
        topic: topic.to_owned(),
        partition: Some(partition),
        key,
        payload,
    }
}

fn dead(reason: RejectReason, detail: String) -> Output {
    Output::DeadLetter { reason, detail }
}

fn event_minute(at: &str) -> Result<Minute, Output> {
    parse_minute(at).ok_or_else(|| {
        dead(
            RejectReason::MalformedDate,
            format!("event time {at:?} is not a time"),
        )
    })
}

impl Transform for Owner {
    fn transform(&mut self, record: &Record<'_>, outputs: &mut Vec<Output>) {
        self.times
            .push((record.timestamp_ms, record.ingested_at_ms));
        if let Some(at) = self
            .housekeeping_due
            .iter()
            .position(|p| *p == record.partition)
        {
            self.housekeeping_due.swap_remove(at);
            self.housekeeping(record.partition, outputs);
        }
        if let Err(diverted) = self.step(record) {
            outputs.push(diverted);
        }
    }

    fn finish(&mut self, outputs: &mut Vec<Output>) {
        // The lifecycle changes, once per key.
        {
            let owned = self.shared.owned();
            for (partition, state) in owned.iter() {
                for (key, stored) in state.dirty() {
                    let (key, payload) = changelog::encode_entry(key, stored);
                    outputs.push(send(&self.topics.changelog, *partition, key, payload));
                }
                for (id, mark) in state.dirty_summaries() {
                    let (key, payload) = changelog::encode_summary(id, mark);
                    outputs.push(send(&self.topics.changelog, *partition, key, payload));
                }
            }
        }
        // The statistics: each changed key's new absolute value, once.
        let view = self.shared.read();
        for ((partition, key), delta) in self.deltas.drain() {
            let mut value = view.stat(partition, &key).cloned().unwrap_or_default();
            value.add(&delta, 1);
            let payload = stats_record::encode_value(Some(&value));
            let record_key = stats_record::encode_key(&key);
            outputs.push(send(&self.topics.stats, partition, record_key, payload));
            self.to_apply.push((partition, key, Some(value)));
        }
        drop(view);
        for partition in &self.marks_moved {
            if let Some(minute) = self.batch_marks.get(partition) {
                let (key, value) = stats_record::encode_watermark(*minute);
                outputs.push(send(&self.topics.stats, *partition, key, Some(value)));
            }
        }
    }

    fn prepare(&mut self, partitions: &[(String, i32)]) -> bool {
        // Every partition of the batch must be held whole. A partition
        // still being taken over is paused by the stage, but records it
        // fetched before the pause may reach a batch: that batch is read
        // again later, never counted against a state not restored yet. A
        // held partition also means the view had restored every partition
        // (a take-over ends only then), so the watermarks of all of them
        // take part in lateness decisions.
        let missing = {
            let owned = self.shared.owned();
            partitions
                .iter()
                .map(|(_, partition)| *partition)
                .find(|partition| !owned.contains_key(partition))
        };
        if let Some(partition) = missing {
            if self.queue_restores(partitions).is_empty() {
                tracing::debug!(
                    partition,
                    "partition still being taken over; the batch is read again"
                );
            } else {
                tracing::error!(
                    partition,
                    "a batch of a partition neither held nor being taken over; taking it over, the batch is read again"
                );
            }
            return false;
        }
        // After any restore: lateness is judged against the restored
        // watermarks, never against an empty view.
        self.snapshot_marks();
        if self.last_housekeeping.elapsed() >= self.shared.statistics.housekeeping_interval {
            self.last_housekeeping = Instant::now();
            self.housekeeping_due = self.shared.owned().keys().copied().collect();
        }
        true
    }

    fn committed(&mut self) {
        let now = now_ms();
        let idle_ms = self.shared.statistics.idle_timeout.as_millis() as i64;
        self.shared
            .owned()
            .values_mut()
            .for_each(PartitionState::commit);
        {
            let mut view = self.shared.write();
            for (partition, key, value) in self.to_apply.drain(..) {
                view.apply_stat(partition, &key, value.as_ref());
            }
            for partition in &self.marks_moved {
                if let Some(minute) = self.batch_marks.get(partition) {
                    view.observe_watermark(*partition, *minute, now);
                }
            }
            view.update_watermark(now, idle_ms);
            metrics::gauge!("customs_aggregate_panes").set(view.panes().num_panes() as f64);
            metrics::gauge!("customs_aggregate_pane_cells").set(view.panes().num_cells() as f64);
            if let Some(watermark) = view.watermarks().global() {
                let age = (now / 1000 - watermark * 60) as f64;
                metrics::gauge!("customs_aggregate_watermark_age_seconds").set(age);
            }
        }
        self.state_gauges();
        self.snapshot_marks();
        self.shared.progress().records_committed += self.times.len() as u64;
        self.shared.changed();
        let queryable = metrics::histogram!("customs_aggregate_event_to_queryable_seconds");
        let ingest = metrics::histogram!("customs_aggregate_ingest_to_aggregate_seconds");
        for (timestamp, ingested_at) in self.times.drain(..) {
            if let Some(timestamp) = timestamp {
                queryable.record((now - timestamp).max(0) as f64 / 1000.0);
            }
            ingest.record((now - ingested_at).max(0) as f64 / 1000.0);
        }
        metrics::counter!("customs_aggregate_late_events_total").increment(self.num_late);
        metrics::counter!("customs_aggregate_lifecycle_expired_total").increment(self.num_expired);
        metrics::counter!("customs_aggregate_entries_sealed_total").increment(self.num_sealed);
        metrics::counter!("customs_aggregate_state_forgotten_total").increment(self.num_forgotten);
        self.clear();
    }

    fn aborted(&mut self) {
        self.shared
            .owned()
            .values_mut()
            .for_each(PartitionState::rollback);
        self.clear();
        self.snapshot_marks();
    }

    fn revoked(&mut self, partitions: &[(String, i32)]) {
        {
            let mut owned = self.shared.owned();
            for (_, partition) in partitions {
                owned.remove(partition);
                self.housekeeping_due.retain(|p| p != partition);
                // A take-over cut short: its half-filled store goes with it.
                self.restores.retain(|r| r.partition() != *partition);
            }
        }
        self.state_gauges();
    }

    /// Takes assigned partitions over at once, not at their first record
    /// (`Explain` answers for them, and their state is measured, from the
    /// end of the take-over on); they stay paused until then.
    fn assigned(&mut self, partitions: &[(String, i32)]) -> Vec<(String, i32)> {
        let queued = self.queue_restores(partitions);
        self.state_gauges();
        queued
    }

    /// Advances the first take-over in the queue; returns its partition
    /// once its state is whole, and from then on it is owned.
    fn restore(&mut self, budget: Duration) -> Vec<(String, i32)> {
        let Some(mut first) = self.restores.pop_front() else {
            return Vec::new();
        };
        match first.step(self, budget) {
            Some(state) => {
                self.shared.owned().insert(first.partition(), state);
                self.state_gauges();
                vec![first.topic_partition()]
            }
            // A take-over stuck behind an open transaction lets the
            // others go first; it is tried again after them.
            None if first.held_by_transaction() => {
                self.restores.push_back(first);
                Vec::new()
            }
            None => {
                self.restores.push_front(first);
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests;
