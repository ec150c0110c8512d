//! Support for the end-to-end tests: a real Kafka broker and isolated topics.
//!
//! [`broker`] returns `KAFKA_BOOTSTRAP_SERVERS` when it is set, and otherwise
//! starts the project's own broker through `scripts/kafka start` (fetched
//! from Maven Central on first use). Each test names its topics, groups and
//! transactional ids with a fresh random suffix, so tests never see each
//! other's data. [`processes`] runs the real service binaries for tests
//! that need processes; [`feed`] generates and produces feeds;
//! [`take_over`] holds a previous owner's transaction open.

pub mod feed;
pub mod processes;
pub mod take_over;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};
use customs_kafka::{KafkaConfig, TopicsConfig};

/// Bootstrap servers of the broker the tests use.
pub fn broker() -> anyhow::Result<String> {
    static BOOTSTRAP: OnceLock<Result<String, String>> = OnceLock::new();
    BOOTSTRAP
        .get_or_init(|| start_or_reuse().map_err(|err| format!("{err:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn start_or_reuse() -> anyhow::Result<String> {
    if let Ok(servers) = std::env::var("KAFKA_BOOTSTRAP_SERVERS")
        && !servers.trim().is_empty()
    {
        eprintln!("e2e: using KAFKA_BOOTSTRAP_SERVERS={servers}");
        return Ok(servers);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka");
    eprintln!(
        "e2e: KAFKA_BOOTSTRAP_SERVERS not set, starting a broker with {}",
        script.display()
    );
    let output = Command::new("bash")
        .arg(&script)
        .arg("start")
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "scripts/kafka start failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("KAFKA_BOOTSTRAP_SERVERS="))
        .map(str::to_owned)
        .context("scripts/kafka start printed no KAFKA_BOOTSTRAP_SERVERS line")
}

/// Topic names unique to one test.
pub fn unique_topics(test: &str) -> TopicsConfig {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    TopicsConfig {
        raw: format!("e2e.{test}.{suffix}.raw"),
        declarations: format!("e2e.{test}.{suffix}.declarations"),
        classified: format!("e2e.{test}.{suffix}.classified"),
        dead_letter: format!("e2e.{test}.{suffix}.dead-letter"),
        changelog: format!("e2e.{test}.{suffix}.changelog"),
        stats: format!("e2e.{test}.{suffix}.stats"),
        late: format!("e2e.{test}.{suffix}.late"),
        ..TopicsConfig::default()
    }
}

/// Kafka settings of one service instance, unique to one test.
pub fn service_kafka(bootstrap: &str, test: &str, service: &str) -> KafkaConfig {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    KafkaConfig {
        bootstrap_servers: bootstrap.to_owned(),
        group_id: format!("e2e-{test}-{service}-{suffix}"),
        transactional_id: format!("e2e-{test}-{service}-{suffix}"),
        topic_partitions: 3,
        ..KafkaConfig::default()
    }
}

/// The three services running in-process against a real broker, on topics
/// of their own. Dropping it (or [`Pipeline::stop`]) shuts them down.
pub struct Pipeline {
    /// The pipeline's topics.
    pub topics: TopicsConfig,
    /// Where the aggregate serves gRPC.
    pub grpc_addr: std::net::SocketAddr,
    shutdown: tokio_util::sync::CancellationToken,
    services: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Creates the pipeline's raw, declarations, classified and dead-letter
/// topics of `test` (the aggregate creates its changelog and late topics).
pub async fn create_topics(
    bootstrap: &str,
    test: &str,
    topics: &TopicsConfig,
) -> anyhow::Result<()> {
    customs_kafka::admin::ensure_topics(
        &service_kafka(bootstrap, test, "setup"),
        &[
            &topics.raw,
            &topics.declarations,
            &topics.classified,
            &topics.dead_letter,
        ],
    )
    .await?;
    Ok(())
}

/// The stats API client of the tests.
pub type StatsClient =
    customs_proto::v1::stats_service_client::StatsServiceClient<tonic::transport::Channel>;

/// A stats API client of the server at `url`, asked again every 200 ms
/// until it answers or `timeout` passes; `alive` is checked between two
/// attempts (e.g. that no service process exited).
pub async fn connect_stats(
    url: &str,
    timeout: std::time::Duration,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<StatsClient> {
    let started = std::time::Instant::now();
    loop {
        match StatsClient::connect(url.to_owned()).await {
            Ok(client) => return Ok(client),
            Err(err) if started.elapsed() > timeout => bail!("no gRPC on {url}: {err}"),
            Err(_) => {
                alive()?;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

/// The version `Freshness.code_tables_version` documents, computed by the
/// tests themselves: FNV-1a 64 over each code-table file's name, a zero
/// byte, its bytes and a zero byte, in file-name order, over the files of
/// `crates/customs-domain/data/`, those in `dir` replacing theirs.
pub fn code_tables_version(dir: Option<&std::path::Path>) -> anyhow::Result<String> {
    let data = processes::repo().join("crates/customs-domain/data");
    let mut names: Vec<String> = std::fs::read_dir(&data)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        // The receipt channel table is read by its own module, not (yet)
        // part of the code-table set a directory may replace.
        .filter(|name| name.ends_with(".csv") && name != "dec_channels.csv")
        .collect();
    names.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for name in names {
        let replaced = dir.map(|dir| dir.join(&name)).filter(|path| path.exists());
        let bytes = std::fs::read(replaced.unwrap_or_else(|| data.join(&name)))?;
        for byte in name.bytes().chain([0]).chain(bytes).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    Ok(format!("{hash:016x}"))
}

/// Polls `GetTotals` until the served table equals `expected`, then holds
/// still for a few seconds and checks it again (nothing may be counted twice
/// later). `alive` is checked on every round (e.g. that no service exited).
pub async fn await_exact_totals(
    client: &mut StatsClient,
    expected: &std::collections::BTreeMap<String, customs_domain::generator::SummaryRow>,
    timeout: std::time::Duration,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + timeout;
    loop {
        alive()?;
        let table = served_totals(client).await?;
        if &table == expected {
            tokio::time::sleep(Duration::from_secs(3)).await;
            assert_eq!(
                &served_totals(client).await?,
                expected,
                "changed after it was exact"
            );
            return alive();
        }
        if Instant::now() > deadline {
            bail!(
                "after {timeout:?} the served totals\n{table:#?}\ndiffer from the summary\n{expected:#?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `GetTotals` as a table (see [`served_table`]).
async fn served_totals(
    client: &mut StatsClient,
) -> anyhow::Result<std::collections::BTreeMap<String, customs_domain::generator::SummaryRow>> {
    let response = client
        .get_totals(customs_proto::v1::GetTotalsRequest::default())
        .await
        .context("GetTotals")?;
    served_table(&response.into_inner())
}

impl Pipeline {
    /// Creates the topics and starts ingest, normalize and aggregate.
    pub async fn start(bootstrap: &str, test: &str) -> anyhow::Result<Self> {
        Self::start_with(
            bootstrap,
            test,
            customs_aggregate::StatisticsConfig::default(),
        )
        .await
    }

    /// [`Pipeline::start`] with the aggregate's event-time rules.
    pub async fn start_with(
        bootstrap: &str,
        test: &str,
        statistics: customs_aggregate::StatisticsConfig,
    ) -> anyhow::Result<Self> {
        let topics = unique_topics(test);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let grpc_addr = listener.local_addr()?;
        create_topics(bootstrap, test, &topics).await?;
        let ingest = customs_ingest::Config {
            kafka: service_kafka(bootstrap, test, "ingest"),
            topics: topics.clone(),
            ..Default::default()
        };
        let normalize = customs_normalize::Config {
            kafka: service_kafka(bootstrap, test, "normalize"),
            topics: topics.clone(),
            ..Default::default()
        };
        let aggregate = customs_aggregate::Config {
            kafka: service_kafka(bootstrap, test, "aggregate"),
            topics: topics.clone(),
            statistics,
            ..Default::default()
        };
        let token = shutdown.clone();
        let services = vec![
            tokio::spawn(async move { Ok(customs_ingest::run(ingest, token).await?) }),
            {
                let token = shutdown.clone();
                tokio::spawn(async move { Ok(customs_normalize::run(normalize, token).await?) })
            },
            {
                let token = shutdown.clone();
                tokio::spawn(async move {
                    Ok(customs_aggregate::run_with_listener(aggregate, listener, token).await?)
                })
            },
        ];
        Ok(Pipeline {
            topics,
            grpc_addr,
            shutdown,
            services,
        })
    }

    /// Stops the services and returns the first error any of them had.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        for service in std::mem::take(&mut self.services) {
            service.await??;
        }
        Ok(())
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // A failed assertion must still stop the services' blocking threads,
        // or the test runtime would wait for them forever.
        self.shutdown.cancel();
    }
}

/// A producer for the raw topic.
pub fn raw_producer(bootstrap: &str) -> anyhow::Result<rdkafka::producer::FutureProducer> {
    Ok(rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?)
}

/// The served totals as `category/direction` → figures, in the generator
/// summary's shape, so a test can compare them with `==`.
pub fn served_table(
    response: &customs_proto::v1::GetTotalsResponse,
) -> anyhow::Result<std::collections::BTreeMap<String, customs_domain::generator::SummaryRow>> {
    let money =
        |money: &Option<customs_proto::v1::Money>| -> anyhow::Result<rust_decimal::Decimal> {
            Ok(money
                .as_ref()
                .map(|m| m.amount.parse())
                .transpose()?
                .unwrap_or_default())
        };
    let mut table = std::collections::BTreeMap::new();
    for row in &response.rows {
        let category = row
            .category()
            .as_str_name()
            .trim_start_matches("TRADE_CATEGORY_")
            .to_lowercase();
        let direction = row
            .direction()
            .as_str_name()
            .trim_start_matches("DIRECTION_")
            .to_lowercase();
        let figures = customs_domain::generator::SummaryRow {
            num_declarations: row.num_declarations,
            num_items: row.num_items,
            value_cny: money(&row.value_cny)?,
            value_usd: money(&row.value_usd)?,
        };
        table.insert(format!("{category}/{direction}"), figures);
    }
    Ok(table)
}
