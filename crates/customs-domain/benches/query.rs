//! The typical dashboard query over the panes of a realistic state: last 30
//! days by partner country, top 10 by value, on the panes of 80,000
//! generated declarations spread over 30 days (what the aggregate held in
//! the benchmark's latency run). Run with
//! `cargo bench -p customs-domain --bench query`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use customs_domain::classify::ClassifiedDeclaration;
use customs_domain::generator::{Generator, GeneratorConfig};
use customs_domain::lifecycle::Contribution;
use customs_domain::parse::{ParseLimits, parse_message};
use customs_domain::stats::query::{self, Measure};
use customs_domain::stats::time::{DAY, format_minute, parse_minute};
use customs_domain::stats::{Dimension, Panes, Query};
use customs_domain::{CodeTables, Event, classify, value};

const DECLARATIONS: usize = 80_000;

/// Panes holding `DECLARATIONS` declarations, one every ~32 s of the 30
/// days before `end`, with the watermark at `end`.
fn panes(tables: &CodeTables, end: i64) -> Panes {
    let mut generator = Generator::new(
        GeneratorConfig {
            seed: 7,
            malformed_rate: 0.0,
            duplicate_rate: 0.0,
            withdrawal_rate: 0.0,
            ..GeneratorConfig::default()
        },
        tables,
    );
    let mut panes = Panes::default();
    let mut counted = 0;
    while counted < DECLARATIONS {
        for message in generator.next_batch() {
            let events =
                parse_message(&message.payload, tables, ParseLimits::default()).unwrap_or_default();
            for event in events {
                let Event::Declaration(declaration) = event else {
                    continue;
                };
                let (Ok(classification), Ok(valuation)) =
                    (classify(&declaration, tables), value(&declaration, tables))
                else {
                    continue;
                };
                let at = end - 30 * DAY + (counted as i64 * 30 * DAY) / DECLARATIONS as i64;
                let contribution = Contribution::of(
                    &ClassifiedDeclaration {
                        declaration,
                        classification,
                        valuation,
                    },
                    format_minute(at),
                );
                panes.apply(0, &contribution, 1).expect("a time");
                counted += 1;
            }
        }
    }
    panes.advance(end);
    panes
}

fn bench(c: &mut Criterion) {
    let tables = CodeTables::embedded();
    let end = parse_minute("2026-11-28T00:00:00").expect("a time");
    let panes = panes(&tables, end);
    let top_partners = Query {
        range: (end - 30 * DAY, end),
        group_by: vec![Dimension::PartnerCountry],
        filters: Vec::new(),
    };
    let by_category = Query {
        group_by: vec![Dimension::Category, Dimension::Direction],
        ..top_partners.clone()
    };
    let mut group = c.benchmark_group("query");
    group.sample_size(20);
    // What the API does for the typical question: rows and total in one pass.
    group.bench_function("30 days by partner, top 10 by value", |b| {
        b.iter(|| {
            let (groups, total) =
                query::run_with_total(&panes, black_box(&top_partners), &tables).expect("aligned");
            black_box(total);
            let rows = query::ordered(groups, Some(Measure::ValueCny), true);
            black_box(rows.into_iter().take(10).count())
        })
    });
    group.bench_function("30 days by category and direction", |b| {
        b.iter(|| query::run(&panes, black_box(&by_category), &tables).expect("aligned"))
    });
    group.finish();
    eprintln!(
        "query bench: {} panes, {} cells",
        panes.num_panes(),
        panes.num_cells()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
