//! The canonical declaration model that ingest publishes and later stages read.
//!
//! It holds only what statistics need: no personal data, no free text.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Direction of a movement across the customs border (`IEFlag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// `I`: goods entering the customs territory.
    Import,
    /// `E`: goods leaving the customs territory.
    Export,
}

impl Direction {
    /// Stable lowercase name used in APIs, metrics labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Import => "import",
            Direction::Export => "export",
        }
    }
}

/// An exact amount in an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Exact decimal amount.
    pub amount: Decimal,
    /// ISO 4217 alphabetic code, e.g. `USD`.
    pub currency: String,
}

impl Money {
    /// The amount as a decimal string with at least two fractional digits
    /// (`53514` becomes `53514.00`), as money is shown in the API.
    pub fn amount_string(&self) -> String {
        format_amount(self.amount)
    }
}

/// A decimal amount with at least two fractional digits, never rounded.
pub fn format_amount(amount: Decimal) -> String {
    let mut shown = amount;
    if shown.scale() < 2 {
        shown.rescale(2);
    }
    shown.to_string()
}

/// One goods item (`DecList`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Item number `GNo`, unique within the declaration.
    pub item_no: u32,
    /// Ten-digit commodity code `CodeTS`.
    pub commodity_code: String,
    /// Declared total value of the item (`DeclTotal` in `TradeCurr`).
    pub declared_total: Money,
    /// ISO 3166 alpha-3 origin country, when declared.
    pub origin_country: Option<String>,
}

/// A validated customs declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    /// `EntryId` when customs assigned one, else the single-window `SeqNo`.
    pub id: String,
    /// Source message type, e.g. `DecMessage`.
    pub message_type: String,
    /// Import or export.
    pub direction: Direction,
    /// Four-digit supervision mode, normalised (`110` becomes `0110`).
    pub supervision_mode: String,
    /// Four-digit declaring customs office (`CustomMaster`).
    pub customs_office: String,
    /// ISO 3166 alpha-3 partner country (`TradeCountry`).
    pub partner_country: String,
    /// Declaration date-time as sent (`DDate`), ISO 8601 in UTC+8.
    pub declared_at: String,
    /// Goods items, ordered by item number.
    pub items: Vec<Item>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_show_two_decimals_without_rounding() {
        assert_eq!(format_amount(Decimal::new(535140, 1)), "53514.00");
        assert_eq!(format_amount(Decimal::new(7, 0)), "7.00");
        assert_eq!(format_amount(Decimal::new(12345, 3)), "12.345");
    }
}
