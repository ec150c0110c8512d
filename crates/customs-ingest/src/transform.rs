//! The ingest transform: raw bytes → `customs.v1.Event`s or one dead letter.
//!
//! Pure per record, apart from the count of events by message type, which
//! waits for its transaction: the stage's `committed` hook adds it to
//! `customs_ingest_events_total`, `aborted` drops it (the records are read
//! again), so the counter equals the events that became visible.

use std::collections::BTreeMap;

use customs_domain::parse::{ParseLimits, parse_message};
use customs_domain::{CodeTables, MessageType};
use customs_kafka::{Output, Record, Transform};
use customs_proto::v1;
use customs_service::tables::TableSlot;
use prost::Message;

/// Parses, validates and encodes one raw message.
pub struct IngestTransform {
    tables: CodeTables,
    /// Reloaded tables, taken between two batches.
    reloaded: TableSlot,
    limits: ParseLimits,
    /// Events by message type in the open transaction.
    pending_events: BTreeMap<&'static str, u64>,
}

impl IngestTransform {
    /// A transform over the given code tables.
    pub fn new(tables: CodeTables, limits: ParseLimits, reloaded: TableSlot) -> Self {
        // Every message type's series exists from the start, at 0.
        for message_type in MessageType::ALL {
            let _registered = metrics::counter!("customs_ingest_events_total", "message_type" => message_type.as_str());
        }
        IngestTransform {
            tables,
            reloaded,
            limits,
            pending_events: BTreeMap::new(),
        }
    }
}

impl Transform for IngestTransform {
    fn prepare(&mut self, _partitions: &[(String, i32)]) -> bool {
        // Between two batches: a whole batch is parsed with one table set.
        if let Some(tables) = self.reloaded.take() {
            self.tables = tables;
        }
        true
    }

    fn transform(&mut self, record: &Record<'_>, outputs: &mut Vec<Output>) {
        match parse_message(record.payload, &self.tables, self.limits) {
            Ok(events) => {
                let source = v1::Source {
                    topic: record.topic.to_owned(),
                    partition: record.partition,
                    offset: record.offset,
                };
                for event in &events {
                    // Ids only at debug (docs: README "Logs"); no personal
                    // data exists past the parser to log.
                    tracing::debug!(
                        declaration_id = event.id(),
                        message_type = event.message_type().as_str(),
                        partition = record.partition,
                        offset = record.offset,
                        "event parsed"
                    );
                    *self
                        .pending_events
                        .entry(event.message_type().as_str())
                        .or_default() += 1;
                    let message = v1::Event {
                        kind: Some(v1::event::Kind::from(event)),
                        source: Some(source.clone()),
                    };
                    outputs.push(Output::Publish {
                        key: event.partition_key().as_bytes().to_vec(),
                        payload: message.encode_to_vec(),
                    });
                }
            }
            Err(rejection) => {
                // The detail may name the declaration, never personal data.
                tracing::debug!(
                    reason = %rejection.reason,
                    detail = %rejection.detail,
                    partition = record.partition,
                    offset = record.offset,
                    "raw message rejected"
                );
                outputs.push(Output::DeadLetter {
                    reason: rejection.reason,
                    detail: rejection.detail,
                });
            }
        }
    }

    fn committed(&mut self) {
        for (message_type, count) in std::mem::take(&mut self.pending_events) {
            metrics::counter!("customs_ingest_events_total", "message_type" => message_type)
                .increment(count);
        }
    }

    fn aborted(&mut self) {
        self.pending_events.clear();
    }
}

#[cfg(test)]
mod tests {
    use customs_domain::RejectReason;

    use super::*;

    fn run(payload: &[u8]) -> Vec<Output> {
        let record = Record {
            topic: "raw",
            partition: 2,
            offset: 41,
            key: None,
            payload,
            timestamp_ms: None,
            ingested_at_ms: 0,
        };
        let mut outputs = Vec::new();
        IngestTransform::new(
            CodeTables::embedded(),
            ParseLimits::default(),
            TableSlot::default(),
        )
        .transform(&record, &mut outputs);
        outputs
    }

    #[test]
    fn valid_xml_becomes_keyed_events_with_their_source() {
        let xml = include_bytes!("../../customs-domain/fixtures/ceb621_import_inventory.xml");
        let outputs = run(xml);
        assert_eq!(outputs.len(), 2, "one event per inventory");
        let Output::Publish { key, payload } = &outputs[1] else {
            panic!("expected an event");
        };
        // Keyed by the inventory guid, which its receipts also name.
        assert_eq!(key, b"7F3E2A10-5B6C-4D8E-9F01-23456789ABCE");
        let decoded = v1::Event::decode(payload.as_slice()).unwrap_or_else(|e| panic!("{e}"));
        let source = decoded.source.unwrap_or_default();
        assert_eq!((source.partition, source.offset), (2, 41));
        let Some(v1::event::Kind::Declaration(declaration)) = decoded.kind else {
            panic!("expected a declaration");
        };
        assert_eq!(declaration.supervision_mode, "9610");
        assert!(
            !String::from_utf8_lossy(payload).contains("张三"),
            "no personal data downstream"
        );
    }

    #[test]
    fn garbage_becomes_one_dead_letter_with_reason() {
        let outputs = run(b"<DecMessage><oops>");
        let [Output::DeadLetter { reason, detail }] = outputs.as_slice() else {
            panic!("expected one dead letter");
        };
        assert_eq!(*reason, RejectReason::MalformedXml);
        assert!(!detail.is_empty());
    }
}
