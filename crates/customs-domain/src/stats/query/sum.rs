//! One pass of a query: what each cell and shape it reads adds to the
//! groups and to the total.
//!
//! Guarantees: the sums are exact (integers and decimals, no rounding);
//! a cell adds to every group its values fall in (several for a country
//! group) and is skipped when a filter rejects it; when the query splits
//! declarations, a group's declaration count is its cells' whole (or, in a
//! rollup, present) declarations plus one per shape with a selected cell
//! in the group, so each declaration counts once per group.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::super::cell::{CellKey, Measures, Shape};
use super::Query;
use crate::codes::CodeTables;

/// The groups, their sums and the total of one query pass.
pub(super) struct Sums<'a> {
    router: Router<'a>,
    sums: Vec<Measures>,
    total: Measures,
    route: Vec<usize>,
    /// The query splits declarations (groups or filters by an item-level
    /// dimension).
    pub(super) split: bool,
    /// The total is split: only by item-level filters, since without them
    /// every item of a selected declaration is selected.
    total_split: bool,
}

impl<'a> Sums<'a> {
    pub(super) fn new(query: &'a Query, tables: &'a CodeTables) -> Self {
        Sums {
            router: Router::new(query, tables),
            sums: Vec::new(),
            total: Measures::default(),
            route: Vec::new(),
            split: query.splits_declarations(),
            total_split: query.filters.iter().any(|f| f.dimension.is_item_level()),
        }
    }

    /// Adds one cell (a pane's or a rollup's).
    pub(super) fn cell(&mut self, key: &'a CellKey, measures: &Measures) {
        self.route.clear();
        self.router.route(key, &mut self.route);
        if self.route.is_empty() {
            return;
        }
        self.total.add(measures, 1);
        if self.total_split {
            self.total.declarations += measures.whole - measures.declarations;
        }
        for &group in &self.route {
            if self.sums.len() <= group {
                self.sums.resize(group + 1, Measures::default());
            }
            let sum = &mut self.sums[group];
            sum.add(measures, 1);
            if self.split {
                // Declarations spread over cells come from the shapes.
                sum.declarations += measures.whole - measures.declarations;
            }
        }
    }

    /// Adds the `count` declarations of one shape: once to every group any
    /// of its selected cells is in.
    pub(super) fn shape(&mut self, shape: &'a Shape, count: i64) {
        self.route.clear();
        for key in shape.iter() {
            self.router.route(key, &mut self.route);
        }
        self.route.sort_unstable();
        self.route.dedup();
        if self.total_split && !self.route.is_empty() {
            self.total.declarations += count;
        }
        for &group in &self.route {
            if self.sums.len() <= group {
                self.sums.resize(group + 1, Measures::default());
            }
            self.sums[group].declarations += count;
        }
    }

    /// The non-empty groups by their values, and the total.
    pub(super) fn finish(self) -> (BTreeMap<Vec<String>, Measures>, Measures) {
        let mut groups: BTreeMap<Vec<String>, Measures> = self
            .router
            .groups
            .into_iter()
            .zip(
                self.sums
                    .into_iter()
                    .chain(std::iter::repeat_with(Measures::default)),
            )
            .collect();
        groups.retain(|_, measures| !measures.is_empty());
        (groups, self.total)
    }
}

/// Which groups a cell adds to, without allocating per cell: dimension
/// values are borrowed, and a group is found by its values joined into one
/// reused string.
struct Router<'a> {
    query: &'a Query,
    tables: &'a CodeTables,
    /// Values of each group-by dimension for the current cell.
    values: Vec<Vec<Cow<'a, str>>>,
    /// Which of its values each group-by dimension takes in the current group.
    choice: Vec<usize>,
    /// Values of one filter's dimension for the current cell.
    filtered: Vec<Cow<'a, str>>,
    /// The current group's values, joined by [`SEPARATOR`].
    probe: String,
    index: foldhash::HashMap<String, usize>,
    groups: Vec<Vec<String>>,
}

/// Joins a group's values in [`Router::probe`]; no code contains it.
const SEPARATOR: char = '\u{1f}';

impl<'a> Router<'a> {
    fn new(query: &'a Query, tables: &'a CodeTables) -> Self {
        Router {
            query,
            tables,
            values: vec![Vec::new(); query.group_by.len()],
            choice: vec![0; query.group_by.len()],
            filtered: Vec::new(),
            probe: String::new(),
            index: Default::default(),
            groups: Vec::new(),
        }
    }

    /// Appends the groups `key` adds to (none when a filter rejects it).
    fn route(&mut self, key: &'a CellKey, out: &mut Vec<usize>) {
        if !self.selects(key) {
            return;
        }
        for (dimension, values) in self.query.group_by.iter().zip(&mut self.values) {
            dimension.values_into(key, self.tables, values);
        }
        // Every combination of the values (several only for country groups).
        self.choice.fill(0);
        loop {
            out.push(self.current_group());
            if !next_combination(&mut self.choice, &self.values) {
                return;
            }
        }
    }

    /// Whether `key` passes every filter.
    fn selects(&mut self, key: &'a CellKey) -> bool {
        self.query.filters.iter().all(|filter| {
            filter
                .dimension
                .values_into(key, self.tables, &mut self.filtered);
            self.filtered
                .iter()
                .any(|value| filter.values.iter().any(|accepted| accepted == value))
        })
    }

    /// The index of the group `choice` picks from `values`, added if new.
    fn current_group(&mut self) -> usize {
        self.probe.clear();
        for (values, &chosen) in self.values.iter().zip(&self.choice) {
            self.probe.push_str(&values[chosen]);
            self.probe.push(SEPARATOR);
        }
        if let Some(&group) = self.index.get(self.probe.as_str()) {
            return group;
        }
        let values = self
            .values
            .iter()
            .zip(&self.choice)
            .map(|(values, &chosen)| values[chosen].clone().into_owned())
            .collect();
        self.groups.push(values);
        self.index.insert(self.probe.clone(), self.groups.len() - 1);
        self.groups.len() - 1
    }
}

/// Moves `choice` to the next combination of `values`, odometer-style;
/// false after the last one.
fn next_combination(choice: &mut [usize], values: &[Vec<Cow<'_, str>>]) -> bool {
    for (chosen, values) in choice.iter_mut().zip(values).rev() {
        *chosen += 1;
        if *chosen < values.len() {
            return true;
        }
        *chosen = 0;
    }
    false
}
