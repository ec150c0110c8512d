use std::collections::BTreeSet;

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::lifecycle::tests::{inventory, receipt};
use crate::model::AppType;
use crate::stats::Measures;

fn all_time(view: &StatsView) -> Measures {
    let mut total = Measures::default();
    view.panes()
        .fold(Minute::MIN / 2, Minute::MAX / 2, |_, measures| {
            total.add(measures, 1)
        })
        .unwrap();
    total
}

fn released(guid: &str, cny: i64, at: &str) -> Entry {
    let mut entry = Entry::default()
        .record_declaration(&inventory(guid, AppType::New, cny))
        .record_receipt(&receipt(guid, 800, at));
    entry.version = 1;
    entry
}

#[test]
fn an_entry_moves_the_panes_by_its_difference() {
    let mut view = StatsView::default();
    let first = released("g1", 100, "2026-11-18T11:00:00.000");
    assert_eq!(
        view.apply_entry(0, "g1", Some(first.clone())),
        Ok(Applied::Changed)
    );
    assert_eq!(all_time(&view).value_cny, Decimal::from(100));
    let mut changed = first.record_declaration(&inventory("g1", AppType::Change, 130));
    changed.version = 2;
    view.apply_entry(0, "g1", Some(changed.clone())).unwrap();
    assert_eq!(all_time(&view).value_cny, Decimal::from(130));
    assert_eq!(all_time(&view).declarations, 1);
    // An older version read late is ignored.
    assert_eq!(view.apply_entry(0, "g1", Some(first)), Ok(Applied::Stale));
    assert_eq!(all_time(&view).value_cny, Decimal::from(130));
    assert_eq!(view.find("I-g1").map(|(key, _)| key), Some("g1"));
}

#[test]
fn a_summary_supersedes_its_inventories_in_either_order() {
    let mut view = StatsView::default();
    view.apply_entry(0, "g4", Some(released("g4", 10, "2026-11-20T10:00:00")))
        .unwrap();
    assert_eq!(
        view.apply_summary("S1", &["I-g4".to_owned(), "I-g5".to_owned()]),
        Ok(true)
    );
    assert_eq!(all_time(&view), Measures::default());
    // g5's inventory comes after the summary: it never counts.
    view.apply_entry(1, "g5", Some(released("g5", 20, "2026-11-20T10:00:00")))
        .unwrap();
    assert_eq!(all_time(&view), Measures::default());
    assert_eq!(view.apply_summary("S1", &[]), Ok(false), "re-sent summary");
    assert_eq!(view.superseded_by("I-g5"), Some("S1"));
}

#[test]
fn a_tombstone_removes_a_waiting_entry() {
    let mut view = StatsView::default();
    let mut waiting = Entry::default().record_receipt(&receipt("g9", 800, "2026-11-20T10:00:00"));
    waiting.version = 1;
    view.apply_entry(2, "g9", Some(waiting)).unwrap();
    assert_eq!(view.num_waiting(), 1);
    assert_eq!(view.keys_where(2, Entry::is_waiting), vec!["g9".to_owned()]);
    view.apply_entry(2, "g9", None).unwrap();
    assert_eq!(view.num_waiting(), 0);
    assert_eq!(view.num_entries(), 0);
}

#[test]
fn folding_panes_into_coarser_tiers_keeps_the_sums() {
    let mut view = StatsView::default();
    view.apply_entry(0, "a", Some(released("a", 5, "2026-09-01T10:00:00")))
        .unwrap();
    view.apply_entry(0, "b", Some(released("b", 7, "2026-11-20T10:00:00")))
        .unwrap();
    view.observe_watermark(
        0,
        crate::stats::time::parse_minute("2026-11-20T10:00:00").unwrap(),
        0,
    );
    let before = all_time(&view);
    view.update_watermark(0, 1_000);
    assert_eq!(all_time(&view), before);
    // "a" is now in a day pane: retracting it still subtracts exactly.
    view.apply_entry(0, "a", None).unwrap();
    assert_eq!(all_time(&view).value_cny, Decimal::from(7));
}

#[derive(Debug, Clone)]
enum Step {
    Declare(usize, AppType, i64),
    Release(usize, u8),
    Summary(u8, Vec<usize>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (
            0usize..4,
            prop::sample::select(vec![AppType::New, AppType::Change, AppType::Delete]),
            1i64..1000
        )
            .prop_map(|(i, app, cny)| Step::Declare(i, app, cny)),
        (0usize..4, 0u8..3).prop_map(|(i, minute)| Step::Release(i, minute)),
        (0u8..3, proptest::collection::vec(0usize..4, 0..3))
            .prop_map(|(id, listed)| Step::Summary(id, listed)),
    ]
}

proptest! {
    /// Whatever the order, duplicates, restatements and summaries, and with
    /// every changelog record delivered twice, the panes hold exactly the
    /// statistics of the final state, recounted independently.
    #[test]
    fn panes_equal_a_recount_of_the_final_state(steps in proptest::collection::vec(step(), 0..40)) {
        let mut view = StatsView::default();
        let mut entries: Vec<Entry> = vec![Entry::default(); 4];
        let mut superseded: BTreeSet<usize> = BTreeSet::new();
        for step in &steps {
            match step {
                Step::Declare(i, app, cny) => {
                    let next = entries[*i].record_declaration(&inventory(&format!("g{i}"), *app, *cny));
                    if next != entries[*i] {
                        entries[*i] = Entry { version: entries[*i].version + 1, ..next };
                        for _ in 0..2 {
                            view.apply_entry(0, &format!("g{i}"), Some(entries[*i].clone())).unwrap();
                        }
                    }
                }
                Step::Release(i, minute) => {
                    let at = format!("2026-11-18T11:0{minute}:00.000");
                    let next = entries[*i].record_receipt(&receipt(&format!("g{i}"), 800, &at));
                    if next != entries[*i] {
                        entries[*i] = Entry { version: entries[*i].version + 1, ..next };
                        for _ in 0..2 {
                            view.apply_entry(0, &format!("g{i}"), Some(entries[*i].clone())).unwrap();
                        }
                    }
                }
                Step::Summary(id, listed) => {
                    let invt_nos: Vec<String> = listed.iter().map(|i| format!("I-g{i}")).collect();
                    if view.apply_summary(&format!("S{id}"), &invt_nos).unwrap() {
                        superseded.extend(listed.iter().copied());
                    }
                    view.apply_summary(&format!("S{id}"), &invt_nos).unwrap();
                }
            }
        }
        let mut expected = Decimal::ZERO;
        let mut declarations = 0;
        for (i, entry) in entries.iter().enumerate() {
            if let Some(counted) = &entry.counted
                && !superseded.contains(&i)
            {
                expected += counted.value_cny;
                declarations += 1;
            }
        }
        let total = all_time(&view);
        prop_assert_eq!(total.value_cny, expected);
        prop_assert_eq!(total.declarations, declarations);
    }
}

#[test]
fn a_summary_finds_an_inventory_by_the_number_its_receipt_assigned() {
    let mut view = StatsView::default();
    let mut numbered = receipt("g8", 899, "2026-11-20T10:00:00.500");
    numbered.invt_no = Some("53492026000001".to_owned());
    let mut entry = Entry::default()
        .record_declaration(&inventory("g8", AppType::New, 30))
        .record_receipt(&numbered);
    entry.version = 1;
    view.apply_entry(0, "g8", Some(entry)).unwrap();
    assert_eq!(all_time(&view).value_cny, Decimal::from(30));
    view.apply_summary("S9", &["53492026000001".to_owned()])
        .unwrap();
    assert_eq!(all_time(&view), Measures::default());
}

#[test]
fn sealing_moves_a_contribution_from_its_entry_to_a_sealed_record() {
    use crate::stats::cell::Tally;
    use crate::stats::time::{day_start, parse_minute};
    let mut view = StatsView::default();
    let entry = released("old", 40, "2026-09-01T10:00:00");
    view.apply_entry(1, "old", Some(entry.clone())).unwrap();
    view.apply_entry(1, "new", Some(released("new", 2, "2026-11-01T10:00:00")))
        .unwrap();
    let before = all_time(&view);
    let counted = entry.counted.as_ref().unwrap();
    let day = day_start(parse_minute(&counted.counted_at).unwrap());
    // The owner's transaction: the sealed record, then the tombstone.
    let mut tally = view.sealed(1, day).cloned().unwrap_or_default();
    tally.merge(Tally::of(counted));
    view.apply_sealed(1, day, tally);
    view.apply_entry(1, "old", None).unwrap();
    assert_eq!(all_time(&view), before);
    assert_eq!(view.num_entries(), 1);
    assert_eq!(view.find("I-old"), None, "its index goes with it");
    // Re-applying the same sealed record (a reader seeing it again) is harmless.
    let again = view.sealed(1, day).cloned().unwrap();
    view.apply_sealed(1, day, again);
    assert_eq!(all_time(&view), before);
}
