//! Normalize service: canonical declarations → classified declarations.
//!
//! Reads `customs.v1.Event` records. Each declaration is classified by its
//! four-digit supervision mode into the trade categories of the README ("What it reads") and
//! valued in CNY and USD at the monthly rate, and published as a
//! `customs.v1.ClassifiedEvent` keyed by declaration id; receipts and summary
//! results pass through unchanged for the aggregate's lifecycle (a summary result
//! to every classified partition: see [`transform`]). A record that
//! does not decode, whose supervision mode is not in the code table, or that
//! has no exchange rate for its month goes to the dead-letter topic with its
//! reason; a direction the mode does not allow is published with a flag and
//! counted in `customs_normalize_declarations_flagged_total`.
//!
//! Delivery guarantee: exactly-once into the classified and dead-letter
//! topics (see `customs_kafka::stage`).

mod config;
mod tally;
mod transform;

pub use config::Config;
use customs_domain::CodeTables;
use customs_kafka::stage::{Stage, StageError, StageTopics};
use tokio_util::sync::CancellationToken;
pub use transform::{NormalizeTransform, SummaryBroadcast};

/// Service name, used in metric names and dead-letter headers.
pub const SERVICE: &str = "normalize";

/// Why the service stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured code tables could not be read.
    #[error(transparent)]
    CodeTables(customs_domain::codes::TableError),
    /// The stage failed.
    #[error(transparent)]
    Stage(#[from] StageError),
}

/// Runs the service until `shutdown` is cancelled or a fatal error.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let topics = &config.topics;
    let stage = Stage::new(
        SERVICE,
        config.kafka.clone(),
        StageTopics {
            input: topics.declarations.clone(),
            output: topics.classified.clone(),
            dead_letter: topics.dead_letter.clone(),
        },
    );
    // Code tables first: a bad table is a configuration error, found
    // before anything waits for Kafka.
    let tables = CodeTables::load_or_embedded(config.code_tables_dir.as_deref())
        .map_err(Error::CodeTables)?;
    customs_telemetry::code_tables_info(SERVICE, None, tables.version());
    let reloaded = customs_service::tables::reloading_slot(
        SERVICE,
        config.code_tables_dir.clone(),
        tables.version(),
        &shutdown,
    );
    if !customs_kafka::admin::await_reachable(&config.kafka, &shutdown).await {
        return Ok(());
    }
    if config.create_topics {
        // The classified topic first, with the retention a rebuild needs.
        customs_kafka::admin::ensure_retained_topics(
            &config.kafka,
            &[&topics.classified],
            topics.classified_retention,
        )
        .await
        .map_err(StageError::Topics)?;
        stage.ensure_topics().await?;
    }
    let broadcast = {
        let kafka = config.kafka.clone();
        let topic = topics.classified.clone();
        let shutdown = shutdown.clone();
        tokio::task::spawn_blocking(move || summary_broadcast(&kafka, topic, &shutdown))
            .await
            .map_err(StageError::Join)?
            .map_err(StageError::Setup)?
    };
    tracing::info!(topic = %broadcast.topic, partitions = broadcast.partitions, "summary results go to every classified partition");
    Ok(stage
        .run_blocking(
            NormalizeTransform::new(tables, broadcast, reloaded),
            shutdown,
        )
        .await?)
}

/// The classified topic's partitions, which every summary result is sent to.
fn summary_broadcast(
    kafka: &customs_kafka::KafkaConfig,
    topic: String,
    shutdown: &CancellationToken,
) -> Result<SummaryBroadcast, customs_kafka::KafkaError> {
    let consumer: rdkafka::consumer::BaseConsumer<customs_kafka::client_log::Logging> = kafka
        .client_config()
        .create_with_context(customs_kafka::client_log::Logging)?;
    let partitions = customs_kafka::reader::wait_for_partitions(&consumer, &topic, shutdown)?;
    Ok(SummaryBroadcast {
        topic,
        partitions: partitions.len() as i32,
    })
}
