//! Valuation: every item's statistical value (imports CIF, exports FOB;
//! [`statistical`]) in CNY and USD at the monthly customs conversion rate
//! of the declaration's month (UTC+8).
//!
//! Each item's goods value is converted and rounded to the fen (half away
//! from zero), freight and insurance are added or deducted as its terms
//! require, and its USD value is its statistical CNY at the month's USD
//! rate, rounded to the cent; totals are the sums of the rounded items, so
//! item values always add up to the total. A missing rate is a
//! [`RejectReason::MissingExchangeRate`], never a zero; a value that cannot
//! be converted is the goods value with a [`ValueFlag`].

pub mod statistical;

pub use statistical::ValueFlag;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::codes::CodeTables;
use crate::model::Declaration;
use crate::reject::{RejectReason, Rejection};

/// One item's value in CNY and USD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemValue {
    /// Item number.
    pub item_no: u32,
    /// Value in CNY, 2 decimals.
    #[serde(with = "rust_decimal::serde::str")]
    pub cny: Decimal,
    /// Value in USD, 2 decimals.
    #[serde(with = "rust_decimal::serde::str")]
    pub usd: Decimal,
}

/// A declaration's value in CNY and USD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Valuation {
    /// Rate month used, `YYYY-MM`.
    pub month: String,
    /// Per-item values, in item order.
    pub items: Vec<ItemValue>,
    /// Sum of the item values in CNY.
    #[serde(with = "rust_decimal::serde::str")]
    pub total_cny: Decimal,
    /// Sum of the item values in USD.
    #[serde(with = "rust_decimal::serde::str")]
    pub total_usd: Decimal,
    /// Why the values are the declared goods values (or converted with a
    /// known gap); `None`: the statistical value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<ValueFlag>,
}

/// Values `declaration` with the monthly rates in `tables`.
pub fn value(declaration: &Declaration, tables: &CodeTables) -> Result<Valuation, Rejection> {
    let Some(month) = declaration.declared_at.as_deref().and_then(|d| d.get(..7)) else {
        return Err(Rejection::new(
            RejectReason::MissingField,
            format!(
                "{} has no declaration date to pick an exchange-rate month",
                declaration.id
            ),
        ));
    };
    let rate = |currency: &str| {
        tables.cny_rate(currency, month).ok_or_else(|| {
            Rejection::new(
                RejectReason::MissingExchangeRate,
                format!("no {currency} conversion rate for {month}"),
            )
        })
    };
    let usd_rate = rate("USD")?;
    let goods = declaration
        .items
        .iter()
        .map(|item| {
            Ok(round(
                item.declared_total.amount * rate(&item.declared_total.currency)?,
            ))
        })
        .collect::<Result<Vec<Decimal>, Rejection>>()?;
    let (values, flag) = statistical::statistical(declaration, &goods, tables, &rate)?;
    let items: Vec<ItemValue> = declaration
        .items
        .iter()
        .zip(values)
        .map(|(item, cny)| ItemValue {
            item_no: item.item_no,
            cny,
            usd: round(cny / usd_rate),
        })
        .collect();
    Ok(Valuation {
        month: month.to_owned(),
        total_cny: items.iter().map(|item| item.cny).sum(),
        total_usd: items.iter().map(|item| item.usd).sum(),
        items,
        flag,
    })
}

fn round(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppType, Direction, Item, MessageType, Money};

    fn declaration(date: Option<&str>, amounts: &[(i64, u32, &str)]) -> Declaration {
        Declaration {
            id: "292120261000000001".into(),
            message_type: MessageType::DecMessage,
            app_type: AppType::New,
            guid: None,
            cop_no: None,
            direction: Direction::Export,
            supervision_mode: "0110".into(),
            customs_office: "2921".into(),
            ie_port: None,
            trade_country: "USA".into(),
            transport_mode: None,
            transaction_terms: None,
            declared_at: date.map(str::to_owned),
            gross_weight_kg: None,
            net_weight_kg: None,
            statistics_flag: None,
            freight: None,
            insurance: None,
            other_costs: None,
            items: amounts
                .iter()
                .enumerate()
                .map(|(index, (units, scale, currency))| Item {
                    item_no: index as u32 + 1,
                    commodity_code: "6403990090".into(),
                    quantity: None,
                    unit: None,
                    unit_price: None,
                    declared_total: Money {
                        amount: Decimal::new(*units, *scale),
                        currency: (*currency).into(),
                    },
                    origin_country: None,
                    destination_country: None,
                    district_code: None,
                })
                .collect(),
        }
    }

    #[test]
    fn values_are_exact_and_items_add_up_to_the_total() {
        let tables = CodeTables::embedded();
        let dec = declaration(
            Some("2026-11-18T10:00:00"),
            &[(1000, 0, "USD"), (33333, 2, "CNY"), (500, 0, "EUR")],
        );
        let valued = value(&dec, &tables).unwrap_or_else(|r| panic!("{r}"));
        let usd = tables.cny_rate("USD", "2026-11").unwrap_or_default();
        let eur = tables.cny_rate("EUR", "2026-11").unwrap_or_default();
        assert_eq!(valued.month, "2026-11");
        assert_eq!(valued.items[0].cny, round(Decimal::from(1000) * usd));
        assert_eq!(
            valued.items[0].usd,
            round(round(Decimal::from(1000) * usd) / usd)
        );
        assert_eq!(valued.items[1].cny, Decimal::new(33333, 2));
        assert_eq!(valued.items[2].cny, round(Decimal::from(500) * eur));
        let sum: Decimal = valued.items.iter().map(|i| i.cny).sum();
        assert_eq!(valued.total_cny, sum);
    }

    #[test]
    fn a_missing_rate_or_date_is_a_reason_not_a_zero() {
        let tables = CodeTables::embedded();
        let old = declaration(Some("1999-01-05T00:00:00"), &[(1, 0, "USD")]);
        assert_eq!(
            value(&old, &tables).err().map(|r| r.reason),
            Some(RejectReason::MissingExchangeRate)
        );
        let undated = declaration(None, &[(1, 0, "USD")]);
        assert_eq!(
            value(&undated, &tables).err().map(|r| r.reason),
            Some(RejectReason::MissingField)
        );
    }
}
