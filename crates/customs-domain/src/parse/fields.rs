//! Field-level validation shared by the message parsers.

use std::fmt::{self, Display};
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::codes::CodeTables;
use crate::model::Direction;
use crate::reject::{RejectReason, Rejection};

/// Largest plausible amount on one item or declaration, in any currency.
/// Above this, a value is treated as a data error rather than a real trade.
/// 10^17 (0x0163_4578_5D8A_0000), written as parts because `const` needs it.
const ABSURD_AMOUNT: Decimal = Decimal::from_parts(0x5D8A_0000, 0x0163_4578, 0, false, 0);

/// A required field: present and non-empty.
pub(crate) fn required(value: Option<&str>, field: impl Display) -> Result<&str, Rejection> {
    match value.map(str::trim) {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(Rejection::new(
            RejectReason::MissingField,
            format!("{field} is missing or empty"),
        )),
    }
}

/// The path of an item field, e.g. `DecList[2]/DeclTotal`, formatted only
/// when a rejection needs it (no allocation on the accepted path).
#[derive(Clone, Copy)]
pub(crate) struct ItemField<'a> {
    /// Block name, e.g. `DecList`.
    pub(crate) block: &'a str,
    /// Item number.
    pub(crate) item_no: u32,
    /// Field name, e.g. `DeclTotal`.
    pub(crate) name: &'a str,
}

impl Display for ItemField<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]/{}", self.block, self.item_no, self.name)
    }
}

/// Checks an already parsed amount: not negative, not absurd.
pub(crate) fn check_amount(amount: Decimal, field: impl Display) -> Result<Decimal, Rejection> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(Rejection::new(
            RejectReason::NegativeValue,
            format!("{field} is negative ({amount})"),
        ));
    }
    if amount > ABSURD_AMOUNT {
        return Err(Rejection::new(
            RejectReason::AbsurdValue,
            format!("{field} {amount} exceeds the plausibility limit {ABSURD_AMOUNT}"),
        ));
    }
    Ok(amount.normalize())
}

/// An optional field: `None` when absent or blank, else the trimmed text.
pub(crate) fn optional(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|text| !text.is_empty())
}

/// An optional non-negative decimal (quantities, weights, prices).
pub(crate) fn optional_amount(
    value: Option<&str>,
    field: impl Display,
) -> Result<Option<Decimal>, Rejection> {
    optional(value)
        .map(|text| quantity(text, field))
        .transpose()
}

/// A quantity or weight: a non-negative decimal.
pub(crate) fn quantity(value: &str, field: impl Display) -> Result<Decimal, Rejection> {
    let parsed = Decimal::from_str(value).map_err(|_| {
        Rejection::new(
            RejectReason::InvalidQuantity,
            format!("{field} {value:?} is not a number"),
        )
    })?;
    if parsed.is_sign_negative() && !parsed.is_zero() {
        return Err(Rejection::new(
            RejectReason::NegativeValue,
            format!("{field} is negative ({value})"),
        ));
    }
    Ok(parsed.normalize())
}

/// `I` / `E` to a direction.
pub(crate) fn direction(value: &str, field: impl Display) -> Result<Direction, Rejection> {
    match value {
        "I" | "i" => Ok(Direction::Import),
        "E" | "e" => Ok(Direction::Export),
        other => Err(Rejection::new(
            RejectReason::InvalidDirection,
            format!("{field} is {other:?}, expected I or E"),
        )),
    }
}

/// Normalises a supervision mode to four digits (`110` becomes `0110`).
pub(crate) fn supervision_mode(value: &str, field: impl Display) -> Result<String, Rejection> {
    let all_digits = value.bytes().all(|b| b.is_ascii_digit());
    match value.len() {
        4 if all_digits => Ok(value.to_owned()),
        3 if all_digits => Ok(format!("0{value}")),
        _ => Err(Rejection::new(
            RejectReason::InvalidSupervisionMode,
            format!("{field} is {value:?}, expected 3 or 4 digits"),
        )),
    }
}

/// A country code in either code system, as ISO 3166 alpha-3.
pub(crate) fn country(
    value: &str,
    field: impl Display,
    tables: &CodeTables,
) -> Result<String, Rejection> {
    tables.country(value).map(str::to_owned).ok_or_else(|| {
        Rejection::new(
            RejectReason::UnknownCountry,
            format!("{field} {value:?} is not a known country code"),
        )
    })
}

/// A currency code in either code system, as ISO 4217.
pub(crate) fn currency(
    value: &str,
    field: impl Display,
    tables: &CodeTables,
) -> Result<String, Rejection> {
    tables.currency(value).map(str::to_owned).ok_or_else(|| {
        Rejection::new(
            RejectReason::UnknownCurrency,
            format!("{field} {value:?} is not a known currency code"),
        )
    })
}

/// A non-negative, plausible decimal amount.
pub(crate) fn amount(value: &str, field: impl Display) -> Result<Decimal, Rejection> {
    // Plain decimal notation only: no exponents, separators or signs but `-`.
    let plain = value.strip_prefix('-').unwrap_or(value);
    if plain.is_empty() || !plain.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(Rejection::new(
            RejectReason::InvalidAmount,
            format!("{field} {value:?} is not a decimal number"),
        ));
    }
    match Decimal::from_str(value) {
        Ok(parsed) => check_amount(parsed, field),
        Err(_) => Err(Rejection::new(
            RejectReason::InvalidAmount,
            format!("{field} {value:?} is not a decimal number"),
        )),
    }
}

/// A ten-digit commodity code, or a four-digit heading where `allow_heading`
/// (simplified export inventories, `statisticsFlag` A).
pub(crate) fn commodity_code(
    value: &str,
    field: impl Display,
    allow_heading: bool,
) -> Result<String, Rejection> {
    let digits = value.bytes().all(|b| b.is_ascii_digit());
    if digits && (value.len() == 10 || (allow_heading && value.len() == 4)) {
        return Ok(value.to_owned());
    }
    let expected = if allow_heading { "10 or 4" } else { "10" };
    Err(Rejection::new(
        RejectReason::InvalidCommodityCode,
        format!("{field} {value:?} is not {expected} digits"),
    ))
}

/// A positive item number.
pub(crate) fn item_number(value: &str, field: impl Display) -> Result<u32, Rejection> {
    match value.parse::<u32>() {
        Ok(number) if number > 0 => Ok(number),
        _ => Err(Rejection::new(
            RejectReason::InvalidItemNumber,
            format!("{field} {value:?} is not a positive integer"),
        )),
    }
}

/// A single-window date or date-time, as ISO 8601 local time (UTC+8).
///
/// Accepts `YYYYMMDD`, `YYYYMMDDhhmmss`, `YYYYMMDDhhmmssSSS`, `YYYY-MM-DD`,
/// `YYYY-MM-DD hh:mm:ss` and the ISO forms this function returns, so it is
/// idempotent. Milliseconds are kept (`.SSS`) when given. The QP receipt form
/// `YYYYMMDDThhmmssSS` (exactly that shape; the last two digits are
/// hundredths) becomes `.SS0` milliseconds.
pub(crate) fn date_time(value: &str, field: impl Display) -> Result<String, Rejection> {
    let mut digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if is_qp_time(value) {
        // Hundredths to milliseconds.
        digits.push('0');
    }
    let separators_ok = value
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | ':' | 'T' | '.'));
    let bad = || {
        Rejection::new(
            RejectReason::MalformedDate,
            format!("{field} {value:?} is not a recognised date"),
        )
    };
    if !separators_ok || !matches!(digits.len(), 8 | 14 | 17) {
        return Err(bad());
    }
    let part = |from: usize, to: usize| digits[from..to].parse::<u32>().unwrap_or(u32::MAX);
    let (year, month, day) = (part(0, 4), part(4, 6), part(6, 8));
    let (hour, minute, second) = if digits.len() >= 14 {
        (part(8, 10), part(10, 12), part(12, 14))
    } else {
        (0, 0, 0)
    };
    let valid = (1900..=2999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return Err(bad());
    }
    let base = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    Ok(match digits.get(14..17) {
        Some(millis) => format!("{base}.{millis}"),
        None => base,
    })
}

/// `YYYYMMDDThhmmssSS`: eight digits, `T`, eight digits.
fn is_qp_time(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 17
        && bytes[8] == b'T'
        && bytes[..8].iter().chain(&bytes[9..]).all(u8::is_ascii_digit)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervision_mode_gets_its_leading_zero_back() {
        assert_eq!(
            supervision_mode("110", "TradeMode").ok(),
            Some("0110".into())
        );
        assert_eq!(
            supervision_mode("9610", "TradeMode").ok(),
            Some("9610".into())
        );
        let err = supervision_mode("96A0", "TradeMode")
            .err()
            .map(|e| e.reason);
        assert_eq!(err, Some(RejectReason::InvalidSupervisionMode));
    }

    #[test]
    fn dates_in_every_single_window_layout() {
        assert_eq!(
            date_time("20180118", "d").ok(),
            Some("2018-01-18T00:00:00".into())
        );
        assert_eq!(
            date_time("20180118164707", "d").ok(),
            Some("2018-01-18T16:47:07".into())
        );
        assert_eq!(
            date_time("2018-01-18 16:47:07", "d").ok(),
            Some("2018-01-18T16:47:07".into())
        );
        assert_eq!(
            date_time("20160512102646001", "d").ok(),
            Some("2016-05-12T10:26:46.001".into())
        );
        for good in ["2016-05-12T10:26:46.001", "2018-01-18T16:47:07"] {
            assert_eq!(
                date_time(good, "d").ok().as_deref(),
                Some(good),
                "idempotent"
            );
        }
        assert_eq!(
            date_time("20180208T15032200", "d").ok(),
            Some("2018-02-08T15:03:22.000".into()),
            "QP receipt time, hundredths"
        );
        assert_eq!(
            date_time("20180208T15032257", "d").ok(),
            Some("2018-02-08T15:03:22.570".into())
        );
        for bad in [
            "2018-02-30",
            "20181301",
            "yesterday",
            "2018011",
            "2018020815032200",
            "20180230T15032200",
        ] {
            let err = date_time(bad, "d").err().map(|e| e.reason);
            assert_eq!(err, Some(RejectReason::MalformedDate), "{bad}");
        }
    }

    #[test]
    fn absurd_amount_is_ten_to_the_seventeenth() {
        assert_eq!(ABSURD_AMOUNT, Decimal::from(100_000_000_000_000_000_i64));
    }

    #[test]
    fn amounts_are_exact_and_checked() {
        assert_eq!(
            amount("1234.50", "v").ok(),
            Decimal::from_str("1234.5").ok()
        );
        let reason = |v: &str| amount(v, "v").err().map(|e| e.reason);
        assert_eq!(reason("-1"), Some(RejectReason::NegativeValue));
        assert_eq!(reason("12,5"), Some(RejectReason::InvalidAmount));
        assert_eq!(reason("1e400"), Some(RejectReason::InvalidAmount));
        assert_eq!(
            reason("100000000000000001"),
            Some(RejectReason::AbsurdValue)
        );
    }
}
