//! The time windows a query can ask for, resolved against the watermark to a
//! range `[from, to)` of whole panes.
//!
//! - `Last(span)`: a sliding window ending with the watermark's minute.
//!   Spans up to the minute tier (2 hours) slide by the minute; longer ones
//!   (24 hours, 7 days, 30 days) slide by the hour: they end with the
//!   watermark's hour, which is included in full.
//! - `Day`, `Month`, `YearToDate`: China-time (UTC+8) calendar periods; year
//!   to date ends with the watermark's day.
//! - `Range`: explicit; it must cut no pane (whole hours within the hour
//!   tier, whole China days beyond it), or the query says which size it
//!   needs.

use chrono::{Datelike, NaiveDate};

use super::time::{DAY, HOUR, Minute, date_start, hour_start, month_range, year_to_date};

/// A window to aggregate over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last `span` minutes before the watermark.
    Last(Minute),
    /// One China-time day.
    Day(NaiveDate),
    /// One China-time month (any day of it).
    Month(NaiveDate),
    /// From January 1 (China time) to the end of the watermark's day.
    YearToDate,
    /// Explicit `[from, to)` in minutes.
    Range(Minute, Minute),
    /// Everything held.
    AllTime,
}

/// The longest sliding span that slides by the minute.
const MINUTE_SLIDE_LIMIT: Minute = 2 * HOUR;

impl Window {
    /// `[from, to)` for a watermark; `None` when the window is relative to a
    /// watermark that does not exist yet (no events).
    pub fn resolve(self, watermark: Option<Minute>) -> Option<(Minute, Minute)> {
        Some(match self {
            Window::Last(span) => {
                let watermark = watermark?;
                let end = if span <= MINUTE_SLIDE_LIMIT {
                    watermark + 1
                } else {
                    hour_start(watermark) + HOUR
                };
                (end - span, end)
            }
            Window::Day(date) => (date_start(date), date_start(date) + DAY),
            Window::Month(date) => month_range(date_start(date)),
            Window::YearToDate => year_to_date(watermark?),
            Window::Range(from, to) => (from, to),
            Window::AllTime => (Minute::MIN / 2, Minute::MAX / 2),
        })
    }

    /// The same window a year earlier, for comparisons.
    pub fn year_earlier(self, watermark: Option<Minute>) -> Option<(Minute, Minute)> {
        let shift = |date: NaiveDate| date.with_year(date.year() - 1);
        match self {
            Window::Day(date) => Window::Day(shift(date)?).resolve(None),
            Window::Month(date) => Window::Month(shift(date)?).resolve(None),
            Window::YearToDate => {
                let (from, to) = self.resolve(watermark)?;
                let start = shift(super::time::china_date(from))?;
                let end = shift(super::time::china_date(to))?;
                Some((date_start(start), date_start(end)))
            }
            Window::Last(_) | Window::Range(..) => {
                let (from, to) = self.resolve(watermark)?;
                Some((from - 365 * DAY, to - 365 * DAY))
            }
            Window::AllTime => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::time::{format_minute, parse_minute};

    fn at(text: &str) -> Minute {
        parse_minute(text).unwrap()
    }

    #[test]
    fn short_windows_slide_by_the_minute_long_ones_by_the_hour() {
        let watermark = Some(at("2026-11-05T10:20:00"));
        let (from, to) = Window::Last(HOUR).resolve(watermark).unwrap();
        assert_eq!(format_minute(from), "2026-11-05T09:21:00+08:00");
        assert_eq!(format_minute(to), "2026-11-05T10:21:00+08:00");
        let (from, to) = Window::Last(24 * HOUR).resolve(watermark).unwrap();
        assert_eq!(format_minute(from), "2026-11-04T11:00:00+08:00");
        assert_eq!(format_minute(to), "2026-11-05T11:00:00+08:00");
        assert_eq!(Window::Last(HOUR).resolve(None), None);
    }

    #[test]
    fn calendar_windows_follow_china_time() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 5).unwrap();
        let (from, to) = Window::Month(day).resolve(None).unwrap();
        assert_eq!(format_minute(from), "2026-11-01T00:00:00+08:00");
        assert_eq!(format_minute(to), "2026-12-01T00:00:00+08:00");
        let (from, _) = Window::Month(day).year_earlier(None).unwrap();
        assert_eq!(format_minute(from), "2025-11-01T00:00:00+08:00");
    }
}
