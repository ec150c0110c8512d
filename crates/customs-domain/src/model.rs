//! The canonical model that ingest publishes and later stages read.
//!
//! It holds only what statistics need: no personal data (buyer identity,
//! names, addresses, phone numbers) and no free text. One raw message yields
//! one or more [`Event`]s: a `DecMessage` one declaration, a CEB inventory
//! message one declaration per `Inventory`, a receipt message one
//! [`Receipt`] per `InventoryReturn`, a summary result one [`SummaryResult`]
//! per `SummaryResult`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Direction of a movement across the customs border (`IEFlag` / `ieFlag`).
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

    /// The direction named `name` ([`Direction::as_str`]).
    pub fn from_name(name: &str) -> Option<Direction> {
        [Direction::Import, Direction::Export]
            .into_iter()
            .find(|d| d.as_str() == name)
    }
}

/// The single-window message type an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MessageType {
    /// Customs declaration 报关单.
    DecMessage,
    /// Cross-border e-commerce export inventory 出口申报清单.
    #[serde(rename = "CEB603Message")]
    Ceb603,
    /// Receipt for an export inventory.
    #[serde(rename = "CEB604Message")]
    Ceb604,
    /// Cross-border e-commerce import inventory 进口清单.
    #[serde(rename = "CEB621Message")]
    Ceb621,
    /// Receipt for an import inventory.
    #[serde(rename = "CEB622Message")]
    Ceb622,
    /// Export summary result 汇总结果.
    #[serde(rename = "CEB792Message")]
    Ceb792,
}

impl MessageType {
    /// All message types.
    pub const ALL: [MessageType; 6] = [
        MessageType::DecMessage,
        MessageType::Ceb603,
        MessageType::Ceb604,
        MessageType::Ceb621,
        MessageType::Ceb622,
        MessageType::Ceb792,
    ];

    /// The root element name, e.g. `CEB621Message`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::DecMessage => "DecMessage",
            MessageType::Ceb603 => "CEB603Message",
            MessageType::Ceb604 => "CEB604Message",
            MessageType::Ceb621 => "CEB621Message",
            MessageType::Ceb622 => "CEB622Message",
            MessageType::Ceb792 => "CEB792Message",
        }
    }

    /// The type whose root element is `name`.
    pub fn from_root(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// What a declaration message does to its identity (`appType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    /// `1`: a new declaration.
    #[default]
    New,
    /// `2`: a change of an earlier one.
    Change,
    /// `3`: a deletion (withdrawal).
    Delete,
}

/// An exact amount in an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Exact decimal amount.
    #[serde(with = "rust_decimal::serde::str")]
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

/// One goods item (`DecList` / `InventoryList`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Item number (`GNo` / `gnum`), unique within the declaration.
    pub item_no: u32,
    /// Commodity code (`CodeTS` / `gcode`): 10 digits, or 4 on a simplified
    /// (`statisticsFlag` A) export inventory.
    pub commodity_code: String,
    /// Traded quantity (`GQty` / `qty`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub quantity: Option<Decimal>,
    /// Three-digit unit code of the quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Declared unit price (`DeclPrice` / `price`); with the quantity it must
    /// agree with the declared total.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub unit_price: Option<Decimal>,
    /// Declared total value (`DeclTotal` / `totalPrice`) in its currency.
    pub declared_total: Money,
    /// ISO 3166 alpha-3 country of origin, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_country: Option<String>,
    /// ISO 3166 alpha-3 final destination country, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_country: Option<String>,
    /// Five-digit domestic origin/destination (`DistrictCode`); its first two
    /// digits are the province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district_code: Option<String>,
}

impl Item {
    /// HS chapter: the first two digits of the commodity code.
    pub fn hs_chapter(&self) -> &str {
        self.commodity_code.get(..2).unwrap_or("")
    }
}

/// A validated customs declaration or cross-border e-commerce inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// `EntryId` / `invtNo` when customs assigned one, else `SeqNo` / `guid`.
    pub id: String,
    /// Source message type.
    pub message_type: MessageType,
    /// New, change or delete.
    #[serde(default)]
    pub app_type: AppType,
    /// Inventory head `guid` (CEB only); receipts name their inventory by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    /// Enterprise copy number `copNo` (CEB only), the other receipt key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cop_no: Option<String>,
    /// Import or export.
    pub direction: Direction,
    /// Four-digit supervision mode, normalised (`110` becomes `0110`).
    pub supervision_mode: String,
    /// Four-digit declaring customs office (`CustomMaster` / `customsCode`).
    pub customs_office: String,
    /// Four-digit port of entry/exit office (`IEPort` / `portCode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ie_port: Option<String>,
    /// ISO 3166 alpha-3 country of departure (import) / arrival (export).
    pub trade_country: String,
    /// Transport mode code (`TrafMode` / `trafMode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_mode: Option<String>,
    /// Transaction terms code (`TransMode`), declarations only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_terms: Option<String>,
    /// Declaration time, ISO 8601 local time in UTC+8 (`DDate`, `appTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_at: Option<String>,
    /// Gross weight in kg.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub gross_weight_kg: Option<Decimal>,
    /// Net weight in kg.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub net_weight_kg: Option<Decimal>,
    /// Export inventory statistics flag: `A` simplified, `B` summarised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics_flag: Option<String>,
    /// Freight (`FeeMark`/`FeeRate`/`FeeCurr`), declarations only; holds
    /// freight and insurance together when they are declared combined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freight: Option<Cost>,
    /// Insurance (`InsurMark`/`InsurRate`/`InsurCurr`), declarations only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurance: Option<Cost>,
    /// Other costs (`OtherMark`/`OtherRate`/`OtherCurr`), declarations only;
    /// kept, but not part of the statistical value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_costs: Option<Cost>,
    /// Goods items, ordered by item number.
    pub items: Vec<Item>,
}

/// How a cost beside the goods price is declared (the `*Mark` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostMark {
    /// 1: a rate in percent (`5` = 5 %; an insurance `0.3` = 3 per mille).
    Rate,
    /// 2: an amount per tonne of gross weight, in the cost's currency.
    PerTonne,
    /// 3: a total amount in the cost's currency.
    Total,
}

impl CostMark {
    /// The mark of a `*Mark` field value (`1`, `2` or `3`).
    pub fn from_code(code: &str) -> Option<CostMark> {
        match code {
            "1" => Some(CostMark::Rate),
            "2" => Some(CostMark::PerTonne),
            "3" => Some(CostMark::Total),
            _ => None,
        }
    }

    /// The field value of the mark.
    pub fn code(self) -> &'static str {
        match self {
            CostMark::Rate => "1",
            CostMark::PerTonne => "2",
            CostMark::Total => "3",
        }
    }
}

/// A freight, insurance or other cost as declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    /// What the number is.
    pub mark: CostMark,
    /// The rate in percent, or the amount (`*Rate`).
    #[serde(with = "rust_decimal::serde::str")]
    pub rate: Decimal,
    /// ISO 4217 currency of a per-tonne or total amount (`*Curr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// A receipt (`InventoryReturn`) reporting an inventory's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// `CEB604Message` or `CEB622Message`.
    pub message_type: MessageType,
    /// The inventory head `guid` this receipt is about.
    pub guid: String,
    /// Enterprise copy number of the inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cop_no: Option<String>,
    /// Pre-entry number assigned by customs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_no: Option<String>,
    /// Inventory number, once assigned (older receipts have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invt_no: Option<String>,
    /// `returnStatus`: 1 stored, 2 declared, 120 accepted, 100 rejected,
    /// 500 inspection, 800 released, 899 cleared; negative = error.
    pub status: i32,
    /// `returnTime`, ISO 8601 local time in UTC+8 with milliseconds.
    pub returned_at: String,
}

/// A summary result (`CEB792Message`): one declaration replacing inventories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryResult {
    /// `SummaryResultHead/guid`.
    pub guid: String,
    /// The declaration (`entryId`) the summary produced, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    /// Summary number `sumNo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_no: Option<String>,
    /// Declaration serial `declSeqNo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decl_seq_no: Option<String>,
    /// Four-digit customs office.
    pub customs_office: String,
    /// Inventories the summary covers (distinct, sorted).
    pub invt_nos: Vec<String>,
    /// `opDate`, ISO 8601 local time in UTC+8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operated_at: Option<String>,
}

impl SummaryResult {
    /// `entryId`, else `declSeqNo`, else `sumNo`, else `guid`.
    pub fn id(&self) -> &str {
        self.entry_id
            .as_deref()
            .or(self.decl_seq_no.as_deref())
            .or(self.summary_no.as_deref())
            .unwrap_or(&self.guid)
    }
}

/// One fact read from a message.
// Declarations are nearly every event: boxing them would allocate per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A declaration or inventory.
    Declaration(Declaration),
    /// A status receipt.
    Receipt(Receipt),
    /// A summary result.
    SummaryResult(SummaryResult),
}

impl Event {
    /// The event's identity, also its partitioning key: the declaration id,
    /// the receipt's inventory `guid` (so it meets its inventory), or the
    /// summary's id.
    pub fn id(&self) -> &str {
        match self {
            Event::Declaration(declaration) => &declaration.id,
            Event::Receipt(receipt) => &receipt.guid,
            Event::SummaryResult(summary) => summary.id(),
        }
    }

    /// The partitioning key: the lifecycle identity, so a declaration, its
    /// receipts and its changes meet on one partition — an inventory's
    /// `guid` (which its receipts name), else the declaration id; a
    /// summary's id.
    pub fn partition_key(&self) -> &str {
        match self {
            Event::Declaration(declaration) => {
                declaration.guid.as_deref().unwrap_or(&declaration.id)
            }
            other => other.id(),
        }
    }

    /// The message type the event came from.
    pub fn message_type(&self) -> MessageType {
        match self {
            Event::Declaration(declaration) => declaration.message_type,
            Event::Receipt(receipt) => receipt.message_type,
            Event::SummaryResult(_) => MessageType::Ceb792,
        }
    }
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

    #[test]
    fn root_names_map_both_ways() {
        for message_type in MessageType::ALL {
            assert_eq!(
                MessageType::from_root(message_type.as_str()),
                Some(message_type)
            );
        }
        assert_eq!(MessageType::from_root("CEB303Message"), None);
    }
}
