//! Exact totals per (trade category, direction): the aggregate's state machine.
//!
//! [`Totals::record`] counts a declaration identity once, however often it is
//! re-sent; a re-sent declaration never changes the figures. Values are kept
//! per declared currency, exactly, so no conversion error enters the sums.
//! (Event-time windows, lifecycle and restatement come with the exactly-once
//! aggregate; this is the skeleton's all-time total.)

use std::collections::{BTreeMap, HashSet};

use rust_decimal::Decimal;

use crate::classify::{ClassifiedDeclaration, TradeCategory};
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

/// What [`Totals::record`] did with a declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First time this identity was seen: added to the totals.
    Counted,
    /// The identity was already counted: ignored.
    Duplicate,
    /// The supervision mode does not count in trade statistics (movements
    /// within special areas): remembered, not added.
    Excluded,
}

/// All-time totals per (category, direction), deduplicated by declaration id.
#[derive(Debug, Default)]
pub struct Totals {
    rows: BTreeMap<(TradeCategory, Direction), TotalsRow>,
    counted_ids: HashSet<String>,
}

impl Totals {
    /// Empty totals.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a classified declaration unless its identity was counted before.
    pub fn record(&mut self, classified: &ClassifiedDeclaration) -> Recorded {
        let declaration = &classified.declaration;
        if !self.counted_ids.insert(declaration.id.clone()) {
            return Recorded::Duplicate;
        }
        if !classified.classification.in_trade_statistics {
            return Recorded::Excluded;
        }
        let key = (classified.classification.category, declaration.direction);
        let row = self.rows.entry(key).or_default();
        row.num_declarations += 1;
        row.num_items += declaration.items.len() as u64;
        row.value_cny += classified.valuation.total_cny;
        row.value_usd += classified.valuation.total_usd;
        for item in &declaration.items {
            *row.declared_value
                .entry(item.declared_total.currency.clone())
                .or_default() += item.declared_total.amount;
        }
        Recorded::Counted
    }

    /// Rows in (category, direction) order.
    pub fn rows(&self) -> impl Iterator<Item = (TradeCategory, Direction, &TotalsRow)> {
        self.rows
            .iter()
            .map(|((category, direction), row)| (*category, *direction, row))
    }

    /// Distinct declarations counted in the rows.
    pub fn num_declarations(&self) -> u64 {
        self.rows.values().map(|row| row.num_declarations).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Classification;
    use crate::model::{Item, Money};

    fn classified(
        id: &str,
        category: TradeCategory,
        amounts: &[(i64, &str)],
    ) -> ClassifiedDeclaration {
        let mut declaration = crate::sample::sample_declarations(1).remove(0);
        declaration.id = id.into();
        declaration.direction = Direction::Export;
        declaration.items = amounts
            .iter()
            .enumerate()
            .map(|(index, (cents, currency))| Item {
                item_no: index as u32 + 1,
                commodity_code: "6403990090".into(),
                quantity: None,
                unit: None,
                unit_price: None,
                declared_total: Money {
                    amount: Decimal::new(*cents, 2),
                    currency: (*currency).into(),
                },
                origin_country: None,
                destination_country: None,
                district_code: None,
            })
            .collect();
        let valuation = crate::valuation::value(&declaration, &crate::CodeTables::embedded())
            .unwrap_or_else(|r| panic!("{r}"));
        ClassifiedDeclaration {
            declaration,
            valuation,
            classification: Classification {
                category,
                subcategory: None,
                statistics_group: "10".into(),
                explanation: String::new(),
                flag: None,
                in_trade_statistics: true,
            },
        }
    }

    #[test]
    fn re_sent_declarations_count_once_and_sums_are_exact() {
        let mut totals = Totals::new();
        let first = classified(
            "A",
            TradeCategory::GeneralTrade,
            &[(10, "USD"), (20, "USD"), (5, "EUR")],
        );
        assert_eq!(totals.record(&first), Recorded::Counted);
        assert_eq!(totals.record(&first), Recorded::Duplicate);
        let second = classified("B", TradeCategory::GeneralTrade, &[(1, "USD")]);
        assert_eq!(totals.record(&second), Recorded::Counted);
        let rows: Vec<_> = totals.rows().collect();
        assert_eq!(rows.len(), 1);
        let (category, direction, row) = rows[0];
        assert_eq!(
            (category, direction),
            (TradeCategory::GeneralTrade, Direction::Export)
        );
        assert_eq!(row.num_declarations, 2);
        assert_eq!(row.num_items, 4);
        // 0.10 + 0.20 + 0.01 is exactly 0.31: no binary floating point.
        assert_eq!(row.declared_value.get("USD"), Some(&Decimal::new(31, 2)));
        assert_eq!(row.declared_value.get("EUR"), Some(&Decimal::new(5, 2)));
        assert_eq!(totals.num_declarations(), 2);
        assert_eq!(
            row.value_cny,
            first.valuation.total_cny + second.valuation.total_cny
        );
        let mut special_area = classified("C", TradeCategory::Other, &[(1, "USD")]);
        special_area.classification.in_trade_statistics = false;
        assert_eq!(totals.record(&special_area), Recorded::Excluded);
        assert_eq!(totals.num_declarations(), 2);
    }
}
