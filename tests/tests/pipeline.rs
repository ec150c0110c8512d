//! The walking skeleton, end to end on a real Kafka broker: raw XML in, exact
//! totals out of gRPC, every malformed message in the dead-letter topic with
//! its reason, and the Prometheus counters equal to what was processed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use customs_domain::render::render_dec_message;
use customs_domain::sample::{sample_declarations, sample_rejects};
use customs_domain::{Declaration, Direction};
use customs_e2e::{Pipeline, broker, raw_producer, service_kafka};
use customs_kafka::TopicsConfig;
use customs_kafka::dead_letter::DeadLetter;
use customs_proto::v1;
use customs_proto::v1::stats_service_client::StatsServiceClient;
use prost::Message as _;
use rdkafka::producer::FutureRecord;
use rust_decimal::Decimal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NUM_DECLARATIONS: usize = 300;
const NUM_RESENT: usize = 25;
const TIMEOUT: Duration = Duration::from_secs(120);

/// The test's own reading of the trade-category rules, independent of the code tables.
fn expected_category(supervision_mode: &str) -> &'static str {
    match supervision_mode {
        "0110" => "general_trade",
        "0214" | "0615" => "processing_trade",
        "1233" | "5034" => "bonded_logistics",
        "9610" | "1210" | "9710" | "9810" => "cross_border_ecommerce",
        "1039" => "market_procurement",
        "4019" => "border_trade",
        "4561" => "other",
        other => panic!("sample feed uses unexpected mode {other}"),
    }
}

#[derive(Debug, Default, PartialEq)]
struct Cell {
    num_declarations: u64,
    num_items: u64,
    value: BTreeMap<String, Decimal>,
    value_cny: Decimal,
    value_usd: Decimal,
}

type Table = BTreeMap<(String, String), Cell>;

/// Batch recomputation of the totals straight from the generated feed.
fn expected_table(declarations: &[Declaration]) -> Table {
    let tables = customs_domain::CodeTables::embedded();
    let mut table = Table::new();
    for declaration in declarations {
        let direction = match declaration.direction {
            Direction::Import => "import",
            Direction::Export => "export",
        };
        let key = (
            expected_category(&declaration.supervision_mode).to_owned(),
            direction.to_owned(),
        );
        let cell = table.entry(key).or_default();
        cell.num_declarations += 1;
        cell.num_items += declaration.items.len() as u64;
        for item in &declaration.items {
            *cell
                .value
                .entry(item.declared_total.currency.clone())
                .or_default() += item.declared_total.amount;
        }
        let valuation =
            customs_domain::value(declaration, &tables).unwrap_or_else(|r| panic!("{r}"));
        cell.value_cny += valuation.total_cny;
        cell.value_usd += valuation.total_usd;
    }
    table
}

fn served_table(response: &v1::GetTotalsResponse) -> anyhow::Result<Table> {
    let mut table = Table::new();
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
        let mut value = BTreeMap::new();
        for money in &row.declared_value {
            ensure!(
                money
                    .amount
                    .split('.')
                    .nth(1)
                    .is_some_and(|fraction| fraction.len() >= 2),
                "money {} is not shown with two decimals",
                money.amount
            );
            value.insert(money.currency.clone(), money.amount.parse::<Decimal>()?);
        }
        let money = |money: &Option<v1::Money>| -> anyhow::Result<Decimal> {
            Ok(money
                .as_ref()
                .map(|m| m.amount.parse::<Decimal>())
                .transpose()?
                .unwrap_or_default())
        };
        let cell = Cell {
            num_declarations: row.num_declarations,
            num_items: row.num_items,
            value,
            value_cny: money(&row.value_cny)?,
            value_usd: money(&row.value_usd)?,
        };
        table.insert((category, direction), cell);
    }
    Ok(table)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn declarations_flow_from_raw_xml_to_exact_grpc_totals() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    eprintln!("e2e: real broker at {bootstrap}");
    let metrics_addr = free_local_addr().await?;
    customs_telemetry::install_exporter(metrics_addr)?;
    let pipeline = Pipeline::start(&bootstrap, "skeleton").await?;
    let (topics, grpc_addr) = (pipeline.topics.clone(), pipeline.grpc_addr);

    let declarations = sample_declarations(NUM_DECLARATIONS);
    let rejects = sample_rejects();
    produce_feed(&bootstrap, &topics, &declarations, &rejects).await?;

    let expected = expected_table(&declarations);
    let response = wait_for_totals(grpc_addr, NUM_DECLARATIONS as u64).await?;
    let served = served_table(&response)?;
    assert_eq!(
        served, expected,
        "served totals differ from the batch recomputation"
    );
    assert!(served.len() >= 3, "at least three categories");
    assert_eq!(response.num_declarations, NUM_DECLARATIONS as u64);
    assert_eq!(
        response.num_records_read,
        (NUM_DECLARATIONS + NUM_RESENT) as u64,
        "re-sent declarations reach the aggregate and are counted once"
    );

    let dead_letters = read_dead_letters(&bootstrap, &topics.dead_letter, rejects.len()).await?;
    for (payload, reason, stage) in &rejects {
        // Ingest dead-letters the raw bytes; normalize dead-letters its own
        // input, the canonical declaration, which names the raw record.
        let matching: Vec<_> = dead_letters
            .iter()
            .filter(|letter| letter.stage == *stage && letter.reason == reason.as_str())
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "exactly one dead letter for the {reason} sample"
        );
        if *stage == "ingest" {
            assert_eq!(&matching[0].payload, payload, "{reason}: original bytes");
        } else {
            let canonical = v1::Event::decode(matching[0].payload.as_slice())?;
            assert_eq!(canonical.source.map(|s| s.topic), Some(topics.raw.clone()));
            let Some(v1::event::Kind::Declaration(declaration)) = canonical.kind else {
                bail!("normalize dead letter is not a declaration event");
            };
            assert_eq!(declaration.supervision_mode, "7777");
        }
    }

    let num_ingest_dead = rejects
        .iter()
        .filter(|(_, _, stage)| *stage == "ingest")
        .count();
    let num_raw = NUM_DECLARATIONS + NUM_RESENT + rejects.len();
    let metrics = scrape(metrics_addr).await?;
    let expect_metric = |line: &str, value: usize| {
        let found = metrics
            .lines()
            .find(|l| l.starts_with(line))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
        assert_eq!(found, Some(value as f64), "{line}");
    };
    expect_metric("customs_ingest_messages_consumed_total ", num_raw);
    expect_metric(
        "customs_ingest_messages_produced_total{output=\"dead_letter\"}",
        num_ingest_dead,
    );
    expect_metric(
        "customs_ingest_messages_produced_total{output=\"data\"}",
        num_raw - num_ingest_dead,
    );
    expect_metric(
        "customs_ingest_messages_rejected_total{reason=\"malformed_xml\"}",
        1,
    );
    expect_metric(
        "customs_ingest_messages_rejected_total{reason=\"negative_value\"}",
        0,
    );
    expect_metric(
        "customs_normalize_messages_rejected_total{reason=\"unknown_supervision_mode\"}",
        1,
    );
    expect_metric(
        "customs_normalize_messages_produced_total{output=\"data\"}",
        NUM_DECLARATIONS + NUM_RESENT,
    );

    pipeline.stop().await?;
    Ok(())
}

async fn produce_feed(
    bootstrap: &str,
    topics: &TopicsConfig,
    declarations: &[Declaration],
    rejects: &[(Vec<u8>, customs_domain::RejectReason, &'static str)],
) -> anyhow::Result<()> {
    customs_kafka::admin::ensure_topics(
        &service_kafka(bootstrap, "skeleton", "feed"),
        &[&topics.raw],
    )
    .await?;
    let producer = raw_producer(bootstrap)?;
    let timeout = Duration::from_secs(30);
    let resent = declarations.iter().take(NUM_RESENT);
    for declaration in declarations.iter().chain(resent) {
        let xml = render_dec_message(declaration);
        let record = FutureRecord::to(&topics.raw)
            .key(&declaration.id)
            .payload(&xml);
        producer
            .send(record, timeout)
            .await
            .map_err(|(err, _)| err)?;
    }
    for (payload, _, _) in rejects {
        let record: FutureRecord<'_, (), _> = FutureRecord::to(&topics.raw).payload(payload);
        producer
            .send(record, timeout)
            .await
            .map_err(|(err, _)| err)?;
    }
    Ok(())
}

async fn wait_for_totals(addr: SocketAddr, expected: u64) -> anyhow::Result<v1::GetTotalsResponse> {
    let deadline = Instant::now() + TIMEOUT;
    let mut client = StatsServiceClient::connect(format!("http://{addr}")).await?;
    loop {
        let response = client
            .get_totals(v1::GetTotalsRequest::default())
            .await?
            .into_inner();
        if response.num_declarations >= expected
            && response.num_records_read >= expected + NUM_RESENT as u64
        {
            // Give late duplicates a moment to show up if they were going to.
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Ok(client
                .get_totals(v1::GetTotalsRequest::default())
                .await?
                .into_inner());
        }
        if Instant::now() > deadline {
            bail!(
                "aggregate counted {} of {expected} declarations in {TIMEOUT:?}",
                response.num_declarations
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn read_dead_letters(
    bootstrap: &str,
    topic: &str,
    expected: usize,
) -> anyhow::Result<Vec<DeadLetter>> {
    let config = service_kafka(bootstrap, "skeleton", "dead-letter-reader");
    let topic = topic.to_owned();
    let letters = tokio::task::spawn_blocking(move || {
        customs_kafka::reader::read_dead_letters(
            &config,
            &topic,
            expected,
            Duration::from_secs(3),
            TIMEOUT,
        )
    })
    .await??;
    ensure!(
        letters.len() == expected,
        "{} dead letters, expected {expected}",
        letters.len()
    );
    Ok(letters)
}

async fn free_local_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    Ok(listener.local_addr()?)
}

async fn scrape(addr: SocketAddr) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await?;
    ensure!(
        body.starts_with("HTTP/1.") && body.contains(" 200 "),
        "scrape failed: {body:.200}"
    );
    Ok(body)
}
