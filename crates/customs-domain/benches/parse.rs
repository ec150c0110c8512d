//! Parse + validate + classify + value, per message, for the two message
//! shapes that dominate traffic: a 5-item `DecMessage` and a 3-item
//! `CEB621Message`. Run with `cargo bench -p customs-domain --bench parse`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use customs_domain::parse::{ParseLimits, parse_message};
use customs_domain::render::{render_dec_message, render_inventories};
use customs_domain::sample::sample_declarations;
use customs_domain::{CodeTables, Event, MessageType, classify, value};

fn pipeline(payload: &[u8], tables: &CodeTables) -> usize {
    let events = parse_message(payload, tables, ParseLimits::default()).unwrap_or_default();
    let mut valued = 0;
    for event in &events {
        if let Event::Declaration(declaration) = event
            && classify(declaration, tables).is_ok()
            && value(declaration, tables).is_ok()
        {
            valued += 1;
        }
    }
    valued
}

fn with_items(count: usize, direction_import: bool) -> customs_domain::Declaration {
    let mut declaration = sample_declarations(64)
        .into_iter()
        .find(|d| {
            (d.direction == customs_domain::Direction::Import) == direction_import
                && d.items.len() == 3
        })
        .unwrap_or_else(|| panic!("sample feed has a 3-item declaration"));
    let template = declaration.items[0].clone();
    declaration.items = (0..count)
        .map(|index| customs_domain::Item {
            item_no: index as u32 + 1,
            ..template.clone()
        })
        .collect();
    declaration
}

fn bench(c: &mut Criterion) {
    let tables = CodeTables::embedded();
    let dec = render_dec_message(&with_items(5, false));
    let mut inventory = with_items(3, true);
    inventory.message_type = MessageType::Ceb621;
    inventory.supervision_mode = "9610".to_owned();
    inventory.guid = Some("4CDE1CFD-EDED-46B1-946C-B8022E42FC94".to_owned());
    inventory.id = "4CDE1CFD-EDED-46B1-946C-B8022E42FC94".to_owned();
    inventory.cop_no = Some("NBBH20160308005".to_owned());
    inventory.transaction_terms = None;
    for item in &mut inventory.items {
        item.district_code = None;
        item.destination_country = None;
    }
    let ceb = render_inventories(
        std::slice::from_ref(&inventory),
        "4CDE1CFD-EDED-46B1-946C-B8022E42FC94",
    );
    assert_eq!(
        pipeline(dec.as_bytes(), &tables),
        1,
        "the DecMessage fixture is valid"
    );
    assert_eq!(
        pipeline(ceb.as_bytes(), &tables),
        1,
        "the CEB621 fixture is valid"
    );

    let mut group = c.benchmark_group("parse_validate_classify_value");
    group.throughput(Throughput::Bytes(dec.len() as u64));
    group.bench_function("DecMessage_5_items", |b| {
        b.iter(|| pipeline(black_box(dec.as_bytes()), &tables))
    });
    group.throughput(Throughput::Bytes(ceb.len() as u64));
    group.bench_function("CEB621Message_3_items", |b| {
        b.iter(|| pipeline(black_box(ceb.as_bytes()), &tables))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
