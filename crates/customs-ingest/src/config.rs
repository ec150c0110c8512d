//! Ingest configuration; layering rules in `customs_config`.

use customs_domain::parse::ParseLimits;
use customs_kafka::{KafkaConfig, TopicsConfig};
use customs_telemetry::TelemetryConfig;
use serde::{Deserialize, Serialize};

/// Environment variable prefix of this service.
pub const ENV_PREFIX: &str = "CUSTOMS_INGEST_";

/// Everything the ingest service needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Kafka connection and transactions.
    pub kafka: KafkaConfig,
    /// Topic names.
    pub topics: TopicsConfig,
    /// Logs and metrics.
    pub telemetry: TelemetryConfig,
    /// Raw messages larger than this are dead-lettered unparsed.
    pub max_payload_bytes: usize,
    /// Create the service's topics at start when they are missing.
    pub create_topics: bool,
    /// Directory whose CSV files replace the embedded code tables of the
    /// same name (see `crates/customs-domain/data/`); none = embedded only.
    pub code_tables_dir: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kafka: KafkaConfig::for_service(super::SERVICE),
            topics: TopicsConfig::default(),
            telemetry: TelemetryConfig {
                metrics_addr: Some(([0, 0, 0, 0], 9101).into()),
                ..TelemetryConfig::default()
            },
            max_payload_bytes: ParseLimits::default().max_payload_bytes,
            create_topics: true,
            code_tables_dir: None,
        }
    }
}

impl Config {
    /// Parser limits derived from this config.
    pub fn parse_limits(&self) -> ParseLimits {
        ParseLimits {
            max_payload_bytes: self.max_payload_bytes,
        }
    }

    /// Loads defaults → file → environment and checks cross-field rules.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, customs_service::ConfigError> {
        let config: Config = customs_service::load(ENV_PREFIX, file)?;
        config
            .kafka
            .validate()
            .map_err(customs_service::ConfigError::Invalid)?;
        if config.max_payload_bytes == 0 {
            return Err(customs_service::ConfigError::Invalid(
                "max_payload_bytes must be positive".to_owned(),
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
            "/../../deploy/config/ingest.toml"
        );
        let loaded =
            Config::load(Some(std::path::Path::new(path))).unwrap_or_else(|e| panic!("{e}"));
        let defaults = Config::default();
        assert_eq!(loaded.kafka.group_id, "customs-ingest");
        assert_eq!(
            loaded.kafka.transactional_id,
            defaults.kafka.transactional_id
        );
        assert_eq!(loaded.kafka.commit_interval, defaults.kafka.commit_interval);
        assert_eq!(loaded.kafka.batch_linger, defaults.kafka.batch_linger);
        assert_eq!(loaded.topics, defaults.topics);
        assert_eq!(
            loaded.telemetry.metrics_addr,
            Some("0.0.0.0:9101".parse().unwrap_or_else(|e| panic!("{e}")))
        );
    }
}
