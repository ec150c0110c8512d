//! The transactional stage's failure handling, each case on purpose, on the
//! real broker:
//! - an abortable error mid-transaction (a record for a partition that does
//!   not exist) aborts the batch, tells the transform (`aborted`), rewinds,
//!   and the batch is read again: read-committed output holds every record
//!   exactly once, nothing from the aborted attempt;
//! - a second instance with the same transactional id fences the first,
//!   which stops with a fatal error instead of writing on; the second
//!   finishes the input exactly once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use customs_e2e::{broker, service_kafka};
use customs_kafka::stage::{Stage, StageTopics};
use customs_kafka::{KafkaConfig, Output, Record, StageError, Transform};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

const NUM_RECORDS: usize = 400;

/// Copies each record; optionally poisons one attempt, optionally slow.
struct Copy {
    output: String,
    poison_once: Option<Arc<AtomicBool>>,
    aborts: Arc<AtomicU64>,
    delay: Duration,
}

impl Transform for Copy {
    fn transform(&mut self, record: &Record<'_>, outputs: &mut Vec<Output>) {
        std::thread::sleep(self.delay);
        if record.offset == 50
            && let Some(poison) = &self.poison_once
            && poison.swap(false, Ordering::SeqCst)
        {
            // Partition 99 does not exist: the produce fails inside the
            // transaction, which must then abort.
            outputs.push(Output::Send {
                topic: self.output.clone(),
                partition: Some(99),
                key: b"poison".to_vec(),
                payload: Some(b"poison".to_vec()),
            });
        }
        outputs.push(Output::Publish {
            key: record.key.unwrap_or_default().to_vec(),
            payload: record.payload.to_vec(),
        });
    }

    fn aborted(&mut self) {
        self.aborts.fetch_add(1, Ordering::SeqCst);
    }
}

struct Topics {
    stage: StageTopics,
    kafka: KafkaConfig,
}

async fn setup(bootstrap: &str, test: &str) -> anyhow::Result<Topics> {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let stage = StageTopics {
        input: format!("e2e.{test}.{suffix}.in"),
        output: format!("e2e.{test}.{suffix}.out"),
        dead_letter: format!("e2e.{test}.{suffix}.dlq"),
    };
    let mut kafka = service_kafka(bootstrap, test, "stage");
    kafka.max_batch_records = 100;
    kafka.session_timeout = Duration::from_secs(6);
    customs_kafka::admin::ensure_topics(&kafka, &[&stage.input, &stage.output, &stage.dead_letter])
        .await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .create()?;
    for index in 0..NUM_RECORDS {
        let key = format!("k{index}");
        let value = format!("v{index}");
        // Everything on partition 0, so offset 50 exists and is reached.
        producer
            .send(
                FutureRecord::to(&stage.input)
                    .key(&key)
                    .payload(&value)
                    .partition(0),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(err, _)| err)?;
    }
    Ok(Topics { stage, kafka })
}

/// Read-committed payload counts of `topic` once `expected` records arrived
/// and nothing more came for two seconds.
fn committed_counts(
    bootstrap: &str,
    topic: &str,
    expected: usize,
) -> anyhow::Result<BTreeMap<Vec<u8>, usize>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            format!("faults-reader-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..3 {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut counts = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(message) => {
                let message = message?;
                *counts
                    .entry(message.payload().unwrap_or_default().to_vec())
                    .or_insert(0) += 1;
                quiet_since = Instant::now();
            }
            None if counts.values().sum::<usize>() >= expected
                && quiet_since.elapsed() > Duration::from_secs(2) =>
            {
                break;
            }
            None => {}
        }
    }
    Ok(counts)
}

fn assert_exactly_once(counts: &BTreeMap<Vec<u8>, usize>) -> anyhow::Result<()> {
    ensure!(
        counts.len() == NUM_RECORDS,
        "{} distinct records, expected {NUM_RECORDS}",
        counts.len()
    );
    let twice: Vec<_> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(p, _)| String::from_utf8_lossy(p).into_owned())
        .collect();
    ensure!(twice.is_empty(), "committed twice: {twice:?}");
    ensure!(
        !counts.contains_key(b"poison".as_slice()),
        "the aborted attempt's record is visible"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abortable_error_aborts_rewinds_and_reads_the_batch_again() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let Topics { stage, kafka } = setup(&bootstrap, "abort").await?;
    let aborts = Arc::new(AtomicU64::new(0));
    let transform = Copy {
        output: stage.output.clone(),
        poison_once: Some(Arc::new(AtomicBool::new(true))),
        aborts: Arc::clone(&aborts),
        delay: Duration::ZERO,
    };
    let shutdown = CancellationToken::new();
    let _stop_on_drop = shutdown.clone().drop_guard();
    let output = stage.output.clone();
    let running = Stage::new("faults", kafka, stage).run_blocking(transform, shutdown.clone());
    let handle = tokio::spawn(running);
    let counts = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        move || committed_counts(&bootstrap, &output, NUM_RECORDS)
    })
    .await??;
    shutdown.cancel();
    handle.await??;
    ensure!(
        aborts.load(Ordering::SeqCst) == 1,
        "one aborted transaction, saw {}",
        aborts.load(Ordering::SeqCst)
    );
    assert_exactly_once(&counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_instance_with_the_same_transactional_id_fences_the_first() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let Topics { stage, kafka } = setup(&bootstrap, "fence").await?;
    let slow = |delay| Copy {
        output: stage.output.clone(),
        poison_once: None,
        aborts: Arc::new(AtomicU64::new(0)),
        delay,
    };
    // Both stop when the test ends, also when it fails: otherwise the test
    // runtime would wait for their blocking threads for ever.
    let first_stop = CancellationToken::new();
    let _stop_first = first_stop.clone().drop_guard();
    // Slow enough (20 s for the input) to be mid-work when its twin starts:
    // an instance with nothing left to commit would never meet the fence.
    let first = tokio::spawn(
        Stage::new("faults", kafka.clone(), stage.clone())
            .run_blocking(slow(Duration::from_millis(50)), first_stop.clone()),
    );
    // Let the first instance commit a few batches, then start its twin.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let second_stop = CancellationToken::new();
    let _stop_second = second_stop.clone().drop_guard();
    let second = tokio::spawn(
        Stage::new("faults", kafka, stage.clone())
            .run_blocking(slow(Duration::ZERO), second_stop.clone()),
    );
    let fenced = tokio::time::timeout(Duration::from_secs(60), first).await??;
    ensure!(
        matches!(fenced, Err(StageError::Fatal(_))),
        "the fenced instance must stop with a fatal error, got {fenced:?}"
    );
    let output = stage.output.clone();
    let counts = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        move || committed_counts(&bootstrap, &output, NUM_RECORDS)
    })
    .await??;
    second_stop.cancel();
    first_stop.cancel();
    second.await??;
    assert_exactly_once(&counts)
}
