//! Declaration counts under item-level dimensions are distinct: checked
//! against a brute-force recount over the contributions themselves, through
//! retractions, tier folding and sealed tallies.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::classify::TradeCategory;
use crate::lifecycle::{Contribution, Slice};
use crate::model::Direction;
use crate::stats::time::{HOUR, format_minute, parse_minute};

/// JGS-20 codes: Japan and Korea (RCEP), Viet Nam (ASEAN, RCEP), Germany
/// (EU), Russia, the United States.
const PARTNERS: [&str; 6] = ["116", "133", "141", "304", "344", "502"];
const PROVINCES: [&str; 4] = ["11", "21", "44", "51"];
const CHAPTERS: [&str; 4] = ["01", "02", "61", "85"];

pub(crate) fn contribution(
    id: usize,
    export: bool,
    slices: &[(usize, usize, usize)],
    minute: Minute,
) -> Contribution {
    let slices: Vec<Slice> = slices
        .iter()
        .map(|&(partner, province, chapter)| Slice {
            partner_country: PARTNERS[partner].to_owned(),
            province: Some(PROVINCES[province].to_owned()),
            hs_chapter: CHAPTERS[chapter].to_owned(),
            currency: "CNY".to_owned(),
            num_items: 1,
            declared: Decimal::from(10 + id as i64),
            value_cny: Decimal::from(10 + id as i64),
            value_usd: Decimal::from(1 + id as i64),
        })
        .collect();
    // Declaration-level dimensions vary with the id, so that queries over
    // the rollups that keep them (mode, office) split declarations too.
    let (category, supervision_mode, statistics_group) = if id % 3 == 2 {
        (
            TradeCategory::CrossBorderEcommerce,
            "9610",
            "cross_border_ecommerce",
        )
    } else {
        (TradeCategory::GeneralTrade, "0110", "general_trade")
    };
    Contribution {
        id: format!("D{id}"),
        invt_no: None,
        category,
        subcategory: (id % 3 == 2).then(|| "direct_purchase".to_owned()),
        direction: if export {
            Direction::Export
        } else {
            Direction::Import
        },
        supervision_mode: supervision_mode.to_owned(),
        statistics_group: statistics_group.to_owned(),
        customs_office: ["5301", "5302", "2201"][id % 3].to_owned(),
        transport_mode: Some("2".to_owned()),
        num_items: slices.len() as u64,
        value_cny: slices.iter().map(|s| s.value_cny).sum(),
        value_usd: slices.iter().map(|s| s.value_usd).sum(),
        net_weight_kg: Decimal::ONE,
        slices,
        counted_at: format_minute(minute),
    }
}

/// Distinct (partner, province, chapter) triples: a contribution's slices.
fn slices() -> impl Strategy<Value = Vec<(usize, usize, usize)>> {
    proptest::collection::btree_set(
        (0..PARTNERS.len(), 0..PROVINCES.len(), 0..CHAPTERS.len()),
        1..5,
    )
    .prop_map(|set| set.into_iter().collect())
}

fn queries() -> Vec<Query> {
    let filter = |dimension, values: &[&str]| Filter {
        dimension,
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    };
    let query = |group_by: Vec<Dimension>, filters: Vec<Filter>| Query {
        range: (Minute::MIN / 2, Minute::MAX / 2),
        group_by,
        filters,
    };
    vec![
        query(vec![Dimension::PartnerCountry], vec![]),
        query(vec![Dimension::CountryGroup], vec![]),
        query(vec![Dimension::Region, Dimension::Direction], vec![]),
        query(vec![Dimension::HsSection], vec![]),
        query(
            vec![],
            vec![filter(Dimension::PartnerCountry, &["116", "502"])],
        ),
        query(
            vec![Dimension::Province],
            vec![filter(Dimension::CountryGroup, &["rcep"])],
        ),
        query(
            vec![Dimension::CountryGroup, Dimension::HsChapter],
            vec![filter(Dimension::Region, &["eastern", "western"])],
        ),
        query(vec![Dimension::Direction], vec![]),
        // Over each rollup: trade-mode structure, then a declaration-level
        // and an item-level dimension with category and direction.
        query(vec![Dimension::Category, Dimension::Direction], vec![]),
        query(
            vec![Dimension::SupervisionMode, Dimension::Direction],
            vec![filter(Dimension::Category, &["general_trade"])],
        ),
        query(
            vec![Dimension::CustomsDistrict],
            vec![filter(Dimension::Subcategory, &["direct_purchase"])],
        ),
        query(
            vec![Dimension::Category, Dimension::HsChapter],
            vec![filter(Dimension::Direction, &["export"])],
        ),
        query(
            vec![Dimension::Subcategory, Dimension::PartnerCountry],
            vec![filter(Dimension::StatisticsGroup, &["general_trade"])],
        ),
        query(vec![Dimension::Direction, Dimension::Province], vec![]),
        // No rollup keeps two item-level dimensions: the cells answer.
        query(vec![Dimension::PartnerCountry, Dimension::Province], vec![]),
    ]
}

/// The recount: every selected item adds to each of its groups, and a
/// declaration counts once per group it has a selected item in.
fn recount(
    contributions: &[Contribution],
    query: &Query,
    tables: &CodeTables,
) -> BTreeMap<Vec<String>, Measures> {
    let mut groups: BTreeMap<Vec<String>, Measures> = BTreeMap::new();
    for contribution in contributions {
        let mut counted_in = BTreeSet::new();
        for (index, slice) in contribution.slices.iter().enumerate() {
            let key = CellKey::of(contribution, slice);
            if !query.selects(&key, tables) {
                continue;
            }
            for group in group_keys(&query.group_by, &key, tables) {
                let mut measures = Measures::of(contribution, index, slice);
                measures.declarations = i64::from(counted_in.insert(group.clone()));
                measures.whole = 0;
                groups.entry(group).or_default().add(&measures, 1);
            }
        }
    }
    groups
}

/// Writes declaration `id` as the owner of partition `id % 2` would (two
/// partitions write the panes), and retracts it again when `withdrawn`;
/// returns it when it stays counted.
fn write(
    panes: &mut Panes,
    id: usize,
    export: bool,
    slices: &[(usize, usize, usize)],
    minute: Minute,
    withdrawn: bool,
) -> Option<Contribution> {
    let c = contribution(id, export, slices, minute);
    let partition = (id % 2) as i32;
    panes.apply(partition, &c, 1).expect("time");
    if withdrawn {
        panes.apply(partition, &c, -1).expect("time");
        return None;
    }
    Some(c)
}

/// What the panes answer, with `whole` cleared (the recount has none).
fn served(panes: &Panes, query: &Query, tables: &CodeTables) -> BTreeMap<Vec<String>, Measures> {
    let mut groups = run(panes, query, tables).expect("aligned");
    for measures in groups.values_mut() {
        measures.whole = 0;
    }
    groups
}

proptest! {
    #[test]
    fn declaration_counts_are_distinct_under_any_grouping_and_filter(
        declarations in proptest::collection::vec((any::<bool>(), slices(), 0..(3 * HOUR), any::<bool>()), 0..12),
        watermark_hours in 0..80i64,
    ) {
        let tables = CodeTables::embedded();
        let start = parse_minute("2026-11-18T00:00:00").expect("time");
        let mut panes = Panes::default();
        let mut counted = Vec::new();
        for (id, (export, slices, offset, withdrawn)) in declarations.iter().enumerate() {
            counted.extend(write(&mut panes, id, *export, slices, start + offset, *withdrawn));
        }
        // Panes past their tier's span are dropped as the watermark moves;
        // whole days still answer from the day tier.
        panes.advance(start + watermark_hours * HOUR);
        for query in queries() {
            let mut query = query;
            if query.group_by.is_empty() && query.filters.is_empty() {
                continue;
            }
            // Whole panes only: the coarsest tier's days.
            query.range = (start - 2 * 24 * HOUR, start + 3 * 24 * HOUR);
            prop_assert_eq!(
                served(&panes, &query, &tables),
                recount(&counted, &query, &tables),
                "{:?}", query
            );
            // The total of the same pass: every selected item, each
            // declaration once.
            let (_, mut total) = run_with_total(&panes, &query, &tables).expect("aligned");
            total.whole = 0;
            let ungrouped = Query { group_by: Vec::new(), ..query.clone() };
            let expected = recount(&counted, &ungrouped, &tables).remove(&Vec::new()).unwrap_or_default();
            prop_assert_eq!(total, expected, "total of {:?}", query);
        }
    }
}

#[test]
fn a_declaration_spanning_two_rcep_partners_counts_once_under_rcep() {
    let tables = CodeTables::embedded();
    let minute = parse_minute("2026-11-18T10:00:00").expect("time");
    let mut panes = Panes::default();
    // Japan and Korea, two chapters each: four cells, one declaration.
    let c = contribution(
        1,
        false,
        &[(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 0, 1)],
        minute,
    );
    panes.apply(0, &c, 1).expect("time");
    let query = Query {
        range: (minute, minute + 1),
        group_by: vec![Dimension::CountryGroup],
        filters: Vec::new(),
    };
    let groups = run(&panes, &query, &tables).expect("aligned");
    let rcep = &groups[&vec!["rcep".to_owned()]];
    assert_eq!(rcep.declarations, 1);
    assert_eq!(rcep.items, 4);
    let by_partner = Query {
        group_by: vec![Dimension::PartnerCountry],
        ..query
    };
    let groups = run(&panes, &by_partner, &tables).expect("aligned");
    assert_eq!(groups.len(), 2);
    assert!(groups.values().all(|m| m.declarations == 1 && m.items == 2));
}

proptest! {
    /// Long ranges over the rollups read whole China weeks from the week
    /// sums and the other days one by one; with a short retention, weeks
    /// the prune floor reaches are dropped. Either way the answer is the
    /// recount's.
    #[test]
    fn week_sums_answer_long_ranges_exactly(
        declarations in proptest::collection::vec((any::<bool>(), slices(), 0..(40 * 24 * HOUR), any::<bool>()), 1..30),
        from_day in 0..40i64,
        days in 1..40i64,
        watermark_day in 0..60i64,
    ) {
        use crate::stats::stat_key::PaneLayout;
        use crate::stats::time::DAY;
        let tables = CodeTables::embedded();
        let start = parse_minute("2026-10-01T00:00:00").expect("time");
        let layout = PaneLayout { retention: 30 * DAY, ..PaneLayout::default() };
        let mut panes = Panes::new(layout);
        let watermark = start + watermark_day * DAY;
        // Half of them before the watermark moves (every tier is written),
        // half after it (into days the prune floor has not reached, also in
        // a week it has).
        let mut counted = Vec::new();
        for phase in 0..2 {
            if phase == 1 {
                panes.advance(watermark);
            }
            for (id, (export, slices, offset, withdrawn)) in declarations.iter().enumerate() {
                if id % 2 != phase {
                    continue;
                }
                let Some(c) = write(&mut panes, id, *export, slices, start + offset, *withdrawn) else {
                    continue;
                };
                // What an owner writes after the watermark moved: only days
                // within the retention plus its slack.
                let written = phase == 0
                    || layout.writes(crate::stats::stat_key::Tier::Day, start + offset, Some(watermark));
                if written {
                    counted.push(c);
                }
            }
        }
        // Data reaches the watermark, as it does when the watermark comes
        // from the data (a range past the newest pane ends there).
        let newest = contribution(99, true, &[(0, 0, 0)], watermark);
        panes.apply(0, &newest, 1).expect("time");
        counted.push(newest);
        // What is still held: days from the prune floor on.
        let floor = panes.layout().prune_floor(crate::stats::stat_key::Tier::Day, Some(watermark));
        counted.retain(|c| parse_minute(&c.counted_at).is_some_and(|m| crate::stats::time::day_start(m) >= floor));
        let from = start + from_day * DAY;
        // All time too: it reads the held weeks, never walks the range.
        let ranges = [(from, from + days * DAY), (Minute::MIN, Minute::MAX)];
        let groupings = [vec![Dimension::PartnerCountry], vec![Dimension::Category, Dimension::Direction]];
        for (range, group_by) in ranges.iter().flat_map(|range| groupings.iter().map(move |g| (*range, g.clone()))) {
            let query = Query { range, group_by, filters: Vec::new() };
            prop_assert!(super::rollup::choose(&query).is_some());
            let in_range: Vec<Contribution> = counted
                .iter()
                .filter(|c| parse_minute(&c.counted_at).is_some_and(|m| m >= query.range.0 && m < query.range.1))
                .cloned()
                .collect();
            prop_assert_eq!(served(&panes, &query, &tables), recount(&in_range, &query, &tables), "{:?}", query);
        }
    }
}
