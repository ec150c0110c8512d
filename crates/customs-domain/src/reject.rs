//! Why an input is rejected: one closed enum with stable snake_case names.
//!
//! The name is the contract: it appears in the dead-letter `customs.reject.reason`
//! header and as the `reason` metric label, so a variant is never renamed.
//! The free-text [`Rejection::detail`] is for humans and never a metric label.

use std::fmt;

/// Every reason the pipeline rejects an input for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The payload is larger than the configured limit and was not parsed.
    PayloadTooLarge,
    /// The payload is not valid text in its declared encoding.
    InvalidEncoding,
    /// The payload is not well-formed XML.
    MalformedXml,
    /// The root element is not a message type the pipeline reads.
    UnknownRoot,
    /// A field that statistics need is absent or empty.
    MissingField,
    /// `IEFlag` is neither `I` nor `E`.
    InvalidDirection,
    /// `appType` is not 1 (new), 2 (change) or 3 (delete).
    InvalidAppType,
    /// A receipt's `returnStatus` is not an integer.
    InvalidStatus,
    /// The supervision mode is not 3 or 4 digits.
    InvalidSupervisionMode,
    /// The supervision mode is well-formed but not in the code table.
    UnknownSupervisionMode,
    /// A country code is in neither the numeric nor the alphabetic table.
    UnknownCountry,
    /// A currency code is in neither the numeric nor the alphabetic table.
    UnknownCurrency,
    /// A transport mode code is not in the code table.
    UnknownTransportMode,
    /// A commodity code is not 10 digits.
    InvalidCommodityCode,
    /// An amount is not a decimal number.
    InvalidAmount,
    /// An amount is negative.
    NegativeValue,
    /// An amount is above the plausibility limit (10^17).
    AbsurdValue,
    /// A quantity or weight is not a number.
    InvalidQuantity,
    /// An item's unit price times quantity disagrees with its declared total.
    MismatchedTotals,
    /// A date is not in a recognised single-window format.
    MalformedDate,
    /// An item number is not a positive integer.
    InvalidItemNumber,
    /// Two goods items carry the same item number.
    DuplicateItemNumber,
    /// The declaration has no goods items.
    NoItems,
    /// A canonical protobuf record between stages could not be decoded.
    UndecodableRecord,
    /// A JSON message does not fit the schema.
    MalformedJson,
    /// No (currency, month) conversion rate exists for a declared value.
    MissingExchangeRate,
    /// A freight, insurance or other-cost field set is not one of the
    /// forms the filling rules allow: a mark other than 1, 2 or 3, a rate
    /// without a mark, or a per-tonne or total cost without a currency.
    InvalidCost,
    /// The event is older than the watermark minus the allowed lateness,
    /// or would restate figures dated before that horizon (final figures).
    BeyondAllowedLateness,
    /// A customs status receipt's `CHANNEL` is not in the channel table.
    UnknownChannel,
    /// A receipt envelope's `<Data>` is not Base64 or does not decode to a
    /// `DEC_RESULT` document, or a `DEC_DATA` holds more than one receipt.
    MalformedEnvelope,
}

impl RejectReason {
    /// All reasons, for documentation and for pre-registering metrics.
    pub const ALL: [RejectReason; 30] = [
        RejectReason::PayloadTooLarge,
        RejectReason::InvalidEncoding,
        RejectReason::MalformedXml,
        RejectReason::UnknownRoot,
        RejectReason::MissingField,
        RejectReason::InvalidDirection,
        RejectReason::InvalidAppType,
        RejectReason::InvalidStatus,
        RejectReason::InvalidSupervisionMode,
        RejectReason::UnknownSupervisionMode,
        RejectReason::UnknownCountry,
        RejectReason::UnknownCurrency,
        RejectReason::UnknownTransportMode,
        RejectReason::InvalidCommodityCode,
        RejectReason::InvalidAmount,
        RejectReason::NegativeValue,
        RejectReason::AbsurdValue,
        RejectReason::InvalidQuantity,
        RejectReason::MismatchedTotals,
        RejectReason::MalformedDate,
        RejectReason::InvalidItemNumber,
        RejectReason::DuplicateItemNumber,
        RejectReason::NoItems,
        RejectReason::UndecodableRecord,
        RejectReason::MalformedJson,
        RejectReason::MissingExchangeRate,
        RejectReason::InvalidCost,
        RejectReason::BeyondAllowedLateness,
        RejectReason::UnknownChannel,
        RejectReason::MalformedEnvelope,
    ];

    /// The services that can reject a message for this reason (the stage
    /// column of `docs/reject-reasons.md`): only these export its series.
    pub fn services(self) -> &'static [&'static str] {
        match self {
            RejectReason::UnknownSupervisionMode | RejectReason::MissingExchangeRate => {
                &["normalize"]
            }
            RejectReason::UndecodableRecord => &["normalize", "aggregate"],
            RejectReason::BeyondAllowedLateness => &["aggregate"],
            _ => &["ingest"],
        }
    }

    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::PayloadTooLarge => "payload_too_large",
            RejectReason::InvalidEncoding => "invalid_encoding",
            RejectReason::MalformedXml => "malformed_xml",
            RejectReason::UnknownRoot => "unknown_root",
            RejectReason::MissingField => "missing_field",
            RejectReason::InvalidDirection => "invalid_direction",
            RejectReason::InvalidAppType => "invalid_app_type",
            RejectReason::InvalidStatus => "invalid_status",
            RejectReason::InvalidSupervisionMode => "invalid_supervision_mode",
            RejectReason::UnknownSupervisionMode => "unknown_supervision_mode",
            RejectReason::UnknownCountry => "unknown_country",
            RejectReason::UnknownCurrency => "unknown_currency",
            RejectReason::UnknownTransportMode => "unknown_transport_mode",
            RejectReason::InvalidCommodityCode => "invalid_commodity_code",
            RejectReason::InvalidAmount => "invalid_amount",
            RejectReason::NegativeValue => "negative_value",
            RejectReason::AbsurdValue => "absurd_value",
            RejectReason::InvalidQuantity => "invalid_quantity",
            RejectReason::MismatchedTotals => "mismatched_totals",
            RejectReason::MalformedDate => "malformed_date",
            RejectReason::InvalidItemNumber => "invalid_item_number",
            RejectReason::DuplicateItemNumber => "duplicate_item_number",
            RejectReason::NoItems => "no_items",
            RejectReason::UndecodableRecord => "undecodable_record",
            RejectReason::MalformedJson => "malformed_json",
            RejectReason::MissingExchangeRate => "missing_exchange_rate",
            RejectReason::InvalidCost => "invalid_cost",
            RejectReason::BeyondAllowedLateness => "beyond_allowed_lateness",
            RejectReason::UnknownChannel => "unknown_channel",
            RejectReason::MalformedEnvelope => "malformed_envelope",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected input: the closed reason plus a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    /// The stable reason.
    pub reason: RejectReason,
    /// What exactly was wrong, e.g. which field; never personal data.
    pub detail: String,
}

impl Rejection {
    /// Builds a rejection.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        let mut names: Vec<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RejectReason::ALL.len());
    }
}
