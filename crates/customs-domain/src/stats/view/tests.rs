//! The serving view's restore: watermarks from partially read partitions
//! never move the global watermark.

use super::*;
use crate::stats::time::{DAY, parse_minute};

#[test]
fn a_restore_computes_the_global_watermark_only_when_every_partition_is_read() {
    let november = parse_minute("2026-11-20T00:00:00").unwrap_or_default();
    let mut restoring = StatsView::default();
    // Partition 0 is read first and is ahead; partition 1's records come
    // later in the restore.
    restoring.observe_watermark(0, november + 30 * DAY, 0);
    assert_eq!(restoring.update_watermark(0, 30_000), None);
    restoring.observe_watermark(1, november, 10);
    assert_eq!(restoring.finish_restore(20, 30_000), Some(november));
    // A long-running instance that saw the same records in any order agrees.
    let mut running = StatsView::default();
    running.finish_restore(0, 30_000);
    running.observe_watermark(1, november, 0);
    running.observe_watermark(0, november + 30 * DAY, 0);
    assert_eq!(running.update_watermark(20, 30_000), Some(november));
}
