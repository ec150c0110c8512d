//! A national-size serving state: how memory and query time grow with the
//! traffic a serving instance has folded.
//!
//! `cargo bench -p customs-domain --bench serving -- [DECLARATIONS]`
//! (default 16,000,000). Declarations with national-like cardinalities
//! (7 categories × 2 directions × 220 partners × 97 HS chapters × 31
//! provinces × 40 supervision modes × 800 customs offices, drawn with a
//! skew so that some combinations are hot and most are sparse; 1–3 item
//! slices each) are spread over 30 days and written by 32 partitions'
//! owners through [`Panes::apply`], the owners' own arithmetic (one update
//! per tier and cell or shape). At each quarter of the run it prints the
//! cell updates so far, the cells and rollup keys held, the process RSS,
//! and the p50/p99 of
//! the typical 30-day top-10-partners query and the category × direction
//! query. Not a test: it prints figures.

use std::hint::black_box;
use std::time::Instant;

use customs_domain::CodeTables;
use customs_domain::classify::TradeCategory;
use customs_domain::lifecycle::{Contribution, Slice};
use customs_domain::model::Direction;
use customs_domain::stats::query::{self, Measure};
use customs_domain::stats::rollup;
use customs_domain::stats::time::{DAY, format_minute, parse_minute};
use customs_domain::stats::{Dimension, Panes, Query};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

const PARTITIONS: i32 = 32;
const QUERY_RUNS: usize = 30;

/// An index in `0..n`, skewed towards small values (a few hot codes).
fn skewed(rng: &mut ChaCha8Rng, n: usize) -> usize {
    let u: f64 = rng.random();
    ((u * u * u) * n as f64) as usize % n
}

struct Codes {
    partners: Vec<String>,
    chapters: Vec<String>,
    provinces: Vec<String>,
    modes: Vec<String>,
    offices: Vec<String>,
}

impl Codes {
    fn new() -> Self {
        Codes {
            partners: (0..220).map(|i| format!("P{i:03}")).collect(),
            chapters: (1..=97).map(|i| format!("{i:02}")).collect(),
            provinces: (0..31).map(|i| format!("{}", 11 + i)).collect(),
            modes: (0..40).map(|i| format!("{:04}", 100 + i * 37)).collect(),
            offices: (0..800).map(|i| format!("{:04}", 100 + i * 11)).collect(),
        }
    }

    fn contribution(&self, rng: &mut ChaCha8Rng, id: u64, minute: i64) -> Contribution {
        let num_slices = 1 + skewed(rng, 3);
        let slices: Vec<Slice> = (0..num_slices)
            .map(|_| {
                let cny = Decimal::new(rng.random_range(100..10_000_000), 2);
                Slice {
                    partner_country: self.partners[skewed(rng, 220)].clone(),
                    province: Some(self.provinces[skewed(rng, 31)].clone()),
                    hs_chapter: self.chapters[skewed(rng, 97)].clone(),
                    currency: "CNY".to_owned(),
                    num_items: 1,
                    declared: cny,
                    value_cny: cny,
                    value_usd: cny / Decimal::from(7),
                }
            })
            .collect();
        Contribution {
            id: format!("D{id}"),
            invt_no: None,
            category: TradeCategory::ALL[skewed(rng, 7)],
            subcategory: None,
            direction: if rng.random_bool(0.6) {
                Direction::Export
            } else {
                Direction::Import
            },
            supervision_mode: self.modes[skewed(rng, 40)].clone(),
            statistics_group: "10".to_owned(),
            customs_office: self.offices[skewed(rng, 800)].clone(),
            transport_mode: Some("2".to_owned()),
            num_items: slices.len() as u64,
            value_cny: slices.iter().map(|s| s.value_cny).sum(),
            value_usd: slices.iter().map(|s| s.value_usd).sum(),
            net_weight_kg: Decimal::ONE,
            slices,
            counted_at: format_minute(minute),
        }
    }
}

fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or_default()
        / 1024
}

/// p50 and p99 of `QUERY_RUNS` runs of `run`, in milliseconds.
fn quantiles(mut run: impl FnMut()) -> (f64, f64) {
    let mut times: Vec<f64> = (0..QUERY_RUNS)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    (at(0.5), at(0.99))
}

fn main() {
    let declarations: u64 = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(16_000_000);
    let tables = CodeTables::embedded();
    let codes = Codes::new();
    let end = parse_minute("2026-11-28T00:00:00").unwrap_or_default();
    let mut panes = Panes::default();
    panes.advance(end);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let top_partners = Query {
        range: (end - 30 * DAY, end),
        group_by: vec![Dimension::PartnerCountry],
        filters: Vec::new(),
    };
    let by_category = Query {
        group_by: vec![Dimension::Category, Dimension::Direction],
        ..top_partners.clone()
    };
    println!(
        "| declarations | cell updates | cells held | rollup keys held | RSS MiB | top-10 partners: rollup cells read | p50 / p99 ms | category × direction p50 / p99 ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut updates: u64 = 0;
    let started = Instant::now();
    for quarter in 1..=4u64 {
        let until = declarations * quarter / 4;
        let from = declarations * (quarter - 1) / 4;
        for id in from..until {
            let minute = end - 30 * DAY + (id as i64 * 30 * DAY) / declarations as i64;
            let contribution = codes.contribution(&mut rng, id, minute);
            let partition = (id % PARTITIONS as u64) as i32;
            let slices = contribution.slices.len() as u64;
            // Hour and day tiers, the minute tier for the last hours; plus a
            // shape per tier for declarations spread over several cells.
            let tiers = if minute >= end - 3 * 60 { 3 } else { 2 };
            updates += tiers * (slices + u64::from(slices > 1));
            if panes.apply(partition, &contribution, 1).is_err() {
                eprintln!("serving bench: a contribution without a time");
                return;
            }
        }
        let (top_p50, top_p99) = quantiles(|| {
            let (groups, total) = query::run_with_total(&panes, black_box(&top_partners), &tables)
                .unwrap_or_default();
            black_box(total);
            black_box(
                query::ordered(groups, Some(Measure::ValueCny), true)
                    .into_iter()
                    .take(10)
                    .count(),
            );
        });
        // What the top-partners query reads: the partner rollup's cells of
        // the range's week sums and other day panes.
        let mut read = 0usize;
        let rollup = rollup::choose(&top_partners).unwrap_or_default();
        let (from, to) = top_partners.range;
        let folded = panes.fold_rollup(from, to, rollup, |_, _| read += 1);
        if folded.is_err() {
            eprintln!("serving bench: the range is not aligned");
            return;
        }
        let (cat_p50, cat_p99) = quantiles(|| {
            black_box(query::run(&panes, black_box(&by_category), &tables).unwrap_or_default());
        });
        println!(
            "| {until} | {updates} | {} | {} | {} | {read} | {top_p50:.2} / {top_p99:.2} | {cat_p50:.2} / {cat_p99:.2} |",
            panes.num_cells(),
            panes.num_rollup_keys(),
            rss_mib(),
        );
    }
    eprintln!(
        "serving bench: {declarations} declarations folded in {:.1?}",
        started.elapsed()
    );
}
