//! What the statistics store: one [`StatKey`] per (tier, pane, cell or
//! shape), holding [`Measures`]. Owners write the absolute value of every key
//! of their partition; serving instances add up the partitions' values.
//!
//! Three tiers, each complete over its span (see [`PaneLayout`]): one-minute
//! panes for the latest hours, one-hour panes for the latest month, one
//! China-day panes for the retention. A contribution is written to every
//! tier whose span (plus a slack) holds its time, so a query can take each
//! part of its range from the coarsest tier that covers it. The key space
//! is bounded by the distinct cells per pane, never by declarations.

use super::cell::{CellKey, Measures, Shape, Tally};
use super::time::{DAY, HOUR, Minute, day_start, hour_start};

/// Granularity of a pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// One-minute panes.
    Minute,
    /// One-hour panes.
    Hour,
    /// One China-time day per pane.
    Day,
}

impl Tier {
    /// Every tier, finest first.
    pub const ALL: [Tier; 3] = [Tier::Minute, Tier::Hour, Tier::Day];

    /// Start of the pane of this tier holding `minute`.
    pub fn align(self, minute: Minute) -> Minute {
        match self {
            Tier::Minute => minute,
            Tier::Hour => hour_start(minute),
            Tier::Day => day_start(minute),
        }
    }

    /// Length of one pane, in minutes.
    pub fn span(self) -> Minute {
        match self {
            Tier::Minute => 1,
            Tier::Hour => HOUR,
            Tier::Day => DAY,
        }
    }

    /// How long past its floor a tier's panes are still written and held:
    /// owners and serving instances judge floors by watermarks that may
    /// differ a little, so each tier keeps a margin.
    pub fn slack(self) -> Minute {
        match self {
            Tier::Minute => HOUR,
            Tier::Hour | Tier::Day => DAY,
        }
    }

    /// Index into per-tier arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How much of each tier is complete, relative to the watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaneLayout {
    /// Span kept in one-minute panes; a whole number of hours.
    pub minute_span: Minute,
    /// Span kept in one-hour panes; a whole number of days.
    pub hour_span: Minute,
    /// Span kept at all, in day panes.
    pub retention: Minute,
}

impl Default for PaneLayout {
    fn default() -> Self {
        PaneLayout {
            minute_span: 2 * HOUR,
            hour_span: 32 * DAY,
            retention: 800 * DAY,
        }
    }
}

impl PaneLayout {
    /// The first minute `tier` is complete from, under `watermark`
    /// (everything when there is no watermark yet).
    pub fn floor(&self, tier: Tier, watermark: Option<Minute>) -> Minute {
        let Some(watermark) = watermark else {
            return Minute::MIN;
        };
        match tier {
            Tier::Minute => hour_start(watermark) - self.minute_span,
            Tier::Hour => day_start(watermark) - self.hour_span,
            Tier::Day => day_start(watermark) - self.retention,
        }
    }

    /// Whether a contribution at `minute` is written to `tier`: inside the
    /// tier's span plus its slack.
    pub fn writes(&self, tier: Tier, minute: Minute, watermark: Option<Minute>) -> bool {
        minute >= self.floor(tier, watermark).saturating_sub(tier.slack())
    }

    /// Panes of `tier` starting before this are dropped by serving
    /// instances: twice the slack, so that an owner still finds the keys it
    /// tombstones between one and two slacks behind the floor.
    pub fn prune_floor(&self, tier: Tier, watermark: Option<Minute>) -> Minute {
        self.floor(tier, watermark).saturating_sub(2 * tier.slack())
    }

    /// What `sign` (+1 or -1) times `tally`, counted at `minute`, changes:
    /// one delta per written tier and cell or shape.
    pub fn deltas(
        &self,
        tally: &Tally,
        minute: Minute,
        sign: i64,
        watermark: Option<Minute>,
    ) -> Vec<(StatKey, Measures)> {
        let mut out = Vec::new();
        for tier in Tier::ALL {
            if !self.writes(tier, minute, watermark) {
                continue;
            }
            let start = tier.align(minute);
            for (cell, measures) in &tally.cells {
                let mut delta = Measures::default();
                delta.add(measures, sign);
                out.push((StatKey::cell(tier, start, cell.clone()), delta));
            }
            for (shape, count) in &tally.shapes {
                out.push((
                    StatKey::shape(tier, start, shape.clone()),
                    Measures::shape(sign * count),
                ));
            }
        }
        out
    }
}

/// A cell's measures, or the number of declarations with a shape.
// Cells are nearly every key; boxing them would allocate once per delta.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Item {
    /// A cell: its measures.
    Cell(CellKey),
    /// A shape: how many declarations have it, in [`Measures::declarations`].
    Shape(Shape),
}

/// One stored statistic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatKey {
    /// Tier of its pane.
    pub tier: Tier,
    /// Start of its pane.
    pub start: Minute,
    /// Cell or shape.
    pub item: Item,
}

impl StatKey {
    /// A cell's key.
    pub fn cell(tier: Tier, start: Minute, cell: CellKey) -> StatKey {
        StatKey {
            tier,
            start,
            item: Item::Cell(cell),
        }
    }

    /// A shape's key.
    pub fn shape(tier: Tier, start: Minute, shape: Shape) -> StatKey {
        StatKey {
            tier,
            start,
            item: Item::Shape(shape),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::time::parse_minute;

    #[test]
    fn recent_contributions_go_to_every_tier_old_ones_to_days_only() {
        let layout = PaneLayout::default();
        let watermark = parse_minute("2026-11-20T10:30:00");
        let now = watermark.unwrap_or_default();
        let tiers = |minute| {
            Tier::ALL
                .into_iter()
                .filter(|tier| layout.writes(*tier, minute, watermark))
                .collect::<Vec<_>>()
        };
        assert_eq!(tiers(now), Tier::ALL);
        // 3 h before: outside the minute span (2 h from 10:00) plus 1 h slack.
        assert_eq!(tiers(now - 3 * HOUR - 31), [Tier::Hour, Tier::Day]);
        assert_eq!(tiers(now - 40 * DAY), [Tier::Day]);
        assert_eq!(tiers(now - 900 * DAY), Vec::<Tier>::new());
        // Before any watermark everything is written.
        assert_eq!(layout.floor(Tier::Day, None), Minute::MIN);
    }

    #[test]
    fn panes_align_to_their_tier() {
        let minute = parse_minute("2026-11-20T10:37:00").unwrap_or_default();
        assert_eq!(Tier::Hour.align(minute), minute - 37);
        assert_eq!(
            Tier::Day.align(minute),
            parse_minute("2026-11-20T00:00:00").unwrap_or_default()
        );
    }
}
