//! The stage's consumer: created with the stage's settings (read-committed,
//! no auto-commit, static membership), and created again when librdkafka
//! declares it dead.
//!
//! A fatal consumer error leaves the consumer unusable: every later `poll`
//! fails, and a stage that only logged it stood still for good. It was seen
//! after a broker restart: the coordinator fenced the member
//! (`FencedInstanceId`) because a JoinGroup sent while the broker came back
//! and the retried one both carried the instance's `group.instance.id`.
//! Nothing is open when it is noticed (only `poll` reports it, and `poll`
//! runs between transactions), so the stage drops the batch being
//! collected (uncommitted: read again), tells the transform its partitions
//! are gone, and subscribes with a new consumer. [`Recreations`] bounds how
//! often: two live instances configured with the same id would otherwise
//! fence each other for ever; beyond the bound the stage stops (fatal) and
//! says so.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

use crate::config::KafkaConfig;
use crate::stage_context::{DEFAULT_STATISTICS_INTERVAL_MS, LeavingConsumer, StageContext};

/// Most re-creations within [`RECREATION_WINDOW`].
const MAX_RECREATIONS: usize = 3;
const RECREATION_WINDOW: Duration = Duration::from_secs(600);

/// A subscribed consumer of `input` for `service`.
pub(crate) fn create(
    service: &'static str,
    config: &KafkaConfig,
    input: &str,
) -> Result<LeavingConsumer, KafkaError> {
    let mut consumer_config = config.client_config();
    if consumer_config.get("statistics.interval.ms").is_none() {
        // Statistics feed the consumer lag gauge (see `stage_context`).
        consumer_config.set("statistics.interval.ms", DEFAULT_STATISTICS_INTERVAL_MS);
    }
    let consumer: BaseConsumer<StageContext> = consumer_config
        .set("group.id", &config.group_id)
        // Static membership (KIP-345): a restarted instance takes its
        // partitions back at once instead of waiting out a rebalance.
        .set("group.instance.id", &config.transactional_id)
        .set(
            "session.timeout.ms",
            config.session_timeout.as_millis().to_string(),
        )
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create_with_context(StageContext::new(service))?;
    let consumer = LeavingConsumer(consumer);
    consumer.subscribe(&[input])?;
    Ok(consumer)
}

/// When the consumer was last created again.
#[derive(Debug, Default)]
pub(crate) struct Recreations(VecDeque<Instant>);

impl Recreations {
    /// Whether one more re-creation is allowed now (and counts it).
    pub(crate) fn allow(&mut self) -> bool {
        let now = Instant::now();
        while self
            .0
            .front()
            .is_some_and(|at| now.duration_since(*at) > RECREATION_WINDOW)
        {
            self.0.pop_front();
        }
        if self.0.len() >= MAX_RECREATIONS {
            return false;
        }
        self.0.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_creations_are_bounded_per_window() {
        let mut recreations = Recreations::default();
        assert!((0..MAX_RECREATIONS).all(|_| recreations.allow()));
        assert!(
            !recreations.allow(),
            "a fourth within the window is refused"
        );
    }
}
