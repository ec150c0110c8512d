//! `GetTotals`: all-time totals per (category, direction), with the declared
//! value per currency. Kept compatible with its first version.

use customs_domain::stats::{Dimension, Query, Window};
use customs_domain::{Direction, TradeCategory};
use customs_proto::v1;

use super::errors::ApiError;
use super::{freshness, money};
use crate::state::Shared;

/// The request's optional filters.
pub type Filters = (Option<TradeCategory>, Option<Direction>);

/// Validates `request`.
pub fn parse(request: &v1::GetTotalsRequest) -> Result<Filters, ApiError> {
    let category = optional(request.category, v1::TradeCategory::Unspecified, "category")?;
    let direction = optional(request.direction, v1::Direction::Unspecified, "direction")?;
    Ok((category, direction))
}

/// An unset proto enum means "no filter"; a set one must convert.
fn optional<P, D>(value: i32, unset: P, field: &str) -> Result<Option<D>, ApiError>
where
    P: TryFrom<i32> + PartialEq,
    D: TryFrom<P>,
{
    let unknown = || ApiError::invalid(field, "unknown value");
    let value = P::try_from(value).map_err(|_| unknown())?;
    if value == unset {
        return Ok(None);
    }
    D::try_from(value).map(Some).map_err(|_| unknown())
}

/// All-time totals, filtered.
pub fn answer(
    state: &Shared,
    (category, direction): Filters,
) -> Result<v1::GetTotalsResponse, ApiError> {
    let view = state.read();
    let (version, records) = {
        let progress = state.progress();
        (progress.version, progress.records_committed)
    };
    let range = Window::AllTime.resolve(None).unwrap_or_default();
    let run = |group_by: Vec<Dimension>| {
        let query = Query {
            range,
            group_by,
            filters: Vec::new(),
        };
        customs_domain::stats::query::run(view.panes(), &query, &state.tables())
            .map_err(|err| ApiError::Internal(err.to_string()))
    };
    let rows = run(vec![Dimension::Category, Dimension::Direction])?;
    let by_currency = run(vec![
        Dimension::Category,
        Dimension::Direction,
        Dimension::Currency,
    ])?;
    let watermark = view.watermarks().global();
    drop(view);
    let rows: Vec<v1::TotalsRow> = rows
        .into_iter()
        .filter_map(|(group, measures)| {
            let row_category = TradeCategory::from_name(&group[0])?;
            let row_direction = Direction::from_name(&group[1])?;
            if category.is_some_and(|c| c != row_category)
                || direction.is_some_and(|d| d != row_direction)
            {
                return None;
            }
            let declared_value = by_currency
                .iter()
                .filter(|(key, _)| key[0] == group[0] && key[1] == group[1])
                .map(|(key, m)| money(m.declared, &key[2]))
                .collect();
            Some(v1::TotalsRow {
                category: v1::TradeCategory::from(row_category).into(),
                direction: v1::Direction::from(row_direction).into(),
                num_declarations: measures.declarations.max(0) as u64,
                num_items: measures.items.max(0) as u64,
                declared_value,
                value_cny: Some(money(measures.value_cny, "CNY")),
                value_usd: Some(money(measures.value_usd, "USD")),
            })
        })
        .collect();
    Ok(v1::GetTotalsResponse {
        num_declarations: rows.iter().map(|row| row.num_declarations).sum(),
        rows,
        num_records_read: records,
        freshness: Some(freshness(state, watermark, version)),
    })
}
