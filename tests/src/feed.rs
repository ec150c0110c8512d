//! Generated feeds on the raw topic: the same messages, produced the same
//! way, in every test that sends one.

use customs_domain::generator::{GeneratedMessage, Generator, GeneratorConfig};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// The default mix with every lifecycle case and fault at rates that make
/// each occur in a few thousand messages: malformed, re-sent, withdrawn,
/// late, and superseded by summary results.
pub fn with_every_case(seed: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        malformed_rate: 0.02,
        duplicate_rate: 0.04,
        withdrawal_rate: 0.02,
        late_rate: 0.03,
        summary_rate: 0.3,
        ..GeneratorConfig::default()
    }
}

/// At least `count` messages from `generator` (an inventory comes with its
/// receipts, so a few more).
pub fn generate(generator: &mut Generator<'_>, count: usize) -> Vec<GeneratedMessage> {
    let mut messages = Vec::with_capacity(count + 4);
    while messages.len() < count {
        messages.extend(generator.next_batch());
    }
    messages
}

/// Produces `messages` to `topic`, keyed as generated and in order, and
/// waits until the broker has acknowledged every one.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    messages: &[GeneratedMessage],
) -> anyhow::Result<()> {
    let mut pending = Vec::new();
    for message in messages {
        loop {
            let record = FutureRecord::to(topic)
                .key(&message.key)
                .payload(&message.payload);
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                // The local queue is full: let what is in flight land first.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    for delivery in pending.drain(..) {
                        delivery.await?.map_err(|(err, _)| err)?;
                    }
                }
                Err((err, _)) => return Err(err.into()),
            }
        }
    }
    for delivery in pending {
        delivery.await?.map_err(|(err, _)| err)?;
    }
    Ok(())
}
