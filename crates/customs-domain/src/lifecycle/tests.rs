use rust_decimal::Decimal;

use super::*;
use crate::classify::{Classification, TradeCategory};
use crate::sample::sample_declarations;
use crate::valuation::Valuation;

pub(crate) fn inventory(guid: &str, app_type: AppType, cny: i64) -> ClassifiedDeclaration {
    let mut declaration = sample_declarations(1).remove(0);
    declaration.id = format!("I-{guid}");
    declaration.guid = Some(guid.to_owned());
    declaration.message_type = MessageType::Ceb621;
    declaration.app_type = app_type;
    declaration.items.truncate(1);
    let item_no = declaration.items[0].item_no;
    ClassifiedDeclaration {
        declaration,
        classification: Classification {
            category: TradeCategory::CrossBorderEcommerce,
            subcategory: Some("retail_direct".to_owned()),
            statistics_group: "10".to_owned(),
            explanation: "9610 retail direct".to_owned(),
            flag: None,
            in_trade_statistics: true,
        },
        valuation: Valuation {
            month: "2026-11".to_owned(),
            items: vec![crate::valuation::ItemValue {
                item_no,
                cny: Decimal::from(cny),
                usd: Decimal::from(cny / 7),
            }],
            total_cny: Decimal::from(cny),
            total_usd: Decimal::from(cny / 7),
            flag: None,
        },
    }
}

pub(crate) fn receipt(guid: &str, status: i32, at: &str) -> Receipt {
    Receipt {
        message_type: MessageType::Ceb622,
        guid: guid.to_owned(),
        cop_no: None,
        pre_no: None,
        invt_no: None,
        status,
        returned_at: at.to_owned(),
    }
}

fn cny(entry: &Entry) -> Option<Decimal> {
    entry.counted.as_ref().map(|counted| counted.value_cny)
}

#[test]
fn an_inventory_counts_when_released_dated_by_the_receipt() {
    let declared = Entry::default().record_declaration(&inventory("g1", AppType::New, 100));
    assert_eq!(declared.counted, None, "not before release");
    assert_eq!(declared.status(), "awaiting_release");
    let stored = declared.record_receipt(&receipt("g1", 2, "2026-11-18T09:00:00.000"));
    assert_eq!(stored.counted, None);
    let released = stored.record_receipt(&receipt("g1", 800, "2026-11-18T11:00:00.000"));
    let counted = released.counted.as_ref().expect("released");
    assert_eq!(counted.counted_at, "2026-11-18T11:00:00.000");
    assert_eq!(counted.value_cny, Decimal::from(100));
    assert_eq!(counted.invt_no.as_deref(), Some("I-g1"));
    let resent = released.record_receipt(&receipt("g1", 800, "2026-11-18T11:00:00.000"));
    assert_eq!(resent, released, "a re-sent receipt changes nothing");
}

#[test]
fn a_receipt_before_its_inventory_waits() {
    let waiting = Entry::default().record_receipt(&receipt("g2", 800, "2026-11-18T11:00:00.000"));
    assert!(waiting.is_waiting());
    assert_eq!(waiting.status(), "waiting_for_declaration");
    let counted = waiting.record_declaration(&inventory("g2", AppType::New, 50));
    assert_eq!(cny(&counted), Some(Decimal::from(50)));
    assert_eq!(
        counted.counted.unwrap().counted_at,
        "2026-11-18T11:00:00.000"
    );
}

#[test]
fn withdrawal_and_change_after_release_restate_exactly() {
    let released = Entry::default()
        .record_declaration(&inventory("g3", AppType::New, 100))
        .record_receipt(&receipt("g3", 800, "2026-11-18T11:00:00.000"));
    let changed = released.record_declaration(&inventory("g3", AppType::Change, 130));
    assert_eq!(cny(&changed), Some(Decimal::from(130)));
    let withdrawn = changed.record_declaration(&inventory("g3", AppType::Delete, 130));
    assert_eq!(withdrawn.counted, None);
    assert_eq!(withdrawn.status(), "withdrawn");
    let again = withdrawn.record_declaration(&inventory("g3", AppType::Delete, 130));
    assert_eq!(again, withdrawn, "a re-sent withdrawal changes nothing");
}

#[test]
fn a_dec_message_counts_on_arrival_dated_by_its_declaration() {
    let mut dec = inventory("x", AppType::New, 70);
    dec.declaration = sample_declarations(1).remove(0);
    let entry = Entry::default().record_declaration(&dec);
    assert_eq!(
        entry.counted.as_ref().map(|c| &c.counted_at),
        dec.declaration.declared_at.as_ref()
    );
    assert_eq!(entry.record_declaration(&dec), entry, "re-sent declaration");
}

#[test]
fn a_mode_outside_trade_statistics_never_counts() {
    let mut outside = inventory("g6", AppType::New, 10);
    outside.classification.in_trade_statistics = false;
    let entry = Entry::default()
        .record_declaration(&outside)
        .record_receipt(&receipt("g6", 800, "2026-11-18T11:00:00.000"));
    assert_eq!(entry.counted, None);
    assert_eq!(entry.status(), "outside_trade_statistics");
}

#[test]
fn slices_add_up_to_the_declaration() {
    let mut classified = inventory("g7", AppType::New, 0);
    classified.declaration = sample_declarations(3).remove(2);
    classified.valuation = crate::valuation::value(
        &classified.declaration,
        &crate::codes::CodeTables::embedded(),
    )
    .expect("sample is valued");
    let contribution = Contribution::of(&classified, String::new());
    let items: u64 = contribution.slices.iter().map(|s| s.num_items).sum();
    let value: Decimal = contribution.slices.iter().map(|s| s.value_cny).sum();
    assert_eq!(items, contribution.num_items);
    assert_eq!(value, contribution.value_cny);
}
