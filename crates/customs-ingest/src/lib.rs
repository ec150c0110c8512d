//! Ingest service: raw single-window messages → canonical declarations.
//!
//! Reads raw messages (single-window XML of every supported type, or JSON)
//! from the raw topic, parses and validates them with the domain crate, and
//! publishes one `customs.v1.Event` per declaration, inventory, receipt or
//! summary result, keyed by the event's identity.
//! Whatever it cannot accept goes to the dead-letter topic with the original
//! bytes and a reason header, counted in
//! `customs_ingest_messages_rejected_total{reason}`. Nothing is dropped.
//!
//! Delivery guarantee: exactly-once into the declarations and dead-letter
//! topics (see `customs_kafka::stage`). Personal data never leaves this
//! service: the canonical declaration has no field that could carry it.

mod config;
mod transform;

pub use config::Config;
use customs_domain::CodeTables;
use customs_kafka::stage::{Stage, StageError, StageTopics};
use tokio_util::sync::CancellationToken;
pub use transform::IngestTransform;

/// Service name, used in metric names and dead-letter headers.
pub const SERVICE: &str = "ingest";

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
            input: topics.raw.clone(),
            output: topics.declarations.clone(),
            dead_letter: topics.dead_letter.clone(),
        },
    );
    // Code tables first: a bad table is a configuration error, found
    // before anything waits for Kafka.
    let tables = CodeTables::load_or_embedded(config.code_tables_dir.as_deref())
        .map_err(Error::CodeTables)?;
    customs_telemetry::code_tables_info(SERVICE, None, tables.version());
    if !customs_kafka::admin::await_reachable(&config.kafka, &shutdown).await {
        return Ok(());
    }
    if config.create_topics {
        stage.ensure_topics().await?;
    }
    let reloaded = customs_service::tables::reloading_slot(
        SERVICE,
        config.code_tables_dir.clone(),
        tables.version(),
        &shutdown,
    );
    let transform = IngestTransform::new(tables, config.parse_limits(), reloaded);
    Ok(stage.run_blocking(transform, shutdown).await?)
}
