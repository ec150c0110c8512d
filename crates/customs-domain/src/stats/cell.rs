//! One cell of a pane: the dimensions a contribution slice is counted under,
//! and the exact measures summed there; and the [`Tally`] a contribution
//! adds to a pane: its cells and, for a declaration with items in more than
//! one cell, its [`Shape`].
//!
//! Why shapes: under an item-level dimension (partner country, province, HS
//! chapter, currency and what derives from them) one declaration can fall
//! in several cells of one row, and sums of per-cell counts would count it
//! once per cell. A cell therefore counts the declarations it holds whole
//! ([`Measures::whole`]), and a pane keeps the shape (the set of cells) of
//! every other declaration, with how many declarations share it. A query
//! counts a shape once in every row any of its cells falls in, so the
//! declaration count is distinct under any grouping and filter, with the
//! code tables in force at query time.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ustr::Ustr;

use crate::classify::TradeCategory;
use crate::lifecycle::{Contribution, Slice};
use crate::model::Direction;

/// The stored dimensions of a cell. Derived dimensions (country group,
/// directly-subordinate customs, region, HS section) are computed from these
/// at query time.
///
/// Codes are interned ([`Ustr`]: one copy of each distinct code per
/// process, never freed; codes come from bounded code tables, and each
/// distinct code is also at least one cell): a key is 80 bytes, compares
/// and hashes by pointer, and orders (shapes are sorted) and serialises by
/// the code's text, so records and their order are the same in every
/// process.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CellKey {
    /// Trade category.
    pub category: TradeCategory,
    /// Sub-category.
    pub subcategory: Option<Ustr>,
    /// Direction.
    pub direction: Direction,
    /// Supervision mode.
    pub supervision_mode: Ustr,
    /// Statistics group.
    pub statistics_group: Ustr,
    /// Customs office (four digits).
    pub customs_office: Ustr,
    /// Transport mode.
    pub transport_mode: Option<Ustr>,
    /// Partner country (JGS-20).
    pub partner_country: Ustr,
    /// Province (two digits).
    pub province: Option<Ustr>,
    /// HS chapter (two digits).
    pub hs_chapter: Ustr,
    /// Declared currency.
    pub currency: Ustr,
}

impl CellKey {
    /// The key of one slice of a contribution.
    pub fn of(contribution: &Contribution, slice: &Slice) -> CellKey {
        CellKey {
            category: contribution.category,
            subcategory: contribution.subcategory.as_deref().map(Ustr::from),
            direction: contribution.direction,
            supervision_mode: contribution.supervision_mode.as_str().into(),
            statistics_group: contribution.statistics_group.as_str().into(),
            customs_office: contribution.customs_office.as_str().into(),
            transport_mode: contribution.transport_mode.as_deref().map(Ustr::from),
            partner_country: slice.partner_country.as_str().into(),
            province: slice.province.as_deref().map(Ustr::from),
            hs_chapter: slice.hs_chapter.as_str().into(),
            currency: slice.currency.as_str().into(),
        }
    }
}

/// Exact sums in one cell. Counts are signed so that a retraction applied
/// before its addition (never by construction, but cheap to tolerate) does
/// not wrap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measures {
    /// Declarations, each counted once: on its first slice.
    pub declarations: i64,
    /// Declarations whose every item is in this cell. With the pane's
    /// shapes (declarations spread over several cells) they give the
    /// distinct declaration count under item-level dimensions.
    pub whole: i64,
    /// Goods items.
    pub items: i64,
    /// Value in CNY.
    pub value_cny: Decimal,
    /// Value in USD.
    pub value_usd: Decimal,
    /// Net weight in kilograms, counted on the declaration's first slice.
    pub net_weight_kg: Decimal,
    /// Declared value in the cell's currency.
    pub declared: Decimal,
}

impl Measures {
    /// The measures of slice number `index` of `contribution`.
    pub fn of(contribution: &Contribution, index: usize, slice: &Slice) -> Measures {
        let first = index == 0;
        Measures {
            declarations: i64::from(first),
            whole: i64::from(contribution.slices.len() == 1),
            items: slice.num_items as i64,
            value_cny: slice.value_cny,
            value_usd: slice.value_usd,
            net_weight_kg: if first {
                contribution.net_weight_kg
            } else {
                Decimal::ZERO
            },
            declared: slice.declared,
        }
    }

    /// The value of a shape's key: `count` declarations have it.
    pub fn shape(count: i64) -> Measures {
        Measures {
            declarations: count,
            ..Measures::default()
        }
    }

    /// Adds `other` times `sign`, which is +1 or -1.
    pub fn add(&mut self, other: &Measures, sign: i64) {
        debug_assert!(sign == 1 || sign == -1, "sign {sign}");
        self.declarations += sign * other.declarations;
        self.whole += sign * other.whole;
        self.items += sign * other.items;
        // Additions, not multiplications by ±1: queries add every cell they read.
        if sign == -1 {
            self.value_cny -= other.value_cny;
            self.value_usd -= other.value_usd;
            self.net_weight_kg -= other.net_weight_kg;
            self.declared -= other.declared;
        } else {
            self.value_cny += other.value_cny;
            self.value_usd += other.value_usd;
            self.net_weight_kg += other.net_weight_kg;
            self.declared += other.declared;
        }
    }

    /// Nothing left: every contribution was retracted.
    pub fn is_empty(&self) -> bool {
        self.declarations == 0
            && self.whole == 0
            && self.items == 0
            && self.value_cny.is_zero()
            && self.value_usd.is_zero()
    }
}

/// Cells: dimensions and their sums.
pub type Cells = Vec<(CellKey, Measures)>;

/// The cells a declaration with items in several cells has items in,
/// sorted. Its declaration-level dimensions are in every key.
pub type Shape = Box<[CellKey]>;

/// What contributions add up to: cells, and the shapes of declarations
/// spread over several cells with how many declarations have each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Cells and their sums.
    pub cells: Cells,
    /// Shapes and how many declarations have each.
    pub shapes: Vec<(Shape, i64)>,
}

impl Tally {
    /// What one contribution adds to its pane, and sealing to a sealed
    /// record.
    pub fn of(contribution: &Contribution) -> Tally {
        let mut tally = Tally::default();
        tally.merge_cells(
            contribution
                .slices
                .iter()
                .enumerate()
                .map(|(index, slice)| {
                    (
                        CellKey::of(contribution, slice),
                        Measures::of(contribution, index, slice),
                    )
                }),
        );
        if tally.cells.len() > 1 {
            let mut shape: Vec<CellKey> = tally.cells.iter().map(|(key, _)| key.clone()).collect();
            shape.sort_unstable();
            tally.shapes.push((shape.into_boxed_slice(), 1));
        }
        tally
    }

    /// Adds `other` in, cell by cell and shape by shape.
    pub fn merge(&mut self, other: Tally) {
        self.merge_cells(other.cells);
        for (shape, count) in other.shapes {
            match self
                .shapes
                .iter_mut()
                .find(|(existing, _)| *existing == shape)
            {
                Some((_, existing)) => *existing += count,
                None => self.shapes.push((shape, count)),
            }
        }
        self.shapes.retain(|(_, count)| *count != 0);
    }

    fn merge_cells(&mut self, more: impl IntoIterator<Item = (CellKey, Measures)>) {
        for (key, measures) in more {
            match self.cells.iter_mut().find(|(existing, _)| *existing == key) {
                Some((_, cell)) => cell.add(&measures, 1),
                None => self.cells.push((key, measures)),
            }
        }
        self.cells.retain(|(_, cell)| !cell.is_empty());
    }
}
