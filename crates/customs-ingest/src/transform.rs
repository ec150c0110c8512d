//! The ingest transform: raw bytes → `customs.v1.Declaration` or a dead letter.

use customs_domain::CodeTables;
use customs_domain::parse::{ParseLimits, parse_message};
use customs_kafka::{Output, Record, Transform};
use customs_proto::v1;
use prost::Message;

/// Parses, validates and encodes one raw message.
pub struct IngestTransform {
    tables: CodeTables,
    limits: ParseLimits,
}

impl IngestTransform {
    /// A transform with the embedded code tables.
    pub fn new(limits: ParseLimits) -> Self {
        IngestTransform {
            tables: CodeTables::embedded(),
            limits,
        }
    }
}

impl Transform for IngestTransform {
    fn transform(&mut self, record: &Record<'_>) -> Output {
        match parse_message(record.payload, &self.tables, self.limits) {
            Ok(declaration) => {
                let mut message = v1::Declaration::from(&declaration);
                message.source_topic = record.topic.to_owned();
                message.source_partition = record.partition;
                message.source_offset = record.offset;
                Output::Publish {
                    key: declaration.id.into_bytes(),
                    payload: message.encode_to_vec(),
                }
            }
            Err(rejection) => Output::DeadLetter {
                reason: rejection.reason,
                detail: rejection.detail,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use customs_domain::RejectReason;

    use super::*;

    fn run(payload: &[u8]) -> Output {
        let record = Record {
            topic: "raw",
            partition: 2,
            offset: 41,
            key: None,
            payload,
        };
        IngestTransform::new(ParseLimits::default()).transform(&record)
    }

    #[test]
    fn valid_xml_becomes_a_keyed_declaration_with_its_source() {
        let xml = include_bytes!("../../customs-domain/fixtures/dec_export_general_trade.xml");
        let Output::Publish { key, payload } = run(xml) else {
            panic!("expected a declaration");
        };
        assert_eq!(key, b"292120181000012345");
        let decoded = v1::Declaration::decode(payload.as_slice()).map_err(|e| e.to_string());
        let decoded = decoded.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded.supervision_mode, "0110");
        assert_eq!((decoded.source_partition, decoded.source_offset), (2, 41));
        assert_eq!(decoded.items.len(), 2);
    }

    #[test]
    fn garbage_becomes_a_dead_letter_with_reason() {
        let Output::DeadLetter { reason, detail } = run(b"<DecMessage><oops>") else {
            panic!("expected a dead letter");
        };
        assert_eq!(reason, RejectReason::MalformedXml);
        assert!(!detail.is_empty());
    }
}
