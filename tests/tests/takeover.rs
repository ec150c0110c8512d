//! Taking a partition over while the previous owner's last transaction is
//! not settled yet, on the real broker.
//!
//! A previous owner ends its last transaction before it gives a partition
//! up, but the broker writes the commit markers after the commit returns:
//! for a moment the changelog's read-committed end (the last stable offset)
//! stops before records that are already committed. A new owner that
//! restored only to that end would miss them while the group's committed
//! offsets (stable, KIP-447) already skip their input, and its figures
//! would go wrong from then on (seen as an over-count in `scale_out`).
//!
//! The test holds that moment open: a transactional producer writes a
//! lifecycle entry to the changelog and does not commit yet; an aggregate
//! starts and is assigned the partition. The entry must not be served while
//! its transaction is open, and must be served once it commits: the
//! take-over waited for the transaction to end instead of restoring
//! without it.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use customs_e2e::take_over::OpenTransaction;
use customs_e2e::{StatsClient, broker, connect_stats, service_kafka, unique_topics};
use customs_kafka::{KafkaConfig, TopicsConfig};
use customs_proto::v1;

const ID: &str = "TAKEOVER-OPEN-TXN";
const TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_over_waits_for_the_previous_owners_transaction_to_end() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let (topics, kafka) = topics(&bootstrap, "takeover", 1).await?;

    // The previous owner's last transaction: written, not yet committed.
    let open = OpenTransaction::begin(
        &bootstrap,
        &format!("{}-previous-owner", kafka.group_id),
        &topics.changelog,
        0,
        ID,
    )?;

    let (aggregate, mut client) = Aggregate::start(kafka, &topics).await?;
    // Long enough for the assignment and a restore of one record.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = status(&mut client, ID).await?;
    ensure!(
        before != "counted",
        "an entry of an open transaction was served: {before:?}"
    );

    open.commit()?;
    let started = Instant::now();
    loop {
        let now = status(&mut client, ID).await?;
        if now == "counted" {
            break;
        }
        if started.elapsed() > TIMEOUT {
            bail!(
                "{:?} after the commit the entry is {now:?}: the take-over restored without the transaction",
                started.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    aggregate.stop().await
}

/// A partition whose changelog end an open transaction holds (an owner
/// that died, until the broker aborts its transaction) must not hold back
/// the take-over of the other partitions: restores run one at a time, and
/// a held one lets the next go first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_held_by_a_transaction_does_not_hold_back_the_others() -> anyhow::Result<()> {
    const HELD: &str = "TAKEOVER-HELD-P0";
    const FREE: &str = "TAKEOVER-FREE-P1";
    let bootstrap = broker()?;
    let (topics, kafka) = topics(&bootstrap, "takeover-held", 2).await?;
    let previous = format!("{}-previous-owner", kafka.group_id);
    OpenTransaction::begin(
        &bootstrap,
        &format!("{previous}-1"),
        &topics.changelog,
        1,
        FREE,
    )?
    .commit()?;
    let open = OpenTransaction::begin(&bootstrap, &previous, &topics.changelog, 0, HELD)?;

    let (aggregate, mut client) = Aggregate::start(kafka, &topics).await?;
    let started = Instant::now();
    loop {
        let free = status(&mut client, FREE).await?;
        if free == "counted" {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("partition 1's entry is {free:?} after 30 s: the held partition 0 holds it back");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let held = status(&mut client, HELD).await?;
    ensure!(
        held != "counted",
        "an entry of an open transaction was served: {held:?}"
    );
    open.commit()?;
    let started = Instant::now();
    while status(&mut client, HELD).await? != "counted" {
        ensure!(
            started.elapsed() < TIMEOUT,
            "partition 0's entry not served after its transaction committed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    aggregate.stop().await
}

/// Fresh topics of `partitions` partitions for `test`, and the Kafka
/// settings of an aggregate on them.
async fn topics(
    bootstrap: &str,
    test: &str,
    partitions: i32,
) -> anyhow::Result<(TopicsConfig, KafkaConfig)> {
    let topics = unique_topics(test);
    let mut kafka = service_kafka(bootstrap, test, "aggregate");
    kafka.topic_partitions = partitions;
    customs_kafka::admin::ensure_compacted_topics(&kafka, &[&topics.changelog, &topics.stats])
        .await?;
    customs_kafka::admin::ensure_topics(&kafka, &[&topics.classified]).await?;
    Ok((topics, kafka))
}

/// An aggregate running in this process, stopped on every way out of the
/// test (so a failure is reported, not hung).
struct Aggregate {
    shutdown: tokio_util::sync::DropGuard,
    service: tokio::task::JoinHandle<Result<(), customs_aggregate::Error>>,
}

impl Aggregate {
    /// Starts one on `topics` and connects a client to its API.
    async fn start(
        kafka: KafkaConfig,
        topics: &TopicsConfig,
    ) -> anyhow::Result<(Self, StatsClient)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let config = customs_aggregate::Config {
            kafka,
            topics: topics.clone(),
            ..Default::default()
        };
        let service = tokio::spawn(customs_aggregate::run_with_listener(
            config,
            listener,
            shutdown.clone(),
        ));
        let aggregate = Aggregate {
            shutdown: shutdown.drop_guard(),
            service,
        };
        let client = connect_stats(&format!("http://{addr}"), TIMEOUT, || Ok(())).await?;
        Ok((aggregate, client))
    }

    /// Stops it; fails when it failed.
    async fn stop(self) -> anyhow::Result<()> {
        drop(self.shutdown);
        self.service.await??;
        Ok(())
    }
}

/// What `Explain` says of entry `id`: its status, or the error's code.
async fn status(client: &mut StatsClient, id: &str) -> anyhow::Result<String> {
    match client
        .explain(v1::ExplainRequest { id: id.to_owned() })
        .await
    {
        Ok(response) => Ok(response.into_inner().status),
        Err(status) => Ok(format!("{:?}", status.code())),
    }
}
