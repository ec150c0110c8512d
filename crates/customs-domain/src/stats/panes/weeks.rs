//! The day tier's rollups summed per China week (from Monday 00:00, UTC+8),
//! so that a long range reads a few week sums and its edge days instead of
//! every day pane ([`super::Panes::fold_rollup`]).
//!
//! Guarantees: a week's sums are moved by exactly the changes of its seven
//! day panes' totals, so they equal the sum of those panes' rollups at every
//! moment. A week is held only while it starts at or after the day tier's
//! prune floor: every day of a held week is still held, and a week the
//! floor has reached is dropped whole (its remaining days are then read one
//! by one).

use std::collections::BTreeMap;

use super::super::rollup::{Change, Rollups, move_all};
use super::super::time::{DAY, HOUR, Minute, day_start};

/// One week, in minutes.
pub(super) const WEEK: Minute = 7 * DAY;

/// Start of the China week (Monday 00:00 UTC+8) holding `minute`.
pub(super) fn week_start(minute: Minute) -> Minute {
    let day = day_start(minute);
    // China days since 1970-01-01, a Thursday: three days after a Monday.
    let date = (day + 8 * HOUR).div_euclid(DAY);
    day - (date + 3).rem_euclid(7) * DAY
}

/// Week sums by week start.
#[derive(Debug, Clone, Default)]
pub(super) struct Weeks(BTreeMap<Minute, Rollups>);

impl Weeks {
    /// Adds a change of the day pane starting at `day`; a week starting
    /// before `floor` is not held. Returns the change in keys held.
    pub(super) fn apply(&mut self, day: Minute, change: &Change<'_>, floor: Minute) -> isize {
        let week = week_start(day);
        if week < floor {
            return 0;
        }
        let rollups = self.0.entry(week).or_default();
        let delta = move_all(rollups, change);
        if rollups.iter().all(|rollup| rollup.num_keys() == 0) {
            self.0.remove(&week);
        }
        delta
    }

    /// Drops the weeks starting before `floor`; returns the keys dropped.
    pub(super) fn prune(&mut self, floor: Minute) -> usize {
        let kept = self.0.split_off(&floor);
        std::mem::replace(&mut self.0, kept)
            .values()
            .flat_map(|rollups| rollups.iter().map(|rollup| rollup.num_keys()))
            .sum()
    }

    /// The held weeks lying wholly in `[from, to)`, in order.
    pub(super) fn within(
        &self,
        from: Minute,
        to: Minute,
    ) -> impl Iterator<Item = (Minute, &Rollups)> {
        self.0
            .range(from..)
            .take_while(move |(start, _)| start.saturating_add(WEEK) <= to)
            .map(|(start, rollups)| (*start, rollups))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::time::{format_minute, parse_minute};

    #[test]
    fn weeks_start_on_monday_at_midnight_china_time() {
        // 2026-11-18 is a Wednesday; its week starts on Monday 2026-11-16.
        let wednesday = parse_minute("2026-11-18T10:37:00").unwrap_or_default();
        assert_eq!(
            format_minute(week_start(wednesday)),
            "2026-11-16T00:00:00+08:00"
        );
        let monday = parse_minute("2026-11-16T00:00:00").unwrap_or_default();
        assert_eq!(week_start(monday), monday);
        assert_eq!(week_start(monday - 1), monday - WEEK);
    }
}
