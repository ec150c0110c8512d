//! `customs-ingest`: parse the CLI, then load config, start telemetry and run
//! until a signal (see `customs_service::run_service`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: the services allocate and free
/// many small buffers per message (measured in bench/results/profile-*.txt).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Ingest service of the customs-declaration pipeline.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML config file (see deploy/config/ingest.toml).
    #[arg(long, env = "CUSTOMS_INGEST_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let load = || customs_ingest::Config::load(cli.config.as_deref());
    customs_service::run_service(
        "customs-ingest",
        load,
        |config| &config.telemetry,
        customs_ingest::run,
    )
    .await
}
