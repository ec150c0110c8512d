//! The declaration lifecycle: when a declaration counts, and how a later
//! event restates it (README, "Delivery guarantees", lifecycle).
//!
//! A pure state machine per declaration identity (the inventory `guid`, or
//! the declaration id when there is none): [`Entry::record_declaration`] and
//! [`Entry::record_receipt`] return the entry's next state, whose
//! [`Entry::counted`] is exactly what the declaration contributes now. The
//! statistics follow the change from the old `counted` to the new one, so a
//! restatement retracts precisely what was added. Rules:
//!
//! - an inventory counts once a receipt says released (`800`) or cleared
//!   (`899`), dated by the earliest such receipt; a `DecMessage` (no public
//!   status receipt format exists) counts on arrival, dated by its
//!   declaration time;
//! - `appType` 2 (change) replaces the contribution; `appType` 3 (delete)
//!   withdraws it;
//! - a mode outside trade statistics never counts;
//! - re-sent events leave the entry as it was, so they count once;
//! - a receipt that arrives before its inventory makes a waiting entry
//!   ([`Entry::is_waiting`]); the aggregate expires those after a TTL.
//!
//! A summary result superseding inventories crosses identities: it is
//! applied by [`partition::PartitionState`], which holds every identity of
//! one partition (each partition receives every summary).

mod contribution;
pub mod partition;
pub mod policy;
pub mod store;

use serde::{Deserialize, Serialize};

pub use contribution::{Contribution, Slice};

use crate::classify::ClassifiedDeclaration;
use crate::model::{AppType, Declaration, MessageType, Receipt};

/// Receipt statuses that make an inventory count.
const RELEASED: i32 = 800;
const CLEARED: i32 = 899;

/// The lifecycle identity of a declaration: its `guid` when it has one (an
/// inventory, which receipts name by guid), else its id.
pub fn lifecycle_key(declaration: &Declaration) -> &str {
    declaration.guid.as_deref().unwrap_or(&declaration.id)
}

/// What a declaration would contribute once released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The contribution, with an empty `counted_at`.
    pub contribution: Contribution,
    /// Whether its supervision mode is in trade statistics.
    pub in_trade_statistics: bool,
    /// The classification's explanation, for `Explain`.
    pub explanation: String,
    /// The message type it came from.
    pub message_type: MessageType,
}

/// Lifecycle state of one declaration identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Incremented on every change; readers apply a version only once.
    pub version: u64,
    /// The latest declaration, once it arrived.
    pub pending: Option<Pending>,
    /// Earliest release or clearance time (UTC+8, ISO 8601).
    pub released_at: Option<String>,
    /// Withdrawn (`appType` 3).
    pub withdrawn: bool,
    /// Latest receipt status seen.
    pub last_status: Option<i32>,
    /// Inventory number customs assigned (from a receipt or the inventory),
    /// which summary results name.
    pub invt_no: Option<String>,
    /// What it contributes to the statistics now.
    pub counted: Option<Contribution>,
    /// Event time of the first event for this identity.
    pub first_event_at: String,
    /// Latest event time seen for this identity.
    pub last_event_at: String,
}

impl Entry {
    /// A receipt came but its declaration has not.
    pub fn is_waiting(&self) -> bool {
        self.pending.is_none()
    }

    /// Lifecycle status, for `Explain`.
    pub fn status(&self) -> &'static str {
        match (&self.pending, &self.counted) {
            (_, Some(_)) => "counted",
            (None, None) => "waiting_for_declaration",
            (Some(_), None) if self.withdrawn => "withdrawn",
            (Some(pending), None) if !pending.in_trade_statistics => "outside_trade_statistics",
            (Some(_), None) => "awaiting_release",
        }
    }

    /// The next state after a declaration (new, change or delete).
    pub fn record_declaration(&self, classified: &ClassifiedDeclaration) -> Entry {
        let declaration = &classified.declaration;
        let mut next = self.clone();
        let at = declaration.declared_at.clone().unwrap_or_default();
        next.touch(&at);
        match declaration.app_type {
            AppType::Delete => next.withdrawn = true,
            AppType::New | AppType::Change => {
                if declaration.message_type == MessageType::DecMessage
                    && next.released_at.is_none()
                    && !at.is_empty()
                {
                    next.released_at = Some(at);
                }
                let contribution = Contribution::of(classified, String::new());
                if next.invt_no.is_none() {
                    next.invt_no.clone_from(&contribution.invt_no);
                }
                next.pending = Some(Pending {
                    contribution,
                    in_trade_statistics: classified.classification.in_trade_statistics,
                    explanation: classified.classification.explanation.clone(),
                    message_type: declaration.message_type,
                });
            }
        }
        next.reconcile()
    }

    /// The next state after a status receipt.
    pub fn record_receipt(&self, receipt: &Receipt) -> Entry {
        let mut next = self.clone();
        next.touch(&receipt.returned_at);
        if matches!(receipt.status, RELEASED | CLEARED) {
            // The earliest release counts; a re-sent or later receipt does not move it.
            let earlier = next
                .released_at
                .as_ref()
                .is_some_and(|at| at <= &receipt.returned_at);
            if !earlier {
                next.released_at = Some(receipt.returned_at.clone());
            }
        }
        next.last_status = Some(receipt.status);
        if let Some(invt_no) = &receipt.invt_no {
            next.invt_no = Some(invt_no.clone());
        }
        next.reconcile()
    }

    fn touch(&mut self, at: &str) {
        if self.first_event_at.is_empty() || (!at.is_empty() && at < self.first_event_at.as_str()) {
            self.first_event_at = at.to_owned();
        }
        if at > self.last_event_at.as_str() {
            self.last_event_at = at.to_owned();
        }
    }

    /// Brings `counted` in line with the state.
    fn reconcile(mut self) -> Entry {
        self.counted = self.desired();
        self
    }

    fn desired(&self) -> Option<Contribution> {
        let pending = self.pending.as_ref()?;
        let released_at = self.released_at.as_ref()?;
        if self.withdrawn || !pending.in_trade_statistics {
            return None;
        }
        let mut contribution = pending.contribution.clone();
        contribution.counted_at = released_at.clone();
        Some(contribution)
    }
}

#[cfg(test)]
pub(crate) mod tests;
