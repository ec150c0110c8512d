//! Every metric in docs/metrics.md is exported by the service it names, with
//! values that match the work done.
//!
//! The three services run as real processes (`customs-ingest`,
//! `customs-normalize`, `customs-aggregate`) with `deploy/config/*.toml`,
//! per-test overrides in the environment and a `/metrics` port each, on the
//! real broker and topics of their own. A small generated feed (with
//! malformed, duplicate and too-late messages) goes through and one gRPC
//! request is made. Then each `/metrics` is scraped: every documented name of
//! that service must be present (a histogram by its `_bucket` and `_count`
//! series), and a few values are checked against the feed: consumer lag is
//! zero on every owned partition once caught up, the value counter is the
//! feed's committed value rounded down to whole units, events and
//! finished-transaction counts agree with the stage counters.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use customs_domain::generator::{Generator, GeneratorConfig};
use customs_domain::parse::{ParseLimits, parse_message};
use customs_domain::{CodeTables, Event, classify, value};
use customs_e2e::feed::{generate, produce};
use customs_e2e::processes::{
    Children, MetricsPage, free_port, metric_name, metric_sum, repo, scrape_metrics,
    service_binary, start_all_deployed,
};
use customs_e2e::{broker, create_topics, raw_producer, unique_topics};
use customs_proto::v1;
use customs_proto::v1::stats_service_client::StatsServiceClient;
use rust_decimal::Decimal;

const NUM_MESSAGES: usize = 600;
const TIMEOUT: Duration = Duration::from_secs(90);
const SERVICES: [&str; 3] = ["ingest", "normalize", "aggregate"];

fn documented_metrics() -> anyhow::Result<Vec<(String, String)>> {
    let doc = std::fs::read_to_string(repo().join("docs/metrics.md"))?;
    let rows: Vec<(String, String)> = doc
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let name = cells.next()?.strip_prefix("`customs_")?.strip_suffix('`')?;
            let kind = cells.next()?;
            Some((format!("customs_{name}"), kind.to_owned()))
        })
        .collect();
    ensure!(rows.len() > 30, "docs/metrics.md table parsed: {rows:?}");
    Ok(rows)
}

/// Partitions of the test's topics (`customs_e2e::service_kafka`).
const PARTITIONS: u64 = 3;

/// What the feed must produce: classified declarations by normalize, events
/// by ingest, and the value per `category/currency` (exact decimals).
#[derive(Debug, Default)]
struct Expected {
    events: u64,
    normalized: u64,
    value: BTreeMap<String, Decimal>,
}

fn expected(payloads: &[Vec<u8>], tables: &CodeTables) -> Expected {
    let mut expected = Expected::default();
    for payload in payloads {
        let Ok(events) = parse_message(payload, tables, ParseLimits::default()) else {
            continue;
        };
        for event in events {
            expected.events += 1;
            if let Event::Declaration(declaration) = &event {
                let (Ok(classified), Ok(valued)) =
                    (classify(declaration, tables), value(declaration, tables))
                else {
                    continue;
                };
                let category = classified.category.as_str();
                for (currency, amount) in [("CNY", valued.total_cny), ("USD", valued.total_usd)] {
                    *expected
                        .value
                        .entry(format!("{category}/{currency}"))
                        .or_default() += amount;
                }
            }
            // Normalize sends a summary result to every classified partition.
            expected.normalized += if matches!(event, Event::SummaryResult(_)) {
                PARTITIONS
            } else {
                1
            };
        }
    }
    expected
}

/// Documented names of `service` absent from its page.
fn missing(
    documented: &[(String, String)],
    service: &str,
    page: &BTreeMap<String, f64>,
) -> Vec<String> {
    let exported: BTreeSet<&str> = page.keys().map(|series| metric_name(series)).collect();
    documented
        .iter()
        .filter(|(name, _)| name.starts_with(&format!("customs_{service}_")))
        .filter(|(name, kind)| {
            if kind == "histogram" {
                !(exported.contains(format!("{name}_bucket").as_str())
                    && exported.contains(format!("{name}_count").as_str()))
            } else {
                !exported.contains(name.as_str())
            }
        })
        .map(|(name, _)| name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_metric_is_exported_with_matching_values() -> anyhow::Result<()> {
    let started = Instant::now();
    let bootstrap = broker()?;
    let documented = documented_metrics()?;
    let topics = unique_topics("metrics");
    create_topics(&bootstrap, "metrics", &topics).await?;
    let grpc_port = free_port()?;
    let mut services = Children::default();
    let ports: BTreeMap<&str, u16> =
        start_all_deployed(&mut services, "metrics", &bootstrap, &topics, grpc_port)?
            .into_iter()
            .collect();

    let tables = CodeTables::embedded();
    let mut generator = Generator::new(
        GeneratorConfig {
            seed: 707,
            malformed_rate: 0.03,
            duplicate_rate: 0.03,
            withdrawal_rate: 0.02,
            too_late_rate: 0.02,
            summary_rate: 0.2,
            ..GeneratorConfig::default()
        },
        &tables,
    );
    let messages = generate(&mut generator, NUM_MESSAGES);
    let payloads: Vec<Vec<u8>> = messages.iter().map(|m| m.payload.clone()).collect();
    let expected = expected(&payloads, &tables);
    produce(&raw_producer(&bootstrap)?, &topics.raw, &messages).await?;

    // Caught up: the aggregate has applied every classified record and each
    // stage's lag gauge has seen it (statistics come every second).
    let deadline = Instant::now() + TIMEOUT;
    let mut pages = BTreeMap::new();
    loop {
        services.ensure_running()?;
        for (service, port) in &ports {
            if let Ok(page) = scrape_metrics(*port).await {
                pages.insert(*service, page);
            }
        }
        let consumed = |service: &str| {
            pages
                .get(service)
                .map(|page| {
                    metric_sum(
                        page,
                        &format!("customs_{service}_messages_consumed_total"),
                        &[],
                    )
                })
                .unwrap_or_default()
        };
        // NaN (not caught up) until the service has a lag series for each
        // of the 3 partitions: librdkafka's statistics name a partition
        // only once it has fetched from it, so a sum over fewer series can
        // be 0 too early (seen once in CI).
        let lag = |service: &str| {
            let name = format!("customs_{service}_consumer_lag_messages");
            pages
                .get(service)
                .filter(|page| {
                    page.keys()
                        .filter(|series| metric_name(series) == name)
                        .count()
                        == 3
                })
                .map(|page| metric_sum(page, &name, &[]))
                .unwrap_or(f64::NAN)
        };
        let caught_up = consumed("ingest") == messages.len() as f64
            && consumed("aggregate") == expected.normalized as f64
            && SERVICES.iter().all(|service| lag(service) == 0.0);
        if caught_up {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "not caught up after {TIMEOUT:?}: consumed {:?}, lag {:?}",
                SERVICES.map(consumed),
                SERVICES.map(lag)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("e2e: caught up after {:.1?}", started.elapsed());
    status_reports_the_lag(grpc_port, &ports, &pages)?;

    // One stats API request, so its request counter has a series.
    let mut client = StatsServiceClient::connect(format!("http://127.0.0.1:{grpc_port}")).await?;
    client.get_totals(v1::GetTotalsRequest::default()).await?;

    for (service, port) in &ports {
        let page = scrape_metrics(*port).await?;
        let absent = missing(&documented, service, &page);
        assert!(absent.is_empty(), "{service} does not export {absent:?}");
        // Every exported family has its HELP text (promtool check metrics
        // failed on all of them).
        let text = customs_e2e::processes::metrics_page(*port).await?;
        let families: BTreeSet<&str> = page
            .keys()
            .map(|series| metric_name(series))
            .map(|name| {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| {
                        name.strip_suffix(suffix)
                            .filter(|base| text.contains(&format!("# TYPE {base} histogram")))
                    })
                    .unwrap_or(name)
            })
            .filter(|name| name.starts_with("customs_"))
            .collect();
        let without_help: Vec<&&str> = families
            .iter()
            .filter(|name| !text.contains(&format!("# HELP {name} ")))
            .collect();
        assert!(
            without_help.is_empty(),
            "{service}: no HELP for {without_help:?}"
        );
        let lint = promtool_check_metrics(&text)?;
        assert!(
            lint.is_empty(),
            "{service}: promtool check metrics:\n{lint}"
        );
        ensure!(
            page.keys()
                .any(|series| metric_name(series) == "process_resident_memory_bytes"),
            "{service} exports no process metrics"
        );
        let build_info = format!("customs_{service}_build_info");
        let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
        ensure!(
            page.iter()
                .any(|(series, value)| metric_name(series) == build_info
                    && series.contains(&version)
                    && *value == 1.0),
            "{service}: no {build_info}{{{version}}} of 1"
        );
        // Lag gauges exist for owned partitions only, labelled by number.
        let partitions: BTreeSet<&str> = page
            .keys()
            .filter(|series| {
                metric_name(series) == format!("customs_{service}_consumer_lag_messages")
            })
            .map(|series| series.as_str())
            .collect();
        assert_eq!(
            partitions,
            (0..3)
                .map(|p| format!("customs_{service}_consumer_lag_messages{{partition=\"{p}\"}}"))
                .collect::<BTreeSet<_>>()
                .iter()
                .map(String::as_str)
                .collect(),
            "{service} lag series"
        );
        // Every committed transaction's commit step was timed.
        assert_eq!(
            metric_sum(
                &page,
                &format!("customs_{service}_transaction_finish_seconds_count"),
                &[]
            ),
            metric_sum(
                &page,
                &format!("customs_{service}_transactions_total"),
                &["outcome=\"committed\""]
            ),
            "{service}: one finish time per committed transaction"
        );
        pages.insert(*service, page);
    }
    let ingest = &pages["ingest"];
    assert_eq!(
        metric_sum(ingest, "customs_ingest_events_total", &[]),
        expected.events as f64
    );
    assert_eq!(
        metric_sum(ingest, "customs_ingest_events_total", &[]),
        metric_sum(
            ingest,
            "customs_ingest_messages_produced_total",
            &["output=\"data\""]
        ),
        "one event per produced record"
    );
    let normalize = &pages["normalize"];
    let mut observed_value = BTreeMap::new();
    for (series, amount) in normalize {
        if metric_name(series) != "customs_normalize_value_processed_total" || *amount == 0.0 {
            continue;
        }
        let label = |key: &str| {
            series
                .split(&format!("{key}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("?")
                .to_owned()
        };
        observed_value.insert(
            format!("{}/{}", label("category"), label("currency")),
            *amount,
        );
    }
    let expected_value: BTreeMap<String, f64> = expected
        .value
        .iter()
        .map(|(key, amount)| {
            (
                key.clone(),
                amount.floor().to_string().parse().unwrap_or(f64::NAN),
            )
        })
        .filter(|(_, amount)| *amount != 0.0)
        .collect();
    assert_eq!(
        observed_value, expected_value,
        "value in whole units, rounded down"
    );
    eprintln!("e2e: done in {:.1?}", started.elapsed());
    Ok(())
}

/// What `promtool check metrics` says of a `/metrics` page (empty when it
/// passes). promtool comes with Debian's prometheus package, which
/// `scripts/prometheus path` installs when it is missing.
/// `customs status --metrics` reports each service's lag per partition as
/// the test's own scrape of the same pages saw it.
fn status_reports_the_lag(
    grpc_port: u16,
    ports: &BTreeMap<&str, u16>,
    pages: &BTreeMap<&str, MetricsPage>,
) -> anyhow::Result<()> {
    let mut command = std::process::Command::new(service_binary("customs")?);
    command.args(["status", "--grpc", &format!("http://127.0.0.1:{grpc_port}")]);
    for port in ports.values() {
        command.args(["--metrics", &format!("http://127.0.0.1:{port}/metrics")]);
    }
    let output = command.output()?;
    let status: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    for (service, page) in pages {
        let name = format!("customs_{service}_consumer_lag_messages");
        let seen: BTreeMap<String, f64> = page
            .iter()
            .filter(|(series, _)| metric_name(series) == name)
            .filter_map(|(series, value)| {
                let partition = series.split("partition=\"").nth(1)?.split('"').next()?;
                Some((partition.to_owned(), *value))
            })
            .collect();
        let reported = &status["consumer_lag"][*service];
        let partitions: BTreeMap<String, f64> = reported["partitions"]
            .as_object()
            .map(|object| {
                object
                    .iter()
                    .map(|(partition, lag)| (partition.clone(), lag.as_f64().unwrap_or(f64::NAN)))
                    .collect()
            })
            .unwrap_or_default();
        ensure!(
            partitions == seen && !seen.is_empty(),
            "customs status reports {service}'s lag as {reported}, the page says {seen:?}"
        );
        ensure!(
            reported["total"].as_f64() == Some(seen.values().sum()),
            "{service}: {reported}"
        );
    }
    Ok(())
}

fn promtool_check_metrics(page: &str) -> anyhow::Result<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let promtool = customs_e2e::processes::prometheus_binary()?.with_file_name("promtool");
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| anyhow::anyhow!("running {}: {err}", promtool.display()))?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("promtool's stdin"))?
        .write_all(page.as_bytes())?;
    let output = child.wait_with_output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(if output.status.success() {
        String::new()
    } else {
        said
    })
}
