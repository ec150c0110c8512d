//! Repeated errors, logged at most once per interval.
//!
//! While a broker is away a consumer reports the same transport error many
//! times a second (librdkafka reconnects by itself and logs it too). An
//! operator needs the first report, a reminder while it lasts and how many
//! were left out — not hundreds of identical lines.

use std::time::{Duration, Instant};

/// How often a repeated error is logged.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// Decides which occurrences of one kind of error to log.
#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(INTERVAL)
    }
}

impl Throttle {
    /// Logs at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Throttle {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// An occurrence at `now`: `Some(left out since the last logged one)`
    /// when it is to be logged, `None` when it is left out.
    pub fn occurred(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_the_first_then_once_per_interval_with_the_count_left_out() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut throttle = Throttle::new(Duration::from_secs(10));
        assert_eq!(throttle.occurred(at(0)), Some(0));
        assert_eq!(throttle.occurred(at(100)), None);
        assert_eq!(throttle.occurred(at(9_999)), None);
        assert_eq!(throttle.occurred(at(10_000)), Some(2));
        assert_eq!(throttle.occurred(at(10_001)), None);
        assert_eq!(throttle.occurred(at(30_000)), Some(1));
        assert_eq!(throttle.occurred(at(30_001)), None);
    }
}
