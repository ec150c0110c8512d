//! The stage's own metrics, counted per transaction and applied only when
//! the transaction commits.
//!
//! Input: a [`BatchTally`] that the loop fills while it runs a transaction.
//! Output: the `customs_<service>_messages_*`, `..._transactions_total` and
//! transaction histograms of docs/metrics.md. Work of an aborted transaction
//! is thrown away with its tally (only the abort itself is counted), so the
//! counters equal what became visible downstream.

use std::time::Duration;

use customs_domain::RejectReason;
use metrics::{Counter, Histogram};

/// Per-service counters, registered once.
pub(crate) struct StageMetrics {
    consumed: Counter,
    published: Counter,
    dead_letters: Counter,
    diverted: Counter,
    committed: Counter,
    pub(crate) aborted: Counter,
    commit_seconds: Histogram,
    finish_seconds: Histogram,
    service: &'static str,
}

impl StageMetrics {
    pub(crate) fn new(service: &'static str) -> Self {
        // Only the series this service can produce (always-zero series of
        // other services' reasons would be noise on every dashboard).
        for reason in RejectReason::ALL
            .into_iter()
            .filter(|reason| reason.services().contains(&service))
        {
            let _registered = metrics::counter!(format!("customs_{service}_messages_rejected_total"), "reason" => reason.as_str());
        }
        StageMetrics {
            consumed: metrics::counter!(format!("customs_{service}_messages_consumed_total")),
            published: metrics::counter!(format!("customs_{service}_messages_produced_total"), "output" => "data"),
            dead_letters: metrics::counter!(format!("customs_{service}_messages_produced_total"), "output" => "dead_letter"),
            diverted: metrics::counter!(format!("customs_{service}_messages_produced_total"), "output" => "late"),
            committed: metrics::counter!(format!("customs_{service}_transactions_total"), "outcome" => "committed"),
            aborted: metrics::counter!(format!("customs_{service}_transactions_total"), "outcome" => "aborted"),
            commit_seconds: metrics::histogram!(format!(
                "customs_{service}_transaction_commit_duration_seconds"
            )),
            finish_seconds: metrics::histogram!(format!(
                "customs_{service}_transaction_finish_seconds"
            )),
            service,
        }
    }

    /// Adds a committed batch's tally: metrics count what became visible,
    /// never work that an aborted transaction threw away. `whole` runs from
    /// the batch's first record to the commit, `tally.finish` is the commit
    /// step alone.
    pub(crate) fn committed(&self, tally: &BatchTally, whole: Duration) {
        self.consumed.increment(tally.consumed);
        self.published.increment(tally.published);
        self.dead_letters
            .increment(tally.rejected.len() as u64 - tally.diverted);
        self.diverted.increment(tally.diverted);
        for reason in &tally.rejected {
            metrics::counter!(format!("customs_{}_messages_rejected_total", self.service), "reason" => reason.as_str()).increment(1);
        }
        self.committed.increment(1);
        self.commit_seconds.record(whole.as_secs_f64());
        self.finish_seconds.record(tally.finish.as_secs_f64());
    }
}

/// What one transaction did, applied to the metrics only once it commits.
#[derive(Default)]
pub(crate) struct BatchTally {
    pub(crate) consumed: u64,
    pub(crate) published: u64,
    pub(crate) diverted: u64,
    pub(crate) rejected: Vec<RejectReason>,
    /// Time spent in `send_offsets_to_transaction` + `commit_transaction`.
    pub(crate) finish: Duration,
}
