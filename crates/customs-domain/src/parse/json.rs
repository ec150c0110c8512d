//! The JSON rendering of the same facts, for upstreams without XML.
//!
//! One JSON object per message: an [`Event`] tagged by `kind`
//! (`declaration`, `receipt`, `summary_result`), field names as in the model,
//! decimals as strings, codes in either code system (they are normalised by
//! validation). Unknown fields are errors, so personal data cannot ride along
//! unnoticed. See `docs/json-format.md` for the schema and an example.

use crate::model::Event;
use crate::reject::{RejectReason, Rejection};

/// Reads one JSON message (not yet validated).
pub(crate) fn parse(text: &str) -> Result<Event, Rejection> {
    serde_json::from_str(text).map_err(|err| {
        Rejection::new(
            RejectReason::MalformedJson,
            format!(
                "line {} column {}: {}",
                err.line(),
                err.column(),
                strip_values(&err.to_string())
            ),
        )
    })
}

/// Renders one event as a single JSON line.
pub fn render(event: &Event) -> String {
    // Serialising plain data with string keys cannot fail.
    serde_json::to_string(event).unwrap_or_default()
}

/// serde_json quotes offending values in some messages; keep only the part
/// before the first quote so no input value reaches logs or dead-letter headers.
fn strip_values(message: &str) -> String {
    match message.find(['"', '`']) {
        Some(at) if at > 0 => format!("{}…", message[..at].trim_end()),
        _ => message.to_owned(),
    }
}
