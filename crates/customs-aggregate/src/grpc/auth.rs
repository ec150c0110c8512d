//! Bearer-token authentication for the stats service (off unless a token is
//! configured). Health and reflection stay open, so probes and tooling work.
//!
//! The token is compared in constant time and never logged; a rejected call
//! is `UNAUTHENTICATED` through the error table and counted with
//! `method="any"` (an interceptor does not see the method).

use tonic::{Request, Status};

use super::errors::{ApiError, count};

/// Checks `authorization: Bearer <token>` when a token is configured.
#[derive(Clone)]
pub struct BearerAuth {
    token: Option<String>,
}

impl BearerAuth {
    /// Requires `token` when set.
    pub fn new(token: Option<String>) -> Self {
        BearerAuth {
            token: token.filter(|token| !token.is_empty()),
        }
    }

    /// The interceptor.
    pub fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.token else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if presented.is_some_and(|presented| same(presented.as_bytes(), expected.as_bytes())) {
            return Ok(request);
        }
        let error = ApiError::Unauthenticated;
        count("any", error.code());
        Err(error.into())
    }
}

/// Constant-time equality (the length is not secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(auth: &BearerAuth, header: Option<&str>) -> Result<(), tonic::Code> {
        let mut request = Request::new(());
        if let Some(header) = header {
            request
                .metadata_mut()
                .insert("authorization", header.parse().expect("ascii"));
        }
        auth.check(request).map(|_| ()).map_err(|s| s.code())
    }

    #[test]
    fn only_the_configured_token_passes() {
        let open = BearerAuth::new(None);
        assert_eq!(call(&open, None), Ok(()));
        let closed = BearerAuth::new(Some("s3cret".into()));
        assert_eq!(call(&closed, Some("Bearer s3cret")), Ok(()));
        assert_eq!(
            call(&closed, Some("Bearer s3creT")),
            Err(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            call(&closed, Some("s3cret")),
            Err(tonic::Code::Unauthenticated)
        );
        assert_eq!(call(&closed, None), Err(tonic::Code::Unauthenticated));
    }
}
