//! The normalize transform: `Declaration` → `ClassifiedDeclaration` or a dead letter.

use customs_domain::{ClassifiedDeclaration, CodeTables, Declaration, RejectReason, classify};
use customs_kafka::{Output, Record, Transform};
use customs_proto::v1;
use prost::Message;

/// Decodes, classifies and re-encodes one declaration.
pub struct NormalizeTransform {
    tables: CodeTables,
}

impl NormalizeTransform {
    /// A transform with the embedded code tables.
    pub fn new() -> Self {
        NormalizeTransform {
            tables: CodeTables::embedded(),
        }
    }
}

impl Default for NormalizeTransform {
    fn default() -> Self {
        Self::new()
    }
}

impl Transform for NormalizeTransform {
    fn transform(&mut self, record: &Record<'_>) -> Output {
        let declaration = match decode(record.payload) {
            Ok(declaration) => declaration,
            Err(detail) => {
                return Output::DeadLetter {
                    reason: RejectReason::UndecodableRecord,
                    detail,
                };
            }
        };
        let classification = match classify(&declaration, &self.tables) {
            Ok(classification) => classification,
            Err(rejection) => {
                return Output::DeadLetter {
                    reason: rejection.reason,
                    detail: rejection.detail,
                };
            }
        };
        let category = classification.category.as_str();
        let direction = declaration.direction.as_str();
        metrics::counter!("customs_normalize_declarations_classified_total", "category" => category, "direction" => direction)
            .increment(1);
        if classification.flag.is_some() {
            metrics::counter!("customs_normalize_declarations_flagged_total", "category" => category, "direction" => direction)
                .increment(1);
        }
        let classified = ClassifiedDeclaration {
            declaration,
            classification,
        };
        Output::Publish {
            key: classified.declaration.id.clone().into_bytes(),
            payload: v1::ClassifiedDeclaration::from(&classified).encode_to_vec(),
        }
    }
}

fn decode(payload: &[u8]) -> Result<Declaration, String> {
    let message = v1::Declaration::decode(payload)
        .map_err(|err| format!("not a customs.v1.Declaration: {err}"))?;
    Declaration::try_from(message).map_err(|err| format!("invalid customs.v1.Declaration: {err}"))
}

#[cfg(test)]
mod tests {
    use customs_domain::TradeCategory;
    use customs_domain::parse::{ParseLimits, parse_message};

    use super::*;

    fn run(payload: &[u8]) -> Output {
        let record = Record {
            topic: "declarations",
            partition: 0,
            offset: 7,
            key: None,
            payload,
        };
        NormalizeTransform::new().transform(&record)
    }

    #[test]
    fn classifies_a_declaration() {
        let xml = include_bytes!("../../customs-domain/fixtures/dec_wrapped_import_ecommerce.xml");
        let declaration = parse_message(xml, &CodeTables::embedded(), ParseLimits::default())
            .unwrap_or_else(|r| panic!("{r}"));
        let Output::Publish { payload, .. } =
            run(&v1::Declaration::from(&declaration).encode_to_vec())
        else {
            panic!("expected a classified declaration");
        };
        let classified = v1::ClassifiedDeclaration::decode(payload.as_slice())
            .map_err(|e| e.to_string())
            .and_then(|m| ClassifiedDeclaration::try_from(m).map_err(|e| e.to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            classified.classification.category,
            TradeCategory::CrossBorderEcommerce
        );
        assert_eq!(
            classified.classification.subcategory.as_deref(),
            Some("retail_direct")
        );
        assert_eq!(classified.declaration, declaration);
    }

    #[test]
    fn undecodable_and_unknown_mode_are_dead_letters() {
        let Output::DeadLetter { reason, .. } = run(b"\xff\xff\xff") else {
            panic!("expected a dead letter");
        };
        assert_eq!(reason, RejectReason::UndecodableRecord);
        let xml = include_str!("../../customs-domain/fixtures/dec_export_general_trade.xml")
            .replace("<TradeMode>110<", "<TradeMode>7777<");
        let declaration = parse_message(
            xml.as_bytes(),
            &CodeTables::embedded(),
            ParseLimits::default(),
        )
        .unwrap_or_else(|r| panic!("{r}"));
        let Output::DeadLetter { reason, .. } =
            run(&v1::Declaration::from(&declaration).encode_to_vec())
        else {
            panic!("expected a dead letter");
        };
        assert_eq!(reason, RejectReason::UnknownSupervisionMode);
    }
}
