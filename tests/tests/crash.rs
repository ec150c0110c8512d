//! Crash and rebalance test on a real broker: all three services run as real
//! processes, two instances each in one consumer group, and are killed with
//! SIGKILL at random moments, mid-transaction, and restarted; half-way one
//! normalize and one aggregate instance leave for good, so their partitions
//! move. A generated feed with duplicates, withdrawals, summaries, late,
//! too-late and malformed messages flows meanwhile. The statistics served by
//! the remaining aggregate equal the generator's summary exactly, the
//! read-committed output topics hold every expected record exactly once,
//! every too-late event is in the late topic once, and a fresh aggregate
//! instance restores the exact figures from the changelog alone.

use std::collections::HashMap;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use customs_domain::CodeTables;
use customs_domain::generator::{Generator, GeneratorConfig};
use customs_domain::parse::{ParseLimits, parse_message};
use customs_e2e::feed::{generate, produce};
use customs_e2e::processes::{Instance, free_port, service_command, service_env, setting};
use customs_e2e::{
    broker, create_topics, raw_producer, served_table, service_kafka, unique_topics,
};
use customs_kafka::TopicsConfig;
use customs_proto::v1;
use customs_proto::v1::stats_service_client::StatsServiceClient;

const NUM_MESSAGES: usize = 100_000;
const NUM_KILLS: usize = 6;
const TIMEOUT: Duration = Duration::from_secs(300);

struct Service {
    name: &'static str,
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
        grpc_addr: Option<std::net::SocketAddr>,
    ) -> anyhow::Result<Self> {
        // Stable across restarts: the new process fences the killed one.
        let transactional_id = format!("{group_id}-{instance}");
        let mut env = service_env(
            name,
            &Instance {
                bootstrap,
                group_id,
                transactional_id: &transactional_id,
                topics,
                metrics_addr: "127.0.0.1:0",
            },
        );
        env.push(setting(name, "KAFKA__SESSION_TIMEOUT", "6s"));
        if let Some(addr) = grpc_addr {
            env.push(setting(name, "GRPC_ADDR", addr.to_string()));
        }
        Ok(Service {
            name,
            env,
            child: None,
        })
    }

    /// The gRPC address this instance serves, if it is an aggregate.
    fn grpc_addr(&self) -> Option<String> {
        self.env
            .iter()
            .find(|(key, _)| key.ends_with("_GRPC_ADDR"))
            .map(|(_, value)| value.clone())
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let child = service_command(self.name, &self.env, false)?
            .spawn()
            .with_context(|| format!("starting {}", self.name))?;
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
/// A loopback address free right now (the service binds it shortly after).
fn free_addr() -> anyhow::Result<std::net::SocketAddr> {
    Ok(([127, 0, 0, 1], free_port()?).into())
}

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
    create_topics(&bootstrap, "crash", &topics).await?;

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
    let messages = generate(&mut generator, NUM_MESSAGES);
    let summary = generator.summary();
    let mut expected_events = 0;
    let mut expected_classified = 0;
    // Every summary result goes to each classified partition (normalize's
    // broadcast): its copies are identical records, PARTITIONS of them.
    let partitions = service_kafka(&bootstrap, "crash", "setup").topic_partitions as usize;
    let mut expected_summaries = 0;
    for message in &messages {
        if let Ok(events) = parse_message(&message.payload, &tables, ParseLimits::default()) {
            expected_events += events.len();
            for event in &events {
                match event {
                    customs_domain::Event::Declaration(d) => {
                        if customs_domain::classify(d, &tables).is_ok()
                            && customs_domain::value(d, &tables).is_ok()
                        {
                            expected_classified += 1;
                        }
                    }
                    customs_domain::Event::SummaryResult(_) => {
                        expected_classified += partitions;
                        expected_summaries += 1;
                    }
                    customs_domain::Event::Receipt(_) => expected_classified += 1,
                }
            }
        }
    }

    produce(&raw_producer(&bootstrap)?, &topics.raw, &messages).await?;
    eprintln!(
        "e2e: {} raw messages produced: {:?}",
        messages.len(),
        summary.messages
    );

    // Two instances of each service in one consumer group. The second
    // normalize and the second aggregate leave for good half-way, so their
    // partitions move to the first ones (the rebalance test); the remaining
    // aggregate answers for everything throughout.
    let ingest_group = service_kafka(&bootstrap, "crash", "ingest").group_id;
    let normalize_group = service_kafka(&bootstrap, "crash", "normalize").group_id;
    let aggregate_group = service_kafka(&bootstrap, "crash", "aggregate").group_id;
    let grpc_addr = free_addr()?;
    let mut ingest = Service::new("ingest", 0, &ingest_group, &bootstrap, &topics, None)?;
    let mut ingest_b = Service::new("ingest", 1, &ingest_group, &bootstrap, &topics, None)?;
    let mut normalize = Service::new("normalize", 0, &normalize_group, &bootstrap, &topics, None)?;
    let mut normalize_b =
        Service::new("normalize", 1, &normalize_group, &bootstrap, &topics, None)?;
    let mut aggregate = Service::new(
        "aggregate",
        0,
        &aggregate_group,
        &bootstrap,
        &topics,
        Some(grpc_addr),
    )?;
    let mut aggregate_b = Service::new(
        "aggregate",
        1,
        &aggregate_group,
        &bootstrap,
        &topics,
        Some(free_addr()?),
    )?;
    for service in [
        &mut ingest,
        &mut ingest_b,
        &mut normalize,
        &mut normalize_b,
        &mut aggregate,
        &mut aggregate_b,
    ] {
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
        let victim = match kill % 6 {
            0 => &mut ingest,
            1 => &mut normalize,
            2 => &mut aggregate,
            3 => &mut ingest_b,
            4 => &mut aggregate_b,
            _ => &mut normalize_b,
        };
        victim.ensure_running()?;
        victim.kill()?;
        eprintln!("e2e: kill -9 {} after {wait_ms} ms", victim.name);
        victim.start()?;
        if kill == NUM_KILLS / 2 {
            normalize_b.kill()?;
            aggregate_b.kill()?;
            eprintln!("e2e: a normalize and an aggregate instance leave their groups for good");
        }
    }

    let after_last_kill = Instant::now();
    let deadline = after_last_kill + TIMEOUT;
    let mut client = loop {
        match StatsServiceClient::connect(format!("http://{grpc_addr}")).await {
            Ok(client) => break client,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(err) => return Err(err.into()),
        }
    };
    loop {
        ingest.ensure_running()?;
        ingest_b.ensure_running()?;
        normalize.ensure_running()?;
        aggregate.ensure_running()?;
        let response = match client.get_totals(v1::GetTotalsRequest::default()).await {
            Ok(response) => response.into_inner(),
            Err(status) if Instant::now() < deadline => {
                // The instance was just restarted and is not listening yet.
                eprintln!("e2e: aggregate not answering yet: {}", status.message());
                tokio::time::sleep(Duration::from_secs(1)).await;
                client = StatsServiceClient::connect(format!("http://{grpc_addr}")).await?;
                continue;
            }
            Err(status) => return Err(status.into()),
        };
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
    for (name, counts, expected, copies) in [
        ("declarations", &declarations, expected_events, 0),
        (
            "classified",
            &classified,
            expected_classified,
            expected_summaries,
        ),
    ] {
        let total: usize = counts.values().sum();
        let duplicated = counts.values().filter(|count| **count > 1).count();
        // Summary copies, one per partition, are the only repeated records.
        let broadcast = counts
            .values()
            .filter(|count| partitions > 1 && **count == partitions)
            .count();
        assert_eq!(
            broadcast, copies,
            "{name}: summary results in every partition"
        );
        assert_eq!(duplicated - broadcast, 0, "{name}: records committed twice");
        assert_eq!(
            total, expected,
            "{name}: every expected record exactly once"
        );
    }
    let (bootstrap_c, topic_c) = (bootstrap.clone(), topics.late.clone());
    let too_late = summary.num_too_late as usize;
    let late =
        tokio::task::spawn_blocking(move || payload_counts(&bootstrap_c, &topic_c, too_late))
            .await??;
    assert!(
        too_late > 0,
        "the feed has events beyond the allowed lateness"
    );
    assert_eq!(
        late.values().sum::<usize>(),
        too_late,
        "every event beyond the allowed lateness in the late topic, once"
    );

    // A fresh instance restores the whole state from the changelog alone.
    let mut fresh = Service::new(
        "aggregate",
        2,
        &aggregate_group,
        &bootstrap,
        &topics,
        Some(free_addr()?),
    )?;
    let fresh_addr = fresh.grpc_addr().context("fresh aggregate address")?;
    fresh.start()?;
    let restore_started = Instant::now();
    let restored = loop {
        if let Ok(mut client) = StatsServiceClient::connect(format!("http://{fresh_addr}")).await
            && let Ok(response) = client.get_totals(v1::GetTotalsRequest::default()).await
        {
            let response = response.into_inner();
            let restoring = response
                .freshness
                .as_ref()
                .is_none_or(|freshness| !freshness.restoring_partitions.is_empty());
            if !restoring {
                break response;
            }
        }
        ensure!(
            restore_started.elapsed() < TIMEOUT,
            "fresh aggregate did not restore"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "e2e: a fresh aggregate restored in {:.1?}",
        restore_started.elapsed()
    );
    assert_eq!(
        served_table(&restored)?,
        summary.counted,
        "restored state is exact"
    );

    for service in [
        &mut ingest,
        &mut ingest_b,
        &mut normalize,
        &mut aggregate,
        &mut fresh,
    ] {
        service.kill()?;
    }
    Ok(())
}
