//! The winning status of one declaration from all its receipts, in any
//! arrival order: the highest-ranked status wins, never the last to arrive.
//!
//! Order: rank (from the channel table), then the later `notified_at`, then
//! the code set and code text. That is a total order on what the result
//! holds, so the result is the same for every permutation of the input,
//! duplicates included.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::{ChannelEffect, ChannelTable, CodeSet, DecReceipt};

/// The customs status of one declaration, as its receipts so far say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecStatus {
    /// Code system of the winning code.
    pub code_set: CodeSet,
    /// The winning `CHANNEL` code.
    pub channel: String,
    /// What it means for the statistics.
    pub effect: ChannelEffect,
    /// Its rank in the channel table.
    pub rank: u16,
    /// `notified_at` of the winning receipt.
    pub notified_at: String,
    /// The earliest release time (`P` / `025`) among the receipts, if any:
    /// the date an import counts on, even after a clearance outranks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<String>,
    /// The earliest clearance time (`R` / `022`) among the receipts, if any:
    /// the date an export counts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<String>,
    /// The entry id of the highest-ranked receipt that carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
}

/// A receipt with its table row, ordered by the winning rule.
struct Ranked<'a> {
    receipt: &'a DecReceipt,
    code_set: CodeSet,
    effect: ChannelEffect,
    rank: u16,
}

impl Ranked<'_> {
    fn cmp_key(&self, other: &Self) -> Ordering {
        self.rank
            .cmp(&other.rank)
            .then_with(|| compare_times(&self.receipt.notified_at, &other.receipt.notified_at))
            .then_with(|| self.code_set.cmp(&other.code_set))
            .then_with(|| self.receipt.channel.cmp(&other.receipt.channel))
    }
}

/// The winning status of the receipts of one declaration, or `None` when
/// none of them has a code in `table` (receipts parsed by
/// [`crate::parse::parse_dec_result`] always have one).
pub fn winning_status<'a>(
    table: &ChannelTable,
    receipts: impl IntoIterator<Item = &'a DecReceipt>,
) -> Option<DecStatus> {
    let ranked: Vec<Ranked<'a>> = receipts
        .into_iter()
        .filter_map(|receipt| {
            table.get(&receipt.channel).map(|row| Ranked {
                receipt,
                code_set: row.code_set,
                effect: row.effect,
                rank: row.rank,
            })
        })
        .collect();
    let winner = ranked.iter().max_by(|a, b| a.cmp_key(b))?;
    let earliest = |effect: ChannelEffect| {
        ranked
            .iter()
            .filter(|r| r.effect == effect)
            .map(|r| r.receipt.notified_at.as_str())
            .min_by(|a, b| compare_times(a, b))
            .map(str::to_owned)
    };
    let entry_id = ranked
        .iter()
        .filter_map(|r| r.receipt.entry_id.as_deref().map(|id| (r, id)))
        .max_by(|(a, a_id), (b, b_id)| a.cmp_key(b).then_with(|| a_id.cmp(b_id)))
        .map(|(_, id)| id.to_owned());
    Some(DecStatus {
        code_set: winner.code_set,
        channel: winner.receipt.channel.clone(),
        effect: winner.effect,
        rank: winner.rank,
        notified_at: winner.receipt.notified_at.clone(),
        released_at: earliest(ChannelEffect::Released),
        cleared_at: earliest(ChannelEffect::Cleared),
        entry_id,
    })
}

/// Compares ISO local times with and without milliseconds as instants
/// (`…:43` equals `…:43.000`), then as text so the order stays total.
fn compare_times(a: &str, b: &str) -> Ordering {
    let key = |time: &str| {
        let (base, fraction) = time.split_once('.').unwrap_or((time, ""));
        let millis = format!("{fraction:0<3}");
        (base.to_owned(), millis)
    };
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}
