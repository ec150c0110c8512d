//! `customs.v1.StatsService` over tonic, with health and reflection.
//!
//! - [`query`], [`subscribe`], [`indicators`], [`explain`], [`totals`]: one
//!   file per RPC; [`request`] validates requests field by field;
//!   [`errors`] is the one table from API errors to status codes and counts
//!   every request; [`deadline`] runs answers on the blocking pool within the
//!   client's `grpc-timeout`; [`auth`] checks the optional bearer token;
//!   [`abandoned`] counts calls dropped unanswered (tonic's transport timeout,
//!   a client gone away), so every call is counted once.
//! - Every answer carries [`v1::Freshness`]: watermark, state version,
//!   statistics-topic offsets read (`changelog_offsets`), partitions still
//!   restoring.
//! - TLS (rustls with ring) when `api.tls_cert`/`api.tls_key` are set:
//!   then the port speaks TLS only, health and reflection included.
//! - Health says NOT_SERVING for the stats service until the view has
//!   restored the statistics topic, SERVING then, NOT_SERVING again once shutdown
//!   begins. Internal errors never reach clients.

mod abandoned;
mod auth;
mod deadline;
mod errors;
mod explain;
mod indicators;
mod query;
mod request;
mod subscribe;
mod totals;

use std::sync::Arc;

use customs_domain::model::format_amount;
use customs_proto::v1;
use customs_proto::v1::stats_service_server::{StatsService, StatsServiceServer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::Error;
use crate::config::ApiConfig;
use crate::state::Shared;
use errors::{ApiError, finish};

/// The stats service over the shared state.
pub struct Stats {
    state: Arc<Shared>,
    shutdown: CancellationToken,
    /// Places for answers being computed (`api.max_concurrent_answers`).
    answers: Arc<Semaphore>,
    /// Places for open subscriptions (`api.max_subscriptions`).
    subscriptions: Arc<Semaphore>,
}

#[tonic::async_trait]
impl StatsService for Stats {
    async fn get_totals(
        &self,
        request: Request<v1::GetTotalsRequest>,
    ) -> Result<Response<v1::GetTotalsResponse>, Status> {
        let parsed = totals::parse(request.get_ref());
        self.unary("GetTotals", &request, parsed, totals::answer)
            .await
    }

    async fn query(
        &self,
        request: Request<v1::QueryRequest>,
    ) -> Result<Response<v1::QueryResponse>, Status> {
        let parsed = request::Plan::parse(request.get_ref(), "");
        self.unary("Query", &request, parsed, |state, plan| {
            query::answer(state, &plan)
        })
        .await
    }

    type SubscribeStream = subscribe::Updates;

    async fn subscribe(
        &self,
        request: Request<v1::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let started = subscribe::parse(request.get_ref()).and_then(|(plan, interval)| {
            let admitted = admit(
                &self.subscriptions,
                "open subscriptions",
                "max_subscriptions",
            )?;
            Ok(subscribe::start(
                Arc::clone(&self.state),
                plan,
                interval,
                self.shutdown.clone(),
                admitted,
            ))
        });
        finish("Subscribe", started).map(Response::new)
    }

    async fn get_indicators(
        &self,
        request: Request<v1::IndicatorsRequest>,
    ) -> Result<Response<v1::IndicatorsResponse>, Status> {
        let parsed = indicators::Plan::parse(request.get_ref());
        self.unary("GetIndicators", &request, parsed, |state, plan| {
            indicators::answer(state, &plan)
        })
        .await
    }

    async fn explain(
        &self,
        request: Request<v1::ExplainRequest>,
    ) -> Result<Response<v1::ExplainResponse>, Status> {
        let parsed = explain::id(request.get_ref());
        self.unary("Explain", &request, parsed, |state, id| {
            explain::answer(state, &id)
        })
        .await
    }
}

impl Stats {
    /// One unary call: the client's deadline, the parsed request, the
    /// answer computed on the blocking pool, and the request counted with
    /// its status code.
    async fn unary<T, P, R>(
        &self,
        method: &'static str,
        request: &Request<T>,
        parsed: Result<P, ApiError>,
        answer: fn(&Shared, P) -> Result<R, ApiError>,
    ) -> Result<Response<R>, Status>
    where
        P: Send + 'static,
        R: Send + 'static,
    {
        let deadline = deadline::of(request.extensions());
        let admitted = parsed.and_then(|parsed| {
            admit(
                &self.answers,
                "answers being computed",
                "max_concurrent_answers",
            )
            .map(|place| (place, parsed))
        });
        let answered = match admitted {
            Ok((place, parsed)) => {
                // The place is held by the computation itself, on the
                // blocking pool: also when the client stopped waiting.
                deadline::compute(&self.state, deadline, move |state| {
                    let _place = place;
                    answer(state, parsed)
                })
                .await
            }
            Err(error) => Err(error),
        };
        finish(method, answered).map(Response::new)
    }
}

/// A place in `places`, or `RESOURCE_EXHAUSTED` naming the limit.
fn admit(
    places: &Arc<Semaphore>,
    what: &str,
    setting: &str,
) -> Result<OwnedSemaphorePermit, ApiError> {
    Arc::clone(places).try_acquire_owned().map_err(|_| {
        ApiError::ResourceExhausted(format!(
            "too many {what} on this instance (api.{setting}); retry with backoff or call another instance"
        ))
    })
}

/// Serves stats, health and reflection on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    state: Arc<Shared>,
    api: &ApiConfig,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    // Exported from the start, so dashboards and alerts see 0, not nothing.
    metrics::gauge!("customs_aggregate_subscribers").set(0.0);
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_not_serving::<StatsServiceServer<Stats>>().await;
    {
        // Serving once the view has restored the statistics topic.
        let health = health.clone();
        let state = Arc::clone(&state);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            while !shutdown.is_cancelled() {
                if state.progress().restoring().is_empty() {
                    health.set_serving::<StatsServiceServer<Stats>>().await;
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(customs_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(Error::Reflection)?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(customs_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(Error::Reflection)?;
    let stop = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            health.set_not_serving::<StatsServiceServer<Stats>>().await;
        }
    };
    let auth = auth::BearerAuth::new(api.bearer_token.clone());
    let stats = StatsServiceServer::with_interceptor(
        Stats {
            state,
            shutdown: shutdown.clone(),
            answers: Arc::new(Semaphore::new(api.max_concurrent_answers)),
            subscriptions: Arc::new(Semaphore::new(api.max_subscriptions)),
        },
        move |request| auth.check(request),
    );
    let mut builder = tonic::transport::Server::builder();
    if let (Some(cert), Some(key)) = (&api.tls_cert, &api.tls_key) {
        let read = |path: &std::path::PathBuf| {
            std::fs::read(path).map_err(|err| Error::TlsFiles(path.display().to_string(), err))
        };
        let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(Error::Serve)?;
    }
    builder
        .layer(abandoned::CountAbandoned)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(stats)
        .serve_with_incoming_shutdown(incoming(listener), stop)
        .await
        .map_err(Error::Serve)
}

/// Accepted connections with `TCP_NODELAY`: tonic sets it only on listeners
/// it binds itself. Without it Nagle's algorithm held back the end of every
/// answer until the client's delayed acknowledgement, about 40 ms on Linux.
fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Money as the API carries it: an exact decimal string and its currency.
fn money(amount: rust_decimal::Decimal, currency: &str) -> v1::Money {
    v1::Money {
        amount: format_amount(amount),
        currency: currency.to_owned(),
    }
}

/// Freshness of an answer computed now from `state`.
pub(crate) fn freshness(state: &Shared, watermark: Option<i64>, version: u64) -> v1::Freshness {
    let progress = state.progress();
    let now_s = customs_kafka::stage::now_ms() / 1000;
    v1::Freshness {
        watermark: watermark
            .map(customs_domain::stats::time::format_minute)
            .unwrap_or_default(),
        version,
        restoring_partitions: progress.restoring(),
        changelog_offsets: progress.positions.clone().into_iter().collect(),
        watermark_lag_seconds: watermark.map(|w| now_s - w * 60).unwrap_or_default(),
        code_tables_version: state.tables().version().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    use super::*;

    #[tokio::test]
    async fn calls_beyond_the_limits_are_refused_at_once_and_places_come_back() {
        let state = Arc::new(Shared::new(
            customs_domain::CodeTables::embedded(),
            crate::config::StatisticsConfig::default(),
        ));
        let stats = Stats {
            state,
            shutdown: CancellationToken::new(),
            answers: Arc::new(Semaphore::new(1)),
            subscriptions: Arc::new(Semaphore::new(1)),
        };
        let held = Arc::clone(&stats.answers)
            .try_acquire_owned()
            .expect("the one place");
        let refused = stats
            .get_totals(Request::new(v1::GetTotalsRequest::default()))
            .await
            .expect_err("answered beyond the limit");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("api.max_concurrent_answers"));
        drop(held);
        stats
            .get_totals(Request::new(v1::GetTotalsRequest::default()))
            .await
            .expect("answered once the place is free");
        assert_eq!(stats.answers.available_permits(), 1, "the place came back");

        let subscribe = || v1::SubscribeRequest {
            query: Some(v1::QueryRequest {
                window: Some(v1::Window {
                    kind: Some(v1::window::Kind::AllTime(v1::AllTime {})),
                }),
                ..Default::default()
            }),
            min_interval_ms: 0,
        };
        let open = stats
            .subscribe(Request::new(subscribe()))
            .await
            .expect("the first subscription");
        let second = stats
            .subscribe(Request::new(subscribe()))
            .await
            .expect_err("a second subscription beyond the limit");
        assert_eq!(second.code(), tonic::Code::ResourceExhausted);
        assert!(second.message().contains("api.max_subscriptions"));
        drop(open);
        stats.shutdown.cancel();
        let started = std::time::Instant::now();
        while stats.subscriptions.available_permits() == 0 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "the ended subscription kept its place"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn accepted_connections_do_not_wait_for_nagle() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut incoming = incoming(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let accepted = incoming
            .next()
            .await
            .expect("a connection")
            .expect("accepted");
        assert!(accepted.nodelay().expect("nodelay"), "Nagle left on");
    }
}
