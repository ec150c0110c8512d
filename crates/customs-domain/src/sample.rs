//! A small deterministic feed of realistic declarations, for the demo and the
//! end-to-end tests (the full seeded generator is `customs generate`).
//!
//! The mix follows the shape of published statistics: general trade first,
//! then processing trade, bonded logistics, cross-border e-commerce, market
//! procurement, border trade and other.

use rust_decimal::Decimal;

use crate::classify::{ClassifiedDeclaration, classify};
use crate::codes::CodeTables;
use crate::model::{AppType, Declaration, Direction, Item, MessageType, Money};
use crate::reject::RejectReason;
use crate::valuation::value;

/// (supervision mode, direction) pairs in feed order; one cycle is 20 rows.
const MIX: &[(&str, Direction)] = &[
    ("0110", Direction::Export),
    ("0110", Direction::Import),
    ("0110", Direction::Export),
    ("0110", Direction::Import),
    ("0110", Direction::Export),
    ("0110", Direction::Import),
    ("0615", Direction::Export),
    ("0615", Direction::Import),
    ("0214", Direction::Export),
    ("1233", Direction::Import),
    ("5034", Direction::Export),
    ("9610", Direction::Export),
    ("9610", Direction::Import),
    ("1210", Direction::Import),
    ("9710", Direction::Export),
    ("9810", Direction::Export),
    ("1039", Direction::Export),
    ("1039", Direction::Export),
    ("4019", Direction::Import),
    ("4561", Direction::Import),
];

const PARTNERS: &[&str] = &["USA", "JPN", "DEU", "KOR", "HKG", "VNM", "AUS", "GBR"];
const CURRENCIES: &[&str] = &["USD", "USD", "USD", "EUR", "JPY", "CNY"];
const OFFICES: &[&str] = &["2921", "2244", "5316", "2225", "0101"];
const DISTRICTS: &[&str] = &["33189", "31011", "44030", "32059", "11010"];
const COMMODITIES: &[&str] = &[
    "6403990090",
    "8517130000",
    "9503008900",
    "8471300000",
    "6109100010",
];

/// `count` valid declarations with distinct 18-digit EntryIds.
pub fn sample_declarations(count: usize) -> Vec<Declaration> {
    (0..count).map(sample_declaration).collect()
}

/// The first `count` sample declarations as normalize would publish them:
/// those that classify and value under `tables`, with both.
pub fn sample_classified(count: usize, tables: &CodeTables) -> Vec<ClassifiedDeclaration> {
    sample_declarations(count)
        .into_iter()
        .filter_map(|declaration| {
            Some(ClassifiedDeclaration {
                classification: classify(&declaration, tables).ok()?,
                valuation: value(&declaration, tables).ok()?,
                declaration,
            })
        })
        .collect()
}

fn sample_declaration(index: usize) -> Declaration {
    let (mode, direction) = MIX[index % MIX.len()];
    let office = OFFICES[index % OFFICES.len()];
    let ie_digit = match direction {
        Direction::Import => 0,
        Direction::Export => 1,
    };
    let partner = PARTNERS[index % PARTNERS.len()];
    let num_items = 1 + index % 3;
    let items = (0..num_items)
        .map(|item| {
            let quantity = Decimal::from(1 + (index * 31 + item * 17) % 500);
            let unit_price =
                Decimal::new(100 + ((index * 7_919 + item * 104_729) % 99_900) as i64, 2);
            let (origin, destination) = match direction {
                Direction::Import => (Some(partner.to_owned()), None),
                Direction::Export => (Some("CHN".to_owned()), Some(partner.to_owned())),
            };
            Item {
                item_no: item as u32 + 1,
                commodity_code: COMMODITIES[(index + item) % COMMODITIES.len()].to_owned(),
                quantity: Some(quantity),
                unit: Some("007".to_owned()),
                unit_price: Some(unit_price),
                declared_total: Money {
                    amount: unit_price * quantity,
                    currency: CURRENCIES[(index + item) % CURRENCIES.len()].to_owned(),
                },
                origin_country: origin,
                destination_country: destination,
                district_code: Some(DISTRICTS[(index + item) % DISTRICTS.len()].to_owned()),
            }
        })
        .collect();
    Declaration {
        id: format!("{office}2026{ie_digit}{:09}", index + 1),
        message_type: MessageType::DecMessage,
        app_type: AppType::New,
        guid: None,
        cop_no: None,
        direction,
        supervision_mode: mode.to_owned(),
        customs_office: office.to_owned(),
        ie_port: Some(office.to_owned()),
        trade_country: partner.to_owned(),
        transport_mode: Some(["2", "5", "4", "3"][index % 4].to_owned()),
        transaction_terms: Some(
            if direction == Direction::Export {
                "3"
            } else {
                "1"
            }
            .to_owned(),
        ),
        declared_at: Some(format!(
            "2026-11-{:02}T{:02}:{:02}:00",
            1 + index % 26,
            index % 24,
            index % 60
        )),
        gross_weight_kg: Some(Decimal::new(1_000 + (index as i64 * 37) % 90_000, 1)),
        net_weight_kg: Some(Decimal::new(900 + (index as i64 * 37) % 80_000, 1)),
        statistics_flag: None,
        freight: None,
        insurance: None,
        other_costs: None,
        items,
    }
}

/// Broken inputs with the reason each must be rejected for, and the stage
/// that rejects it (`ingest` or `normalize`).
pub fn sample_rejects() -> Vec<(Vec<u8>, RejectReason, &'static str)> {
    let first = sample_declaration(0);
    let valid = crate::render::render_dec_message(&first);
    let entry_id = format!("<EntryId>{}</EntryId>", first.id);
    vec![
        (
            b"<DecMessage><DecHead>".to_vec(),
            RejectReason::MalformedXml,
            "ingest",
        ),
        (
            b"<CustomsReport/>".to_vec(),
            RejectReason::UnknownRoot,
            "ingest",
        ),
        (
            valid
                .replacen(&entry_id, "<EntryId></EntryId>", 1)
                .into_bytes(),
            RejectReason::MissingField,
            "ingest",
        ),
        (
            valid
                .replacen(
                    "<TradeCurr>USD</TradeCurr>",
                    "<TradeCurr>ZZZ</TradeCurr>",
                    1,
                )
                .into_bytes(),
            RejectReason::UnknownCurrency,
            "ingest",
        ),
        (
            b"<DecMessage>\xff\xfe</DecMessage>".to_vec(),
            RejectReason::InvalidEncoding,
            "ingest",
        ),
        (
            valid
                .replacen(
                    "<TradeMode>0110</TradeMode>",
                    "<TradeMode>7777</TradeMode>",
                    1,
                )
                .into_bytes(),
            RejectReason::UnknownSupervisionMode,
            "normalize",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::CodeTables;
    use crate::model::Event;
    use crate::parse::{ParseLimits, parse_message};
    use crate::render::render_dec_message;

    #[test]
    fn samples_round_trip_through_xml() {
        let tables = CodeTables::embedded();
        for declaration in sample_declarations(60) {
            let xml = render_dec_message(&declaration);
            let parsed = parse_message(xml.as_bytes(), &tables, ParseLimits::default());
            assert_eq!(parsed, Ok(vec![Event::Declaration(declaration)]));
        }
    }

    #[test]
    fn rejects_fail_for_their_stated_reason() {
        let tables = CodeTables::embedded();
        for (payload, reason, stage) in sample_rejects() {
            let parsed = parse_message(&payload, &tables, ParseLimits::default());
            match stage {
                "ingest" => assert_eq!(parsed.err().map(|r| r.reason), Some(reason)),
                _ => {
                    let Some(Event::Declaration(declaration)) =
                        parsed.unwrap_or_else(|r| panic!("{r}")).pop()
                    else {
                        panic!("expected a declaration");
                    };
                    let classified = crate::classify::classify(&declaration, &tables);
                    assert_eq!(classified.err().map(|r| r.reason), Some(reason));
                }
            }
        }
    }
}
