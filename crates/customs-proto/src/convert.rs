//! Conversions between `customs.v1` messages and the domain model.
//!
//! Domain → proto is infallible. Proto → domain checks what the wire cannot:
//! enums that are set, oneofs that are present, decimal strings that parse.
//! A failure is a [`ConversionError`], which the services treat as poison.
//! Optional text is an empty string on the wire and `None` in the domain.

use std::str::FromStr;

use customs_domain::valuation::Valuation;
use customs_domain::{
    AppType, Classification, ClassifiedDeclaration, Declaration, Direction, Event, Item,
    MessageType, Money, Receipt, SummaryResult, TradeCategory,
};
use rust_decimal::Decimal;

use crate::v1;

mod costs;
use customs_domain::model::Cost;

/// A protobuf record that does not describe a valid domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    /// A required enum is unspecified or unknown.
    #[error("field {0} is unspecified or unknown")]
    Unspecified(&'static str),
    /// A required message or oneof is absent.
    #[error("message {0} is missing")]
    Missing(&'static str),
    /// A decimal field is not a decimal string.
    #[error("field {0} is not a decimal")]
    Decimal(&'static str),
}

fn opt(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

fn decimal(text: &str, field: &'static str) -> Result<Decimal, ConversionError> {
    Decimal::from_str(text).map_err(|_| ConversionError::Decimal(field))
}

fn opt_decimal(text: &str, field: &'static str) -> Result<Option<Decimal>, ConversionError> {
    if text.is_empty() {
        return Ok(None);
    }
    decimal(text, field).map(Some)
}

fn decimal_text(value: Option<Decimal>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn message_type(name: &str) -> Result<MessageType, ConversionError> {
    MessageType::from_root(name).ok_or(ConversionError::Unspecified("message_type"))
}

impl From<Direction> for v1::Direction {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Import => v1::Direction::Import,
            Direction::Export => v1::Direction::Export,
        }
    }
}

impl TryFrom<v1::Direction> for Direction {
    type Error = ConversionError;

    fn try_from(direction: v1::Direction) -> Result<Self, Self::Error> {
        match direction {
            v1::Direction::Import => Ok(Direction::Import),
            v1::Direction::Export => Ok(Direction::Export),
            v1::Direction::Unspecified => Err(ConversionError::Unspecified("direction")),
        }
    }
}

impl From<TradeCategory> for v1::TradeCategory {
    fn from(category: TradeCategory) -> Self {
        match category {
            TradeCategory::CrossBorderEcommerce => v1::TradeCategory::CrossBorderEcommerce,
            TradeCategory::MarketProcurement => v1::TradeCategory::MarketProcurement,
            TradeCategory::GeneralTrade => v1::TradeCategory::GeneralTrade,
            TradeCategory::ProcessingTrade => v1::TradeCategory::ProcessingTrade,
            TradeCategory::BondedLogistics => v1::TradeCategory::BondedLogistics,
            TradeCategory::BorderTrade => v1::TradeCategory::BorderTrade,
            TradeCategory::Other => v1::TradeCategory::Other,
        }
    }
}

impl TryFrom<v1::TradeCategory> for TradeCategory {
    type Error = ConversionError;

    fn try_from(category: v1::TradeCategory) -> Result<Self, Self::Error> {
        TradeCategory::ALL
            .into_iter()
            .find(|candidate| v1::TradeCategory::from(*candidate) == category)
            .ok_or(ConversionError::Unspecified("category"))
    }
}

impl From<AppType> for v1::AppType {
    fn from(app_type: AppType) -> Self {
        match app_type {
            AppType::New => v1::AppType::New,
            AppType::Change => v1::AppType::Change,
            AppType::Delete => v1::AppType::Delete,
        }
    }
}

impl TryFrom<v1::AppType> for AppType {
    type Error = ConversionError;

    fn try_from(app_type: v1::AppType) -> Result<Self, Self::Error> {
        match app_type {
            v1::AppType::New => Ok(AppType::New),
            v1::AppType::Change => Ok(AppType::Change),
            v1::AppType::Delete => Ok(AppType::Delete),
            v1::AppType::Unspecified => Err(ConversionError::Unspecified("app_type")),
        }
    }
}

impl From<&Money> for v1::Money {
    fn from(money: &Money) -> Self {
        v1::Money {
            amount: money.amount.to_string(),
            currency: money.currency.clone(),
        }
    }
}

impl TryFrom<v1::Money> for Money {
    type Error = ConversionError;

    fn try_from(money: v1::Money) -> Result<Self, Self::Error> {
        Ok(Money {
            amount: decimal(&money.amount, "amount")?,
            currency: money.currency,
        })
    }
}

impl From<&Item> for v1::Item {
    fn from(item: &Item) -> Self {
        v1::Item {
            item_no: item.item_no,
            commodity_code: item.commodity_code.clone(),
            declared_total: Some(v1::Money::from(&item.declared_total)),
            origin_country: text(&item.origin_country),
            destination_country: text(&item.destination_country),
            quantity: decimal_text(item.quantity),
            unit: text(&item.unit),
            unit_price: decimal_text(item.unit_price),
            district_code: text(&item.district_code),
        }
    }
}

impl TryFrom<v1::Item> for Item {
    type Error = ConversionError;

    fn try_from(item: v1::Item) -> Result<Self, Self::Error> {
        let money = item
            .declared_total
            .ok_or(ConversionError::Missing("declared_total"))?;
        Ok(Item {
            item_no: item.item_no,
            commodity_code: item.commodity_code,
            quantity: opt_decimal(&item.quantity, "quantity")?,
            unit: opt(item.unit),
            unit_price: opt_decimal(&item.unit_price, "unit_price")?,
            declared_total: Money::try_from(money)?,
            origin_country: opt(item.origin_country),
            destination_country: opt(item.destination_country),
            district_code: opt(item.district_code),
        })
    }
}

impl From<&Declaration> for v1::Declaration {
    fn from(declaration: &Declaration) -> Self {
        v1::Declaration {
            id: declaration.id.clone(),
            message_type: declaration.message_type.as_str().to_owned(),
            direction: v1::Direction::from(declaration.direction).into(),
            supervision_mode: declaration.supervision_mode.clone(),
            customs_office: declaration.customs_office.clone(),
            trade_country: declaration.trade_country.clone(),
            declared_at: text(&declaration.declared_at),
            items: declaration.items.iter().map(v1::Item::from).collect(),
            app_type: v1::AppType::from(declaration.app_type).into(),
            guid: text(&declaration.guid),
            cop_no: text(&declaration.cop_no),
            ie_port: text(&declaration.ie_port),
            transport_mode: text(&declaration.transport_mode),
            transaction_terms: text(&declaration.transaction_terms),
            gross_weight_kg: decimal_text(declaration.gross_weight_kg),
            net_weight_kg: decimal_text(declaration.net_weight_kg),
            statistics_flag: text(&declaration.statistics_flag),
            freight: declaration.freight.as_ref().map(v1::Cost::from),
            insurance: declaration.insurance.as_ref().map(v1::Cost::from),
            other_costs: declaration.other_costs.as_ref().map(v1::Cost::from),
        }
    }
}

impl TryFrom<v1::Declaration> for Declaration {
    type Error = ConversionError;

    fn try_from(declaration: v1::Declaration) -> Result<Self, Self::Error> {
        Ok(Declaration {
            direction: Direction::try_from(declaration.direction())?,
            app_type: AppType::try_from(declaration.app_type())?,
            message_type: message_type(&declaration.message_type)?,
            gross_weight_kg: opt_decimal(&declaration.gross_weight_kg, "gross_weight_kg")?,
            net_weight_kg: opt_decimal(&declaration.net_weight_kg, "net_weight_kg")?,
            items: declaration
                .items
                .into_iter()
                .map(Item::try_from)
                .collect::<Result<_, _>>()?,
            id: declaration.id,
            supervision_mode: declaration.supervision_mode,
            customs_office: declaration.customs_office,
            trade_country: declaration.trade_country,
            declared_at: opt(declaration.declared_at),
            guid: opt(declaration.guid),
            cop_no: opt(declaration.cop_no),
            ie_port: opt(declaration.ie_port),
            transport_mode: opt(declaration.transport_mode),
            transaction_terms: opt(declaration.transaction_terms),
            statistics_flag: opt(declaration.statistics_flag),
            freight: declaration.freight.map(Cost::try_from).transpose()?,
            insurance: declaration.insurance.map(Cost::try_from).transpose()?,
            other_costs: declaration.other_costs.map(Cost::try_from).transpose()?,
        })
    }
}

impl From<&Receipt> for v1::Receipt {
    fn from(receipt: &Receipt) -> Self {
        v1::Receipt {
            message_type: receipt.message_type.as_str().to_owned(),
            guid: receipt.guid.clone(),
            cop_no: text(&receipt.cop_no),
            pre_no: text(&receipt.pre_no),
            invt_no: text(&receipt.invt_no),
            status: receipt.status,
            returned_at: receipt.returned_at.clone(),
        }
    }
}

impl TryFrom<v1::Receipt> for Receipt {
    type Error = ConversionError;

    fn try_from(receipt: v1::Receipt) -> Result<Self, Self::Error> {
        Ok(Receipt {
            message_type: message_type(&receipt.message_type)?,
            guid: receipt.guid,
            cop_no: opt(receipt.cop_no),
            pre_no: opt(receipt.pre_no),
            invt_no: opt(receipt.invt_no),
            status: receipt.status,
            returned_at: receipt.returned_at,
        })
    }
}

impl From<&SummaryResult> for v1::SummaryResult {
    fn from(summary: &SummaryResult) -> Self {
        v1::SummaryResult {
            guid: summary.guid.clone(),
            entry_id: text(&summary.entry_id),
            summary_no: text(&summary.summary_no),
            decl_seq_no: text(&summary.decl_seq_no),
            customs_office: summary.customs_office.clone(),
            invt_nos: summary.invt_nos.clone(),
            operated_at: text(&summary.operated_at),
        }
    }
}

impl From<v1::SummaryResult> for SummaryResult {
    fn from(summary: v1::SummaryResult) -> Self {
        SummaryResult {
            guid: summary.guid,
            entry_id: opt(summary.entry_id),
            summary_no: opt(summary.summary_no),
            decl_seq_no: opt(summary.decl_seq_no),
            customs_office: summary.customs_office,
            invt_nos: summary.invt_nos,
            operated_at: opt(summary.operated_at),
        }
    }
}

impl From<&Event> for v1::event::Kind {
    fn from(event: &Event) -> Self {
        match event {
            Event::Declaration(declaration) => v1::event::Kind::Declaration(declaration.into()),
            Event::Receipt(receipt) => v1::event::Kind::Receipt(receipt.into()),
            Event::SummaryResult(summary) => v1::event::Kind::SummaryResult(summary.into()),
        }
    }
}

impl TryFrom<v1::Event> for Event {
    type Error = ConversionError;

    fn try_from(event: v1::Event) -> Result<Self, Self::Error> {
        match event.kind.ok_or(ConversionError::Missing("event.kind"))? {
            v1::event::Kind::Declaration(declaration) => {
                Declaration::try_from(declaration).map(Event::Declaration)
            }
            v1::event::Kind::Receipt(receipt) => Receipt::try_from(receipt).map(Event::Receipt),
            v1::event::Kind::SummaryResult(summary) => Ok(Event::SummaryResult(summary.into())),
        }
    }
}

impl From<&Valuation> for v1::Valuation {
    fn from(valuation: &Valuation) -> Self {
        v1::Valuation {
            month: valuation.month.clone(),
            total_cny: valuation.total_cny.to_string(),
            total_usd: valuation.total_usd.to_string(),
            items: valuation
                .items
                .iter()
                .map(|item| v1::ItemValue {
                    item_no: item.item_no,
                    cny: item.cny.to_string(),
                    usd: item.usd.to_string(),
                })
                .collect(),
            flag: valuation
                .flag
                .map(|flag| flag.as_str().to_owned())
                .unwrap_or_default(),
        }
    }
}

impl From<&ClassifiedDeclaration> for v1::ClassifiedDeclaration {
    fn from(classified: &ClassifiedDeclaration) -> Self {
        let classification = &classified.classification;
        v1::ClassifiedDeclaration {
            declaration: Some(v1::Declaration::from(&classified.declaration)),
            category: v1::TradeCategory::from(classification.category).into(),
            subcategory: text(&classification.subcategory),
            statistics_group: classification.statistics_group.clone(),
            explanation: classification.explanation.clone(),
            flag: text(&classification.flag),
            in_trade_statistics: classification.in_trade_statistics,
            valuation: Some(v1::Valuation::from(&classified.valuation)),
        }
    }
}

impl TryFrom<v1::ClassifiedDeclaration> for ClassifiedDeclaration {
    type Error = ConversionError;

    fn try_from(classified: v1::ClassifiedDeclaration) -> Result<Self, Self::Error> {
        let category = TradeCategory::try_from(classified.category())?;
        let declaration = classified
            .declaration
            .ok_or(ConversionError::Missing("declaration"))?;
        let valuation = classified
            .valuation
            .ok_or(ConversionError::Missing("valuation"))?;
        Ok(ClassifiedDeclaration {
            declaration: Declaration::try_from(declaration)?,
            classification: Classification {
                category,
                subcategory: opt(classified.subcategory),
                statistics_group: classified.statistics_group,
                explanation: classified.explanation,
                flag: opt(classified.flag),
                in_trade_statistics: classified.in_trade_statistics,
            },
            valuation: Valuation {
                total_cny: decimal(&valuation.total_cny, "total_cny")?,
                total_usd: decimal(&valuation.total_usd, "total_usd")?,
                items: valuation
                    .items
                    .iter()
                    .map(|item| {
                        Ok(customs_domain::valuation::ItemValue {
                            item_no: item.item_no,
                            cny: decimal(&item.cny, "items.cny")?,
                            usd: decimal(&item.usd, "items.usd")?,
                        })
                    })
                    .collect::<Result<_, ConversionError>>()?,
                flag: costs::value_flag(&valuation.flag)?,
                month: valuation.month,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use customs_domain::parse::{ParseLimits, parse_message};
    use customs_domain::{CodeTables, classify, value};
    use prost::Message;

    use super::*;

    #[test]
    fn classified_declaration_survives_the_wire() {
        let tables = CodeTables::embedded();
        // Moved into a month the shipped exchange-rate table covers.
        let xml = include_str!("../../customs-domain/fixtures/dec_export_general_trade.xml")
            .replace(
                "<DDate>20180118164707</DDate>",
                "<DDate>20261118164707</DDate>",
            )
            // Declared costs and a flagged valuation (an EXW export) travel too.
            .replace("<TransMode>3</TransMode>", "<TransMode>7</TransMode>")
            .replace(
                "<GrossWet>",
                "<FeeMark>2</FeeMark><FeeRate>24</FeeRate><FeeCurr>502</FeeCurr>\
                 <InsurMark>1</InsurMark><InsurRate>0.3</InsurRate>\
                 <OtherMark>3</OtherMark><OtherRate>15.5</OtherRate><OtherCurr>CNY</OtherCurr><GrossWet>",
            );
        let Some(Event::Declaration(declaration)) =
            parse_message(xml.as_bytes(), &tables, ParseLimits::default())
                .unwrap_or_else(|r| panic!("{r}"))
                .pop()
        else {
            panic!("expected a declaration");
        };
        let classification = classify(&declaration, &tables).unwrap_or_else(|r| panic!("{r}"));
        let valuation = value(&declaration, &tables).unwrap_or_else(|r| panic!("{r}"));
        assert!(declaration.freight.is_some() && declaration.other_costs.is_some());
        assert_eq!(
            valuation.flag,
            Some(customs_domain::valuation::ValueFlag::ExwExport)
        );
        let classified = ClassifiedDeclaration {
            declaration,
            classification,
            valuation: valuation.clone(),
        };
        let bytes = v1::ClassifiedDeclaration::from(&classified).encode_to_vec();
        let decoded = v1::ClassifiedDeclaration::decode(bytes.as_slice())
            .map_err(|e| e.to_string())
            .and_then(|m| ClassifiedDeclaration::try_from(m).map_err(|e| e.to_string()));
        // Per-item values travel too: the aggregate's item-level slices need them.
        assert_eq!(
            decoded,
            Ok(ClassifiedDeclaration {
                valuation,
                ..classified
            })
        );
    }

    #[test]
    fn every_event_kind_survives_the_wire() {
        let tables = CodeTables::embedded();
        let fixtures = [
            include_str!("../../customs-domain/fixtures/ceb621_import_inventory.xml"),
            include_str!("../../customs-domain/fixtures/ceb622_receipts.xml"),
            include_str!("../../customs-domain/fixtures/ceb792_summary_result.xml"),
        ];
        for xml in fixtures {
            for event in parse_message(xml.as_bytes(), &tables, ParseLimits::default())
                .unwrap_or_else(|r| panic!("{r}"))
            {
                let wire = v1::Event {
                    kind: Some(v1::event::Kind::from(&event)),
                    source: None,
                };
                let decoded = v1::Event::decode(wire.encode_to_vec().as_slice())
                    .map_err(|e| e.to_string())
                    .and_then(|m| Event::try_from(m).map_err(|e| e.to_string()));
                assert_eq!(decoded, Ok(event));
            }
        }
    }

    #[test]
    fn unspecified_direction_is_an_error() {
        let got = Declaration::try_from(v1::Declaration::default()).err();
        assert_eq!(got, Some(ConversionError::Unspecified("direction")));
    }
}
