//! Parsers from raw single-window bytes to validated [`Event`]s.
//!
//! Guarantees: a parser never panics on any input; it returns every event of
//! the message, or a [`Rejection`] naming the first problem found (a message
//! is accepted or rejected whole). Payloads over the size limit are rejected
//! before a single byte is parsed. XML is read in one streaming pass; JSON is
//! recognised by its leading `{`.

mod ceb;
mod collect;
mod dec_message;
mod dec_result;
pub(crate) mod fields;
pub mod json;
mod xml;

pub use dec_result::parse_dec_result;

use crate::codes::CodeTables;
use crate::model::{Event, MessageType};
use crate::reject::{RejectReason, Rejection};
use crate::validate;

/// Parser settings.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Largest payload accepted, in bytes.
    pub max_payload_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_payload_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Parses and validates one raw message of any supported type.
pub fn parse_message(
    payload: &[u8],
    tables: &CodeTables,
    limits: ParseLimits,
) -> Result<Vec<Event>, Rejection> {
    if payload.len() > limits.max_payload_bytes {
        return Err(Rejection::new(
            RejectReason::PayloadTooLarge,
            format!(
                "payload is {} bytes, limit is {}",
                payload.len(),
                limits.max_payload_bytes
            ),
        ));
    }
    let without_bom = payload.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(payload);
    let events = if without_bom.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        let text = std::str::from_utf8(without_bom).map_err(|err| {
            Rejection::new(
                RejectReason::InvalidEncoding,
                format!("JSON is not valid UTF-8 at byte {}", err.valid_up_to()),
            )
        })?;
        vec![json::parse(text)?]
    } else {
        let text = xml::decode_text(payload)?;
        let raw = collect::collect(&text)?;
        raw.records
            .iter()
            .map(|record| match raw.message_type {
                MessageType::DecMessage => dec_message::build(record).map(Event::Declaration),
                MessageType::Ceb603 | MessageType::Ceb621 => {
                    ceb::inventory(raw.message_type, record).map(Event::Declaration)
                }
                MessageType::Ceb604 | MessageType::Ceb622 => {
                    ceb::receipt(raw.message_type, record).map(Event::Receipt)
                }
                MessageType::Ceb792 => ceb::summary(record).map(Event::SummaryResult),
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    events
        .into_iter()
        .map(|event| validate::event(event, tables))
        .collect()
}
