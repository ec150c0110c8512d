//! One cell of a pane: the dimensions a contribution slice is counted under,
//! and the exact measures summed there.

use compact_str::CompactString;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::classify::TradeCategory;
use crate::lifecycle::{Contribution, Slice};
use crate::model::Direction;

/// The stored dimensions of a cell. Derived dimensions (country group,
/// directly-subordinate customs, region, HS section) are computed from these
/// at query time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CellKey {
    /// Trade category.
    pub category: TradeCategory,
    /// Sub-category.
    pub subcategory: Option<CompactString>,
    /// Direction.
    pub direction: Direction,
    /// Supervision mode.
    pub supervision_mode: CompactString,
    /// Statistics group.
    pub statistics_group: CompactString,
    /// Customs office (four digits).
    pub customs_office: CompactString,
    /// Transport mode.
    pub transport_mode: Option<CompactString>,
    /// Partner country (JGS-20).
    pub partner_country: CompactString,
    /// Province (two digits).
    pub province: Option<CompactString>,
    /// HS chapter (two digits).
    pub hs_chapter: CompactString,
    /// Declared currency.
    pub currency: CompactString,
}

impl CellKey {
    /// The key of one slice of a contribution.
    pub fn of(contribution: &Contribution, slice: &Slice) -> CellKey {
        CellKey {
            category: contribution.category,
            subcategory: contribution.subcategory.as_deref().map(CompactString::from),
            direction: contribution.direction,
            supervision_mode: contribution.supervision_mode.as_str().into(),
            statistics_group: contribution.statistics_group.as_str().into(),
            customs_office: contribution.customs_office.as_str().into(),
            transport_mode: contribution
                .transport_mode
                .as_deref()
                .map(CompactString::from),
            partner_country: slice.partner_country.as_str().into(),
            province: slice.province.as_deref().map(CompactString::from),
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
    /// Declaration slices: a declaration counts once in every cell it has
    /// items in (the declaration count under item-level dimensions).
    pub declaration_slices: i64,
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
            declaration_slices: 1,
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

    /// Adds `other` times `sign` (+1 or -1).
    pub fn add(&mut self, other: &Measures, sign: i64) {
        let factor = Decimal::from(sign);
        self.declarations += sign * other.declarations;
        self.declaration_slices += sign * other.declaration_slices;
        self.items += sign * other.items;
        self.value_cny += factor * other.value_cny;
        self.value_usd += factor * other.value_usd;
        self.net_weight_kg += factor * other.net_weight_kg;
        self.declared += factor * other.declared;
    }

    /// Nothing left: every contribution was retracted.
    pub fn is_empty(&self) -> bool {
        self.declaration_slices == 0
            && self.items == 0
            && self.value_cny.is_zero()
            && self.value_usd.is_zero()
    }
}

/// Cells: dimensions and their sums.
pub type Cells = Vec<(CellKey, Measures)>;

/// Adds `more` into `cells`, cell by cell.
pub fn merge_cells(cells: &mut Cells, more: impl IntoIterator<Item = (CellKey, Measures)>) {
    for (key, measures) in more {
        match cells.iter_mut().find(|(existing, _)| *existing == key) {
            Some((_, cell)) => cell.add(&measures, 1),
            None => cells.push((key, measures)),
        }
    }
}

/// The cells of a contribution: what it adds to its pane, and what sealing
/// adds to a sealed record.
pub fn cells_of(contribution: &Contribution) -> Cells {
    let mut cells = Cells::with_capacity(contribution.slices.len());
    merge_cells(
        &mut cells,
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
    cells
}
