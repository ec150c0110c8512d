//! One streaming pass that gathers the fields statistics need from any
//! supported single-window XML message, and nothing else.
//!
//! Only whitelisted element names are kept, so personal data (buyer identity,
//! names, telephone numbers, addresses) is never even copied out of the
//! input. Each record (`DecMessage`, `Inventory`, `InventoryReturn`,
//! `SummaryResult`) becomes a [`RawRecord`] of head fields plus item fields.

use super::xml::{XmlEvent, walk};
use crate::model::MessageType;
use crate::reject::{RejectReason, Rejection};

/// Field name → trimmed text of one block. A short list searched linearly:
/// blocks hold at most a couple of dozen wanted fields, and this is faster
/// than hashing them.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    entries: Vec<(&'static str, String)>,
}

impl Fields {
    /// The text of `name`, if the block had it.
    pub(crate) fn get(&self, name: &str) -> Option<&String> {
        self.entries
            .iter()
            .rev()
            .find(|(field, _)| *field == name)
            .map(|(_, text)| text)
    }

    fn insert(&mut self, name: &'static str, text: String) {
        self.entries.push((name, text));
    }
}

/// One record of a message: its head fields and its item blocks.
#[derive(Debug, Default)]
pub(crate) struct RawRecord {
    pub(crate) head: Fields,
    pub(crate) items: Vec<Fields>,
}

/// Every record of one message, with the message type from its root.
#[derive(Debug)]
pub(crate) struct RawMessage {
    pub(crate) message_type: MessageType,
    pub(crate) records: Vec<RawRecord>,
}

/// Which blocks of which message hold what.
struct Layout {
    /// Element that starts a new record.
    record: &'static str,
    /// Parent element of head fields.
    head: &'static str,
    /// Parent element of item fields (and the element that starts an item).
    item: Option<&'static str>,
    head_fields: &'static [&'static str],
    item_fields: &'static [&'static str],
}

const DEC: Layout = Layout {
    record: "DecMessage",
    head: "DecHead",
    item: Some("DecList"),
    head_fields: &[
        "SeqNo",
        "EntryId",
        "IEFlag",
        "TradeMode",
        "CustomMaster",
        "IEPort",
        "TradeCountry",
        "TrafMode",
        "TransMode",
        "DDate",
        "IEDate",
        "GrossWet",
        "NetWt",
        "FeeMark",
        "FeeRate",
        "FeeCurr",
        "InsurMark",
        "InsurRate",
        "InsurCurr",
        "OtherMark",
        "OtherRate",
        "OtherCurr",
    ],
    item_fields: &[
        "GNo",
        "CodeTS",
        "GQty",
        "GUnit",
        "DeclPrice",
        "DeclTotal",
        "TradeCurr",
        "OriginCountry",
        "DestinationCountry",
        "DistrictCode",
    ],
};

const INVENTORY: Layout = Layout {
    record: "Inventory",
    head: "InventoryHead",
    item: Some("InventoryList"),
    head_fields: &[
        "guid",
        "appType",
        "appTime",
        "copNo",
        "preNo",
        "invtNo",
        "ieFlag",
        "declTime",
        "ieDate",
        "customsCode",
        "portCode",
        "tradeMode",
        "trafMode",
        "country",
        "currency",
        "grossWeight",
        "netWeight",
        "statisticsFlag",
    ],
    item_fields: &[
        "gnum",
        "gcode",
        "country",
        "currency",
        "qty",
        "unit",
        "price",
        "totalPrice",
    ],
};

const RECEIPT: Layout = Layout {
    record: "InventoryReturn",
    head: "InventoryReturn",
    item: None,
    head_fields: &[
        "guid",
        "copNo",
        "preNo",
        "invtNo",
        "returnStatus",
        "returnTime",
    ],
    item_fields: &[],
};

const SUMMARY: Layout = Layout {
    record: "SummaryResult",
    head: "SummaryResultHead",
    item: Some("SummaryResultList"),
    head_fields: &[
        "guid",
        "entryId",
        "sumNo",
        "declSeqNo",
        "customsCode",
        "opDate",
    ],
    item_fields: &["invtNo"],
};

fn layout(message_type: MessageType) -> &'static Layout {
    match message_type {
        MessageType::DecMessage => &DEC,
        MessageType::Ceb603 | MessageType::Ceb621 => &INVENTORY,
        MessageType::Ceb604 | MessageType::Ceb622 => &RECEIPT,
        MessageType::Ceb792 => &SUMMARY,
    }
}

/// Reads `text` once and returns its records.
pub(crate) fn collect(text: &str) -> Result<RawMessage, Rejection> {
    let mut message_type = None;
    let mut wrapped = false;
    let mut records: Vec<RawRecord> = Vec::new();
    walk(text, |event| {
        match event {
            XmlEvent::Open { name, depth: 0 } => {
                message_type = Some(root_type(name)?);
                wrapped = name == "ImportMessage";
                if name == DEC.record {
                    records.push(RawRecord::default());
                }
            }
            XmlEvent::Open { name, .. } => {
                let Some(layout) = message_type.map(layout) else {
                    return Ok(());
                };
                if name == layout.record {
                    records.push(RawRecord::default());
                } else if Some(name) == layout.item
                    && let Some(record) = records.last_mut()
                {
                    record.items.push(Fields::default());
                }
            }
            XmlEvent::Leaf { parent, name, text } => {
                let Some(layout) = message_type.map(layout) else {
                    return Ok(());
                };
                let Some(record) = records.last_mut() else {
                    return Ok(());
                };
                if parent == layout.head {
                    keep(&mut record.head, layout.head_fields, name, text);
                } else if Some(parent) == layout.item
                    && let Some(item) = record.items.last_mut()
                {
                    keep(item, layout.item_fields, name, text);
                }
            }
        }
        Ok(())
    })?;
    let Some(message_type) = message_type else {
        return Err(Rejection::new(
            RejectReason::MalformedXml,
            "document has no root element",
        ));
    };
    if records.is_empty() && wrapped {
        return Err(Rejection::new(
            RejectReason::UnknownRoot,
            "ImportMessage carries no DecMessage",
        ));
    }
    if records.is_empty() {
        return Err(Rejection::new(
            RejectReason::MissingField,
            format!(
                "{} carries no {}",
                message_type.as_str(),
                layout(message_type).record
            ),
        ));
    }
    Ok(RawMessage {
        message_type,
        records,
    })
}

/// The message type of a root element; `ImportMessage` wraps a `DecMessage`.
fn root_type(name: &str) -> Result<MessageType, Rejection> {
    match name {
        "ImportMessage" => Ok(MessageType::DecMessage),
        other => MessageType::from_root(other).ok_or_else(|| {
            Rejection::new(
                RejectReason::UnknownRoot,
                format!("root element <{other}> is not a supported message"),
            )
        }),
    }
}

fn keep(fields: &mut Fields, wanted: &[&'static str], name: &str, text: &str) {
    if let Some(field) = wanted.iter().find(|field| **field == name) {
        fields.insert(field, text.to_owned());
    }
}
