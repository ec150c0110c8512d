//! The dead-letter record format.
//!
//! A dead letter carries the original bytes untouched as its payload and the
//! original key, so it can be replayed once the cause is fixed. Headers say
//! why and from where; the reason is a stable snake_case name.

use customs_domain::RejectReason;
use rdkafka::message::{Header, OwnedHeaders};

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
