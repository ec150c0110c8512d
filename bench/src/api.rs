//! Latency of the statistics API on the release aggregate, measured right
//! after the latency run drained, so the aggregate holds that run's state
//! (tens of thousands of declarations) while the services keep running.
//!
//! 1. **Query**: the typical dashboard question — the last 30 days by
//!    partner country, top 10 by value — asked [`NUM_QUERIES`] times in a
//!    row over one connection; client-side round trips. Then
//!    [`NUM_CLIENTS`] clients ask it [`QUERIES_PER_CLIENT`] times each, all
//!    at once over the same connection (HTTP/2 streams, each answered on its
//!    own): round trips under contention and the queries answered per second.
//! 2. **Subscription update**: a subscription to the marker category's
//!    all-time total (`min_interval_ms` 100); one marker declaration is
//!    produced to the raw topic at a time, and the sample is the time from
//!    just before it is handed to the producer until the update that counts
//!    it arrives: the whole pipeline plus the subscription's notification.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use customs_domain::generator::GeneratedMessage;
use customs_proto::v1;
use customs_proto::v1::stats_service_client::StatsServiceClient;
use serde::Serialize;
use tonic::transport::Channel;

use crate::feed::{self, Sender};
use crate::latency::nearest_rank;

/// Queries timed.
pub const NUM_QUERIES: usize = 50;
/// Clients asking at once in the concurrent phase.
pub const NUM_CLIENTS: usize = 4;
/// Queries each of them asks, one after the other.
pub const QUERIES_PER_CLIENT: usize = 10;
/// Subscription updates timed (one marker each).
pub const NUM_UPDATES: usize = 5;
/// An update not seen by then fails the run.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(30);

/// Milliseconds: median, 99th percentile (nearest rank) and maximum.
#[derive(Debug, Clone, Serialize)]
pub struct Millis {
    /// Samples.
    pub num_samples: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile, nearest rank (the maximum below 100 samples).
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct ApiLatency {
    /// Declarations the aggregate held (all-time total).
    pub num_declarations: u64,
    /// The typical Query.
    pub query: Millis,
    /// The typical Query, [`NUM_CLIENTS`] clients at once.
    pub concurrent_query: Millis,
    /// Queries answered per second in the concurrent phase.
    pub concurrent_queries_per_second: f64,
    /// Marker produced → subscription update counting it.
    pub subscription_update: Millis,
}

/// Measures both; `markers` are unused marker declarations (at least
/// [`NUM_UPDATES`]) and `sender` produces to the run's raw topic.
pub async fn measure(
    client: &mut StatsServiceClient<Channel>,
    sender: &mut Sender,
    markers: &[GeneratedMessage],
) -> anyhow::Result<ApiLatency> {
    ensure!(
        markers.len() >= NUM_UPDATES,
        "{} markers left",
        markers.len()
    );
    let typical = v1::QueryRequest {
        window: Some(window(v1::window::Kind::Last(
            v1::RollingSpan::Last30Days as i32,
        ))),
        group_by: vec![v1::Dimension::PartnerCountry as i32],
        order_by: v1::Measure::ValueCny as i32,
        descending: true,
        limit: 10,
        ..Default::default()
    };
    let query = ask(client, &typical, NUM_QUERIES).await?;
    let (concurrent_query, concurrent_queries_per_second) = concurrently(client, &typical).await?;
    let all = client
        .query(v1::QueryRequest {
            window: Some(window(v1::window::Kind::AllTime(v1::AllTime {}))),
            ..Default::default()
        })
        .await?
        .into_inner();
    let num_declarations = all.total.map_or(0, |total| total.num_declarations);

    let mut updates = client
        .subscribe(v1::SubscribeRequest {
            query: Some(v1::QueryRequest {
                window: Some(window(v1::window::Kind::AllTime(v1::AllTime {}))),
                filters: vec![v1::Filter {
                    dimension: v1::Dimension::Category as i32,
                    values: vec![feed::MARKER_CATEGORY.as_str().to_owned()],
                }],
                ..Default::default()
            }),
            min_interval_ms: 100,
        })
        .await?
        .into_inner();
    let snapshot = updates.message().await?.context("no snapshot")?;
    let mut counted = snapshot.total.map_or(0, |total| total.num_declarations);
    let mut subscription = Vec::with_capacity(NUM_UPDATES);
    for marker in &markers[..NUM_UPDATES] {
        let sent = Instant::now();
        sender.send(marker)?;
        loop {
            sender.poll();
            let Ok(update) = tokio::time::timeout(UPDATE_TIMEOUT, updates.message()).await else {
                bail!("no subscription update within {UPDATE_TIMEOUT:?}");
            };
            let update = update?.context("the subscription ended")?;
            let now = update.total.map_or(0, |total| total.num_declarations);
            if now > counted {
                ensure!(
                    now == counted + 1,
                    "{now} markers after {counted} and one more"
                );
                counted = now;
                subscription.push(sent.elapsed().as_secs_f64() * 1e3);
                break;
            }
        }
    }
    Ok(ApiLatency {
        num_declarations,
        query: millis(query),
        concurrent_query,
        concurrent_queries_per_second,
        subscription_update: millis(subscription),
    })
}

/// Asks `typical` `times` times in a row: the round trips in milliseconds.
async fn ask(
    client: &mut StatsServiceClient<Channel>,
    typical: &v1::QueryRequest,
    times: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut round_trips = Vec::with_capacity(times);
    for _ in 0..times {
        let asked = Instant::now();
        let response = client.query(typical.clone()).await?.into_inner();
        round_trips.push(asked.elapsed().as_secs_f64() * 1e3);
        ensure!(!response.rows.is_empty(), "the typical query found nothing");
    }
    Ok(round_trips)
}

/// [`NUM_CLIENTS`] clients asking `typical` [`QUERIES_PER_CLIENT`] times
/// each, all at once: their round trips and the queries answered per second.
async fn concurrently(
    client: &StatsServiceClient<Channel>,
    typical: &v1::QueryRequest,
) -> anyhow::Result<(Millis, f64)> {
    let started = Instant::now();
    let clients: Vec<_> = (0..NUM_CLIENTS)
        .map(|_| {
            let (mut client, typical) = (client.clone(), typical.clone());
            tokio::spawn(async move { ask(&mut client, &typical, QUERIES_PER_CLIENT).await })
        })
        .collect();
    let mut round_trips = Vec::with_capacity(NUM_CLIENTS * QUERIES_PER_CLIENT);
    for client in clients {
        round_trips.extend(client.await??);
    }
    let per_second = round_trips.len() as f64 / started.elapsed().as_secs_f64();
    Ok((millis(round_trips), per_second))
}

fn window(kind: v1::window::Kind) -> v1::Window {
    v1::Window { kind: Some(kind) }
}

fn millis(mut samples: Vec<f64>) -> Millis {
    samples.sort_by(f64::total_cmp);
    Millis {
        num_samples: samples.len(),
        p50: nearest_rank(&samples, 0.5),
        p99: nearest_rank(&samples, 0.99),
        max: samples[samples.len() - 1],
    }
}
