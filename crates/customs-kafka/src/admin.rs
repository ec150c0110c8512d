//! Idempotent topic creation, and waiting for a reachable broker at start.

use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use tokio_util::sync::CancellationToken;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::client_log::Logging;
use crate::config::KafkaConfig;

/// Creates each topic that does not exist yet; existing ones are left alone.
pub async fn ensure_topics(config: &KafkaConfig, topics: &[&str]) -> Result<(), KafkaError> {
    create(config, topics, &[]).await
}

/// Like [`ensure_topics`], for topics whose records are kept for
/// `retention` (`retention.ms`) rather than the broker's default.
pub async fn ensure_retained_topics(
    config: &KafkaConfig,
    topics: &[&str],
    retention: Duration,
) -> Result<(), KafkaError> {
    let millis = retention.as_millis().to_string();
    create(config, topics, &[("retention.ms", &millis)]).await
}

/// How long `topic` keeps records (`retention.ms`; `None`: for ever),
/// as the broker reports it.
pub async fn retention(config: &KafkaConfig, topic: &str) -> Result<Option<Duration>, KafkaError> {
    let admin: AdminClient<Logging> = config.client_config().create_with_context(Logging)?;
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
        .await?;
    let resource = results
        .into_iter()
        .next()
        .ok_or(KafkaError::AdminOp(
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ))?
        .map_err(KafkaError::AdminOp)?;
    let value = resource
        .get("retention.ms")
        .and_then(|entry| entry.value.as_deref())
        .and_then(|value| value.parse::<i64>().ok())
        .ok_or(KafkaError::AdminOp(RDKafkaErrorCode::InvalidConfig))?;
    Ok(u64::try_from(value).ok().map(Duration::from_millis))
}

/// Like [`ensure_topics`], for compacted topics (`cleanup.policy=compact`):
/// state changelogs, where the latest record per key is the state.
pub async fn ensure_compacted_topics(
    config: &KafkaConfig,
    topics: &[&str],
) -> Result<(), KafkaError> {
    create(config, topics, &[("cleanup.policy", "compact")]).await
}

async fn create(
    config: &KafkaConfig,
    topics: &[&str],
    settings: &[(&str, &str)],
) -> Result<(), KafkaError> {
    let admin: AdminClient<Logging> = config.client_config().create_with_context(Logging)?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|name| {
            settings.iter().fold(
                NewTopic::new(
                    name,
                    config.topic_partitions,
                    TopicReplication::Fixed(config.topic_replication),
                ),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!(%topic, ?code, "topic creation failed");
                });
            }
        }
    }
    Ok(())
}

/// How long one reachability probe waits for metadata.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause between probes.
const MAX_PROBE_BACKOFF: Duration = Duration::from_secs(30);

/// Waits until a broker of `config` answers a metadata request, saying so
/// in the log: an error naming the bootstrap servers within
/// [`PROBE_TIMEOUT`] of a failed probe, then retries with a backoff doubling
/// to [`MAX_PROBE_BACKOFF`]. Returns `false` when `shutdown` came first (at
/// once while pausing, within one probe's timeout while probing), so that
/// a SIGTERM during start-up is honoured in seconds.
pub async fn await_reachable(config: &KafkaConfig, shutdown: &CancellationToken) -> bool {
    let mut backoff = Duration::from_secs(1);
    let mut failures = 0u32;
    loop {
        let probe_config = config.clone();
        let probe = tokio::task::spawn_blocking(move || probe(&probe_config));
        let outcome = tokio::select! {
            joined = probe => joined.unwrap_or_else(|e| Err(e.to_string())),
            () = shutdown.cancelled() => return false,
        };
        match outcome {
            Ok(brokers) => {
                if failures > 0 {
                    tracing::info!(bootstrap = %config.bootstrap_servers, brokers, failures, "Kafka reachable now");
                }
                return true;
            }
            Err(error) => {
                failures += 1;
                tracing::error!(
                    bootstrap = %config.bootstrap_servers,
                    %error,
                    retry_in_s = backoff.as_secs(),
                    failures,
                    "cannot reach Kafka; check kafka.bootstrap_servers, the network and the security settings in kafka.properties"
                );
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => return false,
        }
        backoff = (backoff * 2).min(MAX_PROBE_BACKOFF);
    }
}

/// One metadata request; the number of brokers it named.
fn probe(config: &KafkaConfig) -> Result<usize, String> {
    use rdkafka::consumer::Consumer;
    let consumer: BaseConsumer<Logging> = config
        .client_config()
        .create_with_context(Logging)
        .map_err(|e| e.to_string())?;
    match consumer.fetch_metadata(None, PROBE_TIMEOUT) {
        Ok(metadata) => Ok(metadata.brokers().len()),
        Err(error) => {
            // librdkafka's own log lines and errors (e.g. "SASL
            // authentication error: ... invalid credentials", a TLS
            // handshake failure) wait in the client's queue: serve them, so
            // the cause is logged before the failure is.
            let _ = consumer.poll(Duration::from_millis(100));
            Err(error.to_string())
        }
    }
}
