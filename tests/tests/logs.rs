//! Logs are JSON on request, carry declaration ids at debug level only and
//! never personal data.
//!
//! The real `customs-ingest` binary runs with `deploy/config/ingest.toml`,
//! `log_format = "json"` and `log_filter = "debug"` (the most it will ever
//! log) on the real broker and topics of its own. It is fed the CEB621
//! import inventory fixture, whose heads carry the buyer's id number, name,
//! telephone and address, plus two poison variants of it (truncated XML, and
//! a head without its import/export flag) that still hold that personal data.
//! After it has parsed and rejected them it is stopped with SIGTERM. Every
//! line it wrote to stdout or stderr must be a JSON object with a level; no
//! personal value may appear in any line; the declaration and message
//! identifiers of the fixture must appear, and only in `DEBUG` lines.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use customs_e2e::processes::{deployed_env, free_port, service_command, setting};
use customs_e2e::{broker, raw_producer, unique_topics};
use rdkafka::producer::FutureRecord;
use serde_json::Value;

const FIXTURE: &str =
    include_str!("../../crates/customs-domain/fixtures/ceb621_import_inventory.xml");
/// The buyer's personal data in the fixture.
const PERSONAL: [&str; 5] = [
    "330106199001011234",
    "张三",
    "13800000000",
    "浙江省杭州市西湖区某路1号",
    "李四",
];
/// Identifiers of the fixture's declarations and message: guids, enterprise
/// numbers, order and inventory numbers.
const IDS: [&str; 7] = [
    "7F3E2A10-5B6C-4D8E-9F01-23456789ABCD",
    "7F3E2A10-5B6C-4D8E-9F01-23456789ABCE",
    "A1B2C3D4-0000-4000-8000-000000000621",
    "HZ20261118000001",
    "HZ20261118000002",
    "ORD202611180001",
    "299120261000000077",
];
const TIMEOUT: Duration = Duration::from_secs(60);

/// The service process and its log files, removed on drop.
struct Service {
    child: Child,
    dir: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Service {
    fn output(&self) -> anyhow::Result<String> {
        let mut text = std::fs::read_to_string(self.dir.join("stderr"))?;
        text.push_str(&std::fs::read_to_string(self.dir.join("stdout"))?);
        Ok(text)
    }

    /// SIGTERM, then waits for the exit (the service drains first).
    fn terminate(&mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        ensure!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            ensure!(Instant::now() < deadline, "no exit 30 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_hold_ids_at_debug_only_and_no_personal_data() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let topics = unique_topics("logs");
    let dir = std::env::temp_dir().join(format!("customs-logs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    // A free port: the one in the config file may be taken.
    let mut env = deployed_env("logs", "ingest", &bootstrap, &topics, free_port()?);
    env.push(setting("ingest", "TELEMETRY__LOG_FORMAT", "json"));
    env.push(setting("ingest", "TELEMETRY__LOG_FILTER", "debug"));
    let child = service_command("ingest", &env, true)?
        .stdout(Stdio::from(std::fs::File::create(dir.join("stdout"))?))
        .stderr(Stdio::from(std::fs::File::create(dir.join("stderr"))?))
        .spawn()
        .context("starting customs-ingest")?;
    let mut service = Service { child, dir };

    let truncated = &FIXTURE[..FIXTURE.len() / 2];
    let no_flag = FIXTURE.replace("<ceb:ieFlag>I</ceb:ieFlag>", "");
    let producer = raw_producer(&bootstrap)?;
    for payload in [FIXTURE, truncated, &no_flag] {
        producer
            .send(
                FutureRecord::<(), _>::to(&topics.raw).payload(payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(err, _)| err)?;
    }

    // Two events parsed and two messages rejected, as the debug log says.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = service.child.try_wait()? {
            bail!("customs-ingest exited: {status}\n{}", service.output()?);
        }
        let output = service.output()?;
        if output.matches("event parsed").count() >= 2
            && output.matches("raw message rejected").count() >= 2
        {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "not processed in {TIMEOUT:?}:\n{output}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    service.terminate()?;

    let output = service.output()?;
    let mut ids_seen = 0;
    for line in output.lines().filter(|line| !line.trim().is_empty()) {
        let json: Value =
            serde_json::from_str(line).with_context(|| format!("not a JSON log line: {line}"))?;
        let level = json["level"]
            .as_str()
            .with_context(|| format!("no level: {line}"))?;
        for personal in PERSONAL {
            assert!(!line.contains(personal), "personal data logged: {line}");
        }
        if IDS.iter().any(|id| line.contains(id)) {
            assert_eq!(level, "DEBUG", "an id above debug level: {line}");
            ids_seen += 1;
        }
    }
    assert!(ids_seen >= 2, "ids are logged at debug:\n{output}");
    assert!(
        output.contains("shutdown signal received"),
        "the log covers the whole run:\n{output}"
    );
    Ok(())
}
