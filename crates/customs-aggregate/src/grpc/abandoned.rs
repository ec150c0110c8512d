//! Requests that end without an answer are counted too.
//!
//! tonic's transport enforces the client's `grpc-timeout` in a layer outside
//! every service: when it fires first, it answers `CANCELLED` ("Timeout
//! expired") and drops the call before a handler could count it. The same
//! happens when the client goes away. This layer sits between that timeout
//! and the stats service and counts such a call when its future is dropped
//! unfinished: `deadline_exceeded` if the client's deadline had passed,
//! `cancelled` otherwise. A call that finishes was counted by its handler
//! (or the token check) and is not counted again.
//!
//! It is also where the client's deadline is read, once, as the call
//! arrives: the [`ClientDeadline`] goes into the request's extensions, where
//! the handler finds it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::Code;
use tonic::server::NamedService;
use tower_layer::Layer;
use tower_service::Service;

use super::deadline::ClientDeadline;
use super::errors::count;

/// Taken off the client's timeout: tonic's timer started a moment before
/// this layer saw the call, and a call dropped that close to its deadline was
/// dropped for it.
const TOLERANCE: Duration = Duration::from_millis(1);

/// The layer: wraps the server's routes.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountAbandoned;

impl<S> Layer<S> for CountAbandoned {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner }
    }
}

/// The routes, counting stats calls dropped unfinished.
#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for Counted<S>
where
    S: Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let deadline = ClientDeadline::of(request.headers());
        if let Some(deadline) = deadline {
            request.extensions_mut().insert(deadline);
        }
        let watch = Watch::of(request.uri().path(), deadline);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answered = answer.await;
            if let Some(watch) = watch {
                watch.finished();
            }
            answered
        })
    }
}

/// One stats call in flight; counts itself if dropped unfinished.
struct Watch {
    method: &'static str,
    deadline: Option<Instant>,
    finished: bool,
}

impl Watch {
    /// A watch for a call of `path` if it calls the stats service.
    fn of(path: &str, deadline: Option<ClientDeadline>) -> Option<Watch> {
        Some(Watch {
            method: method(path)?,
            deadline: deadline.map(|client| client.at - TOLERANCE.min(client.timeout)),
            finished: false,
        })
    }

    fn finished(mut self) {
        self.finished = true;
    }

    /// The code an unfinished call ends with at `now`.
    fn code_at(&self, now: Instant) -> Code {
        match self.deadline {
            Some(deadline) if now >= deadline => Code::DeadlineExceeded,
            _ => Code::Cancelled,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.finished {
            count(self.method, self.code_at(Instant::now()));
        }
    }
}

/// The `method` label of a stats service path; `None` for other services.
fn method(path: &str) -> Option<&'static str> {
    const SERVICE: &str =
        <customs_proto::v1::stats_service_server::StatsServiceServer<super::Stats> as NamedService>::NAME;
    let name = path
        .strip_prefix('/')?
        .strip_prefix(SERVICE)?
        .strip_prefix('/')?;
    [
        "Query",
        "Subscribe",
        "GetIndicators",
        "Explain",
        "GetTotals",
    ]
    .into_iter()
    .find(|known| *known == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stats_methods_are_watched() {
        assert_eq!(method("/customs.v1.StatsService/Query"), Some("Query"));
        assert_eq!(
            method("/customs.v1.StatsService/GetTotals"),
            Some("GetTotals")
        );
        assert_eq!(method("/customs.v1.StatsService/Nope"), None);
        assert_eq!(method("/grpc.health.v1.Health/Check"), None);
        assert_eq!(method("/customs.v1.StatsServiceX/Query"), None);
    }

    #[test]
    fn a_dropped_call_is_late_only_after_its_deadline() {
        let request = http::Request::builder()
            .uri("/customs.v1.StatsService/Query")
            .header("grpc-timeout", "50m")
            .body(())
            .expect("request");
        let watch = Watch::of(request.uri().path(), ClientDeadline::of(request.headers()))
            .expect("a stats call");
        let deadline = watch.deadline.expect("a deadline");
        assert_eq!(
            watch.code_at(deadline - Duration::from_millis(1)),
            Code::Cancelled
        );
        assert_eq!(watch.code_at(deadline), Code::DeadlineExceeded);
        watch.finished();

        let untimed = http::Request::builder()
            .uri("/customs.v1.StatsService/Explain")
            .body(())
            .expect("request");
        let watch = Watch::of(untimed.uri().path(), ClientDeadline::of(untimed.headers()))
            .expect("a stats call");
        assert_eq!(watch.code_at(Instant::now()), Code::Cancelled);
        watch.finished();
    }

    #[test]
    fn the_routes_get_the_deadline_read_on_arrival() {
        #[derive(Clone)]
        struct Expects;
        impl Service<http::Request<()>> for Expects {
            type Response = Option<Duration>;
            type Error = std::convert::Infallible;
            type Future = std::future::Ready<Result<Option<Duration>, Self::Error>>;

            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, request: http::Request<()>) -> Self::Future {
                let seen = request.extensions().get::<ClientDeadline>();
                std::future::ready(Ok(seen.map(|deadline| deadline.timeout)))
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let mut layered = CountAbandoned.layer(Expects);
        let timed =
            runtime.block_on(layered.call(call("/customs.v1.StatsService/Query", Some("3S"))));
        assert_eq!(timed, Ok(Some(Duration::from_secs(3))));
        let untimed = runtime.block_on(layered.call(call("/customs.v1.StatsService/Query", None)));
        assert_eq!(untimed, Ok(None));
    }

    /// A stand-in for the routes: answers at once, or never.
    #[derive(Clone)]
    struct Routes {
        answers: bool,
    }

    impl Service<http::Request<()>> for Routes {
        type Response = ();
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<(), Self::Error>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            if self.answers {
                Box::pin(std::future::ready(Ok(())))
            } else {
                Box::pin(std::future::pending())
            }
        }
    }

    fn call(path: &str, timeout: Option<&str>) -> http::Request<()> {
        let mut request = http::Request::builder().uri(path);
        if let Some(timeout) = timeout {
            request = request.header("grpc-timeout", timeout);
        }
        request.body(()).expect("request")
    }

    #[test]
    fn every_call_dropped_unanswered_is_counted_once_by_how_it_ended() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let page = recorder.handle();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        metrics::with_local_recorder(&recorder, || {
            let mut never = CountAbandoned.layer(Routes { answers: false });
            let mut at_once = CountAbandoned.layer(Routes { answers: true });
            // tonic's timeout drops it after the deadline.
            let late = never.call(call("/customs.v1.StatsService/Query", Some("1m")));
            std::thread::sleep(Duration::from_millis(5));
            drop(late);
            // The client went away before its deadline, or had none.
            drop(never.call(call("/customs.v1.StatsService/Query", Some("1H"))));
            drop(never.call(call("/customs.v1.StatsService/Explain", None)));
            // Answered: the handler counted it, not this layer.
            runtime
                .block_on(at_once.call(call("/customs.v1.StatsService/Query", Some("1n"))))
                .expect("answered");
            // Health and reflection are not stats calls.
            drop(never.call(call("/grpc.health.v1.Health/Check", Some("1n"))));
        });
        let page = page.render();
        let count = |labels: &str| {
            page.lines()
                .find_map(|line| {
                    line.strip_prefix(&format!(
                        "customs_aggregate_grpc_requests_total{{{labels}}} "
                    ))
                })
                .map(str::to_owned)
        };
        assert_eq!(
            count(r#"method="Query",code="deadline_exceeded""#).as_deref(),
            Some("1"),
            "{page}"
        );
        assert_eq!(
            count(r#"method="Query",code="cancelled""#).as_deref(),
            Some("1"),
            "{page}"
        );
        assert_eq!(
            count(r#"method="Explain",code="cancelled""#).as_deref(),
            Some("1"),
            "{page}"
        );
        assert_eq!(
            page.matches("customs_aggregate_grpc_requests_total{")
                .count(),
            3,
            "{page}"
        );
    }
}
