//! `Explain`: one declaration's classification, explanation, lifecycle
//! status and what it contributes to the statistics now.
//!
//! Answered from the lifecycle state of the partitions this instance owns:
//! the id is looked up as a lifecycle key (inventory guid or declaration id)
//! or an inventory number, in the committed state
//! ([`PartitionState::find_committed`]). An id not held here while other
//! instances own some partitions (or while partitions are still being
//! taken over) is `UNAVAILABLE`, naming the partitions held here: its owner
//! may be another instance, and a retry there (or later) may succeed. The
//! lifecycle entry holds no personal data (buyer fields never leave
//! ingest), and the answer adds none.

use customs_domain::lifecycle::partition::{PartitionState, Stored};
use customs_domain::lifecycle::{Contribution, Entry};
use customs_domain::stats::Measures;
use customs_domain::stats::time::with_offset;
use customs_proto::v1;

use super::errors::ApiError;
use super::query::measures;
use super::{freshness, money};
use crate::state::Shared;

/// Longest id accepted.
const MAX_ID_LEN: usize = 64;

/// Validates the request's id.
pub fn id(request: &v1::ExplainRequest) -> Result<String, ApiError> {
    let id = request.id.trim();
    if id.is_empty() {
        return Err(ApiError::invalid("id", "required"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(ApiError::invalid(
            "id",
            format!("at most {MAX_ID_LEN} characters"),
        ));
    }
    Ok(id.to_owned())
}

/// Explains the declaration `id` from the current state.
pub fn answer(state: &Shared, id: &str) -> Result<v1::ExplainResponse, ApiError> {
    let (version, num_partitions) = {
        let progress = state.progress();
        (progress.version, progress.restore_targets.len())
    };
    let watermark = state.read().watermarks().global();
    let owned = state.owned();
    let found = owned
        .iter()
        .find_map(|(partition, held)| Some((*partition, held, held.find_committed(id)?)));
    let Some((_, held, (key, stored))) = found else {
        let partitions: Vec<i32> = owned.keys().copied().collect();
        if num_partitions > 0 && partitions.len() == num_partitions {
            return Err(ApiError::NotFound(format!(
                "no declaration, inventory number or guid {id:?} is known here"
            )));
        }
        return Err(ApiError::Unavailable(format!(
            "{id:?} is not held by this instance, which owns classified partitions \
             {partitions:?}: its owner may be another instance; retry there, or later \
             if partitions are moving"
        )));
    };
    let entry = match stored {
        Stored::Live(entry) => entry,
        Stored::Sealed(_) => {
            return Err(ApiError::NotFound(format!(
                "{id:?} is sealed: its figures are final and only a marker is kept"
            )));
        }
    };
    let entry = &entry;
    let superseded_by = superseded_by(held, entry);
    let effective = held.effective(entry);
    let status = if entry.counted.is_some() && effective.is_none() {
        "superseded"
    } else {
        entry.status()
    };
    let pending = entry.pending.as_ref();
    let response = v1::ExplainResponse {
        key: key.clone(),
        declaration_id: pending
            .map(|p| p.contribution.id.clone())
            .unwrap_or_default(),
        invt_no: entry.invt_no.clone().unwrap_or_default(),
        status: status.to_owned(),
        classification: pending.map(|pending| {
            let c = &pending.contribution;
            v1::Classification {
                category: v1::TradeCategory::from(c.category).into(),
                subcategory: c.subcategory.clone().unwrap_or_default(),
                statistics_group: c.statistics_group.clone(),
                supervision_mode: c.supervision_mode.clone(),
                direction: v1::Direction::from(c.direction).into(),
                message_type: pending.message_type.as_str().to_owned(),
                in_trade_statistics: pending.in_trade_statistics,
            }
        }),
        explanation: pending.map(|p| p.explanation.clone()).unwrap_or_default(),
        released_at: entry
            .released_at
            .as_deref()
            .map(with_offset)
            .unwrap_or_default(),
        withdrawn: entry.withdrawn,
        last_receipt_status: entry.last_status.unwrap_or_default(),
        superseded_by: superseded_by.unwrap_or_default(),
        contribution: effective.map(contribution),
        first_event_at: with_offset(&entry.first_event_at),
        last_event_at: with_offset(&entry.last_event_at),
        freshness: None,
    };
    drop(owned);
    Ok(v1::ExplainResponse {
        freshness: Some(freshness(state, watermark, version)),
        ..response
    })
}

/// The summary result that replaced the entry's inventory, if any.
fn superseded_by(view: &PartitionState, entry: &Entry) -> Option<String> {
    let numbers = [
        entry.invt_no.as_ref(),
        entry.counted.as_ref().and_then(|c| c.invt_no.as_ref()),
        entry
            .pending
            .as_ref()
            .and_then(|p| p.contribution.invt_no.as_ref()),
    ];
    numbers
        .into_iter()
        .flatten()
        .find_map(|invt_no| view.superseded_by(invt_no))
}

/// The proto form of an effective contribution.
fn contribution(contribution: &Contribution) -> v1::Contribution {
    let mut total = Measures::default();
    for (index, slice) in contribution.slices.iter().enumerate() {
        total.add(&Measures::of(contribution, index, slice), 1);
    }
    v1::Contribution {
        counted_at: contribution.counted_at.clone(),
        measures: Some(measures(&total)),
        slices: contribution
            .slices
            .iter()
            .map(|slice| v1::ContributionSlice {
                partner_country: slice.partner_country.clone(),
                province: slice.province.clone().unwrap_or_default(),
                hs_chapter: slice.hs_chapter.clone(),
                num_items: slice.num_items,
                declared_value: Some(money(slice.declared, &slice.currency)),
                value_cny: Some(money(slice.value_cny, "CNY")),
                value_usd: Some(money(slice.value_usd, "USD")),
            })
            .collect(),
    }
}
