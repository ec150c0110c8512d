//! Telemetry set-up shared by the services: `tracing` logs and the Prometheus
//! exporter.
//!
//! Both are process-global, so binaries call [`init`] once from `main`; the
//! services' `run` functions only emit. Metric names follow
//! `customs_<service>_<noun>_<unit>[_total]`; histogram buckets are explicit.

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

/// Buckets for every `*_seconds` histogram: 1 ms to 60 s, fine between
/// 50 ms and 5 s where transaction commits and end-to-end latencies fall, so
/// quantiles interpolated from buckets are close to the real ones. 0.5 must
/// stay a bound: the latency SLO rules count `le="0.5"`.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0,
    1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 10.0, 30.0, 60.0,
];

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Telemetry settings, embedded in each service's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Log format.
    pub log_format: LogFormat,
    /// `tracing` filter directive, e.g. `info,customs_ingest=debug`.
    pub log_filter: String,
    /// Where `/metrics` is served; none disables the exporter.
    pub metrics_addr: Option<SocketAddr>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_format: LogFormat::Text,
            log_filter: "info".to_owned(),
            metrics_addr: None,
        }
    }
}

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error("invalid log filter: {0}")]
    LogFilter(String),
    /// The Prometheus exporter could not start (e.g. the port is taken).
    #[error("metrics exporter: {0}")]
    Exporter(String),
}

/// Installs the global log subscriber and, when configured, the `/metrics`
/// exporter. Must run inside a Tokio runtime (the exporter serves on it).
pub fn init(config: &TelemetryConfig) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_new(&config.log_filter)
        .map_err(|err| TelemetryError::LogFilter(err.to_string()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init in one process (tests) keeps the first subscriber.
    let _already_set = match config.log_format {
        LogFormat::Text => builder.try_init().is_err(),
        LogFormat::Json => builder.json().try_init().is_err(),
    };
    if let Some(addr) = config.metrics_addr {
        install_exporter(addr)?;
    }
    Ok(())
}

/// Serves the global metrics registry as Prometheus text on `addr`/metrics,
/// every documented family with its `# HELP` text.
pub fn install_exporter(addr: SocketAddr) -> Result<(), TelemetryError> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
        .map_err(|err| TelemetryError::Exporter(err.to_string()))?
        .install()
        .map_err(|err| TelemetryError::Exporter(err.to_string()))?;
    describe_documented();
    process_metrics();
    Ok(())
}

/// How often the `process_*` families are refreshed.
const PROCESS_METRICS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The standard `process_*` families of Prometheus clients (CPU seconds,
/// resident memory, open file descriptors, threads, start time), from the
/// `metrics-process` collector, refreshed every [`PROCESS_METRICS_INTERVAL`].
fn process_metrics() {
    let collector = metrics_process::Collector::default();
    collector.describe();
    collector.collect();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROCESS_METRICS_INTERVAL);
        loop {
            tick.tick().await;
            collector.collect();
        }
    });
}

/// Sets `customs_<service>_build_info{version, revision}` to 1: which build
/// runs, for dashboards and for comparing instances. The revision is the
/// `CUSTOMS_REVISION` variable at build time (`bench/run` and the
/// `Dockerfile` can pass `git rev-parse HEAD`), else `unknown`.
pub fn build_info(service: &str) {
    metrics::gauge!(
        format!("customs_{service}_build_info"),
        "version" => env!("CARGO_PKG_VERSION"),
        "revision" => option_env!("CUSTOMS_REVISION").unwrap_or("unknown"),
    )
    .set(1.0);
}

/// Sets `customs_<service>_code_tables_info{version}` to 1 (and that of
/// the set it `replaced`, if any, to 0) and logs it: which code tables the
/// service resolves codes with (the version `customs_domain::CodeTables::version`
/// gives; the aggregate's answers carry the same in their freshness).
pub fn code_tables_info(service: &str, replaced: Option<&str>, version: &str) {
    let info = |version: &str| {
        metrics::gauge!(
            format!("customs_{service}_code_tables_info"),
            "version" => version.to_owned(),
        )
    };
    if let Some(replaced) = replaced {
        info(replaced).set(0.0);
    }
    info(version).set(1.0);
    tracing::info!(version, replaced, "code tables in use");
}

/// The metrics contract, `docs/metrics.md`: its table is the one place a
/// family's meaning is written, for operators and for `# HELP`.
const METRICS_DOC: &str = include_str!("../../../docs/metrics.md");

/// The families of [`METRICS_DOC`]'s table: (name, type, meaning).
pub fn documented_metrics() -> Vec<(&'static str, &'static str, String)> {
    METRICS_DOC
        .lines()
        .filter_map(|line| {
            // `\|` inside a cell is a literal bar (label value lists).
            let line = line.replace("\\|", "\u{1}");
            let mut cells = line.split('|').map(str::trim).skip(1);
            let name = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            let kind = cells.next()?;
            let _labels = cells.next()?;
            let meaning = cells.next()?.replace('\u{1}', "|");
            let name = METRICS_DOC.match_indices(name).next()?.1;
            let kind = ["counter", "gauge", "histogram"]
                .into_iter()
                .find(|known| *known == kind)?;
            name.starts_with("customs_")
                .then(|| (name, kind, meaning.replace('`', "")))
        })
        .collect()
}

/// Registers the `# HELP` text of every documented family with the global
/// recorder (a family shows only once it has a series).
fn describe_documented() {
    for (name, kind, meaning) in documented_metrics() {
        match kind {
            "counter" => metrics::describe_counter!(name, meaning),
            "gauge" => metrics::describe_gauge!(name, meaning),
            _ => metrics::describe_histogram!(name, meaning),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_family_has_a_type_and_a_meaning() {
        let families = documented_metrics();
        assert!(families.len() >= 40, "{}", families.len());
        for (name, _, meaning) in &families {
            assert!(!meaning.is_empty(), "{name} has no meaning");
            assert!(!meaning.contains('\u{1}'), "{name}: {meaning}");
        }
        let produced = families
            .iter()
            .find(|(name, _, _)| *name == "customs_ingest_messages_produced_total")
            .map(|(_, kind, _)| *kind);
        assert_eq!(produced, Some("counter"));
    }

    #[test]
    fn seconds_buckets_increase_and_keep_the_slo_bound() {
        assert!(SECONDS_BUCKETS.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            SECONDS_BUCKETS.contains(&0.5),
            "the SLO rules use le=\"0.5\""
        );
        let between = |low: f64, high: f64| {
            SECONDS_BUCKETS
                .iter()
                .filter(|b| (low..=high).contains(*b))
                .count()
        };
        assert!(between(0.25, 5.0) >= 11, "fine between 0.25 s and 5 s");
    }
}
