//! Writing into the open transaction while keeping the counts and the
//! inventory-number indexes in line with the entries and summaries: an
//! inventory number is held by the identity that last named it, and
//! superseded by the first summary that listed it, until they no longer do.

use super::{PartitionState, Stored, SummaryMark, invt_nos, is_waiting};

impl PartitionState {
    fn count(&mut self, stored: Option<&Stored>, sign: isize) {
        let step = |count: &mut usize, yes: bool| {
            if yes {
                *count = count.saturating_add_signed(sign);
            }
        };
        step(&mut self.counts.entries, stored.is_some());
        step(&mut self.counts.waiting, stored.is_some_and(is_waiting));
    }

    /// Puts `stored` and keeps the inventory-number index in line.
    pub(super) fn put(&mut self, key: &str, stored: Option<Stored>) {
        let old = self.get(key);
        self.replace(key, old, stored);
    }

    /// [`PartitionState::put`] for a caller that has just read `old`, the
    /// state of `key` now (no second read of the store).
    pub(super) fn replace(&mut self, key: &str, old: Option<Stored>, stored: Option<Stored>) {
        self.count(old.as_ref(), -1);
        self.count(stored.as_ref(), 1);
        if let Some(stored) = &stored {
            for invt_no in invt_nos(stored) {
                if self.holder(invt_no).as_deref() != Some(key) {
                    let holder = Some(key.to_owned());
                    self.open.holders.insert(invt_no.to_owned(), holder);
                }
            }
        }
        if let Some(old) = &old {
            for invt_no in invt_nos(old) {
                let still_known = stored
                    .as_ref()
                    .is_some_and(|now| invt_nos(now).contains(&invt_no));
                if !still_known && self.holder(invt_no).as_deref() == Some(key) {
                    self.open.holders.insert(invt_no.to_owned(), None);
                }
            }
        }
        self.open.entries.insert(key.to_owned(), stored);
    }

    /// Puts `mark` and keeps the superseded numbers in line.
    pub(super) fn put_summary(&mut self, id: &str, mark: Option<SummaryMark>) {
        let old = self.summary(id);
        let (was, is) = (old.is_some(), mark.is_some());
        if was != is {
            self.counts.summaries =
                self.counts
                    .summaries
                    .saturating_add_signed(if is { 1 } else { -1 });
        }
        if let Some(mark) = &mark {
            for invt_no in &mark.invt_nos {
                if self.superseding(invt_no).is_none() {
                    let by = Some(id.to_owned());
                    self.open.superseding.insert(invt_no.clone(), by);
                }
            }
        }
        if let Some(old) = &old {
            for invt_no in &old.invt_nos {
                let still_listed = mark
                    .as_ref()
                    .is_some_and(|now| now.invt_nos.contains(invt_no));
                if !still_listed && self.superseding(invt_no).as_deref() == Some(id) {
                    self.open.superseding.insert(invt_no.clone(), None);
                }
            }
        }
        self.open.summaries.insert(id.to_owned(), mark);
    }
}
