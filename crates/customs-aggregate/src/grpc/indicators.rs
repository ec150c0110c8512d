//! `GetIndicators`: the trade-structure indicators of a period — shares of
//! each trade category (and the cross-border e-commerce sub-categories) in
//! total trade, export/import totals and balance, shares by country group
//! and region, top partners and HS chapters — and the same period a year
//! earlier when the data covers it.
//!
//! Total trade is exports plus imports, by value (CNY and USD). Country
//! groups overlap, so their shares may add up to more than 100 %. The year
//! earlier is "covered" when it lies within the retention and the held
//! panes reach back to its first day; a year-earlier range that cuts day
//! panes (rolling windows and explicit ranges whose shifted bounds are not
//! whole days) is reported as unavailable, with the reason.

use std::collections::BTreeMap;

use customs_domain::TradeCategory;
use customs_domain::stats::query::{self, Measure, has_data_before, share_percent};
use customs_domain::stats::time::{DAY, Minute, day_start, format_minute};
use customs_domain::stats::{Dimension, Filter, Measures, Misaligned, Query, StatsView};
use customs_proto::v1;
use rust_decimal::Decimal;

use super::errors::ApiError;
use super::request;
use super::{freshness, money};
use crate::state::Shared;

/// Default and largest top-N.
const DEFAULT_TOP_N: usize = 10;
const MAX_TOP_N: usize = 100;

/// A validated indicators request.
#[derive(Debug, Clone)]
pub struct Plan {
    window: customs_domain::stats::Window,
    top_n: usize,
}

impl Plan {
    /// Validates `request`.
    pub fn parse(request: &v1::IndicatorsRequest) -> Result<Plan, ApiError> {
        let window = request::window(request.window.as_ref(), "window")?;
        let top_n = match request.top_n as usize {
            0 => DEFAULT_TOP_N,
            n if n <= MAX_TOP_N => n,
            _ => {
                return Err(ApiError::invalid("top_n", format!("at most {MAX_TOP_N}")));
            }
        };
        Ok(Plan { window, top_n })
    }
}

/// Answers `plan` from the current state.
pub fn answer(state: &Shared, plan: &Plan) -> Result<v1::IndicatorsResponse, ApiError> {
    let view = state.read();
    let version = state.progress().version;
    let watermark = view.watermarks().global();
    let mut response = v1::IndicatorsResponse::default();
    if let Some(range) = plan.window.resolve(watermark) {
        let current = period(&view, state, range, plan.top_n)
            .map_err(|err| ApiError::misaligned("window", &err))?;
        response.current = Some(current);
    }
    match plan.window.year_earlier(watermark) {
        None => response.year_earlier_note = "no year-earlier period for this window".into(),
        Some(range) => match covered(&view, range) {
            Err(note) => response.year_earlier_note = note,
            Ok(()) => match period(&view, state, range, plan.top_n) {
                Ok(earlier) => {
                    response.year_earlier = Some(earlier);
                    response.year_earlier_available = true;
                }
                Err(err) => {
                    response.year_earlier_note =
                        ApiError::misaligned("year_earlier", &err).to_string()
                }
            },
        },
    }
    drop(view);
    response.freshness = Some(freshness(state, watermark, version));
    Ok(response)
}

/// Whether the data covers `[from, to)`; the reason when it does not.
fn covered(view: &StatsView, (from, _): (Minute, Minute)) -> Result<(), String> {
    let period = format_minute(from);
    if view
        .panes()
        .retention_floor()
        .is_some_and(|floor| floor > from)
    {
        return Err(format!("{period} is older than the retention"));
    }
    match has_data_before(view.panes(), day_start(from) + DAY) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("no data held on or before the day of {period}")),
        Err(err) => Err(ApiError::misaligned("year_earlier", &err).to_string()),
    }
}

fn period(
    view: &StatsView,
    state: &Shared,
    range: (Minute, Minute),
    top_n: usize,
) -> Result<v1::IndicatorPeriod, Misaligned> {
    let run = |group_by: Vec<Dimension>, filters: Vec<Filter>| {
        let query = Query {
            range,
            group_by,
            filters,
        };
        query::run(view.panes(), &query, &state.tables())
    };
    let by_category = run(vec![Dimension::Category, Dimension::Direction], Vec::new())?;
    let mut total = Measures::default();
    let mut exports = Measures::default();
    let mut imports = Measures::default();
    let mut categories: BTreeMap<Vec<String>, Measures> = TradeCategory::ALL
        .iter()
        .map(|category| (vec![category.as_str().to_owned()], Measures::default()))
        .collect();
    for (group, measures) in &by_category {
        total.add(measures, 1);
        match group[1].as_str() {
            "export" => exports.add(measures, 1),
            _ => imports.add(measures, 1),
        }
        categories
            .entry(vec![group[0].clone()])
            .or_default()
            .add(measures, 1);
    }
    let shares = |groups: BTreeMap<Vec<String>, Measures>, top: Option<usize>| {
        // Largest first, ties by key.
        let rows = query::ordered(groups, Some(Measure::ValueCny), true);
        rows.into_iter()
            .take(top.unwrap_or(usize::MAX))
            .map(|(group, measures)| share(group.join("/"), &measures, &total))
            .collect::<Vec<_>>()
    };
    let ecommerce = Filter {
        dimension: Dimension::Category,
        values: vec![TradeCategory::CrossBorderEcommerce.as_str().to_owned()],
    };
    let balance = |get: fn(&Measures) -> Decimal| get(&exports) - get(&imports);
    Ok(v1::IndicatorPeriod {
        from: format_minute(range.0),
        to: format_minute(range.1),
        total_cny: Some(money(total.value_cny, "CNY")),
        total_usd: Some(money(total.value_usd, "USD")),
        export_cny: Some(money(exports.value_cny, "CNY")),
        export_usd: Some(money(exports.value_usd, "USD")),
        import_cny: Some(money(imports.value_cny, "CNY")),
        import_usd: Some(money(imports.value_usd, "USD")),
        balance_cny: Some(money(balance(|m| m.value_cny), "CNY")),
        balance_usd: Some(money(balance(|m| m.value_usd), "USD")),
        categories: shares(categories, None),
        ecommerce_subcategories: shares(run(vec![Dimension::Subcategory], vec![ecommerce])?, None),
        country_groups: shares(run(vec![Dimension::CountryGroup], Vec::new())?, None),
        regions: shares(run(vec![Dimension::Region], Vec::new())?, None),
        top_partners: shares(
            run(vec![Dimension::PartnerCountry], Vec::new())?,
            Some(top_n),
        ),
        top_hs_chapters: shares(run(vec![Dimension::HsChapter], Vec::new())?, Some(top_n)),
    })
}

fn share(key: String, part: &Measures, total: &Measures) -> v1::Share {
    let percent = |part: Decimal, total: Decimal| {
        share_percent(part, total)
            .map(|share| share.to_string())
            .unwrap_or_default()
    };
    v1::Share {
        key,
        value_cny: Some(money(part.value_cny, "CNY")),
        value_usd: Some(money(part.value_usd, "USD")),
        share_percent_cny: percent(part.value_cny, total.value_cny),
        share_percent_usd: percent(part.value_usd, total.value_usd),
    }
}
