//! `customs dead-letters`: what was rejected, why, and a replay once the
//! cause is fixed.
//!
//! Reads the dead-letter topic (read-committed: only dead letters of
//! committed transactions) from its start to the end it had when the
//! command began, and prints one JSON object per dead letter on standard
//! output — partition, offset, time, the service that rejected it, reason,
//! detail, the record it came from and the original key and size — then a
//! count per reason on standard error. `--reason` and `--stage` select.
//! `--replay` sends each selected dead letter's original bytes and key back
//! to the topic it came from (its `customs.source` header), `--replay-to`
//! to a topic of one's choice; the command returns once every replayed
//! message was acknowledged. A replayed record is a new record: the
//! pipeline treats it like any other (a re-sent duplicate changes nothing).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use customs_kafka::dead_letter::DeadLetter;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::kafka_sink::KafkaSink;

/// Options of `customs dead-letters`.
#[derive(Args)]
pub struct DeadLettersArgs {
    /// The dead-letter topic.
    #[arg(long, default_value = "customs.dead-letter.v1")]
    topic: String,
    /// Kafka bootstrap servers (else `KAFKA_BOOTSTRAP_SERVERS`).
    #[arg(long)]
    bootstrap_servers: Option<String>,
    /// Only dead letters with this reason (repeatable), e.g. `malformed_xml`.
    #[arg(long)]
    reason: Vec<String>,
    /// Only those rejected by this service: ingest, normalize or aggregate.
    #[arg(long)]
    stage: Option<String>,
    /// Send the selected dead letters back to the topic each came from.
    #[arg(long, conflicts_with = "replay_to")]
    replay: bool,
    /// Send the selected dead letters to this topic instead.
    #[arg(long)]
    replay_to: Option<String>,
}

/// One dead letter as printed.
#[derive(serde::Serialize)]
struct Listed<'a> {
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    stage: &'a str,
    reason: &'a str,
    detail: &'a str,
    source: &'a str,
    key: String,
    bytes: usize,
}

/// Runs `customs dead-letters`.
pub async fn run(args: DeadLettersArgs) -> anyhow::Result<()> {
    let servers = match &args.bootstrap_servers {
        Some(servers) => servers.clone(),
        None => std::env::var("KAFKA_BOOTSTRAP_SERVERS")
            .context("needs --bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS")?,
    };
    let topic = args.topic.clone();
    let reading = servers.clone();
    let selected = tokio::task::spawn_blocking(move || read(&reading, &topic))
        .await
        .context("the reader thread")??
        .into_iter()
        .filter(|read| args.reason.is_empty() || args.reason.contains(&read.letter.reason))
        .filter(|read| {
            args.stage
                .as_ref()
                .is_none_or(|stage| *stage == read.letter.stage)
        })
        .collect::<Vec<_>>();
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for read in &selected {
        let letter = &read.letter;
        *by_reason.entry(&letter.reason).or_default() += 1;
        let listed = Listed {
            partition: read.partition,
            offset: read.offset,
            timestamp_ms: read.timestamp_ms,
            stage: &letter.stage,
            reason: &letter.reason,
            detail: &letter.detail,
            source: &letter.source,
            key: String::from_utf8_lossy(&read.key).into_owned(),
            bytes: letter.payload.len(),
        };
        println!("{}", serde_json::to_string(&listed)?);
    }
    eprintln!(
        "{} dead letters in {}: {by_reason:?}",
        selected.len(),
        args.topic
    );
    if args.replay || args.replay_to.is_some() {
        let mut sinks: BTreeMap<String, KafkaSink> = BTreeMap::new();
        for read in &selected {
            let target = match &args.replay_to {
                Some(topic) => topic.clone(),
                None => source_topic(&read.letter.source)?,
            };
            if !sinks.contains_key(&target) {
                sinks.insert(target.clone(), KafkaSink::new(&servers, &target)?);
            }
            let sink = sinks.get_mut(&target).context("the sink just made")?;
            sink.send_key_bytes(&read.key, &read.letter.payload).await?;
        }
        for (target, sink) in &mut sinks {
            sink.finish().await?;
            eprintln!("replayed to {target}");
        }
    }
    Ok(())
}

/// The topic of a `topic/partition/offset` source header.
fn source_topic(source: &str) -> anyhow::Result<String> {
    let mut parts = source.rsplitn(3, '/');
    let (Some(_offset), Some(_partition), Some(topic)) = (parts.next(), parts.next(), parts.next())
    else {
        bail!("dead letter without a source topic ({source:?}); use --replay-to");
    };
    Ok(topic.to_owned())
}

/// A dead-letter record as read.
struct Read {
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    key: Vec<u8>,
    letter: DeadLetter,
}

/// Every record below the end offsets `topic` had at the start.
fn read(servers: &str, topic: &str) -> anyhow::Result<Vec<Read>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "customs-dead-letters-cli")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!("topic {topic} does not exist");
    }
    let mut ends = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        if high > low {
            ends.insert(partition, high);
            assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
        }
    }
    consumer.assign(&assignment)?;
    let mut read = Vec::new();
    while !ends.is_empty() {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => {
                let partition = message.partition();
                read.push(Read {
                    partition,
                    offset: message.offset(),
                    timestamp_ms: message.timestamp().to_millis(),
                    key: message.key().unwrap_or_default().to_vec(),
                    letter: DeadLetter::from_message(&message),
                });
                if ends
                    .get(&partition)
                    .is_some_and(|end| message.offset() + 1 >= *end)
                {
                    ends.remove(&partition);
                }
            }
            Some(Err(err)) => bail!("reading {topic}: {err}"),
            None => {
                // Past the last record (transaction markers): done there.
                let positions = consumer.position()?;
                ends.retain(|partition, end| {
                    positions
                        .find_partition(topic, *partition)
                        .and_then(|p| p.offset().to_raw())
                        .is_none_or(|at| at < *end)
                });
            }
        }
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_header_names_the_topic_to_replay_to() {
        assert_eq!(
            source_topic("customs.raw.v1/2/1234").expect("a topic"),
            "customs.raw.v1"
        );
        assert_eq!(source_topic("a/b/c/0/7").expect("a topic"), "a/b/c");
        assert!(source_topic("").is_err());
    }
}
