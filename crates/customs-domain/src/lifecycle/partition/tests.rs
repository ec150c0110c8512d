//! The owner's partition state: counting, restatement, summaries in either
//! order, lateness (summaries included), sealing, and transactions that
//! roll back exactly.

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::lifecycle::tests::{inventory, receipt};
use crate::model::AppType;
use crate::stats::time::DAY;

fn at(text: &str) -> Minute {
    parse_minute(text).unwrap_or_default()
}

/// The partition's inventory `g<n>` (number `I-g<n>`), released at `released`.
fn released(state: &mut PartitionState, n: u32, cny: i64, released: &str) -> Outcome {
    let guid = format!("g{n}");
    let mut declared = inventory(&guid, AppType::New, cny);
    declared.declaration.declared_at = Some(released.to_owned());
    state.record_declaration(&guid, &declared, at(released), None);
    let mut receipt = receipt(&guid, 800, released);
    receipt.invt_no = None;
    state.record_receipt(&receipt, at(released), None)
}

fn added_cny(outcome: &Outcome) -> Decimal {
    match outcome {
        Outcome::Changed { retract, add } => {
            add.iter().map(|c| c.value_cny).sum::<Decimal>()
                - retract.iter().map(|c| c.value_cny).sum::<Decimal>()
        }
        _ => Decimal::ZERO,
    }
}

#[test]
fn an_inventory_counts_at_release_once_and_the_change_is_journaled_once() {
    let mut state = PartitionState::default();
    let outcome = released(&mut state, 1, 100, "2026-11-18T11:00:00");
    assert_eq!(added_cny(&outcome), Decimal::from(100));
    assert_eq!(
        state.record_receipt(
            &receipt("g1", 800, "2026-11-18T11:00:00"),
            at("2026-11-18T11:00:00"),
            None
        ),
        Outcome::Unchanged,
        "a re-sent receipt"
    );
    assert_eq!(
        state.dirty().count(),
        1,
        "one changelog record for the identity"
    );
    state.commit();
    assert_eq!(state.dirty().count(), 0);
}

#[test]
fn a_rollback_restores_the_state_of_the_last_commit() {
    let mut state = PartitionState::default();
    released(&mut state, 1, 100, "2026-11-18T11:00:00");
    state.commit();
    let before = state.find_committed("g1");
    state.record_declaration(
        "g1",
        &inventory("g1", AppType::Change, 130),
        at("2026-11-19T00:00:00"),
        None,
    );
    state.record_summary("S1", &["I-g1".to_owned()], at("2026-11-19T00:00:00"), None);
    assert_eq!(
        state.find_committed("g1"),
        before,
        "queries see committed state"
    );
    state.rollback();
    assert_eq!(state.find_committed("g1"), before);
    assert_eq!(state.num_summaries(), 0);
    assert_eq!(state.superseded_by("I-g1"), None);
    assert_eq!(
        state.find_committed("I-g1").map(|(key, _)| key),
        Some("g1".to_owned())
    );
}

#[test]
fn a_summary_supersedes_its_inventories_in_either_order() {
    let mut state = PartitionState::default();
    released(&mut state, 4, 100, "2026-11-18T11:00:00");
    let summary = state.record_summary(
        "S1",
        &["I-g4".to_owned(), "I-g5".to_owned()],
        at("2026-11-20T00:00:00"),
        None,
    );
    assert_eq!(added_cny(&summary), Decimal::from(-100));
    // g5's inventory comes after the summary: it never counts.
    assert_eq!(
        added_cny(&released(&mut state, 5, 70, "2026-11-18T12:00:00")),
        Decimal::ZERO
    );
    assert_eq!(
        state.record_summary("S1", &[], at("2026-11-20T00:00:00"), None),
        Outcome::Unchanged,
        "a re-sent summary"
    );
}

#[test]
fn a_summary_that_would_retract_a_final_figure_is_late() {
    // Failing first against the owner before this state machine: its
    // summary arm returned before any lateness rule.
    let mut state = PartitionState::default();
    released(&mut state, 1, 100, "2026-09-01T11:00:00");
    state.commit();
    let horizon = Some(at("2026-11-20T00:00:00") - 45 * DAY);
    // Dated within the horizon, but g1 counted in September: final.
    // A summary dated within the horizon that names g1.
    let retracting_g1 = |state: &mut PartitionState, id: &str| {
        state.record_summary(id, &["I-g1".to_owned()], at("2026-11-19T00:00:00"), horizon)
    };
    let outcome = retracting_g1(&mut state, "S1");
    assert!(matches!(outcome, Outcome::Late(_)), "{outcome:?}");
    assert_eq!(state.num_summaries(), 0, "a late summary changes nothing");
    // Dated before the horizon itself.
    let outcome = state.record_summary("S2", &[], at("2026-09-02T00:00:00"), horizon);
    assert!(matches!(outcome, Outcome::Late(_)));
    // After sealing, the inventory is only a marker: still late.
    let swept = state.housekeeping(at("2026-11-20T00:00:00"), 100);
    assert_eq!(swept.sealed, 1);
    let outcome = retracting_g1(&mut state, "S3");
    assert!(matches!(outcome, Outcome::Late(_)), "{outcome:?}");
    // And so is any later event for the sealed identity.
    let change = state.record_declaration(
        "g1",
        &inventory("g1", AppType::Delete, 100),
        at("2026-11-19T00:00:00"),
        horizon,
    );
    assert!(matches!(change, Outcome::Late(_)));
}

#[test]
fn markers_and_summaries_are_forgotten_a_further_lateness_later() {
    let mut state = PartitionState::default();
    released(&mut state, 1, 100, "2026-06-01T11:00:00");
    state.record_summary("S1", &["I-g9".to_owned()], at("2026-06-02T00:00:00"), None);
    state.commit();
    let swept = state.housekeeping(at("2026-07-20T00:00:00"), 100);
    assert_eq!((swept.sealed, swept.forgotten), (1, 0));
    state.commit();
    let swept = state.housekeeping(at("2026-09-30T00:00:00"), 100);
    assert_eq!(swept.forgotten, 2);
    assert_eq!((state.num_entries(), state.num_summaries()), (0, 0));
    assert_eq!(state.superseded_by("I-g9"), None);
}

#[test]
fn a_receipt_without_its_declaration_expires_after_the_ttl() {
    let mut state = PartitionState::default();
    state.record_receipt(
        &receipt("g7", 800, "2026-11-01T00:00:00"),
        at("2026-11-01T00:00:00"),
        None,
    );
    assert_eq!(state.num_waiting(), 1);
    // Housekeeping examines committed identities only.
    let swept = state.housekeeping(at("2026-11-09T00:00:00"), 100);
    assert_eq!(swept.expired, 0);
    state.commit();
    let swept = state.housekeeping(at("2026-11-09T00:00:00"), 100);
    assert_eq!(swept.expired, 1);
    assert_eq!((state.num_entries(), state.num_waiting()), (0, 0));
    state.commit();
    assert_eq!(
        state.get("g7"),
        None,
        "the expiry is committed to the store"
    );
}

#[test]
fn housekeeping_goes_round_the_partition_in_bounded_rounds() {
    let mut state = PartitionState::default();
    for n in 0..50 {
        released(&mut state, n, 1, "2026-06-01T11:00:00");
    }
    state.commit();
    let watermark = at("2026-07-20T00:00:00");
    // At most 4 changes a round: every entry is sealed, 4 at a time.
    let mut rounds = 0;
    let mut sealed = 0;
    while sealed < 50 {
        let swept = state.housekeeping(watermark, 4);
        assert!(swept.sealed <= 4, "{swept:?}");
        sealed += swept.sealed;
        state.commit();
        rounds += 1;
        assert!(rounds <= 13, "sealed {sealed} of 50 after {rounds} rounds");
    }
    assert_eq!(sealed, 50);
    assert!((0..50).all(|n| matches!(state.get(&format!("g{n}")), Some(Stored::Sealed(_)))));
    // A further pass finds nothing more to seal.
    for _ in 0..3 {
        assert_eq!(state.housekeeping(watermark, 4).sealed, 0);
    }
}

#[test]
fn counts_follow_commits_and_rollbacks() {
    let mut state = PartitionState::default();
    released(&mut state, 1, 100, "2026-11-18T11:00:00");
    state.commit();
    state.record_receipt(
        &receipt("g2", 800, "2026-11-18T11:00:00"),
        at("2026-11-18T11:00:00"),
        None,
    );
    state.record_summary("S1", &["I-g1".to_owned()], at("2026-11-18T12:00:00"), None);
    assert_eq!(
        (
            state.num_entries(),
            state.num_waiting(),
            state.num_summaries()
        ),
        (2, 1, 1)
    );
    state.rollback();
    assert_eq!(
        (
            state.num_entries(),
            state.num_waiting(),
            state.num_summaries()
        ),
        (1, 0, 0)
    );
    assert_eq!(state.superseded_by("I-g1"), None);
}

#[derive(Debug, Clone)]
enum Step {
    Declare(u32, AppType, i64),
    Release(u32, u32),
    Summary(u32, Vec<u32>),
    Commit,
    Rollback,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (
            0..5u32,
            prop_oneof![
                Just(AppType::New),
                Just(AppType::Change),
                Just(AppType::Delete)
            ],
            1..500i64
        )
            .prop_map(|(n, app, cny)| Step::Declare(n, app, cny)),
        (0..5u32, 0..48u32).prop_map(|(n, hour)| Step::Release(n, hour)),
        (0..3u32, proptest::collection::vec(0..5u32, 0..3))
            .prop_map(|(id, ns)| Step::Summary(id, ns)),
        Just(Step::Commit),
        Just(Step::Rollback),
    ]
}

proptest! {
    /// What the outcomes add up to (the statistics records' sum) equals the
    /// effective contributions of the committed state, whatever the order,
    /// duplicates, summaries and aborted transactions.
    #[test]
    fn committed_outcomes_add_up_to_the_effective_state(steps in proptest::collection::vec(step(), 0..40)) {
        let mut state = PartitionState::default();
        let mut committed = Decimal::ZERO;
        let mut open = Decimal::ZERO;
        let base = at("2026-11-18T00:00:00");
        for step in steps {
            let outcome = match step {
                Step::Declare(n, app, cny) => {
                    let guid = format!("g{n}");
                    state.record_declaration(&guid, &inventory(&guid, app, cny), base, None)
                }
                Step::Release(n, hour) => {
                    let time = format_minute(base + i64::from(hour) * 60);
                    state.record_receipt(&receipt(&format!("g{n}"), 800, &time), base, None)
                }
                Step::Summary(id, ns) => {
                    let invt_nos: Vec<String> = ns.iter().map(|n| format!("I-g{n}")).collect();
                    state.record_summary(&format!("S{id}"), &invt_nos, base, None)
                }
                Step::Commit => {
                    state.commit();
                    committed += open;
                    open = Decimal::ZERO;
                    continue;
                }
                Step::Rollback => {
                    state.rollback();
                    open = Decimal::ZERO;
                    continue;
                }
            };
            open += added_cny(&outcome);
        }
        state.commit();
        committed += open;
        let effective: Decimal = (0..5)
            .filter_map(|n| match state.get(&format!("g{n}")) {
                Some(Stored::Live(entry)) => state.effective(&entry).map(|c| c.value_cny),
                _ => None,
            })
            .sum();
        prop_assert_eq!(committed, effective);
    }
}
