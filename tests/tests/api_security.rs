//! The API as production runs it: TLS, a bearer token and client deadlines,
//! end to end.
//!
//! The aggregate runs as a real process with `deploy/config/aggregate.toml`,
//! a throw-away certificate for `localhost` and a token, on the real broker.
//! Real tonic clients then check over a socket that:
//! - a plaintext client, and a TLS client that does not trust the
//!   certificate, cannot talk to it at all;
//! - health answers over TLS without the token (probes need no secret);
//! - the stats service answers `UNAUTHENTICATED` without the token or with a
//!   wrong one, and answers with it;
//! - a request whose `grpc-timeout` has already passed when it arrives is
//!   refused by the server itself and counted `deadline_exceeded` in
//!   `customs_aggregate_grpc_requests_total`, and a generous one is met.
//!
//! Every gRPC client enforces its deadline itself, so a tonic client with a
//! passed deadline gives up at once and the server may or may not have seen
//! the call. The server's side is therefore checked with a bare HTTP/2
//! client (h2 over rustls) that sends the whole call and waits for the
//! server's answer: `DEADLINE_EXCEEDED` from the handler, or `CANCELLED`
//! ("Timeout expired") when tonic's transport timeout fires first — tonic
//! maps its own timeout to `CANCELLED` (grpc/grpc-rust pull request 606).

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use customs_e2e::processes::{
    Children, MetricsPage, deployed_env, free_port, metric_sum, scrape_metrics, service_command,
    setting,
};
use customs_e2e::{broker, create_topics, unique_topics};
use customs_proto::v1;
use customs_proto::v1::stats_service_client::StatsServiceClient;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const TOKEN: &str = "s3cret-token-for-the-test";
const TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_bearer_token_and_deadlines_end_to_end() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let topics = unique_topics("api-security");
    create_topics(&bootstrap, "api-security", &topics).await?;

    // A certificate for localhost, and another nobody should trust.
    let dir = std::env::temp_dir().join(format!("customs-api-security-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let served = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let stranger = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let (cert, key) = (dir.join("api.crt"), dir.join("api.key"));
    std::fs::write(&cert, served.cert.pem())?;
    std::fs::write(&key, served.signing_key.serialize_pem())?;

    let (grpc_port, metrics_port) = (free_port()?, free_port()?);
    let mut env = deployed_env(
        "api-security",
        "aggregate",
        &bootstrap,
        &topics,
        metrics_port,
    );
    env.extend([
        setting("aggregate", "GRPC_ADDR", format!("127.0.0.1:{grpc_port}")),
        setting("aggregate", "API__TLS_CERT", cert.display().to_string()),
        setting("aggregate", "API__TLS_KEY", key.display().to_string()),
        setting("aggregate", "API__BEARER_TOKEN", TOKEN),
        setting("aggregate", "API__MAX_SUBSCRIPTIONS", "1"),
    ]);
    let mut children = Children::default();
    children.spawn("aggregate", &mut service_command("aggregate", &env, true)?)?;

    let url = format!("https://localhost:{grpc_port}");
    let trusted = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(served.cert.pem()))
        .domain_name("localhost");
    let channel = connect(&mut children, &url, trusted).await?;

    // Health: over TLS, without the token, SERVING once the view restored.
    let mut health = HealthClient::new(channel.clone());
    let started = Instant::now();
    loop {
        let status = health
            .check(HealthCheckRequest {
                service: "customs.v1.StatsService".to_owned(),
            })
            .await?
            .into_inner()
            .status();
        if status == ServingStatus::Serving {
            break;
        }
        ensure!(started.elapsed() < TIMEOUT, "not serving after {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Without TLS, or without trusting the certificate: no conversation.
    let plaintext = Endpoint::from_shared(format!("http://127.0.0.1:{grpc_port}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    match plaintext.connect().await {
        Ok(channel) => {
            let answer = StatsServiceClient::new(channel)
                .get_totals(v1::GetTotalsRequest::default())
                .await;
            ensure!(answer.is_err(), "a plaintext call was answered: {answer:?}");
        }
        Err(err) => eprintln!("api-security: plaintext refused: {err}"),
    }
    let untrusted = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(stranger.cert.pem()))
        .domain_name("localhost");
    let refused = Endpoint::from_shared(url.clone())?
        .tls_config(untrusted)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await;
    ensure!(
        refused.is_err(),
        "a client that does not trust the certificate connected"
    );

    // The token: required, compared exactly.
    let mut stats = StatsServiceClient::new(channel.clone());
    for presented in [None, Some("wrong-token"), Some(&TOKEN[..TOKEN.len() - 1])] {
        let mut request = tonic::Request::new(v1::GetTotalsRequest::default());
        if let Some(token) = presented {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
        }
        let status = stats
            .get_totals(request)
            .await
            .expect_err("answered without the right token");
        assert_eq!(status.code(), Code::Unauthenticated, "{presented:?}");
    }
    let totals = stats
        .get_totals(authorized(v1::GetTotalsRequest::default()))
        .await?
        .into_inner();
    ensure!(totals.freshness.is_some(), "an answer with its freshness");

    // A deadline that has passed on arrival: the client gives up by itself...
    let query = v1::QueryRequest {
        window: Some(v1::Window {
            kind: Some(v1::window::Kind::AllTime(v1::AllTime {})),
        }),
        ..Default::default()
    };
    let mut late = authorized(query.clone());
    late.metadata_mut().insert("grpc-timeout", "1n".parse()?);
    let status = stats
        .query(late)
        .await
        .expect_err("answered after its deadline");
    ensure!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "a passed deadline: {status:?}"
    );
    // ...so the tonic client's call may not have reached the server; the
    // counter is read before and after the server surely got one.
    let before = counted(
        &scrape_metrics(metrics_port).await?,
        "deadline_exceeded",
        "Query",
    );
    let code = bare_late_call(grpc_port, &served.cert, &query).await?;
    ensure!(
        code == Code::DeadlineExceeded as i32 || code == Code::Cancelled as i32,
        "the server answered a passed deadline with grpc-status {code}"
    );
    eprintln!("api-security: a passed deadline: the server answered grpc-status {code}");
    // A generous one is met.
    let mut timely = authorized(query.clone());
    timely.set_timeout(Duration::from_secs(10));
    stats.query(timely).await?;

    let page = scrape_metrics(metrics_port).await?;
    let late = counted(&page, "deadline_exceeded", "Query");
    eprintln!(
        "api-security: unauthenticated {}, deadline exceeded {before} then {late}, ok Query {}",
        counted(&page, "unauthenticated", "any"),
        counted(&page, "ok", "Query")
    );
    assert_eq!(counted(&page, "unauthenticated", "any"), 3.0, "{page:?}");
    // The bare call is counted; the tonic client's own late call may be
    // counted at any moment, before or after `before` was read, but once.
    assert!(late >= before + 1.0, "{page:?}");
    assert!(
        late <= 2.0,
        "two late calls counted more than twice: {page:?}"
    );
    assert_eq!(counted(&page, "ok", "Query"), 1.0, "{page:?}");

    // Admission: with api.max_subscriptions = 1 a second subscription is
    // refused at once while the first is open.
    let subscription = || {
        authorized(v1::SubscribeRequest {
            query: Some(query.clone()),
            min_interval_ms: 0,
        })
    };
    let mut open = stats.subscribe(subscription()).await?.into_inner();
    ensure!(open.message().await?.is_some(), "the first update");
    let refused = stats
        .subscribe(subscription())
        .await
        .err()
        .context("a second subscription beyond api.max_subscriptions was accepted")?;
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    drop(open);

    let page = scrape_metrics(metrics_port).await?;
    assert_eq!(
        counted(&page, "resource_exhausted", "Subscribe"),
        1.0,
        "{page:?}"
    );
    children.ensure_running()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `customs_aggregate_grpc_requests_total{code, method}` on a metrics page.
fn counted(page: &MetricsPage, code: &str, method: &str) -> f64 {
    metric_sum(
        page,
        "customs_aggregate_grpc_requests_total",
        &[&format!("code=\"{code}\""), &format!("method=\"{method}\"")],
    )
}

/// Sends `query` with the right token and `grpc-timeout: 1n` over a bare
/// HTTP/2 connection that does not enforce the deadline, and returns the
/// server's `grpc-status`.
async fn bare_late_call(
    port: u16,
    trusted: &rcgen::Certificate,
    query: &v1::QueryRequest,
) -> anyhow::Result<i32> {
    use tokio_rustls::rustls;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.der().clone())?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let server = rustls::pki_types::ServerName::try_from("localhost")?;
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
        .connect(server, tcp)
        .await?;
    let (sender, connection) = h2::client::handshake(stream).await?;
    tokio::spawn(connection);

    let request = http::Request::post(format!(
        "https://localhost:{port}/customs.v1.StatsService/Query"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("grpc-timeout", "1n")
    .header("authorization", format!("Bearer {TOKEN}"))
    .body(())?;
    // One length-prefixed, uncompressed message (gRPC over HTTP/2).
    let message = prost::Message::encode_to_vec(query);
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
    frame.extend_from_slice(&message);
    let (answer, mut body) = sender.ready().await?.send_request(request, false)?;
    body.send_data(bytes::Bytes::from(frame), true)?;

    let response = tokio::time::timeout(TIMEOUT, answer).await??;
    let status_of = |headers: &http::HeaderMap| {
        headers
            .get("grpc-status")
            .and_then(|value| value.to_str().ok()?.parse::<i32>().ok())
    };
    // A trailers-only answer carries the status in its headers.
    if let Some(code) = status_of(response.headers()) {
        return Ok(code);
    }
    let mut received = response.into_body();
    while let Some(data) = received.data().await {
        data?;
    }
    let trailers = received.trailers().await?.unwrap_or_default();
    status_of(&trailers).ok_or_else(|| anyhow::anyhow!("no grpc-status in {trailers:?}"))
}

/// `message` with the right token.
fn authorized<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("ascii"),
    );
    request
}

/// A TLS channel to the aggregate, once it listens.
async fn connect(
    children: &mut Children,
    url: &str,
    tls: ClientTlsConfig,
) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_owned())?
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5));
    let started = Instant::now();
    loop {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(err) if started.elapsed() > TIMEOUT => bail!("no TLS connection: {err:?}"),
            Err(_) => {
                children.ensure_running()?;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
