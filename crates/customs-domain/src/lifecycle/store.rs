//! Where one partition's *committed* lifecycle state lives.
//!
//! [`super::partition::PartitionState`] keeps the open transaction's
//! changes in memory and hands them to its [`StateStore`] only when the
//! transaction commits ([`Changes`], written as one batch). A store
//! therefore never holds uncommitted state, and an abort needs nothing from
//! it. The service stores the state on disk (so memory does not grow with
//! the number of identities); [`MemoryStore`] is the in-memory one, for
//! tests and the pure crate's benches.
//!
//! Four maps, each keyed by a string:
//! - entries: identity → [`Stored`] (an open entry or a sealed marker);
//! - summaries: summary id → [`SummaryMark`];
//! - holders: inventory number → the identity that holds it;
//! - superseding: inventory number → the summary that superseded it.
//!
//! A store is an implementation of storage, not of rules: it must return
//! what was last written, and scan entries and summaries in key order.
//! A store that cannot read or write (a disk failure) is not recoverable
//! here: the service's store ends the process, and the partition is
//! restored from its changelog by whichever instance takes it next.

use std::collections::BTreeMap;

use super::partition::{Stored, SummaryMark};

/// One committed transaction's changes; `None` deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Identity → entry.
    pub entries: Vec<(String, Option<Stored>)>,
    /// Summary id → mark.
    pub summaries: Vec<(String, Option<SummaryMark>)>,
    /// Inventory number → holding identity.
    pub holders: Vec<(String, Option<String>)>,
    /// Inventory number → superseding summary.
    pub superseding: Vec<(String, Option<String>)>,
}

impl Changes {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.summaries.is_empty()
            && self.holders.is_empty()
            && self.superseding.is_empty()
    }
}

/// Committed lifecycle state of one partition.
pub trait StateStore: Send {
    /// The entry of an identity.
    fn entry(&self, key: &str) -> Option<Stored>;
    /// A summary this partition has seen.
    fn summary(&self, id: &str) -> Option<SummaryMark>;
    /// The identity holding an inventory number.
    fn holder(&self, invt_no: &str) -> Option<String>;
    /// The summary superseding an inventory number.
    fn superseding(&self, invt_no: &str) -> Option<String>;
    /// Writes one transaction's changes, all of them.
    fn write(&mut self, changes: Changes);
    /// Up to `max` entries with keys after `after` (from the first when
    /// `None`), in key order.
    fn entries_after(&self, after: Option<&str>, max: usize) -> Vec<(String, Stored)>;
    /// Up to `max` summaries with ids after `after`, in id order.
    fn summaries_after(&self, after: Option<&str>, max: usize) -> Vec<(String, SummaryMark)>;
}

/// A [`StateStore`] in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    entries: BTreeMap<String, Stored>,
    summaries: BTreeMap<String, SummaryMark>,
    holders: BTreeMap<String, String>,
    superseding: BTreeMap<String, String>,
}

fn write_all<T>(map: &mut BTreeMap<String, T>, changes: Vec<(String, Option<T>)>) {
    for (key, value) in changes {
        match value {
            Some(value) => map.insert(key, value),
            None => map.remove(&key),
        };
    }
}

fn after<T: Clone>(map: &BTreeMap<String, T>, after: Option<&str>, max: usize) -> Vec<(String, T)> {
    let range = match after {
        Some(after) => {
            map.range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
        }
        None => map.range::<str, _>(..),
    };
    range
        .take(max)
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

impl StateStore for MemoryStore {
    fn entry(&self, key: &str) -> Option<Stored> {
        self.entries.get(key).cloned()
    }

    fn summary(&self, id: &str) -> Option<SummaryMark> {
        self.summaries.get(id).cloned()
    }

    fn holder(&self, invt_no: &str) -> Option<String> {
        self.holders.get(invt_no).cloned()
    }

    fn superseding(&self, invt_no: &str) -> Option<String> {
        self.superseding.get(invt_no).cloned()
    }

    fn write(&mut self, changes: Changes) {
        write_all(&mut self.entries, changes.entries);
        write_all(&mut self.summaries, changes.summaries);
        write_all(&mut self.holders, changes.holders);
        write_all(&mut self.superseding, changes.superseding);
    }

    fn entries_after(&self, from: Option<&str>, max: usize) -> Vec<(String, Stored)> {
        after(&self.entries, from, max)
    }

    fn summaries_after(&self, from: Option<&str>, max: usize) -> Vec<(String, SummaryMark)> {
        after(&self.summaries, from, max)
    }
}
