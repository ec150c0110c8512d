//! Producing a generated feed to Kafka with many sends in flight.
//!
//! Guarantees: every message is acknowledged by the broker before
//! [`KafkaSink::finish`] returns, or the first delivery error is returned
//! (a summary is never printed for a feed that did not arrive whole).
//! Messages of one key keep their order: the producer is idempotent, which
//! keeps per-partition order with up to five requests in flight. At most
//! [`MAX_IN_FLIGHT`] deliveries are awaited at once; a full local queue
//! waits for the oldest delivery instead of failing.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{Context, anyhow};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

/// Deliveries awaited at once.
const MAX_IN_FLIGHT: usize = 20_000;

/// A topic being written to.
pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
    in_flight: VecDeque<DeliveryFuture>,
}

impl KafkaSink {
    /// An idempotent producer of `topic` on `servers`.
    pub fn new(servers: &str, topic: &str) -> anyhow::Result<Self> {
        let producer: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", servers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .set(
                "queue.buffering.max.messages",
                (2 * MAX_IN_FLIGHT).to_string(),
            )
            .create()
            .context("creating the Kafka producer")?;
        Ok(KafkaSink {
            producer,
            topic: topic.to_owned(),
            in_flight: VecDeque::with_capacity(MAX_IN_FLIGHT),
        })
    }

    /// Queues one message; waits only when [`MAX_IN_FLIGHT`] are pending.
    pub async fn send(&mut self, key: &str, payload: &[u8]) -> anyhow::Result<()> {
        self.send_key_bytes(key.as_bytes(), payload).await
    }

    /// [`KafkaSink::send`] with a key of any bytes.
    pub async fn send_key_bytes(&mut self, key: &[u8], payload: &[u8]) -> anyhow::Result<()> {
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            settle_oldest(&mut self.in_flight).await?;
        }
        let mut record = FutureRecord::to(&self.topic).key(key).payload(payload);
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.in_flight.push_back(delivery);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    if self.in_flight.is_empty() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    } else {
                        settle_oldest(&mut self.in_flight).await?;
                    }
                }
                Err((err, _)) => return Err(err).context("queueing a message"),
            }
        }
    }

    /// Waits for every delivery; the first failure is the error.
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        while !self.in_flight.is_empty() {
            settle_oldest(&mut self.in_flight).await?;
        }
        Ok(())
    }
}

/// Waits for the oldest pending delivery.
async fn settle_oldest(in_flight: &mut VecDeque<DeliveryFuture>) -> anyhow::Result<()> {
    let Some(delivery) = in_flight.pop_front() else {
        return Ok(());
    };
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((err, _))) => Err(err).context("delivering a message"),
        Err(_) => Err(anyhow!("the producer went away before a delivery report")),
    }
}
