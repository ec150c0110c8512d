//! The disk store returns what was written, scans in key order, and keeps
//! partitions (and take-overs of one partition) apart.

use customs_domain::lifecycle::partition::{Sealed, Stored, SummaryMark};
use customs_domain::lifecycle::store::{Changes, StateStore};

use super::Disk;
use crate::config::StateConfig;

fn sealed(minute: i64) -> Option<Stored> {
    Some(Stored::Sealed(Sealed {
        last_event: minute,
        invt_nos: vec![format!("I{minute}")],
    }))
}

#[test]
fn a_store_returns_what_was_written_and_scans_in_key_order() {
    let disk = Disk::open(&StateConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut store = disk.partition(0).unwrap_or_else(|e| panic!("{e}"));
    let mark = SummaryMark {
        at: 7,
        invt_nos: vec!["I1".to_owned()],
    };
    store.write(Changes {
        entries: (0..30).map(|n| (format!("g{n:02}"), sealed(n))).collect(),
        summaries: vec![("S1".to_owned(), Some(mark.clone()))],
        holders: vec![("I1".to_owned(), Some("g01".to_owned()))],
        superseding: vec![("I1".to_owned(), Some("S1".to_owned()))],
    });
    assert_eq!(store.entry("g07"), sealed(7));
    assert_eq!(store.entry("g99"), None);
    assert_eq!(store.summary("S1"), Some(mark));
    assert_eq!(store.holder("I1").as_deref(), Some("g01"));
    assert_eq!(store.superseding("I1").as_deref(), Some("S1"));
    // Scans stay inside their map and go on after the cursor.
    let first = store.entries_after(None, 10);
    assert_eq!(first.first().map(|(k, _)| k.as_str()), Some("g00"));
    let next = store.entries_after(Some("g09"), 100);
    assert_eq!(next.len(), 20);
    assert_eq!(next.first().map(|(k, _)| k.as_str()), Some("g10"));
    assert_eq!(store.summaries_after(None, 10).len(), 1);
    // Deletes.
    store.write(Changes {
        entries: vec![("g07".to_owned(), None)],
        holders: vec![("I1".to_owned(), None)],
        ..Changes::default()
    });
    assert_eq!(store.entry("g07"), None);
    assert_eq!(store.holder("I1"), None);
    assert_eq!(store.entries_after(None, 100).len(), 29);
}

#[test]
fn each_take_over_starts_empty_and_partitions_stay_apart() {
    let disk = Disk::open(&StateConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut first = disk.partition(1).unwrap_or_else(|e| panic!("{e}"));
    first.write(Changes {
        entries: vec![("g1".to_owned(), sealed(1))],
        ..Changes::default()
    });
    let other = disk.partition(2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(other.entry("g1"), None);
    let again = disk.partition(1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        again.entry("g1"),
        None,
        "a take-over rebuilds from the changelog"
    );
    // Dropping the earlier store does not touch the new one.
    drop(first);
    assert_eq!(again.entries_after(None, 10).len(), 0);
}
