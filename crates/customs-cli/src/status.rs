//! `customs status`: is a running aggregate serving, and how fresh are its
//! figures?
//!
//! Asks one aggregate instance over gRPC — its health for
//! `customs.v1.StatsService` and a `GetTotals` answer's freshness — and
//! prints one JSON object: serving status, watermark and its lag behind the
//! wall clock, partitions still restoring, state version, statistics-topic
//! offsets read, declarations counted, code tables' version; with `--metrics` (each service's
//! `/metrics` URL) also each service's consumer lag, per partition and in
//! all, from its `customs_<service>_consumer_lag_messages` gauge. Exit
//! status 0 when the instance is serving and restores nothing, 1 otherwise
//! (for scripts and probes), 2 when it (or a metrics page) cannot be asked
//! at all.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use clap::Args;
use customs_proto::v1;
use customs_proto::v1::stats_service_client::StatsServiceClient;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// Options of `customs status`.
#[derive(Args)]
pub struct StatusArgs {
    /// The aggregate's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    grpc: String,
    /// Bearer token, when the API requires one (else `CUSTOMS_API_TOKEN`).
    #[arg(long, env = "CUSTOMS_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A service's metrics page, e.g. `http://127.0.0.1:9103/metrics`
    /// (repeat for each service): adds its consumer lag.
    #[arg(long = "metrics")]
    metrics: Vec<String>,
}

/// What is printed.
#[derive(serde::Serialize)]
struct Status {
    serving: String,
    watermark: String,
    watermark_lag_seconds: i64,
    restoring_partitions: Vec<i32>,
    version: u64,
    statistics_offsets: BTreeMap<i32, i64>,
    declarations: u64,
    code_tables_version: String,
    /// Per service: records of its input not committed yet.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    consumer_lag: BTreeMap<String, Lag>,
}

/// One service's consumer lag, as its metrics page reports it.
#[derive(Debug, Default, PartialEq, serde::Serialize)]
struct Lag {
    total: u64,
    partitions: BTreeMap<i32, u64>,
}

/// Runs `customs status`.
pub async fn run(args: StatusArgs) -> ExitCode {
    match status(&args).await {
        Ok(status) => {
            let healthy = status.serving == "SERVING" && status.restoring_partitions.is_empty();
            match serde_json::to_string_pretty(&status) {
                Ok(json) => println!("{json}"),
                Err(err) => eprintln!("customs status: {err}"),
            }
            if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("customs status: {}: {err:#}", args.grpc);
            ExitCode::from(2)
        }
    }
}

async fn status(args: &StatusArgs) -> anyhow::Result<Status> {
    let channel = Endpoint::from_shared(args.grpc.clone())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await?;
    let serving = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "customs.v1.StatsService".to_owned(),
        })
        .await?
        .into_inner()
        .status()
        .as_str_name()
        .to_owned();
    let mut request = tonic::Request::new(v1::GetTotalsRequest::default());
    if let Some(token) = &args.token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    let totals = StatsServiceClient::new(channel)
        .get_totals(request)
        .await?
        .into_inner();
    let freshness = totals.freshness.unwrap_or_default();
    let mut consumer_lag = BTreeMap::new();
    for url in &args.metrics {
        let page = metrics_page(url)
            .await
            .with_context(|| format!("metrics page {url}"))?;
        consumer_lag.extend(lag_of(&page));
    }
    Ok(Status {
        serving,
        watermark: freshness.watermark,
        watermark_lag_seconds: freshness.watermark_lag_seconds,
        restoring_partitions: freshness.restoring_partitions,
        version: freshness.version,
        statistics_offsets: freshness.changelog_offsets.into_iter().collect(),
        declarations: totals.num_declarations,
        code_tables_version: freshness.code_tables_version,
        consumer_lag,
    })
}

/// The body of the page at `url` (`http://host:port/path`), by a plain
/// HTTP/1.0 GET: the services' exporter speaks nothing else.
async fn metrics_page(url: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .context("only http:// metrics URLs are read")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, "metrics"));
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(host).await?;
        let request = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(10), fetch)
        .await
        .context("no answer within 10 s")??;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("not an HTTP response")?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.") && head.split_whitespace().nth(1) == Some("200"),
        "answered {}",
        head.lines().next().unwrap_or_default()
    );
    Ok(body.to_owned())
}

/// Each service's consumer lag in a Prometheus text page:
/// `customs_<service>_consumer_lag_messages{partition="N"} V` lines.
fn lag_of(page: &str) -> BTreeMap<String, Lag> {
    let mut lags: BTreeMap<String, Lag> = BTreeMap::new();
    for line in page.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((name, labels)) = series.split_once('{') else {
            continue;
        };
        let Some(service) = name
            .strip_prefix("customs_")
            .and_then(|rest| rest.strip_suffix("_consumer_lag_messages"))
        else {
            continue;
        };
        let partition = labels
            .split(',')
            .find_map(|label| label.strip_prefix("partition=\""))
            .and_then(|rest| rest.split('"').next())
            .and_then(|partition| partition.parse::<i32>().ok());
        let (Some(partition), Ok(value)) = (partition, value.parse::<f64>()) else {
            continue;
        };
        // A gauge of whole records; never negative in practice.
        let records = value.max(0.0) as u64;
        let lag = lags.entry(service.to_owned()).or_default();
        lag.partitions.insert(partition, records);
        lag.total += records;
    }
    lags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_read_per_service_and_partition() {
        let page = "\
# HELP customs_aggregate_consumer_lag_messages records not yet committed
# TYPE customs_aggregate_consumer_lag_messages gauge
customs_aggregate_consumer_lag_messages{partition=\"0\"} 12
customs_aggregate_consumer_lag_messages{partition=\"2\"} 3
customs_normalize_consumer_lag_messages{partition=\"1\"} 0
customs_aggregate_messages_consumed_total 99
customs_ingest_consumer_lag_messages{partition=\"x\"} 5
";
        let lags = lag_of(page);
        assert_eq!(lags.len(), 2, "{lags:?}");
        let aggregate = &lags["aggregate"];
        assert_eq!(aggregate.total, 15);
        assert_eq!(aggregate.partitions, BTreeMap::from([(0, 12), (2, 3)]));
        assert_eq!(lags["normalize"].total, 0);
        assert_eq!(lags["normalize"].partitions, BTreeMap::from([(1, 0)]));
    }
}
