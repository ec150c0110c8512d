//! What every service binary needs at start, so the `main.rs` files stay tiny:
//! layered config loading ([`config`]), the config-error exit code, and a
//! [`CancellationToken`] cancelled by SIGINT or SIGTERM ([`shutdown_on_signal`]).

pub mod config;

use std::process::ExitCode;

pub use config::{ConfigError, EXIT_CONFIG, load};
use tokio_util::sync::CancellationToken;

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
