//! A seeded generator of realistic single-window traffic: the inverse of the
//! parsers, for the demo, the tests and the benchmarks.
//!
//! Same config (seed included), same bytes: the generator uses ChaCha8, whose
//! output is fixed for a given seed. It renders declarations (`DecMessage`),
//! cross-border e-commerce inventories (`CEB603`/`CEB621`) with their
//! receipts, summary results (`CEB792`), and, at configurable rates,
//! malformed messages, re-sent duplicates, withdrawals (inventories re-sent
//! with `appType` 3) and late declarations (dated months back). Every
//! inventory is followed by its receipts (declared, then released or
//! cleared). The [`GeneratorSummary`] says what a correct pipeline must make
//! of it under the [`crate::lifecycle`] rules.

use std::collections::BTreeMap;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::classify::{TradeCategory, classify};
use crate::codes::CodeTables;
use crate::model::{
    AppType, Declaration, Direction, Item, MessageType, Money, Receipt, SummaryResult,
};
use crate::render::{render_dec_message, render_inventories, render_receipts, render_summaries};
use crate::valuation::value;

/// Messages generated before the first [`MessageKind::TooLate`] one.
pub const TOO_LATE_AFTER: u64 = 500;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// PRNG seed.
    pub seed: u64,
    /// Weights per trade category; defaults follow the shape of published
    /// statistics (general trade largest, then processing trade, bonded
    /// logistics, cross-border e-commerce, market procurement, border trade,
    /// other). Approximate shares, not official figures.
    pub mix: Vec<(TradeCategory, u32)>,
    /// Share of messages that are malformed.
    pub malformed_rate: f64,
    /// Share of messages that re-send an earlier valid message.
    pub duplicate_rate: f64,
    /// Share of messages that withdraw an earlier inventory.
    pub withdrawal_rate: f64,
    /// Share of new declarations dated in the second half of the previous
    /// month: late, but within 45 days of any time in `month`, so they count
    /// (and restate the previous month).
    pub late_rate: f64,
    /// Share of messages that are declarations dated 13 months back, beyond
    /// the allowed lateness (never among the first [`TOO_LATE_AFTER`]
    /// messages, so every partition's watermark is established first).
    pub too_late_rate: f64,
    /// Share of export inventory batches followed by a summary result.
    pub summary_rate: f64,
    /// Month of the traffic, `YYYY-MM` (late declarations are earlier).
    pub month: String,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 42,
            mix: vec![
                (TradeCategory::GeneralTrade, 62),
                (TradeCategory::ProcessingTrade, 18),
                (TradeCategory::BondedLogistics, 8),
                (TradeCategory::CrossBorderEcommerce, 7),
                (TradeCategory::MarketProcurement, 3),
                (TradeCategory::BorderTrade, 1),
                (TradeCategory::Other, 1),
            ],
            malformed_rate: 0.01,
            duplicate_rate: 0.02,
            withdrawal_rate: 0.005,
            late_rate: 0.01,
            too_late_rate: 0.002,
            summary_rate: 0.05,
            month: "2026-11".to_owned(),
        }
    }
}

/// What a generated message is, for the summary and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A new declaration or inventory.
    Declaration,
    /// Receipts for an inventory.
    Receipt,
    /// A summary result.
    SummaryResult,
    /// An earlier valid message sent again, byte for byte.
    Duplicate,
    /// An inventory withdrawn (`appType` 3).
    Withdrawal,
    /// A broken message that must be dead-lettered.
    Malformed,
    /// A declaration dated 13 months back, beyond any allowed lateness:
    /// it must go to the late topic and never count.
    TooLate,
}

/// One generated Kafka record.
#[derive(Debug, Clone)]
pub struct GeneratedMessage {
    /// Partitioning key: the event identity.
    pub key: String,
    /// Raw bytes as the single window would send them.
    pub payload: Vec<u8>,
    /// Its root element type (a malformed one: the type it pretends to be).
    pub message_type: MessageType,
    /// What it is.
    pub kind: MessageKind,
}

struct Counted {
    key: String,
    row: SummaryRow,
}

/// The generator: call [`Generator::next_batch`] until you have enough.
pub struct Generator<'t> {
    config: GeneratorConfig,
    tables: &'t CodeTables,
    rng: ChaCha8Rng,
    sequence: u64,
    sent_valid: Vec<GeneratedMessage>,
    inventories: Vec<Declaration>,
    pending_summary: Vec<String>,
    counted: BTreeMap<String, Counted>,
    withdrawn: BTreeMap<String, ()>,
    inventory_by_invt_no: BTreeMap<String, String>,
    superseded: BTreeMap<String, ()>,
    summary: GeneratorSummary,
}

const PARTNERS: &[&str] = &[
    "USA", "JPN", "KOR", "DEU", "HKG", "VNM", "AUS", "GBR", "MYS", "THA", "SGP", "IND", "RUS",
    "BRA", "NLD", "FRA",
];
const OFFICES: &[&str] = &[
    "2921", "2244", "5316", "2225", "0101", "5349", "5141", "4200", "0400", "2991",
];
const COMMODITIES: &[&str] = &[
    "6403990090",
    "8517130000",
    "9503008900",
    "8471300000",
    "6109100010",
    "8541430000",
    "3304990099",
    "8703800090",
    "9401790000",
    "6204430090",
];
const DISTRICTS: &[&str] = &[
    "33189", "31011", "44030", "32059", "11010", "37021", "35020", "42010",
];
const CURRENCIES: &[&str] = &["USD", "USD", "USD", "USD", "EUR", "JPY", "HKD", "CNY"];

impl<'t> Generator<'t> {
    /// A generator over the code tables that value its declarations.
    pub fn new(config: GeneratorConfig, tables: &'t CodeTables) -> Self {
        Generator {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            tables,
            sequence: 0,
            sent_valid: Vec::new(),
            inventories: Vec::new(),
            pending_summary: Vec::new(),
            counted: BTreeMap::new(),
            withdrawn: BTreeMap::new(),
            inventory_by_invt_no: BTreeMap::new(),
            superseded: BTreeMap::new(),
            summary: GeneratorSummary::default(),
        }
    }

    /// The next message or few (an inventory comes with its receipts).
    pub fn next_batch(&mut self) -> Vec<GeneratedMessage> {
        let roll: f64 = self.rng.random();
        let config = &self.config;
        let batch = if roll < config.malformed_rate {
            vec![self.malformed()]
        } else if roll < config.malformed_rate + config.duplicate_rate
            && !self.sent_valid.is_empty()
        {
            let mut again =
                self.sent_valid[self.rng.random_range(0..self.sent_valid.len())].clone();
            again.kind = MessageKind::Duplicate;
            vec![again]
        } else if roll < config.malformed_rate + config.duplicate_rate + config.withdrawal_rate
            && !self.inventories.is_empty()
        {
            self.withdrawal()
        } else if roll
            < config.malformed_rate
                + config.duplicate_rate
                + config.withdrawal_rate
                + config.too_late_rate
            && self.summary.messages.values().sum::<u64>() >= TOO_LATE_AFTER
        {
            vec![self.too_late()]
        } else {
            self.new_declaration()
        };
        for message in &batch {
            *self.summary.messages.entry(message.kind).or_default() += 1;
            let root = message.message_type.as_str().to_owned();
            *self.summary.message_types.entry(root).or_default() += 1;
        }
        batch
    }

    /// The summary of everything generated so far.
    pub fn summary(&self) -> GeneratorSummary {
        let mut summary = self.summary.clone();
        summary.declared.clear();
        summary.counted.clear();
        for (id, counted) in &self.counted {
            add(
                summary.declared.entry(counted.key.clone()).or_default(),
                &counted.row,
            );
            if !self.withdrawn.contains_key(id) && !self.superseded.contains_key(id) {
                add(
                    summary.counted.entry(counted.key.clone()).or_default(),
                    &counted.row,
                );
            }
        }
        summary.total_cny = summary.counted.values().map(|row| row.value_cny).sum();
        summary.total_usd = summary.counted.values().map(|row| row.value_usd).sum();
        summary
    }

    fn next_id(&mut self, office: &str, direction: Direction) -> String {
        self.sequence += 1;
        let ie = if direction == Direction::Import { 0 } else { 1 };
        format!(
            "{office}{}{ie}{:09}",
            &self.config.month[..4],
            self.sequence
        )
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *items.choose(&mut self.rng).unwrap_or(&items[0])
    }

    fn new_declaration(&mut self) -> Vec<GeneratedMessage> {
        let total: u32 = self.config.mix.iter().map(|(_, weight)| weight).sum();
        let mut ticket = self.rng.random_range(0..total.max(1));
        let mut category = TradeCategory::GeneralTrade;
        for (candidate, weight) in &self.config.mix {
            if ticket < *weight {
                category = *candidate;
                break;
            }
            ticket -= weight;
        }
        let export = self.rng.random_bool(0.55);
        let (mode, direction, inventory) = match category {
            TradeCategory::GeneralTrade => ("0110", export, false),
            TradeCategory::ProcessingTrade => (self.pick(&["0214", "0615"]), export, false),
            TradeCategory::BondedLogistics => (self.pick(&["1233", "1234", "5034"]), export, false),
            TradeCategory::MarketProcurement => ("1039", true, false),
            TradeCategory::BorderTrade => ("4019", export, false),
            TradeCategory::Other => (self.pick(&["4561", "3010", "1523"]), export, false),
            TradeCategory::CrossBorderEcommerce => match self.rng.random_range(0..10) {
                0..=4 => ("9610", export, true),
                5..=6 => ("1210", false, true),
                7..=8 => ("9710", true, false),
                _ => ("9810", true, false),
            },
        };
        let direction = if direction {
            Direction::Export
        } else {
            Direction::Import
        };
        let late = self.rng.random_bool(self.config.late_rate.clamp(0.0, 1.0));
        let declaration = self.declaration(mode, direction, inventory, late);
        if late {
            self.summary.num_late += 1;
        }
        self.count(&declaration);
        if inventory {
            self.inventory_messages(declaration)
        } else {
            let message = GeneratedMessage {
                key: declaration.id.clone(),
                payload: render_dec_message(&declaration).into_bytes(),
                message_type: MessageType::DecMessage,
                kind: MessageKind::Declaration,
            };
            self.sent_valid.push(message.clone());
            vec![message]
        }
    }

    /// A general-trade declaration dated 13 months back; not counted.
    fn too_late(&mut self) -> GeneratedMessage {
        let mut declaration = self.declaration("0110", Direction::Export, false, false);
        let (year, month) = month_parts(&self.config.month);
        let (year, month) = shift_month(year, month, 13);
        if let Some(at) = declaration.declared_at.as_mut() {
            at.replace_range(..7, &format!("{year:04}-{month:02}"));
        }
        self.summary.num_too_late += 1;
        GeneratedMessage {
            key: declaration.id.clone(),
            payload: render_dec_message(&declaration).into_bytes(),
            message_type: MessageType::DecMessage,
            kind: MessageKind::TooLate,
        }
    }

    fn declaration(
        &mut self,
        mode: &str,
        direction: Direction,
        inventory: bool,
        late: bool,
    ) -> Declaration {
        let office = self.pick(OFFICES);
        let id = self.next_id(office, direction);
        let partner = self.pick(PARTNERS);
        let (year, month) = month_parts(&self.config.month);
        let (year, month) = if late {
            shift_month(year, month, 1)
        } else {
            (year, month)
        };
        let day = if late {
            self.rng.random_range(15..=28)
        } else {
            self.rng.random_range(1..=28)
        };
        let declared_at = format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            self.rng.random_range(0..24),
            self.rng.random_range(0..60),
            self.rng.random_range(0..60)
        );
        let num_items = if inventory {
            self.rng.random_range(1..=3)
        } else {
            self.rng.random_range(1..=8)
        };
        let currency = if inventory && direction == Direction::Import {
            "CNY"
        } else {
            self.pick(CURRENCIES)
        };
        let max_price_cents = if inventory { 10_000 } else { 20_000 };
        let items = (0..num_items)
            .map(|index| {
                let quantity =
                    Decimal::from(self.rng.random_range(1..=if inventory { 5 } else { 1_000 }));
                let unit_price = Decimal::new(self.rng.random_range(100..=max_price_cents), 2);
                // Imports under a DecMessage may mix origins: about one item
                // in four comes from another partner, as real declarations
                // do (items keep their own origin; the trade country stays).
                let country = if !inventory
                    && direction == Direction::Import
                    && self.rng.random_range(0..4) == 0
                {
                    Some(self.pick(PARTNERS).to_owned())
                } else {
                    Some(partner.to_owned())
                };
                Item {
                    item_no: index + 1,
                    commodity_code: self.pick(COMMODITIES).to_owned(),
                    quantity: Some(quantity),
                    unit: Some("007".to_owned()),
                    unit_price: Some(unit_price),
                    declared_total: Money {
                        amount: unit_price * quantity,
                        currency: currency.to_owned(),
                    },
                    origin_country: if direction == Direction::Import {
                        country.clone()
                    } else if inventory {
                        None
                    } else {
                        Some("CHN".to_owned())
                    },
                    destination_country: if direction == Direction::Export {
                        country
                    } else {
                        None
                    },
                    district_code: (!inventory).then(|| self.pick(DISTRICTS).to_owned()),
                }
            })
            .collect();
        let guid = inventory.then(|| guid(&mut self.rng));
        Declaration {
            id: guid.clone().unwrap_or(id),
            message_type: match (inventory, direction) {
                (false, _) => MessageType::DecMessage,
                (true, Direction::Export) => MessageType::Ceb603,
                (true, Direction::Import) => MessageType::Ceb621,
            },
            app_type: AppType::New,
            cop_no: guid
                .as_ref()
                .map(|_| format!("COP{}{:08}", &self.config.month[..4], self.sequence)),
            guid,
            direction,
            supervision_mode: mode.to_owned(),
            customs_office: office.to_owned(),
            ie_port: Some(office.to_owned()),
            trade_country: partner.to_owned(),
            transport_mode: Some(
                if inventory {
                    "5"
                } else {
                    self.pick(&["2", "2", "2", "5", "4", "3"])
                }
                .to_owned(),
            ),
            transaction_terms: (!inventory).then(|| {
                if direction == Direction::Export {
                    "3"
                } else {
                    "1"
                }
                .to_owned()
            }),
            declared_at: Some(declared_at),
            gross_weight_kg: Some(Decimal::new(self.rng.random_range(10..=9_000_000), 1)),
            net_weight_kg: None,
            statistics_flag: (inventory && direction == Direction::Export).then(|| "B".to_owned()),
            freight: None,
            insurance: None,
            other_costs: None,
            items,
        }
    }

    fn inventory_messages(&mut self, inventory: Declaration) -> Vec<GeneratedMessage> {
        let message_guid = guid(&mut self.rng);
        let inventory_message = GeneratedMessage {
            key: inventory.id.clone(),
            payload: render_inventories(std::slice::from_ref(&inventory), &message_guid)
                .into_bytes(),
            message_type: inventory.message_type,
            kind: MessageKind::Declaration,
        };
        let (receipt_type, final_status) = match inventory.direction {
            Direction::Import => (MessageType::Ceb622, 800),
            Direction::Export => (MessageType::Ceb604, 899),
        };
        let invt_no = format!(
            "{}{}{:010}",
            inventory.customs_office,
            &self.config.month[..4],
            self.sequence
        );
        let declared_at = inventory.declared_at.clone().unwrap_or_default();
        let receipts: Vec<Receipt> = [(2, ".000"), (final_status, ".500")]
            .into_iter()
            .map(|(status, millis)| Receipt {
                message_type: receipt_type,
                guid: inventory.id.clone(),
                cop_no: inventory.cop_no.clone(),
                pre_no: None,
                invt_no: (status == final_status).then(|| invt_no.clone()),
                status,
                returned_at: format!("{declared_at}{millis}"),
            })
            .collect();
        let receipt_message = GeneratedMessage {
            key: inventory.id.clone(),
            payload: render_receipts(receipt_type, &receipts, &guid(&mut self.rng)).into_bytes(),
            message_type: receipt_type,
            kind: MessageKind::Receipt,
        };
        let mut batch = vec![inventory_message.clone(), receipt_message];
        self.sent_valid.push(inventory_message);
        if inventory.direction == Direction::Export {
            self.inventory_by_invt_no
                .insert(invt_no.clone(), inventory.id.clone());
            self.pending_summary.push(invt_no);
            if self
                .rng
                .random_bool(self.config.summary_rate.clamp(0.0, 1.0))
            {
                batch.push(self.summary_message(&inventory.customs_office));
            }
        }
        self.inventories.push(inventory);
        batch
    }

    fn summary_message(&mut self, office: &str) -> GeneratedMessage {
        let mut invt_nos = std::mem::take(&mut self.pending_summary);
        invt_nos.sort_unstable();
        for invt_no in &invt_nos {
            if let Some(id) = self.inventory_by_invt_no.get(invt_no) {
                self.superseded.insert(id.clone(), ());
            }
        }
        let summary = SummaryResult {
            guid: guid(&mut self.rng),
            entry_id: Some(self.next_id(office, Direction::Export)),
            summary_no: None,
            decl_seq_no: None,
            customs_office: office.to_owned(),
            invt_nos,
            operated_at: None,
        };
        GeneratedMessage {
            key: summary.id().to_owned(),
            payload: render_summaries(std::slice::from_ref(&summary), &guid(&mut self.rng))
                .into_bytes(),
            message_type: MessageType::Ceb792,
            kind: MessageKind::SummaryResult,
        }
    }

    fn count(&mut self, declaration: &Declaration) {
        let Ok(classification) = classify(declaration, self.tables) else {
            return;
        };
        let Ok(valuation) = value(declaration, self.tables) else {
            return;
        };
        if !classification.in_trade_statistics {
            return;
        }
        let key = format!(
            "{}/{}",
            classification.category.as_str(),
            declaration.direction.as_str()
        );
        let row = SummaryRow {
            num_declarations: 1,
            num_items: declaration.items.len() as u64,
            value_cny: valuation.total_cny,
            value_usd: valuation.total_usd,
        };
        self.counted
            .insert(declaration.id.clone(), Counted { key, row });
    }
}

fn guid(rng: &mut ChaCha8Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

fn month_parts(month: &str) -> (u32, u32) {
    let year = month.get(..4).and_then(|y| y.parse().ok()).unwrap_or(2026);
    let month = month.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    (year, month)
}

fn shift_month(year: u32, month: u32, back: u32) -> (u32, u32) {
    let index = year * 12 + month - 1 - back;
    (index / 12, index % 12 + 1)
}

mod faults;
mod summary;
#[cfg(test)]
mod tests;

use summary::add;
pub use summary::{GeneratorSummary, SummaryRow};
