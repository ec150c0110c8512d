//! The service binaries as real processes, for the tests that kill, scrape
//! or read the logs of a service: where the binary is, how to point it at a
//! test's broker and topics, and child processes that never outlive a test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail, ensure};
use customs_kafka::TopicsConfig;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Debian's `prometheus` binary, installed by `scripts/prometheus path` when
/// it is missing (`promtool` lies beside it).
pub fn prometheus_binary() -> anyhow::Result<PathBuf> {
    let output = Command::new("bash")
        .arg(repo().join("scripts/prometheus"))
        .arg("path")
        .stderr(Stdio::inherit())
        .output()?;
    ensure!(output.status.success(), "scripts/prometheus path failed");
    let stdout = String::from_utf8(output.stdout)?;
    Ok(PathBuf::from(
        stdout.lines().last().context("no path printed")?.trim(),
    ))
}

/// A loopback port nothing listens on right now (a service binds it shortly
/// after).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The real binary `name` (e.g. `customs-ingest`), built by cargo into the
/// profile directory of the running test binary.
pub fn service_binary(name: &str) -> anyhow::Result<PathBuf> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--bin", name, "--manifest-path"])
        .arg(repo().join("Cargo.toml"))
        .status()?;
    ensure!(status.success(), "cargo build --bin {name} failed");
    let deps = std::env::current_exe()?;
    let profile_dir = deps
        .parent()
        .and_then(|p| p.parent())
        .context("test binary has no profile dir")?;
    Ok(profile_dir.join(name))
}

/// Where one service process reads and writes.
pub struct Instance<'a> {
    /// Bootstrap servers of the test's broker.
    pub bootstrap: &'a str,
    /// Consumer group, shared by the instances of one service.
    pub group_id: &'a str,
    /// Transactional id, unique per instance and stable across restarts.
    pub transactional_id: &'a str,
    /// The test's topics.
    pub topics: &'a TopicsConfig,
    /// `host:port` of the metrics listener.
    pub metrics_addr: &'a str,
}

/// The environment variable of `key` for `service`:
/// `CUSTOMS_<SERVICE>_<key>`.
pub fn setting(service: &str, key: &str, value: impl Into<String>) -> (String, String) {
    (
        format!("CUSTOMS_{}_{key}", service.to_uppercase()),
        value.into(),
    )
}

/// The `CUSTOMS_<SERVICE>_*` variables that point `service` at `instance`
/// (logs at `warn` plus partition assignments and take-overs, or at
/// `E2E_SERVICE_LOG` when set; a later setting of the same key wins).
pub fn service_env(service: &str, instance: &Instance<'_>) -> Vec<(String, String)> {
    let topics = instance.topics;
    let log_filter = std::env::var("E2E_SERVICE_LOG").unwrap_or_else(|_| {
        "warn,customs_kafka::stage_context=info,customs_aggregate::owner=info".to_owned()
    });
    [
        ("KAFKA__BOOTSTRAP_SERVERS", instance.bootstrap),
        ("KAFKA__GROUP_ID", instance.group_id),
        ("KAFKA__TRANSACTIONAL_ID", instance.transactional_id),
        ("TOPICS__RAW", &topics.raw),
        ("TOPICS__DECLARATIONS", &topics.declarations),
        ("TOPICS__CLASSIFIED", &topics.classified),
        ("TOPICS__DEAD_LETTER", &topics.dead_letter),
        ("TOPICS__CHANGELOG", &topics.changelog),
        ("TOPICS__STATS", &topics.stats),
        ("TOPICS__LATE", &topics.late),
        ("TELEMETRY__METRICS_ADDR", instance.metrics_addr),
        ("TELEMETRY__LOG_FILTER", &log_filter),
    ]
    .into_iter()
    .map(|(key, value)| setting(service, key, value))
    .collect()
}

/// A command running `customs-<service>` with `env`; with `deployed` also
/// with its configuration file from `deploy/config`. The caller's
/// `KAFKA_BOOTSTRAP_SERVERS` is removed so only `env` points at the broker.
pub fn service_command(
    service: &str,
    env: &[(String, String)],
    deployed: bool,
) -> anyhow::Result<Command> {
    let mut command = Command::new(service_binary(&format!("customs-{service}"))?);
    if deployed {
        command
            .arg("--config")
            .arg(repo().join(format!("deploy/config/{service}.toml")));
    }
    command
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .envs(env.iter().map(|(key, value)| (key, value)))
        .stdout(Stdio::null());
    Ok(command)
}

/// Child processes, killed when dropped (also when an assertion fails).
#[derive(Default)]
pub struct Children(Vec<(String, Child)>);

impl Children {
    /// Starts `command` as `name`.
    pub fn spawn(&mut self, name: &str, command: &mut Command) -> anyhow::Result<()> {
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.0.push((name.to_owned(), child));
        Ok(())
    }

    /// Sends SIGTERM to the child started as `name` and waits up to
    /// `within` for it to exit; returns its exit status and how long the
    /// exit took.
    pub fn terminate(
        &mut self,
        name: &str,
        within: std::time::Duration,
    ) -> anyhow::Result<(std::process::ExitStatus, std::time::Duration)> {
        let (_, child) = self
            .0
            .iter_mut()
            .find(|(started, _)| started == name)
            .with_context(|| format!("no child named {name}"))?;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        ensure!(status.success(), "kill -TERM {name}");
        let signalled = std::time::Instant::now();
        loop {
            if let Some(exit) = child.try_wait()? {
                return Ok((exit, signalled.elapsed()));
            }
            if signalled.elapsed() > within {
                bail!("{name} still running {within:?} after SIGTERM");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The process ids of the children.
    pub fn pids(&self) -> Vec<u32> {
        self.0.iter().map(|(_, child)| child.id()).collect()
    }

    /// Fails when any child has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        for (name, child) in &mut self.0 {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited: {status}");
            }
        }
        Ok(())
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The environment that points `customs-<service>` of `test` at the test's
/// broker and `topics`, with metrics on `metrics_port`.
pub fn deployed_env(
    test: &str,
    service: &str,
    bootstrap: &str,
    topics: &TopicsConfig,
    metrics_port: u16,
) -> Vec<(String, String)> {
    let kafka = crate::service_kafka(bootstrap, test, service);
    service_env(
        service,
        &Instance {
            bootstrap,
            group_id: &kafka.group_id,
            transactional_id: &kafka.transactional_id,
            topics,
            metrics_addr: &format!("127.0.0.1:{metrics_port}"),
        },
    )
}

/// Starts `customs-<service>` with its deployed configuration, pointed at
/// the test's broker and `topics`, with metrics on `metrics_port` and (the
/// aggregate) gRPC on `grpc_port`.
pub fn start_deployed(
    children: &mut Children,
    test: &str,
    service: &str,
    bootstrap: &str,
    topics: &TopicsConfig,
    (metrics_port, grpc_port): (u16, u16),
) -> anyhow::Result<()> {
    let mut env = deployed_env(test, service, bootstrap, topics, metrics_port);
    if service == "aggregate" {
        env.push(setting(
            service,
            "GRPC_ADDR",
            format!("127.0.0.1:{grpc_port}"),
        ));
    }
    children.spawn(service, &mut service_command(service, &env, true)?)
}

/// Starts ingest, normalize and aggregate as [`start_deployed`] does, each
/// with metrics on a free port, the aggregate's gRPC on `grpc_port`; returns
/// each service's metrics port.
pub fn start_all_deployed(
    children: &mut Children,
    test: &str,
    bootstrap: &str,
    topics: &TopicsConfig,
    grpc_port: u16,
) -> anyhow::Result<Vec<(&'static str, u16)>> {
    let mut ports = Vec::new();
    for service in ["ingest", "normalize", "aggregate"] {
        let metrics_port = free_port()?;
        start_deployed(
            children,
            test,
            service,
            bootstrap,
            topics,
            (metrics_port, grpc_port),
        )?;
        ports.push((service, metrics_port));
    }
    Ok(ports)
}

/// The body of a service's `/metrics` page on loopback `port`.
pub async fn metrics_page(port: u16) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (_, body) = response.split_once("\r\n\r\n").context("no HTTP body")?;
    Ok(body.to_owned())
}

/// A service's `/metrics` page: series `name{labels}` → value.
pub type MetricsPage = BTreeMap<String, f64>;

/// The series of a service's `/metrics` page on loopback `port`.
pub async fn scrape_metrics(port: u16) -> anyhow::Result<MetricsPage> {
    Ok(parse_metrics(&metrics_page(port).await?))
}

/// The series of a Prometheus text page.
fn parse_metrics(page: &str) -> MetricsPage {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The metric name of a series key.
pub fn metric_name(series: &str) -> &str {
    series.split('{').next().unwrap_or(series)
}

/// Sum of the series of `name` whose labels contain every `filters` pair
/// (e.g. `code="ok"`).
pub fn metric_sum(page: &MetricsPage, name: &str, filters: &[&str]) -> f64 {
    page.iter()
        .filter(|(series, _)| metric_name(series) == name)
        .filter(|(series, _)| filters.iter().all(|f| series.contains(f)))
        .map(|(_, value)| value)
        .sum()
}
