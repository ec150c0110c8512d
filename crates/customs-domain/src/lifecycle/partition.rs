//! One classified partition's lifecycle state, as its owner holds it: the
//! [`Entry`] of every declaration identity of the partition, the summary
//! results it has seen, and the inventory numbers they supersede.
//!
//! A synchronous state machine: each `record_*` applies one event under the
//! [`Policy`] (the caller injects the horizon, from the watermark) and
//! returns how the partition's *effective* contributions changed — what the
//! caller turns into statistics records. Changes are journaled per
//! transaction: [`PartitionState::rollback`] restores exactly the state at
//! the last [`PartitionState::commit`], so an aborted Kafka transaction
//! leaves no trace; [`PartitionState::dirty`] lists what changed, once per
//! key, for the changelog.
//!
//! Guarantees:
//! - an entry's effective contribution is its `counted`, unless a summary
//!   result seen by this partition supersedes one of its inventory numbers,
//!   in either order of arrival;
//! - a late event (see [`Policy`]) changes nothing, including a summary
//!   that would retract a final figure, and an event for a sealed entry;
//! - the state is bounded: sealed entries become markers, and markers and
//!   summaries are forgotten a further allowed lateness later.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::policy::{Housekeeping, Policy};
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

/// One partition's lifecycle state.
#[derive(Debug, Clone, Default)]
pub struct PartitionState {
    policy: Policy,
    entries: HashMap<String, Stored>,
    by_invt_no: HashMap<String, String>,
    superseded: HashMap<String, String>,
    summaries: HashMap<String, SummaryMark>,
    journal_entries: HashMap<String, Option<Stored>>,
    journal_summaries: HashMap<String, Option<SummaryMark>>,
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

impl PartitionState {
    /// Empty state under `policy`.
    pub fn new(policy: Policy) -> Self {
        PartitionState {
            policy,
            ..PartitionState::default()
        }
    }

    /// Puts a changelog record back (restore): no journal.
    pub fn restore_entry(&mut self, key: &str, stored: Option<Stored>) {
        self.put_unjournaled(key, stored);
    }

    /// Puts a summary record back (restore): no journal.
    pub fn restore_summary(&mut self, id: &str, mark: Option<SummaryMark>) {
        self.put_summary_unjournaled(id, mark);
    }

    /// The stored state of an identity.
    pub fn get(&self, key: &str) -> Option<&Stored> {
        self.entries.get(key)
    }

    /// The committed state of a declaration id (its identity, or an
    /// inventory number): what a query may see during a transaction.
    pub fn find_committed(&self, id: &str) -> Option<(String, Stored)> {
        let key = self.by_invt_no.get(id).map(String::as_str).unwrap_or(id);
        let stored = match self.journal_entries.get(key) {
            Some(original) => original.clone()?,
            None => self.entries.get(key)?.clone(),
        };
        Some((key.to_owned(), stored))
    }

    /// What a live entry contributes now.
    pub fn effective<'a>(&self, entry: &'a Entry) -> Option<&'a Contribution> {
        entry
            .counted
            .as_ref()
            .filter(|_| !entry_invt_nos(entry).any(|invt_no| self.superseded.contains_key(invt_no)))
    }

    /// The summary that superseded an inventory number.
    pub fn superseded_by(&self, invt_no: &str) -> Option<&str> {
        self.superseded.get(invt_no).map(String::as_str)
    }

    /// Identities held (entries and markers).
    pub fn num_entries(&self) -> usize {
        self.entries.len()
    }

    /// Summaries held.
    pub fn num_summaries(&self) -> usize {
        self.summaries.len()
    }

    /// Entries whose declaration has not come.
    pub fn num_waiting(&self) -> usize {
        self.entries
            .values()
            .filter(|stored| matches!(stored, Stored::Live(entry) if entry.is_waiting()))
            .count()
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
        let unknown = Entry::default();
        let current = match self.entries.get(key) {
            Some(Stored::Sealed(_)) => {
                return Outcome::Late(format!(
                    "event at {} restates a sealed (final) declaration",
                    format_minute(event)
                ));
            }
            Some(Stored::Live(entry)) => entry,
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
        self.put(key, Some(Stored::Live(Box::new(next))));
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
        if self.summaries.contains_key(id) {
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
        let mut retract_keys: Vec<String> = Vec::new();
        for invt_no in invt_nos {
            let Some(key) = self.by_invt_no.get(invt_no) else {
                continue;
            };
            match self.entries.get(key) {
                Some(Stored::Sealed(_)) => {
                    return Outcome::Late(format!(
                        "summary at {} retracts a sealed (final) inventory",
                        format_minute(at)
                    ));
                }
                Some(Stored::Live(entry)) => {
                    if self.effective(entry).is_none() {
                        continue;
                    }
                    if self
                        .policy
                        .is_late(horizon, at, counted_minute(entry), None)
                    {
                        return Outcome::Late(format!(
                            "summary at {} retracts figures before the horizon {}",
                            format_minute(at),
                            format_minute(horizon.unwrap_or_default())
                        ));
                    }
                    if !retract_keys.contains(key) {
                        retract_keys.push(key.clone());
                    }
                }
                None => {}
            }
        }
        let retract = retract_keys
            .iter()
            .filter_map(|key| match self.entries.get(key) {
                Some(Stored::Live(entry)) => self.effective(entry).cloned(),
                _ => None,
            })
            .collect();
        self.put_summary(
            id,
            Some(SummaryMark {
                at,
                invt_nos: invt_nos.to_vec(),
            }),
        );
        Outcome::Changed {
            retract,
            add: Vec::new(),
        }
    }

    /// Seals final entries, expires waiting receipts past the TTL and
    /// forgets old markers and summaries, under `watermark`; at most `max`
    /// changes, so one transaction stays small. Journaled like any event.
    pub fn housekeeping(&mut self, watermark: Minute, max: usize) -> Swept {
        let mut swept = Swept::default();
        let mut changes: Vec<(String, Option<Stored>)> = Vec::new();
        for (key, stored) in &self.entries {
            if changes.len() >= max {
                break;
            }
            match stored {
                Stored::Sealed(sealed) => {
                    if self.policy.forgets(watermark, sealed.last_event) {
                        changes.push((key.clone(), None));
                        swept.forgotten += 1;
                    }
                }
                Stored::Live(entry) => {
                    let minute = |at: &str| parse_minute(at).unwrap_or(Minute::MIN);
                    let settled = entry.counted.is_some()
                        || entry.withdrawn
                        || entry
                            .pending
                            .as_ref()
                            .is_some_and(|pending| !pending.in_trade_statistics);
                    let last = minute(&entry.last_event_at);
                    match self.policy.housekeeping(
                        watermark,
                        minute(&entry.first_event_at),
                        last,
                        entry.is_waiting(),
                        settled,
                    ) {
                        Housekeeping::Keep => {}
                        Housekeeping::Expire => {
                            changes.push((key.clone(), None));
                            swept.expired += 1;
                        }
                        Housekeeping::Seal => {
                            let invt_nos =
                                invt_nos(stored).into_iter().map(str::to_owned).collect();
                            changes.push((
                                key.clone(),
                                Some(Stored::Sealed(Sealed {
                                    last_event: last,
                                    invt_nos,
                                })),
                            ));
                            swept.sealed += 1;
                        }
                    }
                }
            }
        }
        for (key, stored) in changes {
            self.put(&key, stored);
        }
        let old: Vec<String> = self
            .summaries
            .iter()
            .filter(|(_, mark)| self.policy.forgets(watermark, mark.at))
            .map(|(id, _)| id.clone())
            .take(max)
            .collect();
        for id in old {
            self.put_summary(&id, None);
            swept.forgotten += 1;
        }
        swept
    }

    /// Identities changed since the last commit, with their state now.
    pub fn dirty(&self) -> impl Iterator<Item = (&str, Option<&Stored>)> {
        self.journal_entries
            .keys()
            .map(|key| (key.as_str(), self.entries.get(key)))
    }

    /// Summaries changed since the last commit, with their state now.
    pub fn dirty_summaries(&self) -> impl Iterator<Item = (&str, Option<&SummaryMark>)> {
        self.journal_summaries
            .keys()
            .map(|id| (id.as_str(), self.summaries.get(id)))
    }

    /// The transaction committed: its changes stay.
    pub fn commit(&mut self) {
        self.journal_entries.clear();
        self.journal_summaries.clear();
    }

    /// The transaction aborted: back to the state at the last commit.
    pub fn rollback(&mut self) {
        for (key, original) in std::mem::take(&mut self.journal_entries) {
            self.put_unjournaled(&key, original);
        }
        for (id, original) in std::mem::take(&mut self.journal_summaries) {
            self.put_summary_unjournaled(&id, original);
        }
    }

    fn put(&mut self, key: &str, stored: Option<Stored>) {
        let old = self.put_unjournaled(key, stored);
        remember(&mut self.journal_entries, key, old);
    }

    /// Puts `stored` and keeps the inventory-number index in line; returns
    /// what was there.
    fn put_unjournaled(&mut self, key: &str, stored: Option<Stored>) -> Option<Stored> {
        if let Some(stored) = &stored {
            for invt_no in invt_nos(stored) {
                self.by_invt_no.insert(invt_no.to_owned(), key.to_owned());
            }
        }
        let old = match stored {
            Some(stored) => self.entries.insert(key.to_owned(), stored),
            None => self.entries.remove(key),
        };
        if let Some(old) = &old {
            let now = self.entries.get(key);
            for invt_no in invt_nos(old) {
                let still_known = now.is_some_and(|now| invt_nos(now).contains(&invt_no));
                if !still_known && self.by_invt_no.get(invt_no).map(String::as_str) == Some(key) {
                    self.by_invt_no.remove(invt_no);
                }
            }
        }
        old
    }

    fn put_summary(&mut self, id: &str, mark: Option<SummaryMark>) {
        let old = self.put_summary_unjournaled(id, mark);
        remember(&mut self.journal_summaries, id, old);
    }

    /// Puts `mark` and keeps the superseded numbers in line; returns what
    /// was there.
    fn put_summary_unjournaled(
        &mut self,
        id: &str,
        mark: Option<SummaryMark>,
    ) -> Option<SummaryMark> {
        if let Some(mark) = &mark {
            for invt_no in &mark.invt_nos {
                self.superseded
                    .entry(invt_no.clone())
                    .or_insert_with(|| id.to_owned());
            }
        }
        let old = match mark {
            Some(mark) => self.summaries.insert(id.to_owned(), mark),
            None => self.summaries.remove(id),
        };
        if let Some(old) = &old {
            let now = self.summaries.get(id);
            for invt_no in &old.invt_nos {
                let still_listed = now.is_some_and(|now| now.invt_nos.contains(invt_no));
                if !still_listed && self.superseded.get(invt_no).map(String::as_str) == Some(id) {
                    self.superseded.remove(invt_no);
                }
            }
        }
        old
    }
}

/// Keeps the value a key had at the last commit, the first time the open
/// transaction changes it.
fn remember<T>(journal: &mut HashMap<String, Option<T>>, key: &str, original: Option<T>) {
    if !journal.contains_key(key) {
        journal.insert(key.to_owned(), original);
    }
}

#[cfg(test)]
mod tests;
