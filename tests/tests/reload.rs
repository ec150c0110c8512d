//! Code tables reloaded on SIGHUP, with the real service processes: the
//! aggregate answers with the new table set (its version in every answer's
//! freshness) and normalize reports it, without a restart; a table that
//! does not load leaves the tables in use and is counted.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use customs_e2e::processes::{
    Children, deployed_env, free_port, metric_sum, repo, scrape_metrics, service_command, setting,
};
use customs_e2e::{StatsClient, broker, connect_stats, create_topics, unique_topics};
use customs_proto::v1;

const TEST: &str = "reload";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_code_tables_and_a_bad_table_changes_nothing() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let topics = unique_topics(TEST);
    create_topics(&bootstrap, TEST, &topics).await?;
    let dir =
        std::env::temp_dir().join(format!("customs-reload-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let data = repo().join("crates/customs-domain/data");
    let groups = std::fs::read_to_string(data.join("country_groups.csv"))?;
    std::fs::write(dir.join("country_groups.csv"), &groups)?;

    let mut children = Children::default();
    let mut ports = Vec::new();
    for service in ["normalize", "aggregate"] {
        let (metrics, grpc) = (free_port()?, free_port()?);
        let mut env = deployed_env(TEST, service, &bootstrap, &topics, metrics);
        env.push(setting(
            service,
            "CODE_TABLES_DIR",
            dir.display().to_string(),
        ));
        if service == "aggregate" {
            env.push(setting(service, "GRPC_ADDR", format!("127.0.0.1:{grpc}")));
        }
        children.spawn(service, &mut service_command(service, &env, true)?)?;
        ports.push((service, metrics, grpc));
    }
    let (_, normalize_metrics, _) = ports[0];
    let (_, aggregate_metrics, grpc) = ports[1];
    let url = format!("http://127.0.0.1:{grpc}");
    let mut client =
        connect_stats(&url, Duration::from_secs(60), || children.ensure_running()).await?;

    let before = customs_e2e::code_tables_version(Some(&dir))?;
    ensure!(served_version(&mut client).await? == before);

    // One more group row: a new table set.
    std::fs::write(
        dir.join("country_groups.csv"),
        format!("{groups}test_group,USA,test\n"),
    )?;
    let after = customs_e2e::code_tables_version(Some(&dir))?;
    ensure!(after != before, "the test's own version did not change");
    hangup(&mut children)?;
    let started = Instant::now();
    loop {
        let aggregate = scrape_metrics(aggregate_metrics).await?;
        let normalize = scrape_metrics(normalize_metrics).await?;
        let label = format!("version=\"{after}\"");
        let reported = |page: &_, service: &str| {
            metric_sum(
                page,
                &format!("customs_{service}_code_tables_info"),
                &[&label],
            ) == 1.0
        };
        if served_version(&mut client).await? == after
            && reported(&aggregate, "aggregate")
            && reported(&normalize, "normalize")
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the new tables {after} were not in use 30 s after SIGHUP");
        }
        children.ensure_running()?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A table that does not load: the set in use stays, the failure counts.
    std::fs::write(dir.join("country_groups.csv"), "not,a,table\nx\n")?;
    hangup(&mut children)?;
    let started = Instant::now();
    loop {
        let page = scrape_metrics(aggregate_metrics).await?;
        let outcome = |outcome: &str| {
            let label = format!("outcome=\"{outcome}\"");
            metric_sum(
                &page,
                "customs_aggregate_code_table_reloads_total",
                &[&label],
            )
        };
        if outcome("failed") == 1.0 {
            ensure!(outcome("applied") == 1.0, "{page:?}");
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the bad table's reload was not counted within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ensure!(
        served_version(&mut client).await? == after,
        "a bad table replaced the tables"
    );
    children.ensure_running()?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// SIGHUP to every child.
fn hangup(children: &mut Children) -> anyhow::Result<()> {
    for pid in children.pids() {
        let status = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()?;
        ensure!(status.success(), "kill -HUP {pid}");
    }
    Ok(())
}

async fn served_version(client: &mut StatsClient) -> anyhow::Result<String> {
    let answer = client
        .get_totals(v1::GetTotalsRequest::default())
        .await?
        .into_inner();
    Ok(answer
        .freshness
        .context("an answer without freshness")?
        .code_tables_version)
}
