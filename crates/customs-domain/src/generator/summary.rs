//! The generator's account of what it sent and what a pipeline must count.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::MessageKind;

/// Expected figures of one (category, direction) cell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SummaryRow {
    /// Distinct declarations.
    pub num_declarations: u64,
    /// Their goods items.
    pub num_items: u64,
    /// Value in CNY.
    #[serde(with = "rust_decimal::serde::str")]
    pub value_cny: Decimal,
    /// Value in USD.
    #[serde(with = "rust_decimal::serde::str")]
    pub value_usd: Decimal,
}

/// What was sent, and what a correct pipeline must count.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GeneratorSummary {
    /// Messages per kind.
    pub messages: BTreeMap<MessageKind, u64>,
    /// Messages per root element.
    pub message_types: BTreeMap<String, u64>,
    /// Late declarations among the new ones.
    pub num_late: u64,
    /// Declarations beyond the allowed lateness (sent, never counted).
    pub num_too_late: u64,
    /// Every distinct valid declaration or inventory in trade statistics,
    /// once, by `category/direction`, before withdrawals and summaries.
    pub declared: BTreeMap<String, SummaryRow>,
    /// What the statistics must show: `declared` less withdrawn inventories
    /// and inventories superseded by a summary result.
    pub counted: BTreeMap<String, SummaryRow>,
    /// Totals of `counted`.
    #[serde(with = "rust_decimal::serde::str")]
    pub total_cny: Decimal,
    /// Totals of `counted`.
    #[serde(with = "rust_decimal::serde::str")]
    pub total_usd: Decimal,
}

/// Adds one declaration's row to a cell.
pub(super) fn add(total: &mut SummaryRow, row: &SummaryRow) {
    total.num_declarations += row.num_declarations;
    total.num_items += row.num_items;
    total.value_cny += row.value_cny;
    total.value_usd += row.value_usd;
}
