//! Parser of customs status receipts (`DEC_RESULT`) for customs declarations.
//!
//! Input: the raw bytes of one receipt in any of its public forms — a bare
//! `DEC_RESULT`, the older QP `DEC_DATA/DEC_RESULT`, or a transport envelope
//! (any root) whose child `<Data>` holds either of them Base64-encoded —
//! in UTF-8 (with or without a BOM) or GB2312/GBK/GB18030 as the XML
//! declaration says. Output: one [`DecReceipt`] holding codes, numbers and
//! the time only, or a [`Rejection`] naming the field at fault.
//!
//! Guarantees: never panics on any input; only whitelisted elements are
//! copied out, so `NOTE`, `RESULT_INFO`, `TRADE_CO` and other free text or
//! names never reach the parsed value; the `CHANNEL` is always a code of the
//! embedded channel table. Not wired into [`super::parse_message`] yet.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::ParseLimits;
use super::fields::{date_time, optional, required};
use super::xml::{XmlEvent, decode_text, walk};
use crate::dec_status::{ChannelTable, DecReceipt, ReceiptLayout};
use crate::reject::{RejectReason, Rejection};

/// Standard alphabet; padding optional (senders differ).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The only `DEC_RESULT` children ever copied out of a receipt.
const KEPT: &[&str] = &[
    "CUS_CIQ_NO",
    "SEQ_NO",
    "ENTRY_ID",
    "NOTICE_DATE",
    "CHANNEL",
    "CUSTOM_MASTER",
    "DECL_PORT",
];

/// Parses one customs status receipt (see the module docs for the forms).
///
/// Payloads over the default [`ParseLimits`] size are rejected unread.
pub fn parse_dec_result(payload: &[u8]) -> Result<DecReceipt, Rejection> {
    let limit = ParseLimits::default().max_payload_bytes;
    if payload.len() > limit {
        return Err(Rejection::new(
            RejectReason::PayloadTooLarge,
            format!("payload is {} bytes, limit is {limit}", payload.len()),
        ));
    }
    parse_document(payload, false)
}

/// What one pass over a document found.
#[derive(Default)]
struct Scan {
    root: Option<String>,
    layout: Option<ReceiptLayout>,
    results: usize,
    /// Whether the root has a `Data` child element.
    data_seen: bool,
    /// The text of that `Data` child, when it is a leaf.
    data: Option<String>,
    fields: Vec<(&'static str, String)>,
}

impl Scan {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(field, _)| *field == name)
            .map(|(_, text)| text.as_str())
    }
}

/// Parses one document; `enveloped` documents came out of an envelope's
/// `<Data>` and may not be envelopes themselves.
fn parse_document(payload: &[u8], enveloped: bool) -> Result<DecReceipt, Rejection> {
    let text = decode_text(payload)?;
    let mut scan = Scan::default();
    walk(&text, |event| {
        match event {
            XmlEvent::Open { name, depth: 0 } => {
                scan.layout = match name {
                    "DEC_RESULT" => Some(ReceiptLayout::Current),
                    "DEC_DATA" => Some(ReceiptLayout::Qp),
                    _ => None,
                };
                if name == "DEC_RESULT" {
                    scan.results = 1;
                }
                scan.root = Some(name.to_owned());
            }
            XmlEvent::Open { name, depth } => {
                if name == "DEC_RESULT" && scan.layout == Some(ReceiptLayout::Qp) {
                    scan.results += 1;
                    if scan.results > 1 {
                        return Err(Rejection::new(
                            RejectReason::MalformedEnvelope,
                            "DEC_DATA holds more than one DEC_RESULT; one receipt per document",
                        ));
                    }
                }
                if name == "Data" && depth == 1 && scan.layout.is_none() {
                    scan.data_seen = true;
                }
            }
            XmlEvent::Leaf { parent, name, text } => {
                if scan.layout.is_some() && parent == "DEC_RESULT" {
                    if let Some(field) = KEPT.iter().find(|field| **field == name) {
                        scan.fields.push((field, text.to_owned()));
                    }
                } else if scan.layout.is_none()
                    && scan.data_seen
                    && name == "Data"
                    && scan.root.as_deref() == Some(parent)
                {
                    scan.data = Some(text.to_owned());
                }
            }
        }
        Ok(())
    })?;
    let Some(root) = scan.root.take() else {
        return Err(Rejection::new(
            RejectReason::MalformedXml,
            "document has no root element",
        ));
    };
    match scan.layout {
        Some(layout) => receipt(&scan, layout, enveloped),
        None if !enveloped && scan.data_seen => unwrap_envelope(&root, scan.data.as_deref()),
        None => Err(Rejection::new(
            RejectReason::UnknownRoot,
            format!(
                "root element <{root}> is neither DEC_RESULT, DEC_DATA nor an envelope with a Data child"
            ),
        )),
    }
}

/// Decodes the Base64 in `<root>/Data` and parses the document it holds,
/// which must be a `DEC_RESULT` or `DEC_DATA` (no envelope in an envelope).
fn unwrap_envelope(root: &str, data: Option<&str>) -> Result<DecReceipt, Rejection> {
    let envelope = |detail: String| Rejection::new(RejectReason::MalformedEnvelope, detail);
    let Some(data) = data else {
        return Err(envelope(format!(
            "{root}/Data holds elements, not Base64 text"
        )));
    };
    let compact: Vec<u8> = data.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(envelope(format!("{root}/Data is empty")));
    }
    let inner = BASE64
        .decode(&compact)
        .map_err(|err| envelope(format!("{root}/Data is not Base64: {err}")))?;
    parse_document(&inner, true).map_err(|rejection| match rejection.reason {
        RejectReason::InvalidEncoding
        | RejectReason::MalformedXml
        | RejectReason::UnknownRoot
        | RejectReason::MalformedEnvelope => envelope(format!(
            "{root}/Data does not decode to a DEC_RESULT: {}",
            rejection.detail
        )),
        _ => rejection,
    })
}

/// Builds the receipt from the kept fields of a `DEC_RESULT`.
fn receipt(scan: &Scan, layout: ReceiptLayout, enveloped: bool) -> Result<DecReceipt, Rejection> {
    let (block, seq_field) = match layout {
        ReceiptLayout::Current => ("DEC_RESULT", "CUS_CIQ_NO"),
        ReceiptLayout::Qp => ("DEC_DATA/DEC_RESULT", "SEQ_NO"),
    };
    if scan.results == 0 {
        return Err(Rejection::new(
            RejectReason::MissingField,
            "DEC_DATA carries no DEC_RESULT",
        ));
    }
    let path = |field: &str| format!("{block}/{field}");
    let seq_no = required(scan.get(seq_field), path(seq_field))?;
    let channel = required(scan.get("CHANNEL"), path("CHANNEL"))?;
    let table = ChannelTable::embedded().map_err(|err| {
        Rejection::new(
            RejectReason::UnknownChannel,
            format!("the channel table did not load: {err}"),
        )
    })?;
    let Some(row) = table.get(channel) else {
        return Err(Rejection::new(
            RejectReason::UnknownChannel,
            format!(
                "{} {channel:?} is not in the channel table",
                path("CHANNEL")
            ),
        ));
    };
    let notice = required(scan.get("NOTICE_DATE"), path("NOTICE_DATE"))?;
    let notified_at = date_time(notice, path("NOTICE_DATE"))?;
    Ok(DecReceipt {
        seq_no: seq_no.to_owned(),
        entry_id: optional(scan.get("ENTRY_ID")).map(str::to_owned),
        channel: channel.to_owned(),
        code_set: row.code_set,
        notified_at,
        customs_office: optional(scan.get("CUSTOM_MASTER"))
            .or_else(|| optional(scan.get("DECL_PORT")))
            .map(str::to_owned),
        layout,
        enveloped,
    })
}

#[cfg(test)]
mod tests;
