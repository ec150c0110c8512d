//! Idempotent topic creation.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::client_log::Logging;
use crate::config::KafkaConfig;

/// Creates each topic that does not exist yet; existing ones are left alone.
pub async fn ensure_topics(config: &KafkaConfig, topics: &[&str]) -> Result<(), KafkaError> {
    create(config, topics, &[]).await
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
