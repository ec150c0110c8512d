//! How far the pipeline has got, from the services' own committed counters.
//!
//! Completion rule: every raw record consumed by ingest, every declaration
//! ingest produced consumed by normalize, and every classified record
//! normalize produced consumed by the aggregate — with the same counts on two
//! scrapes in a row, because a service updates several counters one after the
//! other and one scrape can fall in between. The time reported is that of the
//! first of the two scrapes. Counters are summed over a service's instances.
//! The services count only committed work, so "done" means done.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;

use crate::prom::{Samples, scrape};
use crate::services::{Pipeline, Role};

/// Time between scrapes while waiting.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The counters the completion rule reads, summed over instances; `None`
/// when no instance exports the metric (yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    /// `customs_ingest_messages_consumed_total`.
    pub ingest_consumed: Option<u64>,
    /// `customs_ingest_messages_produced_total{output="data"}`.
    pub ingest_produced: Option<u64>,
    /// `customs_ingest_messages_produced_total{output="dead_letter"}`.
    pub ingest_dead_letters: Option<u64>,
    /// `customs_normalize_messages_consumed_total`.
    pub normalize_consumed: Option<u64>,
    /// `customs_normalize_messages_produced_total{output="data"}`.
    pub normalize_produced: Option<u64>,
    /// `customs_normalize_messages_produced_total{output="dead_letter"}`.
    pub normalize_dead_letters: Option<u64>,
    /// `customs_aggregate_messages_consumed_total`.
    pub aggregate_consumed: Option<u64>,
}

impl Counts {
    /// Ingest has committed all `expected` raw records.
    pub fn ingest_done(&self, expected: u64) -> bool {
        self.ingest_consumed == Some(expected)
    }

    /// ... and normalize everything ingest produced.
    pub fn normalize_done(&self, expected: u64) -> bool {
        self.ingest_done(expected)
            && self.ingest_produced.is_some()
            && self.normalize_consumed.unwrap_or(0) == self.ingest_produced.unwrap_or(0)
    }

    /// ... and the aggregate everything normalize produced.
    pub fn aggregate_done(&self, expected: u64) -> bool {
        self.normalize_done(expected)
            && self.normalize_produced.is_some()
            && self.aggregate_consumed.unwrap_or(0) == self.normalize_produced.unwrap_or(0)
    }

    /// Any record got through ingest.
    pub fn started(&self) -> bool {
        self.ingest_consumed.unwrap_or(0) > 0
    }
}

/// Scrapes every instance once and sums the counters.
pub async fn counts(pipeline: &Pipeline) -> anyhow::Result<Counts> {
    let mut by_role = Vec::new();
    for role in Role::ALL {
        let mut scrapes = Vec::new();
        for instance in pipeline.of(role) {
            scrapes.push(scrape(instance.metrics_addr).await?);
        }
        by_role.push(scrapes);
    }
    let sum = |scrapes: &[Samples], name: &str, filter: &[(&str, &str)]| -> Option<u64> {
        let values: Vec<f64> = scrapes.iter().filter_map(|s| s.sum(name, filter)).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() as u64)
    };
    let data = [("output", "data")];
    let dead = [("output", "dead_letter")];
    let (ingest, normalize, aggregate) = (&by_role[0], &by_role[1], &by_role[2]);
    Ok(Counts {
        ingest_consumed: sum(ingest, "customs_ingest_messages_consumed_total", &[]),
        ingest_produced: sum(ingest, "customs_ingest_messages_produced_total", &data),
        ingest_dead_letters: sum(ingest, "customs_ingest_messages_produced_total", &dead),
        normalize_consumed: sum(normalize, "customs_normalize_messages_consumed_total", &[]),
        normalize_produced: sum(
            normalize,
            "customs_normalize_messages_produced_total",
            &data,
        ),
        normalize_dead_letters: sum(
            normalize,
            "customs_normalize_messages_produced_total",
            &dead,
        ),
        aggregate_consumed: sum(aggregate, "customs_aggregate_messages_consumed_total", &[]),
    })
}

/// Seconds from the clock's start at which each milestone was first seen.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Milestones {
    /// First raw record committed by ingest.
    pub first_progress_seconds: Option<f64>,
    /// Ingest consumed everything.
    pub ingest_done_seconds: Option<f64>,
    /// Normalize consumed everything ingest produced.
    pub normalize_done_seconds: Option<f64>,
    /// The aggregate consumed everything normalize produced: the end.
    pub aggregate_done_seconds: Option<f64>,
}

/// What [`wait_until`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Ingest committed its first batch.
    FirstProgress,
    /// The completion rule holds.
    Done,
}

/// Waits until the pipeline has reached `goal` for `expected` raw records,
/// polling every [`POLL_INTERVAL`] and recording milestones (seconds since
/// `clock`) in `milestones`, which may carry over from an earlier call;
/// fails after `timeout` or if a service dies. Scrape errors count as "not
/// ready yet" (services start their exporters a moment after the process
/// starts) until the timeout.
pub async fn wait_until(
    pipeline: &mut Pipeline,
    expected: u64,
    clock: Instant,
    timeout: Duration,
    milestones: &mut Milestones,
    goal: Goal,
) -> anyhow::Result<Counts> {
    let mut candidate: Option<(Counts, f64)> = None;
    let mut last = Counts::default();
    loop {
        pipeline.ensure_running()?;
        let at = clock.elapsed().as_secs_f64();
        let last_error = match counts(pipeline).await {
            Ok(now) => {
                let mark = |slot: &mut Option<f64>, reached: bool| {
                    if reached && slot.is_none() {
                        *slot = Some(at);
                    }
                };
                mark(&mut milestones.first_progress_seconds, now.started());
                mark(
                    &mut milestones.ingest_done_seconds,
                    now.ingest_done(expected),
                );
                mark(
                    &mut milestones.normalize_done_seconds,
                    now.normalize_done(expected),
                );
                if goal == Goal::FirstProgress && milestones.first_progress_seconds.is_some() {
                    return Ok(now);
                }
                match candidate {
                    Some((seen, seen_at)) if seen == now && now.aggregate_done(expected) => {
                        milestones.aggregate_done_seconds = Some(seen_at);
                        return Ok(now);
                    }
                    _ if now.aggregate_done(expected) => candidate = Some((now, at)),
                    _ => candidate = None,
                }
                if now.ingest_consumed.unwrap_or(0) > expected {
                    bail!("ingest consumed more than the {expected} records sent: {now:?}");
                }
                last = now;
                None
            }
            Err(err) => Some(err),
        };
        if clock.elapsed() > timeout {
            match last_error {
                Some(err) => {
                    bail!("{goal:?} not reached after {timeout:?}; last scrape failed: {err:#}")
                }
                None => bail!(
                    "{goal:?} not reached after {timeout:?} (expected {expected} raw records); \
                     last counts {last:?} (None = metric not exported)"
                ),
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// [`wait_until`] [`Goal::Done`] with fresh milestones.
pub async fn wait_until_done(
    pipeline: &mut Pipeline,
    expected: u64,
    clock: Instant,
    timeout: Duration,
) -> anyhow::Result<(Counts, Milestones)> {
    let mut milestones = Milestones::default();
    let counts = wait_until(
        pipeline,
        expected,
        clock,
        timeout,
        &mut milestones,
        Goal::Done,
    )
    .await?;
    Ok((counts, milestones))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_needs_every_stage_to_have_caught_up() {
        let mut counts = Counts {
            ingest_consumed: Some(10),
            ingest_produced: Some(12),
            ingest_dead_letters: Some(1),
            normalize_consumed: Some(12),
            normalize_produced: Some(11),
            normalize_dead_letters: Some(1),
            aggregate_consumed: Some(10),
        };
        assert!(counts.normalize_done(10));
        assert!(!counts.aggregate_done(10));
        counts.aggregate_consumed = Some(11);
        assert!(counts.aggregate_done(10));
        assert!(!counts.aggregate_done(11));
        counts.normalize_produced = None;
        assert!(!counts.aggregate_done(10));
    }
}
