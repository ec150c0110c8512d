//! One throughput run: preload a fresh topic, measure the bare-consumer
//! ceiling on it, then start the three services at once on it and time them
//! until the aggregate has read everything.
//!
//! Guarantees: throughput is `N / seconds from spawning the processes until
//! the completion rule of [`crate::progress`] held`, so it includes process
//! start-up and group joins, as the ceiling's clock includes its join. CPU
//! time and peak RSS are read from `/proc` at that moment, while the
//! processes are still alive; they cover each process's whole life so far
//! (start-up included). The machine's busy time over the same interval is
//! reported too, because other work shares this machine. The run's topics
//! are deleted afterwards and its processes always stopped.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use customs_domain::generator::GeneratedMessage;
use serde::Serialize;

use crate::ceiling::{self, Ceiling};
use crate::feed;
use crate::procfs;
use crate::profile::{self, Profile};
use crate::progress::{self, Counts, Goal, Milestones};
use crate::prom::{self, Histogram, Quantile};
use crate::services::{Install, Pipeline, PipelineSpec, Role};
use crate::topics::{Registry, Topics};

/// What one run needs.
pub struct RunSpec<'a> {
    /// Name of the run in the report and topic names.
    pub label: String,
    /// Broker address.
    pub bootstrap: &'a str,
    /// Partitions of every topic of the run.
    pub partitions: i32,
    /// Ingest and normalize instances.
    pub num_instances: usize,
    /// The feed.
    pub messages: Arc<[GeneratedMessage]>,
    /// Where service logs go.
    pub log_dir: &'a Path,
    /// Where the run's topics are registered until deleted.
    pub registry: &'a Registry,
    /// Record a `perf` profile of every process (see [`crate::profile`]).
    pub profile: bool,
}

/// Resource use of one service (all its instances).
#[derive(Debug, Clone, Serialize)]
pub struct ServiceUsage {
    /// `ingest`, `normalize` or `aggregate`.
    pub service: String,
    /// Processes.
    pub num_instances: usize,
    /// `utime + stime` summed over the instances.
    pub cpu_seconds: f64,
    /// `cpu_seconds` per 1,000 raw messages.
    pub cpu_seconds_per_1k_messages: f64,
    /// Largest `VmHWM` of one instance.
    pub peak_rss_bytes_max: u64,
    /// Sum of the instances' `VmHWM`.
    pub peak_rss_bytes_sum: u64,
    /// Transactions of a transactional stage; `None` when the service does
    /// not export them (the aggregate before it became a transactional stage).
    pub transactions: Option<TransactionStats>,
}

/// What a transactional stage's own metrics say about its transactions.
#[derive(Debug, Clone, Serialize)]
pub struct TransactionStats {
    /// `customs_<service>_transactions_total{outcome="committed"}`.
    pub num_committed: u64,
    /// `customs_<service>_transactions_total{outcome="aborted"}`.
    pub num_aborted: u64,
    /// Input records per committed transaction.
    pub records_per_transaction: f64,
    /// Mean of `customs_<service>_transaction_commit_duration_seconds`
    /// (transform, produce and commit of one batch), milliseconds.
    pub mean_transaction_ms: f64,
    /// 99th percentile of the same, bucket-interpolated; `None` when it
    /// falls in the `+Inf` bucket.
    pub p99_transaction_ms: Option<f64>,
    /// Time inside transactions over the instances' busy time (spawn until
    /// the stage had caught up: "ingest done", "normalize done"); the rest is
    /// start-up, collecting batches and waiting for input.
    pub share_of_busy_time: f64,
}

/// The outcome of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Run name.
    pub label: String,
    /// Partitions per topic.
    pub partitions: i32,
    /// Ingest and normalize instances (the aggregate is always one).
    pub num_instances: usize,
    /// Raw messages.
    pub num_messages: u64,
    /// Their key and payload bytes.
    pub num_bytes: u64,
    /// How long preloading took (not part of any rate).
    pub preload_seconds: f64,
    /// The bare consumer on the same topic.
    pub ceiling: Ceiling,
    /// Process spawn until the aggregate had read everything.
    pub seconds: f64,
    /// `num_messages / seconds`.
    pub messages_per_second: f64,
    /// `messages_per_second / ceiling.messages_per_second`.
    pub ratio_to_ceiling: f64,
    /// `num_messages / normalize done`: how fast the two transactional
    /// stages got through the feed, whatever the aggregate did.
    pub transactional_stages_messages_per_second: Option<f64>,
    /// When each stage caught up, seconds after spawn.
    pub milestones: Milestones,
    /// The counters at the end.
    pub counts: Counts,
    /// Per service.
    pub services: Vec<ServiceUsage>,
    /// All services together, CPU seconds per 1,000 raw messages.
    pub total_cpu_seconds_per_1k_messages: f64,
    /// Our services' CPU time / wall time: cores they used on average.
    pub pipeline_cores: f64,
    /// Whole machine busy time / wall time (broker and other users included).
    pub machine_busy_cores: f64,
    /// Processes that did not stop cleanly on SIGTERM (should be empty).
    pub unclean_stops: Vec<String>,
    /// Per-process CPU profiles, when asked for.
    pub profiles: Vec<Profile>,
}

/// Preloads, measures the ceiling, runs the pipeline, cleans up.
pub async fn run(install: &Install, spec: &RunSpec<'_>) -> anyhow::Result<RunResult> {
    let topics = spec.registry.fresh(&spec.label, &install.all_topic_keys());
    topics.create_raw(spec.bootstrap, spec.partitions).await?;
    let result = run_on(install, spec, &topics).await;
    if let Err(err) = spec.registry.delete(&topics, spec.bootstrap).await {
        eprintln!(
            "bench: could not delete the topics of {}: {err:#}",
            spec.label
        );
    }
    result
}

async fn run_on(
    install: &Install,
    spec: &RunSpec<'_>,
    topics: &Topics,
) -> anyhow::Result<RunResult> {
    let num_messages = spec.messages.len() as u64;
    let timeout = Duration::from_secs(120 + num_messages / 500);
    let preload_started = Instant::now();
    {
        let (bootstrap, topic) = (spec.bootstrap.to_owned(), topics.raw().to_owned());
        let messages = Arc::clone(&spec.messages);
        tokio::task::spawn_blocking(move || feed::preload(&bootstrap, &topic, &messages)).await??;
    }
    let preload_seconds = preload_started.elapsed().as_secs_f64();
    eprintln!(
        "bench: [{}] preloaded {num_messages} messages in {preload_seconds:.1} s; measuring the ceiling",
        spec.label
    );
    let ceiling = {
        let (bootstrap, topic) = (spec.bootstrap.to_owned(), topics.raw().to_owned());
        tokio::task::spawn_blocking(move || {
            ceiling::measure(&bootstrap, &topic, num_messages, timeout)
        })
        .await??
    };
    eprintln!(
        "bench: [{}] ceiling {:.0} msg/s; starting {} ingest, {} normalize, 1 aggregate",
        spec.label, ceiling.messages_per_second, spec.num_instances, spec.num_instances
    );

    let pipeline_spec = PipelineSpec {
        bootstrap: spec.bootstrap.to_owned(),
        topics: topics.clone(),
        partitions: spec.partitions,
        num_instances: spec.num_instances,
        log_dir: spec.log_dir.join(&spec.label),
    };
    let ticks_per_second = procfs::clock_ticks_per_second()? as f64;
    let machine_before = procfs::machine_cpu_times()?;
    let clock = Instant::now();
    let mut pipeline = Pipeline::start(install, &pipeline_spec)?;
    let mut milestones = Milestones::default();
    let context = || {
        format!(
            "run {} (logs in {})",
            spec.label,
            pipeline_spec.log_dir.display()
        )
    };
    // A profile starts once ingest has committed a batch: every process and
    // thread exists by then, and start-up is not what we want to see.
    let recording = if spec.profile {
        let goal = Goal::FirstProgress;
        progress::wait_until(
            &mut pipeline,
            num_messages,
            clock,
            timeout,
            &mut milestones,
            goal,
        )
        .await
        .with_context(context)?;
        Some(profile::start(&pipeline, &pipeline_spec.log_dir)?)
    } else {
        None
    };
    let counts = progress::wait_until(
        &mut pipeline,
        num_messages,
        clock,
        timeout,
        &mut milestones,
        Goal::Done,
    )
    .await
    .with_context(context)?;
    let seconds = milestones.aggregate_done_seconds.unwrap_or(f64::NAN);
    // Resource use now, while every process is alive.
    let wall = clock.elapsed().as_secs_f64();
    let machine_after = procfs::machine_cpu_times()?;
    let mut services = Vec::new();
    for role in Role::ALL {
        let (mut ticks, mut rss_max, mut rss_sum, mut num_instances) = (0, 0, 0, 0);
        for instance in pipeline.of(role) {
            let pid = instance.pid().context("instance without a process")?;
            ticks += procfs::cpu_ticks(pid)?;
            let rss = procfs::peak_rss_bytes(pid)?;
            rss_max = rss_max.max(rss);
            rss_sum += rss;
            num_instances += 1;
        }
        let cpu_seconds = ticks as f64 / ticks_per_second;
        // Each stage is busy from spawn until it has caught up.
        let busy = match role {
            Role::Ingest => milestones.ingest_done_seconds,
            Role::Normalize => milestones.normalize_done_seconds,
            Role::Aggregate => milestones.aggregate_done_seconds,
        };
        let busy = busy.unwrap_or(wall) * num_instances as f64;
        let transactions = transaction_stats(&pipeline, role, busy).await;
        services.push(ServiceUsage {
            service: role.name().to_owned(),
            num_instances,
            cpu_seconds,
            cpu_seconds_per_1k_messages: cpu_seconds / num_messages as f64 * 1000.0,
            peak_rss_bytes_max: rss_max,
            peak_rss_bytes_sum: rss_sum,
            transactions,
        });
    }
    let profiles = match recording {
        Some(recording) => tokio::task::spawn_blocking(move || recording.finish()).await??,
        None => Vec::new(),
    };
    let unclean_stops = tokio::task::spawn_blocking(move || pipeline.stop()).await??;
    let total_cpu: f64 = services.iter().map(|s| s.cpu_seconds).sum();
    let messages_per_second = num_messages as f64 / seconds;
    let result = RunResult {
        label: spec.label.clone(),
        partitions: spec.partitions,
        num_instances: spec.num_instances,
        num_messages,
        num_bytes: feed::num_bytes(&spec.messages),
        preload_seconds,
        ratio_to_ceiling: messages_per_second / ceiling.messages_per_second,
        transactional_stages_messages_per_second: milestones
            .normalize_done_seconds
            .map(|done| num_messages as f64 / done),
        ceiling,
        seconds,
        messages_per_second,
        milestones,
        counts,
        total_cpu_seconds_per_1k_messages: total_cpu / num_messages as f64 * 1000.0,
        pipeline_cores: total_cpu / wall,
        machine_busy_cores: (machine_after.busy - machine_before.busy) as f64
            / ticks_per_second
            / wall,
        services,
        unclean_stops,
        profiles,
    };
    eprintln!(
        "bench: [{}] {:.0} msg/s end to end in {:.1} s ({:.2} of the ceiling)",
        result.label, result.messages_per_second, result.seconds, result.ratio_to_ceiling
    );
    Ok(result)
}

/// Transaction figures of one stage, summed over its instances; `None` if a
/// scrape fails or the stage does not export them.
async fn transaction_stats(
    pipeline: &Pipeline,
    role: Role,
    busy_seconds: f64,
) -> Option<TransactionStats> {
    let service = role.name();
    let (mut committed, mut aborted, mut consumed, mut txn_seconds) = (0.0, 0.0, 0.0, 0.0);
    let mut num_transactions_observed = 0.0;
    let mut durations = Histogram::default();
    for instance in pipeline.of(role) {
        let samples = prom::scrape(instance.metrics_addr).await.ok()?;
        let transactions = format!("customs_{service}_transactions_total");
        committed += samples.sum(&transactions, &[("outcome", "committed")])?;
        aborted += samples.sum(&transactions, &[("outcome", "aborted")])?;
        consumed += samples.sum(&format!("customs_{service}_messages_consumed_total"), &[])?;
        let duration = format!("customs_{service}_transaction_commit_duration_seconds");
        txn_seconds += samples.sum(&format!("{duration}_sum"), &[])?;
        num_transactions_observed += samples.sum(&format!("{duration}_count"), &[])?;
        durations = durations.plus(&samples.histogram(&duration)?);
    }
    let ms = |q: f64| match durations.quantile(q) {
        Some(Quantile::Interpolated(seconds)) => Some(seconds * 1000.0),
        Some(Quantile::Above(_)) | None => None,
    };
    Some(TransactionStats {
        num_committed: committed as u64,
        num_aborted: aborted as u64,
        records_per_transaction: consumed / committed,
        mean_transaction_ms: txn_seconds / num_transactions_observed * 1000.0,
        p99_transaction_ms: ms(0.99),
        share_of_busy_time: txn_seconds / busy_seconds,
    })
}
