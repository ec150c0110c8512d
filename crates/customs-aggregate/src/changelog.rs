//! The changelog record format: the aggregate's whole state as a compacted
//! topic, one partition per classified partition.
//!
//! Keys are `d/<identity>` (a declaration's lifecycle [`Entry`]; a
//! tombstone removes an expired waiting entry or a sealed one),
//! `s/<summary id>` (the inventory numbers a summary result supersedes),
//! `w/<partition>` (the partition's event-time watermark, in minutes) and
//! `p/<day>` (the sealed tally of final contributions, per China day). Compaction keeps the
//! latest record per key, which is exactly the state. Values are postcard
//! (serde) behind a format byte; a reader meeting another format byte
//! refuses the record loudly rather than guess — a format change ships with
//! a new changelog topic name, rebuilt from the classified topic.

use customs_domain::lifecycle::Entry;
use customs_domain::stats::Minute;
use customs_domain::stats::cell::Tally;
use serde::{Deserialize, Serialize};

/// Format byte of the current value encoding.
const FORMAT: u8 = 2;

/// One decoded changelog record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A declaration identity's entry, or `None` to forget it.
    Entry(String, Option<Box<Entry>>),
    /// A summary result and the inventory numbers it supersedes.
    Summary(String, Vec<String>),
    /// A partition's watermark.
    Watermark(i32, Minute),
    /// The sealed tally of one China day of this changelog partition: the
    /// final contributions of entries removed because they are older than
    /// the allowed lateness.
    Sealed(Minute, Tally),
}

/// The encoding side of [`Value`], by reference: same variants in the same
/// order, so postcard writes exactly what [`Value`] reads.
#[derive(Serialize)]
enum ValueRef<'a> {
    Entry(&'a Entry),
    Summary(&'a [String]),
    Watermark(Minute),
    Sealed(&'a Tally),
}

#[derive(Serialize, Deserialize)]
enum Value {
    Entry(Box<Entry>),
    Summary(Vec<String>),
    Watermark(Minute),
    Sealed(Tally),
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
    /// The key's kind and the value's kind differ.
    #[error("changelog key {0:?} does not match its value")]
    Mismatch(String),
}

/// Key and value of an entry change, without copying the entry.
pub fn encode_entry(key: &str, entry: Option<&Entry>) -> (Vec<u8>, Option<Vec<u8>>) {
    (
        format!("d/{key}").into_bytes(),
        entry.map(|entry| value(&ValueRef::Entry(entry))),
    )
}

fn value(value: &ValueRef<'_>) -> Vec<u8> {
    let mut bytes = vec![FORMAT];
    // Serialising finite in-memory data to a Vec cannot fail.
    bytes.extend(postcard::to_stdvec(value).unwrap_or_default());
    bytes
}

impl Change {
    /// Key and value (None for a tombstone) of this change.
    pub fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        match self {
            Change::Entry(key, entry) => encode_entry(key, entry.as_deref()),
            Change::Summary(id, invt_nos) => (
                format!("s/{id}").into_bytes(),
                Some(value(&ValueRef::Summary(invt_nos))),
            ),
            Change::Watermark(partition, minute) => (
                format!("w/{partition}").into_bytes(),
                Some(value(&ValueRef::Watermark(*minute))),
            ),
            Change::Sealed(day, tally) => (
                format!("p/{day}").into_bytes(),
                Some(value(&ValueRef::Sealed(tally))),
            ),
        }
    }

    /// Decodes a record; `value` is `None` for a tombstone.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Change, DecodeError> {
        let key = String::from_utf8_lossy(key);
        let (kind, name) = key
            .split_once('/')
            .ok_or_else(|| DecodeError::Key(key.to_string()))?;
        let value = match value {
            None => None,
            Some([]) => return Err(DecodeError::Format(0)),
            Some([format, rest @ ..]) if *format == FORMAT => {
                Some(postcard::from_bytes::<Value>(rest)?)
            }
            Some([format, ..]) => return Err(DecodeError::Format(*format)),
        };
        match (kind, value) {
            ("d", None) => Ok(Change::Entry(name.to_owned(), None)),
            ("d", Some(Value::Entry(entry))) => Ok(Change::Entry(name.to_owned(), Some(entry))),
            ("s", Some(Value::Summary(invt_nos))) => Ok(Change::Summary(name.to_owned(), invt_nos)),
            ("w", Some(Value::Watermark(minute))) => name
                .parse()
                .map(|partition| Change::Watermark(partition, minute))
                .map_err(|_| DecodeError::Key(key.to_string())),
            ("p", Some(Value::Sealed(tally))) => name
                .parse()
                .map(|day| Change::Sealed(day, tally))
                .map_err(|_| DecodeError::Key(key.to_string())),
            ("d" | "s" | "w" | "p", _) => Err(DecodeError::Mismatch(key.to_string())),
            _ => Err(DecodeError::Key(key.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_round_trips() {
        let entry = Entry {
            version: 3,
            released_at: Some("2026-11-18T11:00:00".to_owned()),
            ..Entry::default()
        };
        for change in [
            Change::Entry("g1".to_owned(), Some(Box::new(entry))),
            Change::Entry("g1".to_owned(), None),
            Change::Summary("S1".to_owned(), vec!["I1".to_owned()]),
            Change::Watermark(2, 29_000_000),
            Change::Sealed(29_000_160, Tally::default()),
        ] {
            let (key, value) = change.encode();
            assert_eq!(Change::decode(&key, value.as_deref()).unwrap(), change);
        }
    }

    #[test]
    fn a_foreign_format_is_refused() {
        assert!(matches!(
            Change::decode(b"w/1", Some(&[9, 1, 2])),
            Err(DecodeError::Format(9))
        ));
        assert!(matches!(
            Change::decode(b"x/1", None),
            Err(DecodeError::Key(_))
        ));
    }
}
