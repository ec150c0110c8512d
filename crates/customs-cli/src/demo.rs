//! `customs demo`: the three services in one process on an embedded Kafka.
//!
//! librdkafka's mock cluster stands in for a broker here and only here: it
//! accepts transactions without enforcing them, so the demo shows the shape
//! and the numbers, not the exactly-once guarantee (the end-to-end tests prove
//! that on a real broker).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use customs_domain::render::render_dec_message;
use customs_domain::sample::{sample_declarations, sample_rejects};
use customs_kafka::{KafkaConfig, TopicsConfig};
use customs_proto::v1;
use customs_proto::v1::stats_service_client::StatsServiceClient;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Options of `customs demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Number of sample declarations to feed.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Where the aggregate serves gRPC.
    #[arg(long, default_value = "127.0.0.1:50051")]
    grpc_addr: SocketAddr,
    /// Where `/metrics` is served for all three services.
    #[arg(long, default_value = "127.0.0.1:9464")]
    metrics_addr: SocketAddr,
    /// Print the statistics and exit instead of serving until Ctrl-C.
    #[arg(long)]
    once: bool,
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    customs_telemetry::init(&customs_telemetry::TelemetryConfig {
        log_filter: std::env::var("CUSTOMS_DEMO_LOG").unwrap_or_else(|_| "warn".to_owned()),
        metrics_addr: Some(args.metrics_addr),
        ..Default::default()
    })?;
    let topics = TopicsConfig::default();
    let cluster = MockCluster::new(1).context("starting the embedded mock cluster")?;
    for topic in [
        &topics.raw,
        &topics.declarations,
        &topics.classified,
        &topics.dead_letter,
        // The mock cluster ignores compaction; the demo's state is small.
        &topics.changelog,
        &topics.stats,
        &topics.late,
    ] {
        cluster
            .create_topic(topic, 3, 1)
            .with_context(|| format!("creating {topic}"))?;
    }
    let bootstrap = cluster.bootstrap_servers();
    let kafka = |service: &str| KafkaConfig {
        bootstrap_servers: bootstrap.clone(),
        ..KafkaConfig::for_service(service)
    };

    let shutdown = customs_service::shutdown_on_signal();
    let mut services = JoinSet::new();
    let ingest = customs_ingest::Config {
        kafka: kafka("ingest"),
        create_topics: false,
        ..Default::default()
    };
    services.spawn(named(
        "ingest",
        customs_ingest::run(ingest, shutdown.clone()),
    ));
    let normalize = customs_normalize::Config {
        kafka: kafka("normalize"),
        create_topics: false,
        ..Default::default()
    };
    services.spawn(named(
        "normalize",
        customs_normalize::run(normalize, shutdown.clone()),
    ));
    let aggregate = customs_aggregate::Config {
        kafka: kafka("aggregate"),
        grpc_addr: args.grpc_addr,
        create_topics: false,
        ..Default::default()
    };
    services.spawn(named(
        "aggregate",
        customs_aggregate::run(aggregate, shutdown.clone()),
    ));

    let num_rejects = feed(&bootstrap, &topics.raw, args.count).await?;
    println!(
        "fed {} sample declarations and {num_rejects} malformed messages to {}",
        args.count, topics.raw
    );
    let totals = wait_for_totals(args.grpc_addr, args.count as u64, &shutdown).await?;
    print_totals(&totals);
    let letters = {
        let config = kafka("demo-dead-letters");
        let topic = topics.dead_letter.clone();
        tokio::task::spawn_blocking(move || {
            customs_kafka::reader::read_dead_letters(
                &config,
                &topic,
                num_rejects,
                Duration::from_secs(1),
                Duration::from_secs(30),
            )
        })
        .await??
    };
    println!("dead letters: {}", letters.len());
    for letter in &letters {
        println!(
            "  {:<10} {:<26} {}",
            letter.stage, letter.reason, letter.detail
        );
    }
    println!();
    println!(
        "gRPC (with reflection): {}   metrics: http://{}/metrics",
        args.grpc_addr, args.metrics_addr
    );
    if !args.once {
        println!("serving until Ctrl-C");
        shutdown.cancelled().await;
    }
    shutdown.cancel();
    while let Some(joined) = services.join_next().await {
        let (service, outcome) = joined?;
        outcome.with_context(|| format!("{service} failed"))?;
    }
    drop(cluster);
    Ok(())
}

async fn named<E: std::error::Error + Send + Sync + 'static>(
    service: &'static str,
    future: impl Future<Output = Result<(), E>>,
) -> (&'static str, anyhow::Result<()>) {
    (service, future.await.map_err(anyhow::Error::from))
}

/// Produces the sample declarations plus the sample rejects; returns the
/// number of rejects.
async fn feed(bootstrap: &str, topic: &str, count: usize) -> anyhow::Result<usize> {
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let timeout = Duration::from_secs(10);
    for declaration in sample_declarations(count) {
        let xml = render_dec_message(&declaration);
        let record = FutureRecord::to(topic).key(&declaration.id).payload(&xml);
        producer
            .send(record, timeout)
            .await
            .map_err(|(err, _)| err)?;
    }
    let rejects = sample_rejects();
    for (payload, _, _) in &rejects {
        let record: FutureRecord<'_, (), _> = FutureRecord::to(topic).payload(payload);
        producer
            .send(record, timeout)
            .await
            .map_err(|(err, _)| err)?;
    }
    Ok(rejects.len())
}

/// Asks the aggregate over gRPC until it has counted `expected` declarations.
async fn wait_for_totals(
    addr: SocketAddr,
    expected: u64,
    shutdown: &CancellationToken,
) -> anyhow::Result<v1::GetTotalsResponse> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_seen = 0;
    while Instant::now() < deadline && !shutdown.is_cancelled() {
        if let Ok(mut client) = StatsServiceClient::connect(format!("http://{addr}")).await {
            let totals = client
                .get_totals(v1::GetTotalsRequest::default())
                .await?
                .into_inner();
            if totals.num_declarations >= expected {
                return Ok(totals);
            }
            last_seen = totals.num_declarations;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("the aggregate counted {last_seen} of {expected} declarations within 60 s")
}

fn print_totals(totals: &v1::GetTotalsResponse) {
    println!();
    println!(
        "{:<24} {:<7} {:>12} {:>6} {:>18} {:>16}",
        "category", "dir", "declarations", "items", "value CNY", "value USD"
    );
    let amount =
        |money: &Option<v1::Money>| money.as_ref().map(|m| m.amount.clone()).unwrap_or_default();
    for row in &totals.rows {
        println!(
            "{:<24} {:<7} {:>12} {:>6} {:>18} {:>16}",
            row.category()
                .as_str_name()
                .trim_start_matches("TRADE_CATEGORY_")
                .to_lowercase(),
            row.direction()
                .as_str_name()
                .trim_start_matches("DIRECTION_")
                .to_lowercase(),
            row.num_declarations,
            row.num_items,
            amount(&row.value_cny),
            amount(&row.value_usd),
        );
    }
    println!(
        "total: {} declarations from {} classified records",
        totals.num_declarations, totals.num_records_read
    );
    println!();
}
