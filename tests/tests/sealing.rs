//! Sealing bounds the aggregate's state without changing a figure: once the
//! watermark moves a month on, the entries of the earlier month are final;
//! the owner replaces each with a small sealed marker (their contributions
//! are already in the statistics topic, which sealing does not touch). The
//! served statistics stay exactly the generators' summaries, the changelog
//! shows the markers, and a fresh aggregate restores the same figures from
//! the compacted statistics.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use customs_aggregate::StatisticsConfig;
use customs_aggregate::changelog::Change;
use customs_domain::CodeTables;
use customs_domain::generator::{Generator, GeneratorConfig, SummaryRow};
use customs_domain::lifecycle::partition::Stored;
use customs_e2e::feed::{generate, produce};
use customs_e2e::{Pipeline, broker, raw_producer, served_table, service_kafka};
use customs_proto::v1;
use customs_proto::v1::stats_service_client::StatsServiceClient;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(120);

/// A month of clean traffic (no late or too-late declarations: with a
/// 28-day lateness they would be diverted, which is not what this tests).
fn month(seed: u64, month: &str) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        month: month.to_owned(),
        late_rate: 0.0,
        too_late_rate: 0.0,
        summary_rate: 0.3,
        withdrawal_rate: 0.02,
        ..GeneratorConfig::default()
    }
}

async fn wait_for(
    addr: std::net::SocketAddr,
    expected: &BTreeMap<String, SummaryRow>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let served = match StatsServiceClient::connect(format!("http://{addr}")).await {
            Ok(mut client) => match client.get_totals(v1::GetTotalsRequest::default()).await {
                Ok(response) => {
                    let response = response.into_inner();
                    let restoring = response
                        .freshness
                        .as_ref()
                        .is_none_or(|f| !f.restoring_partitions.is_empty());
                    (!restoring).then(|| served_table(&response)).transpose()?
                }
                Err(_) => None,
            },
            Err(_) => None,
        };
        if served.as_ref() == Some(expected) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("after {TIMEOUT:?} served {served:#?}\nexpected {expected:#?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Counts the identities whose latest changelog record is a sealed marker.
fn changelog_counts(bootstrap: &str, topic: &str) -> anyhow::Result<usize> {
    let consumer: BaseConsumer = service_kafka(bootstrap, "sealing", "reader")
        .client_config()
        .set("group.id", "sealing-reader")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for partition in 0..3 {
        let (_, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        ends.insert(partition, high);
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut sealed = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message?;
            let key = message.key().unwrap_or_default();
            match Change::decode(key, message.payload())? {
                Change::Entry(identity, Some(Stored::Sealed(_))) => {
                    sealed.insert(identity);
                }
                Change::Entry(identity, _) => {
                    sealed.remove(&identity);
                }
                Change::Summary(..) => {}
            }
        }
        let positions = consumer.position()?;
        let done = positions
            .elements()
            .iter()
            .all(|element| match element.offset() {
                Offset::Offset(offset) => ends
                    .get(&element.partition())
                    .is_some_and(|end| offset >= *end),
                _ => false,
            });
        if done {
            break;
        }
    }
    Ok(sealed.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sealing_final_entries_keeps_every_figure() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let statistics = StatisticsConfig {
        allowed_lateness: Duration::from_secs(28 * 24 * 3600),
        housekeeping_interval: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(1),
        ..StatisticsConfig::default()
    };
    let pipeline = Pipeline::start_with(&bootstrap, "sealing", statistics.clone()).await?;
    let tables = CodeTables::embedded();
    let producer = raw_producer(&bootstrap)?;

    // November 2026, then January 2027: the watermark moves past the
    // November entries' horizon, so they become final and are sealed.
    let mut november = Generator::new(month(11, "2026-11"), &tables);
    produce(
        &producer,
        &pipeline.topics.raw,
        &generate(&mut november, 2_000),
    )
    .await?;
    let mut expected = november.summary().counted;
    wait_for(pipeline.grpc_addr, &expected).await?;

    let mut january = Generator::new(month(1, "2027-01"), &tables);
    produce(
        &producer,
        &pipeline.topics.raw,
        &generate(&mut january, 300),
    )
    .await?;
    // Housekeeping output goes out with each partition's next records.
    tokio::time::sleep(Duration::from_secs(2)).await;
    produce(
        &producer,
        &pipeline.topics.raw,
        &generate(&mut january, 300),
    )
    .await?;
    for (cell, row) in january.summary().counted {
        let total = expected.entry(cell).or_default();
        total.num_declarations += row.num_declarations;
        total.num_items += row.num_items;
        total.value_cny += row.value_cny;
        total.value_usd += row.value_usd;
    }
    wait_for(pipeline.grpc_addr, &expected).await?;

    // Sealing goes out with the housekeeping round after the watermark
    // moved, which may commit after the figures already match: read the
    // changelog until it shows, or until the timeout.
    let deadline = Instant::now() + TIMEOUT;
    let sealed = loop {
        let (bootstrap_c, topic) = (bootstrap.clone(), pipeline.topics.changelog.clone());
        let sealed =
            tokio::task::spawn_blocking(move || changelog_counts(&bootstrap_c, &topic)).await??;
        if sealed > 500 || Instant::now() > deadline {
            break sealed;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("e2e: changelog holds {sealed} sealed markers");
    ensure!(sealed > 500, "only {sealed} entries were sealed");
    wait_for(pipeline.grpc_addr, &expected).await?;

    // A fresh instance restores the figures from the statistics topic. (It is
    // in a group of its own and is stopped once it has answered; were it to
    // re-read the classified topic, the sealed declarations' events would all
    // be beyond the lateness horizon and go to the late topic.)
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let fresh_addr = listener.local_addr()?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    // Stops the instance's blocking threads even when an assertion fails,
    // or the test runtime would wait for them forever.
    let _stop_on_drop = shutdown.clone().drop_guard();
    let fresh = tokio::spawn(customs_aggregate::run_with_listener(
        customs_aggregate::Config {
            kafka: service_kafka(&bootstrap, "sealing", "fresh"),
            topics: pipeline.topics.clone(),
            statistics,
            ..Default::default()
        },
        listener,
        shutdown.clone(),
    ));
    wait_for(fresh_addr, &expected).await?;
    shutdown.cancel();
    fresh.await??;
    pipeline.stop().await
}
