//! `customs dead-letters` on the real broker and pipeline: bad messages sent
//! to the raw topic are listed with the service that rejected them, a
//! reason and their original key and size; `--reason` selects; and
//! `--replay-to` sends the original bytes and keys on, byte for byte. The
//! oracle is the messages the test sent.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use customs_e2e::processes::service_binary;
use customs_e2e::{Pipeline, broker, raw_producer};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;

const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_with_reasons_and_replayed_byte_for_byte() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let pipeline = Pipeline::start(&bootstrap, "dead-letters").await?;
    let bad: BTreeMap<&str, Vec<u8>> = [
        ("bad-1", b"<not xml".to_vec()),
        ("bad-2", b"<DecMessage><DecHead><SeqNo>1</SeqNo>".to_vec()),
        ("bad-3", vec![0xFF, 0xFE, 0x00, 0x01, 0x02]),
    ]
    .into_iter()
    .collect();
    let producer = raw_producer(&bootstrap)?;
    for (key, payload) in &bad {
        producer
            .send(
                FutureRecord::to(&pipeline.topics.raw)
                    .key(*key)
                    .payload(payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(err, _)| err)?;
    }

    let customs = service_binary("customs")?;
    let list = |extra: &[&str]| -> anyhow::Result<Vec<serde_json::Value>> {
        let output = Command::new(&customs)
            .arg("dead-letters")
            .args(["--topic", &pipeline.topics.dead_letter])
            .args(["--bootstrap-servers", &bootstrap])
            .args(extra)
            .output()?;
        ensure!(
            output.status.success(),
            "customs dead-letters failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)?
            .lines()
            .map(|line| serde_json::from_str(line).context("a JSON line"))
            .collect()
    };
    let started = Instant::now();
    let listed = loop {
        let listed = list(&[])?;
        if listed.len() >= bad.len() || started.elapsed() > TIMEOUT {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    ensure!(listed.len() == bad.len(), "listed {listed:#?}");
    let mut reasons = Vec::new();
    for letter in &listed {
        let key = letter["key"].as_str().context("key")?;
        let sent = bad.get(key).with_context(|| format!("unknown key {key}"))?;
        ensure!(letter["stage"] == "ingest", "{letter}");
        ensure!(letter["bytes"] == sent.len(), "{letter}");
        let reason = letter["reason"].as_str().context("reason")?;
        ensure!(!reason.is_empty(), "{letter}");
        ensure!(
            letter["source"]
                .as_str()
                .is_some_and(|source| source.starts_with(&pipeline.topics.raw)),
            "{letter}"
        );
        reasons.push(reason.to_owned());
    }
    ensure!(
        list(&["--reason", "no_such_reason"])?.is_empty(),
        "--reason did not select"
    );
    ensure!(
        list(&["--reason", &reasons[0]])?.len()
            == reasons.iter().filter(|r| **r == reasons[0]).count(),
        "--reason {} selected the wrong ones",
        reasons[0]
    );

    // Replay to a topic of our own and read it back.
    let replayed = format!("{}.replayed", pipeline.topics.raw);
    list(&["--replay-to", &replayed])?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", format!("replay-check-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[&replayed])?;
    let mut received = BTreeMap::new();
    let started = Instant::now();
    while received.len() < bad.len() && started.elapsed() < TIMEOUT {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message?;
            let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
            received.insert(key, message.payload().unwrap_or_default().to_vec());
        }
    }
    let expected: BTreeMap<String, Vec<u8>> = bad
        .iter()
        .map(|(key, payload)| ((*key).to_owned(), payload.clone()))
        .collect();
    ensure!(received == expected, "replayed {received:?}");
    pipeline.stop().await?;
    Ok(())
}
