//! Owner state bench: live lifecycle entries written through the owner's
//! own code path (`PartitionState` over the fjall store, committed in
//! transactions of 2,000 events like the stage's batches), reporting at
//! each checkpoint the bytes on disk per live entry (journal included), the
//! process RSS and how much of it is the block cache, and the cost of the
//! events and of a point read.
//!
//! `cargo bench -p customs-aggregate --bench owner_state -- [N]` (default
//! 2,000,000; checkpoints at 1/10, 1/5, 1/2 and all of N). The mix is the
//! sample declarations (customs declarations and e-commerce inventories,
//! each with its own identity); an inventory is released by its receipt,
//! so every entry counts. Not a test: it prints figures.

use std::time::Instant;

use customs_aggregate::store::Disk;
use customs_domain::lifecycle::partition::PartitionState;
use customs_domain::lifecycle::policy::Policy;
use customs_domain::model::{MessageType, Receipt};
use customs_domain::sample::sample_classified;
use customs_domain::stats::time::parse_minute;
use customs_domain::{ClassifiedDeclaration, CodeTables};

/// Events per transaction.
const BATCH: usize = 2_000;

fn main() {
    let total: usize = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(2_000_000);
    let tables = CodeTables::embedded();
    let templates: Vec<ClassifiedDeclaration> = sample_classified(50, &tables)
        .into_iter()
        .filter(|c| c.classification.in_trade_statistics)
        .collect();
    assert!(!templates.is_empty(), "no sample declaration counts");
    let dir = std::env::temp_dir().join(format!("owner-state-bench-{}", std::process::id()));
    let config = customs_aggregate::StateConfig {
        dir: Some(dir.clone()),
        ..customs_aggregate::StateConfig::default()
    };
    let disk = Disk::open(&config).unwrap_or_else(|e| panic!("{e}"));
    let store = disk.partition(0).unwrap_or_else(|e| panic!("{e}"));
    let mut state = PartitionState::with_store(Policy::default(), Box::new(store));
    let event = parse_minute("2026-11-20T10:00:00").unwrap_or_default();
    let checkpoints = [total / 10, total / 5, total / 2, total];
    println!(
        "owner state bench: {total} entries, cache {} MiB, memtable {} MiB",
        config.cache_mib, config.memtable_mib
    );
    println!(
        "| live entries | disk bytes / entry | RSS MiB | of which block cache MiB | µs per entry written | point read µs |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let started = Instant::now();
    let mut since = Instant::now();
    let mut written_since = 0;
    let mut events = 0;
    for index in 0..total {
        let mut classified = templates[index % templates.len()].clone();
        let id = format!("R{index:012}");
        classified.declaration.id = id.clone();
        state.record_declaration(&id, &classified, event, None);
        events += 1;
        if classified.declaration.message_type != MessageType::DecMessage {
            let receipt = Receipt {
                message_type: MessageType::Ceb622,
                guid: id.clone(),
                cop_no: None,
                pre_no: None,
                invt_no: Some(format!("I{index:012}")),
                status: 800,
                returned_at: "2026-11-20T10:00:00".to_owned(),
            };
            state.record_receipt(&receipt, event, None);
            events += 1;
        }
        if events >= BATCH {
            state.commit();
            events = 0;
        }
        written_since += 1;
        if checkpoints.contains(&(index + 1)) {
            state.commit();
            let per_entry = since.elapsed().as_secs_f64() * 1e6 / written_since as f64;
            std::thread::sleep(std::time::Duration::from_secs(2));
            let read = point_read_us(&state, index + 1);
            let disk_bytes = disk.disk_space() as f64 / (index + 1) as f64;
            println!(
                "| {} | {disk_bytes:.0} | {} | {} | {per_entry:.1} | {read:.1} |",
                index + 1,
                rss_mib(),
                disk.cache_used() >> 20,
            );
            since = Instant::now();
            written_since = 0;
        }
    }
    println!("written in {:.1?}", started.elapsed());
    drop(state);
    let _removed = std::fs::remove_dir_all(dir);
}

/// Mean µs of 10,000 committed-state reads spread over `held` identities.
fn point_read_us(state: &PartitionState, held: usize) -> f64 {
    let started = Instant::now();
    let mut found = 0;
    for n in 0..10_000usize {
        let index = n.wrapping_mul(2_654_435_761) % held;
        if state.find_committed(&format!("R{index:012}")).is_some() {
            found += 1;
        }
    }
    assert_eq!(found, 10_000, "every entry written is found");
    started.elapsed().as_secs_f64() * 1e6 / 10_000.0
}

fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .unwrap_or_default()
        / 1024
}
