//! The aggregate's in-memory state and how classified events change it.
//!
//! The lock is held only to apply one record or to copy the rows for one
//! answer, never across I/O.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use customs_domain::lifecycle::{Delta, Lifecycle};
use customs_domain::{ClassifiedDeclaration, Receipt, RejectReason, Totals};
use customs_proto::v1;
use prost::Message;

/// How often waiting receipts are checked for expiry, in records.
const EXPIRY_EVERY_RECORDS: u64 = 10_000;
/// How long a receipt may wait for its inventory, in records read (about an
/// hour of traffic at the target rate); then it is dropped and counted in
/// `customs_aggregate_lifecycle_expired_total`.
const WAITING_TTL_EVENTS: u64 = 5_000_000;

/// Lifecycle, totals and bookkeeping for freshness.
#[derive(Debug, Default)]
pub struct State {
    /// When each declaration counts, and what it contributed.
    pub lifecycle: Lifecycle,
    /// Totals per (category, direction): the sum of the lifecycle's deltas.
    pub totals: Totals,
    /// Classified records read, duplicates included.
    pub num_records_read: u64,
}

/// State shared between the reader thread and the gRPC handlers.
pub type SharedState = Arc<Mutex<State>>;

/// Locks the state; a poisoned lock still holds consistent totals because
/// every record's deltas are applied before the lock is released.
pub fn lock(state: &SharedState) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Decodes one classified event and applies it: lifecycle first, then the
/// deltas it produces to the totals.
pub fn apply(state: &SharedState, payload: &[u8]) {
    metrics::counter!("customs_aggregate_messages_consumed_total").increment(1);
    let kind = match v1::ClassifiedEvent::decode(payload).map(|message| message.kind) {
        Ok(Some(kind)) => kind,
        Ok(None) => return undecodable("classified event without kind".to_owned()),
        Err(err) => return undecodable(err.to_string()),
    };
    let mut guard = lock(state);
    let state = &mut *guard;
    state.num_records_read += 1;
    let deltas = match kind {
        v1::classified_event::Kind::Declaration(wire) => {
            match ClassifiedDeclaration::try_from(wire) {
                Ok(classified) => state.lifecycle.record_declaration(classified),
                Err(err) => {
                    drop(guard);
                    return undecodable(err.to_string());
                }
            }
        }
        v1::classified_event::Kind::Receipt(wire) => match Receipt::try_from(wire) {
            Ok(receipt) => state.lifecycle.record_receipt(&receipt),
            Err(err) => {
                drop(guard);
                return undecodable(err.to_string());
            }
        },
        v1::classified_event::Kind::SummaryResult(wire) => {
            state.lifecycle.record_summary(&wire.into())
        }
    };
    for delta in &deltas {
        state.totals.apply(delta);
        let (kind, contribution) = match delta {
            Delta::Add(contribution) => ("add", contribution),
            Delta::Retract(contribution) => ("retract", contribution),
        };
        metrics::counter!(
            "customs_aggregate_deltas_total",
            "kind" => kind,
            "category" => contribution.category.as_str(),
            "direction" => contribution.direction.as_str()
        )
        .increment(1);
    }
    if state.num_records_read.is_multiple_of(EXPIRY_EVERY_RECORDS) {
        let expired = state.lifecycle.expire(WAITING_TTL_EVENTS);
        metrics::counter!("customs_aggregate_lifecycle_expired_total").increment(expired as u64);
        if expired > 0 {
            tracing::warn!(
                expired,
                "receipts whose inventory never arrived were dropped after the TTL"
            );
        }
    }
    metrics::gauge!("customs_aggregate_lifecycle_waiting")
        .set(state.lifecycle.num_waiting() as f64);
}

/// Only our own normalize writes this topic, so this is a bug or a foreign
/// producer: loud, counted, and not silently absorbed.
fn undecodable(error: String) {
    let reason = RejectReason::UndecodableRecord.as_str();
    metrics::counter!("customs_aggregate_messages_rejected_total", "reason" => reason).increment(1);
    tracing::error!(%error, "undecodable classified record skipped");
}
