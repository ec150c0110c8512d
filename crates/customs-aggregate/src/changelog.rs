//! The changelog record format: the owner's lifecycle state of one
//! classified partition, as a compacted topic with the same partitioning.
//!
//! Keys are `d/<identity>` (a declaration identity's [`Stored`] entry or
//! sealed marker; a tombstone forgets it) and `s/<summary id>` (a summary
//! result the partition has seen, [`SummaryMark`]; a tombstone forgets
//! it). Compaction keeps the latest record per key, which is exactly the
//! partition's state; only the partition's owner reads it, when it takes
//! the partition over. Values are postcard (serde) behind a format byte,
//! pinned by golden bytes below; a reader meeting another format byte
//! refuses the record loudly rather than guess (see the README's upgrade
//! path).

use customs_domain::lifecycle::partition::{Stored, SummaryMark};

/// Format byte of the current value encoding.
pub const FORMAT: u8 = 3;

/// One decoded changelog record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An identity's entry or marker, or `None` to forget it.
    Entry(String, Option<Stored>),
    /// A summary result, or `None` to forget it.
    Summary(String, Option<SummaryMark>),
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The key has no known prefix.
    #[error("unknown changelog key {0:?}")]
    Key(String),
    /// The value is not in the current format.
    #[error("changelog value format {0} is not {FORMAT}")]
    Format(u8),
    /// The value does not decode.
    #[error("undecodable changelog value: {0}")]
    Value(#[from] postcard::Error),
}

/// Key and value of an entry change.
pub fn encode_entry(key: &str, stored: Option<&Stored>) -> (Vec<u8>, Option<Vec<u8>>) {
    (format!("d/{key}").into_bytes(), stored.map(value))
}

/// Key and value of a summary change.
pub fn encode_summary(id: &str, mark: Option<&SummaryMark>) -> (Vec<u8>, Option<Vec<u8>>) {
    (format!("s/{id}").into_bytes(), mark.map(value))
}

fn value<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = vec![FORMAT];
    // Serialising finite in-memory data to a Vec cannot fail.
    bytes.extend(postcard::to_stdvec(value).unwrap_or_default());
    bytes
}

fn decode_value<'a, T: serde::Deserialize<'a>>(
    value: Option<&'a [u8]>,
) -> Result<Option<T>, DecodeError> {
    match value {
        None => Ok(None),
        Some([format, rest @ ..]) if *format == FORMAT => Ok(Some(postcard::from_bytes(rest)?)),
        Some([format, ..]) => Err(DecodeError::Format(*format)),
        Some([]) => Err(DecodeError::Format(0)),
    }
}

impl Change {
    /// Decodes a record; `value` is `None` for a tombstone.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Change, DecodeError> {
        let key = String::from_utf8_lossy(key);
        match key.split_once('/') {
            Some(("d", name)) => Ok(Change::Entry(name.to_owned(), decode_value(value)?)),
            Some(("s", name)) => Ok(Change::Summary(name.to_owned(), decode_value(value)?)),
            _ => Err(DecodeError::Key(key.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use customs_domain::lifecycle::Entry;
    use customs_domain::lifecycle::partition::Sealed;

    use super::*;

    #[test]
    fn every_change_round_trips() {
        let entry = Entry {
            version: 3,
            released_at: Some("2026-11-18T11:00:00".to_owned()),
            ..Entry::default()
        };
        let sealed = Stored::Sealed(Sealed {
            last_event: 29_000_000,
            invt_nos: vec!["I1".to_owned()],
        });
        let mark = SummaryMark {
            at: 29_000_100,
            invt_nos: vec!["I1".to_owned()],
        };
        for (key, value, change) in [
            {
                let (k, v) = encode_entry("g1", Some(&Stored::Live(Box::new(entry.clone()))));
                (
                    k,
                    v,
                    Change::Entry("g1".to_owned(), Some(Stored::Live(Box::new(entry)))),
                )
            },
            {
                let (k, v) = encode_entry("g2", Some(&sealed));
                (k, v, Change::Entry("g2".to_owned(), Some(sealed)))
            },
            {
                let (k, v) = encode_entry("g3", None);
                (k, v, Change::Entry("g3".to_owned(), None))
            },
            {
                let (k, v) = encode_summary("S1", Some(&mark));
                (k, v, Change::Summary("S1".to_owned(), Some(mark)))
            },
        ] {
            assert_eq!(Change::decode(&key, value.as_deref()).unwrap(), change);
        }
    }

    /// The encoding is a contract with every record already in a
    /// changelog: a change to these bytes is a format change (new FORMAT,
    /// new topic name, rebuild; see the README). The expected bytes are
    /// postcard's specification worked by hand: enum variants and lengths
    /// as LEB128 varints, `i64` zigzag-encoded first.
    #[test]
    fn the_encoding_is_pinned_by_golden_bytes() {
        let sealed = Stored::Sealed(Sealed {
            last_event: 29_000_000,
            invt_nos: vec!["I1".to_owned()],
        });
        let (key, value) = encode_entry("g2", Some(&sealed));
        assert_eq!(key, b"d/g2");
        assert_eq!(
            value.unwrap_or_default(),
            [3, 1, 128, 133, 212, 27, 1, 2, 73, 49]
        );
        let (key, value) = encode_summary(
            "S1",
            Some(&SummaryMark {
                at: 29_000_100,
                invt_nos: vec!["I1".to_owned(), "I2".to_owned()],
            }),
        );
        assert_eq!(key, b"s/S1");
        assert_eq!(
            value.unwrap_or_default(),
            [3, 200, 134, 212, 27, 2, 2, 73, 49, 2, 73, 50]
        );
    }

    #[test]
    fn a_foreign_format_is_refused() {
        assert!(matches!(
            Change::decode(b"d/x", Some(&[9, 1, 2])),
            Err(DecodeError::Format(9))
        ));
        assert!(matches!(
            Change::decode(b"x/1", None),
            Err(DecodeError::Key(_))
        ));
    }
}
