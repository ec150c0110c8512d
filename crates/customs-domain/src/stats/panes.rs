//! Exact sums bucketed by event time, in tiers that coarsen with age.
//!
//! Layout (defaults of [`PaneLayout`]): one-minute panes for the latest
//! 2 hours before the watermark, one-hour panes back to 32 days, then one
//! China-time day per pane, kept for the retention (800 days, enough for
//! year-to-date and the same period a year earlier). [`Panes::advance`]
//! folds panes into the coarser tier as the watermark moves; folding only
//! adds, so sums are unchanged. The floors are aligned (hours, China days),
//! so no pane straddles a day, and every window of [`super::window`] is a
//! whole number of panes.
//!
//! Memory bound: at most 120 + 32·24 + retention-in-days panes, each with at
//! most one cell per distinct dimension combination counted in it (a cell is
//! about 400 bytes) and one shape per distinct set of cells that a
//! declaration with items in several cells spans (a reference-counted list
//! of its cell keys). A retraction finds its pane by the same rule as its
//! addition, so it subtracts exactly what was added, whichever tier the pane
//! is in by then.

use std::collections::BTreeMap;

use super::cell::{CellKey, Measures, Shape, Tally};
use super::time::{DAY, HOUR, Minute, day_start, hour_start, parse_minute};
use crate::lifecycle::Contribution;

/// How much of each tier to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaneLayout {
    /// Span kept in one-minute panes; a whole number of hours.
    pub minute_span: Minute,
    /// Span kept in one-hour panes; a whole number of days.
    pub hour_span: Minute,
    /// Span kept at all; older day panes are dropped.
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

/// A contribution whose `counted_at` is not a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("counted_at {0:?} is not an ISO 8601 time")]
pub struct BadTime(pub String);

/// A range that cuts through a pane.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "range must align to {granularity} minutes here (a pane of that size starts at minute {pane_start})"
)]
pub struct Misaligned {
    /// Size of the pane that was cut, in minutes.
    pub granularity: Minute,
    /// Where it starts.
    pub pane_start: Minute,
}

/// One pane: its cells, and the shapes of its declarations that span
/// several cells.
#[derive(Debug, Clone, Default)]
pub struct Pane {
    cells: foldhash::HashMap<CellKey, Measures>,
    shapes: foldhash::HashMap<Shape, i64>,
}

impl Pane {
    /// The cells and their sums.
    pub fn cells(&self) -> impl Iterator<Item = (&CellKey, &Measures)> {
        self.cells.iter()
    }

    /// The shapes and how many declarations have each.
    pub fn shapes(&self) -> impl Iterator<Item = (&Shape, i64)> {
        self.shapes.iter().map(|(shape, count)| (shape, *count))
    }

    /// Adds `tally` times `sign`; returns the change in the number of cells.
    fn add(&mut self, tally: &Tally, sign: i64) -> isize {
        // Keys are cloned only when they are new to the pane: most
        // contributions land in cells and shapes it already holds.
        let mut cells_delta: isize = 0;
        for (key, measures) in &tally.cells {
            match self.cells.get_mut(key) {
                Some(cell) => {
                    cell.add(measures, sign);
                    if cell.is_empty() {
                        self.cells.remove(key);
                        cells_delta -= 1;
                    }
                }
                None => {
                    let mut cell = Measures::default();
                    cell.add(measures, sign);
                    if !cell.is_empty() {
                        self.cells.insert(key.clone(), cell);
                        cells_delta += 1;
                    }
                }
            }
        }
        for (shape, count) in &tally.shapes {
            match self.shapes.get_mut(shape) {
                Some(held) => {
                    *held += sign * count;
                    if *held == 0 {
                        self.shapes.remove(shape);
                    }
                }
                None if *count != 0 => {
                    self.shapes.insert(shape.clone(), sign * count);
                }
                None => {}
            }
        }
        cells_delta
    }

    /// Adds another pane in.
    fn absorb(&mut self, other: Pane) {
        for (key, measures) in other.cells {
            self.cells.entry(key).or_default().add(&measures, 1);
        }
        self.cells.retain(|_, cell| !cell.is_empty());
        for (shape, count) in other.shapes {
            *self.shapes.entry(shape).or_default() += count;
        }
        self.shapes.retain(|_, count| *count != 0);
    }

    fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.shapes.is_empty()
    }
}

/// The panes of the statistics.
#[derive(Debug, Clone)]
pub struct Panes {
    layout: PaneLayout,
    minutes: BTreeMap<Minute, Pane>,
    hours: BTreeMap<Minute, Pane>,
    days: BTreeMap<Minute, Pane>,
    /// Minutes at or after this are in minute panes.
    minute_floor: Minute,
    /// Minutes at or after this (and before `minute_floor`) are in hour panes.
    hour_floor: Minute,
    /// Minutes before this were dropped.
    retention_floor: Minute,
    num_cells: usize,
}

impl Default for Panes {
    fn default() -> Self {
        Panes::new(PaneLayout::default())
    }
}

impl Panes {
    /// Empty panes with `layout`.
    pub fn new(layout: PaneLayout) -> Self {
        Panes {
            layout,
            minutes: BTreeMap::new(),
            hours: BTreeMap::new(),
            days: BTreeMap::new(),
            minute_floor: Minute::MIN,
            hour_floor: Minute::MIN,
            retention_floor: Minute::MIN,
            num_cells: 0,
        }
    }

    /// Adds (`sign` = 1) or retracts (`sign` = -1) a contribution at its
    /// `counted_at`. Returns false when that time was already dropped by
    /// the retention.
    pub fn apply(&mut self, contribution: &Contribution, sign: i64) -> Result<bool, BadTime> {
        let minute = parse_minute(&contribution.counted_at)
            .ok_or_else(|| BadTime(contribution.counted_at.clone()))?;
        Ok(self.apply_tally(minute, &Tally::of(contribution), sign))
    }

    /// Adds (`sign` = 1) or retracts (`sign` = -1) a ready-made tally at
    /// `minute` (a sealed record). Returns false when that time was already
    /// dropped by the retention.
    pub fn apply_tally(&mut self, minute: Minute, tally: &Tally, sign: i64) -> bool {
        if minute < self.retention_floor {
            return false;
        }
        let (tier, start) = self.locate(minute);
        let pane = tier.entry(start).or_default();
        let cells_delta = pane.add(tally, sign);
        if pane.is_empty() {
            tier.remove(&start);
        }
        self.num_cells = self.num_cells.saturating_add_signed(cells_delta);
        true
    }

    /// Moves panes to coarser tiers and drops expired ones, for a watermark
    /// at `watermark`. Floors only move forward.
    pub fn advance(&mut self, watermark: Minute) {
        let minute_floor = hour_start(watermark) - self.layout.minute_span;
        let hour_floor = day_start(watermark) - self.layout.hour_span;
        let retention_floor = day_start(watermark) - self.layout.retention;
        if hour_floor > self.hour_floor {
            self.hour_floor = hour_floor;
            let older = split_before(&mut self.hours, hour_floor);
            merge_into(&mut self.days, older, day_start);
        }
        if minute_floor > self.minute_floor {
            self.minute_floor = minute_floor;
            let older = split_before(&mut self.minutes, minute_floor);
            let (to_days, to_hours): (Vec<_>, Vec<_>) = older
                .into_iter()
                .partition(|(start, _)| *start < self.hour_floor);
            merge_into(&mut self.days, to_days, day_start);
            merge_into(&mut self.hours, to_hours, hour_start);
        }
        if retention_floor > self.retention_floor {
            self.retention_floor = retention_floor;
            split_before(&mut self.days, retention_floor);
        }
        self.num_cells = [&self.minutes, &self.hours, &self.days]
            .iter()
            .flat_map(|tier| tier.values())
            .map(|pane| pane.cells.len())
            .sum();
    }

    /// Calls `visit` for every cell in `[from, to)`, which must consist of
    /// whole panes.
    pub fn fold(
        &self,
        from: Minute,
        to: Minute,
        mut visit: impl FnMut(&CellKey, &Measures),
    ) -> Result<(), Misaligned> {
        self.fold_panes(from, to, |pane| {
            pane.cells()
                .for_each(|(key, measures)| visit(key, measures))
        })
    }

    /// Calls `visit` for every pane in `[from, to)`, which must consist of
    /// whole panes.
    pub fn fold_panes<'a>(
        &'a self,
        from: Minute,
        to: Minute,
        mut visit: impl FnMut(&'a Pane),
    ) -> Result<(), Misaligned> {
        for (tier, span) in [(&self.minutes, 1), (&self.hours, HOUR), (&self.days, DAY)] {
            for (&start, pane) in tier.range(from.saturating_sub(span - 1)..to) {
                let end = start + span;
                if end <= from {
                    continue;
                }
                if start < from || end > to {
                    return Err(Misaligned {
                        granularity: span,
                        pane_start: start,
                    });
                }
                visit(pane);
            }
        }
        Ok(())
    }

    /// Pane size at `minute` under the current layout, in minutes.
    pub fn granularity_at(&self, minute: Minute) -> Minute {
        if minute >= self.minute_floor {
            1
        } else if minute >= self.hour_floor {
            HOUR
        } else {
            DAY
        }
    }

    /// Panes held, all tiers.
    pub fn num_panes(&self) -> usize {
        self.minutes.len() + self.hours.len() + self.days.len()
    }

    /// Cells held, all panes.
    pub fn num_cells(&self) -> usize {
        self.num_cells
    }

    /// Earliest minute still held (the retention floor), if any was dropped.
    pub fn retention_floor(&self) -> Option<Minute> {
        (self.retention_floor != Minute::MIN).then_some(self.retention_floor)
    }

    fn locate(&mut self, minute: Minute) -> (&mut BTreeMap<Minute, Pane>, Minute) {
        if minute >= self.minute_floor {
            (&mut self.minutes, minute)
        } else if minute >= self.hour_floor {
            (&mut self.hours, hour_start(minute))
        } else {
            (&mut self.days, day_start(minute))
        }
    }
}

fn split_before(tier: &mut BTreeMap<Minute, Pane>, floor: Minute) -> Vec<(Minute, Pane)> {
    let kept = tier.split_off(&floor);
    std::mem::replace(tier, kept).into_iter().collect()
}

fn merge_into(
    tier: &mut BTreeMap<Minute, Pane>,
    panes: Vec<(Minute, Pane)>,
    align: fn(Minute) -> Minute,
) {
    for (start, pane) in panes {
        tier.entry(align(start)).or_default().absorb(pane);
    }
}
