//! Kafka plumbing shared by the services.
//!
//! - [`config`]: client settings every service embeds in its own config.
//! - [`stage`]: the transactional consume → transform → produce loop that
//!   ingest and normalize run; dead letters are produced in the same transaction.
//!   Its consumer context (`stage_context`: rebalances, consumer lag from
//!   librdkafka statistics), its committed-work metrics (`stage_metrics`)
//!   and its transaction steps (`stage_txn`) are private modules of their own.
//! - [`reader`]: a read-committed reader of a whole topic, for state rebuilt
//!   from a topic (the aggregate).
//! - [`admin`]: idempotent topic creation.
//! - [`client_log`]: consumer errors and librdkafka's own log lines and
//!   global errors, each kind logged once per interval ([`throttle`]), and
//!   the logging-only client context.
//!
//! Everything here blocks on librdkafka calls, so it runs on dedicated
//! threads (`spawn_blocking`), never on the async runtime's workers.

pub mod admin;
pub mod client_log;
pub mod config;
pub mod dead_letter;
pub mod reader;
pub mod stage;
mod stage_consumer;
mod stage_context;
mod stage_metrics;
mod stage_paused;
mod stage_txn;
pub mod throttle;

pub use config::{KafkaConfig, TopicsConfig};
pub use rdkafka::error::KafkaError;
pub use stage::{Output, Record, StageError, Transform};
