//! The benchmark's input: seeded generated messages, fresh topics, and a
//! producer that reports every delivery.
//!
//! Guarantees: the same `(count, seed)` gives the same bytes (the domain
//! generator is ChaCha8-seeded); markers never share an id with the load;
//! [`Sender::finish`] returns only when every record
//! was acknowledged by the broker (idempotent producer, `acks=all`), and fails
//! if any delivery failed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use customs_domain::generator::{GeneratedMessage, Generator, GeneratorConfig, MessageKind};
use customs_domain::{CodeTables, TradeCategory};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};

/// How long the final flush may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);
/// Marker ids use sequence numbers from here on; the load feed's sequence
/// (one per generated declaration) never gets near it.
const MARKER_SEQUENCE_START: u64 = 900_000_000;

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

/// `count` marker declarations: valid `DecMessage`s of [`MARKER_CATEGORY`]
/// in the load's traffic month, each counted once on arrival. Their ids
/// (`<office><year><ie><9-digit sequence>`) are moved to sequence numbers
/// from [`MARKER_SEQUENCE_START`], so they never collide with the load's.
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
            ..GeneratorConfig::default()
        },
        &tables,
    );
    let mut markers = Vec::with_capacity(count);
    while markers.len() < count {
        // Kinds other than new declarations (should the generator gain
        // faults whose rate is not set to zero above) are left out.
        for message in generator.next_batch() {
            if message.kind == MessageKind::Declaration && markers.len() < count {
                let sequence = MARKER_SEQUENCE_START + markers.len() as u64;
                markers.push(with_sequence(message, sequence)?);
            }
        }
    }
    let counted: u64 = generator
        .summary()
        .counted
        .values()
        .map(|row| row.num_declarations)
        .sum();
    if counted != count as u64 {
        bail!("the generator counts {counted} of {count} markers; markers must each count once");
    }
    Ok(markers)
}

/// The message with its declaration id's 9-digit sequence replaced, in the
/// key and wherever the id occurs in the payload.
fn with_sequence(message: GeneratedMessage, sequence: u64) -> anyhow::Result<GeneratedMessage> {
    let old = message.key.clone();
    let split = old.len().saturating_sub(9);
    if old.len() != 18 || !old.bytes().all(|b| b.is_ascii_digit()) {
        bail!("marker id {old:?} is not an 18-digit entry id; the generator's id format changed");
    }
    let new = format!("{}{sequence:09}", &old[..split]);
    let text = String::from_utf8(message.payload).context("marker payload is not UTF-8")?;
    if !text.contains(&old) {
        bail!("marker id {old} does not occur in its payload");
    }
    Ok(GeneratedMessage {
        key: new.clone(),
        payload: text.replace(&old, &new).into_bytes(),
        ..message
    })
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
            .flush(FLUSH_TIMEOUT)
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
        assert!(marker_keys.iter().all(|key| key[9..] >= *"900000000"));
        let load = generate_without_markers(2_000, 7);
        assert!(load.iter().all(|m| !marker_keys.contains(&m.key.as_str())));
        // Markers are still valid, counted declarations of their category.
        let tables = CodeTables::embedded();
        for marker in &markers {
            let events = customs_domain::parse::parse_message(
                &marker.payload,
                &tables,
                customs_domain::parse::ParseLimits::default(),
            )?;
            let [customs_domain::Event::Declaration(declaration)] = events.as_slice() else {
                bail!("marker is not one declaration");
            };
            assert_eq!(declaration.id, marker.key);
            let classification = customs_domain::classify(declaration, &tables)?;
            assert_eq!(classification.category, MARKER_CATEGORY);
            assert!(classification.in_trade_statistics);
        }
        Ok(())
    }
}
