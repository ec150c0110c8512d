//! Crash and rebalance test on a real broker: ingest and normalize run as real
//! processes (`customs-ingest`, `customs-normalize`), two instances each in
//! one consumer group, and are killed with SIGKILL at random moments,
//! mid-transaction, and restarted; half-way one normalize instance leaves for
//! good, so its partitions move. A generated feed with duplicates,
//! withdrawals, summaries, late and malformed messages flows meanwhile.
//! The final statistics equal the generator's summary exactly, and the
//! read-committed output topics hold every expected record exactly once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use customs_domain::CodeTables;
use customs_domain::generator::{Generator, GeneratorConfig};
use customs_domain::parse::{ParseLimits, parse_message};
use customs_e2e::{
    broker, raw_producer, served_table, service_binary, service_kafka, unique_topics,
};
use customs_kafka::TopicsConfig;
use customs_proto::v1;
use customs_proto::v1::stats_service_client::StatsServiceClient;
use rdkafka::producer::FutureRecord;

const NUM_MESSAGES: usize = 100_000;
const NUM_KILLS: usize = 6;
const TIMEOUT: Duration = Duration::from_secs(300);

struct Service {
    name: &'static str,
    binary: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Service {
    /// Instance `instance` of service `name`; instances of one service share
    /// `group_id` and so split the partitions between them.
    fn new(
        name: &'static str,
        instance: usize,
        group_id: &str,
        bootstrap: &str,
        topics: &TopicsConfig,
    ) -> anyhow::Result<Self> {
        let prefix = format!("CUSTOMS_{}_", name.to_uppercase());
        let setting = |key: &str, value: &str| (format!("{prefix}{key}"), value.to_owned());
        let env = vec![
            setting("KAFKA__BOOTSTRAP_SERVERS", bootstrap),
            setting("KAFKA__GROUP_ID", group_id),
            // Stable across restarts: the new process fences the killed one.
            setting("KAFKA__TRANSACTIONAL_ID", &format!("{group_id}-{instance}")),
            setting("KAFKA__SESSION_TIMEOUT", "6s"),
            setting("TOPICS__RAW", &topics.raw),
            setting("TOPICS__DECLARATIONS", &topics.declarations),
            setting("TOPICS__CLASSIFIED", &topics.classified),
            setting("TOPICS__DEAD_LETTER", &topics.dead_letter),
            setting("TELEMETRY__METRICS_ADDR", "127.0.0.1:0"),
            setting("TELEMETRY__LOG_FILTER", "warn"),
        ];
        let binary = service_binary(&format!("customs-{name}"))?;
        Ok(Service {
            name,
            binary,
            env,
            child: None,
        })
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let child = Command::new(&self.binary)
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            // Child::kill is SIGKILL on Unix: no shutdown, no abort, no commit.
            child.kill()?;
            child.wait()?;
            if let Some(status) = child.try_wait()? {
                ensure!(
                    !status.success(),
                    "{} exited cleanly before the kill",
                    self.name
                );
            }
        }
        Ok(())
    }

    fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!("{} died on its own: {status}", self.name);
        }
        Ok(())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Records on a read-committed topic, counted by payload: reads until
/// `expected` arrived and nothing more came for a few seconds.
fn payload_counts(
    bootstrap: &str,
    topic: &str,
    expected: usize,
) -> anyhow::Result<HashMap<Vec<u8>, usize>> {
    let config = service_kafka(bootstrap, "crash", "verify");
    let records = customs_kafka::reader::read_dead_letters(
        &config,
        topic,
        expected,
        Duration::from_secs(3),
        TIMEOUT,
    )?;
    let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
    for record in records {
        *counts.entry(record.payload).or_default() += 1;
    }
    Ok(counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_services_neither_lose_nor_duplicate() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let topics = unique_topics("crash");
    customs_kafka::admin::ensure_topics(
        &service_kafka(&bootstrap, "crash", "setup"),
        &[
            &topics.raw,
            &topics.declarations,
            &topics.classified,
            &topics.dead_letter,
        ],
    )
    .await?;

    // The feed, and what each stage must output for it.
    let tables = CodeTables::embedded();
    let mut generator = Generator::new(
        GeneratorConfig {
            seed: 99,
            malformed_rate: 0.01,
            duplicate_rate: 0.03,
            withdrawal_rate: 0.01,
            late_rate: 0.02,
            summary_rate: 0.2,
            ..GeneratorConfig::default()
        },
        &tables,
    );
    let mut messages = Vec::with_capacity(NUM_MESSAGES + 4);
    while messages.len() < NUM_MESSAGES {
        messages.extend(generator.next_batch());
    }
    let summary = generator.summary();
    let mut expected_events = 0;
    let mut expected_classified = 0;
    for message in &messages {
        if let Ok(events) = parse_message(&message.payload, &tables, ParseLimits::default()) {
            expected_events += events.len();
            expected_classified += events
                .iter()
                .filter(|event| match event {
                    customs_domain::Event::Declaration(d) => {
                        customs_domain::classify(d, &tables).is_ok()
                            && customs_domain::value(d, &tables).is_ok()
                    }
                    _ => true,
                })
                .count();
        }
    }

    let producer = raw_producer(&bootstrap)?;
    let mut deliveries = Vec::with_capacity(messages.len());
    for message in &messages {
        let record = FutureRecord::to(&topics.raw)
            .key(&message.key)
            .payload(&message.payload);
        deliveries.push(producer.send_result(record).map_err(|(err, _)| err)?);
    }
    for delivery in deliveries {
        delivery.await?.map_err(|(err, _)| err)?;
    }
    eprintln!(
        "e2e: {} raw messages produced: {:?}",
        messages.len(),
        summary.messages
    );

    // The aggregate is a fold over the committed classified topic: it runs
    // in-process and sees only what the killed services committed.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let grpc_addr = listener.local_addr()?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let _stop_on_drop = shutdown.clone().drop_guard();
    let aggregate = tokio::spawn(customs_aggregate::run_with_listener(
        customs_aggregate::Config {
            kafka: service_kafka(&bootstrap, "crash", "aggregate"),
            topics: topics.clone(),
            ..Default::default()
        },
        listener,
        shutdown.clone(),
    ));

    // Two instances of each stage in one consumer group; the second normalize
    // leaves for good half-way, so its partitions move to the first.
    let ingest_group = service_kafka(&bootstrap, "crash", "ingest").group_id;
    let normalize_group = service_kafka(&bootstrap, "crash", "normalize").group_id;
    let mut ingest = Service::new("ingest", 0, &ingest_group, &bootstrap, &topics)?;
    let mut ingest_b = Service::new("ingest", 1, &ingest_group, &bootstrap, &topics)?;
    let mut normalize = Service::new("normalize", 0, &normalize_group, &bootstrap, &topics)?;
    let mut normalize_b = Service::new("normalize", 1, &normalize_group, &bootstrap, &topics)?;
    for service in [&mut ingest, &mut ingest_b, &mut normalize, &mut normalize_b] {
        service.start()?;
    }
    // Deterministic "random" kill times from the seed, 1.5 to 4 s apart.
    let mut state: u64 = 0x5EED;
    for kill in 0..NUM_KILLS {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let wait_ms = 1_500 + (state >> 33) % 2_500;
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        let victim = match kill % 4 {
            0 => &mut ingest,
            1 => &mut normalize,
            2 => &mut ingest_b,
            _ => &mut normalize_b,
        };
        victim.ensure_running()?;
        victim.kill()?;
        eprintln!("e2e: kill -9 {} after {wait_ms} ms", victim.name);
        victim.start()?;
        if kill == NUM_KILLS / 2 {
            normalize_b.kill()?;
            eprintln!("e2e: a normalize instance leaves the group for good");
        }
    }

    let mut client = StatsServiceClient::connect(format!("http://{grpc_addr}")).await?;
    let after_last_kill = Instant::now();
    let deadline = after_last_kill + TIMEOUT;
    loop {
        ingest.ensure_running()?;
        ingest_b.ensure_running()?;
        normalize.ensure_running()?;
        let response = client
            .get_totals(v1::GetTotalsRequest::default())
            .await?
            .into_inner();
        let served = served_table(&response)?;
        if served == summary.counted {
            eprintln!(
                "e2e: statistics exact {:.1?} after the last kill",
                after_last_kill.elapsed()
            );
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "after {TIMEOUT:?} the totals differ:\nserved   {served:?}\nexpected {:?}",
                summary.counted
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let (bootstrap_a, topic_a) = (bootstrap.clone(), topics.declarations.clone());
    let declarations = tokio::task::spawn_blocking(move || {
        payload_counts(&bootstrap_a, &topic_a, expected_events)
    })
    .await??;
    let (bootstrap_b, topic_b) = (bootstrap.clone(), topics.classified.clone());
    let classified = tokio::task::spawn_blocking(move || {
        payload_counts(&bootstrap_b, &topic_b, expected_classified)
    })
    .await??;
    for (name, counts, expected) in [
        ("declarations", &declarations, expected_events),
        ("classified", &classified, expected_classified),
    ] {
        let total: usize = counts.values().sum();
        let duplicated = counts.values().filter(|count| **count > 1).count();
        assert_eq!(duplicated, 0, "{name}: records committed twice");
        assert_eq!(
            total, expected,
            "{name}: every expected record exactly once"
        );
    }
    for service in [&mut ingest, &mut ingest_b, &mut normalize] {
        service.kill()?;
    }
    shutdown.cancel();
    aggregate.await??;
    Ok(())
}
