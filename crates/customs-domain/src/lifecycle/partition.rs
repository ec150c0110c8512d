//! One classified partition's lifecycle state, as its owner holds it: the
//! [`Entry`] of every declaration identity of the partition, the summary
//! results it has seen, and the inventory numbers they supersede.
//!
//! A synchronous state machine: each `record_*` applies one event under the
//! [`Policy`] (the caller injects the horizon, from the watermark) and
//! returns how the partition's *effective* contributions changed — what the
//! caller turns into statistics records. The open transaction's changes are
//! held in memory over the committed state, which lives in a
//! [`StateStore`] (on disk in the service): [`PartitionState::commit`]
//! writes them to the store as one batch, [`PartitionState::rollback`]
//! drops them, so an aborted Kafka transaction leaves no trace;
//! [`PartitionState::dirty`] lists what changed, once per key, for the
//! changelog. Memory holds one transaction's changes, not the partition.
//!
//! Guarantees:
//! - an entry's effective contribution is its `counted`, unless a summary
//!   result seen by this partition supersedes one of its inventory numbers,
//!   in either order of arrival;
//! - a late event (see [`Policy`]) changes nothing, including a summary
//!   that would retract a final figure, and an event for a sealed entry;
//! - the state is bounded: sealed entries become markers, and markers and
//!   summaries are forgotten a further allowed lateness later;
//! - housekeeping examines a bounded number of entries per round, going
//!   round the partition in key order, so no round costs more as the state
//!   grows.

use serde::{Deserialize, Serialize};

use super::policy::Policy;
use super::store::{Changes, MemoryStore, StateStore};
use super::{Contribution, Entry};
use crate::classify::ClassifiedDeclaration;
use crate::model::Receipt;
use crate::stats::Minute;
use crate::stats::time::{format_minute, parse_minute};

/// What the changelog holds for one identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stored {
    /// An open entry.
    Live(Box<Entry>),
    /// A final one: only what recognises later events for it.
    Sealed(Sealed),
}

/// What is kept of a sealed entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Its latest event.
    pub last_event: Minute,
    /// The inventory numbers it was known by.
    pub invt_nos: Vec<String>,
}

/// A summary result this partition has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryMark {
    /// Its event time (`opDate`, else the watermark when it came).
    pub at: Minute,
    /// The inventory numbers it supersedes.
    pub invt_nos: Vec<String>,
}

/// How one event changed the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing: a re-sent event.
    Unchanged,
    /// The state changed (an event time to account for); the effective
    /// contributions moved by `retract` and `add`, which may be empty (a
    /// receipt that waits, a declaration not yet released).
    Changed {
        /// Contributions that stop counting.
        retract: Vec<Contribution>,
        /// Contributions that start counting.
        add: Vec<Contribution>,
    },
    /// Beyond the allowed lateness: nothing changed.
    Late(String),
}

/// What one housekeeping round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Entries sealed.
    pub sealed: u64,
    /// Waiting receipts expired.
    pub expired: u64,
    /// Markers and summaries forgotten.
    pub forgotten: u64,
}

/// One partition's lifecycle state: the committed state in its store, the
/// open transaction's changes over it.
pub struct PartitionState {
    policy: Policy,
    store: Box<dyn StateStore>,
    open: Open,
    counts: Counts,
    committed: Counts,
    /// Where the next housekeeping round goes on (entries, summaries).
    cursors: (Option<String>, Option<String>),
}

/// The open transaction's changes; `None` deletes. (foldhash: keys are
/// our own identities, read several times per event.)
#[derive(Debug, Default)]
struct Open {
    entries: foldhash::HashMap<String, Option<Stored>>,
    summaries: foldhash::HashMap<String, Option<SummaryMark>>,
    holders: foldhash::HashMap<String, Option<String>>,
    superseding: foldhash::HashMap<String, Option<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    entries: usize,
    waiting: usize,
    summaries: usize,
}

impl Default for PartitionState {
    fn default() -> Self {
        PartitionState::new(Policy::default())
    }
}

impl std::fmt::Debug for PartitionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionState")
            .field("policy", &self.policy)
            .field("counts", &self.counts)
            .field("open", &self.open.entries.len())
            .finish_non_exhaustive()
    }
}

/// The inventory numbers an entry is known by: the one customs assigned
/// (from a receipt or the inventory) and the inventory's own.
fn entry_invt_nos(entry: &Entry) -> impl Iterator<Item = &str> {
    let own = entry
        .pending
        .as_ref()
        .and_then(|pending| pending.contribution.invt_no.as_deref());
    entry.invt_no.as_deref().into_iter().chain(own)
}

fn invt_nos(stored: &Stored) -> Vec<&str> {
    match stored {
        Stored::Live(entry) => entry_invt_nos(entry).collect(),
        Stored::Sealed(sealed) => sealed.invt_nos.iter().map(String::as_str).collect(),
    }
}

fn counted_minute(entry: &Entry) -> Option<Minute> {
    entry
        .counted
        .as_ref()
        .and_then(|counted| parse_minute(&counted.counted_at))
}

fn is_waiting(stored: &Stored) -> bool {
    matches!(stored, Stored::Live(entry) if entry.is_waiting())
}

/// The open value of `key`, else the committed one.
fn read<T: Clone>(
    open: &foldhash::HashMap<String, Option<T>>,
    key: &str,
    committed: impl FnOnce() -> Option<T>,
) -> Option<T> {
    match open.get(key) {
        Some(value) => value.clone(),
        None => committed(),
    }
}

impl PartitionState {
    /// Empty state under `policy`, in memory.
    pub fn new(policy: Policy) -> Self {
        PartitionState::with_store(policy, Box::new(MemoryStore::default()))
    }

    /// The state `store` holds, under `policy`. The store must be empty or
    /// hold what an earlier `PartitionState` committed to it with the same
    /// counts; the service always starts from an empty one.
    pub fn with_store(policy: Policy, store: Box<dyn StateStore>) -> Self {
        PartitionState {
            policy,
            store,
            open: Open::default(),
            counts: Counts::default(),
            committed: Counts::default(),
            cursors: (None, None),
        }
    }

    /// Puts a changelog record back (restore). Held as an open change until
    /// the next [`PartitionState::commit`]; the restore commits in batches.
    pub fn restore_entry(&mut self, key: &str, stored: Option<Stored>) {
        self.put(key, stored);
    }

    /// Puts a summary record back (restore), like
    /// [`PartitionState::restore_entry`].
    pub fn restore_summary(&mut self, id: &str, mark: Option<SummaryMark>) {
        self.put_summary(id, mark);
    }

    /// Changes held for the open transaction (entries and summaries).
    pub fn num_open(&self) -> usize {
        self.open.entries.len() + self.open.summaries.len()
    }

    /// The stored state of an identity, the open transaction's included.
    pub fn get(&self, key: &str) -> Option<Stored> {
        read(&self.open.entries, key, || self.store.entry(key))
    }

    fn holder(&self, invt_no: &str) -> Option<String> {
        read(&self.open.holders, invt_no, || self.store.holder(invt_no))
    }

    fn superseding(&self, invt_no: &str) -> Option<String> {
        read(&self.open.superseding, invt_no, || {
            self.store.superseding(invt_no)
        })
    }

    fn summary(&self, id: &str) -> Option<SummaryMark> {
        read(&self.open.summaries, id, || self.store.summary(id))
    }

    /// The committed state of a declaration id (its identity, or an
    /// inventory number): what a query may see during a transaction.
    pub fn find_committed(&self, id: &str) -> Option<(String, Stored)> {
        let key = self.store.holder(id).unwrap_or_else(|| id.to_owned());
        let stored = self.store.entry(&key)?;
        Some((key, stored))
    }

    /// What a live entry contributes now.
    pub fn effective<'a>(&self, entry: &'a Entry) -> Option<&'a Contribution> {
        entry
            .counted
            .as_ref()
            .filter(|_| !entry_invt_nos(entry).any(|invt_no| self.superseding(invt_no).is_some()))
    }

    /// The summary that superseded an inventory number.
    pub fn superseded_by(&self, invt_no: &str) -> Option<String> {
        self.superseding(invt_no)
    }

    /// Identities held (entries and markers).
    pub fn num_entries(&self) -> usize {
        self.counts.entries
    }

    /// Summaries held.
    pub fn num_summaries(&self) -> usize {
        self.counts.summaries
    }

    /// Entries whose declaration has not come.
    pub fn num_waiting(&self) -> usize {
        self.counts.waiting
    }

    /// A declaration (new, change or delete) for identity `key`.
    pub fn record_declaration(
        &mut self,
        key: &str,
        classified: &ClassifiedDeclaration,
        event: Minute,
        horizon: Option<Minute>,
    ) -> Outcome {
        self.record(key, event, horizon, |entry| {
            entry.record_declaration(classified)
        })
    }

    /// A status receipt.
    pub fn record_receipt(
        &mut self,
        receipt: &Receipt,
        event: Minute,
        horizon: Option<Minute>,
    ) -> Outcome {
        self.record(&receipt.guid, event, horizon, |entry| {
            entry.record_receipt(receipt)
        })
    }

    fn record(
        &mut self,
        key: &str,
        event: Minute,
        horizon: Option<Minute>,
        step: impl FnOnce(&Entry) -> Entry,
    ) -> Outcome {
        let old = self.get(key);
        let unknown = Entry::default();
        let current = match &old {
            Some(Stored::Sealed(_)) => {
                return Outcome::Late(format!(
                    "event at {} restates a sealed (final) declaration",
                    format_minute(event)
                ));
            }
            Some(Stored::Live(entry)) => entry.as_ref(),
            None => &unknown,
        };
        let mut next = step(current);
        if next == *current {
            return Outcome::Unchanged;
        }
        if self.policy.is_late(
            horizon,
            event,
            counted_minute(current),
            counted_minute(&next),
        ) {
            return Outcome::Late(format!(
                "event at {} restates figures before the horizon {}",
                format_minute(event),
                format_minute(horizon.unwrap_or_default())
            ));
        }
        next.version = current.version + 1;
        let before = self.effective(current).cloned();
        let after = self.effective(&next).cloned();
        self.replace(key, old, Some(Stored::Live(Box::new(next))));
        if before == after {
            return Outcome::Changed {
                retract: Vec::new(),
                add: Vec::new(),
            };
        }
        Outcome::Changed {
            retract: before.into_iter().collect(),
            add: after.into_iter().collect(),
        }
    }

    /// A summary result superseding `invt_nos`, dated `at`.
    pub fn record_summary(
        &mut self,
        id: &str,
        invt_nos: &[String],
        at: Minute,
        horizon: Option<Minute>,
    ) -> Outcome {
        if self.summary(id).is_some() {
            return Outcome::Unchanged;
        }
        if self.policy.is_late(horizon, at, None, None) {
            return Outcome::Late(format!(
                "summary at {} is before the horizon {}",
                format_minute(at),
                format_minute(horizon.unwrap_or_default())
            ));
        }
        // Judge every listed inventory before changing anything.
        let mut retract: Vec<(String, Contribution)> = Vec::new();
        for invt_no in invt_nos {
            let Some(key) = self.holder(invt_no) else {
                continue;
            };
            match self.get(&key) {
                Some(Stored::Sealed(_)) => {
                    return Outcome::Late(format!(
                        "summary at {} retracts a sealed (final) inventory",
                        format_minute(at)
                    ));
                }
                Some(Stored::Live(entry)) => {
                    let Some(effective) = self.effective(&entry) else {
                        continue;
                    };
                    if self
                        .policy
                        .is_late(horizon, at, counted_minute(&entry), None)
                    {
                        return Outcome::Late(format!(
                            "summary at {} retracts figures before the horizon {}",
                            format_minute(at),
                            format_minute(horizon.unwrap_or_default())
                        ));
                    }
                    if !retract.iter().any(|(held, _)| *held == key) {
                        retract.push((key, effective.clone()));
                    }
                }
                None => {}
            }
        }
        self.put_summary(
            id,
            Some(SummaryMark {
                at,
                invt_nos: invt_nos.to_vec(),
            }),
        );
        Outcome::Changed {
            retract: retract.into_iter().map(|(_, c)| c).collect(),
            add: Vec::new(),
        }
    }

    /// Identities changed since the last commit, with their state now.
    pub fn dirty(&self) -> impl Iterator<Item = (&str, Option<&Stored>)> {
        self.open
            .entries
            .iter()
            .map(|(key, stored)| (key.as_str(), stored.as_ref()))
    }

    /// Summaries changed since the last commit, with their state now.
    pub fn dirty_summaries(&self) -> impl Iterator<Item = (&str, Option<&SummaryMark>)> {
        self.open
            .summaries
            .iter()
            .map(|(id, mark)| (id.as_str(), mark.as_ref()))
    }

    /// The transaction committed: its changes go to the store.
    pub fn commit(&mut self) {
        let open = std::mem::take(&mut self.open);
        let changes = Changes {
            entries: open.entries.into_iter().collect(),
            summaries: open.summaries.into_iter().collect(),
            holders: open.holders.into_iter().collect(),
            superseding: open.superseding.into_iter().collect(),
        };
        if !changes.is_empty() {
            self.store.write(changes);
        }
        self.committed = self.counts;
    }

    /// The transaction aborted: back to the state at the last commit.
    pub fn rollback(&mut self) {
        self.open = Open::default();
        self.counts = self.committed;
    }
}

mod housekeeping;
mod index;
#[cfg(test)]
mod tests;
