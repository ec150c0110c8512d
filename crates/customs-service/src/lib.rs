//! What every service binary needs at start, so the `main.rs` files stay tiny:
//! layered config loading ([`config`]), the config-error exit code, a
//! [`CancellationToken`] cancelled by SIGINT or SIGTERM ([`shutdown_on_signal`]),
//! [`run_service`], which strings them together, and code tables reloaded on
//! SIGHUP ([`tables`]).

pub mod config;
pub mod tables;

use std::process::ExitCode;

pub use config::{ConfigError, EXIT_CONFIG, load};
use tokio_util::sync::CancellationToken;

/// The whole life of a service binary after CLI parsing: load the config
/// (exit 64 on error), start telemetry, run until SIGINT/SIGTERM or a fatal
/// error, and map the outcome to an exit code.
pub async fn run_service<C, E, Fut>(
    program: &str,
    load: impl FnOnce() -> Result<C, ConfigError>,
    telemetry: impl FnOnce(&C) -> &customs_telemetry::TelemetryConfig,
    run: impl FnOnce(C, CancellationToken) -> Fut,
) -> ExitCode
where
    E: std::fmt::Display,
    Fut: Future<Output = Result<(), E>>,
{
    let config = match load() {
        Ok(config) => config,
        Err(err) => return config_error(program, &err),
    };
    if let Err(err) = customs_telemetry::init(telemetry(&config)) {
        eprintln!("{program}: {err}");
        return ExitCode::FAILURE;
    }
    customs_telemetry::build_info(program.strip_prefix("customs-").unwrap_or(program));
    match run(config, shutdown_on_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, program, "service failed");
            ExitCode::FAILURE
        }
    }
}

/// Prints a configuration error and returns exit code 64 (`EX_USAGE`).
pub fn config_error(program: &str, err: &ConfigError) -> ExitCode {
    eprintln!("{program}: configuration error: {err}");
    ExitCode::from(EXIT_CONFIG as u8)
}

/// A token cancelled on the first SIGINT or SIGTERM. Must be called inside a
/// Tokio runtime.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received, draining");
        cancel.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGTERM, only SIGINT stops the service");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
