//! `customs status`: is a running aggregate serving, and how fresh are its
//! figures?
//!
//! Asks one aggregate instance over gRPC — its health for
//! `customs.v1.StatsService` and a `GetTotals` answer's freshness — and
//! prints one JSON object: serving status, watermark and its lag behind the
//! wall clock, partitions still restoring, state version, statistics-topic
//! offsets read, declarations counted. Exit status 0 when the instance is
//! serving and restores nothing, 1 otherwise (for scripts and probes), 2
//! when it cannot be asked at all.

use std::process::ExitCode;
use std::time::Duration;

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
}

/// What is printed.
#[derive(serde::Serialize)]
struct Status {
    serving: String,
    watermark: String,
    watermark_lag_seconds: i64,
    restoring_partitions: Vec<i32>,
    version: u64,
    statistics_offsets: std::collections::BTreeMap<i32, i64>,
    declarations: u64,
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
    Ok(Status {
        serving,
        watermark: freshness.watermark,
        watermark_lag_seconds: freshness.watermark_lag_seconds,
        restoring_partitions: freshness.restoring_partitions,
        version: freshness.version,
        statistics_offsets: freshness.changelog_offsets.into_iter().collect(),
        declarations: totals.num_declarations,
    })
}
