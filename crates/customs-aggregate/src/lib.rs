//! Aggregate service: exact event-time statistics over classified
//! declarations, recoverable and scalable, served over gRPC.
//!
//! Design (see README, "Aggregate state and scale-out"):
//! - [`owner`]: instances share the classified partitions in one consumer
//!   group; the owner of a partition alone holds its lifecycle entries
//!   (restored from the compacted changelog when it takes the partition
//!   over), and writes every lifecycle change to the changelog and the new
//!   absolute value of every statistic it changed to the compacted
//!   statistics topic, in the same transaction as the consumed offsets
//!   (exactly-once);
//! - [`reader`]: every instance reads the whole statistics topic — cells,
//!   not declarations — into its [`customs_domain::stats::StatsView`], so
//!   any instance answers every statistics query, keeps answering while
//!   partitions move, and restores by reading it;
//! - [`grpc`]: the API, with freshness in every answer; health is
//!   NOT_SERVING until the view has restored.

pub mod changelog;
mod config;
mod grpc;
mod owner;
mod reader;
mod retention;
mod state;
pub mod stats_record;
pub mod store;

use std::sync::Arc;

pub use config::{ApiConfig, Config, StateConfig, StatisticsConfig};
use customs_domain::CodeTables;
use customs_kafka::stage::{Stage, StageTopics};
use customs_kafka::{KafkaError, StageError};
pub use state::Shared;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Service name, used in metric names.
pub const SERVICE: &str = "aggregate";

/// Why the service stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Topics could not be created or do not fit together.
    #[error("topic set-up failed: {0}")]
    Topics(#[source] KafkaError),
    /// The statistics topic could not be read.
    #[error("reading the statistics topic failed: {0}")]
    Reader(#[source] KafkaError),
    /// The owner loop failed.
    #[error("owner loop failed: {0}")]
    Stage(#[from] StageError),
    /// The gRPC listener could not be bound.
    #[error("cannot bind gRPC address: {0}")]
    Bind(#[source] std::io::Error),
    /// The API's TLS certificate or key could not be read.
    #[error("cannot read TLS file {0}: {1}")]
    TlsFiles(String, #[source] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Serve(#[source] tonic::transport::Error),
    /// Reflection could not be built from the descriptor set.
    #[error("reflection set-up failed: {0}")]
    Reflection(#[source] tonic_reflection::server::Error),
    /// The configured code tables could not be read.
    #[error(transparent)]
    CodeTables(customs_domain::codes::TableError),
    /// The lifecycle state store cannot be opened.
    #[error("cannot open the lifecycle state store: {0}")]
    State(fjall::Error),
    /// A worker thread panicked.
    #[error("worker thread failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Binds `config.grpc_addr` and runs until `shutdown` or a fatal error.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let listener = TcpListener::bind(config.grpc_addr)
        .await
        .map_err(Error::Bind)?;
    run_with_listener(config, listener, shutdown).await
}

/// Runs with an already bound listener (tests bind port 0).
pub async fn run_with_listener(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let topics = config.topics.clone();
    // Code tables first: a bad table is a configuration error, found
    // before anything waits for Kafka.
    let tables = CodeTables::load_or_embedded(config.code_tables_dir.as_deref())
        .map_err(Error::CodeTables)?;
    customs_telemetry::code_tables_info(SERVICE, None, tables.version());
    if !customs_kafka::admin::await_reachable(&config.kafka, &shutdown).await {
        return Ok(());
    }
    if config.create_topics {
        customs_kafka::admin::ensure_compacted_topics(
            &config.kafka,
            &[&topics.changelog, &topics.stats],
        )
        .await
        .map_err(Error::Topics)?;
        customs_kafka::admin::ensure_retained_topics(
            &config.kafka,
            &[&topics.classified],
            topics.classified_retention,
        )
        .await
        .map_err(Error::Topics)?;
        customs_kafka::admin::ensure_topics(&config.kafka, &[&topics.late, &topics.dead_letter])
            .await
            .map_err(Error::Topics)?;
    }
    retention::check(&config, config.statistics.policy()).await;
    let version = tables.version().to_owned();
    let shared = Arc::new(Shared::new(tables, config.statistics.clone()));
    {
        let shared = Arc::clone(&shared);
        customs_service::tables::reload_on_sighup(
            SERVICE,
            config.code_tables_dir.clone(),
            version,
            shutdown.clone(),
            move |tables| shared.set_tables(tables),
        );
    }
    let reader = {
        let shared = Arc::clone(&shared);
        let shutdown = shutdown.clone();
        let kafka = config.kafka.clone();
        let topic = topics.stats.clone();
        tokio::task::spawn_blocking(move || {
            let read = reader::run(&kafka, &topic, &shared, &shutdown);
            shutdown.cancel();
            read
        })
    };
    let disk = store::Disk::open(&config.state).map_err(Error::State)?;
    let owner = owner::Owner::new(
        Arc::clone(&shared),
        disk,
        &config.kafka,
        owner::OwnerTopics {
            changelog: topics.changelog.clone(),
            stats: topics.stats.clone(),
            late: topics.late.clone(),
        },
        shutdown.clone(),
    );
    let stage = Stage::new(
        SERVICE,
        config.kafka.clone(),
        StageTopics {
            input: topics.classified.clone(),
            output: topics.changelog.clone(),
            dead_letter: topics.dead_letter.clone(),
        },
    );
    let owning = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let owned = stage.run_blocking(owner, shutdown.clone()).await;
            shutdown.cancel();
            owned
        })
    };
    tracing::info!(addr = ?listener.local_addr().ok(), "serving gRPC");
    let served = grpc::serve(listener, Arc::clone(&shared), &config.api, shutdown.clone()).await;
    // Whatever ended first, the rest stops too.
    shutdown.cancel();
    let owned = owning.await?;
    let read = reader.await?;
    served?;
    owned?;
    read.map_err(Error::Reader)
}
