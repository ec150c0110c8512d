//! Every supported message format, through the public API: the fixtures under
//! `fixtures/`, GBK input, JSON, personal data never surviving parsing, and
//! `parse(render(x)) == x` for XML and JSON (property tests).

use customs_domain::parse::{ParseLimits, parse_message};
use customs_domain::render::{
    render_dec_message, render_inventories, render_json, render_receipts, render_summaries,
};
use customs_domain::sample::sample_declarations;
use customs_domain::{
    AppType, CodeTables, Direction, Event, MessageType, RejectReason, Rejection, classify,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn parse(bytes: &[u8]) -> Result<Vec<Event>, Rejection> {
    parse_message(bytes, &CodeTables::embedded(), ParseLimits::default())
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn declarations(events: Vec<Event>) -> Vec<customs_domain::Declaration> {
    events
        .into_iter()
        .map(|event| match event {
            Event::Declaration(declaration) => declaration,
            other => panic!("expected declarations, got {other:?}"),
        })
        .collect()
}

#[test]
fn import_inventory_message_with_two_inventories() {
    let inventories = declarations(
        parse(&fixture("ceb621_import_inventory.xml")).unwrap_or_else(|r| panic!("{r}")),
    );
    assert_eq!(inventories.len(), 2);
    let first = &inventories[0];
    assert_eq!(first.message_type, MessageType::Ceb621);
    assert_eq!(
        first.id, "7F3E2A10-5B6C-4D8E-9F01-23456789ABCD",
        "guid before customs assigns invtNo"
    );
    assert_eq!(first.cop_no.as_deref(), Some("HZ20261118000001"));
    assert_eq!(first.direction, Direction::Import);
    assert_eq!(first.supervision_mode, "1210");
    assert_eq!(first.trade_country, "JPN");
    assert_eq!(first.transport_mode.as_deref(), Some("W"));
    assert_eq!(first.declared_at.as_deref(), Some("2026-11-18T09:30:15"));
    assert_eq!(first.items[0].declared_total.currency, "CNY");
    assert_eq!(
        first.items[1].declared_total.currency, "CNY",
        "item currency falls back to the head's"
    );
    assert_eq!(first.items[1].origin_country.as_deref(), Some("JPN"));
    let second = &inventories[1];
    assert_eq!(second.id, "299120261000000077", "invtNo once assigned");
    assert_eq!(second.app_type, AppType::Change);
    let tables = CodeTables::embedded();
    let classified = classify(second, &tables).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(classified.subcategory.as_deref(), Some("retail_direct"));
}

#[test]
fn personal_data_never_survives_parsing() {
    let events = parse(&fixture("ceb621_import_inventory.xml")).unwrap_or_else(|r| panic!("{r}"));
    let everything = format!(
        "{events:?}{}",
        events.iter().map(render_json).collect::<String>()
    );
    for personal in [
        "330106199001011234",
        "张三",
        "李四",
        "13800000000",
        "西湖区",
    ] {
        assert!(!everything.contains(personal), "{personal} leaked");
    }
    let receipts = parse(&fixture("ceb622_receipts.xml")).unwrap_or_else(|r| panic!("{r}"));
    assert!(
        !format!("{receipts:?}").contains("张三"),
        "free-text returnInfo is not kept"
    );
}

#[test]
fn simplified_export_inventory_allows_four_digit_headings() {
    let inventories = declarations(
        parse(&fixture("ceb603_export_inventory.xml")).unwrap_or_else(|r| panic!("{r}")),
    );
    let inventory = &inventories[0];
    assert_eq!(inventory.message_type, MessageType::Ceb603);
    assert_eq!(inventory.statistics_flag.as_deref(), Some("A"));
    assert_eq!(inventory.items[0].commodity_code, "8517");
    assert_eq!(
        inventory.items[0].destination_country.as_deref(),
        Some("GBR")
    );
    assert_eq!(inventory.items[0].declared_total.currency, "USD");
    let unflagged = String::from_utf8_lossy(&fixture("ceb603_export_inventory.xml"))
        .replace("<statisticsFlag>A</statisticsFlag>", "");
    let reason = parse(unflagged.as_bytes()).err().map(|r| r.reason);
    assert_eq!(reason, Some(RejectReason::InvalidCommodityCode));
}

#[test]
fn receipts_keep_every_return_and_its_millisecond_time() {
    let events = parse(&fixture("ceb622_receipts.xml")).unwrap_or_else(|r| panic!("{r}"));
    let receipts: Vec<_> = events
        .into_iter()
        .map(|event| match event {
            Event::Receipt(receipt) => receipt,
            other => panic!("expected receipts, got {other:?}"),
        })
        .collect();
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[0].status, 2);
    assert_eq!(receipts[0].invt_no, None, "older receipts have no invtNo");
    assert_eq!(receipts[1].status, 800);
    assert_eq!(receipts[1].invt_no.as_deref(), Some("299120261000000066"));
    assert_eq!(receipts[1].returned_at, "2026-11-18T11:00:00.000");
    let export = parse(&fixture("ceb604_receipt.xml")).unwrap_or_else(|r| panic!("{r}"));
    assert!(
        matches!(&export[1], Event::Receipt(r) if r.status == 899 && r.message_type == MessageType::Ceb604)
    );
}

#[test]
fn summary_result_lists_its_distinct_inventories() {
    let events = parse(&fixture("ceb792_summary_result.xml")).unwrap_or_else(|r| panic!("{r}"));
    let [Event::SummaryResult(summary)] = events.as_slice() else {
        panic!("expected one summary result, got {events:?}");
    };
    assert_eq!(summary.entry_id.as_deref(), Some("534920261000009999"));
    assert_eq!(summary.id(), "534920261000009999");
    assert_eq!(
        summary.invt_nos,
        vec!["534920261000001234", "534920261000001235"]
    );
}

#[test]
fn gbk_encoded_declaration_reads_like_its_utf8_twin() {
    let gbk = parse(&fixture("dec_export_gbk.xml")).unwrap_or_else(|r| panic!("{r}"));
    let utf8 = parse(&fixture("dec_export_general_trade.xml")).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(gbk, utf8);
}

#[test]
fn json_example_in_the_docs_parses() {
    let path = format!(
        "{}/../../docs/json-format.example.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    let mut kinds = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let events = parse(line.as_bytes()).unwrap_or_else(|r| panic!("{r}: {line}"));
        kinds.extend(events.iter().map(Event::message_type));
    }
    assert_eq!(
        kinds,
        vec![
            MessageType::DecMessage,
            MessageType::Ceb622,
            MessageType::Ceb792
        ]
    );
}

#[test]
fn json_defects_have_reasons() {
    let reason = |json: &str| parse(json.as_bytes()).err().map(|r| r.reason);
    assert_eq!(
        reason("{\"kind\":\"declaration\""),
        Some(RejectReason::MalformedJson)
    );
    assert_eq!(
        reason("{\"kind\":\"telegram\"}"),
        Some(RejectReason::MalformedJson)
    );
    let valid = render_json(&Event::Declaration(sample_declarations(1).remove(0)));
    let with_buyer = valid.replacen('{', "{\"buyer_name\":\"王五\",", 1);
    let rejected = parse(with_buyer.as_bytes()).err();
    assert_eq!(
        rejected.as_ref().map(|r| r.reason),
        Some(RejectReason::MalformedJson)
    );
    assert!(
        !rejected
            .map(|r| r.detail)
            .unwrap_or_default()
            .contains("王五"),
        "values stay out of the detail"
    );
    let negative = valid.replacen("\"amount\":\"", "\"amount\":\"-", 1);
    assert_eq!(reason(&negative), Some(RejectReason::NegativeValue));
    let numeric_codes = valid.replacen("\"trade_country\":\"USA\"", "\"trade_country\":\"502\"", 1);
    assert!(
        parse(numeric_codes.as_bytes()).is_ok(),
        "numeric codes are accepted in JSON too"
    );
}

#[test]
fn every_xml_type_round_trips_through_render() {
    for name in [
        "ceb621_import_inventory.xml",
        "ceb603_export_inventory.xml",
        "ceb622_receipts.xml",
        "ceb604_receipt.xml",
        "ceb792_summary_result.xml",
        "dec_export_general_trade.xml",
    ] {
        let events = parse(&fixture(name)).unwrap_or_else(|r| panic!("{name}: {r}"));
        let rendered = render_events(&events);
        assert_eq!(parse(rendered.as_bytes()), Ok(events), "{name}");
    }
}

/// Renders events of one message type as one message of that type.
fn render_events(events: &[Event]) -> String {
    let guid = "F0000000-0000-4000-8000-000000000000";
    match events.first() {
        Some(Event::Declaration(first)) if first.message_type == MessageType::DecMessage => {
            render_dec_message(first)
        }
        Some(Event::Declaration(_)) => render_inventories(&declarations(events.to_vec()), guid),
        Some(Event::Receipt(first)) => {
            let receipts: Vec<_> = events
                .iter()
                .filter_map(|e| {
                    if let Event::Receipt(r) = e {
                        Some(r.clone())
                    } else {
                        None
                    }
                })
                .collect();
            render_receipts(first.message_type, &receipts, guid)
        }
        Some(Event::SummaryResult(_)) => {
            let summaries: Vec<_> = events
                .iter()
                .filter_map(|e| {
                    if let Event::SummaryResult(s) = e {
                        Some(s.clone())
                    } else {
                        None
                    }
                })
                .collect();
            render_summaries(&summaries, guid)
        }
        None => String::new(),
    }
}

prop_compose! {
    fn arb_declaration()(
        index in 0usize..10_000,
        cents in proptest::collection::vec(0i64..10_000_000_000, 1..6),
        mode in prop::sample::select(vec!["0110", "9610", "1039", "0214", "1233", "4019", "4561"]),
        import in any::<bool>(),
        with_weights in any::<bool>(),
    ) -> customs_domain::Declaration {
        let mut declaration = sample_declarations(index + 1).remove(index);
        declaration.supervision_mode = mode.to_owned();
        declaration.direction = if import { Direction::Import } else { Direction::Export };
        let template = declaration.items[0].clone();
        declaration.items = cents.iter().enumerate().map(|(i, c)| customs_domain::Item {
            item_no: i as u32 + 1,
            quantity: None,
            unit_price: None,
            declared_total: customs_domain::Money { amount: Decimal::new(*c, 2), ..template.declared_total.clone() },
            ..template.clone()
        }).collect();
        if !with_weights {
            declaration.gross_weight_kg = None;
            declaration.net_weight_kg = None;
        }
        declaration
    }
}

proptest! {
    #[test]
    fn dec_message_xml_round_trips(declaration in arb_declaration()) {
        let event = Event::Declaration(declaration.clone());
        let parsed = parse(render_dec_message(&declaration).as_bytes());
        prop_assert_eq!(parsed, Ok(vec![event]));
    }

    #[test]
    fn json_round_trips(declaration in arb_declaration()) {
        let event = Event::Declaration(declaration);
        let parsed = parse(render_json(&event).as_bytes());
        prop_assert_eq!(parsed, Ok(vec![event]));
    }
}

#[test]
fn every_reject_reason_is_documented_with_an_example() {
    let path = format!(
        "{}/../../docs/reject-reasons.md",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    for reason in RejectReason::ALL {
        let row = doc
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", reason.as_str())))
            .unwrap_or_else(|| panic!("{reason} has no row in docs/reject-reasons.md"));
        let cells: Vec<&str> = row
            .split('|')
            .filter(|cell| !cell.trim().is_empty())
            .collect();
        assert!(cells.len() >= 4, "{reason}: {row}");
        // The documented stages are the services that export the reason.
        let documented: Vec<&str> = ["ingest", "normalize", "aggregate"]
            .into_iter()
            .filter(|service| cells[1].contains(service))
            .collect();
        assert_eq!(documented, reason.services(), "{reason}: {row}");
    }
}
