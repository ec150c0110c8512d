//! The one table from API errors to gRPC status codes, and the request
//! counter every RPC goes through.
//!
//! Handlers return [`ApiError`]; [`finish`] maps it to a [`Status`] and
//! counts `customs_aggregate_grpc_requests_total{method,code}`. Internal
//! error text is logged here and never reaches the client.

use customs_domain::stats::Misaligned;
use customs_domain::stats::time::{DAY, HOUR};
use tonic::{Code, Status};

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A request field is wrong; the message names the field.
    #[error("{field}: {message}")]
    InvalidArgument {
        /// Path of the field, e.g. `group_by[2]`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The declaration, inventory number or guid is unknown.
    #[error("{0}")]
    NotFound(String),
    /// What was asked is held by another instance, or is moving between
    /// instances; the message says which, and that a retry may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// The request's deadline passed before the answer was ready.
    #[error("deadline exceeded before the answer was ready")]
    DeadlineExceeded,
    /// The server is shutting down.
    #[error("server is shutting down; call another instance or retry")]
    ShuttingDown,
    /// Too many answers or subscriptions at once (`api.max_*`); the
    /// message says which limit, and that a retry with backoff may succeed.
    #[error("{0}")]
    ResourceExhausted(String),
    /// Missing or wrong bearer token.
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    /// A bug or a broken invariant; the text is logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A field-level validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A range that cuts a pane, reported on `field`.
    pub fn misaligned(field: &str, misaligned: &Misaligned) -> Self {
        let size = match misaligned.granularity {
            1 => "whole minutes".to_owned(),
            HOUR => "whole hours".to_owned(),
            DAY => "whole China-time days (00:00+08:00)".to_owned(),
            other => format!("multiples of {other} minutes"),
        };
        ApiError::invalid(
            field,
            format!(
                "must align to {size} here: it cuts the pane starting {}",
                customs_domain::stats::time::format_minute(misaligned.pane_start)
            ),
        )
    }

    /// The gRPC code of this error: THE mapping table.
    pub fn code(&self) -> Code {
        match self {
            ApiError::InvalidArgument { .. } => Code::InvalidArgument,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::DeadlineExceeded => Code::DeadlineExceeded,
            ApiError::ShuttingDown | ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::Unauthenticated => Code::Unauthenticated,
            ApiError::ResourceExhausted(_) => Code::ResourceExhausted,
            ApiError::Internal(_) => Code::Internal,
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Status {
        if let ApiError::Internal(detail) = &error {
            tracing::error!(error = %detail, "internal error answering a request");
        }
        Status::new(error.code(), error.to_string())
    }
}

/// Closed label set for the `code` label.
pub fn code_label(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::InvalidArgument => "invalid_argument",
        Code::NotFound => "not_found",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::Unavailable => "unavailable",
        Code::Unauthenticated => "unauthenticated",
        Code::ResourceExhausted => "resource_exhausted",
        Code::Internal => "internal",
        Code::Cancelled => "cancelled",
        _ => "other",
    }
}

/// Counts one request of `method` and maps its error.
pub fn finish<T>(method: &'static str, result: Result<T, ApiError>) -> Result<T, Status> {
    let code = result.as_ref().map_or_else(ApiError::code, |_| Code::Ok);
    count(method, code);
    result.map_err(Status::from)
}

/// Counts one request of `method` that ended with `code`.
pub fn count(method: &'static str, code: Code) {
    metrics::counter!(
        "customs_aggregate_grpc_requests_total",
        "method" => method,
        "code" => code_label(code),
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_text_never_reaches_the_client() {
        let status = Status::from(ApiError::Internal("lock poisoned at x.rs:12".into()));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn invalid_arguments_name_the_field() {
        let status = Status::from(ApiError::invalid("group_by[2]", "unknown dimension"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "group_by[2]: unknown dimension");
    }
}
