//! `customs-aggregate`: parse CLI and config, start telemetry, run until a signal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use customs_aggregate::Config;

/// Aggregate service of the customs-declaration pipeline.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML config file (see deploy/config/aggregate.toml).
    #[arg(long, env = "CUSTOMS_AGGREGATE_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(err) => return customs_service::config_error("customs-aggregate", &err),
    };
    if let Err(err) = customs_telemetry::init(&config.telemetry) {
        eprintln!("customs-aggregate: {err}");
        return ExitCode::FAILURE;
    }
    let shutdown = customs_service::shutdown_on_signal();
    match customs_aggregate::run(config, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "aggregate failed");
            ExitCode::FAILURE
        }
    }
}
