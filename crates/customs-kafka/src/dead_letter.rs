//! The dead-letter record format.
//!
//! A dead letter carries the original bytes untouched as its payload and the
//! original key, so it can be replayed once the cause is fixed. Headers say
//! why and from where; the reason is a stable snake_case name.

use customs_domain::RejectReason;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};

/// Header with the stable reject reason, e.g. `malformed_xml`.
pub const REASON_HEADER: &str = "customs.reject.reason";
/// Header with the human-readable detail.
pub const DETAIL_HEADER: &str = "customs.reject.detail";
/// Header with the service that rejected the record.
pub const STAGE_HEADER: &str = "customs.reject.stage";
/// Header with `topic/partition/offset` of the original record.
pub const SOURCE_HEADER: &str = "customs.source";

/// Headers of a dead letter.
pub fn headers(
    stage: &str,
    reason: RejectReason,
    detail: &str,
    source: (&str, i32, i64),
) -> OwnedHeaders {
    let (topic, partition, offset) = source;
    let source = format!("{topic}/{partition}/{offset}");
    OwnedHeaders::new_with_capacity(4)
        .insert(Header {
            key: REASON_HEADER,
            value: Some(reason.as_str()),
        })
        .insert(Header {
            key: DETAIL_HEADER,
            value: Some(detail),
        })
        .insert(Header {
            key: STAGE_HEADER,
            value: Some(stage),
        })
        .insert(Header {
            key: SOURCE_HEADER,
            value: Some(&source),
        })
}

/// A dead letter as read back from the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The rejected bytes, untouched.
    pub payload: Vec<u8>,
    /// Stable reject reason.
    pub reason: String,
    /// Human-readable detail.
    pub detail: String,
    /// Service that rejected it.
    pub stage: String,
    /// `topic/partition/offset` of the rejected record.
    pub source: String,
}

impl DeadLetter {
    /// Reads a dead-letter record; absent headers read as empty strings.
    pub fn from_message(message: &impl Message) -> Self {
        let header = |name: &str| {
            message
                .headers()
                .and_then(|headers| headers.iter().find(|h| h.key == name).and_then(|h| h.value))
                .map(|value| String::from_utf8_lossy(value).into_owned())
                .unwrap_or_default()
        };
        DeadLetter {
            payload: message.payload().unwrap_or_default().to_vec(),
            reason: header(REASON_HEADER),
            detail: header(DETAIL_HEADER),
            stage: header(STAGE_HEADER),
            source: header(SOURCE_HEADER),
        }
    }
}
