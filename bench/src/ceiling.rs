//! The ceiling: how fast a bare rdkafka consumer reads the raw input topic.
//!
//! Guarantees: the consumer is a `BaseConsumer` in a fresh group,
//! `isolation.level=read_committed` (as the services read), from the
//! beginning, doing nothing per record but count it and its key and payload
//! bytes; the clock runs from before `subscribe` (so it includes the group
//! join, as the pipeline's clock includes its start-up) until the expected
//! count arrived. Fewer records within the timeout is an error.

use std::time::{Duration, Instant};

use anyhow::bail;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::Serialize;

/// One ceiling measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    /// Records read.
    pub num_messages: u64,
    /// Their key and payload bytes.
    pub num_bytes: u64,
    /// From before `subscribe` until the last record.
    pub seconds: f64,
    /// From before `subscribe` until the first record (group join, fetch).
    pub first_record_seconds: f64,
    /// `num_messages / seconds`.
    pub messages_per_second: f64,
    /// `num_bytes / seconds`, MiB/s.
    pub mib_per_second: f64,
}

/// Reads `topic` from the beginning until `expected` records arrived.
pub fn measure(
    bootstrap: &str,
    topic: &str,
    expected: u64,
    timeout: Duration,
) -> anyhow::Result<Ceiling> {
    let group = format!("bench-ceiling-{}", uuid::Uuid::new_v4().simple());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", &group)
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    let started = Instant::now();
    consumer.subscribe(&[topic])?;
    let mut num_messages = 0u64;
    let mut num_bytes = 0u64;
    let mut first_record_seconds = None;
    while num_messages < expected {
        if started.elapsed() > timeout {
            bail!("ceiling: {num_messages} of {expected} records after {timeout:?}");
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                first_record_seconds.get_or_insert_with(|| started.elapsed().as_secs_f64());
                num_messages += 1;
                num_bytes += (message.key_len() + message.payload_len()) as u64;
            }
            Some(Err(err)) => bail!("ceiling consumer: {err}"),
            None => {}
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Ceiling {
        num_messages,
        num_bytes,
        seconds,
        first_record_seconds: first_record_seconds.unwrap_or(seconds),
        messages_per_second: num_messages as f64 / seconds,
        mib_per_second: num_bytes as f64 / seconds / (1024.0 * 1024.0),
    })
}
