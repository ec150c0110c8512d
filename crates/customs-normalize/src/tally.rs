//! Normalize's own counters, applied only when their transaction commits.
//!
//! Input: each classified declaration the transform publishes (category,
//! direction, review flag, value in CNY and USD). The figures wait in a
//! per-transaction tally; the stage's `committed` hook adds them to
//! `customs_normalize_declarations_classified_total`,
//! `..._declarations_flagged_total`, `..._value_processed_total` and
//! `..._values_flagged_total` (declarations whose statistical value could
//! not be derived, or only with a known gap, by flag), its
//! `aborted` hook throws them away, so every counter equals what became
//! visible in the classified topic, as the stage's own counters do.
//!
//! The value counter is in the currency's base unit (yuan, dollars), but
//! Prometheus counters of the `metrics` crate are integers: the exact decimal
//! sum of committed values is kept here and the counter is advanced to its
//! whole part, so it is the committed total rounded down (less than one unit
//! off per series, never drifting).

use std::collections::BTreeMap;

use customs_domain::valuation::ValueFlag;
use customs_domain::{Direction, TradeCategory};
use rust_decimal::Decimal;

/// Currencies the value counter is kept in.
const CURRENCIES: [&str; 2] = ["CNY", "USD"];

/// Counts of one (category, direction).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    classified: u64,
    flagged: u64,
}

/// Pending figures of the open transaction plus the committed value sums.
#[derive(Debug, Default)]
pub(crate) struct NormalizeTally {
    counts: BTreeMap<(&'static str, &'static str), Counts>,
    /// (category, currency index) → value in the open transaction.
    value: BTreeMap<(&'static str, usize), Decimal>,
    /// (category, currency index) → committed value since the start.
    committed_value: BTreeMap<(&'static str, usize), Decimal>,
    /// Valuation flag → declarations in the open transaction.
    value_flags: BTreeMap<&'static str, u64>,
}

impl NormalizeTally {
    /// An empty tally; registers every series at 0 (the labels are closed
    /// sets), so `rate()` and the dashboard see them before the first hit.
    pub(crate) fn new() -> Self {
        for category in TradeCategory::ALL.map(TradeCategory::as_str) {
            for direction in [Direction::Import, Direction::Export].map(Direction::as_str) {
                let _classified = metrics::counter!("customs_normalize_declarations_classified_total", "category" => category, "direction" => direction);
                let _flagged = metrics::counter!("customs_normalize_declarations_flagged_total", "category" => category, "direction" => direction);
            }
            for currency in CURRENCIES {
                let _value = metrics::counter!("customs_normalize_value_processed_total", "category" => category, "currency" => currency);
            }
        }
        for flag in ValueFlag::ALL {
            let _flagged = metrics::counter!("customs_normalize_values_flagged_total", "flag" => flag.as_str());
        }
        NormalizeTally::default()
    }

    /// The valuation of the declaration just recorded carries `flag`.
    pub(crate) fn value_flag(&mut self, flag: ValueFlag) {
        *self.value_flags.entry(flag.as_str()).or_default() += 1;
    }

    /// One classified declaration in the open transaction.
    pub(crate) fn record(
        &mut self,
        category: &'static str,
        direction: &'static str,
        flagged: bool,
        value_cny: Decimal,
        value_usd: Decimal,
    ) {
        let counts = self.counts.entry((category, direction)).or_default();
        counts.classified += 1;
        counts.flagged += u64::from(flagged);
        for (index, amount) in [value_cny, value_usd].into_iter().enumerate() {
            *self.value.entry((category, index)).or_default() += amount;
        }
    }

    /// The open transaction committed: add its figures to the counters.
    pub(crate) fn committed(&mut self) {
        for ((category, direction), counts) in std::mem::take(&mut self.counts) {
            metrics::counter!("customs_normalize_declarations_classified_total", "category" => category, "direction" => direction)
                .increment(counts.classified);
            if counts.flagged > 0 {
                metrics::counter!("customs_normalize_declarations_flagged_total", "category" => category, "direction" => direction)
                    .increment(counts.flagged);
            }
        }
        for (flag, count) in std::mem::take(&mut self.value_flags) {
            metrics::counter!("customs_normalize_values_flagged_total", "flag" => flag)
                .increment(count);
        }
        for ((category, currency), amount) in std::mem::take(&mut self.value) {
            let step = self.add_value(category, currency, amount);
            metrics::counter!("customs_normalize_value_processed_total", "category" => category, "currency" => CURRENCIES[currency])
                .increment(step);
        }
    }

    /// The open transaction aborted: its records will be read again.
    pub(crate) fn aborted(&mut self) {
        self.counts.clear();
        self.value.clear();
        self.value_flags.clear();
    }

    /// Adds `amount` to the committed sum and returns how many whole units
    /// the counter must advance.
    fn add_value(&mut self, category: &'static str, currency: usize, amount: Decimal) -> u64 {
        let sum = self
            .committed_value
            .entry((category, currency))
            .or_default();
        let before = whole_units(*sum);
        *sum += amount;
        whole_units(*sum).saturating_sub(before)
    }
}

/// The whole part of a non-negative amount (0 for negative ones).
fn whole_units(amount: Decimal) -> u64 {
    u64::try_from(amount.floor()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap_or_default()
    }

    #[test]
    fn value_steps_sum_to_the_whole_part_of_the_committed_total() {
        let mut tally = NormalizeTally::default();
        let steps: Vec<u64> = ["0.4", "0.4", "0.4", "10.9", "0.0"]
            .into_iter()
            .map(|amount| tally.add_value("general_trade", 0, dec(amount)))
            .collect();
        assert_eq!(steps, [0, 0, 1, 11, 0]);
        assert_eq!(steps.iter().sum::<u64>(), 12, "floor(12.1)");
    }

    #[test]
    fn an_aborted_transaction_leaves_nothing_pending() {
        let mut tally = NormalizeTally::default();
        tally.record("general_trade", "import", true, dec("7.5"), dec("1.1"));
        tally.aborted();
        assert!(tally.counts.is_empty() && tally.value.is_empty());
        tally.record("general_trade", "import", false, dec("7.5"), dec("1.1"));
        assert_eq!(
            tally.counts[&("general_trade", "import")],
            Counts {
                classified: 1,
                flagged: 0
            }
        );
        tally.committed();
        assert!(tally.counts.is_empty() && tally.value.is_empty());
        assert_eq!(tally.committed_value[&("general_trade", 0)], dec("7.5"));
    }
}
