//! Parsers from raw single-window bytes to validated [`Declaration`]s.
//!
//! Guarantees: a parser never panics on any input; it returns a
//! [`Declaration`] or a [`Rejection`] naming the first problem found. Payloads
//! over the size limit are rejected before a single byte is parsed.

mod dec_message;
mod fields;
mod xml;

use crate::codes::CodeTables;
use crate::model::Declaration;
use crate::reject::{RejectReason, Rejection};

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

/// Parses one raw message of any supported type.
pub fn parse_message(
    payload: &[u8],
    tables: &CodeTables,
    limits: ParseLimits,
) -> Result<Declaration, Rejection> {
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
    let text = xml::decode_text(payload)?;
    dec_message::parse(text, tables)
}
