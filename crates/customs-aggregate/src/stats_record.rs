//! The statistics topic's record format: what each owner publishes for its
//! classified partition, and every serving instance folds.
//!
//! A record is the **absolute** value of one [`StatKey`] of the partition it
//! is in (a cell's measures or a shape's count in one pane of one tier), or
//! the partition's watermark. Absolute values make the topic compactable
//! (the latest record per key is the state) and applying a record twice
//! harmless. A tombstone removes a key whose pane is past its tier's span.
//!
//! Key: a kind byte (`c` cell, `h` shape), the tier (0 minute, 1 hour,
//! 2 day), the pane start as a big-endian `i64` minute, then the cell key or
//! shape in postcard; the watermark's key is `w`. Value: a format byte, then
//! postcard of the measures (or of the watermark minute). Pinned by golden
//! bytes below.

use customs_domain::stats::cell::{CellKey, Shape};
use customs_domain::stats::{Item, Measures, Minute, StatKey, Tier};

/// Format byte of the current value encoding.
pub const FORMAT: u8 = 1;

const WATERMARK_KEY: &[u8] = b"w";

/// One decoded statistics record.
// Statistics are nearly every record; one watermark per transaction.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatRecord {
    /// A key's absolute value, `None` to remove it.
    Stat(StatKey, Option<Measures>),
    /// The partition's watermark.
    Watermark(Minute),
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The key is not a statistics key.
    #[error("unknown statistics key")]
    Key,
    /// The value is not in the current format.
    #[error("statistics value format {0} is not {FORMAT}")]
    Format(u8),
    /// The key or value does not decode.
    #[error("undecodable statistics record: {0}")]
    Value(#[from] postcard::Error),
}

/// The record key of a statistic.
pub fn encode_key(key: &StatKey) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64);
    bytes.push(match key.item {
        Item::Cell(_) => b'c',
        Item::Shape(_) => b'h',
    });
    bytes.push(match key.tier {
        Tier::Minute => 0,
        Tier::Hour => 1,
        Tier::Day => 2,
    });
    bytes.extend_from_slice(&key.start.to_be_bytes());
    // Serialising finite in-memory data cannot fail.
    let item = match &key.item {
        Item::Cell(cell) => postcard::to_extend(cell, bytes),
        Item::Shape(shape) => postcard::to_extend(shape, bytes),
    };
    item.unwrap_or_default()
}

/// The record value of a statistic; `None` (a tombstone) for nothing.
pub fn encode_value(value: Option<&Measures>) -> Option<Vec<u8>> {
    let value = value.filter(|value| !value.is_empty())?;
    let mut bytes = vec![FORMAT];
    bytes.extend(postcard::to_stdvec(value).unwrap_or_default());
    Some(bytes)
}

/// Key and value of a partition's watermark.
pub fn encode_watermark(minute: Minute) -> (Vec<u8>, Vec<u8>) {
    let mut value = vec![FORMAT];
    value.extend(postcard::to_stdvec(&minute).unwrap_or_default());
    (WATERMARK_KEY.to_vec(), value)
}

fn payload(value: &[u8]) -> Result<&[u8], DecodeError> {
    match value {
        [format, rest @ ..] if *format == FORMAT => Ok(rest),
        [format, ..] => Err(DecodeError::Format(*format)),
        [] => Err(DecodeError::Format(0)),
    }
}

impl StatRecord {
    /// Decodes a record; `value` is `None` for a tombstone.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<StatRecord, DecodeError> {
        if key == WATERMARK_KEY {
            let value = value.ok_or(DecodeError::Key)?;
            return Ok(StatRecord::Watermark(postcard::from_bytes(payload(
                value,
            )?)?));
        }
        let [kind, tier, rest @ ..] = key else {
            return Err(DecodeError::Key);
        };
        let tier = match tier {
            0 => Tier::Minute,
            1 => Tier::Hour,
            2 => Tier::Day,
            _ => return Err(DecodeError::Key),
        };
        let (start, item) = rest.split_first_chunk::<8>().ok_or(DecodeError::Key)?;
        let start = Minute::from_be_bytes(*start);
        let item = match kind {
            b'c' => Item::Cell(postcard::from_bytes::<CellKey>(item)?),
            b'h' => Item::Shape(postcard::from_bytes::<Shape>(item)?),
            _ => return Err(DecodeError::Key),
        };
        let value = match value {
            None => None,
            Some(value) => Some(postcard::from_bytes::<Measures>(payload(value)?)?),
        };
        Ok(StatRecord::Stat(StatKey { tier, start, item }, value))
    }
}

#[cfg(test)]
mod tests {
    use customs_domain::TradeCategory;
    use customs_domain::model::Direction;
    use rust_decimal::Decimal;

    use super::*;

    fn cell() -> CellKey {
        CellKey {
            category: TradeCategory::GeneralTrade,
            subcategory: None,
            direction: Direction::Export,
            supervision_mode: "0110".into(),
            statistics_group: "10".into(),
            customs_office: "5301".into(),
            transport_mode: Some("2".into()),
            partner_country: "USA".into(),
            province: Some("44".into()),
            hs_chapter: "85".into(),
            currency: "USD".into(),
        }
    }

    fn measures() -> Measures {
        Measures {
            declarations: 1,
            whole: 1,
            items: 2,
            value_cny: Decimal::new(71_400, 2),
            value_usd: Decimal::new(10_000, 2),
            net_weight_kg: Decimal::new(15, 1),
            declared: Decimal::new(10_000, 2),
        }
    }

    #[test]
    fn every_record_round_trips() {
        let keys = [
            StatKey::cell(Tier::Hour, 29_000_040, cell()),
            StatKey::shape(
                Tier::Day,
                28_999_680,
                vec![cell(), cell()].into_boxed_slice(),
            ),
        ];
        for key in keys {
            let bytes = encode_key(&key);
            let value = encode_value(Some(&measures()));
            assert_eq!(
                StatRecord::decode(&bytes, value.as_deref()).unwrap(),
                StatRecord::Stat(key.clone(), Some(measures()))
            );
            assert_eq!(
                StatRecord::decode(&bytes, None).unwrap(),
                StatRecord::Stat(key, None)
            );
        }
        let (key, value) = encode_watermark(29_000_000);
        assert_eq!(
            StatRecord::decode(&key, Some(&value)).unwrap(),
            StatRecord::Watermark(29_000_000)
        );
        assert_eq!(
            encode_value(Some(&Measures::default())),
            None,
            "empty is a tombstone"
        );
    }

    /// A change to these bytes is a format change (see the README). Worked
    /// by hand from postcard's specification: strings as a varint length
    /// and UTF-8, options as 0/1, enums by varint index, decimals as text
    /// (rust_decimal's `serde-str`), `i64` zigzag varints.
    #[test]
    fn the_encoding_is_pinned_by_golden_bytes() {
        let key = encode_key(&StatKey::cell(Tier::Hour, 29_000_040, cell()));
        let mut expected = vec![b'c', 1];
        expected.extend_from_slice(&29_000_040i64.to_be_bytes());
        // category GeneralTrade, subcategory None, direction Export.
        let category = TradeCategory::GeneralTrade as u8;
        expected.extend([category, 0, 1]);
        for text in ["0110", "10", "5301"] {
            expected.push(text.len() as u8);
            expected.extend(text.as_bytes());
        }
        expected.extend([
            1, 1, b'2', 3, b'U', b'S', b'A', 1, 2, b'4', b'4', 2, b'8', b'5', 3,
        ]);
        expected.extend(b"USD");
        assert_eq!(key, expected);
        let value = encode_value(Some(&measures())).unwrap_or_default();
        let mut expected = vec![FORMAT, 2, 2, 4];
        for text in ["714.00", "100.00", "1.5", "100.00"] {
            expected.push(text.len() as u8);
            expected.extend(text.as_bytes());
        }
        assert_eq!(value, expected);
    }
}
