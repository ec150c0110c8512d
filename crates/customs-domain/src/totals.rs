//! Exact totals per (trade category, direction): the sum of the
//! [`crate::lifecycle`] deltas.
//!
//! The lifecycle decides when a declaration counts and hands over exactly
//! what it added when it retracts, so applying every delta in order leaves the
//! totals equal to a recount of the current state. Values are kept in CNY and
//! USD and per declared currency, exactly. (Event-time windows come with the
//! exactly-once aggregate; these are all-time totals.)

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::classify::TradeCategory;
use crate::lifecycle::Delta;
use crate::model::Direction;

/// Totals of one (category, direction) cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TotalsRow {
    /// Distinct declarations counted.
    pub num_declarations: u64,
    /// Goods items on those declarations.
    pub num_items: u64,
    /// Declared value per ISO 4217 currency.
    pub declared_value: BTreeMap<String, Decimal>,
    /// Value in CNY at the monthly customs rates.
    pub value_cny: Decimal,
    /// Value in USD at the monthly customs rates.
    pub value_usd: Decimal,
}

/// Totals per (category, direction), the sum of the lifecycle's deltas.
#[derive(Debug, Default)]
pub struct Totals {
    rows: BTreeMap<(TradeCategory, Direction), TotalsRow>,
}

impl Totals {
    /// Empty totals.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one addition or retraction. A row whose declarations all
    /// were retracted disappears, so the totals equal a fresh recount.
    pub fn apply(&mut self, delta: &Delta) {
        let (contribution, sign) = match delta {
            Delta::Add(contribution) => (contribution, Decimal::ONE),
            Delta::Retract(contribution) => (contribution, Decimal::NEGATIVE_ONE),
        };
        let key = (contribution.category, contribution.direction);
        let row = self.rows.entry(key).or_default();
        match delta {
            Delta::Add(_) => {
                row.num_declarations += 1;
                row.num_items += contribution.num_items;
            }
            Delta::Retract(_) => {
                row.num_declarations = row.num_declarations.saturating_sub(1);
                row.num_items = row.num_items.saturating_sub(contribution.num_items);
            }
        }
        row.value_cny += sign * contribution.value_cny;
        row.value_usd += sign * contribution.value_usd;
        for (currency, amount) in &contribution.declared_value {
            *row.declared_value.entry(currency.clone()).or_default() += sign * *amount;
        }
        row.declared_value.retain(|_, amount| !amount.is_zero());
        if row.num_declarations == 0 {
            self.rows.remove(&key);
        }
    }

    /// Rows in (category, direction) order.
    pub fn rows(&self) -> impl Iterator<Item = (TradeCategory, Direction, &TotalsRow)> {
        self.rows
            .iter()
            .map(|((category, direction), row)| (*category, *direction, row))
    }

    /// Declarations counted in the rows.
    pub fn num_declarations(&self) -> u64 {
        self.rows.values().map(|row| row.num_declarations).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Contribution;

    fn contribution(id: &str, cents: i64) -> Contribution {
        Contribution {
            id: id.to_owned(),
            category: TradeCategory::GeneralTrade,
            direction: Direction::Export,
            num_items: 2,
            value_cny: Decimal::new(cents * 7, 2),
            value_usd: Decimal::new(cents, 2),
            declared_value: BTreeMap::from([("USD".to_owned(), Decimal::new(cents, 2))]),
            counted_at: "2026-11-18T10:00:00".to_owned(),
        }
    }

    #[test]
    fn sums_are_exact_and_a_retraction_undoes_its_addition() {
        let mut totals = Totals::new();
        totals.apply(&Delta::Add(contribution("A", 10)));
        totals.apply(&Delta::Add(contribution("B", 21)));
        let (_, _, row) = totals.rows().next().unwrap_or_else(|| panic!("one row"));
        // 0.10 + 0.21 is exactly 0.31: no binary floating point.
        assert_eq!(row.value_usd, Decimal::new(31, 2));
        assert_eq!(row.declared_value.get("USD"), Some(&Decimal::new(31, 2)));
        assert_eq!((row.num_declarations, row.num_items), (2, 4));
        totals.apply(&Delta::Retract(contribution("A", 10)));
        totals.apply(&Delta::Retract(contribution("B", 21)));
        assert_eq!(totals.rows().count(), 0, "all retracted: nothing left");
        assert_eq!(totals.num_declarations(), 0);
    }
}
