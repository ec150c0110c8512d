//! A take-over that takes longer than `max.poll.interval.ms` keeps the
//! instance in its consumer group, on the real broker with the real
//! aggregate process.
//!
//! The new owner of a partition must read its changelog to the end before
//! it counts a record there; here that end is held by the previous owner's
//! transaction, left open three times the poll interval. A restore that
//! blocked the stage's loop would stop it from polling its group: librdkafka
//! then declares the assignment lost ("Application maximum poll interval
//! exceeded"), and once the restore ends the instance rejoins, has the
//! partition revoked and assigned again and takes it over a second time.
//! A restore that runs between polls, with the partition paused, takes it
//! over once.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use customs_e2e::processes::{
    Children, deployed_env, free_port, metric_sum, scrape_metrics, service_command, setting,
};
use customs_e2e::take_over::OpenTransaction;
use customs_e2e::{broker, service_kafka, unique_topics};

const TEST: &str = "restore-polls";
/// The aggregate's `max.poll.interval.ms` (and session timeout: librdkafka
/// wants the poll interval at least as long), the broker's minimum.
const POLL_INTERVAL: Duration = Duration::from_secs(6);

/// A running aggregate on fresh one-partition topics whose changelog's end
/// is held by an open transaction, with `max.poll.interval.ms` (and the
/// session timeout) at [`POLL_INTERVAL`]; its metrics port.
async fn aggregate_behind_an_open_transaction(
    children: &mut Children,
) -> anyhow::Result<(OpenTransaction, u16)> {
    let bootstrap = broker()?;
    let topics = unique_topics(TEST);
    let mut kafka = service_kafka(&bootstrap, TEST, "aggregate");
    kafka.topic_partitions = 1;
    customs_kafka::admin::ensure_compacted_topics(&kafka, &[&topics.changelog, &topics.stats])
        .await?;
    customs_kafka::admin::ensure_topics(
        &kafka,
        &[&topics.classified, &topics.late, &topics.dead_letter],
    )
    .await?;
    let open = OpenTransaction::begin(
        &bootstrap,
        &format!("{}-previous-owner", kafka.group_id),
        &topics.changelog,
        0,
        "RESTORE-POLLS-1",
    )?;
    let (metrics, grpc) = (free_port()?, free_port()?);
    let mut env = deployed_env(TEST, "aggregate", &bootstrap, &topics, metrics);
    let interval_ms = POLL_INTERVAL.as_millis();
    // Quoted: a bare number would be read as one, and properties are text.
    let property = format!("\"{interval_ms}\"");
    env.extend([
        setting("aggregate", "GRPC_ADDR", format!("127.0.0.1:{grpc}")),
        setting(
            "aggregate",
            "KAFKA__SESSION_TIMEOUT",
            format!("{interval_ms}ms"),
        ),
        setting(
            "aggregate",
            "KAFKA__PROPERTIES__MAX_POLL_INTERVAL_MS",
            &*property,
        ),
        setting(
            "aggregate",
            "KAFKA__PROPERTIES__SESSION_TIMEOUT_MS",
            &*property,
        ),
    ]);
    children.spawn("aggregate", &mut service_command("aggregate", &env, true)?)?;
    Ok((open, metrics))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_over_longer_than_the_poll_interval_keeps_the_group() -> anyhow::Result<()> {
    let mut children = Children::default();
    let (open, metrics) = aggregate_behind_an_open_transaction(&mut children).await?;

    // The restore waits for the open transaction all this time.
    let hold_until = Instant::now() + 3 * POLL_INTERVAL;
    while Instant::now() < hold_until {
        children.ensure_running()?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let page = scrape_metrics(metrics).await?;
    let early = metric_sum(&page, "customs_aggregate_take_overs_total", &[]);
    ensure!(
        early == 0.0,
        "{early} take-overs finished while the changelog's end was held by an open transaction"
    );
    open.commit()?;

    let started = Instant::now();
    loop {
        children.ensure_running()?;
        let page = scrape_metrics(metrics).await?;
        if metric_sum(&page, "customs_aggregate_take_overs_total", &[]) >= 1.0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the partition was not taken over within 60 s of the commit");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A lost assignment shows once the instance polls again: give it time
    // to rejoin and take the partition over a second time.
    tokio::time::sleep(2 * POLL_INTERVAL).await;
    children.ensure_running()?;
    let page = scrape_metrics(metrics).await?;
    let take_overs = metric_sum(&page, "customs_aggregate_take_overs_total", &[]);
    ensure!(
        take_overs == 1.0,
        "{take_overs} take-overs of the one partition: the restore stopped the instance from \
         polling its group, which lost the assignment and took the partition over again"
    );
    Ok(())
}

/// How soon an orchestrator may expect the exit after SIGTERM (Kubernetes
/// waits 30 s by default before it kills).
const EXITS_WITHIN: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_take_over_ends_the_instance_at_once() -> anyhow::Result<()> {
    let mut children = Children::default();
    let (_open, metrics) = aggregate_behind_an_open_transaction(&mut children).await?;
    // Well into the take-over: assigned, reading, held by the transaction.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(8) {
        children.ensure_running()?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let page = scrape_metrics(metrics).await?;
    let take_overs = metric_sum(&page, "customs_aggregate_take_overs_total", &[]);
    ensure!(take_overs == 0.0, "the take-over ended before the SIGTERM");
    let (exit, took) = children.terminate("aggregate", EXITS_WITHIN)?;
    ensure!(
        exit.success(),
        "the aggregate exited with {exit} after SIGTERM"
    );
    eprintln!("restore_polls: the aggregate stopped {took:.1?} after SIGTERM during a take-over");
    Ok(())
}
