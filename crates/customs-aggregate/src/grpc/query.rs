//! `Query`: exact measures over a window, grouped, filtered, ordered, top-N,
//! with each row's share of the total and the answer's freshness.
//!
//! One answer is computed under one read lock of the view, so rows, total
//! and freshness describe the same state. The total comes from the same
//! pass over the panes: each declaration counts once in it even when groups
//! overlap (country groups) or split declarations (item-level dimensions). Shares are `row / total` in the share measure (the order-by
//! measure, else value in CNY), in percent, rounded half to even to 4 places.

use customs_domain::model::format_amount;
use customs_domain::stats::query::{self, Measure, share_percent};
use customs_domain::stats::time::{DAY, HOUR, Minute, day_start, format_minute};
use customs_domain::stats::{Measures, Misaligned, Panes, Query, Window};
use customs_proto::v1;

use super::errors::ApiError;
use super::request::{Plan, measure_proto};
use super::{freshness, money};
use crate::state::Shared;

/// Answers `plan` from the current state.
pub fn answer(state: &Shared, plan: &Plan) -> Result<v1::QueryResponse, ApiError> {
    let view = state.read();
    let version = state.progress().version;
    let tables = state.tables();
    let watermark = view.watermarks().global();
    let share_of = plan.order_by.unwrap_or(Measure::ValueCny);
    let mut response = v1::QueryResponse {
        share_of: measure_proto(share_of).into(),
        total: Some(measures(&Measures::default())),
        ..Default::default()
    };
    let query = Query {
        range: (0, 0),
        group_by: plan.group_by.clone(),
        filters: plan
            .filters
            .iter()
            .map(|filter| filter.resolved(&tables))
            .collect(),
    };
    if let Some(range) = plan.window.resolve(watermark) {
        if let Window::Range(from, to) = plan.window {
            check_aligned(view.panes(), from, to)?;
        }
        let misaligned = |err: Misaligned| ApiError::misaligned("window", &err);
        let query = Query { range, ..query };
        let (groups, total) =
            query::run_with_total(view.panes(), &query, &tables).map_err(misaligned)?;
        let share_total = share_of.of(&total);
        response.num_groups = groups.len() as u64;
        response.truncated = groups.len() > plan.limit;
        response.rows = query::ordered(groups, plan.order_by, plan.descending)
            .into_iter()
            .take(plan.limit)
            .map(|(group, row)| v1::Row {
                share_percent: share_percent(share_of.of(&row), share_total)
                    .map(|share| share.to_string())
                    .unwrap_or_default(),
                group,
                measures: Some(measures(&row)),
            })
            .collect();
        response.total = Some(measures(&total));
        if plan.window != Window::AllTime {
            response.from = format_minute(range.0);
            response.to = format_minute(range.1);
        }
    }
    drop(view);
    response.freshness = Some(freshness(state, watermark, version));
    Ok(response)
}

/// An explicit range must cut no pane, whatever data it holds: each bound
/// must be a boundary of the coarsest tier on either side of it.
fn check_aligned(panes: &Panes, from: Minute, to: Minute) -> Result<(), ApiError> {
    for (bound, field) in [(from, "window.range.from"), (to, "window.range.to")] {
        let granularity = panes
            .granularity_at(bound - 1)
            .max(panes.granularity_at(bound));
        let start = match granularity {
            DAY => day_start(bound),
            HOUR => bound.div_euclid(HOUR) * HOUR,
            _ => bound,
        };
        if start != bound {
            return Err(ApiError::misaligned(
                field,
                &Misaligned {
                    granularity,
                    pane_start: start,
                },
            ));
        }
    }
    Ok(())
}

/// The proto form of exact measures.
pub fn measures(measures: &Measures) -> v1::Measures {
    v1::Measures {
        num_declarations: measures.declarations.max(0) as u64,
        num_items: measures.items.max(0) as u64,
        value_cny: Some(money(measures.value_cny, "CNY")),
        value_usd: Some(money(measures.value_usd, "USD")),
        net_weight_kg: format_amount(measures.net_weight_kg),
    }
}
