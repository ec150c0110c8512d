//! `Subscribe`: a query's answer now, then again whenever the state version
//! moved and the answer differs, at most every `min_interval_ms`.
//!
//! Guarantees:
//! - a slow subscriber never slows the aggregate: the writer only stores the
//!   newest version in a `watch` (never blocks, never queues); each
//!   subscription has a channel of one answer and computes its next answer
//!   only once that slot is free, so what it sends is always computed from
//!   the newest state when the client can take it — intermediate states are
//!   skipped (the client is resynchronised), nothing queues without bound;
//! - every message is a full snapshot with its freshness, never a delta;
//! - on shutdown the stream ends with `UNAVAILABLE` ("server is shutting
//!   down"), so clients know to resubscribe elsewhere; when the client goes
//!   away the task ends at its next wake-up.
//!
//! The `customs_aggregate_subscribers` gauge counts open subscriptions; at
//! most `api.max_subscriptions` are open (one more is `RESOURCE_EXHAUSTED`).

use std::sync::Arc;
use std::time::Duration;

use customs_proto::v1;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::deadline;
use super::errors::ApiError;
use super::query;
use super::request::Plan;
use crate::state::Shared;

/// Default and smallest interval between updates.
const DEFAULT_INTERVAL_MS: u32 = 1000;
const MIN_INTERVAL_MS: u32 = 100;

/// The stream a subscription returns.
pub type Updates = ReceiverStream<Result<v1::QueryResponse, Status>>;

/// Validates `request`.
pub fn parse(request: &v1::SubscribeRequest) -> Result<(Plan, Duration), ApiError> {
    let query = request
        .query
        .as_ref()
        .ok_or_else(|| ApiError::invalid("query", "required"))?;
    let plan = Plan::parse(query, "query.")?;
    let interval_ms = match request.min_interval_ms {
        0 => DEFAULT_INTERVAL_MS,
        ms if ms < MIN_INTERVAL_MS => {
            return Err(ApiError::invalid(
                "min_interval_ms",
                format!("at least {MIN_INTERVAL_MS}"),
            ));
        }
        ms => ms,
    };
    Ok((plan, Duration::from_millis(u64::from(interval_ms))))
}

/// Starts the subscription's task and returns its stream.
/// `admitted` is the subscription's place under `api.max_subscriptions`,
/// held until its task ends.
pub fn start(
    state: Arc<Shared>,
    plan: Plan,
    interval: Duration,
    shutdown: CancellationToken,
    admitted: OwnedSemaphorePermit,
) -> Updates {
    let (sender, receiver) = mpsc::channel(1);
    tokio::spawn(run(state, plan, interval, shutdown, sender, admitted));
    ReceiverStream::new(receiver)
}

/// Counts the subscription in the gauge, and holds its admission, while it
/// lives.
struct Open(#[allow(dead_code)] OwnedSemaphorePermit);

impl Open {
    fn new(admitted: OwnedSemaphorePermit) -> Self {
        metrics::gauge!("customs_aggregate_subscribers").increment(1.0);
        Open(admitted)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        metrics::gauge!("customs_aggregate_subscribers").decrement(1.0);
    }
}

async fn run(
    state: Arc<Shared>,
    plan: Plan,
    interval: Duration,
    shutdown: CancellationToken,
    sender: mpsc::Sender<Result<v1::QueryResponse, Status>>,
    admitted: OwnedSemaphorePermit,
) {
    let _open = Open::new(admitted);
    let mut versions = state.watch_version();
    let mut last_sent: Option<v1::QueryResponse> = None;
    loop {
        // Wait until the client can take an answer, then compute the newest.
        let permit = tokio::select! {
            permit = sender.reserve() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            () = shutdown.cancelled() => break,
        };
        versions.borrow_and_update();
        let plan_now = plan.clone();
        let answer =
            deadline::compute(&state, None, move |state| query::answer(state, &plan_now)).await;
        match answer {
            Err(error) => {
                permit.send(Err(error.into()));
                return;
            }
            Ok(answer) => {
                let content = v1::QueryResponse {
                    freshness: None,
                    ..answer.clone()
                };
                if last_sent.as_ref() != Some(&content) {
                    permit.send(Ok(answer));
                    last_sent = Some(content);
                }
            }
        }
        let computed_at = Instant::now();
        tokio::select! {
            changed = versions.changed() => if changed.is_err() { break },
            () = sender.closed() => return,
            () = shutdown.cancelled() => break,
        }
        tokio::select! {
            () = tokio::time::sleep_until(computed_at + interval) => {}
            () = sender.closed() => return,
            () = shutdown.cancelled() => break,
        }
    }
    // Shutdown: tell the client, without waiting on a slow one.
    let _ = sender.try_send(Err(ApiError::ShuttingDown.into()));
}
