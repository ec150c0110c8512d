//! Housekeeping of one partition: sealing final entries, expiring waiting
//! receipts, forgetting old markers and summaries.
//!
//! Guarantees: a round makes at most `max` changes and examines at most
//! [`SCAN_PER_CHANGE`] × `max` entries and as many summaries, going on from
//! where the previous round stopped (key order, wrapping round), so every
//! identity is examined once per pass and no round costs more as the
//! partition grows. Changes are journaled like any event.

use super::{PartitionState, Sealed, Stored, Swept, invt_nos};
use crate::lifecycle::policy::Housekeeping;
use crate::stats::Minute;
use crate::stats::time::parse_minute;

/// Entries examined per allowed change.
pub const SCAN_PER_CHANGE: usize = 8;

impl PartitionState {
    /// Seals final entries, expires waiting receipts past the TTL and
    /// forgets old markers and summaries, under `watermark`; at most `max`
    /// changes, so one transaction stays small.
    pub fn housekeeping(&mut self, watermark: Minute, max: usize) -> Swept {
        let mut swept = Swept::default();
        let scan = max.saturating_mul(SCAN_PER_CHANGE).max(1);
        let batch = self.store.entries_after(self.cursors.0.as_deref(), scan);
        let mut changes: Vec<(String, Option<Stored>)> = Vec::new();
        let mut last = None;
        let complete = batch.len() < scan;
        for (key, committed) in &batch {
            if changes.len() >= max {
                break;
            }
            last = Some(key.clone());
            let stored = match self.open.entries.get(key) {
                Some(Some(open)) => open,
                Some(None) => continue,
                None => committed,
            };
            if let Some(change) = self.sweep(watermark, stored, &mut swept) {
                changes.push((key.clone(), change));
            }
        }
        let stopped_early = last.as_ref() != batch.last().map(|(key, _)| key);
        self.cursors.0 = if complete && !stopped_early {
            None
        } else {
            last
        };
        for (key, stored) in changes {
            self.put(&key, stored);
        }
        let summaries = self.store.summaries_after(self.cursors.1.as_deref(), scan);
        self.cursors.1 = (summaries.len() >= scan)
            .then(|| summaries.last().map(|(id, _)| id.clone()))
            .flatten();
        let old: Vec<String> = summaries
            .into_iter()
            .filter(|(_, mark)| self.policy.forgets(watermark, mark.at))
            .map(|(id, _)| id)
            .take(max)
            .collect();
        for id in old {
            self.put_summary(&id, None);
            swept.forgotten += 1;
        }
        swept
    }

    /// What housekeeping does with one stored identity: `Some(new state)`
    /// (`None` inside: forget it) or nothing.
    fn sweep(
        &self,
        watermark: Minute,
        stored: &Stored,
        swept: &mut Swept,
    ) -> Option<Option<Stored>> {
        match stored {
            Stored::Sealed(sealed) => {
                if self.policy.forgets(watermark, sealed.last_event) {
                    swept.forgotten += 1;
                    return Some(None);
                }
                None
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
                    Housekeeping::Keep => None,
                    Housekeeping::Expire => {
                        swept.expired += 1;
                        Some(None)
                    }
                    Housekeeping::Seal => {
                        swept.sealed += 1;
                        let invt_nos = invt_nos(stored).into_iter().map(str::to_owned).collect();
                        Some(Some(Stored::Sealed(Sealed {
                            last_event: last,
                            invt_nos,
                        })))
                    }
                }
            }
        }
    }
}
