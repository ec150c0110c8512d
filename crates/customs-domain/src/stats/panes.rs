//! Exact sums bucketed by event time: the serving side of the statistics.
//!
//! Every [`StatKey`] holds one absolute value per partition (written by that
//! partition's owner) and their sum. Setting a partition's value moves the
//! sum by the difference, so applying the same record twice changes
//! nothing, and records can be applied in any number of passes (the owner's
//! own commit, then the changelog reader) with the same result.
//!
//! Three tiers, each complete over its span ([`PaneLayout`]): minutes for
//! the latest 2 hours, hours back to 32 days, days for the retention (800
//! days). Nothing is folded between tiers: a query takes each part of its
//! range from the coarsest tier that covers it ([`Panes::fold_panes`]), so
//! a 30-day question reads about 30 day panes and a few hour panes, never
//! one pane per minute. [`Panes::advance`] only drops panes past a tier's
//! span (and a margin).
//!
//! Memory bound: per tier, one cell per distinct dimension combination
//! counted in a pane, each with one value per partition that counted it,
//! and one shape per distinct set of cells a declaration spans. Nothing
//! grows with the number of declarations.

use std::collections::BTreeMap;

use super::cell::{CellKey, Measures, Shape, Tally};
use super::rollup::{Change, RollupPane, Rollups, move_all};
use super::stat_key::{Item, PaneLayout, StatKey, Tier};
use super::time::{DAY, HOUR, Minute, day_start, hour_start, parse_minute};
use crate::lifecycle::Contribution;
use summed::Summed;
use weeks::Weeks;
use weeks::week_start;

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

/// One pane: its cells, the shapes of its declarations that span several
/// cells, and its [`rollup`](super::rollup)s of both.
#[derive(Debug, Clone, Default)]
pub struct Pane {
    cells: foldhash::HashMap<CellKey, Summed>,
    shapes: foldhash::HashMap<Shape, Summed>,
    rollups: Rollups,
}

impl Pane {
    /// The cells and their sums.
    pub fn cells(&self) -> impl Iterator<Item = (&CellKey, &Measures)> {
        self.cells.iter().map(|(key, summed)| (key, summed.total()))
    }

    /// The shapes and how many declarations have each.
    pub fn shapes(&self) -> impl Iterator<Item = (&Shape, i64)> {
        self.shapes
            .iter()
            .map(|(shape, summed)| (shape, summed.total().declarations))
            .filter(|(_, count)| *count != 0)
    }

    /// The cells of rollup `rollup` (an index into [`ROLLUPS`]), with
    /// presence counts in [`Measures::whole`] (see [`super::rollup`]).
    pub fn rollup_cells(&self, rollup: usize) -> impl Iterator<Item = (&CellKey, &Measures)> {
        self.rollups[rollup].cells()
    }

    /// Sets `partition`'s value of `item`, and moves the pane's rollups by
    /// the change of its total; returns that change (`None`: unchanged),
    /// the change in cells and the change in rollup keys.
    fn set<'k>(
        &mut self,
        partition: i32,
        item: &'k Item,
        value: Option<&Measures>,
    ) -> (Option<Change<'k>>, isize, isize) {
        let (change, cells) = match item {
            Item::Cell(key) => {
                let (delta, cells) = set_in(&mut self.cells, key, partition, value);
                (delta.map(|delta| Change::Cell(key, delta)), cells)
            }
            Item::Shape(shape) => {
                let (delta, _) = set_in(&mut self.shapes, shape, partition, value);
                let change = delta.map(|delta| Change::Shape(shape, delta.declarations));
                (change, 0)
            }
        };
        let rollup_keys = change
            .as_ref()
            .map_or(0, |change| move_all(&mut self.rollups, change));
        (change, cells, rollup_keys)
    }

    fn part(&self, partition: i32, item: &Item) -> Option<&Measures> {
        match item {
            Item::Cell(key) => self.cells.get(key)?.part(partition),
            Item::Shape(shape) => self.shapes.get(shape)?.part(partition),
        }
    }

    fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.shapes.is_empty()
    }
}

/// Sets one value in a pane's map, dropping the key when no partition holds
/// it any more; returns the change of the key's total (`None`: unchanged)
/// and the change in keys.
fn set_in<K: Clone + Eq + std::hash::Hash>(
    map: &mut foldhash::HashMap<K, Summed>,
    key: &K,
    partition: i32,
    value: Option<&Measures>,
) -> (Option<Measures>, isize) {
    match map.get_mut(key) {
        Some(summed) => {
            let mut delta = summed.total().clone();
            let (changed, held) = summed.set(partition, value);
            if !held {
                map.remove(key);
                let mut removed = Measures::default();
                removed.add(&delta, -1);
                return (changed.then_some(removed), -1);
            }
            if !changed {
                return (None, 0);
            }
            let mut change = summed.total().clone();
            change.add(&delta, -1);
            delta = change;
            (Some(delta), 0)
        }
        None => match Summed::new(partition, value) {
            Some(summed) => {
                let delta = summed.total().clone();
                map.insert(key.clone(), summed);
                (Some(delta), 1)
            }
            None => (None, 0),
        },
    }
}

/// The panes of the statistics.
#[derive(Debug, Clone)]
pub struct Panes {
    layout: PaneLayout,
    tiers: [BTreeMap<Minute, Pane>; 3],
    watermark: Option<Minute>,
    /// The day tier's rollups summed per China week.
    weeks: Weeks,
    num_cells: usize,
    num_rollup_keys: usize,
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
            tiers: Default::default(),
            watermark: None,
            weeks: Weeks::default(),
            num_cells: 0,
            num_rollup_keys: 0,
        }
    }

    /// The layout.
    pub fn layout(&self) -> &PaneLayout {
        &self.layout
    }

    /// Sets `partition`'s absolute value of `key` (`None` or an empty value
    /// removes it). Returns whether anything changed; a key whose pane is
    /// already dropped changes nothing.
    pub fn set(&mut self, partition: i32, key: &StatKey, value: Option<&Measures>) -> bool {
        if key.start < self.layout.prune_floor(key.tier, self.watermark) {
            return false;
        }
        let tier = &mut self.tiers[key.tier.index()];
        let pane = tier.entry(key.start).or_default();
        let (change, cells_delta, mut rollup_delta) = pane.set(partition, &key.item, value);
        if pane.is_empty() {
            tier.remove(&key.start);
        }
        if key.tier == Tier::Day
            && let Some(change) = &change
        {
            let floor = self.layout.prune_floor(Tier::Day, self.watermark);
            rollup_delta += self.weeks.apply(key.start, change, floor);
        }
        self.num_cells = self.num_cells.saturating_add_signed(cells_delta);
        self.num_rollup_keys = self.num_rollup_keys.saturating_add_signed(rollup_delta);
        change.is_some()
    }

    /// `partition`'s value of `key`.
    pub fn get(&self, partition: i32, key: &StatKey) -> Option<&Measures> {
        self.tiers[key.tier.index()]
            .get(&key.start)?
            .part(partition, &key.item)
    }

    /// Adds `sign` times a contribution to `partition`'s values in every
    /// tier it is written to: what an owner does, in one step (tests and
    /// benchmarks).
    pub fn apply(
        &mut self,
        partition: i32,
        contribution: &Contribution,
        sign: i64,
    ) -> Result<(), BadTime> {
        let minute = parse_minute(&contribution.counted_at)
            .ok_or_else(|| BadTime(contribution.counted_at.clone()))?;
        let tally = Tally::of(contribution);
        for (key, delta) in self.layout.deltas(&tally, minute, sign, self.watermark) {
            let mut value = self.get(partition, &key).cloned().unwrap_or_default();
            value.add(&delta, 1);
            self.set(partition, &key, Some(&value));
        }
        Ok(())
    }

    /// Moves to a watermark at `watermark`: panes past each tier's span and
    /// margin are dropped. Never moves back.
    pub fn advance(&mut self, watermark: Minute) {
        if self.watermark.is_some_and(|held| held >= watermark) {
            return;
        }
        self.watermark = Some(watermark);
        for tier in Tier::ALL {
            let floor = self.layout.prune_floor(tier, self.watermark);
            let panes = &mut self.tiers[tier.index()];
            let kept = panes.split_off(&floor);
            let dropped = std::mem::replace(panes, kept);
            let cells: usize = dropped.values().map(|pane| pane.cells.len()).sum();
            self.num_cells = self.num_cells.saturating_sub(cells);
            let rollup_keys: usize = dropped
                .values()
                .flat_map(|pane| pane.rollups.iter().map(RollupPane::num_keys))
                .sum();
            self.num_rollup_keys = self.num_rollup_keys.saturating_sub(rollup_keys);
        }
        let dropped = self
            .weeks
            .prune(self.layout.prune_floor(Tier::Day, self.watermark));
        self.num_rollup_keys = self.num_rollup_keys.saturating_sub(dropped);
    }

    /// The keys `partition` holds in `tier` in panes starting in
    /// `[from, to)`: what an owner tombstones once they are past the span.
    pub fn keys_of(&self, partition: i32, tier: Tier, from: Minute, to: Minute) -> Vec<StatKey> {
        let mut keys = Vec::new();
        for (&start, pane) in self.tiers[tier.index()].range(from..to.max(from)) {
            for (cell, summed) in &pane.cells {
                if summed.part(partition).is_some() {
                    keys.push(StatKey::cell(tier, start, cell.clone()));
                }
            }
            for (shape, summed) in &pane.shapes {
                if summed.part(partition).is_some() {
                    keys.push(StatKey::shape(tier, start, shape.clone()));
                }
            }
        }
        keys
    }

    /// Calls `visit` for every cell in `[from, to)`.
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

    /// Calls `visit` for panes that exactly cover `[from, to)`: whole days
    /// from the day tier, whole hours from the hour tier where it is
    /// complete, minutes from the minute tier. A range that needs a finer
    /// pane than is held at some point is [`Misaligned`].
    pub fn fold_panes<'a>(
        &'a self,
        from: Minute,
        to: Minute,
        mut visit: impl FnMut(&'a Pane),
    ) -> Result<(), Misaligned> {
        self.fold_panes_at(from, to, |_, _, pane| visit(pane))
    }

    /// Calls `visit` for every cell of rollup `rollup` (an index into
    /// [`super::rollup::ROLLUPS`]) in `[from, to)`: whole China weeks from
    /// the week sums where they are held, every other part as
    /// [`Panes::fold_panes`] covers it.
    pub fn fold_rollup<'a>(
        &'a self,
        from: Minute,
        to: Minute,
        rollup: usize,
        mut visit: impl FnMut(&'a CellKey, &'a Measures),
    ) -> Result<(), Misaligned> {
        // The held weeks inside the range (at most the retention's ~115;
        // never a walk over the range itself, which may be "all time").
        let mut used = Vec::new();
        for (week, rollups) in self.weeks.within(from, to) {
            rollups[rollup]
                .cells()
                .for_each(|(key, measures)| visit(key, measures));
            used.push(week);
        }
        self.fold_panes_at(from, to, |tier, start, pane| {
            // Days of a week already read from its sum.
            if tier == Tier::Day && used.binary_search(&week_start(start)).is_ok() {
                return;
            }
            pane.rollup_cells(rollup)
                .for_each(|(key, measures)| visit(key, measures));
        })
    }

    /// [`Panes::fold_panes`], telling `visit` each pane's tier and start.
    fn fold_panes_at<'a>(
        &'a self,
        from: Minute,
        to: Minute,
        mut visit: impl FnMut(Tier, Minute, &'a Pane),
    ) -> Result<(), Misaligned> {
        let hour_floor = self.layout.floor(Tier::Hour, self.watermark);
        let minute_floor = self.layout.floor(Tier::Minute, self.watermark);
        let [minutes, hours, days] = &self.tiers;
        // Nothing is held outside [first, end): a range reaching beyond it
        // (e.g. "all time") starts at the first held day and stops at the end.
        let first = self
            .tiers
            .iter()
            .filter_map(|tier| tier.keys().next())
            .min();
        let end = Tier::ALL
            .iter()
            .filter_map(|tier| {
                let (start, _) = self.tiers[tier.index()].last_key_value()?;
                Some(start + tier.span())
            })
            .max();
        let (Some(first), Some(end)) = (first, end) else {
            return Ok(());
        };
        let mut cursor = from.max(day_start(*first));
        let to = to.min(end);
        while cursor < to {
            if day_start(cursor) == cursor && cursor.saturating_add(DAY) <= to {
                // Whole days: visit the held ones, skip straight over the rest.
                let end = cursor + (to - cursor) / DAY * DAY;
                match days.range(cursor..end).next() {
                    Some((&start, _)) if start > cursor => cursor = start,
                    Some((&start, pane)) => {
                        visit(Tier::Day, start, pane);
                        cursor += DAY;
                    }
                    None => cursor = end,
                }
                continue;
            }
            if hour_start(cursor) == cursor && cursor + HOUR <= to && cursor >= hour_floor {
                if let Some(pane) = hours.get(&cursor) {
                    visit(Tier::Hour, cursor, pane);
                }
                cursor += HOUR;
                continue;
            }
            if cursor >= minute_floor {
                // Minutes up to the next boundary that a coarser pane could take.
                let stop = (hour_start(cursor) + HOUR).min(to);
                for (&start, pane) in minutes.range(cursor..stop) {
                    visit(Tier::Minute, start, pane);
                }
                cursor = stop;
                continue;
            }
            let granularity = self.granularity_at(cursor);
            return Err(Misaligned {
                granularity,
                pane_start: if granularity == DAY {
                    day_start(cursor)
                } else {
                    hour_start(cursor)
                },
            });
        }
        Ok(())
    }

    /// The finest pane size held at `minute`, in minutes.
    pub fn granularity_at(&self, minute: Minute) -> Minute {
        if minute >= self.layout.floor(Tier::Minute, self.watermark) {
            1
        } else if minute >= self.layout.floor(Tier::Hour, self.watermark) {
            HOUR
        } else {
            DAY
        }
    }

    /// Whether anything is held before `minute`, which must be a pane
    /// boundary at its granularity (a period's start).
    pub fn has_data_before(&self, minute: Minute) -> Result<bool, Misaligned> {
        let granularity = self.granularity_at(minute);
        let aligned = match granularity {
            1 => minute,
            HOUR => hour_start(minute),
            _ => day_start(minute),
        };
        if aligned != minute {
            return Err(Misaligned {
                granularity,
                pane_start: aligned,
            });
        }
        Ok(self
            .tiers
            .iter()
            .any(|tier| tier.range(..minute).next().is_some()))
    }

    /// Panes held, all tiers.
    pub fn num_panes(&self) -> usize {
        self.tiers.iter().map(BTreeMap::len).sum()
    }

    /// Cells held, all panes and tiers.
    pub fn num_cells(&self) -> usize {
        self.num_cells
    }

    /// Rollup cells and shapes held, all rollups, panes and tiers.
    pub fn num_rollup_keys(&self) -> usize {
        self.num_rollup_keys
    }

    /// Earliest minute still held (the retention floor), once there is a
    /// watermark.
    pub fn retention_floor(&self) -> Option<Minute> {
        self.watermark
            .map(|_| self.layout.floor(Tier::Day, self.watermark))
    }
}

mod summed;
#[cfg(test)]
mod tests;
mod weeks;
