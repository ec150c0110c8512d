//! librdkafka's own log lines and global errors, rate-limited per kind.
//!
//! While a broker is away every client of a process (the stage's consumer
//! and producer, readers, admin) reports the same failure: in one CI run the
//! default contexts printed 281 `Global error` lines at ERROR, most within
//! the same second. Here each kind — a global error's code, a log line's
//! facility (`FAIL`, `SESSTMOUT`, ...) — is logged the first time and then
//! at most once per [`crate::throttle::INTERVAL`] per process, with how many were
//! left out. Debug and info lines pass unthrottled; levels and the
//! `librdkafka` target are librdkafka's, as with rdkafka's default context.
//! Errors a consumer's `poll` returns go through [`consumer_error`], keyed by
//! consumer and code.
//!
//! [`Logging`] is the context of every client that needs no other one;
//! the stage's consumer context delegates its logging here too.

use std::sync::LazyLock;
use std::time::Instant;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::ProducerContext;

use crate::throttle::Kinds;

/// One throttle per kind, shared by every client of the process.
static KINDS: LazyLock<Kinds> = LazyLock::new(Kinds::default);

/// A librdkafka log line, throttled by facility at warning and above.
pub fn log(level: RDKafkaLogLevel, fac: &str, message: &str) {
    use RDKafkaLogLevel::{Alert, Critical, Debug, Emerg, Error, Info, Notice, Warning};
    let throttled = || KINDS.occurred(&format!("log {fac}"), Instant::now());
    match level {
        Emerg | Alert | Critical | Error => {
            if let Some(left_out) = throttled() {
                tracing::error!(target: "librdkafka", left_out, "librdkafka: {fac} {message}");
            }
        }
        Warning => {
            if let Some(left_out) = throttled() {
                tracing::warn!(target: "librdkafka", left_out, "librdkafka: {fac} {message}");
            }
        }
        Notice | Info => tracing::info!(target: "librdkafka", "librdkafka: {fac} {message}"),
        Debug => tracing::debug!(target: "librdkafka", "librdkafka: {fac} {message}"),
    }
}

/// A librdkafka global error, throttled by its code.
pub fn error(error: &KafkaError, reason: &str) {
    if let Some(left_out) = KINDS.occurred(&format!("error {}", kind(error)), Instant::now()) {
        tracing::error!(target: "librdkafka", left_out, "librdkafka: {error}: {reason}");
    }
}

/// An error a consumer's `poll` returned, throttled by `source` (the
/// service or topic whose consumer it is) and code.
pub fn consumer_error(source: &str, error: &KafkaError) {
    let kind = format!("consumer {source} {}", kind(error));
    if let Some(left_out) = KINDS.occurred(&kind, Instant::now()) {
        tracing::warn!(source, error = %error, left_out, "consumer error");
    }
}

/// An error's code, or its text when it has none.
fn kind(error: &KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => error.to_string(),
    }
}

/// The context of clients that need nothing but logging: readers,
/// metadata, admin and the stage's transactional producer (whose deliveries
/// are awaited by flushing, not by callbacks).
#[derive(Clone, Copy, Debug, Default)]
pub struct Logging;

impl ClientContext for Logging {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self::error(&error, reason);
    }
}

impl ConsumerContext for Logging {}

impl ProducerContext for Logging {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}
