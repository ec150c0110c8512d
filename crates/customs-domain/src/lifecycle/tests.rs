use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::classify::Classification;
use crate::sample::sample_declarations;
use crate::valuation::Valuation;

fn inventory(guid: &str, app_type: AppType, cny: i64) -> ClassifiedDeclaration {
    let mut declaration = sample_declarations(1).remove(0);
    declaration.id = guid.to_owned();
    declaration.guid = Some(guid.to_owned());
    declaration.message_type = MessageType::Ceb621;
    declaration.app_type = app_type;
    ClassifiedDeclaration {
        declaration,
        classification: Classification {
            category: TradeCategory::CrossBorderEcommerce,
            subcategory: Some("retail_direct".to_owned()),
            statistics_group: "10".to_owned(),
            explanation: String::new(),
            flag: None,
            in_trade_statistics: true,
        },
        valuation: Valuation {
            month: "2026-11".to_owned(),
            items: Vec::new(),
            total_cny: Decimal::from(cny),
            total_usd: Decimal::from(cny / 7),
        },
    }
}

fn receipt(guid: &str, status: i32, at: &str, invt_no: Option<&str>) -> Receipt {
    Receipt {
        message_type: MessageType::Ceb622,
        guid: guid.to_owned(),
        cop_no: None,
        pre_no: None,
        invt_no: invt_no.map(str::to_owned),
        status,
        returned_at: at.to_owned(),
    }
}

fn net_cny(deltas: &[Delta]) -> Decimal {
    deltas
        .iter()
        .map(|delta| match delta {
            Delta::Add(c) => c.value_cny,
            Delta::Retract(c) => -c.value_cny,
        })
        .sum()
}

#[test]
fn an_inventory_counts_when_released_dated_by_the_receipt() {
    let mut lifecycle = Lifecycle::new();
    assert!(
        lifecycle
            .record_declaration(inventory("g1", AppType::New, 100))
            .is_empty(),
        "not before release"
    );
    assert!(
        lifecycle
            .record_receipt(&receipt("g1", 2, "2026-11-18T09:00:00.000", None))
            .is_empty()
    );
    let deltas =
        lifecycle.record_receipt(&receipt("g1", 800, "2026-11-18T11:00:00.000", Some("I1")));
    let [Delta::Add(added)] = deltas.as_slice() else {
        panic!("{deltas:?}")
    };
    assert_eq!(added.counted_at, "2026-11-18T11:00:00.000");
    assert_eq!(added.value_cny, Decimal::from(100));
    assert!(
        lifecycle
            .record_receipt(&receipt("g1", 800, "2026-11-18T11:00:00.000", Some("I1")))
            .is_empty(),
        "re-sent"
    );
}

#[test]
fn a_receipt_before_its_inventory_waits() {
    let mut lifecycle = Lifecycle::new();
    assert!(
        lifecycle
            .record_receipt(&receipt("g2", 800, "2026-11-18T11:00:00.000", None))
            .is_empty()
    );
    assert_eq!(lifecycle.num_waiting(), 1);
    let deltas = lifecycle.record_declaration(inventory("g2", AppType::New, 50));
    assert_eq!(net_cny(&deltas), Decimal::from(50));
    assert_eq!(lifecycle.num_waiting(), 0);
}

#[test]
fn withdrawal_and_change_after_release_restate_exactly() {
    let mut lifecycle = Lifecycle::new();
    lifecycle.record_declaration(inventory("g3", AppType::New, 100));
    lifecycle.record_receipt(&receipt("g3", 800, "2026-11-18T11:00:00.000", None));
    let changed = lifecycle.record_declaration(inventory("g3", AppType::Change, 130));
    assert!(
        matches!(changed.as_slice(), [Delta::Retract(old), Delta::Add(new)] if old.value_cny == Decimal::from(100) && new.value_cny == Decimal::from(130))
    );
    let withdrawn = lifecycle.record_declaration(inventory("g3", AppType::Delete, 130));
    assert!(
        matches!(withdrawn.as_slice(), [Delta::Retract(old)] if old.value_cny == Decimal::from(130))
    );
    assert!(
        lifecycle
            .record_declaration(inventory("g3", AppType::Delete, 130))
            .is_empty(),
        "re-sent withdrawal"
    );
}

#[test]
fn a_summary_supersedes_its_inventories_in_either_order() {
    let mut lifecycle = Lifecycle::new();
    lifecycle.record_declaration(inventory("g4", AppType::New, 10));
    lifecycle.record_receipt(&receipt("g4", 899, "2026-11-20T10:00:00.000", Some("I4")));
    let summary = SummaryResult {
        guid: "s".to_owned(),
        entry_id: Some("E".to_owned()),
        summary_no: None,
        decl_seq_no: None,
        customs_office: "5349".to_owned(),
        invt_nos: vec!["I4".to_owned(), "I5".to_owned()],
        operated_at: None,
    };
    assert_eq!(
        net_cny(&lifecycle.record_summary(&summary)),
        Decimal::from(-10)
    );
    // I5's inventory comes after the summary: it never counts.
    lifecycle.record_declaration(inventory("g5", AppType::New, 20));
    assert!(
        lifecycle
            .record_receipt(&receipt("g5", 899, "2026-11-20T10:00:00.000", Some("I5")))
            .is_empty()
    );
}

#[test]
fn a_dec_message_counts_on_arrival_dated_by_its_declaration() {
    let mut lifecycle = Lifecycle::new();
    let mut dec = inventory("x", AppType::New, 70);
    dec.declaration = sample_declarations(1).remove(0);
    let deltas = lifecycle.record_declaration(dec.clone());
    let [Delta::Add(added)] = deltas.as_slice() else {
        panic!("{deltas:?}")
    };
    assert_eq!(
        Some(&added.counted_at),
        dec.declaration.declared_at.as_ref()
    );
    assert!(
        lifecycle.record_declaration(dec).is_empty(),
        "re-sent declaration"
    );
}

#[test]
fn waiting_entries_expire_after_the_ttl() {
    let mut lifecycle = Lifecycle::new();
    lifecycle.record_receipt(&receipt("orphan", 800, "2026-11-18T11:00:00.000", None));
    for index in 0..10 {
        lifecycle.record_declaration(inventory(&format!("g{index}"), AppType::New, 1));
    }
    assert_eq!(lifecycle.expire(100), 0);
    assert_eq!(lifecycle.expire(5), 1);
    assert_eq!(lifecycle.num_waiting(), 0);
}

#[derive(Debug, Clone)]
enum Step {
    Declare(usize, AppType, i64),
    Release(usize, u8),
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
    ]
}

proptest! {
    /// Whatever the order, duplicates and restatements, the deltas add up to
    /// the statistics of the final state, computed independently.
    #[test]
    fn deltas_sum_to_the_final_state(steps in proptest::collection::vec(step(), 0..40)) {
        let mut lifecycle = Lifecycle::new();
        let mut total = Decimal::ZERO;
        for step in &steps {
            let deltas = match step {
                Step::Declare(i, app, cny) => lifecycle.record_declaration(inventory(&format!("g{i}"), *app, *cny)),
                Step::Release(i, minute) => lifecycle.record_receipt(&receipt(&format!("g{i}"), 800, &format!("2026-11-18T11:0{minute}:00.000"), None)),
            };
            total += net_cny(&deltas);
        }
        let mut expected = Decimal::ZERO;
        for i in 0..4 {
            let mut value = None;
            let mut withdrawn = false;
            let mut released = false;
            for step in &steps {
                match step {
                    Step::Declare(j, AppType::Delete, _) if *j == i => withdrawn = true,
                    Step::Declare(j, _, cny) if *j == i => value = Some(Decimal::from(*cny)),
                    Step::Release(j, _) if *j == i => released = true,
                    _ => {}
                }
            }
            if released && !withdrawn && let Some(value) = value {
                expected += value;
            }
        }
        prop_assert_eq!(total, expected);
    }
}
