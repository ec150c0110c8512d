//! The declaration lifecycle: when a declaration counts, and how a later
//! event restates it (DOMAIN.md §5).
//!
//! A pure state machine keyed by declaration identity. Feed it every
//! classified declaration, receipt and summary result in partition order with
//! [`Lifecycle::record`]; it answers with the [`Delta`]s to apply to the
//! statistics: an addition when a declaration becomes countable, a retraction
//! (the exact earlier contribution) and possibly a new addition when it
//! changes, is withdrawn or is superseded. Rules:
//!
//! - an inventory counts once a receipt says released (`800`) or cleared
//!   (`899`), dated by that receipt; a `DecMessage` (no public status receipt
//!   format exists) counts on arrival, dated by its declaration time;
//! - `appType` 2 (change) replaces the contribution; `appType` 3 (delete)
//!   retracts it;
//! - a summary result supersedes the inventories it lists: they are retracted
//!   (the summary's own declaration is counted when it arrives);
//! - a mode outside trade statistics never counts;
//! - re-sent events change nothing: the outcome depends on the state, not on
//!   how often an event arrived;
//! - a receipt that arrives before its inventory waits; [`Lifecycle::expire`]
//!   drops such waiting entries after a TTL and says how many.
//!
//! Retractions always carry the contribution that was added, so
//! `sum(deltas)` is exactly the statistics of the current state.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

use crate::classify::{ClassifiedDeclaration, TradeCategory};
use crate::model::{AppType, Direction, MessageType, Receipt, SummaryResult};

/// Receipt statuses that make an inventory count.
const RELEASED: i32 = 800;
const CLEARED: i32 = 899;

/// What one declaration adds to the statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// Declaration id.
    pub id: String,
    /// Trade category.
    pub category: TradeCategory,
    /// Direction.
    pub direction: Direction,
    /// Goods items.
    pub num_items: u64,
    /// Value in CNY.
    pub value_cny: Decimal,
    /// Value in USD.
    pub value_usd: Decimal,
    /// Declared value per ISO 4217 currency.
    pub declared_value: BTreeMap<String, Decimal>,
    /// When it counts: the release time (UTC+8, ISO 8601).
    pub counted_at: String,
}

/// A change to apply to the statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    /// Add this contribution.
    Add(Contribution),
    /// Remove this contribution, added earlier.
    Retract(Contribution),
}

#[derive(Debug, Default)]
struct Entry {
    declaration: Option<ClassifiedDeclaration>,
    released_at: Option<String>,
    withdrawn: bool,
    superseded: bool,
    counted: Option<Contribution>,
    /// Sequence number of the first event, for TTL expiry of waiting entries.
    first_seen: u64,
}

/// Lifecycle state of every declaration seen.
#[derive(Debug, Default)]
pub struct Lifecycle {
    entries: HashMap<String, Entry>,
    key_by_invt_no: HashMap<String, String>,
    superseded_invt_nos: HashMap<String, ()>,
    sequence: u64,
}

impl Lifecycle {
    /// An empty lifecycle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a classified declaration or inventory.
    pub fn record_declaration(&mut self, classified: ClassifiedDeclaration) -> Vec<Delta> {
        let declaration = &classified.declaration;
        let key = declaration
            .guid
            .clone()
            .unwrap_or_else(|| declaration.id.clone());
        if declaration.guid.is_some() && declaration.id != key {
            self.index_invt_no(&declaration.id, &key);
        }
        let app_type = declaration.app_type;
        let is_dec_message = declaration.message_type == MessageType::DecMessage;
        let declared_at = declaration.declared_at.clone();
        let superseded = self.superseded_invt_nos.contains_key(&declaration.id);
        let entry = self.entry(&key);
        entry.superseded |= superseded;
        match app_type {
            AppType::Delete => entry.withdrawn = true,
            AppType::New | AppType::Change => {
                if is_dec_message && entry.released_at.is_none() {
                    entry.released_at = declared_at;
                }
                entry.declaration = Some(classified);
            }
        }
        reconcile(entry)
    }

    /// Records a status receipt for an inventory.
    pub fn record_receipt(&mut self, receipt: &Receipt) -> Vec<Delta> {
        if let Some(invt_no) = &receipt.invt_no {
            self.index_invt_no(invt_no, &receipt.guid);
        }
        let superseded = receipt
            .invt_no
            .as_ref()
            .is_some_and(|n| self.superseded_invt_nos.contains_key(n));
        let entry = self.entry(&receipt.guid);
        entry.superseded |= superseded;
        if matches!(receipt.status, RELEASED | CLEARED) {
            // The earliest release counts; a re-sent or later receipt does not move it.
            let earlier = entry
                .released_at
                .as_ref()
                .is_some_and(|at| at <= &receipt.returned_at);
            if !earlier {
                entry.released_at = Some(receipt.returned_at.clone());
            }
        }
        reconcile(entry)
    }

    /// Records a summary result: the inventories it lists stop counting.
    pub fn record_summary(&mut self, summary: &SummaryResult) -> Vec<Delta> {
        let mut deltas = Vec::new();
        for invt_no in &summary.invt_nos {
            self.superseded_invt_nos.insert(invt_no.clone(), ());
            let key = self
                .key_by_invt_no
                .get(invt_no)
                .cloned()
                .unwrap_or_else(|| invt_no.clone());
            if let Some(entry) = self.entries.get_mut(&key) {
                entry.superseded = true;
                deltas.extend(reconcile(entry));
            }
        }
        deltas
    }

    /// Drops entries that have waited for their declaration longer than
    /// `ttl_events` recorded events; returns how many were dropped.
    pub fn expire(&mut self, ttl_events: u64) -> usize {
        let now = self.sequence;
        let before = self.entries.len();
        self.entries.retain(|_, entry| {
            entry.declaration.is_some() || now.saturating_sub(entry.first_seen) <= ttl_events
        });
        before - self.entries.len()
    }

    /// Entries waiting for their declaration (a receipt came first).
    pub fn num_waiting(&self) -> usize {
        self.entries
            .values()
            .filter(|entry| entry.declaration.is_none())
            .count()
    }

    fn entry(&mut self, key: &str) -> &mut Entry {
        self.sequence += 1;
        let sequence = self.sequence;
        self.entries.entry(key.to_owned()).or_insert_with(|| Entry {
            first_seen: sequence,
            ..Entry::default()
        })
    }

    /// Remembers that `invt_no` names the inventory keyed `key` (its guid), so
    /// a summary result listing the invtNo finds the inventory.
    fn index_invt_no(&mut self, invt_no: &str, key: &str) {
        self.key_by_invt_no
            .insert(invt_no.to_owned(), key.to_owned());
    }
}

/// Brings `counted` in line with what the entry's state says should count.
fn reconcile(entry: &mut Entry) -> Vec<Delta> {
    let desired = desired(entry);
    if desired == entry.counted {
        return Vec::new();
    }
    let mut deltas = Vec::with_capacity(2);
    if let Some(old) = entry.counted.take() {
        deltas.push(Delta::Retract(old));
    }
    if let Some(new) = desired {
        entry.counted = Some(new.clone());
        deltas.push(Delta::Add(new));
    }
    deltas
}

fn desired(entry: &Entry) -> Option<Contribution> {
    let classified = entry.declaration.as_ref()?;
    let released_at = entry.released_at.as_ref()?;
    if entry.withdrawn || entry.superseded || !classified.classification.in_trade_statistics {
        return None;
    }
    let mut declared_value = BTreeMap::new();
    for item in &classified.declaration.items {
        *declared_value
            .entry(item.declared_total.currency.clone())
            .or_default() += item.declared_total.amount;
    }
    Some(Contribution {
        declared_value,
        id: classified.declaration.id.clone(),
        category: classified.classification.category,
        direction: classified.declaration.direction,
        num_items: classified.declaration.items.len() as u64,
        value_cny: classified.valuation.total_cny,
        value_usd: classified.valuation.total_usd,
        counted_at: released_at.clone(),
    })
}

#[cfg(test)]
mod tests;
