//! Request validation: proto requests become domain windows, dimensions and
//! filters, or a field-level `INVALID_ARGUMENT` naming the field
//! (`group_by[2]: unknown dimension`). Limits on group-by width, filters and
//! rows live here.

use chrono::{DateTime, NaiveDate};
use customs_domain::stats::query::Measure;
use customs_domain::stats::time::{DAY, HOUR, Minute};
use customs_domain::stats::{Dimension, Filter, Window};
use customs_proto::v1;

use super::errors::ApiError;

/// Most group-by dimensions in one query.
pub const MAX_GROUP_BY: usize = 4;
/// Most filters in one query.
pub const MAX_FILTERS: usize = 8;
/// Most values in one filter.
pub const MAX_FILTER_VALUES: usize = 1000;
/// Most rows in one answer.
pub const MAX_ROWS: usize = 1000;

/// A validated query.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The window.
    pub window: Window,
    /// Group-by dimensions, distinct, in order.
    pub group_by: Vec<Dimension>,
    /// Filters.
    pub filters: Vec<Filter>,
    /// Row order; `None` = by group values.
    pub order_by: Option<Measure>,
    /// Largest first.
    pub descending: bool,
    /// Rows to return at most.
    pub limit: usize,
}

impl Plan {
    /// Validates `request`; `prefix` is prepended to field names (`query.`
    /// inside a subscription).
    pub fn parse(request: &v1::QueryRequest, prefix: &str) -> Result<Plan, ApiError> {
        let window = window(request.window.as_ref(), &format!("{prefix}window"))?;
        if request.group_by.len() > MAX_GROUP_BY {
            return Err(ApiError::invalid(
                format!("{prefix}group_by"),
                format!(
                    "at most {MAX_GROUP_BY} dimensions (got {})",
                    request.group_by.len()
                ),
            ));
        }
        let mut group_by = Vec::with_capacity(request.group_by.len());
        for (index, value) in request.group_by.iter().enumerate() {
            let field = format!("{prefix}group_by[{index}]");
            let dimension = dimension(*value, &field)?;
            if group_by.contains(&dimension) {
                return Err(ApiError::invalid(field, "repeated dimension"));
            }
            group_by.push(dimension);
        }
        if request.filters.len() > MAX_FILTERS {
            return Err(ApiError::invalid(
                format!("{prefix}filters"),
                format!("at most {MAX_FILTERS} filters"),
            ));
        }
        let mut filters = Vec::with_capacity(request.filters.len());
        for (index, filter) in request.filters.iter().enumerate() {
            let field = format!("{prefix}filters[{index}]");
            let dimension = dimension(filter.dimension, &format!("{field}.dimension"))?;
            if filter.values.is_empty() || filter.values.len() > MAX_FILTER_VALUES {
                return Err(ApiError::invalid(
                    format!("{field}.values"),
                    format!("between 1 and {MAX_FILTER_VALUES} values"),
                ));
            }
            filters.push(Filter {
                dimension,
                values: filter
                    .values
                    .iter()
                    .map(|value| filter_value(dimension, value))
                    .collect(),
            });
        }
        let order_by = measure(request.order_by, &format!("{prefix}order_by"))?;
        let limit = match request.limit as usize {
            0 => MAX_ROWS,
            limit if limit <= MAX_ROWS => limit,
            _ => {
                return Err(ApiError::invalid(
                    format!("{prefix}limit"),
                    format!("at most {MAX_ROWS} rows per answer"),
                ));
            }
        };
        Ok(Plan {
            window,
            group_by,
            filters,
            order_by,
            descending: request.descending,
            limit,
        })
    }
}

/// The window of a request.
pub fn window(window: Option<&v1::Window>, field: &str) -> Result<Window, ApiError> {
    use v1::window::Kind;
    let kind = window.and_then(|w| w.kind.as_ref()).ok_or_else(|| {
        ApiError::invalid(
            field,
            "required: one of last, day, month, year_to_date, range, all_time",
        )
    })?;
    Ok(match kind {
        Kind::Last(span) => Window::Last(match v1::RollingSpan::try_from(*span) {
            Ok(v1::RollingSpan::LastHour) => HOUR,
            Ok(v1::RollingSpan::Last24Hours) => 24 * HOUR,
            Ok(v1::RollingSpan::Last7Days) => 7 * DAY,
            Ok(v1::RollingSpan::Last30Days) => 30 * DAY,
            Ok(v1::RollingSpan::Unspecified) | Err(_) => {
                return Err(ApiError::invalid(
                    format!("{field}.last"),
                    "unknown rolling span",
                ));
            }
        }),
        Kind::Day(text) => {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                ApiError::invalid(format!("{field}.day"), "expected a date like 2026-11-05")
            })?;
            Window::Day(in_years(date, format!("{field}.day"))?)
        }
        Kind::Month(text) => {
            let date =
                NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").map_err(|_| {
                    ApiError::invalid(format!("{field}.month"), "expected a month like 2026-11")
                })?;
            Window::Month(in_years(date, format!("{field}.month"))?)
        }
        Kind::YearToDate(_) => Window::YearToDate,
        Kind::AllTime(_) => Window::AllTime,
        Kind::Range(range) => {
            let from = instant(&range.from, &format!("{field}.range.from"))?;
            let to = instant(&range.to, &format!("{field}.range.to"))?;
            if from >= to {
                return Err(ApiError::invalid(
                    format!("{field}.range"),
                    "from must be before to",
                ));
            }
            Window::Range(from, to)
        }
    })
}

/// A filter value as the cells hold it, from what a user types: category
/// and direction also in the spelling the API returns (`DIRECTION_EXPORT`,
/// `TRADE_CATEGORY_GENERAL_TRADE`) and in any case, country and currency
/// codes in any case.
fn filter_value(dimension: Dimension, value: &str) -> String {
    let value = value.trim();
    let without = |prefix: &str| {
        let upper = value.to_ascii_uppercase();
        upper
            .strip_prefix(prefix)
            .unwrap_or(&upper)
            .to_ascii_lowercase()
    };
    match dimension {
        Dimension::Category => without("TRADE_CATEGORY_"),
        Dimension::Direction => without("DIRECTION_"),
        Dimension::PartnerCountry | Dimension::Currency => value.to_ascii_uppercase(),
        _ => value.to_owned(),
    }
}

/// Calendar windows (day, month) must lie in these years: beyond them the
/// calendar arithmetic of a period's end has no date.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

fn in_years(date: NaiveDate, field: String) -> Result<NaiveDate, ApiError> {
    use chrono::Datelike;
    if YEARS.contains(&date.year()) {
        Ok(date)
    } else {
        Err(ApiError::invalid(
            field,
            format!(
                "the year must be between {} and {}",
                YEARS.start(),
                YEARS.end()
            ),
        ))
    }
}

/// An RFC 3339 time on a whole minute.
fn instant(text: &str, field: &str) -> Result<Minute, ApiError> {
    let time = DateTime::parse_from_rfc3339(text).map_err(|_| {
        ApiError::invalid(
            field,
            "expected RFC 3339 with an offset, e.g. 2026-11-05T00:00:00+08:00",
        )
    })?;
    let seconds = time.timestamp();
    if seconds.rem_euclid(60) != 0 || time.timestamp_subsec_nanos() != 0 {
        return Err(ApiError::invalid(field, "must be a whole minute"));
    }
    Ok(seconds.div_euclid(60))
}

/// A proto dimension.
pub fn dimension(value: i32, field: &str) -> Result<Dimension, ApiError> {
    use v1::Dimension as P;
    let unknown = || ApiError::invalid(field, "unknown dimension");
    Ok(match P::try_from(value).map_err(|_| unknown())? {
        P::Unspecified => return Err(unknown()),
        P::Category => Dimension::Category,
        P::Subcategory => Dimension::Subcategory,
        P::Direction => Dimension::Direction,
        P::SupervisionMode => Dimension::SupervisionMode,
        P::StatisticsGroup => Dimension::StatisticsGroup,
        P::PartnerCountry => Dimension::PartnerCountry,
        P::CountryGroup => Dimension::CountryGroup,
        P::CustomsOffice => Dimension::CustomsOffice,
        P::CustomsDistrict => Dimension::CustomsDistrict,
        P::Province => Dimension::Province,
        P::Region => Dimension::Region,
        P::HsChapter => Dimension::HsChapter,
        P::HsSection => Dimension::HsSection,
        P::TransportMode => Dimension::TransportMode,
        P::Currency => Dimension::Currency,
    })
}

/// A proto measure; unset is `None`.
pub fn measure(value: i32, field: &str) -> Result<Option<Measure>, ApiError> {
    use v1::Measure as P;
    Ok(Some(
        match P::try_from(value).map_err(|_| ApiError::invalid(field, "unknown measure"))? {
            P::Unspecified => return Ok(None),
            P::Declarations => Measure::Declarations,
            P::Items => Measure::Items,
            P::ValueCny => Measure::ValueCny,
            P::ValueUsd => Measure::ValueUsd,
            P::NetWeightKg => Measure::NetWeightKg,
        },
    ))
}

/// The proto form of a measure.
pub fn measure_proto(measure: Measure) -> v1::Measure {
    match measure {
        Measure::Declarations => v1::Measure::Declarations,
        Measure::Items => v1::Measure::Items,
        Measure::ValueCny => v1::Measure::ValueCny,
        Measure::ValueUsd => v1::Measure::ValueUsd,
        Measure::NetWeightKg => v1::Measure::NetWeightKg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> v1::QueryRequest {
        v1::QueryRequest {
            window: Some(v1::Window {
                kind: Some(v1::window::Kind::AllTime(v1::AllTime {})),
            }),
            ..Default::default()
        }
    }

    fn error(request: &v1::QueryRequest) -> String {
        match Plan::parse(request, "") {
            Ok(plan) => panic!("accepted: {plan:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let mut bad = request();
        bad.group_by = vec![1, 3, 99];
        assert_eq!(error(&bad), "group_by[2]: unknown dimension");
        bad.group_by = vec![1, 1];
        assert_eq!(error(&bad), "group_by[1]: repeated dimension");
        bad.group_by = vec![1, 2, 3, 4, 5];
        assert_eq!(error(&bad), "group_by: at most 4 dimensions (got 5)");
        let mut bad = request();
        bad.window = None;
        assert!(error(&bad).starts_with("window: required"));
        bad.window = Some(v1::Window {
            kind: Some(v1::window::Kind::Month("2026-13".into())),
        });
        assert_eq!(error(&bad), "window.month: expected a month like 2026-11");
        // The last month chrono can represent: its end has no date (this
        // reached an `expect` and answered INTERNAL).
        bad.window = Some(v1::Window {
            kind: Some(v1::window::Kind::Month("+262142-12".to_owned())),
        });
        assert_eq!(
            error(&bad),
            "window.month: the year must be between 1900 and 9999"
        );
        bad.window = Some(v1::Window {
            kind: Some(v1::window::Kind::Range(v1::TimeRange {
                from: "2026-11-05T00:00:30+08:00".into(),
                to: "2026-11-06T00:00:00+08:00".into(),
            })),
        });
        assert_eq!(error(&bad), "window.range.from: must be a whole minute");
        let mut bad = request();
        bad.filters = vec![v1::Filter {
            dimension: 6,
            values: vec![],
        }];
        assert_eq!(error(&bad), "filters[0].values: between 1 and 1000 values");
        let mut bad = request();
        bad.limit = 5000;
        assert_eq!(error(&bad), "limit: at most 1000 rows per answer");
    }

    #[test]
    fn a_valid_request_becomes_a_plan() {
        let mut good = request();
        good.group_by = vec![v1::Dimension::PartnerCountry as i32];
        good.order_by = v1::Measure::ValueUsd as i32;
        good.limit = 10;
        let plan = Plan::parse(&good, "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.group_by, [Dimension::PartnerCountry]);
        assert_eq!(plan.order_by, Some(Measure::ValueUsd));
        assert_eq!(plan.limit, 10);
        assert_eq!(plan.window, Window::AllTime);
    }

    #[test]
    fn filter_values_are_taken_as_users_type_them() {
        let mut typed = request();
        let filter = |dimension: v1::Dimension, value: &str| v1::Filter {
            dimension: dimension as i32,
            values: vec![value.to_owned()],
        };
        typed.filters = vec![
            // The spelling the API itself returns (this matched nothing).
            filter(v1::Dimension::Direction, "DIRECTION_EXPORT"),
            filter(v1::Dimension::Category, "TRADE_CATEGORY_GENERAL_TRADE"),
            filter(v1::Dimension::Category, " Market_Procurement "),
            filter(v1::Dimension::PartnerCountry, "usa"),
            filter(v1::Dimension::CustomsOffice, "2201"),
        ];
        let plan = Plan::parse(&typed, "").unwrap_or_else(|e| panic!("{e}"));
        let values: Vec<&str> = plan.filters.iter().map(|f| f.values[0].as_str()).collect();
        assert_eq!(
            values,
            [
                "export",
                "general_trade",
                "market_procurement",
                "USA",
                "2201"
            ]
        );
    }
}
