//! The parsed customs status receipt (`DEC_RESULT`): codes, numbers and the
//! time only, never free text (`NOTE`, `RESULT_INFO`) or company names
//! (`TRADE_CO`).

use serde::{Deserialize, Serialize};

use super::CodeSet;

/// Which receipt layout a [`DecReceipt`] came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptLayout {
    /// Root `DEC_RESULT` with `CUS_CIQ_NO`.
    Current,
    /// Older QP layout `DEC_DATA/DEC_RESULT` with `SEQ_NO`.
    Qp,
}

/// One customs status receipt for one declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecReceipt {
    /// Unified serial (`CUS_CIQ_NO`, or `SEQ_NO` in the QP layout): equal to
    /// the declaration's `DecHead/SeqNo`, the join key before an entry id
    /// exists.
    pub seq_no: String,
    /// Customs declaration number (`ENTRY_ID`), once customs accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    /// The status code as sent (`CHANNEL`); always in the channel table.
    pub channel: String,
    /// The code system of `channel`.
    pub code_set: CodeSet,
    /// `NOTICE_DATE`: when the status was set, ISO 8601 local time (UTC+8),
    /// with milliseconds when the receipt had a fraction.
    pub notified_at: String,
    /// Declaring customs office (`CUSTOM_MASTER`, or `DECL_PORT` in a QP
    /// receipt without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs_office: Option<String>,
    /// Layout of the receipt.
    pub layout: ReceiptLayout,
    /// Whether it came Base64-encoded inside an envelope's `<Data>`.
    pub enveloped: bool,
}
