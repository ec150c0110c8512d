//! Customs status of a declaration from its `DEC_RESULT` receipts: the
//! channel-code table, the parsed receipt model and the ranking that picks
//! the winning status.
//!
//! Inputs: `data/dec_channels.csv` (embedded at build time) and the
//! [`DecReceipt`]s parsed by [`crate::parse::parse_dec_result`]. Outputs: a
//! [`ChannelTable`] to look codes up in, and a [`DecStatus`] per declaration
//! (see [`winning_status`]). Guarantee: never panics on any input; a
//! malformed table row is a [`ChannelTableError`] naming the row.
//!
//! Nothing here is wired into ingest or the lifecycle yet (see
//! `docs/receipts.md`).

mod ranking;
mod receipt;

use std::collections::HashSet;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

pub use ranking::{DecStatus, winning_status};
pub use receipt::{DecReceipt, ReceiptLayout};

/// Which code system a channel code belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeSet {
    /// The current single-window set: one letter or digit (`P`, `R`, `7`).
    SingleWindow,
    /// The older TCS set: three digits (`025`, `022`).
    Tcs,
}

impl CodeSet {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeSet::SingleWindow => "single_window",
            CodeSet::Tcs => "tcs",
        }
    }
}

/// What a status means for the statistics. The order of the variants is
/// the order of their rank bands in the table (checked when it loads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelEffect {
    /// A step before release: nothing counts yet.
    None,
    /// Rejected, returned or deleted before release: never counts unless a
    /// later release or clearance comes.
    NeverCounts,
    /// Released (放行): an import counts from here.
    Released,
    /// Cleared (结关): an export counts from here.
    Cleared,
    /// Deleted after release: whatever was counted is retracted.
    DeletedAfterRelease,
}

impl ChannelEffect {
    /// Stable snake_case name, as in the table's `effect` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelEffect::None => "none",
            ChannelEffect::NeverCounts => "never_counts",
            ChannelEffect::Released => "released",
            ChannelEffect::Cleared => "cleared",
            ChannelEffect::DeletedAfterRelease => "deleted_after_release",
        }
    }
}

/// One row of `data/dec_channels.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Code system.
    pub code_set: CodeSet,
    /// The code as the receipt's `CHANNEL` carries it.
    pub code: String,
    /// Chinese meaning.
    pub meaning_zh: String,
    /// English meaning.
    pub meaning_en: String,
    /// What it means for the statistics.
    pub effect: ChannelEffect,
    /// Rank: the highest-ranked receipt of a declaration wins.
    pub rank: u16,
    /// Where the row comes from; `unverified` marks meanings that differ
    /// between public clients.
    pub source: String,
}

/// The channel table could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dec_channels.csv line {line}: {message}")]
pub struct ChannelTableError {
    /// 1-based line of the offending row (the header is line 1).
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// The channel codes, looked up by code (the two code sets never share a
/// code: one character against three digits).
#[derive(Debug, Clone)]
pub struct ChannelTable {
    rows: Vec<Channel>,
}

static EMBEDDED: LazyLock<Result<ChannelTable, ChannelTableError>> =
    LazyLock::new(|| ChannelTable::from_csv(include_str!("../../data/dec_channels.csv")));

impl ChannelTable {
    /// The table embedded at build time (parsed once, on first use).
    pub fn embedded() -> Result<&'static ChannelTable, &'static ChannelTableError> {
        EMBEDDED.as_ref()
    }

    /// Reads and checks a table in the `dec_channels.csv` layout: every row
    /// well-formed, codes in their set's shape and unique, and every effect's
    /// ranks strictly above those of the effects ordered before it.
    pub fn from_csv(text: &str) -> Result<ChannelTable, ChannelTableError> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut rows: Vec<Channel> = Vec::new();
        let mut lines: Vec<usize> = Vec::new();
        let mut seen = HashSet::new();
        let headers = reader.headers().cloned().unwrap_or_default();
        for (index, row) in reader.deserialize::<Channel>().enumerate() {
            let fallback = index + 2;
            let row = row.map_err(|err| {
                let column = match err.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => err
                        .field()
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| headers.get(i)),
                    _ => None,
                };
                ChannelTableError {
                    line: err
                        .position()
                        .and_then(|p| usize::try_from(p.line()).ok())
                        .unwrap_or(fallback),
                    message: match column {
                        Some(column) => format!("column {column}: {err}"),
                        None => err.to_string(),
                    },
                }
            })?;
            let error = |message: String| ChannelTableError {
                line: fallback,
                message,
            };
            let shape_ok = match row.code_set {
                CodeSet::SingleWindow => {
                    row.code.len() == 1 && row.code.bytes().all(|b| b.is_ascii_alphanumeric())
                }
                CodeSet::Tcs => row.code.len() == 3 && row.code.bytes().all(|b| b.is_ascii_digit()),
            };
            if !shape_ok {
                return Err(error(format!(
                    "code {:?} is not a {} code",
                    row.code,
                    row.code_set.as_str()
                )));
            }
            if !seen.insert(row.code.clone()) {
                return Err(error(format!("code {:?} appears twice", row.code)));
            }
            rows.push(row);
            lines.push(fallback);
        }
        check_rank_bands(&rows, &lines)?;
        Ok(ChannelTable { rows })
    }

    /// The row of `code`, if the table has it.
    pub fn get(&self, code: &str) -> Option<&Channel> {
        self.rows.iter().find(|row| row.code == code)
    }

    /// Every row, in file order.
    pub fn rows(&self) -> &[Channel] {
        &self.rows
    }
}

/// Every row of a higher effect must outrank every row of a lower one, so
/// the rank alone orders deleted > cleared > released > never counts > none.
fn check_rank_bands(rows: &[Channel], lines: &[usize]) -> Result<(), ChannelTableError> {
    for (row, line) in rows.iter().zip(lines) {
        let clash = rows
            .iter()
            .find(|other| other.effect < row.effect && other.rank >= row.rank);
        if let Some(other) = clash {
            return Err(ChannelTableError {
                line: *line,
                message: format!(
                    "{} ({}) has rank {}, not above {} ({}, rank {})",
                    row.code,
                    row.effect.as_str(),
                    row.rank,
                    other.code,
                    other.effect.as_str(),
                    other.rank
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
