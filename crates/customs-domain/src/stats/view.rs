//! The statistics as a pure fold over the aggregate's changelog: every
//! declaration identity's lifecycle [`Entry`], every summary result, every
//! partition's watermark, and the [`Panes`] they add up to.
//!
//! Guarantees:
//! - the panes always equal the sum of the *effective* contributions: an
//!   entry's `counted`, unless a summary result supersedes its inventory
//!   number. Whatever order entries and summaries arrive in, a change only
//!   moves the difference between the old and new effective contribution;
//! - applying a record twice changes nothing: entries carry a version and an
//!   older or equal version is ignored; a summary id is applied once;
//! - so every aggregate instance that has read the same changelog holds the
//!   same figures, which is what lets any instance answer for all partitions.

use std::collections::{HashMap, HashSet};

use super::cell::Tally;
use super::panes::{BadTime, PaneLayout, Panes};
use super::time::Minute;
use super::watermark::Watermarks;
use crate::lifecycle::{Contribution, Entry};

/// What applying one entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The entry changed.
    Changed,
    /// The view already had this version or a newer one.
    Stale,
}

#[derive(Debug, Clone)]
struct Stored {
    partition: i32,
    entry: Entry,
}

/// The global statistics view.
#[derive(Debug, Clone)]
pub struct StatsView {
    entries: HashMap<String, Stored>,
    key_by_invt_no: HashMap<String, String>,
    superseded: HashMap<String, String>,
    summaries: HashSet<String>,
    /// Sealed tallies per (partition, China day): final contributions whose
    /// entries were removed.
    sealed: HashMap<(i32, Minute), Tally>,
    panes: Panes,
    watermarks: Watermarks,
    num_waiting: usize,
}

impl Default for StatsView {
    fn default() -> Self {
        StatsView::new(PaneLayout::default())
    }
}

impl StatsView {
    /// An empty view with the given pane layout.
    pub fn new(layout: PaneLayout) -> Self {
        StatsView {
            entries: HashMap::new(),
            key_by_invt_no: HashMap::new(),
            superseded: HashMap::new(),
            summaries: HashSet::new(),
            sealed: HashMap::new(),
            panes: Panes::new(layout),
            watermarks: Watermarks::default(),
            num_waiting: 0,
        }
    }

    /// The entry of a declaration identity.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key).map(|stored| &stored.entry)
    }

    /// The entry of a declaration id: its identity, or the inventory number
    /// of an inventory keyed by guid.
    pub fn find(&self, id: &str) -> Option<(&str, &Entry)> {
        let key = self
            .key_by_invt_no
            .get(id)
            .map(String::as_str)
            .unwrap_or(id);
        self.entries
            .get_key_value(key)
            .map(|(key, stored)| (key.as_str(), &stored.entry))
    }

    /// The summary result that superseded an inventory number.
    pub fn superseded_by(&self, invt_no: &str) -> Option<&str> {
        self.superseded.get(invt_no).map(String::as_str)
    }

    /// What an entry contributes to the panes now.
    pub fn effective<'a>(&self, entry: &'a Entry) -> Option<&'a Contribution> {
        // `counted` is made from `pending`, so its number is among these.
        entry
            .counted
            .as_ref()
            .filter(|_| !invt_nos(entry).any(|invt_no| self.superseded.contains_key(invt_no)))
    }

    /// Puts (`Some`) or removes (`None`) the entry of `key`, written by the
    /// owner of `partition`, and moves the panes by the difference.
    pub fn apply_entry(
        &mut self,
        partition: i32,
        key: &str,
        entry: Option<Entry>,
    ) -> Result<Applied, BadTime> {
        let old = self.entries.get(key);
        if let (Some(old), Some(new)) = (old, &entry)
            && old.entry.version >= new.version
        {
            return Ok(Applied::Stale);
        }
        if old.is_none() && entry.is_none() {
            return Ok(Applied::Stale);
        }
        let old_effective = old.and_then(|old| self.effective(&old.entry)).cloned();
        let new_effective = entry
            .as_ref()
            .and_then(|entry| self.effective(entry))
            .cloned();
        if old_effective != new_effective {
            // Check both times before touching anything, so a bad time
            // leaves the view unchanged.
            if let Some(new) = &new_effective
                && super::time::parse_minute(&new.counted_at).is_none()
            {
                return Err(BadTime(new.counted_at.clone()));
            }
            if let Some(old) = &old_effective {
                self.panes.apply(old, -1)?;
            }
            if let Some(new) = &new_effective {
                self.panes.apply(new, 1)?;
            }
        }
        if old.is_some_and(|old| old.entry.is_waiting()) {
            self.num_waiting -= 1;
        }
        match entry {
            Some(entry) => {
                if entry.is_waiting() {
                    self.num_waiting += 1;
                }
                for invt_no in invt_nos(&entry) {
                    self.key_by_invt_no
                        .insert(invt_no.to_owned(), key.to_owned());
                }
                self.entries
                    .insert(key.to_owned(), Stored { partition, entry });
            }
            None => {
                if let Some(stored) = self.entries.remove(key) {
                    for invt_no in invt_nos(&stored.entry) {
                        if self.key_by_invt_no.get(invt_no).map(String::as_str) == Some(key) {
                            self.key_by_invt_no.remove(invt_no);
                        }
                    }
                }
            }
        }
        Ok(Applied::Changed)
    }

    /// Applies a summary result: the inventories it lists stop counting.
    /// Returns false when this summary was applied before.
    pub fn apply_summary(&mut self, id: &str, invt_nos: &[String]) -> Result<bool, BadTime> {
        if !self.summaries.insert(id.to_owned()) {
            return Ok(false);
        }
        for invt_no in invt_nos {
            if self.superseded.contains_key(invt_no) {
                continue;
            }
            let counted = self
                .key_by_invt_no
                .get(invt_no)
                .and_then(|key| self.entries.get(key))
                .and_then(|stored| self.effective(&stored.entry))
                .cloned();
            self.superseded.insert(invt_no.clone(), id.to_owned());
            if let Some(counted) = counted {
                self.panes.apply(&counted, -1)?;
            }
        }
        Ok(true)
    }

    /// Replaces the sealed tally of (`partition`, China `day`): the panes
    /// lose the old sealed tally and gain the new one. The owner writes a
    /// sealed record together with tombstones of the entries it absorbed, so
    /// their contributions move from entries to the record.
    pub fn apply_sealed(&mut self, partition: i32, day: Minute, tally: Tally) {
        if let Some(old) = self.sealed.remove(&(partition, day)) {
            self.panes.apply_tally(day, &old, -1);
        }
        self.panes.apply_tally(day, &tally, 1);
        self.sealed.insert((partition, day), tally);
    }

    /// The sealed tally of (`partition`, China `day`), if any.
    pub fn sealed(&self, partition: i32, day: Minute) -> Option<&Tally> {
        self.sealed.get(&(partition, day))
    }

    /// Sealed records held.
    pub fn num_sealed(&self) -> usize {
        self.sealed.len()
    }

    /// Whether a summary id was applied.
    pub fn has_summary(&self, id: &str) -> bool {
        self.summaries.contains(id)
    }

    /// Records a partition's event-time progress at wall time `now_ms`.
    pub fn observe_watermark(&mut self, partition: i32, minute: Minute, now_ms: i64) -> bool {
        self.watermarks.observe(partition, minute, now_ms)
    }

    /// Recomputes the global watermark and folds panes accordingly.
    pub fn update_watermark(&mut self, now_ms: i64, idle_ms: i64) -> Option<Minute> {
        let watermark = self.watermarks.update(now_ms, idle_ms);
        if let Some(watermark) = watermark {
            self.panes.advance(watermark);
        }
        watermark
    }

    /// Watermarks, per partition and global.
    pub fn watermarks(&self) -> &Watermarks {
        &self.watermarks
    }

    /// The panes.
    pub fn panes(&self) -> &Panes {
        &self.panes
    }

    /// Declaration identities held.
    pub fn num_entries(&self) -> usize {
        self.entries.len()
    }

    /// Identities whose declaration has not arrived.
    pub fn num_waiting(&self) -> usize {
        self.num_waiting
    }

    /// Identities of `partition` for which `select` holds.
    pub fn keys_where(&self, partition: i32, select: impl Fn(&Entry) -> bool) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, stored)| stored.partition == partition && select(&stored.entry))
            .map(|(key, _)| key.clone())
            .collect()
    }
}

/// The inventory numbers an entry is known by: the one customs assigned
/// (from a receipt or the inventory) and the inventory's own.
fn invt_nos(entry: &Entry) -> impl Iterator<Item = &str> {
    let own = entry
        .pending
        .as_ref()
        .and_then(|pending| pending.contribution.invt_no.as_deref());
    entry.invt_no.as_deref().into_iter().chain(own)
}

#[cfg(test)]
mod tests;
