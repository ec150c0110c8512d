use std::collections::BTreeMap;

use super::*;
use crate::model::Event;
use crate::parse::{ParseLimits, parse_message};

fn generate(config: GeneratorConfig, batches: usize) -> (Vec<GeneratedMessage>, GeneratorSummary) {
    let tables = CodeTables::embedded();
    let mut generator = Generator::new(config, &tables);
    let messages: Vec<_> = (0..batches).flat_map(|_| generator.next_batch()).collect();
    (messages, generator.summary())
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (first, _) = generate(GeneratorConfig::default(), 300);
    let (second, _) = generate(GeneratorConfig::default(), 300);
    let (other, _) = generate(
        GeneratorConfig {
            seed: 7,
            ..GeneratorConfig::default()
        },
        300,
    );
    let bytes = |messages: &[GeneratedMessage]| {
        messages
            .iter()
            .map(|m| m.payload.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(bytes(&first), bytes(&second));
    assert_ne!(bytes(&first), bytes(&other));
}

#[test]
fn every_message_is_what_it_claims_and_the_summary_matches_a_recount() {
    let config = GeneratorConfig {
        malformed_rate: 0.05,
        duplicate_rate: 0.05,
        withdrawal_rate: 0.03,
        late_rate: 0.05,
        too_late_rate: 0.01,
        summary_rate: 0.3,
        ..GeneratorConfig::default()
    };
    let (messages, summary) = generate(config, 2_000);
    let tables = CodeTables::embedded();
    // Independent recount: parse every message, keep the first occurrence of
    // each declaration id, classify and value it, then retract withdrawals.
    let mut first_seen: BTreeMap<String, (String, SummaryRow)> = BTreeMap::new();
    let mut withdrawn = Vec::new();
    let mut guid_by_invt_no: BTreeMap<String, String> = BTreeMap::new();
    let mut superseded_invt_nos: Vec<String> = Vec::new();
    let mut too_late = 0;
    for message in &messages {
        let parsed = parse_message(&message.payload, &tables, ParseLimits::default());
        if message.kind == MessageKind::TooLate {
            // Valid, but dated 13 months back: never counted.
            let Ok([Event::Declaration(d)]) = parsed.as_deref() else {
                panic!("too-late message is not one declaration")
            };
            assert!(
                d.declared_at
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("2025-10")
            );
            too_late += 1;
            continue;
        }
        let events = match (message.kind, parsed) {
            (MessageKind::Malformed, Err(_)) => continue,
            (MessageKind::Malformed, Ok(events)) => {
                // Some corruptions only fail at classification (unknown mode).
                let Some(Event::Declaration(d)) = events.first() else {
                    panic!("malformed parsed as {events:?}")
                };
                assert!(
                    crate::classify::classify(d, &tables).is_err(),
                    "malformed message accepted"
                );
                continue;
            }
            (_, Err(rejection)) => panic!("{:?} rejected: {rejection}", message.kind),
            (_, Ok(events)) => events,
        };
        for event in events {
            let declaration = match event {
                Event::Declaration(declaration) => declaration,
                Event::Receipt(receipt) => {
                    if let Some(invt_no) = receipt.invt_no {
                        guid_by_invt_no.insert(invt_no, receipt.guid);
                    }
                    continue;
                }
                Event::SummaryResult(summary) => {
                    superseded_invt_nos.extend(summary.invt_nos);
                    continue;
                }
            };
            if declaration.app_type == AppType::Delete {
                withdrawn.push(declaration.id.clone());
                continue;
            }
            let classification =
                crate::classify::classify(&declaration, &tables).unwrap_or_else(|r| panic!("{r}"));
            let valuation = value(&declaration, &tables).unwrap_or_else(|r| panic!("{r}"));
            if !classification.in_trade_statistics {
                continue;
            }
            let key = format!(
                "{}/{}",
                classification.category.as_str(),
                declaration.direction.as_str()
            );
            let row = SummaryRow {
                num_declarations: 1,
                num_items: declaration.items.len() as u64,
                value_cny: valuation.total_cny,
                value_usd: valuation.total_usd,
            };
            first_seen
                .entry(declaration.id.clone())
                .or_insert((key, row));
        }
    }
    let superseded: Vec<&String> = superseded_invt_nos
        .iter()
        .filter_map(|n| guid_by_invt_no.get(n))
        .collect();
    assert!(!superseded.is_empty(), "some inventories were summarised");
    let mut declared: BTreeMap<String, SummaryRow> = BTreeMap::new();
    let mut counted: BTreeMap<String, SummaryRow> = BTreeMap::new();
    for (id, (key, row)) in &first_seen {
        add(declared.entry(key.clone()).or_default(), row);
        if !withdrawn.contains(id) && !superseded.contains(&id) {
            add(counted.entry(key.clone()).or_default(), row);
        }
    }
    assert_eq!(summary.declared, declared);
    assert_eq!(summary.counted, counted);
    assert!(
        summary
            .messages
            .get(&MessageKind::Malformed)
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(
        summary
            .messages
            .get(&MessageKind::Duplicate)
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(
        summary
            .messages
            .get(&MessageKind::Withdrawal)
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(
        summary
            .messages
            .get(&MessageKind::SummaryResult)
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(summary.num_late > 0);
    assert!(too_late > 0);
    assert_eq!(summary.num_too_late, too_late);
    let general = summary
        .declared
        .get("general_trade/export")
        .map_or(0, |r| r.num_declarations)
        + summary
            .declared
            .get("general_trade/import")
            .map_or(0, |r| r.num_declarations);
    let total: u64 = summary.declared.values().map(|r| r.num_declarations).sum();
    assert!(
        general * 2 > total,
        "general trade is the largest share: {general} of {total}"
    );
}
