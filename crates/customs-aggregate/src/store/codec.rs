//! The compact on-disk encoding of a [`Stored`] entry (format 2).
//!
//! What an entry holds is what later events need (its statuses, times and
//! versions, and the exact contribution a restatement retracts); this
//! encoding only writes it small, and decodes to the same value:
//! - the strings of code-table dimensions (supervision mode, statistics
//!   group, customs office, transport mode, sub-category, partner, province,
//!   HS chapter, currency) and the classification's explanation are numbers
//!   in a [`Dictionary`] that lives as long as the store (each take-over
//!   starts a new store, so it is never reloaded and holds only the
//!   distinct values seen: bounded by the code tables);
//! - the counted contribution, when it is the pending one counted at a
//!   time, is that time only;
//! - a contribution's id, when it is the entry's identity, is omitted;
//! - amounts are their exact mantissa and scale (no decimal strings);
//! - times of the form `YYYY-MM-DDTHH:MM:SS` are seconds, others stay text.
//!
//! Guarantees: `decode(encode(x)) == x` (tested over every sample
//! declaration in each lifecycle state, and the edge cases), and
//! the bytes of a fixed entry are pinned (golden test): a change of layout is
//! a new format byte, never a silent reinterpretation.

use customs_domain::classify::TradeCategory;
use customs_domain::lifecycle::partition::{Sealed, Stored};
use customs_domain::lifecycle::{Contribution, Entry, Pending, Slice};
use customs_domain::model::{Direction, MessageType};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Format byte of this encoding.
pub const FORMAT: u8 = 2;

/// Numbers for the repeated strings of one store.
#[derive(Debug, Default)]
pub struct Dictionary {
    ids: foldhash::HashMap<String, u32>,
    texts: Vec<String>,
}

impl Dictionary {
    fn id(&mut self, text: &str) -> u32 {
        if let Some(id) = self.ids.get(text) {
            return *id;
        }
        let id = self.texts.len() as u32;
        self.texts.push(text.to_owned());
        self.ids.insert(text.to_owned(), id);
        id
    }

    fn text(&self, id: u32) -> Result<String, String> {
        self.texts
            .get(id as usize)
            .cloned()
            .ok_or_else(|| format!("dictionary id {id} unknown"))
    }

    /// Distinct strings held.
    pub fn num_strings(&self) -> usize {
        self.texts.len()
    }
}

#[derive(Serialize, Deserialize)]
enum Time {
    Seconds(i64),
    Text(String),
}

#[derive(Serialize, Deserialize)]
struct Amount(i128, u32);

#[derive(Serialize, Deserialize)]
enum Record {
    Live(Box<Live>),
    Sealed(i64, Vec<String>),
}

#[derive(Serialize, Deserialize)]
struct Live {
    version: u64,
    pending: Option<PendingRecord>,
    released_at: Option<Time>,
    withdrawn: bool,
    last_status: Option<i32>,
    invt_no: Option<String>,
    counted: Counted,
    first_event_at: Time,
    last_event_at: Time,
}

#[derive(Serialize, Deserialize)]
enum Counted {
    Nothing,
    /// The pending contribution, counted at this time.
    Pending(Time),
    Other(Box<ContributionRecord>),
}

#[derive(Serialize, Deserialize)]
struct PendingRecord {
    contribution: ContributionRecord,
    in_trade_statistics: bool,
    explanation: u32,
    message_type: MessageType,
}

#[derive(Serialize, Deserialize)]
struct ContributionRecord {
    /// `None`: the entry's identity.
    id: Option<String>,
    invt_no: Option<String>,
    category: TradeCategory,
    subcategory: Option<u32>,
    direction: Direction,
    supervision_mode: u32,
    statistics_group: u32,
    customs_office: u32,
    transport_mode: Option<u32>,
    num_items: u64,
    value_cny: Amount,
    value_usd: Amount,
    net_weight_kg: Amount,
    slices: Vec<SliceRecord>,
    counted_at: Time,
}

#[derive(Serialize, Deserialize)]
struct SliceRecord {
    partner_country: u32,
    province: Option<u32>,
    hs_chapter: u32,
    currency: u32,
    num_items: u64,
    declared: Amount,
    value_cny: Amount,
    value_usd: Amount,
}

/// `text` as seconds when it is exactly `YYYY-MM-DDTHH:MM:SS` of a real
/// date and time (so that [`text_of`] gives the same text back), else text.
/// By hand, not chrono's format strings: this runs several times per event
/// and chrono's parse and format were a sixth of the owner's profile.
fn time(text: &str) -> Time {
    seconds_of(text).map_or_else(|| Time::Text(text.to_owned()), Time::Seconds)
}

fn seconds_of(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        b[range].iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`, <https://howardhinnant.github.io/date_algorithms.html>).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`] (the same source's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn text_of(time: Time) -> Result<String, String> {
    match time {
        Time::Text(text) => Ok(text),
        Time::Seconds(seconds) => {
            let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
            let of_day = seconds.rem_euclid(86_400);
            if !(0..=9_999).contains(&year) {
                return Err(format!("time {seconds} out of range"));
            }
            Ok(format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
                of_day / 3_600,
                of_day % 3_600 / 60,
                of_day % 60
            ))
        }
    }
}

fn amount(value: &Decimal) -> Amount {
    Amount(value.mantissa(), value.scale())
}

fn decimal(amount: Amount) -> Result<Decimal, String> {
    Decimal::try_from_i128_with_scale(amount.0, amount.1).map_err(|e| e.to_string())
}

/// Encodes `stored`, the entry of identity `key`.
pub fn encode(key: &str, stored: &Stored, dictionary: &mut Dictionary) -> Vec<u8> {
    let record = match stored {
        Stored::Sealed(sealed) => Record::Sealed(sealed.last_event, sealed.invt_nos.clone()),
        Stored::Live(entry) => Record::Live(Box::new(live(key, entry, dictionary))),
    };
    let mut bytes = vec![FORMAT];
    // Writing to a Vec cannot fail; the types have no failing serializer.
    if let Err(error) = postcard::to_io(&record, &mut bytes) {
        panic!("lifecycle state store: cannot encode: {error}");
    }
    bytes
}

fn live(key: &str, entry: &Entry, dictionary: &mut Dictionary) -> Live {
    let pending = entry.pending.as_ref().map(|pending| PendingRecord {
        contribution: contribution(key, &pending.contribution, dictionary),
        in_trade_statistics: pending.in_trade_statistics,
        explanation: dictionary.id(&pending.explanation),
        message_type: pending.message_type,
    });
    let counted = match (&entry.counted, &entry.pending) {
        (None, _) => Counted::Nothing,
        (Some(counted), Some(pending))
            if *counted
                == Contribution {
                    counted_at: counted.counted_at.clone(),
                    ..pending.contribution.clone()
                } =>
        {
            Counted::Pending(time(&counted.counted_at))
        }
        (Some(counted), _) => Counted::Other(Box::new(contribution(key, counted, dictionary))),
    };
    Live {
        version: entry.version,
        pending,
        released_at: entry.released_at.as_deref().map(time),
        withdrawn: entry.withdrawn,
        last_status: entry.last_status,
        invt_no: entry.invt_no.clone(),
        counted,
        first_event_at: time(&entry.first_event_at),
        last_event_at: time(&entry.last_event_at),
    }
}

fn contribution(key: &str, c: &Contribution, d: &mut Dictionary) -> ContributionRecord {
    ContributionRecord {
        id: (c.id != key).then(|| c.id.clone()),
        invt_no: c.invt_no.clone(),
        category: c.category,
        subcategory: c.subcategory.as_deref().map(|s| d.id(s)),
        direction: c.direction,
        supervision_mode: d.id(&c.supervision_mode),
        statistics_group: d.id(&c.statistics_group),
        customs_office: d.id(&c.customs_office),
        transport_mode: c.transport_mode.as_deref().map(|s| d.id(s)),
        num_items: c.num_items,
        value_cny: amount(&c.value_cny),
        value_usd: amount(&c.value_usd),
        net_weight_kg: amount(&c.net_weight_kg),
        slices: c
            .slices
            .iter()
            .map(|s| SliceRecord {
                partner_country: d.id(&s.partner_country),
                province: s.province.as_deref().map(|p| d.id(p)),
                hs_chapter: d.id(&s.hs_chapter),
                currency: d.id(&s.currency),
                num_items: s.num_items,
                declared: amount(&s.declared),
                value_cny: amount(&s.value_cny),
                value_usd: amount(&s.value_usd),
            })
            .collect(),
        counted_at: time(&c.counted_at),
    }
}

/// Decodes what [`encode`] wrote for identity `key`.
pub fn decode(key: &str, bytes: &[u8], dictionary: &Dictionary) -> Result<Stored, String> {
    let rest = match bytes.split_first() {
        Some((&FORMAT, rest)) => rest,
        Some((format, _)) => return Err(format!("unknown entry format {format}")),
        None => return Err("empty entry".to_owned()),
    };
    let record: Record = postcard::from_bytes(rest).map_err(|e| e.to_string())?;
    Ok(match record {
        Record::Sealed(last_event, invt_nos) => Stored::Sealed(Sealed {
            last_event,
            invt_nos,
        }),
        Record::Live(live) => Stored::Live(Box::new(entry(key, *live, dictionary)?)),
    })
}

fn entry(key: &str, live: Live, d: &Dictionary) -> Result<Entry, String> {
    let pending = live
        .pending
        .map(|p| -> Result<Pending, String> {
            Ok(Pending {
                contribution: contribution_of(key, p.contribution, d)?,
                in_trade_statistics: p.in_trade_statistics,
                explanation: d.text(p.explanation)?,
                message_type: p.message_type,
            })
        })
        .transpose()?;
    let counted = match live.counted {
        Counted::Nothing => None,
        Counted::Pending(at) => {
            let pending = pending
                .as_ref()
                .ok_or("counted as pending without a pending contribution")?;
            Some(Contribution {
                counted_at: text_of(at)?,
                ..pending.contribution.clone()
            })
        }
        Counted::Other(record) => Some(contribution_of(key, *record, d)?),
    };
    Ok(Entry {
        version: live.version,
        pending,
        released_at: live.released_at.map(text_of).transpose()?,
        withdrawn: live.withdrawn,
        last_status: live.last_status,
        invt_no: live.invt_no,
        counted,
        first_event_at: text_of(live.first_event_at)?,
        last_event_at: text_of(live.last_event_at)?,
    })
}

fn contribution_of(
    key: &str,
    c: ContributionRecord,
    d: &Dictionary,
) -> Result<Contribution, String> {
    let text = |id: Option<u32>| id.map(|id| d.text(id)).transpose();
    Ok(Contribution {
        id: c.id.unwrap_or_else(|| key.to_owned()),
        invt_no: c.invt_no,
        category: c.category,
        subcategory: text(c.subcategory)?,
        direction: c.direction,
        supervision_mode: d.text(c.supervision_mode)?,
        statistics_group: d.text(c.statistics_group)?,
        customs_office: d.text(c.customs_office)?,
        transport_mode: text(c.transport_mode)?,
        num_items: c.num_items,
        value_cny: decimal(c.value_cny)?,
        value_usd: decimal(c.value_usd)?,
        net_weight_kg: decimal(c.net_weight_kg)?,
        slices: c
            .slices
            .into_iter()
            .map(|s| -> Result<Slice, String> {
                Ok(Slice {
                    partner_country: d.text(s.partner_country)?,
                    province: text(s.province)?,
                    hs_chapter: d.text(s.hs_chapter)?,
                    currency: d.text(s.currency)?,
                    num_items: s.num_items,
                    declared: decimal(s.declared)?,
                    value_cny: decimal(s.value_cny)?,
                    value_usd: decimal(s.value_usd)?,
                })
            })
            .collect::<Result<_, _>>()?,
        counted_at: text_of(c.counted_at)?,
    })
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
