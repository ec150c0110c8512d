//! The serving view: what every aggregate instance folds from the
//! statistics topic — the [`Panes`] and every partition's watermark.
//!
//! Guarantees:
//! - a record is an absolute value per (partition, key), so applying it
//!   twice, or in several passes, changes nothing; instances that have read
//!   the same records hold the same figures;
//! - the global watermark is computed only once every partition has been
//!   read to the end it had at start ([`StatsView::finish_restore`]): while
//!   partitions are still being read their watermarks are partial, and a
//!   global watermark computed from them (which never moves back) would put
//!   a restored instance's windows and lateness horizon ahead of a
//!   long-running one's;
//! - nothing here grows with declarations: lifecycle entries live with the
//!   owner of their partition, never in the view.

use super::cell::Measures;
use super::panes::Panes;
use super::stat_key::{PaneLayout, StatKey};
use super::time::Minute;
use super::watermark::Watermarks;

/// The global statistics view.
#[derive(Debug, Clone)]
pub struct StatsView {
    panes: Panes,
    watermarks: Watermarks,
    restored: bool,
}

impl Default for StatsView {
    fn default() -> Self {
        StatsView::new(PaneLayout::default())
    }
}

impl StatsView {
    /// An empty view with the given pane layout, restoring.
    pub fn new(layout: PaneLayout) -> Self {
        StatsView {
            panes: Panes::new(layout),
            watermarks: Watermarks::default(),
            restored: false,
        }
    }

    /// Sets `partition`'s absolute value of `key` (`None` removes it);
    /// returns whether anything changed.
    pub fn apply_stat(&mut self, partition: i32, key: &StatKey, value: Option<&Measures>) -> bool {
        self.panes.set(partition, key, value)
    }

    /// `partition`'s value of `key`.
    pub fn stat(&self, partition: i32, key: &StatKey) -> Option<&Measures> {
        self.panes.get(partition, key)
    }

    /// Records a partition's event-time progress at wall time `now_ms`.
    pub fn observe_watermark(&mut self, partition: i32, minute: Minute, now_ms: i64) -> bool {
        self.watermarks.observe(partition, minute, now_ms)
    }

    /// Recomputes the global watermark and drops expired panes; until the
    /// restore finished, keeps it as it is.
    pub fn update_watermark(&mut self, now_ms: i64, idle_ms: i64) -> Option<Minute> {
        if !self.restored {
            return self.watermarks.global();
        }
        let watermark = self.watermarks.update(now_ms, idle_ms);
        if let Some(watermark) = watermark {
            self.panes.advance(watermark);
        }
        watermark
    }

    /// Every partition was read to its end at start: from now on the
    /// global watermark moves.
    pub fn finish_restore(&mut self, now_ms: i64, idle_ms: i64) -> Option<Minute> {
        self.restored = true;
        self.update_watermark(now_ms, idle_ms)
    }

    /// Whether the restore finished.
    pub fn is_restored(&self) -> bool {
        self.restored
    }

    /// Watermarks, per partition and global.
    pub fn watermarks(&self) -> &Watermarks {
        &self.watermarks
    }

    /// The panes.
    pub fn panes(&self) -> &Panes {
        &self.panes
    }
}

#[cfg(test)]
mod tests;
