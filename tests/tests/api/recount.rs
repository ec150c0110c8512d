//! An independent batch recount of a generated feed, for the API test: parse
//! every message with the domain crate, classify and value each declaration,
//! and apply the lifecycle rules by hand (README "Delivery
//! guarantees") — first occurrence counts, an inventory counts at its
//! earliest 800/899 receipt, a `DecMessage` at its declaration time,
//! withdrawals and summarised inventories do not count, too-late
//! declarations never do. Nothing here uses the aggregate's lifecycle,
//! panes or query code.

use std::collections::{BTreeMap, BTreeSet};

use customs_domain::generator::{GeneratedMessage, MessageKind};
use customs_domain::model::{AppType, Direction, Event, MessageType};
use customs_domain::parse::{ParseLimits, parse_message};
use customs_domain::stats::time::{Minute, parse_minute};
use customs_domain::{CodeTables, classify, value};
use rust_decimal::Decimal;

/// One goods item of a counted declaration.
#[derive(Debug, Clone)]
pub struct ItemFact {
    pub partner: String,
    pub province: String,
    pub chapter: String,
    pub currency: String,
    pub cny: Decimal,
    pub usd: Decimal,
}

/// A declaration as the statistics should count it.
#[derive(Debug, Clone)]
pub struct Counted {
    pub key: String,
    pub category: String,
    pub direction: String,
    pub minute: Minute,
    pub items: Vec<ItemFact>,
    pub cny: Decimal,
    pub usd: Decimal,
    pub is_dec_message: bool,
}

/// Expected exact measures of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub num_declarations: u64,
    pub num_items: u64,
    pub cny: Decimal,
    pub usd: Decimal,
}

/// What the recount found.
pub struct Recount {
    /// Counted declarations by lifecycle key.
    pub counted: BTreeMap<String, Counted>,
    /// Keys withdrawn after their declaration arrived.
    pub withdrawn: BTreeSet<String>,
    /// Keys whose inventory a summary result replaced.
    pub superseded: BTreeSet<String>,
}

struct Seen {
    counted: Counted,
    released: Option<Minute>,
    in_statistics: bool,
}

/// Recounts `messages`.
pub fn recount(messages: &[GeneratedMessage], tables: &CodeTables) -> Recount {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut releases: BTreeMap<String, Minute> = BTreeMap::new();
    let mut withdrawn = BTreeSet::new();
    let mut key_by_invt_no = BTreeMap::new();
    let mut summarised = Vec::new();
    for message in messages {
        if matches!(message.kind, MessageKind::TooLate | MessageKind::Malformed) {
            continue;
        }
        let events = parse_message(&message.payload, tables, ParseLimits::default())
            .unwrap_or_else(|r| panic!("{:?} rejected: {r}", message.kind));
        for event in events {
            match event {
                Event::Receipt(receipt) => {
                    if let Some(invt_no) = &receipt.invt_no {
                        key_by_invt_no.insert(invt_no.clone(), receipt.guid.clone());
                    }
                    if matches!(receipt.status, 800 | 899) {
                        let at = parse_minute(&receipt.returned_at).expect("receipt time");
                        let release = releases.entry(receipt.guid.clone()).or_insert(at);
                        *release = (*release).min(at);
                    }
                }
                Event::SummaryResult(summary) => summarised.extend(summary.invt_nos),
                Event::Declaration(declaration) => {
                    let key = declaration
                        .guid
                        .clone()
                        .unwrap_or_else(|| declaration.id.clone());
                    if declaration.app_type == AppType::Delete {
                        withdrawn.insert(key);
                        continue;
                    }
                    if seen.contains_key(&key) {
                        continue;
                    }
                    let classification = classify(&declaration, tables).expect("classifies");
                    let valuation = value(&declaration, tables).expect("values");
                    let values: BTreeMap<u32, (Decimal, Decimal)> = valuation
                        .items
                        .iter()
                        .map(|item| (item.item_no, (item.cny, item.usd)))
                        .collect();
                    let items = declaration
                        .items
                        .iter()
                        .map(|item| {
                            let partner = match declaration.direction {
                                Direction::Import => item.origin_country.clone(),
                                Direction::Export => item.destination_country.clone(),
                            };
                            let (cny, usd) = values[&item.item_no];
                            ItemFact {
                                partner: partner
                                    .unwrap_or_else(|| declaration.trade_country.clone()),
                                province: item
                                    .district_code
                                    .as_deref()
                                    .map(|code| code[..2].to_owned())
                                    .unwrap_or_default(),
                                chapter: item.commodity_code[..2].to_owned(),
                                currency: item.declared_total.currency.clone(),
                                cny,
                                usd,
                            }
                        })
                        .collect();
                    let is_dec_message = declaration.message_type == MessageType::DecMessage;
                    let declared = declaration.declared_at.as_deref().and_then(parse_minute);
                    seen.insert(
                        key.clone(),
                        Seen {
                            counted: Counted {
                                key,
                                category: classification.category.as_str().to_owned(),
                                direction: declaration.direction.as_str().to_owned(),
                                minute: 0,
                                items,
                                cny: valuation.total_cny,
                                usd: valuation.total_usd,
                                is_dec_message,
                            },
                            released: if is_dec_message { declared } else { None },
                            in_statistics: classification.in_trade_statistics,
                        },
                    );
                }
            }
        }
    }
    let superseded: BTreeSet<String> = summarised
        .iter()
        .filter_map(|invt_no| key_by_invt_no.get(invt_no).cloned())
        .collect();
    let counted = seen
        .into_iter()
        .filter_map(|(key, seen)| {
            let minute = seen.released.or_else(|| releases.get(&key).copied())?;
            let excluded =
                withdrawn.contains(&key) || superseded.contains(&key) || !seen.in_statistics;
            (!excluded).then(|| {
                let mut counted = seen.counted;
                counted.minute = minute;
                (key, counted)
            })
        })
        .collect();
    Recount {
        counted,
        withdrawn,
        superseded,
    }
}

impl Recount {
    /// Exact measures per group over `[from, to)`, grouping each item by
    /// `group`. A declaration counts once per group it has items in.
    pub fn expected(
        &self,
        bounds: (Minute, Minute),
        group: impl Fn(&Counted, &ItemFact) -> Vec<String>,
    ) -> BTreeMap<Vec<String>, Expected> {
        self.expected_in(bounds, |counted, item| vec![group(counted, item)])
    }

    /// Like [`Recount::expected`], with any number of groups per item:
    /// none (filtered out) or several (overlapping groups). A declaration
    /// counts once in every group any of its items is in.
    pub fn expected_in(
        &self,
        (from, to): (Minute, Minute),
        groups_of: impl Fn(&Counted, &ItemFact) -> Vec<Vec<String>>,
    ) -> BTreeMap<Vec<String>, Expected> {
        let mut groups: BTreeMap<Vec<String>, Expected> = BTreeMap::new();
        for counted in self.counted.values() {
            if counted.minute < from || counted.minute >= to {
                continue;
            }
            let mut counted_in = BTreeSet::new();
            for item in &counted.items {
                for key in groups_of(counted, item) {
                    let expected = groups.entry(key.clone()).or_default();
                    if counted_in.insert(key) {
                        expected.num_declarations += 1;
                    }
                    expected.num_items += 1;
                    expected.cny += item.cny;
                    expected.usd += item.usd;
                }
            }
        }
        groups
    }
}
