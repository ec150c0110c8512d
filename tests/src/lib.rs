//! Support for the end-to-end tests: a real Kafka broker and isolated topics.
//!
//! [`broker`] returns `KAFKA_BOOTSTRAP_SERVERS` when it is set, and otherwise
//! starts the project's own broker through `scripts/kafka start` (fetched
//! from Maven Central on first use). Each test names its topics, groups and
//! transactional ids with a fresh random suffix, so tests never see each
//! other's data.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};
use customs_kafka::{KafkaConfig, TopicsConfig};

/// Bootstrap servers of the broker the tests use.
pub fn broker() -> anyhow::Result<String> {
    static BOOTSTRAP: OnceLock<Result<String, String>> = OnceLock::new();
    BOOTSTRAP
        .get_or_init(|| start_or_reuse().map_err(|err| format!("{err:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn start_or_reuse() -> anyhow::Result<String> {
    if let Ok(servers) = std::env::var("KAFKA_BOOTSTRAP_SERVERS")
        && !servers.trim().is_empty()
    {
        eprintln!("e2e: using KAFKA_BOOTSTRAP_SERVERS={servers}");
        return Ok(servers);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka");
    eprintln!(
        "e2e: KAFKA_BOOTSTRAP_SERVERS not set, starting a broker with {}",
        script.display()
    );
    let output = Command::new("bash")
        .arg(&script)
        .arg("start")
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "scripts/kafka start failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("KAFKA_BOOTSTRAP_SERVERS="))
        .map(str::to_owned)
        .context("scripts/kafka start printed no KAFKA_BOOTSTRAP_SERVERS line")
}

/// Topic names unique to one test.
pub fn unique_topics(test: &str) -> TopicsConfig {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    TopicsConfig {
        raw: format!("e2e.{test}.{suffix}.raw"),
        declarations: format!("e2e.{test}.{suffix}.declarations"),
        classified: format!("e2e.{test}.{suffix}.classified"),
        dead_letter: format!("e2e.{test}.{suffix}.dead-letter"),
    }
}

/// Kafka settings of one service instance, unique to one test.
pub fn service_kafka(bootstrap: &str, test: &str, service: &str) -> KafkaConfig {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    KafkaConfig {
        bootstrap_servers: bootstrap.to_owned(),
        group_id: format!("e2e-{test}-{service}-{suffix}"),
        transactional_id: format!("e2e-{test}-{service}-{suffix}"),
        topic_partitions: 3,
        ..KafkaConfig::default()
    }
}
