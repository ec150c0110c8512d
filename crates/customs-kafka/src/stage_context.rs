//! The stage consumer's librdkafka context: rebalance bookkeeping and the
//! per-partition consumer lag gauge.
//!
//! Inputs: rebalance callbacks and librdkafka statistics (every
//! `statistics.interval.ms`, both delivered inside the stage's `poll`), and
//! the offsets the stage commits in its transactions. Outputs: the lists of
//! partitions revoked and assigned since the loop last looked, and the gauge
//! `customs_<service>_consumer_lag_messages{partition}` of each partition
//! this instance owns.
//!
//! Why not librdkafka's own `consumer_lag`: it is measured from the
//! consumer's committed offset, which librdkafka learns only when the
//! partition is assigned or when the *consumer* commits. The stage commits
//! through the producer's transaction (`send_offsets_to_transaction`), so
//! that figure would freeze at the offset fetched on assignment. The lag here
//! is therefore the partition's end (last stable offset, as the consumer is
//! `read_committed`) minus the offset the stage last committed, falling back
//! to the group's committed offset from the assignment (or the log start
//! when the group has none) until the stage commits. A partition that is
//! fully fetched, with nothing queued and no record in the open batch,
//! reports 0 even when transaction markers (which take an offset but are
//! never delivered) follow the last committed record, so an idle pipeline
//! shows no lag; while records flow, markers between the committed offset
//! and the end count as lag (one per upstream transaction). Revoked
//! partitions are set to 0 so sums over instances do not count them twice.
//! See <https://github.com/confluentinc/librdkafka/blob/master/STATISTICS.md>.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::statistics::{Partition, Statistics};
use rdkafka::{ClientContext, TopicPartitionList};

/// Default `statistics.interval.ms` of the stage consumer, unless the
/// service's Kafka `properties` set one.
pub(crate) const DEFAULT_STATISTICS_INTERVAL_MS: &str = "1000";

/// Context of the stage's consumer.
pub(crate) struct StageContext {
    service: &'static str,
    revoked: Mutex<Vec<(String, i32)>>,
    /// Assigned since the loop last looked (an assignment revoked before
    /// the loop saw it is dropped from here).
    assigned: Mutex<Vec<(String, i32)>>,
    owned: Mutex<BTreeMap<(String, i32), Owned>>,
}

/// What the stage did with one partition it owns.
#[derive(Default)]
struct Owned {
    /// Next offset committed by this instance, if any yet.
    committed: Option<i64>,
    /// The batch being collected or in its transaction holds records of it.
    in_batch: bool,
}

impl StageContext {
    pub(crate) fn new(service: &'static str) -> Self {
        StageContext {
            service,
            revoked: Mutex::default(),
            assigned: Mutex::default(),
            owned: Mutex::default(),
        }
    }

    /// Partitions revoked since the last call.
    pub(crate) fn take_revoked(&self) -> Vec<(String, i32)> {
        std::mem::take(&mut *self.revoked.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The partitions this consumer owns now.
    pub(crate) fn owned_partitions(&self) -> Vec<(String, i32)> {
        let owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        owned.keys().cloned().collect()
    }

    /// Partitions assigned since the last call and not revoked since.
    pub(crate) fn take_assigned(&self) -> Vec<(String, i32)> {
        std::mem::take(&mut *self.assigned.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Notes that the open batch holds records of a partition; the loop
    /// calls it once per partition and batch, before its next `poll`.
    pub(crate) fn in_batch(&self, topic: &str, partition: i32) {
        let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = owned.get_mut(&(topic.to_owned(), partition)) {
            entry.in_batch = true;
        }
    }

    /// The batch ended: committed with `offsets` (the next offsets stored
    /// for the group), or aborted (`None`) and rewound.
    pub(crate) fn batch_done(&self, offsets: Option<&TopicPartitionList>) {
        let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in owned.values_mut() {
            entry.in_batch = false;
        }
        for element in offsets.iter().flat_map(|list| list.elements()) {
            if let (Some(entry), Some(offset)) = (
                owned.get_mut(&(element.topic().to_owned(), element.partition())),
                element.offset().to_raw(),
            ) {
                entry.committed = Some(offset);
            }
        }
    }

    fn lag_gauge(&self, partition: i32) -> metrics::Gauge {
        metrics::gauge!(
            format!("customs_{}_consumer_lag_messages", self.service),
            "partition" => partition.to_string()
        )
    }
}

/// Messages of `partition` not yet committed by this instance, or `None`
/// while librdkafka does not know the partition's end yet.
fn partition_lag(partition: &Partition, committed: Option<i64>, in_batch: bool) -> Option<i64> {
    let end = if partition.ls_offset >= 0 {
        partition.ls_offset
    } else {
        partition.hi_offset
    };
    if end < 0 {
        return None;
    }
    let committed = committed
        .or((partition.committed_offset >= 0).then_some(partition.committed_offset))
        .unwrap_or(partition.lo_offset.max(0));
    // Everything up to the end was fetched and handed out, and nothing
    // handed out is uncommitted: what remains are transaction markers.
    let caught_up = partition.next_offset >= end && partition.fetchq_cnt == 0 && !in_batch;
    if caught_up {
        return Some(0);
    }
    Some((end - committed).max(0))
}

impl ClientContext for StageContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        crate::client_log::log(level, fac, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        crate::client_log::error(&error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        let owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        for ((topic, number), state) in owned.iter() {
            let Some(partition) = statistics
                .topics
                .get(topic)
                .and_then(|stats| stats.partitions.get(number))
            else {
                continue;
            };
            if let Some(lag) = partition_lag(partition, state.committed, state.in_batch) {
                self.lag_gauge(*number).set(lag as f64);
            }
        }
    }
}

impl ConsumerContext for StageContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let mut revoked = self.revoked.lock().unwrap_or_else(PoisonError::into_inner);
            let mut assigned = self.assigned.lock().unwrap_or_else(PoisonError::into_inner);
            let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
            for element in partitions.elements() {
                let pair = (element.topic().to_owned(), element.partition());
                owned.remove(&pair);
                assigned.retain(|held| *held != pair);
                self.lag_gauge(element.partition()).set(0.0);
                revoked.push(pair);
            }
            tracing::info!(num_partitions = partitions.count(), "partitions revoked");
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
            let mut assigned = self.assigned.lock().unwrap_or_else(PoisonError::into_inner);
            for element in partitions.elements() {
                let pair = (element.topic().to_owned(), element.partition());
                owned.entry(pair.clone()).or_default();
                assigned.push(pair);
            }
            tracing::info!(num_partitions = partitions.count(), "partitions assigned");
        }
    }
}

/// The stage's consumer, which leaves its group before it is dropped.
///
/// Dropping a consumer closes it, and librdkafka can hang for ever in
/// `rd_kafka_assign` when a rebalance event is still queued at close
/// (confluentinc/librdkafka#4884): a stage stopped right after joining hung
/// its service's shutdown. Unsubscribing and polling the revocation through
/// first leaves nothing queued for the close.
pub(crate) struct LeavingConsumer(pub(crate) rdkafka::consumer::BaseConsumer<StageContext>);

impl std::ops::Deref for LeavingConsumer {
    type Target = rdkafka::consumer::BaseConsumer<StageContext>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for LeavingConsumer {
    fn drop(&mut self) {
        use rdkafka::consumer::Consumer;
        self.0.unsubscribe();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            // Records polled here are uncommitted: the next owner reads them.
            let idle = self.0.poll(std::time::Duration::from_millis(50)).is_none();
            let unassigned = self
                .0
                .assignment()
                .map(|assignment| assignment.count() == 0)
                .unwrap_or(true);
            if idle && unassigned {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(end: i64, next: i64, group_committed: i64) -> Partition {
        Partition {
            ls_offset: end,
            hi_offset: end,
            next_offset: next,
            committed_offset: group_committed,
            lo_offset: 0,
            ..Partition::default()
        }
    }

    #[test]
    fn lag_counts_from_the_offset_this_instance_committed() {
        // Group had committed 10 at assignment; the stage has since committed 60.
        let stats = partition(100, 100, 10);
        assert_eq!(partition_lag(&stats, Some(60), true), Some(40));
        assert_eq!(partition_lag(&stats, None, true), Some(90));
        let behind = partition(100, 70, 10);
        assert_eq!(partition_lag(&behind, Some(60), false), Some(40));
    }

    #[test]
    fn a_fresh_group_lags_by_the_whole_log() {
        let stats = partition(25, 0, -1001);
        assert_eq!(partition_lag(&stats, None, false), Some(25));
    }

    #[test]
    fn trailing_transaction_markers_are_no_lag() {
        // Records 0..=98 committed (next offset 99); offset 99 is the commit
        // marker of the producer's last transaction.
        let stats = partition(100, 100, -1001);
        assert_eq!(partition_lag(&stats, Some(99), false), Some(0));
        // Restarted and idle: the group's offset from the assignment.
        let restarted = partition(100, 100, 99);
        assert_eq!(partition_lag(&restarted, None, false), Some(0));
        // Handed out but not yet committed is lag.
        assert_eq!(partition_lag(&stats, Some(50), true), Some(50));
        // Queued in the client, not yet handed out, is lag.
        let queued = Partition {
            fetchq_cnt: 3,
            ..partition(100, 100, 97)
        };
        assert_eq!(partition_lag(&queued, None, false), Some(3));
    }

    #[test]
    fn unknown_end_is_no_reading() {
        let stats = partition(-1001, 0, -1001);
        assert_eq!(partition_lag(&stats, None, false), None);
    }
}
