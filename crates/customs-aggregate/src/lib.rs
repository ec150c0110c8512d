//! Aggregate service: exact totals over classified declarations, served over gRPC.
//!
//! Reads `customs.v1.ClassifiedDeclaration` records (read-committed, so only
//! what upstream transactions committed) into [`customs_domain::Totals`], which
//! counts each declaration identity once, and serves them through
//! `customs.v1.StatsService`, the standard gRPC health service and server
//! reflection (v1 and v1alpha).
//!
//! Delivery guarantee (skeleton): the state is a deterministic fold over the
//! classified topic, rebuilt by reading the topic from the beginning at every
//! start, so a restart loses nothing and counts nothing twice. No offsets are
//! committed. The changelog-backed state with event-time windows replaces this
//! once the exactly-once aggregate lands.

mod config;
mod grpc;
mod state;

use std::ops::ControlFlow;
use std::sync::Arc;

pub use config::Config;
use customs_kafka::KafkaError;
use rdkafka::message::Message;
pub use state::{SharedState, State};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Service name, used in metric names.
pub const SERVICE: &str = "aggregate";

/// Why the service stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Topics could not be created.
    #[error("topic set-up failed: {0}")]
    Topics(#[source] KafkaError),
    /// The classified topic could not be read.
    #[error("reading the classified topic failed: {0}")]
    Reader(#[source] KafkaError),
    /// The gRPC listener could not be bound.
    #[error("cannot bind gRPC address: {0}")]
    Bind(#[source] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Serve(#[source] tonic::transport::Error),
    /// Reflection could not be built from the descriptor set.
    #[error("reflection set-up failed: {0}")]
    Reflection(#[source] tonic_reflection::server::Error),
    /// The reader thread panicked.
    #[error("reader thread failed: {0}")]
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
    let topic = config.topics.classified.clone();
    if config.create_topics {
        customs_kafka::admin::ensure_topics(&config.kafka, &[&topic])
            .await
            .map_err(Error::Topics)?;
    }
    let state: SharedState = Arc::default();
    let reader = {
        let state = Arc::clone(&state);
        let shutdown = shutdown.clone();
        let kafka = config.kafka.clone();
        tokio::task::spawn_blocking(move || {
            customs_kafka::reader::read_topic(&kafka, &topic, &shutdown, |message| {
                state::apply(&state, message.payload().unwrap_or_default());
                ControlFlow::Continue(())
            })
        })
    };
    tracing::info!(addr = ?listener.local_addr().ok(), "serving gRPC");
    let served = grpc::serve(listener, state, shutdown.clone()).await;
    // Whatever ended first, the other half stops too.
    shutdown.cancel();
    let read = reader.await?;
    served?;
    read.map_err(Error::Reader)
}
