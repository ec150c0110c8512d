//! The tiers answer every aligned range exactly as a recount of the
//! contributions in it, whichever tiers the answer comes from; setting a
//! value is idempotent and partitions add up.

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::stats::query::distinct_tests::contribution;
use crate::stats::time::format_minute;

fn start() -> Minute {
    parse_minute("2026-11-01T00:00:00").unwrap_or_default()
}

fn all_cny(panes: &Panes, from: Minute, to: Minute) -> Result<Decimal, Misaligned> {
    let mut sum = Decimal::ZERO;
    panes.fold(from, to, |_, measures| sum += measures.value_cny)?;
    Ok(sum)
}

#[test]
fn setting_a_value_twice_changes_nothing_and_partitions_add_up() {
    let mut panes = Panes::default();
    let c = contribution(1, true, &[(0, 0, 0)], start() + 10);
    let tally = Tally::of(&c);
    let key = StatKey::cell(Tier::Day, start(), tally.cells[0].0.clone());
    let value = tally.cells[0].1.clone();
    assert!(panes.set(0, &key, Some(&value)));
    assert!(!panes.set(0, &key, Some(&value)), "the same record again");
    assert!(panes.set(1, &key, Some(&value)));
    assert_eq!(
        all_cny(&panes, start(), start() + DAY),
        Ok(Decimal::from(22))
    );
    assert!(panes.set(0, &key, None));
    assert_eq!(
        all_cny(&panes, start(), start() + DAY),
        Ok(Decimal::from(11))
    );
    assert_eq!(panes.get(1, &key), Some(&value));
    assert_eq!(panes.num_cells(), 1);
}

#[test]
fn a_month_is_read_from_day_panes_and_its_edges_from_hours() {
    let mut panes = Panes::default();
    let watermark = start() + 40 * DAY + 5 * HOUR;
    panes.advance(watermark);
    for day in 0..40 {
        let c = contribution(day as usize, true, &[(0, 0, 0)], start() + day * DAY + 13);
        panes.apply(0, &c, 1).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut visited = 0;
    let from = start() + 10 * DAY + 2 * HOUR;
    let to = start() + 40 * DAY;
    panes
        .fold_panes(from, to, |_| visited += 1)
        .unwrap_or_else(|e| panic!("{e}"));
    // 29 whole days and the 22 hours before them, of which only held panes
    // are visited: 29 day panes.
    assert_eq!(visited, 29);
    // Before the hour tier's floor only whole days answer.
    let early = start() + 2 * DAY + HOUR;
    assert!(matches!(
        panes.fold(early, early + HOUR, |_, _| {}),
        Err(Misaligned {
            granularity: DAY,
            ..
        })
    ));
}

#[test]
fn a_pane_past_its_margin_is_dropped_and_later_writes_to_it_change_nothing() {
    let mut panes = Panes::default();
    let at = start() + 30;
    panes
        .apply(0, &contribution(1, true, &[(0, 0, 0)], at), 1)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(panes.num_panes(), 3, "one pane per tier");
    // Five hours on: the minute pane is past the 2 h span and 2 h margin.
    panes.advance(at + 5 * HOUR + 30);
    assert_eq!(panes.num_panes(), 2);
    let tally = Tally::of(&contribution(1, true, &[(0, 0, 0)], at));
    let minute_key = StatKey::cell(Tier::Minute, at, tally.cells[0].0.clone());
    assert!(!panes.set(0, &minute_key, Some(&tally.cells[0].1)));
    assert_eq!(panes.has_data_before(start() + DAY), Ok(true));
    // "All time": a range reaching far beyond what is held on both sides.
    assert_eq!(
        all_cny(&panes, Minute::MIN / 2, Minute::MAX / 2),
        Ok(Decimal::from(11))
    );
    assert_eq!(panes.has_data_before(start()), Ok(false));
}

proptest! {
    /// Whatever tiers hold the data, an aligned range answers the recount
    /// of the contributions dated in it.
    #[test]
    fn aligned_ranges_answer_the_recount(
        times in proptest::collection::vec((0..(40 * DAY), any::<bool>()), 1..40),
        watermark_offset in 0..(40 * DAY),
        range in (0..(40 * 24i64), 1..(40 * 24i64)),
        day_aligned in any::<bool>(),
    ) {
        let mut panes = Panes::default();
        let base = start();
        let watermark = base + watermark_offset;
        panes.advance(watermark);
        let mut kept = Vec::new();
        for (id, (offset, withdrawn)) in times.iter().enumerate() {
            let minute = base + offset;
            let c = contribution(id, id % 2 == 0, &[(id % 3, 0, id % 2)], minute);
            // Only what an owner would still accept: not before the day floor.
            panes.apply(0, &c, 1).unwrap_or_else(|e| panic!("{e}"));
            if *withdrawn {
                panes.apply(0, &c, -1).unwrap_or_else(|e| panic!("{e}"));
            } else {
                kept.push((minute, c.value_cny));
            }
        }
        let (from_hours, len_hours) = range;
        let (from, to) = if day_aligned {
            let from = base + from_hours / 24 * DAY;
            (from, from + (len_hours / 24 + 1) * DAY)
        } else {
            let from = base + from_hours * HOUR;
            (from, from + len_hours * HOUR)
        };
        let expected: Decimal = kept
            .iter()
            .filter(|(minute, _)| *minute >= from && *minute < to)
            .map(|(_, cny)| *cny)
            .sum();
        match all_cny(&panes, from, to) {
            Ok(sum) => prop_assert_eq!(sum, expected, "{} .. {}", format_minute(from), format_minute(to)),
            // Only a range reaching before the hour tier may need finer panes.
            Err(err) => {
                prop_assert_eq!(err.granularity, DAY);
                prop_assert!(from < panes.layout().floor(Tier::Hour, Some(watermark)) || to < panes.layout().floor(Tier::Hour, Some(watermark)) + DAY);
            }
        }
    }
}

proptest! {
    /// Rollups move with every change of a cell's total: once every
    /// contribution is retracted (by any of two partitions, in any order),
    /// no rollup cell or shape is left behind.
    #[test]
    fn retracting_everything_leaves_no_rollup_key(
        declarations in proptest::collection::vec(
            (proptest::collection::btree_set((0..6usize, 0..4usize, 0..4usize), 1..4), 0..(2 * DAY)),
            1..20,
        ),
        order in any::<u64>(),
    ) {
        let mut panes = Panes::default();
        let contributions: Vec<_> = declarations
            .iter()
            .enumerate()
            .map(|(id, (slices, offset))| {
                let slices: Vec<_> = slices.iter().copied().collect();
                contribution(id, id % 2 == 0, &slices, start() + offset)
            })
            .collect();
        for (id, c) in contributions.iter().enumerate() {
            panes.apply((id % 2) as i32, c, 1).unwrap_or_else(|e| panic!("{e}"));
        }
        prop_assert!(panes.num_rollup_keys() > 0);
        let mut ids: Vec<usize> = (0..contributions.len()).collect();
        ids.rotate_left((order % contributions.len() as u64) as usize);
        for id in ids {
            panes.apply((id % 2) as i32, &contributions[id], -1).unwrap_or_else(|e| panic!("{e}"));
        }
        prop_assert_eq!(panes.num_cells(), 0);
        prop_assert_eq!(panes.num_rollup_keys(), 0);
        prop_assert_eq!(panes.num_panes(), 0);
    }
}
