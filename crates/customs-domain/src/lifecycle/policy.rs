//! When an event is too late, when an entry is final, when state expires:
//! the event-time rules of the lifecycle, as pure functions of the
//! watermark (the event-time clock the caller injects).
//!
//! - The **horizon** is the watermark minus the allowed lateness. Figures
//!   dated before it are final.
//! - An event is **late** when it is dated before the horizon, or when it
//!   would restate a figure dated before it (its entry counted then, or it
//!   would now count then). A late event changes nothing; the caller sends
//!   it to the late topic. Summary results follow the same rule: their own
//!   date, and the figures of the inventories they would retract.
//! - An entry is **final** (sealed) once every event of it is before the
//!   horizon and it is settled (counted, withdrawn or outside trade
//!   statistics), or a further allowed lateness has passed without a
//!   release. A sealed entry keeps only a marker, so that a later event for
//!   it is recognised as restating a final figure; markers and summaries
//!   are forgotten a further allowed lateness later, which bounds the state
//!   by the traffic of two lateness windows.
//! - A receipt whose declaration has not come **expires** after the
//!   waiting TTL.

use crate::stats::Minute;

/// The lifecycle's event-time rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How far behind the watermark an event may be and still count.
    pub allowed_lateness: Minute,
    /// How long (event time) a receipt waits for its declaration.
    pub waiting_ttl: Minute,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_lateness: 45 * crate::stats::time::DAY,
            waiting_ttl: 7 * crate::stats::time::DAY,
        }
    }
}

/// What housekeeping does with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Housekeeping {
    /// Still open.
    Keep,
    /// Final: keep a marker only.
    Seal,
    /// A receipt whose declaration never came, past the TTL.
    Expire,
}

impl Policy {
    /// How much input (event time before the watermark) a rebuild of the
    /// lifecycle state from the classified topic must read again: the state
    /// rests on the events of two lateness windows (open entries, entries
    /// never released, which seal then, and the markers of sealed ones,
    /// which keep a later restatement of a final figure out of the count and
    /// are forgotten then); waiting receipts expire well within it. An
    /// input topic that keeps less cannot rebuild the state exactly.
    pub fn replay_span(&self) -> Minute {
        2 * self.allowed_lateness
    }

    /// Figures dated before this are final; `None` before any watermark.
    pub fn horizon(&self, watermark: Option<Minute>) -> Option<Minute> {
        watermark.map(|watermark| watermark - self.allowed_lateness)
    }

    /// Whether an event dated `event` that moves a contribution from one
    /// counted time to another is late under `horizon`.
    pub fn is_late(
        &self,
        horizon: Option<Minute>,
        event: Minute,
        counted_before: Option<Minute>,
        counted_after: Option<Minute>,
    ) -> bool {
        let Some(horizon) = horizon else {
            return false;
        };
        event < horizon
            || counted_before.is_some_and(|minute| minute < horizon)
            || counted_after.is_some_and(|minute| minute < horizon)
    }

    /// What to do with an entry whose first and last events are `first`
    /// and `last`, under `watermark`.
    pub fn housekeeping(
        &self,
        watermark: Minute,
        first: Minute,
        last: Minute,
        waiting: bool,
        settled: bool,
    ) -> Housekeeping {
        let horizon = watermark - self.allowed_lateness;
        if waiting {
            if first < watermark - self.waiting_ttl {
                return Housekeeping::Expire;
            }
            return Housekeeping::Keep;
        }
        if last < horizon && (settled || last < horizon - self.allowed_lateness) {
            return Housekeeping::Seal;
        }
        Housekeeping::Keep
    }

    /// Whether a marker or summary whose latest event is `last` can be
    /// forgotten: a further allowed lateness past the horizon.
    pub fn forgets(&self, watermark: Minute, last: Minute) -> bool {
        last < watermark - 2 * self.allowed_lateness
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::time::DAY;

    const NOW: Minute = 1_000 * DAY;

    #[test]
    fn late_means_dated_or_restating_before_the_horizon() {
        let policy = Policy::default();
        let horizon = policy.horizon(Some(NOW));
        assert_eq!(horizon, Some(NOW - 45 * DAY));
        assert!(!policy.is_late(horizon, NOW - 40 * DAY, None, Some(NOW - 40 * DAY)));
        assert!(policy.is_late(horizon, NOW - 46 * DAY, None, None));
        // A change dated now that would move a final figure.
        assert!(policy.is_late(horizon, NOW, Some(NOW - 50 * DAY), Some(NOW)));
        assert!(policy.is_late(horizon, NOW, None, Some(NOW - 50 * DAY)));
        assert!(
            !policy.is_late(None, 0, Some(0), Some(0)),
            "no watermark yet"
        );
    }

    #[test]
    fn entries_seal_when_final_and_receipts_expire_after_the_ttl() {
        let policy = Policy::default();
        let seal = |last, settled| policy.housekeeping(NOW, last, last, false, settled);
        assert_eq!(seal(NOW - 46 * DAY, true), Housekeeping::Seal);
        assert_eq!(seal(NOW - 44 * DAY, true), Housekeeping::Keep);
        // Never released: a further lateness before it is dropped.
        assert_eq!(seal(NOW - 46 * DAY, false), Housekeeping::Keep);
        assert_eq!(seal(NOW - 91 * DAY, false), Housekeeping::Seal);
        let waiting = |first| policy.housekeeping(NOW, first, first, true, false);
        assert_eq!(waiting(NOW - 8 * DAY), Housekeeping::Expire);
        assert_eq!(waiting(NOW - 6 * DAY), Housekeeping::Keep);
        assert!(policy.forgets(NOW, NOW - 91 * DAY));
        assert!(!policy.forgets(NOW, NOW - 89 * DAY));
    }

    #[test]
    fn no_state_rests_on_events_older_than_the_replay_span() {
        let policy = Policy::default();
        let past_span = NOW - policy.replay_span() - 1;
        assert_eq!(policy.replay_span(), 90 * DAY);
        // Markers are forgotten, never-released entries sealed, receipts
        // expired, once their events are past it.
        assert!(policy.forgets(NOW, past_span));
        let never_released = policy.housekeeping(NOW, past_span, past_span, false, false);
        assert_eq!(never_released, Housekeeping::Seal);
        let waiting = policy.housekeeping(NOW, past_span, past_span, true, false);
        assert_eq!(waiting, Housekeeping::Expire);
        assert!(policy.waiting_ttl < policy.replay_span());
    }
}
