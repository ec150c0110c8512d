//! A realistic generated feed on a real broker — declarations, inventories
//! with their receipts, summary results, re-sent duplicates, withdrawals,
//! late and malformed messages — and the statistics served over gRPC equal
//! the generator's summary exactly, with every malformed message dead-lettered
//! once.

use std::time::Duration;

use anyhow::ensure;
use customs_domain::CodeTables;
use customs_domain::generator::{Generator, MessageKind};
use customs_e2e::feed::{generate, produce, with_every_case};
use customs_e2e::{Pipeline, await_exact_totals, broker, raw_producer, service_kafka};
use customs_proto::v1::stats_service_client::StatsServiceClient;

const NUM_MESSAGES: usize = 3_000;
const TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generated_feed_gives_exactly_the_generator_summary() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let pipeline = Pipeline::start(&bootstrap, "generated").await?;

    let tables = CodeTables::embedded();
    let mut generator = Generator::new(with_every_case(2026), &tables);
    let messages = generate(&mut generator, NUM_MESSAGES);
    produce(&raw_producer(&bootstrap)?, &pipeline.topics.raw, &messages).await?;
    let sent = messages.len();
    let summary = generator.summary();
    let num_malformed = summary
        .messages
        .get(&MessageKind::Malformed)
        .copied()
        .unwrap_or(0) as usize;
    for kind in [
        MessageKind::Duplicate,
        MessageKind::Withdrawal,
        MessageKind::SummaryResult,
        MessageKind::Malformed,
    ] {
        ensure!(
            summary.messages.get(&kind).copied().unwrap_or(0) > 0,
            "the feed has no {kind:?}"
        );
    }
    ensure!(
        summary.counted != summary.declared,
        "withdrawals and summaries must restate something"
    );
    eprintln!(
        "e2e: sent {sent} generated messages: {:?}",
        summary.messages
    );

    let mut client = StatsServiceClient::connect(format!("http://{}", pipeline.grpc_addr)).await?;
    await_exact_totals(&mut client, &summary.counted, TIMEOUT, || Ok(())).await?;

    let config = service_kafka(&bootstrap, "generated", "dead-letters");
    let topic = pipeline.topics.dead_letter.clone();
    let letters = tokio::task::spawn_blocking(move || {
        customs_kafka::reader::read_dead_letters(
            &config,
            &topic,
            num_malformed,
            Duration::from_secs(3),
            TIMEOUT,
        )
    })
    .await??;
    assert_eq!(
        letters.len(),
        num_malformed,
        "each malformed message dead-lettered once"
    );
    assert!(letters.iter().all(|letter| !letter.reason.is_empty()));
    pipeline.stop().await
}
