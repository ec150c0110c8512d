//! A live subscription that sees each new declaration arrive (its latency
//! from produce to update is printed, not judged: query and update
//! latencies are benchmarks, `bench/run` and `cargo bench -p customs-domain
//! --bench query`, never timed tests).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use customs_domain::CodeTables;
use customs_domain::generator::{Generator, GeneratorConfig, MessageKind};
use customs_domain::model::MessageType;
use customs_proto::v1;
use rdkafka::producer::FutureProducer;

use crate::Client;
use crate::support::{expected_of, request, window};
use customs_e2e::feed::produce;

pub async fn subscription(
    client: &mut Client,
    producer: &FutureProducer,
    topic: &str,
    tables: &CodeTables,
) -> anyhow::Result<()> {
    let mut updates = client
        .subscribe(v1::SubscribeRequest {
            query: Some(request(
                window(v1::window::Kind::AllTime(v1::AllTime {})),
                &[],
            )),
            min_interval_ms: 100,
        })
        .await?
        .into_inner();
    let snapshot = updates.message().await?.context("a snapshot")?;
    let mut declarations = expected_of(&snapshot.total).num_declarations;
    // New declarations of another feed: each counts on arrival.
    let mut generator = Generator::new(
        GeneratorConfig {
            seed: 99,
            ..GeneratorConfig::default()
        },
        tables,
    );
    let mut fresh = Vec::new();
    while fresh.len() < 5 {
        fresh.extend(generator.next_batch().into_iter().filter(|m| {
            m.kind == MessageKind::Declaration && m.message_type == MessageType::DecMessage
        }));
    }
    let mut times = Vec::new();
    for message in fresh.iter().take(5) {
        let started = Instant::now();
        produce(producer, topic, std::slice::from_ref(message)).await?;
        let update = tokio::time::timeout(Duration::from_secs(30), updates.message())
            .await
            .context("no update within 30 s")??
            .context("stream ended")?;
        times.push(started.elapsed());
        let now = expected_of(&update.total).num_declarations;
        if now != declarations + 1 {
            bail!("expected one more declaration, {declarations} -> {now}");
        }
        declarations = now;
        // Let the interval pass so each update is one message's.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    times.sort();
    eprintln!(
        "api: subscription update latency (raw message produced -> update received), 5 samples: min {:?}, median {:?}, max {:?}",
        times[0], times[2], times[4]
    );
    Ok(())
}
