//! Group-by queries over the panes of a range: filters, grouping on any
//! combination of the statistics dimensions (README, "Statistics API"), exact sums per group.
//!
//! Derived dimensions come from the code tables at query time: the
//! directly-subordinate customs of an office, the region of a province, the
//! HS section of a chapter, the groups of a partner country. A country in
//! several groups (RCEP and Belt-and-Road, say) counts in each of them, so
//! country-group rows overlap. Under an item-level dimension (partner
//! country, country group, province, region, HS chapter or section,
//! currency) a declaration can have items in several rows, and in several
//! cells of one row: the `declarations` measure then counts each
//! declaration once in every row it has a selected item in — exactly, from
//! the cells' whole declarations and the panes' shapes (see
//! [`super::cell`]). Items, values and weight are sums of the selected
//! items; weight is a declaration's, counted with its first item group.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};

use super::cell::{CellKey, Measures};
use super::panes::{Misaligned, Panes};
use super::rollup;
use super::time::Minute;
use crate::codes::CodeTables;

/// A dimension to group or filter by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    /// Trade category.
    Category,
    /// Sub-category (cross-border e-commerce).
    Subcategory,
    /// Import or export.
    Direction,
    /// Four-digit supervision mode.
    SupervisionMode,
    /// Statistics group of the mode.
    StatisticsGroup,
    /// Partner country (JGS-20 code).
    PartnerCountry,
    /// Country group of the partner (e.g. `rcep`).
    CountryGroup,
    /// Four-digit customs office.
    CustomsOffice,
    /// Directly-subordinate customs (two-digit district).
    CustomsDistrict,
    /// Domestic province.
    Province,
    /// Region of the province.
    Region,
    /// HS chapter.
    HsChapter,
    /// HS section (roman numeral).
    HsSection,
    /// Transport mode.
    TransportMode,
    /// Declared currency.
    Currency,
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Dimension; 15] = [
        Dimension::Category,
        Dimension::Subcategory,
        Dimension::Direction,
        Dimension::SupervisionMode,
        Dimension::StatisticsGroup,
        Dimension::PartnerCountry,
        Dimension::CountryGroup,
        Dimension::CustomsOffice,
        Dimension::CustomsDistrict,
        Dimension::Province,
        Dimension::Region,
        Dimension::HsChapter,
        Dimension::HsSection,
        Dimension::TransportMode,
        Dimension::Currency,
    ];

    /// Stable snake-case name, e.g. `partner_country`.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Category => "category",
            Dimension::Subcategory => "subcategory",
            Dimension::Direction => "direction",
            Dimension::SupervisionMode => "supervision_mode",
            Dimension::StatisticsGroup => "statistics_group",
            Dimension::PartnerCountry => "partner_country",
            Dimension::CountryGroup => "country_group",
            Dimension::CustomsOffice => "customs_office",
            Dimension::CustomsDistrict => "customs_district",
            Dimension::Province => "province",
            Dimension::Region => "region",
            Dimension::HsChapter => "hs_chapter",
            Dimension::HsSection => "hs_section",
            Dimension::TransportMode => "transport_mode",
            Dimension::Currency => "currency",
        }
    }

    /// The dimension named `name` ([`Dimension::name`]).
    pub fn from_name(name: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Whether it is taken from items rather than the declaration.
    pub fn is_item_level(self) -> bool {
        matches!(
            self,
            Dimension::PartnerCountry
                | Dimension::CountryGroup
                | Dimension::Province
                | Dimension::Region
                | Dimension::HsChapter
                | Dimension::HsSection
                | Dimension::Currency
        )
    }

    /// The dimension's values for one cell (several for a country group),
    /// owned: the tests' plain reference for [`Dimension::values_into`].
    #[cfg(test)]
    pub(crate) fn values(self, key: &CellKey, tables: &CodeTables) -> Vec<String> {
        let mut values = Vec::new();
        self.values_into(key, tables, &mut values);
        values.into_iter().map(Cow::into_owned).collect()
    }

    /// [`Dimension::values`] into `out` (cleared first), borrowed where
    /// they can be: a query computes them for every cell it reads.
    pub fn values_into<'a>(
        self,
        key: &'a CellKey,
        tables: &'a CodeTables,
        out: &mut Vec<Cow<'a, str>>,
    ) {
        out.clear();
        let value = match self {
            Dimension::Category => Some(key.category.as_str()),
            Dimension::Subcategory => key.subcategory.as_deref(),
            Dimension::Direction => Some(key.direction.as_str()),
            Dimension::SupervisionMode => Some(key.supervision_mode.as_str()),
            Dimension::StatisticsGroup => Some(key.statistics_group.as_str()),
            Dimension::PartnerCountry => Some(key.partner_country.as_str()),
            Dimension::CountryGroup => {
                let groups = tables
                    .country(&key.partner_country)
                    .map(|alpha3| tables.country_groups(alpha3))
                    .unwrap_or(&[]);
                out.extend(groups.iter().map(|group| Cow::Borrowed(group.as_str())));
                if out.is_empty() {
                    out.push(Cow::Borrowed(""));
                }
                return;
            }
            Dimension::CustomsOffice => Some(key.customs_office.as_str()),
            Dimension::CustomsDistrict => {
                let district = key.customs_office.get(..2);
                out.push(district.map_or(Cow::Borrowed(""), |d| Cow::Owned(format!("{d}00"))));
                return;
            }
            Dimension::Province => key.province.as_deref(),
            Dimension::Region => key
                .province
                .as_deref()
                .and_then(|code| tables.province(code))
                .map(|province| province.region.as_str()),
            Dimension::HsChapter => Some(key.hs_chapter.as_str()),
            Dimension::HsSection => hs_section(&key.hs_chapter),
            Dimension::TransportMode => key.transport_mode.as_deref(),
            Dimension::Currency => Some(key.currency.as_str()),
        };
        out.push(Cow::Borrowed(value.unwrap_or("")));
    }
}

/// HS section (WCO nomenclature, sections I–XXI; chapters 98–99 are
/// national special chapters) of a two-digit chapter.
pub fn hs_section(chapter: &str) -> Option<&'static str> {
    const SECTIONS: [(u8, &str); 22] = [
        (5, "I"),
        (14, "II"),
        (15, "III"),
        (24, "IV"),
        (27, "V"),
        (38, "VI"),
        (40, "VII"),
        (43, "VIII"),
        (46, "IX"),
        (49, "X"),
        (63, "XI"),
        (67, "XII"),
        (70, "XIII"),
        (71, "XIV"),
        (83, "XV"),
        (85, "XVI"),
        (89, "XVII"),
        (92, "XVIII"),
        (93, "XIX"),
        (96, "XX"),
        (97, "XXI"),
        (99, "special"),
    ];
    let number: u8 = chapter.parse().ok()?;
    if number == 0 {
        return None;
    }
    SECTIONS
        .iter()
        .find(|(last, _)| number <= *last)
        .map(|(_, section)| *section)
}

/// Keep a cell when its dimension has one of the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The dimension.
    pub dimension: Dimension,
    /// Accepted values (any of).
    pub values: Vec<String>,
}

/// A query over one range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `[from, to)` in minutes; whole panes.
    pub range: (Minute, Minute),
    /// Dimensions to group by, in order.
    pub group_by: Vec<Dimension>,
    /// Filters, all of which must hold.
    pub filters: Vec<Filter>,
}

impl Query {
    /// Whether a declaration can fall in several cells of a row: the query
    /// groups or filters by an item-level dimension.
    pub fn splits_declarations(&self) -> bool {
        self.group_by.iter().any(|d| d.is_item_level())
            || self.filters.iter().any(|f| f.dimension.is_item_level())
    }

    #[cfg(test)]
    fn selects(&self, key: &CellKey, tables: &CodeTables) -> bool {
        self.filters.iter().all(|filter| {
            filter
                .dimension
                .values(key, tables)
                .iter()
                .any(|value| filter.values.contains(value))
        })
    }
}

/// Exact sums per group, keyed by the group's values in `group_by` order;
/// each declaration counted once per group it has a selected item in.
pub fn run(
    panes: &Panes,
    query: &Query,
    tables: &CodeTables,
) -> Result<BTreeMap<Vec<String>, Measures>, Misaligned> {
    run_with_total(panes, query, tables).map(|(groups, _)| groups)
}

/// [`run`], and in the same pass the total over every selected item, each
/// declaration counted once (also when groups overlap or split it).
pub fn run_with_total(
    panes: &Panes,
    query: &Query,
    tables: &CodeTables,
) -> Result<(BTreeMap<Vec<String>, Measures>, Measures), Misaligned> {
    let mut sums = Sums::new(query, tables);
    let (from, to) = query.range;
    match rollup::choose(query) {
        Some(rollup) => {
            // The same rollup keys recur in every pane of the range: add
            // them up first, then route each distinct key once.
            let mut summed: foldhash::HashMap<&CellKey, Measures> = Default::default();
            panes.fold_rollup(from, to, rollup, |key, measures| {
                summed.entry(key).or_default().add(measures, 1);
            })?;
            for (key, measures) in &summed {
                sums.cell(key, measures);
            }
        }
        None => panes.fold_panes(from, to, |pane| {
            for (key, measures) in pane.cells() {
                sums.cell(key, measures);
            }
            if sums.split {
                for (shape, count) in pane.shapes() {
                    sums.shape(shape, count);
                }
            }
        })?,
    }
    Ok(sums.finish())
}

/// A measure to order groups and compute shares by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Measure {
    /// Distinct declarations (see the module docs).
    Declarations,
    /// Goods items.
    Items,
    /// Value in CNY.
    ValueCny,
    /// Value in USD.
    ValueUsd,
    /// Net weight in kilograms.
    NetWeightKg,
}

impl Measure {
    /// The measure's exact value in `measures`.
    pub fn of(self, measures: &Measures) -> Decimal {
        match self {
            Measure::Declarations => Decimal::from(measures.declarations),
            Measure::Items => Decimal::from(measures.items),
            Measure::ValueCny => measures.value_cny,
            Measure::ValueUsd => measures.value_usd,
            Measure::NetWeightKg => measures.net_weight_kg,
        }
    }
}

/// Groups as a list ordered by `order_by` (ties and `None`: by group values
/// ascending), largest first when `descending`.
pub fn ordered(
    groups: BTreeMap<Vec<String>, Measures>,
    order_by: Option<Measure>,
    descending: bool,
) -> Vec<(Vec<String>, Measures)> {
    let mut rows: Vec<_> = groups.into_iter().collect();
    if let Some(measure) = order_by {
        // Stable: equal measures keep group-value order.
        rows.sort_by(|(_, a), (_, b)| {
            let order = measure.of(a).cmp(&measure.of(b));
            if descending { order.reverse() } else { order }
        });
    } else if descending {
        rows.reverse();
    }
    rows
}

/// Decimal places of a share in percent.
pub const SHARE_DECIMALS: u32 = 4;

/// `part` as a percentage of `total`, rounded half to even to
/// [`SHARE_DECIMALS`] places; `None` when the total is zero.
pub fn share_percent(part: Decimal, total: Decimal) -> Option<Decimal> {
    if total.is_zero() {
        return None;
    }
    let percent = part.checked_mul(Decimal::ONE_HUNDRED)?.checked_div(total)?;
    let mut rounded =
        percent.round_dp_with_strategy(SHARE_DECIMALS, RoundingStrategy::MidpointNearestEven);
    rounded.rescale(SHARE_DECIMALS);
    Some(rounded)
}

/// Whether the panes hold anything before `minute`, which must be a pane
/// boundary (a period's start): the data then covers a period starting there.
pub fn has_data_before(panes: &Panes, minute: Minute) -> Result<bool, Misaligned> {
    panes.has_data_before(minute)
}

/// Every combination of the cell's values over the group-by dimensions:
/// the plain form of what [`Router`] does, the tests' reference.
#[cfg(test)]
fn group_keys(dimensions: &[Dimension], key: &CellKey, tables: &CodeTables) -> Vec<Vec<String>> {
    let mut keys = vec![Vec::with_capacity(dimensions.len())];
    for dimension in dimensions {
        let values = dimension.values(key, tables);
        keys = keys
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |value| {
                    let mut next = prefix.clone();
                    next.push(value.clone());
                    next
                })
            })
            .collect();
    }
    keys
}

#[cfg(test)]
pub(crate) mod distinct_tests;
mod resolve;
mod sum;

use sum::Sums;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_names_round_trip() {
        for dimension in Dimension::ALL {
            assert_eq!(Dimension::from_name(dimension.name()), Some(dimension));
        }
        assert_eq!(Dimension::from_name("colour"), None);
    }

    #[test]
    fn shares_round_half_to_even_and_skip_a_zero_total() {
        let share = |part: i64, total: i64| {
            share_percent(Decimal::from(part), Decimal::from(total)).map(|d| d.to_string())
        };
        assert_eq!(share(1, 3).as_deref(), Some("33.3333"));
        assert_eq!(share(2, 3).as_deref(), Some("66.6667"));
        assert_eq!(share(1, 1).as_deref(), Some("100.0000"));
        // 1/160000 = 0.000625 %: the midpoint rounds to the even 0.0006.
        assert_eq!(share(1, 160_000).as_deref(), Some("0.0006"));
        assert_eq!(share(1, 0), None);
    }

    #[test]
    fn ordering_is_by_measure_then_by_group() {
        let mut groups = BTreeMap::new();
        for (name, items) in [("a", 2), ("b", 5), ("c", 2)] {
            let measures = Measures {
                items,
                ..Measures::default()
            };
            groups.insert(vec![name.to_owned()], measures);
        }
        let names = |rows: Vec<(Vec<String>, Measures)>| {
            rows.into_iter()
                .map(|(g, _)| g[0].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(ordered(groups.clone(), Some(Measure::Items), true)),
            ["b", "a", "c"]
        );
        assert_eq!(
            names(ordered(groups.clone(), Some(Measure::Items), false)),
            ["a", "c", "b"]
        );
        assert_eq!(names(ordered(groups, None, false)), ["a", "b", "c"]);
    }
}
