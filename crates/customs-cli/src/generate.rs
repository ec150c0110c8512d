//! `customs generate`: seeded synthetic single-window traffic.
//!
//! Writes to standard output (one message per line, the XML's own line
//! breaks removed), to a directory (one file per message), or to a Kafka
//! topic (thousands of sends in flight, at a target rate if one is given); shows a progress bar with the rate on a terminal;
//! prints a JSON summary of what it sent and what a correct pipeline must
//! count (also to `--summary FILE`). Same seed, same bytes.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use customs_domain::generator::{GeneratedMessage, Generator, GeneratorConfig};
use customs_domain::{CodeTables, TradeCategory};
use indicatif::{ProgressBar, ProgressStyle};

use crate::kafka_sink::KafkaSink;

/// Options of `customs generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// Number of messages to generate (an inventory's receipts count too).
    #[arg(long, default_value_t = 1_000)]
    count: usize,
    /// PRNG seed; the same seed gives the same bytes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Month of the traffic, YYYY-MM.
    #[arg(long, default_value = "2026-11")]
    month: String,
    /// Category weights, e.g. `general_trade=62,processing_trade=18`
    /// (categories left out get weight 0); default: the shape of published
    /// statistics (see `GeneratorConfig`).
    #[arg(long, value_parser = parse_mix)]
    mix: Option<Mix>,
    /// Share of malformed messages.
    #[arg(long, default_value_t = 0.01)]
    malformed_rate: f64,
    /// Share of re-sent duplicates.
    #[arg(long, default_value_t = 0.02)]
    duplicate_rate: f64,
    /// Share of inventory withdrawals.
    #[arg(long, default_value_t = 0.005)]
    withdrawal_rate: f64,
    /// Share of declarations dated in the second half of the previous month
    /// (late but within the allowed lateness: they count).
    #[arg(long, default_value_t = 0.01)]
    late_rate: f64,
    /// Share of declarations dated 13 months back (beyond the allowed
    /// lateness: they go to the late topic).
    #[arg(long, default_value_t = 0.002)]
    too_late_rate: f64,
    /// Share of export inventories followed by a summary result.
    #[arg(long, default_value_t = 0.05)]
    summary_rate: f64,
    /// Write one file per message into this directory.
    #[arg(long, conflicts_with = "topic")]
    out_dir: Option<PathBuf>,
    /// Produce to this Kafka topic (bootstrap servers from
    /// `--bootstrap-servers`, else `KAFKA_BOOTSTRAP_SERVERS`).
    #[arg(long)]
    topic: Option<String>,
    /// Kafka bootstrap servers for `--topic`.
    #[arg(long)]
    bootstrap_servers: Option<String>,
    /// Target messages per second (Kafka output); unlimited when absent.
    #[arg(long)]
    rate: Option<f64>,
    /// Also write the JSON summary to this file.
    #[arg(long)]
    summary: Option<PathBuf>,
}

enum Sink {
    Stdout(std::io::Stdout),
    Dir(PathBuf),
    Kafka(KafkaSink),
}

/// Runs `customs generate`.
pub async fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let tables = CodeTables::embedded();
    let config = GeneratorConfig {
        seed: args.seed,
        month: args.month.clone(),
        malformed_rate: args.malformed_rate,
        duplicate_rate: args.duplicate_rate,
        withdrawal_rate: args.withdrawal_rate,
        late_rate: args.late_rate,
        too_late_rate: args.too_late_rate,
        summary_rate: args.summary_rate,
        ..GeneratorConfig::default()
    };
    let config = match args.mix.clone() {
        Some(Mix(mix)) => GeneratorConfig { mix, ..config },
        None => config,
    };
    let mut generator = Generator::new(config, &tables);
    let mut sink = match (&args.out_dir, &args.topic) {
        (Some(dir), _) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            Sink::Dir(dir.clone())
        }
        (None, Some(topic)) => {
            let servers = match &args.bootstrap_servers {
                Some(servers) => servers.clone(),
                None => std::env::var("KAFKA_BOOTSTRAP_SERVERS")
                    .context("--topic needs --bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS")?,
            };
            Sink::Kafka(KafkaSink::new(&servers, topic)?)
        }
        _ => Sink::Stdout(std::io::stdout()),
    };
    let progress = ProgressBar::new(args.count as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} messages, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut sent = 0usize;
    while sent < args.count {
        for message in generator.next_batch() {
            if sent == args.count {
                break;
            }
            if let Some(rate) = args.rate.filter(|rate| *rate > 0.0) {
                let due = started + Duration::from_secs_f64(sent as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
            }
            write(&mut sink, sent, &message).await?;
            sent += 1;
            progress.inc(1);
        }
    }
    if let Sink::Kafka(kafka) = &mut sink {
        kafka.finish().await?;
    }
    progress.finish_and_clear();
    let summary = serde_json::to_string_pretty(&generator.summary())?;
    if let Some(path) = &args.summary {
        std::fs::write(path, &summary).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!("{summary}");
    eprintln!("generated {sent} messages in {:.2?}", started.elapsed());
    Ok(())
}

async fn write(sink: &mut Sink, index: usize, message: &GeneratedMessage) -> anyhow::Result<()> {
    match sink {
        Sink::Stdout(stdout) => {
            let line: Vec<u8> = message
                .payload
                .iter()
                .copied()
                .filter(|b| *b != b'\n' && *b != b'\r')
                .collect();
            let mut out = stdout.lock();
            out.write_all(&line)?;
            out.write_all(b"\n")?;
        }
        Sink::Dir(dir) => {
            let path = dir.join(format!("{index:08}-{:?}.xml", message.kind).to_lowercase());
            std::fs::write(&path, &message.payload)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Sink::Kafka(kafka) => kafka.send(&message.key, &message.payload).await?,
    }
    Ok(())
}

/// Category weights of `--mix`.
#[derive(Clone)]
struct Mix(Vec<(TradeCategory, u32)>);

/// `general_trade=62,processing_trade=18` → weights per category.
fn parse_mix(text: &str) -> Result<Mix, String> {
    text.split(',')
        .map(|pair| {
            let (name, weight) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not category=weight"))?;
            let category = TradeCategory::ALL
                .into_iter()
                .find(|category| category.as_str() == name.trim())
                .ok_or_else(|| format!("unknown category {name:?}"))?;
            let weight = weight
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("weight {weight:?} is not a whole number"))?;
            Ok((category, weight))
        })
        .collect::<Result<_, String>>()
        .map(Mix)
}
