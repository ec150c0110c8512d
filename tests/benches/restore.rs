//! Owner restore benchmark: how long a fresh aggregate instance takes to
//! take over classified partitions whose changelog holds N lifecycle
//! entries, and what it holds in memory then.
//!
//! `cargo bench -p customs-e2e --bench restore -- [N]` (default 1,000,000).
//! Writes N lifecycle entries (real contributions of sample declarations,
//! each counted) to a fresh compacted changelog with 3 partitions on the
//! real broker, starts an aggregate on it (its statistics topic empty), sends
//! one re-sent classified declaration per partition (an owner takes a
//! partition over before its first batch), and reports the time until
//! `Explain` answers for the last entry written — the owner has restored
//! every partition — and the process RSS. Not a test: it prints figures.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use customs_aggregate::changelog::encode_entry;
use customs_domain::lifecycle::Entry;
use customs_domain::lifecycle::partition::Stored;
use customs_domain::sample::sample_classified;
use customs_domain::{ClassifiedDeclaration, CodeTables};
use customs_e2e::{broker, service_kafka, unique_topics};
use customs_proto::v1;
use customs_proto::v1::stats_service_client::StatsServiceClient;
use prost::Message;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

const PARTITIONS: i32 = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .map(|arg| arg.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let bootstrap = broker()?;
    let topics = unique_topics("restore");
    let mut kafka = service_kafka(&bootstrap, "restore", "aggregate");
    kafka.topic_partitions = PARTITIONS;
    customs_kafka::admin::ensure_compacted_topics(&kafka, &[&topics.changelog, &topics.stats])
        .await?;
    customs_kafka::admin::ensure_topics(&kafka, &[&topics.classified]).await?;

    let tables = CodeTables::embedded();
    let templates: Vec<ClassifiedDeclaration> = sample_classified(50, &tables)
        .into_iter()
        .filter(|c| c.classification.in_trade_statistics)
        .collect();
    ensure!(!templates.is_empty(), "no sample declaration counts");

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let started = Instant::now();
    let mut bytes = 0usize;
    for index in 0..count {
        let mut classified = templates[index % templates.len()].clone();
        classified.declaration.id = format!("R{index:012}");
        let mut entry = Entry::default().record_declaration(&classified);
        entry.version = 1;
        let (key, payload) = encode_entry(
            &classified.declaration.id,
            Some(&Stored::Live(Box::new(entry))),
        );
        let payload = payload.context("an entry has a value")?;
        bytes += key.len() + payload.len();
        let mut record = BaseRecord::to(&topics.changelog)
            .key(&key)
            .payload(&payload)
            .partition(index as i32 % PARTITIONS);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let written = started.elapsed();
    eprintln!(
        "restore bench: wrote {count} entries ({:.1} MiB) in {written:.1?}",
        bytes as f64 / 1_048_576.0
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let config = customs_aggregate::Config {
        kafka,
        topics: topics.clone(),
        ..Default::default()
    };
    let rss_before = rss_kib("VmRSS");
    let started = Instant::now();
    let service = tokio::spawn(customs_aggregate::run_with_listener(
        config,
        listener,
        shutdown.clone(),
    ));
    // An owner takes a partition over before its first batch: one re-sent
    // classified declaration per partition (changing nothing) starts that.
    for partition in 0..PARTITIONS {
        let index = partition as usize;
        let mut classified = templates[index % templates.len()].clone();
        classified.declaration.id = format!("R{index:012}");
        let payload = v1::ClassifiedEvent {
            kind: Some(v1::classified_event::Kind::Declaration(
                (&classified).into(),
            )),
            source: None,
        }
        .encode_to_vec();
        let record = BaseRecord::to(&topics.classified)
            .key(&classified.declaration.id)
            .payload(&payload)
            .partition(partition);
        producer
            .send(record)
            .map_err(|(err, _)| anyhow::anyhow!("producing a classified record: {err}"))?;
    }
    producer.flush(Duration::from_secs(30))?;
    let last = format!("R{:012}", count - 1);
    loop {
        if let Ok(mut client) = StatsServiceClient::connect(format!("http://{addr}")).await
            && let Ok(response) = client
                .explain(v1::ExplainRequest { id: last.clone() })
                .await
            && response.into_inner().status == "counted"
        {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(900),
            "no restore in 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let restored = started.elapsed();
    println!(
        "owner restore: {count} entries in {restored:.2?} ({:.0} entries/s); process RSS {} -> {} MiB (peak {} MiB)",
        count as f64 / restored.as_secs_f64(),
        rss_before / 1024,
        rss_kib("VmRSS") / 1024,
        rss_kib("VmHWM") / 1024,
    );
    shutdown.cancel();
    service.await??;
    Ok(())
}

/// A `/proc/self/status` figure in KiB.
fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or_default()
}
