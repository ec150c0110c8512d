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
}

/// What [`Totals::record`] did with a declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First time this identity was seen: added to the totals.
    Counted,
    /// The identity was already counted: ignored.
    Duplicate,
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
        let key = (classified.classification.category, declaration.direction);
        let row = self.rows.entry(key).or_default();
        row.num_declarations += 1;
        row.num_items += declaration.items.len() as u64;
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

    /// Distinct declarations counted.
    pub fn num_declarations(&self) -> u64 {
        self.counted_ids.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Classification;
    use crate::model::{Declaration, Item, Money};

    fn classified(
        id: &str,
        category: TradeCategory,
        amounts: &[(i64, &str)],
    ) -> ClassifiedDeclaration {
        let items = amounts
            .iter()
            .enumerate()
            .map(|(index, (cents, currency))| Item {
                item_no: index as u32 + 1,
                commodity_code: "6403990090".into(),
                declared_total: Money {
                    amount: Decimal::new(*cents, 2),
                    currency: (*currency).into(),
                },
                origin_country: None,
            })
            .collect();
        ClassifiedDeclaration {
            declaration: Declaration {
                id: id.into(),
                message_type: "DecMessage".into(),
                direction: Direction::Export,
                supervision_mode: "0110".into(),
                customs_office: "2921".into(),
                partner_country: "USA".into(),
                declared_at: String::new(),
                items,
            },
            classification: Classification {
                category,
                subcategory: None,
                statistics_group: "10".into(),
                explanation: String::new(),
                flag: None,
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
    }
}
