//! Scale-out: one aggregate instance, then two, then four, on four
//! classified partitions, with traffic before and after each step. After
//! each step every instance serves the generator's totals exactly (each
//! answers for all partitions, owned or not), and the owners' lifecycle
//! entries add up to the identities of the feed with each instance holding
//! about 1/N of them: adding an instance adds capacity, not a copy.
//!
//! The identities are counted from the feed itself (declarations that
//! classify, receipts), independently of the aggregate. The feed has no
//! malformed message (a receipt whose inventory was lost would wait and
//! expire) and nothing beyond the allowed lateness.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use customs_domain::generator::{GeneratedMessage, Generator, GeneratorConfig};
use customs_domain::lifecycle::lifecycle_key;
use customs_domain::parse::{ParseLimits, parse_message};
use customs_domain::{CodeTables, Event};
use customs_e2e::feed::{generate, produce};
use customs_e2e::processes::{
    Children, Instance, free_port, metric_sum, scrape_metrics, service_command, service_env,
    setting,
};
use customs_e2e::{await_exact_totals, broker, connect_stats, raw_producer, unique_topics};

const PARTITIONS: i32 = 4;
const MESSAGES_PER_STEP: usize = 1_500;
const TIMEOUT: Duration = Duration::from_secs(240);

/// One aggregate instance: its gRPC and metrics ports.
struct Aggregate {
    grpc: u16,
    metrics: u16,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_aggregate_instances_splits_the_entries_and_keeps_every_answer_exact()
-> anyhow::Result<()> {
    let bootstrap = broker()?;
    let topics = unique_topics("scale-out");
    let mut kafka = customs_e2e::service_kafka(&bootstrap, "scale-out", "setup");
    kafka.topic_partitions = PARTITIONS;
    customs_kafka::admin::ensure_topics(
        &kafka,
        &[
            &topics.raw,
            &topics.declarations,
            &topics.classified,
            &topics.dead_letter,
        ],
    )
    .await?;
    let mut children = Children::default();
    let spawn = |children: &mut Children, service: &str, instance: usize| {
        let group_id = format!("scale-out-{service}-{}", std::process::id());
        let transactional_id = format!("{group_id}-{instance}");
        let (grpc, metrics) = (free_port()?, free_port()?);
        let mut env = service_env(
            service,
            &Instance {
                bootstrap: &bootstrap,
                group_id: &group_id,
                transactional_id: &transactional_id,
                topics: &topics,
                metrics_addr: &format!("127.0.0.1:{metrics}"),
            },
        );
        env.push(setting(
            service,
            "KAFKA__TOPIC_PARTITIONS",
            PARTITIONS.to_string(),
        ));
        if service == "aggregate" {
            env.push(setting(service, "GRPC_ADDR", format!("127.0.0.1:{grpc}")));
        }
        let name = format!("{service}-{instance}");
        children.spawn(&name, &mut service_command(service, &env, false)?)?;
        anyhow::Ok(Aggregate { grpc, metrics })
    };
    spawn(&mut children, "ingest", 0)?;
    spawn(&mut children, "normalize", 0)?;

    let tables = CodeTables::embedded();
    let mut generator = Generator::new(
        GeneratorConfig {
            seed: 4242,
            malformed_rate: 0.0,
            too_late_rate: 0.0,
            duplicate_rate: 0.04,
            withdrawal_rate: 0.02,
            late_rate: 0.03,
            summary_rate: 0.3,
            ..GeneratorConfig::default()
        },
        &tables,
    );
    let producer = raw_producer(&bootstrap)?;
    let mut identities = BTreeSet::new();
    let mut aggregates: Vec<Aggregate> = Vec::new();
    for instances in [1, 2, 4] {
        while aggregates.len() < instances {
            let index = aggregates.len();
            aggregates.push(spawn(&mut children, "aggregate", index)?);
        }
        let messages = generate(&mut generator, MESSAGES_PER_STEP);
        identities.extend(feed_identities(&messages, &tables));
        produce(&producer, &topics.raw, &messages).await?;
        let expected = generator.summary().counted;
        for aggregate in &aggregates {
            let url = format!("http://127.0.0.1:{}", aggregate.grpc);
            let mut client = connect_stats(&url, TIMEOUT, || children.ensure_running()).await?;
            await_exact_totals(&mut client, &expected, TIMEOUT, || {
                children.ensure_running()
            })
            .await?;
        }
        let held = await_split(&mut children, &aggregates, identities.len()).await?;
        let take_overs = take_overs(&aggregates).await?;
        eprintln!(
            "scale-out: {instances} instance(s) exact; entries per instance {held:?} of {}; take-overs per instance {take_overs:?}",
            identities.len()
        );
        // Every instance took at least its share over (the metric counts).
        ensure!(
            take_overs.iter().all(|&n| n >= 1),
            "an instance took no partition over: {take_overs:?}"
        );
    }
    Ok(())
}

/// `customs_aggregate_take_overs_total` of each instance.
async fn take_overs(aggregates: &[Aggregate]) -> anyhow::Result<Vec<u64>> {
    let mut counts = Vec::new();
    for aggregate in aggregates {
        let page = scrape_metrics(aggregate.metrics).await?;
        counts.push(metric_sum(&page, "customs_aggregate_take_overs_total", &[]) as u64);
    }
    Ok(counts)
}

/// The lifecycle identities `messages` create: every declaration that
/// classifies and values, every receipt.
fn feed_identities(messages: &[GeneratedMessage], tables: &CodeTables) -> Vec<String> {
    let mut keys = Vec::new();
    for message in messages {
        let Ok(events) = parse_message(&message.payload, tables, ParseLimits::default()) else {
            continue;
        };
        for event in events {
            match event {
                Event::Declaration(declaration) => {
                    if customs_domain::classify(&declaration, tables).is_ok()
                        && customs_domain::value(&declaration, tables).is_ok()
                    {
                        keys.push(lifecycle_key(&declaration).to_owned());
                    }
                }
                Event::Receipt(receipt) => keys.push(receipt.guid),
                Event::SummaryResult(_) => {}
            }
        }
    }
    keys
}

/// Waits until the instances' entries add up to `identities` with each
/// holding between half and one and a half times its share; returns them.
async fn await_split(
    children: &mut Children,
    aggregates: &[Aggregate],
    identities: usize,
) -> anyhow::Result<Vec<u64>> {
    let deadline = Instant::now() + TIMEOUT;
    let share = identities as f64 / aggregates.len() as f64;
    loop {
        children.ensure_running()?;
        let mut held = Vec::new();
        for aggregate in aggregates {
            let page = scrape_metrics(aggregate.metrics).await?;
            held.push(metric_sum(&page, "customs_aggregate_state_entries", &[]) as u64);
        }
        let total: u64 = held.iter().sum();
        let balanced = held
            .iter()
            .all(|&n| (n as f64) >= 0.5 * share && (n as f64) <= 1.5 * share);
        if total == identities as u64 && balanced {
            return Ok(held);
        }
        if Instant::now() > deadline {
            bail!(
                "entries per instance {held:?} (sum {total}), expected {identities} split evenly"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
