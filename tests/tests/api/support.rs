//! Request builders and response readers for the API test.

use std::collections::BTreeMap;

use anyhow::Context;
use customs_domain::stats::time::{Minute, format_minute, parse_minute};
use customs_proto::v1;
use rust_decimal::Decimal;

use crate::recount::{Counted, Expected, ItemFact};

pub fn by_category_direction(counted: &Counted, _: &ItemFact) -> Vec<String> {
    vec![counted.category.clone(), counted.direction.clone()]
}

pub fn as_summary(
    groups: &BTreeMap<Vec<String>, Expected>,
) -> BTreeMap<String, customs_domain::generator::SummaryRow> {
    groups
        .iter()
        .map(|(group, e)| {
            let row = customs_domain::generator::SummaryRow {
                num_declarations: e.num_declarations,
                num_items: e.num_items,
                value_cny: e.cny,
                value_usd: e.usd,
            };
            (group.join("/"), row)
        })
        .collect()
}

pub fn window(kind: v1::window::Kind) -> Option<v1::Window> {
    Some(v1::Window { kind: Some(kind) })
}

pub fn range(from: Minute, to: Minute) -> Option<v1::Window> {
    window(v1::window::Kind::Range(v1::TimeRange {
        from: format_minute(from),
        to: format_minute(to),
    }))
}

pub fn request(window: Option<v1::Window>, group_by: &[v1::Dimension]) -> v1::QueryRequest {
    v1::QueryRequest {
        window,
        group_by: group_by.iter().map(|d| *d as i32).collect(),
        ..Default::default()
    }
}

pub fn decimal(money: &Option<v1::Money>) -> Decimal {
    money
        .as_ref()
        .map(|m| m.amount.parse().expect("decimal"))
        .unwrap_or_default()
}

pub fn expected_of(measures: &Option<v1::Measures>) -> Expected {
    let m = measures.clone().unwrap_or_default();
    Expected {
        num_declarations: m.num_declarations,
        num_items: m.num_items,
        cny: decimal(&m.value_cny),
        usd: decimal(&m.value_usd),
    }
}

pub fn served(response: &v1::QueryResponse) -> BTreeMap<Vec<String>, Expected> {
    response
        .rows
        .iter()
        .map(|row| (row.group.clone(), expected_of(&row.measures)))
        .collect()
}

pub fn sum(groups: &BTreeMap<Vec<String>, Expected>) -> Expected {
    groups.values().fold(Expected::default(), |mut acc, e| {
        acc.num_declarations += e.num_declarations;
        acc.num_items += e.num_items;
        acc.cny += e.cny;
        acc.usd += e.usd;
        acc
    })
}

pub fn served_range(response: &v1::QueryResponse) -> anyhow::Result<(Minute, Minute)> {
    let from = parse_minute(&response.from).context("from")?;
    let to = parse_minute(&response.to).context("to")?;
    Ok((from, to))
}
