//! Kafka client settings and topic names, embedded in each service's `Config`.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// Connection and transaction settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// Consumer group of the service; instances of one service share it.
    pub group_id: String,
    /// Transactional id of this instance: unique per instance and stable
    /// across its restarts, so a restarted instance fences its predecessor
    /// and aborts its open transaction at once (KIP-98).
    pub transactional_id: String,
    /// Longest a transaction collects records, from its first record,
    /// before it commits.
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    /// A transaction commits once no further input arrived for this long
    /// (or when it is full, or after `commit_interval`): under light load a
    /// record waits at most this long for company, under heavy load batches
    /// grow by themselves while the previous one commits.
    #[serde(with = "humantime_serde")]
    pub batch_linger: Duration,
    /// Most input records in one transaction.
    pub max_batch_records: usize,
    /// Consumer group session timeout: how long a vanished instance keeps
    /// its partitions before the group reassigns them.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Partitions given to topics the service creates.
    pub topic_partitions: i32,
    /// Replication factor of topics the service creates.
    pub topic_replication: i32,
    /// Extra librdkafka properties (e.g. security settings), applied after
    /// the bootstrap servers. A name without a dot has its underscores read
    /// as dots ([`property_name`]), so every property can come from an
    /// environment variable: `CUSTOMS_INGEST_KAFKA__PROPERTIES__SASL_PASSWORD`
    /// sets `sasl.password`.
    pub properties: BTreeMap<String, String>,
}

/// librdkafka properties whose names really contain underscores.
const UNDERSCORED: [&str; 2] = ["log_level", "enabled_events"];

/// The librdkafka name of a `[kafka.properties]` key: as written when it
/// has a dot or is one of the few underscored names, otherwise with each
/// underscore read as a dot (environment variables cannot hold dots).
pub fn property_name(key: &str) -> std::borrow::Cow<'_, str> {
    if key.contains('.') || UNDERSCORED.contains(&key) {
        key.into()
    } else {
        key.replace('_', ".").into()
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "127.0.0.1:9092".to_owned(),
            group_id: String::new(),
            transactional_id: String::new(),
            commit_interval: Duration::from_millis(100),
            batch_linger: Duration::from_millis(10),
            max_batch_records: 2_000,
            session_timeout: Duration::from_secs(10),
            topic_partitions: 3,
            topic_replication: 1,
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// Defaults for one service: its group and transactional id.
    pub fn for_service(service: &str) -> Self {
        KafkaConfig {
            group_id: format!("customs-{service}"),
            transactional_id: format!("customs-{service}-0"),
            ..KafkaConfig::default()
        }
    }

    /// Settings that load but could not work: an empty batch (the loop
    /// would spin without polling), no partitions, an empty id.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.bootstrap_servers.trim().is_empty() {
            problems.push("kafka.bootstrap_servers is empty");
        }
        if self.group_id.trim().is_empty() {
            problems.push("kafka.group_id is empty");
        }
        if self.transactional_id.trim().is_empty() {
            problems.push("kafka.transactional_id is empty");
        }
        if self.max_batch_records == 0 {
            problems.push("kafka.max_batch_records must be at least 1");
        }
        if self.commit_interval.is_zero() {
            problems.push("kafka.commit_interval must be positive");
        }
        if self.session_timeout.is_zero() {
            problems.push("kafka.session_timeout must be positive");
        }
        if self.topic_partitions < 1 {
            problems.push("kafka.topic_partitions must be at least 1");
        }
        if self.topic_replication < 1 {
            problems.push("kafka.topic_replication must be at least 1");
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Base client config: bootstrap servers plus the extra properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (key, value) in &self.properties {
            config.set(property_name(key), value);
        }
        config
    }

    /// The extra property `name` (its librdkafka name), if set.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(key, _)| property_name(key) == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Topic names, shared by every service so they agree on the wiring.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Raw single-window messages as upstream sends them (XML bytes).
    pub raw: String,
    /// Validated canonical declarations (`customs.v1.Declaration`).
    pub declarations: String,
    /// Classified declarations (`customs.v1.ClassifiedDeclaration`).
    pub classified: String,
    /// Rejected inputs: original bytes plus `customs.reject.*` headers.
    pub dead_letter: String,
    /// The aggregate owners' lifecycle state (compacted, one partition per
    /// classified partition): entries, sealed markers, summary results.
    pub changelog: String,
    /// The aggregate's statistics (compacted, one partition per classified
    /// partition): the absolute value of every cell and shape per pane, and
    /// the partition's watermark; what every serving instance reads.
    pub stats: String,
    /// Events beyond the allowed lateness: original bytes plus
    /// `customs.reject.*` headers.
    pub late: String,
    /// How long the classified topic keeps records, set when a service
    /// creates it: it must cover the aggregate's allowed lateness plus its
    /// waiting time, so that the lifecycle state of every figure that can
    /// still be restated can be rebuilt by reading the topic again (a new
    /// changelog format, a new counting rule). The broker's default (7 days)
    /// does not.
    #[serde(with = "humantime_serde")]
    pub classified_retention: Duration,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            raw: "customs.raw.v1".to_owned(),
            declarations: "customs.declarations.v1".to_owned(),
            classified: "customs.classified.v1".to_owned(),
            dead_letter: "customs.dead-letter.v1".to_owned(),
            changelog: "customs.aggregate-changelog.v3".to_owned(),
            stats: "customs.aggregate-stats.v1".to_owned(),
            late: "customs.late.v1".to_owned(),
            classified_retention: Duration::from_secs(100 * 24 * 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_from_the_environment_have_underscores_for_dots() {
        assert_eq!(property_name("sasl_password"), "sasl.password");
        assert_eq!(
            property_name("ssl_endpoint_identification_algorithm"),
            "ssl.endpoint.identification.algorithm"
        );
        assert_eq!(property_name("sasl.username"), "sasl.username");
        assert_eq!(property_name("log_level"), "log_level");
        let config = KafkaConfig {
            properties: [("security_protocol".to_owned(), "SASL_SSL".to_owned())].into(),
            ..KafkaConfig::default()
        };
        assert_eq!(config.property("security.protocol"), Some("SASL_SSL"));
        assert_eq!(
            config.client_config().get("security.protocol"),
            Some("SASL_SSL")
        );
    }

    #[test]
    fn settings_that_cannot_work_are_refused_with_every_reason() {
        assert_eq!(KafkaConfig::for_service("ingest").validate(), Ok(()));
        let broken = KafkaConfig {
            max_batch_records: 0,
            topic_partitions: 0,
            ..KafkaConfig::for_service("ingest")
        };
        let error = broken.validate().unwrap_err();
        assert!(error.contains("max_batch_records"), "{error}");
        assert!(error.contains("topic_partitions"), "{error}");
        // The default has no group or transactional id: a service must name them.
        assert!(
            KafkaConfig::default()
                .validate()
                .unwrap_err()
                .contains("group_id")
        );
    }
}
