//! Event-to-queryable latency at a fixed offered load, measured two ways.
//!
//! Fresh services on fresh topics; after a warm-up marker has gone all the
//! way through (so every consumer has joined), a paced producer offers `rate`
//! messages/s for `seconds`, then the run waits until the pipeline drained.
//!
//! 1. **Histogram**: `customs_aggregate_event_to_queryable_seconds` from the
//!    aggregate's `/metrics`, the difference of the scrapes after and before
//!    the load (so the warm-up does not count); quantiles are
//!    bucket-interpolated (see [`crate::prom`]). If the aggregate does not
//!    export the metric, the result is `None` and the report says "n/a".
//! 2. **Markers**: one valid declaration at a time of a category the load
//!    never contains ([`feed::MARKER_CATEGORY`]); its latency is from just
//!    before it is handed to the producer until `GetTotals` first shows it,
//!    polled every [`MARKER_POLL`] (so samples are rounded up to that).
//!    Independent of the service's own instrumentation.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use customs_domain::generator::GeneratedMessage;
use customs_proto::v1;
use customs_proto::v1::stats_service_client::StatsServiceClient;
use serde::Serialize;
use tonic::transport::Channel;

use crate::api::{self, ApiLatency};
use crate::feed::{self, Sender};
use crate::progress;
use crate::prom::{self, Histogram, Quantile};
use crate::services::{Install, Pipeline, PipelineSpec, Role};
use crate::topics::{Registry, Topics};

/// The aggregate's latency histogram.
pub const METRIC: &str = "customs_aggregate_event_to_queryable_seconds";
/// How often a marker's visibility is checked.
pub const MARKER_POLL: Duration = Duration::from_millis(10);
/// Pause between one marker becoming visible and the next one.
const MARKER_GAP: Duration = Duration::from_millis(200);
/// A marker not visible by then is a failure of the run.
const MARKER_TIMEOUT: Duration = Duration::from_secs(60);

/// What to run.
pub struct LatencySpec<'a> {
    /// Broker address.
    pub bootstrap: &'a str,
    /// Partitions per topic.
    pub partitions: i32,
    /// The load as a fraction of the main run's throughput, if so chosen.
    pub fraction: Option<f64>,
    /// Offered load, messages/s.
    pub rate: f64,
    /// How long to offer it.
    pub seconds: f64,
    /// Generator seed.
    pub seed: u64,
    /// Where service logs go.
    pub log_dir: &'a Path,
    /// Where the run's topics are registered until deleted.
    pub registry: &'a Registry,
}

/// A quantile in seconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Seconds {
    /// The value; for `above_largest_bucket`, the largest finite bound.
    pub seconds: f64,
    /// The rank fell in the `+Inf` bucket: the true value is larger.
    pub above_largest_bucket: bool,
}

/// Quantiles of the aggregate's histogram over the measured load.
#[derive(Debug, Clone, Serialize)]
pub struct HistogramQuantiles {
    /// Observations during the load and drain.
    pub num_observations: f64,
    /// Median, bucket-interpolated.
    pub p50: Seconds,
    /// 99th percentile, bucket-interpolated.
    pub p99: Seconds,
}

/// Marker samples.
#[derive(Debug, Clone, Serialize)]
pub struct MarkerStats {
    /// Markers measured.
    pub num_samples: usize,
    /// Visibility poll interval.
    pub poll_interval_ms: u64,
    /// Median of the samples (nearest rank).
    pub p50_seconds: f64,
    /// 99th percentile of the samples (nearest rank; the max below 100 samples).
    pub p99_seconds: f64,
    /// Largest sample.
    pub max_seconds: f64,
}

/// The outcome.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyResult {
    /// Partitions per topic; one instance per service.
    pub partitions: i32,
    /// The offered rate as a fraction of the main run's throughput, if so
    /// chosen (else `--rate`).
    pub fraction_of_max: Option<f64>,
    /// Asked-for rate.
    pub offered_rate: f64,
    /// Messages sent / time taken to send them.
    pub achieved_rate: f64,
    /// Load duration.
    pub seconds: f64,
    /// Load messages sent (markers not included).
    pub num_messages: u64,
    /// From the end of the load until the pipeline drained.
    pub drain_seconds: f64,
    /// `None` when the aggregate does not export [`METRIC`].
    pub histogram: Option<HistogramQuantiles>,
    /// `None` when no marker was measured.
    pub markers: Option<MarkerStats>,
    /// The API on the state the run left, measured after the drain.
    pub api: ApiLatency,
}

/// Runs the latency measurement; topics and processes are cleaned up.
pub async fn run(install: &Install, spec: &LatencySpec<'_>) -> anyhow::Result<LatencyResult> {
    let topics = spec.registry.fresh("latency", &install.all_topic_keys());
    topics.create_raw(spec.bootstrap, spec.partitions).await?;
    let result = run_on(install, spec, &topics).await;
    if let Err(err) = spec.registry.delete(&topics, spec.bootstrap).await {
        eprintln!("bench: could not delete the latency topics: {err:#}");
    }
    result
}

async fn run_on(
    install: &Install,
    spec: &LatencySpec<'_>,
    topics: &Topics,
) -> anyhow::Result<LatencyResult> {
    let num_load = (spec.rate * spec.seconds).round() as usize;
    let load: Arc<[GeneratedMessage]> = feed::generate_without_markers(num_load, spec.seed).into();
    // Enough for one marker per gap over the whole load, plus the warm-up.
    let max_markers = (spec.seconds / MARKER_GAP.as_secs_f64()).ceil() as usize + 2;
    // The API phase uses its own markers after the load's.
    let markers = feed::markers(max_markers + api::NUM_UPDATES, spec.seed)?;
    let (markers, api_markers) = markers.split_at(max_markers);
    let log_dir = spec.log_dir.join(format!("latency-{:.0}", spec.rate));
    let mut pipeline = Pipeline::start(
        install,
        &PipelineSpec {
            bootstrap: spec.bootstrap.to_owned(),
            topics: topics.clone(),
            partitions: spec.partitions,
            num_instances: 1,
            log_dir: log_dir.clone(),
        },
    )?;
    let aggregate_metrics = pipeline
        .of(Role::Aggregate)
        .next()
        .context("no aggregate")?
        .metrics_addr;
    let mut client = connect(&mut pipeline).await?;
    let mut marker_sender = Sender::new(spec.bootstrap, topics.raw())?;

    // Warm-up: the first marker through proves every stage is assigned and flowing.
    let warm_up = measure_marker(&mut client, &mut marker_sender, &markers[0], 1).await;
    let warm_up =
        warm_up.with_context(|| format!("warm-up marker (logs in {})", log_dir.display()))?;
    eprintln!(
        "bench: [latency] pipeline flowing (warm-up marker visible after {:.2} s); offering {:.0} msg/s for {} s",
        warm_up.as_secs_f64(),
        spec.rate,
        spec.seconds
    );
    let before = prom::scrape(aggregate_metrics).await?.histogram(METRIC);

    let load_task = {
        let (bootstrap, topic, rate) = (
            spec.bootstrap.to_owned(),
            topics.raw().to_owned(),
            spec.rate,
        );
        let load = Arc::clone(&load);
        tokio::task::spawn_blocking(move || paced(&bootstrap, &topic, &load, rate))
    };
    let mut samples = Vec::new();
    let mut num_markers = 1;
    while !load_task.is_finished() && num_markers < markers.len() {
        pipeline.ensure_running()?;
        let marker = &markers[num_markers];
        num_markers += 1;
        let latency =
            measure_marker(&mut client, &mut marker_sender, marker, num_markers as u64).await?;
        samples.push(latency.as_secs_f64());
        tokio::time::sleep(MARKER_GAP).await;
    }
    let (num_sent, send_seconds) = load_task.await??;
    let drain_clock = Instant::now();
    let expected = num_sent + num_markers as u64;
    progress::wait_until_done(
        &mut pipeline,
        expected,
        drain_clock,
        Duration::from_secs(300),
    )
    .await
    .with_context(|| format!("latency run drain (logs in {})", log_dir.display()))?;
    let drain_seconds = drain_clock.elapsed().as_secs_f64();
    let after = prom::scrape(aggregate_metrics).await?.histogram(METRIC);
    let api = api::measure(&mut client, &mut marker_sender, api_markers)
        .await
        .with_context(|| format!("API latency (logs in {})", log_dir.display()))?;
    marker_sender.finish()?;
    let unclean = tokio::task::spawn_blocking(move || pipeline.stop()).await??;
    if !unclean.is_empty() {
        eprintln!("bench: [latency] did not stop cleanly: {unclean:?}");
    }
    let histogram = after.map(|after| match before {
        Some(before) => after.since(&before),
        None => after,
    });
    Ok(LatencyResult {
        partitions: spec.partitions,
        fraction_of_max: spec.fraction,
        offered_rate: spec.rate,
        achieved_rate: num_sent as f64 / send_seconds,
        seconds: spec.seconds,
        num_messages: num_sent,
        drain_seconds,
        histogram: histogram.as_ref().and_then(quantiles),
        markers: marker_stats(&mut samples),
        api,
    })
}

/// Connects to the aggregate's gRPC port once it listens.
async fn connect(pipeline: &mut Pipeline) -> anyhow::Result<StatsServiceClient<Channel>> {
    let addr = pipeline.grpc_addr()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        pipeline.ensure_running()?;
        match StatsServiceClient::connect(format!("http://{addr}")).await {
            Ok(client) => return Ok(client),
            Err(err) if Instant::now() > deadline => {
                return Err(err).context("connecting to the aggregate's gRPC port");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Declarations of the marker category visible to queries.
async fn visible_markers(client: &mut StatsServiceClient<Channel>) -> anyhow::Result<u64> {
    let category = v1::TradeCategory::from(feed::MARKER_CATEGORY);
    let response = client
        .get_totals(v1::GetTotalsRequest {
            category: category as i32,
            direction: 0,
        })
        .await?
        .into_inner();
    Ok(response
        .rows
        .iter()
        .filter(|row| row.category() == category)
        .map(|row| row.num_declarations)
        .sum())
}

/// Sends one marker and waits until it is the `ordinal`-th visible one.
async fn measure_marker(
    client: &mut StatsServiceClient<Channel>,
    sender: &mut Sender,
    marker: &GeneratedMessage,
    ordinal: u64,
) -> anyhow::Result<Duration> {
    let sent = Instant::now();
    sender.send(marker)?;
    loop {
        sender.poll();
        let visible = visible_markers(client).await?;
        if visible >= ordinal {
            if visible > ordinal {
                bail!("{visible} markers visible after sending {ordinal}");
            }
            return Ok(sent.elapsed());
        }
        if sent.elapsed() > MARKER_TIMEOUT {
            bail!("marker {ordinal} not visible after {MARKER_TIMEOUT:?}");
        }
        tokio::time::sleep(MARKER_POLL).await;
    }
}

/// Sends `messages` at `rate` per second (in small bursts every millisecond);
/// returns how many were sent and how long it took, acknowledgements included.
fn paced(
    bootstrap: &str,
    topic: &str,
    messages: &[GeneratedMessage],
    rate: f64,
) -> anyhow::Result<(u64, f64)> {
    let mut sender = Sender::new(bootstrap, topic)?;
    let started = Instant::now();
    let mut next = 0usize;
    while next < messages.len() {
        let due = ((started.elapsed().as_secs_f64() * rate) as usize).min(messages.len());
        while next < due {
            sender.send(&messages[next])?;
            next += 1;
        }
        sender.poll();
        std::thread::sleep(Duration::from_millis(1));
    }
    let num_sent = sender.finish()?;
    Ok((num_sent, started.elapsed().as_secs_f64()))
}

fn quantiles(histogram: &Histogram) -> Option<HistogramQuantiles> {
    let seconds = |quantile: Quantile| match quantile {
        Quantile::Interpolated(value) => Seconds {
            seconds: value,
            above_largest_bucket: false,
        },
        Quantile::Above(bound) => Seconds {
            seconds: bound,
            above_largest_bucket: true,
        },
    };
    Some(HistogramQuantiles {
        num_observations: histogram.count(),
        p50: seconds(histogram.quantile(0.5)?),
        p99: seconds(histogram.quantile(0.99)?),
    })
}

fn marker_stats(samples: &mut [f64]) -> Option<MarkerStats> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    Some(MarkerStats {
        num_samples: samples.len(),
        poll_interval_ms: MARKER_POLL.as_millis() as u64,
        p50_seconds: nearest_rank(samples, 0.5),
        p99_seconds: nearest_rank(samples, 0.99),
        max_seconds: samples[samples.len() - 1],
    })
}

/// The `q` quantile of non-empty ascending `sorted` by nearest rank: the
/// smallest sample with at least `q` of them at or below it.
pub fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let mut samples: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let Some(stats) = marker_stats(&mut samples) else {
            panic!("no stats");
        };
        assert_eq!(stats.p50_seconds, 5.0);
        assert_eq!(stats.p99_seconds, 10.0);
        assert_eq!(stats.max_seconds, 10.0);
        assert!(marker_stats(&mut []).is_none());
    }
}
