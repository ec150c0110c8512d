//! Event-time watermarks: how far each input partition has got, and the
//! global progress that windows and lateness are measured against.
//!
//! A partition's watermark is the latest event time it has carried (events
//! are dated in minutes). The global watermark is the minimum over the
//! partitions that are active, so a slow partition holds it back; a
//! partition with no new event for the idle timeout (wall clock, supplied by
//! the caller) stops holding it back, so an idle partition never stalls it.
//! When every partition is idle the global watermark is the maximum. It
//! never moves backwards.

use std::collections::BTreeMap;

use super::time::Minute;

#[derive(Debug, Clone, Copy)]
struct PartitionMark {
    event_minute: Minute,
    advanced_at_ms: i64,
}

/// Per-partition watermarks and the global one.
#[derive(Debug, Clone, Default)]
pub struct Watermarks {
    partitions: BTreeMap<i32, PartitionMark>,
    global: Option<Minute>,
}

impl Watermarks {
    /// Records that `partition` carried an event at `event_minute`, at wall
    /// time `now_ms`. Returns whether the partition's watermark advanced.
    pub fn observe(&mut self, partition: i32, event_minute: Minute, now_ms: i64) -> bool {
        let mark = self.partitions.entry(partition).or_insert(PartitionMark {
            event_minute: Minute::MIN,
            advanced_at_ms: now_ms,
        });
        if event_minute > mark.event_minute {
            mark.event_minute = event_minute;
            mark.advanced_at_ms = now_ms;
            true
        } else {
            false
        }
    }

    /// The partition's watermark.
    pub fn partition(&self, partition: i32) -> Option<Minute> {
        self.partitions
            .get(&partition)
            .map(|mark| mark.event_minute)
            .filter(|minute| *minute != Minute::MIN)
    }

    /// Every partition's watermark.
    pub fn partitions(&self) -> impl Iterator<Item = (i32, Minute)> + '_ {
        self.partitions
            .iter()
            .map(|(partition, mark)| (*partition, mark.event_minute))
    }

    /// Recomputes the global watermark at wall time `now_ms`, treating
    /// partitions silent for `idle_ms` as idle, and returns it.
    pub fn update(&mut self, now_ms: i64, idle_ms: i64) -> Option<Minute> {
        let active = self
            .partitions
            .values()
            .filter(|mark| now_ms - mark.advanced_at_ms < idle_ms)
            .map(|mark| mark.event_minute)
            .min();
        let candidate = active.or_else(|| self.partitions.values().map(|m| m.event_minute).max());
        if let Some(candidate) = candidate
            && self.global.is_none_or(|global| candidate > global)
        {
            self.global = Some(candidate);
        }
        self.global
    }

    /// The global watermark as last computed.
    pub fn global(&self) -> Option<Minute> {
        self.global
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_active_partition_holds_the_watermark() {
        let mut marks = Watermarks::default();
        marks.observe(0, 100, 0);
        marks.observe(1, 40, 0);
        assert_eq!(marks.update(1_000, 30_000), Some(40));
        marks.observe(1, 70, 2_000);
        assert_eq!(marks.update(2_000, 30_000), Some(70));
    }

    #[test]
    fn an_idle_partition_does_not_stall_it() {
        let mut marks = Watermarks::default();
        marks.observe(0, 100, 0);
        marks.observe(1, 40, 0);
        marks.observe(0, 130, 50_000);
        // Partition 1 has said nothing for 50 s: idle.
        assert_eq!(marks.update(50_000, 30_000), Some(130));
    }

    #[test]
    fn it_never_moves_backwards() {
        let mut marks = Watermarks::default();
        marks.observe(0, 100, 0);
        assert_eq!(marks.update(0, 30_000), Some(100));
        marks.observe(1, 10, 1_000);
        assert_eq!(marks.update(1_000, 30_000), Some(100));
        assert!(!marks.observe(0, 90, 1_000));
    }
}
