//! Event time as whole minutes since the Unix epoch, and the China-time
//! (UTC+8) calendar that statistics are bucketed in.
//!
//! Single-window times carry no offset and are China time; an explicit
//! offset is honoured when present. Everything downstream works in
//! [`Minute`]s, so panes, windows and watermarks are plain integers.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};

/// Minutes since 1970-01-01T00:00Z.
pub type Minute = i64;

/// Minutes in an hour, a day.
pub const HOUR: Minute = 60;
/// Minutes in a day.
pub const DAY: Minute = 24 * HOUR;
/// China time's offset from UTC, in minutes.
const CHINA_OFFSET: Minute = 8 * HOUR;

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

/// Parses an ISO 8601 time (`2026-11-05T10:20:30`, optional fraction,
/// optional offset; no offset means China time) to its minute.
pub fn parse_minute(text: &str) -> Option<Minute> {
    let text = text.trim();
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
        return Some(with_offset.timestamp().div_euclid(60));
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .ok()?;
    let local = china().from_local_datetime(&naive).single()?;
    Some(local.timestamp().div_euclid(60))
}

/// An event time as RFC 3339 with its offset, as every answer carries it:
/// a time without an offset is China time (`2026-11-05T10:20:30` →
/// `2026-11-05T10:20:30+08:00`), one with an offset is kept; text that is
/// not a time is returned as it is.
pub fn with_offset(text: &str) -> String {
    let trimmed = text.trim();
    if DateTime::parse_from_rfc3339(trimmed).is_ok() {
        return trimmed.to_owned();
    }
    NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M"))
        .ok()
        .and_then(|naive| china().from_local_datetime(&naive).single())
        .map_or_else(|| text.to_owned(), |local| local.to_rfc3339())
}

/// Formats a minute as China time, `2026-11-05T10:20:00+08:00`.
pub fn format_minute(minute: Minute) -> String {
    match DateTime::from_timestamp(minute * 60, 0) {
        Some(utc) => utc.with_timezone(&china()).to_rfc3339(),
        None => minute.to_string(),
    }
}

/// Start of the China-time day holding `minute`.
pub fn day_start(minute: Minute) -> Minute {
    (minute + CHINA_OFFSET).div_euclid(DAY) * DAY - CHINA_OFFSET
}

/// Start of the hour holding `minute` (hours align in UTC and UTC+8).
pub fn hour_start(minute: Minute) -> Minute {
    minute.div_euclid(HOUR) * HOUR
}

/// The minute a China-time calendar date begins.
pub fn date_start(date: NaiveDate) -> Minute {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    midnight.and_utc().timestamp().div_euclid(60) - CHINA_OFFSET
}

/// The China-time date holding `minute`.
pub fn china_date(minute: Minute) -> NaiveDate {
    let shifted = (minute + CHINA_OFFSET) * 60;
    DateTime::from_timestamp(shifted, 0)
        .map(|utc| utc.date_naive())
        .unwrap_or_default()
}

/// `[start, end)` of the China-time month holding `minute`.
pub fn month_range(minute: Minute) -> (Minute, Minute) {
    let date = china_date(minute);
    let first = date.with_day(1).expect("day 1 exists");
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .expect("in range");
    (date_start(first), date_start(next))
}

/// `[start of the China-time year, end of the day)` holding `minute`: year to date.
pub fn year_to_date(minute: Minute) -> (Minute, Minute) {
    let date = china_date(minute);
    let first = NaiveDate::from_ymd_opt(date.year(), 1, 1).expect("Jan 1 exists");
    (date_start(first), day_start(minute) + DAY)
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_times_are_answered_with_their_offset() {
        assert_eq!(
            with_offset("2026-11-05T10:20:30"),
            "2026-11-05T10:20:30+08:00"
        );
        assert_eq!(with_offset("2026-11-05T10:20"), "2026-11-05T10:20:00+08:00");
        assert_eq!(
            with_offset("2026-11-05T10:20:30.250"),
            "2026-11-05T10:20:30.250+08:00"
        );
        assert_eq!(with_offset("2026-11-05T02:20:30Z"), "2026-11-05T02:20:30Z");
        assert_eq!(with_offset(""), "");
        assert_eq!(
            parse_minute(&with_offset("2026-11-05T10:20:30")),
            parse_minute("2026-11-05T10:20:30")
        );
    }

    use super::*;

    #[test]
    fn single_window_times_are_china_time() {
        let minute = parse_minute("2026-11-05T10:20:30").unwrap();
        assert_eq!(format_minute(minute), "2026-11-05T10:20:00+08:00");
        assert_eq!(parse_minute("2026-11-05T10:20:30.500"), Some(minute));
        assert_eq!(parse_minute("2026-11-05T02:20:59Z"), Some(minute));
        assert_eq!(parse_minute("not a time"), None);
    }

    #[test]
    fn china_days_begin_at_16_00_utc() {
        let minute = parse_minute("2026-11-05T00:30:00").unwrap();
        assert_eq!(
            format_minute(day_start(minute)),
            "2026-11-05T00:00:00+08:00"
        );
        let late = parse_minute("2026-11-05T23:59:00").unwrap();
        assert_eq!(day_start(late), day_start(minute));
        assert_eq!(day_start(late + 1), day_start(minute) + DAY);
    }

    #[test]
    fn months_and_year_to_date_follow_the_china_calendar() {
        let minute = parse_minute("2026-03-01T00:10:00").unwrap();
        let (start, end) = month_range(minute);
        assert_eq!(format_minute(start), "2026-03-01T00:00:00+08:00");
        assert_eq!(format_minute(end), "2026-04-01T00:00:00+08:00");
        let (start, end) = year_to_date(minute);
        assert_eq!(format_minute(start), "2026-01-01T00:00:00+08:00");
        assert_eq!(format_minute(end), "2026-03-02T00:00:00+08:00");
    }
}
