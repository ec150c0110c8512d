//! Conversions between `customs.v1` messages and the domain model.
//!
//! Domain → proto is infallible. Proto → domain checks what the wire cannot:
//! enums that are set, decimal strings that parse. A failure is a
//! [`ConversionError`], which the services treat as a poison record.

use std::str::FromStr;

use customs_domain::{
    Classification, ClassifiedDeclaration, Declaration, Direction, Item, Money, TradeCategory,
};
use rust_decimal::Decimal;

use crate::v1;

/// A protobuf record that does not describe a valid domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    /// A required enum is unspecified or unknown.
    #[error("field {0} is unspecified or unknown")]
    Unspecified(&'static str),
    /// A required message is absent.
    #[error("message {0} is missing")]
    Missing(&'static str),
    /// A money amount is not a decimal string.
    #[error("amount {0:?} is not a decimal")]
    Amount(String),
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

impl From<&Money> for v1::Money {
    fn from(money: &Money) -> Self {
        v1::Money {
            amount: money.amount_string(),
            currency: money.currency.clone(),
        }
    }
}

impl TryFrom<v1::Money> for Money {
    type Error = ConversionError;

    fn try_from(money: v1::Money) -> Result<Self, Self::Error> {
        let amount =
            Decimal::from_str(&money.amount).map_err(|_| ConversionError::Amount(money.amount))?;
        Ok(Money {
            amount,
            currency: money.currency,
        })
    }
}

impl From<&Declaration> for v1::Declaration {
    fn from(declaration: &Declaration) -> Self {
        v1::Declaration {
            id: declaration.id.clone(),
            message_type: declaration.message_type.clone(),
            direction: v1::Direction::from(declaration.direction).into(),
            supervision_mode: declaration.supervision_mode.clone(),
            customs_office: declaration.customs_office.clone(),
            partner_country: declaration.partner_country.clone(),
            declared_at: declaration.declared_at.clone(),
            items: declaration
                .items
                .iter()
                .map(|item| v1::Item {
                    item_no: item.item_no,
                    commodity_code: item.commodity_code.clone(),
                    declared_total: Some(v1::Money::from(&item.declared_total)),
                    origin_country: item.origin_country.clone().unwrap_or_default(),
                })
                .collect(),
            source_topic: String::new(),
            source_partition: 0,
            source_offset: 0,
        }
    }
}

impl TryFrom<v1::Declaration> for Declaration {
    type Error = ConversionError;

    fn try_from(declaration: v1::Declaration) -> Result<Self, Self::Error> {
        let direction = Direction::try_from(declaration.direction())?;
        let items = declaration
            .items
            .into_iter()
            .map(|item| {
                let money = item
                    .declared_total
                    .ok_or(ConversionError::Missing("declared_total"))?;
                Ok(Item {
                    item_no: item.item_no,
                    commodity_code: item.commodity_code,
                    declared_total: Money::try_from(money)?,
                    origin_country: (!item.origin_country.is_empty())
                        .then_some(item.origin_country),
                })
            })
            .collect::<Result<_, ConversionError>>()?;
        Ok(Declaration {
            id: declaration.id,
            message_type: declaration.message_type,
            direction,
            supervision_mode: declaration.supervision_mode,
            customs_office: declaration.customs_office,
            partner_country: declaration.partner_country,
            declared_at: declaration.declared_at,
            items,
        })
    }
}

impl From<&ClassifiedDeclaration> for v1::ClassifiedDeclaration {
    fn from(classified: &ClassifiedDeclaration) -> Self {
        let classification = &classified.classification;
        v1::ClassifiedDeclaration {
            declaration: Some(v1::Declaration::from(&classified.declaration)),
            category: v1::TradeCategory::from(classification.category).into(),
            subcategory: classification.subcategory.clone().unwrap_or_default(),
            statistics_group: classification.statistics_group.clone(),
            explanation: classification.explanation.clone(),
            flag: classification.flag.clone().unwrap_or_default(),
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
        Ok(ClassifiedDeclaration {
            declaration: Declaration::try_from(declaration)?,
            classification: Classification {
                category,
                subcategory: (!classified.subcategory.is_empty()).then_some(classified.subcategory),
                statistics_group: classified.statistics_group,
                explanation: classified.explanation,
                flag: (!classified.flag.is_empty()).then_some(classified.flag),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use customs_domain::parse::{ParseLimits, parse_message};
    use customs_domain::{CodeTables, classify};
    use prost::Message;

    use super::*;

    #[test]
    fn classified_declaration_survives_the_wire() {
        let tables = CodeTables::embedded();
        let xml = include_str!("../../customs-domain/fixtures/dec_export_general_trade.xml");
        let declaration = parse_message(xml.as_bytes(), &tables, ParseLimits::default())
            .unwrap_or_else(|r| panic!("{r}"));
        let classification = classify(&declaration, &tables).unwrap_or_else(|r| panic!("{r}"));
        let classified = ClassifiedDeclaration {
            declaration,
            classification,
        };
        let bytes = v1::ClassifiedDeclaration::from(&classified).encode_to_vec();
        let decoded = v1::ClassifiedDeclaration::decode(bytes.as_slice())
            .map_err(|e| e.to_string())
            .and_then(|m| ClassifiedDeclaration::try_from(m).map_err(|e| e.to_string()));
        assert_eq!(decoded, Ok(classified));
    }

    #[test]
    fn unspecified_direction_is_an_error() {
        let got = Declaration::try_from(v1::Declaration::default()).err();
        assert_eq!(got, Some(ConversionError::Unspecified("direction")));
    }
}
