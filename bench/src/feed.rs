//! The benchmark's input: seeded generated messages, fresh topics, and a
//! producer that reports every delivery.
//!
//! Guarantees: the same `(count, seed)` gives the same bytes (the domain
//! generator is ChaCha8-seeded); each run gets topics no other run or test
//! uses (`bench.<uuid>.<label>.*`), created with the run's partition count
//! and deleted afterwards; [`Sender::finish`] returns only when every record
//! was acknowledged by the broker (idempotent producer, `acks=all`), and fails
//! if any delivery failed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use customs_domain::generator::{GeneratedMessage, Generator, GeneratorConfig};
use customs_domain::{CodeTables, TradeCategory};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};

/// How long admin operations and the final flush may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The category reserved for latency markers: the load feeds never contain
/// it, so its count in `GetTotals` is exactly the markers that became visible.
pub const MARKER_CATEGORY: TradeCategory = TradeCategory::BorderTrade;

/// The default generator mix and fault rates, `count` messages.
pub fn generate(count: usize, seed: u64) -> Vec<GeneratedMessage> {
    generate_with(
        count,
        GeneratorConfig {
            seed,
            ..GeneratorConfig::default()
        },
    )
}

/// Like [`generate`] but without [`MARKER_CATEGORY`] (about 1 % of the
/// default mix), for the latency run.
pub fn generate_without_markers(count: usize, seed: u64) -> Vec<GeneratedMessage> {
    let defaults = GeneratorConfig::default();
    let mix = defaults
        .mix
        .iter()
        .filter(|(category, _)| *category != MARKER_CATEGORY)
        .copied()
        .collect();
    generate_with(
        count,
        GeneratorConfig {
            seed,
            mix,
            ..defaults
        },
    )
}

/// `count` marker declarations: valid `DecMessage`s of [`MARKER_CATEGORY`],
/// each counted on arrival, with ids that cannot collide with the load feed's
/// (the generator puts the traffic year in the id, and markers use 2025).
pub fn markers(count: usize, seed: u64) -> anyhow::Result<Vec<GeneratedMessage>> {
    let tables = CodeTables::embedded();
    let mut generator = Generator::new(
        GeneratorConfig {
            seed,
            mix: vec![(MARKER_CATEGORY, 1)],
            malformed_rate: 0.0,
            duplicate_rate: 0.0,
            withdrawal_rate: 0.0,
            late_rate: 0.0,
            summary_rate: 0.0,
            month: "2025-11".to_owned(),
        },
        &tables,
    );
    let mut messages = Vec::with_capacity(count);
    while messages.len() < count {
        messages.extend(generator.next_batch());
    }
    messages.truncate(count);
    let counted: u64 = generator
        .summary()
        .counted
        .values()
        .map(|row| row.num_declarations)
        .sum();
    if counted != count as u64 {
        bail!("the generator counts {counted} of {count} markers; markers must each count once");
    }
    Ok(messages)
}

fn generate_with(count: usize, config: GeneratorConfig) -> Vec<GeneratedMessage> {
    let tables = CodeTables::embedded();
    let mut generator = Generator::new(config, &tables);
    let mut messages = Vec::with_capacity(count + 4);
    while messages.len() < count {
        messages.extend(generator.next_batch());
    }
    messages.truncate(count);
    messages
}

/// Key plus payload bytes of `messages`.
pub fn num_bytes(messages: &[GeneratedMessage]) -> u64 {
    messages
        .iter()
        .map(|message| (message.key.len() + message.payload.len()) as u64)
        .sum()
}

/// The four topic names of one run.
#[derive(Debug, Clone)]
pub struct Topics {
    /// Raw XML input.
    pub raw: String,
    /// Ingest output.
    pub declarations: String,
    /// Normalize output.
    pub classified: String,
    /// Rejects of both.
    pub dead_letter: String,
}

impl Topics {
    /// Names no other run uses.
    pub fn fresh(label: &str) -> Topics {
        let prefix = format!("bench.{}.{label}", uuid::Uuid::new_v4().simple());
        Topics {
            raw: format!("{prefix}.raw"),
            declarations: format!("{prefix}.declarations"),
            classified: format!("{prefix}.classified"),
            dead_letter: format!("{prefix}.dead-letter"),
        }
    }

    fn all(&self) -> [&str; 4] {
        [
            &self.raw,
            &self.declarations,
            &self.classified,
            &self.dead_letter,
        ]
    }

    /// Creates all four with `partitions` partitions, replication 1.
    pub async fn create(&self, bootstrap: &str, partitions: i32) -> anyhow::Result<()> {
        let admin = admin(bootstrap)?;
        let new_topics: Vec<NewTopic<'_>> = self
            .all()
            .into_iter()
            .map(|name| NewTopic::new(name, partitions, TopicReplication::Fixed(1)))
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        for result in admin.create_topics(&new_topics, &options).await? {
            if let Err((topic, code)) = result {
                bail!("creating topic {topic}: {code}");
            }
        }
        Ok(())
    }

    /// Deletes all four (best effort: they are the run's own).
    pub async fn delete(&self, bootstrap: &str) -> anyhow::Result<()> {
        let admin = admin(bootstrap)?;
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        for result in admin.delete_topics(&self.all(), &options).await? {
            if let Err((topic, code)) = result
                && code != RDKafkaErrorCode::UnknownTopicOrPartition
            {
                bail!("deleting topic {topic}: {code}");
            }
        }
        Ok(())
    }
}

fn admin(bootstrap: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?)
}

/// Counts acknowledged and failed deliveries.
#[derive(Default)]
pub struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self
                    .first_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                first.get_or_insert_with(|| err.to_string());
            }
        }
    }
}

/// A producer to one topic; blocking, so use it from a blocking thread.
pub struct Sender {
    producer: BaseProducer<Deliveries>,
    topic: String,
    num_sent: u64,
}

impl Sender {
    /// The same client settings as `customs generate --topic`.
    pub fn new(bootstrap: &str, topic: &str) -> anyhow::Result<Sender> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create_with_context(Deliveries::default())
            .context("creating the producer")?;
        Ok(Sender {
            producer,
            topic: topic.to_owned(),
            num_sent: 0,
        })
    }

    /// Enqueues one message, waiting while librdkafka's queue is full.
    /// The record's Kafka timestamp is the moment of this call (CreateTime).
    pub fn send(&mut self, message: &GeneratedMessage) -> anyhow::Result<()> {
        let mut record = BaseRecord::to(&self.topic)
            .key(&message.key)
            .payload(&message.payload);
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((err, _)) => return Err(err).context("enqueueing a record"),
            }
        }
        self.num_sent += 1;
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    /// Serves delivery reports without blocking.
    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Waits until every record is acknowledged; fails if any delivery failed.
    pub fn finish(self) -> anyhow::Result<u64> {
        self.producer
            .flush(ADMIN_TIMEOUT)
            .context("flushing the producer")?;
        let context = self.producer.context();
        let failed = context.failed.load(Ordering::Relaxed);
        if failed > 0 {
            let first = context
                .first_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .unwrap_or_default();
            bail!("{failed} deliveries failed, first: {first}");
        }
        let delivered = context.delivered.load(Ordering::Relaxed);
        if delivered != self.num_sent {
            bail!("{delivered} of {} records acknowledged", self.num_sent);
        }
        Ok(delivered)
    }
}

/// Produces all `messages` as fast as the producer takes them.
pub fn preload(bootstrap: &str, topic: &str, messages: &[GeneratedMessage]) -> anyhow::Result<()> {
    let mut sender = Sender::new(bootstrap, topic)?;
    for message in messages {
        sender.send(message)?;
    }
    sender.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_are_seeded_and_markers_are_their_own_category() -> anyhow::Result<()> {
        let a = generate(500, 7);
        let b = generate(500, 7);
        assert_eq!(a.len(), 500);
        assert!(a.iter().zip(&b).all(|(x, y)| x.payload == y.payload));
        let markers = markers(20, 7)?;
        assert_eq!(markers.len(), 20);
        let marker_keys: Vec<&str> = markers.iter().map(|m| m.key.as_str()).collect();
        let load = generate_without_markers(2_000, 7);
        assert!(load.iter().all(|m| !marker_keys.contains(&m.key.as_str())));
        Ok(())
    }
}
