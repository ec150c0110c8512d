//! `customs status` against the real pipeline: once the aggregate has
//! restored and counted a feed it reports SERVING, no partition restoring,
//! a watermark and the declarations counted (the generator's count), and
//! exits 0; against an address nobody serves it exits 2 naming it.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use customs_domain::CodeTables;
use customs_domain::generator::{Generator, GeneratorConfig};
use customs_e2e::feed::{generate, produce};
use customs_e2e::processes::{free_port, service_binary};
use customs_e2e::{Pipeline, broker, raw_producer};

const TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_a_serving_aggregate_and_its_freshness() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let pipeline = Pipeline::start(&bootstrap, "status").await?;
    let tables = CodeTables::embedded();
    let mut generator = Generator::new(
        GeneratorConfig {
            seed: 31,
            ..GeneratorConfig::default()
        },
        &tables,
    );
    let messages = generate(&mut generator, 200);
    produce(&raw_producer(&bootstrap)?, &pipeline.topics.raw, &messages).await?;
    let expected: u64 = generator
        .summary()
        .counted
        .values()
        .map(|row| row.num_declarations)
        .sum();

    let customs = service_binary("customs")?;
    let grpc = format!("http://{}", pipeline.grpc_addr);
    let started = Instant::now();
    let status = loop {
        let output = Command::new(&customs)
            .args(["status", "--grpc", &grpc])
            .output()?;
        let status: Option<serde_json::Value> = serde_json::from_slice(&output.stdout).ok();
        if let Some(status) = &status
            && output.status.success()
            && status["declarations"] == expected
        {
            break status.clone();
        }
        ensure!(
            started.elapsed() < TIMEOUT,
            "customs status never reported {expected} declarations served: {status:?} ({})",
            String::from_utf8_lossy(&output.stderr)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    ensure!(status["serving"] == "SERVING", "{status}");
    ensure!(
        status["restoring_partitions"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "{status}"
    );
    ensure!(
        status["watermark"]
            .as_str()
            .is_some_and(|watermark| watermark.ends_with("+08:00")),
        "{status}"
    );
    // The in-process pipeline runs on the embedded tables: the version is
    // that of the data files, by the documented formula, computed here.
    ensure!(
        status["code_tables_version"] == customs_e2e::code_tables_version(None)?,
        "{status}"
    );

    let nobody = format!("http://127.0.0.1:{}", free_port()?);
    let output = Command::new(&customs)
        .args(["status", "--grpc", &nobody])
        .output()?;
    ensure!(output.status.code() == Some(2), "exit {:?}", output.status);
    let said = String::from_utf8_lossy(&output.stderr);
    ensure!(
        said.contains(&nobody),
        "the error does not name {nobody}: {said}"
    );
    pipeline.stop().await.context("stopping the pipeline")
}
