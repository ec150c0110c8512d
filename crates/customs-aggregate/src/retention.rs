//! Whether the classified topic keeps its records long enough for the
//! lifecycle state to be rebuilt from it ([`Policy::replay_span`]): checked
//! once at start, reported as a gauge and, when too short, as a warning
//! that names both figures. Not fatal: the pipeline counts exactly either
//! way; what a short retention costs is the rebuild path (README,
//! "Upgrades and rebuilds").

use std::time::Duration;

use customs_domain::lifecycle::policy::Policy;

use crate::config::Config;

/// Reads the classified topic's retention and says whether it covers the
/// replay span of `policy`.
pub(crate) async fn check(config: &Config, policy: Policy) {
    let topic = &config.topics.classified;
    let kept = match customs_kafka::admin::retention(&config.kafka, topic).await {
        Ok(kept) => kept,
        Err(error) => {
            tracing::warn!(%topic, %error, "cannot read the classified topic's retention");
            return;
        }
    };
    let seconds = kept.map_or(-1.0, |kept| kept.as_secs_f64());
    metrics::gauge!("customs_aggregate_classified_retention_seconds").set(seconds);
    let needed = Duration::from_secs(policy.replay_span().max(0) as u64 * 60);
    if !covers(kept, needed) {
        tracing::warn!(
            %topic,
            kept_days = seconds / 86_400.0,
            needed_days = needed.as_secs_f64() / 86_400.0,
            "the classified topic keeps less than two allowed latenesses: the lifecycle state could not be rebuilt from it (set topics.classified_retention and the topic's retention.ms)"
        );
    }
}

/// Whether a topic that keeps records for `kept` (`None`: for ever)
/// covers `needed`.
fn covers(kept: Option<Duration>, needed: Duration) -> bool {
    kept.is_none_or(|kept| kept >= needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_covers_the_span_when_at_least_as_long_or_unlimited() {
        let day = Duration::from_secs(86_400);
        assert!(covers(None, 90 * day));
        assert!(covers(Some(90 * day), 90 * day));
        assert!(!covers(Some(7 * day), 90 * day), "the broker's default");
        assert!(covers(Some(100 * day), 90 * day), "the default setting");
    }
}
