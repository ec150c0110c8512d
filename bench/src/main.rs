//! `customs-bench`: the end-to-end benchmark of issue 6, item 6.
//!
//! On a real broker it preloads N seeded generated messages, measures the
//! raw-consume ceiling, runs `customs-ingest`, `customs-normalize` and
//! `customs-aggregate` as release processes with their deployed settings
//! (exactly-once on) until the aggregate has read everything, measures
//! event-to-queryable latency and the API's latency at fixed offered loads
//! (by default 1/8, 1/4 and 1/2 of that run's throughput), and repeats the
//! throughput run with 1, 2 and 4 partitions and as many instances. It prints
//! a Markdown table and writes it and the JSON behind it to `--out-dir`.
//!
//! Guarantees: each run uses topics, groups and transactional ids of its
//! own, and every service address is on 127.0.0.1; every process it starts is
//! stopped before it returns, on success, error or SIGINT/SIGTERM. It is a
//! measurement, not a test: it fails only when the pipeline does not finish
//! or a tool fails, never on slow numbers. Run it through `bench/run`.

mod api;
mod ceiling;
mod feed;
mod latency;
mod procfs;
mod profile;
mod progress;
mod prom;
mod report;
mod services;
mod throughput;
mod topics;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::report::{Report, Settings};
use crate::services::Install;
use crate::topics::Registry;

/// End-to-end benchmark of the customs pipeline on a real Kafka broker.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Raw messages per throughput run.
    #[arg(long, default_value_t = 200_000)]
    messages: usize,
    /// Partitions of every topic in the main throughput and latency runs
    /// (one instance per service there).
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Partition counts of the scaling runs, each with as many ingest and
    /// normalize instances (one aggregate); `none` skips them.
    #[arg(long, value_parser = parse_scaling, default_value = "1,2,4")]
    scaling: Scaling,
    /// How long to offer each fixed load of the latency runs; 0 skips them.
    #[arg(long, default_value_t = 30.0)]
    latency_seconds: f64,
    /// Offered loads of the latency runs, as fractions of the main run's
    /// end-to-end throughput (one run each, in this order).
    #[arg(long, value_parser = parse_fractions, default_value = "0.125,0.25,0.5")]
    latency_fractions: Fractions,
    /// One latency run at this many messages/s instead of the fractions.
    #[arg(long)]
    rate: Option<f64>,
    /// Record a `perf` CPU profile of every service process during the main
    /// run (adds a little overhead; perf.data files stay in the log dir).
    #[arg(long)]
    perf: bool,
    /// Extra service setting for experiments, e.g.
    /// `--env CUSTOMS_INGEST_KAFKA__MAX_BATCH_RECORDS=10000` (repeatable;
    /// the report then says the deployed settings were overridden).
    #[arg(long = "env", value_parser = parse_env)]
    overrides: Vec<(String, String)>,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Kafka bootstrap servers.
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:39092"
    )]
    bootstrap_servers: String,
    /// Directory with the customs-ingest, -normalize and -aggregate binaries.
    #[arg(long)]
    bin_dir: PathBuf,
    /// Directory with the services' deployed config files.
    #[arg(long, default_value = "deploy/config")]
    config_dir: PathBuf,
    /// Where latest.json, latest.md and service logs go.
    #[arg(long, default_value = "bench/results")]
    out_dir: PathBuf,
    /// Source revision of the binaries, for the report.
    #[arg(long, default_value = "unknown")]
    revision: String,
}

/// Partition counts of the scaling runs.
#[derive(Debug, Clone)]
struct Scaling(Vec<i32>);

fn parse_env(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

/// Fractions of the maximum throughput.
#[derive(Debug, Clone)]
struct Fractions(Vec<f64>);

fn parse_fractions(text: &str) -> Result<Fractions, String> {
    text.split(',')
        .map(|part| match part.trim().parse::<f64>() {
            Ok(fraction) if fraction > 0.0 && fraction <= 1.0 => Ok(fraction),
            _ => Err(format!("{part:?} is not a fraction in (0, 1]")),
        })
        .collect::<Result<_, _>>()
        .map(Fractions)
}

fn parse_scaling(text: &str) -> Result<Scaling, String> {
    if text.trim().is_empty() || text.trim() == "none" {
        return Ok(Scaling(Vec::new()));
    }
    text.split(',')
        .map(|part| match part.trim().parse::<i32>() {
            Ok(count) if count >= 1 => Ok(count),
            _ => Err(format!("{part:?} is not a positive partition count")),
        })
        .collect::<Result<_, _>>()
        .map(Scaling)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let registry = Registry::default();
    let bootstrap = cli.bootstrap_servers.clone();
    let outcome = tokio::select! {
        outcome = bench(cli, &registry) => outcome,
        signal = stop_signal() => Err(anyhow::anyhow!("interrupted by {signal}")),
    };
    // Leaving `bench` early dropped its pipelines, which killed their
    // processes; the topics of the run it was in are still there.
    registry.delete_all(&bootstrap).await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}

async fn bench(cli: Cli, registry: &Registry) -> anyhow::Result<()> {
    if cli.messages == 0 || cli.partitions < 1 {
        bail!("--messages and --partitions must be positive");
    }
    let install = Install::load(&cli.bin_dir, &cli.config_dir, cli.overrides.clone())?;
    if cli.perf {
        profile::check_available()?;
    }
    let started_at = utc_now()?;
    let machine = procfs::machine()?;
    check_broker(&cli.bootstrap_servers).await?;
    let log_dir = cli.out_dir.join("logs");
    let _ = std::fs::remove_dir_all(&log_dir);

    eprintln!(
        "bench: generating {} messages (seed {})",
        cli.messages, cli.seed
    );
    let messages: Arc<[_]> = feed::generate(cli.messages, cli.seed).into();
    let run_spec =
        |label: String, partitions: i32, num_instances: usize, profile: bool| throughput::RunSpec {
            label,
            bootstrap: &cli.bootstrap_servers,
            partitions,
            num_instances,
            messages: Arc::clone(&messages),
            log_dir: &log_dir,
            registry,
            profile,
        };
    let main_run = throughput::run(
        &install,
        &run_spec(
            format!("main-p{}", cli.partitions),
            cli.partitions,
            1,
            cli.perf,
        ),
    )
    .await?;

    let loads: Vec<(Option<f64>, f64)> = match cli.rate {
        Some(rate) => vec![(None, rate)],
        None => cli
            .latency_fractions
            .0
            .iter()
            .map(|&fraction| (Some(fraction), fraction * main_run.messages_per_second))
            .collect(),
    };
    let mut latency = Vec::new();
    if cli.latency_seconds > 0.0 {
        for (fraction, rate) in loads {
            latency.push(
                latency::run(
                    &install,
                    &latency::LatencySpec {
                        bootstrap: &cli.bootstrap_servers,
                        partitions: cli.partitions,
                        fraction,
                        rate,
                        seconds: cli.latency_seconds,
                        seed: cli.seed + 1,
                        log_dir: &log_dir,
                        registry,
                    },
                )
                .await?,
            );
        }
    }

    let mut scaling = Vec::new();
    for partitions in &cli.scaling.0 {
        let spec = run_spec(
            format!("scale-p{partitions}"),
            *partitions,
            *partitions as usize,
            false,
        );
        scaling.push(throughput::run(&install, &spec).await?);
    }

    let report = Report {
        started_at,
        machine,
        settings: Settings {
            num_messages: cli.messages,
            seed: cli.seed,
            partitions: cli.partitions,
            scaling: cli.scaling.0.clone(),
            latency_seconds: cli.latency_seconds,
            rate_opt: cli.rate,
            latency_fractions: cli.latency_fractions.0.clone(),
            config_dir: cli.config_dir.display().to_string(),
            revision: cli.revision.clone(),
            overrides: cli
                .overrides
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect(),
        },
        throughput: main_run,
        latency,
        scaling,
    };
    let markdown = report.markdown();
    println!("{markdown}");
    std::fs::create_dir_all(&cli.out_dir)?;
    let json_path = cli.out_dir.join("latest.json");
    let md_path = cli.out_dir.join("latest.md");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    std::fs::write(&md_path, &markdown)
        .with_context(|| format!("writing {}", md_path.display()))?;
    eprintln!(
        "bench: wrote {} and {}",
        json_path.display(),
        md_path.display()
    );
    Ok(())
}

/// Fails fast, with the address, when no broker answers.
async fn check_broker(bootstrap: &str) -> anyhow::Result<()> {
    let bootstrap = bootstrap.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()?;
        consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .with_context(|| format!("no Kafka broker answers at {bootstrap}"))?;
        Ok(())
    })
    .await?
}

/// The current UTC time as RFC 3339, from `date` (no time crate needed).
fn utc_now() -> anyhow::Result<String> {
    let output = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .context("running date")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
