//! Rollups: each pane also keeps its cells projected onto a few fixed sets
//! of stored dimensions, so that the questions official tables and
//! dashboards ask most (trade-mode structure, market, commodity, region,
//! supervision mode, customs district; each with category and direction)
//! cost the number of result cells, not the number of cells a pane holds.
//!
//! Guarantees:
//! - **Exact.** A rollup cell is the sum of the pane's cells that project
//!   onto it, kept by applying every change of a cell's total (new minus
//!   old) to its projection. Sums are linear, so the order in which records
//!   arrive does not matter, and a rollup equals a recomputation from the
//!   cells at every moment.
//! - **Distinct declaration counts stay distinct, without shapes.** A
//!   rollup keeps at most one item-level dimension (partner country, HS
//!   chapter or province). In a rollup cell, [`Measures::whole`] holds the
//!   *presence* count: the declarations with at least one item in that cell
//!   (the pane cells' whole declarations that project onto it, plus every
//!   shape with a cell projecting onto it; linear, so kept by the same
//!   deltas). A declaration's declaration-level dimensions are one value
//!   each, so when every row of a query holds a single value of the
//!   rollup's item-level dimension, a declaration is present in at most one
//!   rollup cell of a row, and summing presence counts it once per row it
//!   has an item in — exactly the distinct count the cells and shapes give
//!   (the brute-force property test in `query/distinct_tests.rs` runs
//!   through the rollups).
//! - **Chosen only when they can answer.** A query is answered from the
//!   smallest rollup that keeps every stored dimension its groups and
//!   filters need (a derived dimension needs the one it is derived from)
//!   and, when the query splits declarations, groups by the rollup's
//!   item-level dimension itself and filters on no item-level dimension (a
//!   country group, a region or an HS section row spans several values,
//!   and so does the total under an item-level filter). Every other query
//!   is answered from the cells and shapes. Dimensions a rollup does not
//!   keep are blank in its keys and never read.

use std::collections::hash_map::Entry;

use ustr::Ustr;

use super::cell::{CellKey, Measures, Shape};
use super::query::{Dimension, Query};

/// A set of stored dimensions of a [`CellKey`], as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims(u16);

impl Dims {
    const CATEGORY: Dims = Dims(1);
    const SUBCATEGORY: Dims = Dims(1 << 1);
    const DIRECTION: Dims = Dims(1 << 2);
    const SUPERVISION_MODE: Dims = Dims(1 << 3);
    const STATISTICS_GROUP: Dims = Dims(1 << 4);
    const CUSTOMS_OFFICE: Dims = Dims(1 << 5);
    const TRANSPORT_MODE: Dims = Dims(1 << 6);
    const PARTNER_COUNTRY: Dims = Dims(1 << 7);
    const PROVINCE: Dims = Dims(1 << 8);
    const HS_CHAPTER: Dims = Dims(1 << 9);
    const CURRENCY: Dims = Dims(1 << 10);

    /// What every rollup keeps: the declaration's category, sub-category,
    /// direction and statistics group (the trade-mode structure).
    const STRUCTURE: Dims =
        Dims(Dims::CATEGORY.0 | Dims::SUBCATEGORY.0 | Dims::DIRECTION.0 | Dims::STATISTICS_GROUP.0);

    const fn with(self, other: Dims) -> Dims {
        Dims(self.0 | other.0)
    }

    fn contains(self, other: Dims) -> bool {
        self.0 & other.0 == other.0
    }

    /// The stored dimension `dimension` is read from.
    pub fn of(dimension: Dimension) -> Dims {
        match dimension {
            Dimension::Category => Dims::CATEGORY,
            Dimension::Subcategory => Dims::SUBCATEGORY,
            Dimension::Direction => Dims::DIRECTION,
            Dimension::SupervisionMode => Dims::SUPERVISION_MODE,
            Dimension::StatisticsGroup => Dims::STATISTICS_GROUP,
            Dimension::PartnerCountry | Dimension::CountryGroup => Dims::PARTNER_COUNTRY,
            Dimension::CustomsOffice | Dimension::CustomsDistrict => Dims::CUSTOMS_OFFICE,
            Dimension::Province | Dimension::Region => Dims::PROVINCE,
            Dimension::HsChapter | Dimension::HsSection => Dims::HS_CHAPTER,
            Dimension::TransportMode => Dims::TRANSPORT_MODE,
            Dimension::Currency => Dims::CURRENCY,
        }
    }

    /// Every stored dimension `query` groups or filters by.
    pub fn needed_by(query: &Query) -> Dims {
        query
            .group_by
            .iter()
            .copied()
            .chain(query.filters.iter().map(|filter| filter.dimension))
            .fold(Dims(0), |dims, dimension| dims.with(Dims::of(dimension)))
    }
}

/// The rollups every pane keeps, smallest first.
pub const ROLLUPS: [Dims; 6] = [
    Dims::STRUCTURE,
    Dims::STRUCTURE.with(Dims::PARTNER_COUNTRY),
    Dims::STRUCTURE.with(Dims::HS_CHAPTER),
    Dims::STRUCTURE.with(Dims::PROVINCE),
    Dims::STRUCTURE.with(Dims::SUPERVISION_MODE),
    Dims::STRUCTURE.with(Dims::CUSTOMS_OFFICE),
];

/// The item-level dimensions a rollup may keep, each with the query
/// dimension that groups by it as such.
const ITEM_LEVEL: [(Dims, Dimension); 3] = [
    (Dims::PARTNER_COUNTRY, Dimension::PartnerCountry),
    (Dims::HS_CHAPTER, Dimension::HsChapter),
    (Dims::PROVINCE, Dimension::Province),
];

/// The rollup (index into [`ROLLUPS`]) that answers `query`, if any.
pub fn choose(query: &Query) -> Option<usize> {
    let needed = Dims::needed_by(query);
    let answers = |keeps: &Dims| {
        if !keeps.contains(needed) {
            return false;
        }
        if !query.splits_declarations() {
            return true;
        }
        // Presence counts are distinct per row only when each row holds
        // one value of the item-level dimension, and no item-level filter
        // asks for a total over several.
        !query.filters.iter().any(|f| f.dimension.is_item_level())
            && ITEM_LEVEL
                .iter()
                .any(|(dim, as_such)| keeps.contains(*dim) && query.group_by.contains(as_such))
    };
    ROLLUPS.iter().position(answers)
}

/// The blank code of a dimension a rollup does not keep.
static BLANK: std::sync::LazyLock<Ustr> = std::sync::LazyLock::new(|| Ustr::from(""));

/// `key` with the dimensions `keeps` does not keep blanked.
pub fn project(keeps: Dims, key: &CellKey) -> CellKey {
    let blank = *BLANK;
    let text = |dim: Dims, value: Ustr| if keeps.contains(dim) { value } else { blank };
    let optional = |dim: Dims, value: Option<Ustr>| if keeps.contains(dim) { value } else { None };
    CellKey {
        category: key.category,
        subcategory: optional(Dims::SUBCATEGORY, key.subcategory),
        direction: key.direction,
        supervision_mode: text(Dims::SUPERVISION_MODE, key.supervision_mode),
        statistics_group: text(Dims::STATISTICS_GROUP, key.statistics_group),
        customs_office: text(Dims::CUSTOMS_OFFICE, key.customs_office),
        transport_mode: optional(Dims::TRANSPORT_MODE, key.transport_mode),
        partner_country: text(Dims::PARTNER_COUNTRY, key.partner_country),
        province: optional(Dims::PROVINCE, key.province),
        hs_chapter: text(Dims::HS_CHAPTER, key.hs_chapter),
        currency: text(Dims::CURRENCY, key.currency),
    }
}

/// Every rollup of one pane (or one week, see `panes/weeks.rs`).
pub type Rollups = [RollupPane; ROLLUPS.len()];

/// A change of one pane key's total: a cell's measures, or the number of
/// declarations with a shape (borrowing the key: one per record applied).
#[derive(Debug, Clone)]
pub enum Change<'a> {
    /// New minus old measures of a cell.
    Cell(&'a CellKey, Measures),
    /// New minus old count of a shape.
    Shape(&'a Shape, i64),
}

/// Moves every rollup of `rollups` by `change`; returns the change in
/// keys held.
pub fn move_all(rollups: &mut Rollups, change: &Change<'_>) -> isize {
    ROLLUPS
        .iter()
        .zip(rollups.iter_mut())
        .map(|(keeps, rollup)| match change {
            Change::Cell(key, delta) => rollup.add_cell(*keeps, key, delta),
            Change::Shape(shape, delta) => rollup.add_shape(*keeps, shape, *delta),
        })
        .sum()
}

/// One rollup of one pane: projected cells with their sums, and in
/// [`Measures::whole`] their presence counts (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct RollupPane {
    cells: foldhash::HashMap<CellKey, Measures>,
}

impl RollupPane {
    /// The cells and their sums.
    pub fn cells(&self) -> impl Iterator<Item = (&CellKey, &Measures)> {
        self.cells.iter()
    }

    /// Cells held.
    pub fn num_keys(&self) -> usize {
        self.cells.len()
    }

    /// Adds `delta` (a change of a pane cell's total) to the projection of
    /// `key`; returns the change in keys held.
    pub fn add_cell(&mut self, keeps: Dims, key: &CellKey, delta: &Measures) -> isize {
        self.add_to(project(keeps, key), delta)
    }

    /// Adds `delta` declarations with `shape` (a change of a pane shape's
    /// count): each is present once in every rollup cell a cell of the
    /// shape projects onto. Returns the change in keys held.
    pub fn add_shape(&mut self, keeps: Dims, shape: &Shape, delta: i64) -> isize {
        let mut projected: Vec<CellKey> = shape.iter().map(|key| project(keeps, key)).collect();
        projected.sort_unstable();
        projected.dedup();
        let present = Measures {
            whole: delta,
            ..Measures::default()
        };
        projected
            .into_iter()
            .map(|key| self.add_to(key, &present))
            .sum()
    }

    fn add_to(&mut self, key: CellKey, delta: &Measures) -> isize {
        match self.cells.entry(key) {
            Entry::Occupied(mut cell) => {
                cell.get_mut().add(delta, 1);
                if *cell.get() == Measures::default() {
                    cell.remove();
                    return -1;
                }
                0
            }
            Entry::Vacant(cell) => {
                if *delta == Measures::default() {
                    return 0;
                }
                cell.insert(delta.clone());
                1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::query::Filter;

    fn query(group_by: Vec<Dimension>, filters: Vec<Dimension>) -> Query {
        Query {
            range: (0, 1),
            group_by,
            filters: filters
                .into_iter()
                .map(|dimension| Filter {
                    dimension,
                    values: vec!["x".to_owned()],
                })
                .collect(),
        }
    }

    #[test]
    fn a_query_takes_the_smallest_rollup_that_keeps_what_it_reads() {
        use Dimension::*;
        assert_eq!(choose(&query(vec![Category, Direction], vec![])), Some(0));
        assert_eq!(choose(&query(vec![], vec![])), Some(0));
        assert_eq!(
            choose(&query(vec![PartnerCountry], vec![Direction])),
            Some(1)
        );
        assert_eq!(choose(&query(vec![Category, HsChapter], vec![])), Some(2));
        assert_eq!(choose(&query(vec![Province, CountryGroup], vec![])), None);
        assert_eq!(choose(&query(vec![Direction, Province], vec![])), Some(3));
        assert_eq!(choose(&query(vec![SupervisionMode], vec![])), Some(4));
        // A derived declaration-level dimension needs what it is derived from.
        assert_eq!(choose(&query(vec![CustomsDistrict], vec![])), Some(5));
        // A row or a total over several values of an item-level dimension
        // needs the shapes: the cells.
        assert_eq!(choose(&query(vec![CountryGroup], vec![])), None);
        assert_eq!(choose(&query(vec![HsSection], vec![Category])), None);
        assert_eq!(choose(&query(vec![Region, Direction], vec![])), None);
        assert_eq!(choose(&query(vec![Direction], vec![PartnerCountry])), None);
        assert_eq!(
            choose(&query(vec![PartnerCountry], vec![CountryGroup])),
            None
        );
        // Two item-level dimensions, or one no rollup keeps: the cells.
        assert_eq!(
            choose(&query(vec![PartnerCountry, HsChapter], vec![])),
            None
        );
        assert_eq!(choose(&query(vec![Currency], vec![])), None);
        assert_eq!(choose(&query(vec![Category], vec![TransportMode])), None);
    }
}
