//! The normalize transform: `Event` → `ClassifiedEvent` or a dead letter.
//!
//! Pure per record, apart from the per-transaction [`NormalizeTally`] of
//! its counters, which follows the transaction's fate through the stage's
//! `committed` / `aborted` hooks.
//!
//! A summary result is sent to **every** partition of the classified topic
//! (one copy each, in the same transaction): it supersedes inventories by
//! their inventory numbers, and an inventory lives in the partition of its
//! guid, which the summary does not name. Each partition's aggregate owner
//! retracts its own inventories (see the aggregate's owner loop).

use customs_domain::{
    ClassifiedDeclaration, CodeTables, Declaration, Event, RejectReason, Rejection, classify, value,
};
use customs_kafka::{Output, Record, Transform};
use customs_proto::v1;
use customs_service::tables::TableSlot;
use prost::Message;

use crate::tally::NormalizeTally;

/// Where summary results go: every partition of the classified topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryBroadcast {
    /// The classified topic.
    pub topic: String,
    /// Its number of partitions.
    pub partitions: i32,
}

/// Decodes, classifies, values and re-encodes one event.
pub struct NormalizeTransform {
    tables: CodeTables,
    /// Reloaded tables, taken between two batches.
    reloaded: TableSlot,
    tally: NormalizeTally,
    broadcast: SummaryBroadcast,
}

impl NormalizeTransform {
    /// A transform over the given code tables.
    pub fn new(tables: CodeTables, broadcast: SummaryBroadcast, reloaded: TableSlot) -> Self {
        NormalizeTransform {
            tables,
            reloaded,
            tally: NormalizeTally::new(),
            broadcast,
        }
    }

    fn classified(&mut self, declaration: Declaration) -> Result<ClassifiedDeclaration, Rejection> {
        let classification = classify(&declaration, &self.tables)?;
        let valuation = value(&declaration, &self.tables)?;
        self.tally.record(
            classification.category.as_str(),
            declaration.direction.as_str(),
            classification.flag.is_some(),
            valuation.total_cny,
            valuation.total_usd,
        );
        if let Some(flag) = valuation.flag {
            self.tally.value_flag(flag);
        }
        Ok(ClassifiedDeclaration {
            declaration,
            classification,
            valuation,
        })
    }
}

impl Transform for NormalizeTransform {
    fn prepare(&mut self, _partitions: &[(String, i32)]) -> bool {
        // Between two batches: a whole batch is classified with one set.
        if let Some(tables) = self.reloaded.take() {
            self.tables = tables;
        }
        true
    }

    fn transform(&mut self, record: &Record<'_>, outputs: &mut Vec<Output>) {
        let decoded = v1::Event::decode(record.payload)
            .map_err(|err| format!("not a customs.v1.Event: {err}"))
            .and_then(|message| {
                let source = message.source.clone();
                Event::try_from(message)
                    .map(|event| (event, source))
                    .map_err(|err| format!("invalid customs.v1.Event: {err}"))
            });
        let (event, source) = match decoded {
            Ok(decoded) => decoded,
            Err(detail) => {
                outputs.push(Output::DeadLetter {
                    reason: RejectReason::UndecodableRecord,
                    detail,
                });
                return;
            }
        };
        let key = event.partition_key().as_bytes().to_vec();
        let kind = match event {
            Event::Declaration(declaration) => match self.classified(declaration) {
                Ok(classified) => v1::classified_event::Kind::Declaration((&classified).into()),
                Err(rejection) => {
                    outputs.push(Output::DeadLetter {
                        reason: rejection.reason,
                        detail: rejection.detail,
                    });
                    return;
                }
            },
            Event::Receipt(receipt) => v1::classified_event::Kind::Receipt((&receipt).into()),
            Event::SummaryResult(summary) => {
                let message = v1::ClassifiedEvent {
                    kind: Some(v1::classified_event::Kind::SummaryResult((&summary).into())),
                    source,
                };
                let payload = message.encode_to_vec();
                for partition in 0..self.broadcast.partitions.max(1) {
                    outputs.push(Output::Send {
                        topic: self.broadcast.topic.clone(),
                        partition: Some(partition),
                        key: key.clone(),
                        payload: Some(payload.clone()),
                    });
                }
                return;
            }
        };
        let message = v1::ClassifiedEvent {
            kind: Some(kind),
            source,
        };
        outputs.push(Output::Publish {
            key,
            payload: message.encode_to_vec(),
        });
    }

    fn committed(&mut self) {
        self.tally.committed();
    }

    fn aborted(&mut self) {
        self.tally.aborted();
    }
}

#[cfg(test)]
mod tests {
    use customs_domain::TradeCategory;
    use customs_domain::parse::{ParseLimits, parse_message};

    use super::*;

    fn record(payload: &[u8]) -> Record<'_> {
        Record {
            topic: "events",
            partition: 0,
            offset: 7,
            key: None,
            payload,
            timestamp_ms: None,
            ingested_at_ms: 0,
        }
    }

    fn broadcast() -> SummaryBroadcast {
        SummaryBroadcast {
            topic: "classified".to_owned(),
            partitions: 3,
        }
    }

    fn run(payload: &[u8]) -> Vec<Output> {
        let record = record(payload);
        let mut outputs = Vec::new();
        NormalizeTransform::new(CodeTables::embedded(), broadcast(), TableSlot::default())
            .transform(&record, &mut outputs);
        outputs
    }

    #[test]
    fn a_summary_result_goes_to_every_classified_partition() {
        let xml = include_str!("../../customs-domain/fixtures/ceb792_summary_result.xml");
        let outputs = run(&events(xml)[0]);
        let partitions: Vec<Option<i32>> = outputs
            .iter()
            .map(|output| match output {
                Output::Send {
                    topic, partition, ..
                } if topic == "classified" => *partition,
                other => panic!("expected a copy to a classified partition, got {other:?}"),
            })
            .collect();
        assert_eq!(partitions, [Some(0), Some(1), Some(2)]);
    }

    fn events(xml: &str) -> Vec<Vec<u8>> {
        parse_message(
            xml.as_bytes(),
            &CodeTables::embedded(),
            ParseLimits::default(),
        )
        .unwrap_or_else(|r| panic!("{r}"))
        .iter()
        .map(|event| {
            v1::Event {
                kind: Some(v1::event::Kind::from(event)),
                source: None,
            }
            .encode_to_vec()
        })
        .collect()
    }

    #[test]
    fn classifies_and_values_a_declaration() {
        let xml = include_str!("../../customs-domain/fixtures/ceb621_import_inventory.xml");
        let outputs = run(&events(xml)[0]);
        let [Output::Publish { payload, .. }] = outputs.as_slice() else {
            panic!("expected one classified event");
        };
        let Some(v1::classified_event::Kind::Declaration(wire)) =
            v1::ClassifiedEvent::decode(payload.as_slice())
                .unwrap_or_else(|e| panic!("{e}"))
                .kind
        else {
            panic!("expected a classified declaration");
        };
        let classified = ClassifiedDeclaration::try_from(wire).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            classified.classification.category,
            TradeCategory::CrossBorderEcommerce
        );
        assert_eq!(
            classified.classification.subcategory.as_deref(),
            Some("retail_bonded")
        );
        assert_eq!(classified.valuation.month, "2026-11");
        assert_eq!(
            classified.valuation.total_cny,
            "1134".parse().unwrap_or_default(),
            "537 + 597 CNY"
        );
    }

    #[test]
    fn reloaded_tables_are_taken_between_batches() {
        // A table set without supervision mode 1210 (the fixture's).
        let dir = std::env::temp_dir().join(format!("customs-normalize-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let modes = include_str!("../../customs-domain/data/supervision_modes.csv");
        let without: String = modes
            .lines()
            .filter(|line| !line.starts_with("1210,"))
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(dir.join("supervision_modes.csv"), without)
            .unwrap_or_else(|e| panic!("{e}"));
        let reloaded = CodeTables::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::remove_dir_all(&dir).ok();

        let slot = TableSlot::default();
        let mut transform =
            NormalizeTransform::new(CodeTables::embedded(), broadcast(), slot.clone());
        let payload = &events(include_str!(
            "../../customs-domain/fixtures/ceb621_import_inventory.xml"
        ))[0];
        let record = record(payload);
        let mut outputs = Vec::new();
        slot.put(reloaded);
        // Inside a batch the tables in use stay.
        transform.transform(&record, &mut outputs);
        assert!(
            matches!(outputs.as_slice(), [Output::Publish { .. }]),
            "{outputs:?}"
        );
        // The next batch uses the reloaded set.
        assert!(transform.prepare(&[]));
        outputs.clear();
        transform.transform(&record, &mut outputs);
        assert!(
            matches!(
                outputs.as_slice(),
                [Output::DeadLetter {
                    reason: customs_domain::RejectReason::UnknownSupervisionMode,
                    ..
                }]
            ),
            "{outputs:?}"
        );
    }

    #[test]
    fn receipts_pass_through() {
        let xml = include_str!("../../customs-domain/fixtures/ceb622_receipts.xml");
        let outputs = run(&events(xml)[1]);
        let [Output::Publish { key, payload }] = outputs.as_slice() else {
            panic!("expected one event");
        };
        assert_eq!(key, b"7F3E2A10-5B6C-4D8E-9F01-23456789ABCD");
        let kind = v1::ClassifiedEvent::decode(payload.as_slice())
            .unwrap_or_else(|e| panic!("{e}"))
            .kind;
        assert!(matches!(kind, Some(v1::classified_event::Kind::Receipt(r)) if r.status == 800));
    }

    #[test]
    fn undecodable_unknown_mode_and_missing_rate_are_dead_letters() {
        let reason = |outputs: Vec<Output>| match outputs.as_slice() {
            [Output::DeadLetter { reason, .. }] => Some(*reason),
            _ => None,
        };
        assert_eq!(
            reason(run(b"\xff\xff\xff")),
            Some(RejectReason::UndecodableRecord)
        );
        let fixture = include_str!("../../customs-domain/fixtures/dec_export_general_trade.xml");
        let unknown_mode = fixture.replace("<TradeMode>110<", "<TradeMode>7777<");
        assert_eq!(
            reason(run(&events(&unknown_mode)[0])),
            Some(RejectReason::UnknownSupervisionMode)
        );
        let too_old = fixture.replace("<DDate>20180118164707<", "<DDate>19990118164707<");
        assert_eq!(
            reason(run(&events(&too_old)[0])),
            Some(RejectReason::MissingExchangeRate)
        );
    }
}
