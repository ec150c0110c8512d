//! Aggregate configuration; layering rules in `customs_service::config`.

use std::net::SocketAddr;
use std::time::Duration;

use customs_kafka::{KafkaConfig, TopicsConfig};
use customs_telemetry::TelemetryConfig;
use serde::{Deserialize, Serialize};

/// Environment variable prefix of this service.
pub const ENV_PREFIX: &str = "CUSTOMS_AGGREGATE_";

/// Everything the aggregate service needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Kafka connection.
    pub kafka: KafkaConfig,
    /// Topic names.
    pub topics: TopicsConfig,
    /// Logs and metrics.
    pub telemetry: TelemetryConfig,
    /// Where the gRPC API listens.
    pub grpc_addr: SocketAddr,
    /// Create missing topics at start (classified, changelog, late).
    pub create_topics: bool,
    /// Event-time rules.
    pub statistics: StatisticsConfig,
    /// The statistics API's security.
    pub api: ApiConfig,
    /// Where the owned partitions' lifecycle state is kept.
    pub state: StateConfig,
    /// Directory whose CSV files replace the embedded code tables of the
    /// same name; the aggregate uses them at query time (country groups,
    /// provinces and regions, partner code systems). Give it the same
    /// directory as normalize. None = embedded only.
    pub code_tables_dir: Option<std::path::PathBuf>,
}

/// The owned partitions' lifecycle state: on local disk, rebuilt from the
/// changelog whenever a partition is assigned, so the directory needs no
/// backup and may be an `emptyDir`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// The directory; unset, a new temporary directory, removed at exit.
    /// Two running instances must not share one.
    pub dir: Option<std::path::PathBuf>,
    /// Block cache, MiB: what memory holds of the state on disk.
    pub cache_mib: u64,
    /// Write buffer (memtable) of each owned partition, MiB.
    pub memtable_mib: u64,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: None,
            cache_mib: 64,
            memtable_mib: 16,
        }
    }
}

/// Security of the statistics API. Both off by default (the embedded demo,
/// a cluster-internal network); production should set both.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Require `authorization: Bearer <token>` on the stats service (health
    /// and reflection stay open). Best set from the environment,
    /// `CUSTOMS_AGGREGATE_API__BEARER_TOKEN`; never logged.
    pub bearer_token: Option<String>,
    /// PEM certificate chain; with `tls_key`, the API serves TLS only.
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<std::path::PathBuf>,
    /// Most answers of unary calls computed at once (each holds a blocking
    /// thread and the view's read lock); one more is refused at once with
    /// `RESOURCE_EXHAUSTED`, never queued.
    pub max_concurrent_answers: usize,
    /// Most open subscriptions; one more is refused with
    /// `RESOURCE_EXHAUSTED`.
    pub max_subscriptions: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            bearer_token: None,
            tls_cert: None,
            tls_key: None,
            max_concurrent_answers: 16,
            max_subscriptions: 256,
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: say whether it is set, never what it is.
        f.debug_struct("ApiConfig")
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("max_concurrent_answers", &self.max_concurrent_answers)
            .field("max_subscriptions", &self.max_subscriptions)
            .finish()
    }
}

/// Event-time rules of the statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatisticsConfig {
    /// How far behind the watermark an event may be and still count (and
    /// restate earlier figures); older ones go to the late topic.
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// How long (event time) a receipt waits for its inventory.
    #[serde(with = "humantime_serde")]
    pub waiting_ttl: Duration,
    /// A partition with no new event time for this long (wall clock) stops
    /// holding the watermark back.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How often owned partitions are checked for waiting entries to expire
    /// and final entries to seal.
    #[serde(with = "humantime_serde")]
    pub housekeeping_interval: Duration,
}

impl Default for StatisticsConfig {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        StatisticsConfig {
            allowed_lateness: Duration::from_secs(45 * DAY),
            waiting_ttl: Duration::from_secs(7 * DAY),
            idle_timeout: Duration::from_secs(30),
            housekeeping_interval: Duration::from_secs(30),
        }
    }
}

impl StatisticsConfig {
    /// The lifecycle's event-time rules these settings make (whole minutes).
    pub fn policy(&self) -> customs_domain::lifecycle::policy::Policy {
        let minutes =
            |duration: Duration| (duration.as_secs() / 60) as customs_domain::stats::Minute;
        customs_domain::lifecycle::policy::Policy {
            allowed_lateness: minutes(self.allowed_lateness),
            waiting_ttl: minutes(self.waiting_ttl),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kafka: KafkaConfig::for_service(super::SERVICE),
            topics: TopicsConfig::default(),
            telemetry: TelemetryConfig {
                metrics_addr: Some(([0, 0, 0, 0], 9103).into()),
                ..TelemetryConfig::default()
            },
            grpc_addr: ([0, 0, 0, 0], 50051).into(),
            create_topics: true,
            statistics: StatisticsConfig::default(),
            api: ApiConfig::default(),
            state: StateConfig::default(),
            code_tables_dir: None,
        }
    }
}

impl Config {
    /// Loads defaults → file → environment.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, customs_service::ConfigError> {
        let config: Config = customs_service::load(ENV_PREFIX, file)?;
        config
            .kafka
            .validate()
            .map_err(customs_service::ConfigError::Invalid)?;
        if config.state.cache_mib == 0 || config.state.memtable_mib == 0 {
            return Err(customs_service::ConfigError::Invalid(
                "state.cache_mib and state.memtable_mib must be at least 1".to_owned(),
            ));
        }
        if config.api.max_concurrent_answers == 0 || config.api.max_subscriptions == 0 {
            return Err(customs_service::ConfigError::Invalid(
                "api.max_concurrent_answers and api.max_subscriptions must be at least 1"
                    .to_owned(),
            ));
        }
        if config.api.tls_cert.is_some() != config.api.tls_key.is_some() {
            return Err(customs_service::ConfigError::Invalid(
                "api.tls_cert and api.tls_key must be set together".to_owned(),
            ));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployed_config_file_loads_and_matches_the_defaults() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/config/aggregate.toml"
        );
        let loaded =
            Config::load(Some(std::path::Path::new(path))).unwrap_or_else(|e| panic!("{e}"));
        let defaults = Config::default();
        assert_eq!(loaded.kafka.group_id, "customs-aggregate");
        assert_eq!(
            loaded.kafka.transactional_id,
            defaults.kafka.transactional_id
        );
        assert_eq!(loaded.kafka.commit_interval, defaults.kafka.commit_interval);
        assert_eq!(loaded.kafka.batch_linger, defaults.kafka.batch_linger);
        assert_eq!(loaded.topics, defaults.topics);
        assert_eq!(loaded.statistics, defaults.statistics);
        assert_eq!(loaded.api, defaults.api);
        assert_eq!(loaded.state, defaults.state);
        assert_eq!(
            loaded.telemetry.metrics_addr,
            Some("0.0.0.0:9103".parse().unwrap_or_else(|e| panic!("{e}")))
        );
    }
}
