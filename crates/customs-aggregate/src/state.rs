//! The aggregate's in-memory state and how classified events change it.
//!
//! The lock is held only to apply one record or to copy the rows for one
//! answer, never across I/O.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use customs_domain::{ClassifiedDeclaration, Recorded, RejectReason, Totals};
use customs_proto::v1;
use prost::Message;

/// Totals plus bookkeeping for freshness.
#[derive(Debug, Default)]
pub struct State {
    /// Deduplicated totals per (category, direction).
    pub totals: Totals,
    /// Classified records read, duplicates included.
    pub num_records_read: u64,
}

/// State shared between the reader thread and the gRPC handlers.
pub type SharedState = Arc<Mutex<State>>;

/// Locks the state; a poisoned lock still holds consistent totals because
/// every update is a single `Totals::record` call.
pub fn lock(state: &SharedState) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Decodes one classified record and adds it to the totals.
pub fn apply(state: &SharedState, payload: &[u8]) {
    metrics::counter!("customs_aggregate_messages_consumed_total").increment(1);
    let decoded = v1::ClassifiedEvent::decode(payload)
        .map_err(|err| err.to_string())
        .and_then(|message| match message.kind {
            Some(v1::classified_event::Kind::Declaration(declaration)) => {
                ClassifiedDeclaration::try_from(declaration)
                    .map(Some)
                    .map_err(|err| err.to_string())
            }
            Some(
                v1::classified_event::Kind::Receipt(_)
                | v1::classified_event::Kind::SummaryResult(_),
            ) => Ok(None),
            None => Err("classified event without kind".to_owned()),
        });
    let classified = match decoded {
        Ok(Some(classified)) => classified,
        Ok(None) => {
            // Receipts and summary results drive the declaration lifecycle
            // (release, withdrawal, supersession) that the exactly-once
            // aggregate adds; until then they are counted, not applied.
            metrics::counter!("customs_aggregate_lifecycle_events_pending_total").increment(1);
            return;
        }
        Err(error) => {
            // Only our own normalize writes this topic, so this is a bug or a
            // foreign producer: loud, counted, and not silently absorbed.
            let reason = RejectReason::UndecodableRecord.as_str();
            metrics::counter!("customs_aggregate_messages_rejected_total", "reason" => reason)
                .increment(1);
            tracing::error!(%error, "undecodable classified record skipped");
            return;
        }
    };
    let mut guard = lock(state);
    guard.num_records_read += 1;
    match guard.totals.record(&classified) {
        Recorded::Counted => {
            let category = classified.classification.category.as_str();
            let direction = classified.declaration.direction.as_str();
            metrics::counter!("customs_aggregate_declarations_counted_total", "category" => category, "direction" => direction)
                .increment(1);
        }
        Recorded::Duplicate => metrics::counter!("customs_aggregate_duplicates_total").increment(1),
        Recorded::Excluded => {
            metrics::counter!("customs_aggregate_declarations_excluded_total").increment(1)
        }
    }
}
