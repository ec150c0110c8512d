//! A real Prometheus server sees exactly what the pipeline processed.
//!
//! The three services run as real processes (`customs-ingest`,
//! `customs-normalize`, `customs-aggregate`) with `deploy/config/*.toml` and
//! per-test overrides in the environment, on the real broker and topics of
//! their own. Prometheus (Debian's, installed by `scripts/prometheus install`)
//! listens on a free loopback port, scrapes their `/metrics` every second and
//! evaluates `deploy/prometheus/rules/`. A generated feed with malformed
//! messages goes through; the test works out from the feed what each stage
//! must count, and the counters Prometheus returns from `/api/v1/query` must
//! equal those numbers exactly and stay equal. The rule groups must load and
//! evaluate without error, and every dashboard query must run. Processes and
//! the temporary directory are removed on drop, also when an assertion fails.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use customs_domain::generator::{Generator, GeneratorConfig, MessageKind};
use customs_domain::parse::{ParseLimits, parse_message};
use customs_domain::{CodeTables, Event, classify, value};
use customs_e2e::feed::{generate, produce};
use customs_e2e::processes::{Children, free_port, prometheus_binary, repo, start_all_deployed};
use customs_e2e::{broker, create_topics, raw_producer, unique_topics};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NUM_MESSAGES: usize = 2_000;
const TIMEOUT: Duration = Duration::from_secs(60);
const SERVICES: [&str; 3] = ["ingest", "normalize", "aggregate"];

/// Child processes and a scratch directory, gone on drop (the children
/// first: they write into the directory).
struct Cleanup {
    children: Children,
    dir: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        std::mem::take(&mut self.children);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Percent-encodes a query parameter (RFC 3986 unreserved characters stay).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET `path` from Prometheus on `port`: status code and body.
async fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no HTTP header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no HTTP status")?;
    Ok((status, body.to_owned()))
}

/// An instant query's result vector.
async fn query(port: u16, promql: &str) -> anyhow::Result<Vec<Value>> {
    let (status, body) = http_get(port, &format!("/api/v1/query?query={}", encode(promql))).await?;
    let json: Value = serde_json::from_str(&body)?;
    ensure!(
        status == 200 && json["status"] == "success",
        "{promql}: {status} {body}"
    );
    Ok(json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// A series' value as a number.
fn sample(series: &Value) -> f64 {
    series["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// What each stage must have counted for a feed, by a name of our own.
fn expected_counts(payloads: &[Vec<u8>], tables: &CodeTables) -> BTreeMap<String, f64> {
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    let mut add = |key: String| *counts.entry(key).or_default() += 1.0;
    for payload in payloads {
        add("ingest consumed".into());
        let Ok(events) = parse_message(payload, tables, ParseLimits::default()) else {
            add("ingest dead letters".into());
            add("ingest rejected".into());
            continue;
        };
        for event in events {
            add("ingest produced".into());
            add("normalize consumed".into());
            let classified = match &event {
                Event::Declaration(d) => match (classify(d, tables), value(d, tables)) {
                    (Ok(c), Ok(_)) => {
                        Some(format!("{}/{}", c.category.as_str(), d.direction.as_str()))
                    }
                    _ => {
                        add("normalize dead letters".into());
                        continue;
                    }
                },
                _ => None,
            };
            // A summary result goes to every classified partition (3 here).
            let copies = if matches!(event, Event::SummaryResult(_)) {
                3
            } else {
                1
            };
            for _ in 0..copies {
                add("normalize produced".into());
                add("aggregate consumed".into());
            }
            if let Some(key) = classified {
                add(format!("classified {key}"));
            }
        }
    }
    counts
}

/// The same numbers as Prometheus has them now.
async fn observed_counts(port: u16) -> anyhow::Result<BTreeMap<String, f64>> {
    let mut counts = BTreeMap::new();
    for (key, promql) in [
        (
            "ingest consumed",
            "sum(customs_ingest_messages_consumed_total)",
        ),
        (
            "ingest produced",
            r#"sum(customs_ingest_messages_produced_total{output="data"})"#,
        ),
        (
            "ingest dead letters",
            r#"sum(customs_ingest_messages_produced_total{output="dead_letter"})"#,
        ),
        (
            "ingest rejected",
            "sum(customs_ingest_messages_rejected_total)",
        ),
        (
            "normalize consumed",
            "sum(customs_normalize_messages_consumed_total)",
        ),
        (
            "normalize produced",
            r#"sum(customs_normalize_messages_produced_total{output="data"})"#,
        ),
        (
            "normalize dead letters",
            r#"sum(customs_normalize_messages_produced_total{output="dead_letter"})"#,
        ),
        (
            "aggregate consumed",
            "sum(customs_aggregate_messages_consumed_total)",
        ),
    ] {
        // Zero-valued counters are left out, as expected_counts never adds them.
        for series in query(port, promql).await? {
            if sample(&series) != 0.0 {
                counts.insert(key.to_owned(), sample(&series));
            }
        }
    }
    let by_category =
        "sum by (category, direction) (customs_normalize_declarations_classified_total)";
    for series in query(port, by_category).await? {
        // Every category/direction series exists from the start, at 0.
        if sample(&series) == 0.0 {
            continue;
        }
        let labels = &series["metric"];
        let key = format!(
            "classified {}/{}",
            labels["category"].as_str().unwrap_or("?"),
            labels["direction"].as_str().unwrap_or("?")
        );
        counts.insert(key, sample(&series));
    }
    Ok(counts)
}

/// Starts one service process with deploy/config/<service>.toml and overrides.
/// Prometheus on `port` scraping `targets` (job → port) every second, with the
/// repository's rules; returns once it is ready.
async fn start_prometheus(
    cleanup: &mut Cleanup,
    port: u16,
    targets: &[(String, u16)],
) -> anyhow::Result<()> {
    let mut config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}/deploy/prometheus/rules/*.yml\nscrape_configs:\n",
        repo().canonicalize()?.display()
    );
    for (job, target_port) in targets {
        config.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: [\"127.0.0.1:{target_port}\"]\n"
        ));
    }
    let config_file = cleanup.dir.join("prometheus.yml");
    std::fs::write(&config_file, config)?;
    let mut command = Command::new(prometheus_binary()?);
    command
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            cleanup.dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null());
    cleanup.children.spawn("prometheus", &mut command)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        cleanup.children.ensure_running()?;
        if let Ok((200, _)) = http_get(port, "/-/ready").await {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "prometheus not ready after 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_counters_equal_what_the_pipeline_processed() -> anyhow::Result<()> {
    let started = Instant::now();
    let bootstrap = broker()?;
    let topics = unique_topics("prometheus");
    create_topics(&bootstrap, "prometheus", &topics).await?;
    let dir = std::env::temp_dir().join(format!(
        "customs-prometheus-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let mut cleanup = Cleanup {
        children: Children::default(),
        dir,
    };

    let grpc_port = free_port()?;
    let targets: Vec<(String, u16)> = start_all_deployed(
        &mut cleanup.children,
        "prometheus",
        &bootstrap,
        &topics,
        grpc_port,
    )?
    .into_iter()
    .map(|(service, port)| (format!("customs-{service}"), port))
    .collect();
    let prometheus_port = free_port()?;
    start_prometheus(&mut cleanup, prometheus_port, &targets).await?;

    // The feed, and what every stage must count for it.
    let tables = CodeTables::embedded();
    let mut generator = Generator::new(
        GeneratorConfig {
            seed: 606,
            malformed_rate: 0.03,
            duplicate_rate: 0.03,
            withdrawal_rate: 0.02,
            summary_rate: 0.2,
            ..GeneratorConfig::default()
        },
        &tables,
    );
    let messages = generate(&mut generator, NUM_MESSAGES);
    let payloads: Vec<Vec<u8>> = messages.iter().map(|m| m.payload.clone()).collect();
    let expected = expected_counts(&payloads, &tables);
    let malformed = generator
        .summary()
        .messages
        .get(&MessageKind::Malformed)
        .copied()
        .unwrap_or(0);
    let dead_letters = expected.get("ingest dead letters").copied().unwrap_or(0.0)
        + expected
            .get("normalize dead letters")
            .copied()
            .unwrap_or(0.0);
    ensure!(malformed > 0, "the feed has malformed messages");
    assert_eq!(
        dead_letters, malformed as f64,
        "the expectation agrees with the generator summary"
    );
    assert_eq!(expected["ingest consumed"], messages.len() as f64);

    produce(&raw_producer(&bootstrap)?, &topics.raw, &messages).await?;
    eprintln!(
        "e2e: {} messages sent after {:.1?}; expecting {expected:?}",
        messages.len(),
        started.elapsed()
    );

    let deadline = Instant::now() + TIMEOUT;
    loop {
        cleanup.children.ensure_running()?;
        let observed = observed_counts(prometheus_port).await?;
        if observed == expected {
            break;
        }
        if Instant::now() > deadline {
            bail!("after {TIMEOUT:?} Prometheus has\n{observed:#?}\nexpected\n{expected:#?}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!(
        "e2e: Prometheus counters exact after {:.1?}",
        started.elapsed()
    );
    // Three more scrapes: nothing is counted twice later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(observed_counts(prometheus_port).await?, expected);
    let up = query(prometheus_port, r#"up{job=~"customs-.*"} == 1"#).await?;
    assert_eq!(up.len(), SERVICES.len(), "every service is up: {up:?}");

    // The repository's rules load and evaluate on live series.
    let (status, body) = http_get(prometheus_port, "/api/v1/rules").await?;
    ensure!(status == 200, "rules API: {status}");
    let rules: Value = serde_json::from_str(&body)?;
    let groups = rules["data"]["groups"].as_array().context("rule groups")?;
    ensure!(groups.len() >= 2, "rule groups loaded: {groups:?}");
    for rule in groups
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
    {
        assert_eq!(
            rule["health"], "ok",
            "rule {} failed: {}",
            rule["name"], rule["lastError"]
        );
    }
    let recorded = query(
        prometheus_port,
        r#"customs:messages_consumed:rate5m{service="ingest"}"#,
    )
    .await?;
    assert_eq!(recorded.len(), 1, "the recording rule sees ingest");

    // Every dashboard query is valid PromQL for this server.
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(
        repo().join("deploy/grafana/dashboards/customs-pipeline.json"),
    )?)?;
    let panels = dashboard["panels"].as_array().context("panels")?;
    for target in panels
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
    {
        let promql = target["expr"].as_str().unwrap_or_default();
        let runnable = promql
            .replace("$__rate_interval", "1m")
            .replace("$currency", "USD");
        query(prometheus_port, &runnable)
            .await
            .with_context(|| format!("dashboard query {promql}"))?;
    }
    eprintln!("e2e: done in {:.1?}", started.elapsed());
    Ok(())
}
