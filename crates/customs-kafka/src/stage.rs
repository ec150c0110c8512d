//! The transactional consume → transform → produce loop.
//!
//! Delivery guarantee: **exactly-once** from the input topic to the output and
//! dead-letter topics, for read-committed consumers downstream. Each batch is
//! one Kafka transaction holding the batch's outputs, its dead letters and the
//! consumer offsets (`send_offsets_to_transaction` with the consumer's group
//! metadata, KIP-447). Either all of it becomes visible or none of it does.
//!
//! Batching: a batch starts with the first record that arrives and ends when
//! input pauses for `batch_linger`, when it holds `max_batch_records`, or
//! `commit_interval` after its first record — a record waits little under
//! light load, and under heavy load batches grow while the previous one
//! commits.
//!
//! Failure handling, each on purpose:
//! - a poison input is the transform's business: it returns
//!   [`Output::DeadLetter`] and the loop produces the original bytes with a
//!   reason, in the same transaction;
//! - an abortable transaction error aborts, rewinds the consumer to the first
//!   offset of the batch on every partition, and the batch is read again;
//! - a retriable commit error retries the commit;
//! - a fatal error (e.g. fenced by a newer instance with the same
//!   transactional id) ends the loop with [`StageError::Fatal`];
//! - a fatal *consumer* error (seen after a broker restart: the static
//!   member fenced, `FencedInstanceId`) drops the batch being collected and
//!   creates a new consumer, a bounded number of times (`stage_consumer`);
//! - a rebalance can only happen inside `poll`, and `poll` is only called
//!   while no transaction is open: records of revoked partitions collected
//!   for the next batch are dropped uncommitted, and their new owner reads
//!   them again from the last committed offset.
//!
//! Shutdown: when the token is cancelled the loop finishes or aborts the
//! transaction in flight, then returns; uncommitted input is read again by the
//! next owner.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use customs_domain::RejectReason;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::client_log::Logging;
use crate::config::KafkaConfig;
use crate::dead_letter;
use crate::stage_consumer;
use crate::stage_context::StageContext;
use crate::stage_metrics::{BatchTally, StageMetrics};
use crate::stage_paused::Paused;
use crate::stage_txn::{
    await_deliveries, commit_with_retries, is_fatal, next_offsets, send, send_to,
};

/// Timeout of transaction coordinator calls.
pub(crate) const TXN_TIMEOUT: Duration = Duration::from_secs(30);
/// Consecutive aborted batches after which the stage gives up (fatal).
const MAX_CONSECUTIVE_ABORTS: u32 = 10;
/// Restore work per turn of the polling loop: the consumer is polled at
/// least this often while partitions are restored.
const RESTORE_BUDGET: Duration = Duration::from_millis(100);

/// One input record, as the transform sees it.
#[derive(Debug)]
pub struct Record<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Record key, if any.
    pub key: Option<&'a [u8]>,
    /// Record value; empty for a tombstone.
    pub payload: &'a [u8],
    /// Kafka timestamp (ms), carried from the raw record through every stage.
    pub timestamp_ms: Option<i64>,
    /// When ingest first read the message (ms), from the
    /// [`INGESTED_AT_HEADER`] header, or this stage's read time.
    pub ingested_at_ms: i64,
}

/// Header with the wall time (ms since the epoch) at which ingest read the
/// raw message; copied by every later stage.
pub const INGESTED_AT_HEADER: &str = "customs.ingested_at_ms";

/// What the transform makes of one input record.
#[derive(Debug)]
pub enum Output {
    /// A record for the stage's output topic.
    Publish {
        /// Partitioning key (the declaration id).
        key: Vec<u8>,
        /// Encoded value.
        payload: Vec<u8>,
    },
    /// The input is poison: send its original bytes to the dead-letter topic.
    DeadLetter {
        /// Stable reason.
        reason: RejectReason,
        /// Human-readable detail (no personal data).
        detail: String,
    },
    /// A record for another topic, to an explicit partition when given; a
    /// `None` payload is a tombstone.
    Send {
        /// Topic.
        topic: String,
        /// Partition, or `None` for the key's partition.
        partition: Option<i32>,
        /// Key.
        key: Vec<u8>,
        /// Value, or `None` for a tombstone.
        payload: Option<Vec<u8>>,
    },
    /// The input is valid but cannot be used (e.g. beyond the allowed
    /// lateness): its original bytes go to `topic` with a reason, like a
    /// dead letter, and it is counted as rejected.
    Divert {
        /// Topic.
        topic: String,
        /// Stable reason.
        reason: RejectReason,
        /// Human-readable detail.
        detail: String,
    },
}

/// A pure function of one record, run inside the loop.
///
/// Stateful transforms use the hooks: a transaction's effects on the
/// transform's own state must follow the transaction's fate.
pub trait Transform: Send + 'static {
    /// Maps one input record to its outputs, appended to `outputs`: records
    /// for the output topic (one raw message may hold several events), or a
    /// single dead letter when the record is poison.
    fn transform(&mut self, record: &Record<'_>, outputs: &mut Vec<Output>);

    /// Called once after the batch's last `transform`, before the commit:
    /// outputs that sum up the whole transaction (one record per changed
    /// key). Only [`Output::Send`] is meaningful here; anything else is
    /// ignored.
    fn finish(&mut self, _outputs: &mut Vec<Output>) {}

    /// Called before a transaction begins, with the partitions of its
    /// batch; may block (e.g. until their state is restored). Returns
    /// whether the batch may be processed: on `false` (e.g. a restore cut
    /// short by shutdown) no transaction begins, and the batch is read
    /// again from its first offsets.
    fn prepare(&mut self, _partitions: &[(String, i32)]) -> bool {
        true
    }

    /// The transaction with everything `transform` returned since
    /// `prepare` committed.
    fn committed(&mut self) {}

    /// That transaction aborted; its records will be read again.
    fn aborted(&mut self) {}

    /// Partitions were taken away from this instance.
    fn revoked(&mut self, _partitions: &[(String, i32)]) {}

    /// Partitions were given to this instance (after any revocation the
    /// same `poll` delivered); no transaction is open. Returns those whose
    /// records must wait (e.g. until their state is restored): the stage
    /// pauses them and calls [`Transform::restore`] between its polls
    /// until it hands them back. Must not block for long: a stage that
    /// does not poll within `max.poll.interval.ms` loses its assignment.
    fn assigned(&mut self, _partitions: &[(String, i32)]) -> Vec<(String, i32)> {
        Vec::new()
    }

    /// Called between polls, with no transaction open: does at most about
    /// `budget` of restore work, and returns the partitions that became
    /// ready (the stage resumes them).
    fn restore(&mut self, _budget: Duration) -> Vec<(String, i32)> {
        Vec::new()
    }
}

/// Why a stage stopped.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A client could not be created or configured.
    #[error("kafka client set-up failed: {0}")]
    Setup(#[source] KafkaError),
    /// The producer is fenced or otherwise unusable; restart the instance.
    #[error("fatal kafka error: {0}")]
    Fatal(#[source] KafkaError),
    /// The stage's topics could not be created.
    #[error("topic set-up failed: {0}")]
    Topics(#[source] KafkaError),
    /// The stage thread panicked.
    #[error("stage thread failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// Batches keep aborting; something is persistently wrong.
    #[error("{0} consecutive transactions aborted, last error: {1}")]
    TooManyAborts(u32, #[source] KafkaError),
}

/// Where a stage reads and writes.
#[derive(Debug, Clone)]
pub struct StageTopics {
    /// Input topic.
    pub input: String,
    /// Output topic for [`Output::Publish`].
    pub output: String,
    /// Dead-letter topic for [`Output::DeadLetter`].
    pub dead_letter: String,
}

/// A configured consume → transform → produce stage.
pub struct Stage {
    service: &'static str,
    config: KafkaConfig,
    topics: StageTopics,
}

impl Stage {
    /// A stage of `service` (used in metric names and dead-letter headers).
    pub fn new(service: &'static str, config: KafkaConfig, topics: StageTopics) -> Self {
        Stage {
            service,
            config,
            topics,
        }
    }

    /// Creates the input, output and dead-letter topics where missing.
    pub async fn ensure_topics(&self) -> Result<(), StageError> {
        let topics = &self.topics;
        crate::admin::ensure_topics(
            &self.config,
            &[&topics.input, &topics.output, &topics.dead_letter],
        )
        .await
        .map_err(StageError::Topics)
    }

    /// [`Stage::run`] on Tokio's blocking pool, so the async runtime's
    /// workers never wait on librdkafka.
    pub async fn run_blocking(
        self,
        transform: impl Transform,
        shutdown: CancellationToken,
    ) -> Result<(), StageError> {
        tokio::task::spawn_blocking(move || self.run(transform, &shutdown)).await?
    }

    /// Runs until `shutdown` is cancelled or a fatal error. Blocking: call it
    /// from `spawn_blocking` or a dedicated thread.
    pub fn run(
        self,
        mut transform: impl Transform,
        shutdown: &CancellationToken,
    ) -> Result<(), StageError> {
        let metrics = StageMetrics::new(self.service);
        let mut consumer = stage_consumer::create(self.service, &self.config, &self.topics.input)
            .map_err(StageError::Setup)?;
        let mut recreations = stage_consumer::Recreations::default();
        let mut producer_config = self.config.client_config();
        // Back-to-back transactions: the coordinator answers the next
        // transaction's AddPartitionsToTxn with CONCURRENT_TRANSACTIONS until
        // the previous one's markers are written, a few milliseconds. With
        // librdkafka's 100 ms (growing to 1 s) retry backoff that wait
        // dominated the latency tail; the Java client backs off 20 ms for the
        // same reason (KAFKA-5477). Still overridable in [kafka.properties].
        for (key, value) in [("retry.backoff.ms", "10"), ("retry.backoff.max.ms", "250")] {
            if !self.config.properties.contains_key(key) {
                producer_config.set(key, value);
            }
        }
        let producer: ThreadedProducer<Logging> = producer_config
            // The producer's context would log every statistics report.
            .remove("statistics.interval.ms")
            .set("transactional.id", &self.config.transactional_id)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create_with_context(Logging)
            .map_err(StageError::Setup)?;
        producer
            .init_transactions(TXN_TIMEOUT)
            .map_err(StageError::Fatal)?;
        tracing::info!(service = self.service, input = %self.topics.input, "stage started");

        let mut consecutive_aborts = 0;
        let mut paused = Paused::default();
        while !shutdown.is_cancelled() {
            let batch = match self.collect_batch(&consumer, shutdown, &mut transform, &mut paused) {
                Ok(batch) => batch,
                Err(fatal) => {
                    if !recreations.allow() {
                        tracing::error!(service = self.service, error = %fatal, "the consumer failed fatally again; stopping");
                        return Err(StageError::Fatal(fatal));
                    }
                    tracing::error!(
                        service = self.service,
                        error = %fatal,
                        "the consumer failed fatally; creating a new one (its partitions are read again from the committed offsets)"
                    );
                    transform.revoked(&consumer.context().owned_partitions());
                    paused.clear();
                    drop(consumer);
                    consumer =
                        stage_consumer::create(self.service, &self.config, &self.topics.input)
                            .map_err(StageError::Setup)?;
                    continue;
                }
            };
            if batch.is_empty() {
                continue;
            }
            if !transform.prepare(&batch_partitions(&batch)) || shutdown.is_cancelled() {
                // Nothing of the batch was processed: read it again (or stop).
                rewind(&consumer, &batch);
                consumer.context().batch_done(None);
                continue;
            }
            let started = Instant::now();
            match self.run_transaction(&consumer, &producer, &batch, &mut transform) {
                Ok((tally, offsets)) => {
                    consecutive_aborts = 0;
                    transform.committed();
                    consumer.context().batch_done(Some(&offsets));
                    metrics.committed(&tally, started.elapsed());
                }
                Err(err) if is_fatal(&err) => return Err(StageError::Fatal(err)),
                Err(err) => {
                    transform.aborted();
                    consecutive_aborts += 1;
                    metrics.aborted.increment(1);
                    tracing::warn!(service = self.service, error = %err, "transaction aborted, batch will be read again");
                    if let Err(abort_err) = producer.abort_transaction(TXN_TIMEOUT)
                        && is_fatal(&abort_err)
                    {
                        return Err(StageError::Fatal(abort_err));
                    }
                    rewind(&consumer, &batch);
                    consumer.context().batch_done(None);
                    if consecutive_aborts >= MAX_CONSECUTIVE_ABORTS {
                        return Err(StageError::TooManyAborts(consecutive_aborts, err));
                    }
                    std::thread::sleep(Duration::from_millis(100 * u64::from(consecutive_aborts)));
                }
            }
        }
        tracing::info!(service = self.service, "stage stopped");
        Ok(())
    }

    /// Waits for a first record, then polls until the batch is full, no
    /// record arrived for `batch_linger`, `commit_interval` has passed since
    /// the first record, or shutdown. No transaction is open here, so
    /// rebalances are safe, and so is restore work between the polls
    /// (`paused`: the partitions it is for).
    fn collect_batch(
        &self,
        consumer: &BaseConsumer<StageContext>,
        shutdown: &CancellationToken,
        transform: &mut impl Transform,
        paused: &mut Paused,
    ) -> Result<Vec<OwnedMessage>, KafkaError> {
        // Set by the first record.
        let mut deadline: Option<Instant> = None;
        let mut batch = Vec::new();
        // Partitions with records in `batch`, for the lag gauge.
        let mut in_batch: Vec<(String, i32)> = Vec::new();
        while batch.len() < self.config.max_batch_records && !shutdown.is_cancelled() {
            let wait = match deadline {
                // Restoring: most of the time goes to the restore's reads.
                None if !paused.is_empty() => Duration::from_millis(10),
                // Nothing yet: wake up now and then for shutdown and revocations.
                None => Duration::from_millis(50),
                Some(deadline) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if remaining.is_zero() {
                        break;
                    }
                    remaining.min(self.config.batch_linger)
                }
            };
            match consumer.poll(wait) {
                Some(Ok(message)) => {
                    deadline.get_or_insert_with(|| Instant::now() + self.config.commit_interval);
                    let partition = message.partition();
                    if !in_batch
                        .iter()
                        .any(|(t, p)| *p == partition && t == message.topic())
                    {
                        consumer.context().in_batch(message.topic(), partition);
                        in_batch.push((message.topic().to_owned(), partition));
                    }
                    batch.push(message.detach());
                }
                Some(Err(err @ KafkaError::MessageConsumptionFatal(_))) => return Err(err),
                Some(Err(err)) => crate::client_log::consumer_error(self.service, &err),
                // Input paused for the linger: commit what there is.
                None if deadline.is_some() => break,
                None => {}
            }
            let revoked = consumer.context().take_revoked();
            if !revoked.is_empty() {
                batch.retain(|m| {
                    !revoked
                        .iter()
                        .any(|(t, p)| t == m.topic() && *p == m.partition())
                });
                transform.revoked(&revoked);
                paused.forget(&revoked);
            }
            let assigned = consumer.context().take_assigned();
            if !assigned.is_empty() {
                paused.pause(consumer, transform.assigned(&assigned));
            }
            let ready = transform.restore(RESTORE_BUDGET);
            paused.resume(consumer, &ready);
        }
        Ok(batch)
    }

    /// The input record's original bytes and key to `topic`, with the
    /// reason headers: a dead letter, or a record diverted elsewhere.
    fn send_original(
        &self,
        producer: &ThreadedProducer<Logging>,
        topic: &str,
        record: &Record<'_>,
        reason: RejectReason,
        detail: &str,
    ) -> Result<(), KafkaError> {
        let headers = dead_letter::headers(
            self.service,
            reason,
            detail,
            (record.topic, record.partition, record.offset),
        );
        let mut original = BaseRecord::to(topic)
            .payload(record.payload)
            .headers(headers);
        if let Some(key) = record.key {
            original = original.key(key);
        }
        send(producer, original)
    }

    /// Sends one [`Output::Send`] record; one for the stage's output topic
    /// counts as produced.
    fn send(
        &self,
        producer: &ThreadedProducer<Logging>,
        tally: &mut BatchTally,
        topic: &str,
        partition: Option<i32>,
        key: &[u8],
        payload: Option<Vec<u8>>,
    ) -> Result<(), KafkaError> {
        send_to(producer, topic, partition, key, payload.as_deref())?;
        if topic == self.topics.output {
            tally.published += 1;
        }
        Ok(())
    }

    fn run_transaction(
        &self,
        consumer: &BaseConsumer<StageContext>,
        producer: &ThreadedProducer<Logging>,
        batch: &[OwnedMessage],
        transform: &mut impl Transform,
    ) -> Result<(BatchTally, TopicPartitionList), KafkaError> {
        let mut tally = BatchTally::default();
        let mut outputs = Vec::new();
        producer.begin_transaction()?;
        let read_at_ms = now_ms();
        for message in batch {
            let timestamp_ms = message.timestamp().to_millis();
            let ingested_at_ms = ingested_at(message).unwrap_or(read_at_ms);
            let ingested_header = ingested_at_ms.to_string();
            let propagated = || {
                OwnedHeaders::new_with_capacity(1).insert(Header {
                    key: INGESTED_AT_HEADER,
                    value: Some(&ingested_header),
                })
            };
            let record = Record {
                topic: message.topic(),
                partition: message.partition(),
                offset: message.offset(),
                key: message.key(),
                payload: message.payload().unwrap_or_default(),
                timestamp_ms,
                ingested_at_ms,
            };
            tally.consumed += 1;
            outputs.clear();
            transform.transform(&record, &mut outputs);
            for output in outputs.drain(..) {
                match output {
                    Output::Publish { key, payload } => {
                        let mut out = BaseRecord::to(&self.topics.output)
                            .key(&key)
                            .payload(&payload)
                            .headers(propagated());
                        if let Some(timestamp) = timestamp_ms {
                            out = out.timestamp(timestamp);
                        }
                        send(producer, out)?;
                        tally.published += 1;
                    }
                    Output::Send {
                        topic,
                        partition,
                        key,
                        payload,
                    } => self.send(producer, &mut tally, &topic, partition, &key, payload)?,
                    Output::Divert {
                        topic,
                        reason,
                        detail,
                    } => {
                        self.send_original(producer, &topic, &record, reason, &detail)?;
                        tally.rejected.push(reason);
                        tally.diverted += 1;
                    }
                    Output::DeadLetter { reason, detail } => {
                        let topic = &self.topics.dead_letter;
                        self.send_original(producer, topic, &record, reason, &detail)?;
                        tally.rejected.push(reason);
                        tracing::debug!(service = self.service, %reason, "dead letter");
                    }
                }
            }
        }
        outputs.clear();
        transform.finish(&mut outputs);
        for output in outputs.drain(..) {
            if let Output::Send {
                topic,
                partition,
                key,
                payload,
            } = output
            {
                self.send(producer, &mut tally, &topic, partition, &key, payload)?;
            }
        }
        let metadata = consumer
            .group_metadata()
            .ok_or(KafkaError::ConsumerCommit(RDKafkaErrorCode::InvalidGroupId))?;
        let offsets = next_offsets(batch)?;
        // The commit step alone (`customs_<service>_transaction_finish_seconds`):
        // the offsets join the transaction, then the coordinator commits it.
        let finishing = Instant::now();
        await_deliveries(producer, TXN_TIMEOUT);
        producer.send_offsets_to_transaction(&offsets, &metadata, TXN_TIMEOUT)?;
        commit_with_retries(producer)?;
        tally.finish = finishing.elapsed();
        Ok((tally, offsets))
    }
}

/// The distinct (topic, partition) pairs of a batch.
fn batch_partitions(batch: &[OwnedMessage]) -> Vec<(String, i32)> {
    let mut partitions: Vec<(String, i32)> = Vec::new();
    for message in batch {
        let pair = (message.topic().to_owned(), message.partition());
        if !partitions.contains(&pair) {
            partitions.push(pair);
        }
    }
    partitions
}

/// Wall time in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

/// The [`INGESTED_AT_HEADER`] of a record, if present and numeric.
fn ingested_at(message: &OwnedMessage) -> Option<i64> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|header| header.key == INGESTED_AT_HEADER)
        .and_then(|header| std::str::from_utf8(header.value?).ok()?.parse().ok())
}

/// Seeks every partition of an aborted batch back to its first record.
fn rewind(consumer: &BaseConsumer<StageContext>, batch: &[OwnedMessage]) {
    let mut first: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for message in batch {
        let entry = first
            .entry((message.topic(), message.partition()))
            .or_insert(message.offset());
        *entry = (*entry).min(message.offset());
    }
    for ((topic, partition), offset) in first {
        if let Err(err) = consumer.seek(
            topic,
            partition,
            Offset::Offset(offset),
            Duration::from_secs(10),
        ) {
            // The partition may have been revoked meanwhile; its new owner
            // resumes from the committed offset, which is what we want.
            tracing::warn!(%topic, partition, error = %err, "rewind failed");
        }
    }
}
