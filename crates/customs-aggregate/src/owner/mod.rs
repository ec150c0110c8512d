//! The owner loop: for the classified partitions this instance owns (one
//! consumer group), turn events into lifecycle changes and write them to the
//! changelog.
//!
//! Guarantee: **exactly-once** from the classified topic to the changelog.
//! It runs inside [`customs_kafka::stage`]: each batch is one transaction
//! holding the changelog records, the late-event records and the consumed
//! offsets. Only after the commit does the owner apply its changes to the
//! local view (so a query never sees uncommitted state); other instances see
//! them when their changelog reader reads them. An aborted batch's changes
//! are discarded and its records are read again.
//!
//! On assignment, before a partition's first batch, the owner waits until
//! the view has read that changelog partition to its end: the previous
//! owner's last transaction is resolved by then (its offsets were fenced or
//! committed together with its changelog records), so the entries the owner
//! starts from are exactly the committed state.
//!
//! Event time and lateness: an event older than the watermark minus the
//! allowed lateness, or one that would restate a figure dated before that
//! horizon, is diverted to the late topic with the reason
//! `beyond_allowed_lateness` and changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use customs_domain::lifecycle::{Entry, lifecycle_key};
use customs_domain::stats::Minute;
use customs_domain::stats::cell::Tally;
use customs_domain::stats::time::{day_start, parse_minute};
use customs_domain::{ClassifiedDeclaration, Receipt, RejectReason};
use customs_kafka::client_log::Logging;
use customs_kafka::stage::now_ms;
use customs_kafka::{KafkaConfig, Output, Record, Transform};
use customs_proto::v1;
use prost::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio_util::sync::CancellationToken;

use crate::changelog::Change;
use crate::state::Shared;

/// Entries sealed per partition and housekeeping round, so one
/// transaction stays small.
const MAX_SEALED_PER_SCAN: usize = 5_000;

/// Housekeeping outputs waiting for their partition's next record.
struct Housework {
    expire: Vec<String>,
    seal: Vec<String>,
    sealed: Vec<(Minute, Tally)>,
}

/// The aggregate's transform.
pub struct Owner {
    shared: Arc<Shared>,
    changelog: String,
    late: String,
    metadata: BaseConsumer<Logging>,
    shutdown: CancellationToken,
    ready: HashSet<i32>,
    /// Changes of the open transaction, by identity.
    entries: HashMap<String, (i32, Option<Entry>)>,
    summaries: HashMap<String, Vec<String>>,
    /// Raw-record timestamp and ingest time of each record in the transaction.
    times: Vec<(Option<i64>, i64)>,
    num_late: u64,
    num_expired: u64,
    /// Partition watermarks: the view's when the transaction began, moved
    /// on by the transaction's own events (applied to the view on commit).
    batch_marks: BTreeMap<i32, Minute>,
    /// The view's global watermark when the transaction began.
    batch_global: Option<Minute>,
    /// Housekeeping by partition, emitted with that partition's next record.
    housework: HashMap<i32, Housework>,
    /// Sealed records of the open transaction.
    sealed: Vec<(i32, Minute, Tally)>,
    num_sealed: u64,
    last_housekeeping: Instant,
}

impl Owner {
    /// An owner writing to the `changelog` and `late` topics.
    pub fn new(
        shared: Arc<Shared>,
        kafka: &KafkaConfig,
        changelog: String,
        late: String,
        shutdown: CancellationToken,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        Ok(Owner {
            shared,
            changelog,
            late,
            metadata: kafka.client_config().create_with_context(Logging)?,
            shutdown,
            ready: HashSet::new(),
            entries: HashMap::new(),
            summaries: HashMap::new(),
            times: Vec::new(),
            num_late: 0,
            num_expired: 0,
            batch_marks: BTreeMap::new(),
            batch_global: None,
            housework: HashMap::new(),
            sealed: Vec::new(),
            num_sealed: 0,
            last_housekeeping: Instant::now(),
        })
    }

    /// Blocks until the view has read changelog `partition` to its end.
    fn restore(&mut self, partition: i32) {
        let started = Instant::now();
        let end = loop {
            match self.metadata.fetch_watermarks(
                &self.changelog,
                partition,
                Duration::from_secs(10),
            ) {
                Ok((_, high)) => break high,
                Err(err) if !self.shutdown.is_cancelled() => {
                    tracing::warn!(partition, error = %err, "cannot read changelog end offset, retrying");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(_) => return,
            }
        };
        while !self
            .shared
            .wait_for(partition, end, Duration::from_millis(200))
        {
            if self.shutdown.is_cancelled() {
                return;
            }
        }
        self.ready.insert(partition);
        tracing::info!(
            partition,
            end,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "partition state restored"
        );
    }

    /// The entry of `key` as this transaction sees it.
    fn current(&self, key: &str) -> Entry {
        match self.entries.get(key) {
            Some((_, entry)) => entry.clone().unwrap_or_default(),
            None => self.shared.read().entry(key).cloned().unwrap_or_default(),
        }
    }

    /// The horizon: events dated before it are final. The watermark here
    /// is the view's, or — when that is behind, e.g. in the first
    /// transaction — the minimum over every partition's progress including
    /// this transaction's, so the decision never waits for a commit.
    fn horizon(&self) -> Option<Minute> {
        let lateness = (self.shared.statistics.allowed_lateness.as_secs() / 60) as Minute;
        let local = self.batch_marks.values().copied().min();
        let watermark = self.batch_global.max(local)?;
        Some(watermark - lateness)
    }

    /// Takes the view's watermarks for the coming records (they only change
    /// when a transaction commits).
    fn snapshot_marks(&mut self) {
        let view = self.shared.read();
        self.batch_marks = view.watermarks().partitions().collect();
        self.batch_global = view.watermarks().global();
    }

    fn step(&mut self, record: &Record<'_>, outputs: &mut Vec<Output>) -> Result<(), Output> {
        let kind = v1::ClassifiedEvent::decode(record.payload)
            .map_err(|err| dead(RejectReason::UndecodableRecord, err.to_string()))?
            .kind
            .ok_or_else(|| {
                dead(
                    RejectReason::UndecodableRecord,
                    "classified event without kind".to_owned(),
                )
            })?;
        let (key, event_at, current, next) = match kind {
            v1::classified_event::Kind::Declaration(wire) => {
                let classified = ClassifiedDeclaration::try_from(wire)
                    .map_err(|err| dead(RejectReason::UndecodableRecord, err.to_string()))?;
                let key = lifecycle_key(&classified.declaration).to_owned();
                let at = classified
                    .declaration
                    .declared_at
                    .clone()
                    .unwrap_or_default();
                let current = self.current(&key);
                let next = current.record_declaration(&classified);
                (key, at, current, next)
            }
            v1::classified_event::Kind::Receipt(wire) => {
                let receipt = Receipt::try_from(wire)
                    .map_err(|err| dead(RejectReason::UndecodableRecord, err.to_string()))?;
                let current = self.current(&receipt.guid);
                let next = current.record_receipt(&receipt);
                (
                    receipt.guid.clone(),
                    receipt.returned_at.clone(),
                    current,
                    next,
                )
            }
            v1::classified_event::Kind::SummaryResult(wire) => {
                let summary: customs_domain::SummaryResult = wire.into();
                let id = summary.id().to_owned();
                let known = self.summaries.contains_key(&id) || self.shared.read().has_summary(&id);
                if !known {
                    outputs.push(self.send(
                        record.partition,
                        &Change::Summary(id.clone(), summary.invt_nos.clone()),
                    ));
                    self.summaries.insert(id, summary.invt_nos);
                }
                return Ok(());
            }
        };
        let event_minute = parse_minute(&event_at).ok_or_else(|| {
            dead(
                RejectReason::MalformedDate,
                format!("event time {event_at:?} is not a time"),
            )
        })?;
        if next == current {
            // Nothing changed: a re-sent event.
            return Ok(());
        }
        if let Some(horizon) = self.horizon() {
            let counted_minute = |entry: &Entry| {
                entry
                    .counted
                    .as_ref()
                    .and_then(|c| parse_minute(&c.counted_at))
            };
            let too_old = event_minute < horizon
                || counted_minute(&current).is_some_and(|m| m < horizon)
                || counted_minute(&next).is_some_and(|m| m < horizon);
            if too_old {
                self.num_late += 1;
                return Err(Output::Divert {
                    topic: self.late.clone(),
                    reason: RejectReason::BeyondAllowedLateness,
                    detail: format!(
                        "event at {event_at} restates figures before the horizon {}",
                        customs_domain::stats::time::format_minute(horizon)
                    ),
                });
            }
        }
        let mut next = next;
        next.version = current.version + 1;
        if let Some(counted) = &next.counted
            && parse_minute(&counted.counted_at).is_none()
        {
            return Err(dead(
                RejectReason::MalformedDate,
                format!("release time {:?} is not a time", counted.counted_at),
            ));
        }
        outputs.push(self.send_entry(record.partition, &key, Some(&next)));
        self.entries.insert(key, (record.partition, Some(next)));
        let mark = self.batch_marks.get(&record.partition).copied();
        if mark.is_none_or(|mark| event_minute > mark) {
            self.batch_marks.insert(record.partition, event_minute);
            outputs.push(self.send(
                record.partition,
                &Change::Watermark(record.partition, event_minute),
            ));
        }
        Ok(())
    }

    fn send_entry(&self, partition: i32, key: &str, entry: Option<&Entry>) -> Output {
        self.to_changelog(partition, crate::changelog::encode_entry(key, entry))
    }

    fn send(&self, partition: i32, change: &Change) -> Output {
        self.to_changelog(partition, change.encode())
    }

    fn to_changelog(&self, partition: i32, (key, payload): (Vec<u8>, Option<Vec<u8>>)) -> Output {
        Output::Send {
            topic: self.changelog.clone(),
            partition: Some(partition),
            key,
            payload,
        }
    }

    /// Housekeeping of owned partitions, at most every
    /// `housekeeping_interval`: waiting entries older than the TTL expire;
    /// final entries (every event before the lateness horizon) are sealed —
    /// their contributions move into per-day sealed records and the entries
    /// are removed, which is what bounds the state. Unreleased declarations
    /// are dropped once their last event is a further allowed lateness
    /// older. The outputs go out with the partition's next record.
    fn housekeeping(&mut self) {
        if self.last_housekeeping.elapsed() < self.shared.statistics.housekeeping_interval {
            return;
        }
        self.last_housekeeping = Instant::now();
        let ttl = (self.shared.statistics.waiting_ttl.as_secs() / 60) as Minute;
        let lateness = (self.shared.statistics.allowed_lateness.as_secs() / 60) as Minute;
        let Some(horizon) = self.horizon() else {
            return;
        };
        let watermark = horizon + lateness;
        let view = self.shared.read();
        for partition in &self.ready {
            let minute = |at: &str| parse_minute(at).unwrap_or(Minute::MIN);
            let expire = view.keys_where(*partition, |entry| {
                entry.is_waiting() && minute(&entry.first_event_at) < watermark - ttl
            });
            let mut seal = view.keys_where(*partition, |entry| {
                let last = minute(&entry.last_event_at);
                let settled = entry.counted.is_some()
                    || entry.withdrawn
                    || entry
                        .pending
                        .as_ref()
                        .is_some_and(|p| !p.in_trade_statistics);
                !entry.is_waiting() && last < horizon && (settled || last < horizon - lateness)
            });
            seal.truncate(MAX_SEALED_PER_SCAN);
            let mut days: BTreeMap<Minute, Tally> = BTreeMap::new();
            for key in &seal {
                let Some(counted) = view.entry(key).and_then(|entry| view.effective(entry)) else {
                    continue;
                };
                let Some(at) = parse_minute(&counted.counted_at) else {
                    continue;
                };
                let day = day_start(at);
                days.entry(day)
                    .or_insert_with(|| view.sealed(*partition, day).cloned().unwrap_or_default())
                    .merge(Tally::of(counted));
            }
            if !expire.is_empty() || !seal.is_empty() {
                self.housework.insert(
                    *partition,
                    Housework {
                        expire,
                        seal,
                        sealed: days.into_iter().collect(),
                    },
                );
            }
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.summaries.clear();
        self.times.clear();
        self.num_late = 0;
        self.num_expired = 0;
        self.num_sealed = 0;
        self.sealed.clear();
    }
}

fn dead(reason: RejectReason, detail: String) -> Output {
    Output::DeadLetter { reason, detail }
}

impl Transform for Owner {
    fn transform(&mut self, record: &Record<'_>, outputs: &mut Vec<Output>) {
        self.times
            .push((record.timestamp_ms, record.ingested_at_ms));
        if let Some(work) = self.housework.remove(&record.partition) {
            for key in work.expire {
                outputs.push(self.send(record.partition, &Change::Entry(key.clone(), None)));
                self.entries.insert(key, (record.partition, None));
                self.num_expired += 1;
            }
            for (day, tally) in work.sealed {
                outputs.push(self.send(record.partition, &Change::Sealed(day, tally.clone())));
                self.sealed.push((record.partition, day, tally));
            }
            for key in work.seal {
                outputs.push(self.send(record.partition, &Change::Entry(key.clone(), None)));
                self.entries.insert(key, (record.partition, None));
                self.num_sealed += 1;
            }
        }
        if let Err(diverted) = self.step(record, outputs) {
            outputs.push(diverted);
        }
    }

    fn prepare(&mut self, partitions: &[(String, i32)]) {
        // The first batch waits for the whole view: watermarks of every
        // partition take part in lateness decisions.
        while !self.shared.wait_restored(Duration::from_millis(200))
            && !self.shutdown.is_cancelled()
        {}
        for (_, partition) in partitions {
            if !self.ready.contains(partition) {
                self.restore(*partition);
            }
        }
        // After any restore: lateness is judged against the restored
        // watermarks, never against an empty view.
        self.snapshot_marks();
        self.housekeeping();
    }

    fn committed(&mut self) {
        let now = now_ms();
        let idle_ms = self.shared.statistics.idle_timeout.as_millis() as i64;
        {
            let mut view = self.shared.write();
            // Sealed records first: with the tombstones below, contributions
            // move from entries to records in one step under the lock.
            for (partition, day, tally) in self.sealed.drain(..) {
                view.apply_sealed(partition, day, tally);
            }
            for (key, (partition, entry)) in self.entries.drain() {
                if let Err(err) = view.apply_entry(partition, &key, entry) {
                    tracing::error!(error = %err, "committed entry not applied to the view");
                }
            }
            for (id, invt_nos) in self.summaries.drain() {
                if let Err(err) = view.apply_summary(&id, &invt_nos) {
                    tracing::error!(error = %err, "committed summary not applied to the view");
                }
            }
            // Only partitions this transaction moved on advance.
            for (partition, minute) in &self.batch_marks {
                view.observe_watermark(*partition, *minute, now);
            }
            view.update_watermark(now, idle_ms);
            metrics::gauge!("customs_aggregate_state_entries").set(view.num_entries() as f64);
            metrics::gauge!("customs_aggregate_lifecycle_waiting").set(view.num_waiting() as f64);
            metrics::gauge!("customs_aggregate_panes").set(view.panes().num_panes() as f64);
            metrics::gauge!("customs_aggregate_pane_cells").set(view.panes().num_cells() as f64);
            if let Some(watermark) = view.watermarks().global() {
                let age = (now / 1000 - watermark * 60) as f64;
                metrics::gauge!("customs_aggregate_watermark_age_seconds").set(age);
            }
        }
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
        self.clear();
    }

    fn aborted(&mut self) {
        self.clear();
        self.housework.clear();
    }

    fn revoked(&mut self, partitions: &[(String, i32)]) {
        for (_, partition) in partitions {
            self.ready.remove(partition);
            self.housework.remove(partition);
        }
    }
}

#[cfg(test)]
mod tests;
