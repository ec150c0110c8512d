//! Deadlines: the client's `grpc-timeout`, honoured by running each answer
//! on the blocking pool (answers fold panes under the view's read lock, which
//! must not stall the async runtime) and giving up with `DEADLINE_EXCEEDED`
//! once the deadline passes.
//!
//! The client's deadline is read once, when the call arrives: the
//! [`super::abandoned`] layer puts a [`ClientDeadline`] in the request's
//! extensions for the handler. The answer's deadline is taken slightly before
//! the client's (5 %, at most 20 ms),
//! so this server usually answers `DEADLINE_EXCEEDED` itself before tonic's
//! transport-level timeout answers `CANCELLED`; when tonic's fires first (a
//! deadline already passed on arrival), [`super::abandoned`] counts the call.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::errors::ApiError;
use crate::state::Shared;

/// The client's `grpc-timeout`, from the moment the call arrived.
#[derive(Clone, Copy, Debug)]
pub struct ClientDeadline {
    /// When the client gives up.
    pub at: std::time::Instant,
    /// The timeout the client sent.
    pub timeout: Duration,
}

impl ClientDeadline {
    /// The deadline of a call arriving now with `headers`, if it has one.
    pub fn of(headers: &http::HeaderMap) -> Option<Self> {
        let timeout = parse_grpc_timeout(headers.get("grpc-timeout")?.to_str().ok()?)?;
        Some(ClientDeadline {
            at: std::time::Instant::now().checked_add(timeout)?,
            timeout,
        })
    }
}

/// When the answer must be ready, if the client set a timeout.
pub fn of(extensions: &tonic::Extensions) -> Option<Instant> {
    let client = extensions.get::<ClientDeadline>()?;
    let margin = (client.timeout / 20).min(Duration::from_millis(20));
    Some(Instant::from_std(client.at) - margin)
}

/// `grpc-timeout` per the gRPC over HTTP/2 spec: up to 8 digits and a unit.
fn parse_grpc_timeout(text: &str) -> Option<Duration> {
    if text.len() < 2 || text.len() > 9 {
        return None;
    }
    let (digits, unit) = text.split_at(text.len() - 1);
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value.checked_mul(3600)?),
        "M" => Duration::from_secs(value.checked_mul(60)?),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// Computes `answer` on the blocking pool before `deadline`.
pub async fn compute<T, F>(
    state: &Arc<Shared>,
    deadline: Option<Instant>,
    answer: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Shared) -> Result<T, ApiError> + Send + 'static,
{
    let state = Arc::clone(state);
    let passed = move || deadline.is_some_and(|deadline| Instant::now() >= deadline);
    let task = tokio::task::spawn_blocking(move || {
        // It may have waited for a blocking thread or the read lock.
        if passed() {
            return Err(ApiError::DeadlineExceeded);
        }
        let answer = answer(&state)?;
        if passed() {
            return Err(ApiError::DeadlineExceeded);
        }
        Ok(answer)
    });
    let joined = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, task)
            .await
            .map_err(|_| ApiError::DeadlineExceeded)?,
        None => task.await,
    };
    joined.map_err(|err| ApiError::Internal(format!("answer task failed: {err}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_per_the_spec() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("123456789S"), None);
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout("m"), None);
    }
}
