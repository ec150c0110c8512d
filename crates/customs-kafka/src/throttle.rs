//! Repeated errors, logged at most once per interval: [`Throttle`] for one
//! kind, [`Kinds`] for many (by a key the caller chooses).
//!
//! While a broker is away a consumer reports the same transport error many
//! times a second (librdkafka reconnects by itself and logs it too). An
//! operator needs the first report, a reminder while it lasts and how many
//! were left out — not hundreds of identical lines.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
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

/// One [`Throttle`] per kind of occurrence, shareable between threads.
#[derive(Debug, Default)]
pub struct Kinds {
    throttles: Mutex<HashMap<String, Throttle>>,
}

impl Kinds {
    /// An occurrence of `kind` at `now`: `Some(left out since the last
    /// logged one)` when it is to be logged.
    pub fn occurred(&self, kind: &str, now: Instant) -> Option<u64> {
        let mut throttles = self
            .throttles
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match throttles.get_mut(kind) {
            Some(throttle) => throttle.occurred(now),
            None => throttles.entry(kind.to_owned()).or_default().occurred(now),
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

    #[test]
    fn each_kind_is_throttled_on_its_own() {
        let kinds = Kinds::default();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(
            kinds.occurred("error BrokerTransportFailure", at(0)),
            Some(0)
        );
        assert_eq!(kinds.occurred("error BrokerTransportFailure", at(5)), None);
        assert_eq!(kinds.occurred("error AllBrokersDown", at(6)), Some(0));
        assert_eq!(kinds.occurred("log FAIL", at(7)), Some(0));
        assert_eq!(kinds.occurred("error BrokerTransportFailure", at(8)), None);
        let later = INTERVAL.as_millis() as u64 + 10;
        assert_eq!(
            kinds.occurred("error BrokerTransportFailure", at(later)),
            Some(2)
        );
        assert_eq!(kinds.occurred("error AllBrokersDown", at(later)), Some(0));
    }
}
