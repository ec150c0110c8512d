//! What one released declaration adds to the statistics, split into the
//! slices the item-level dimensions need.
//!
//! Declaration-level dimensions (category, direction, supervision mode,
//! customs office, transport mode) sit on the [`Contribution`]; item-level
//! ones (partner country, province, HS chapter, declared currency) on its
//! [`Slice`]s, one per distinct combination among the items. The slices'
//! items and values add up exactly to the contribution's.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::classify::{ClassifiedDeclaration, TradeCategory};
use crate::model::Direction;

/// What one declaration adds to the statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    /// Declaration id (the `EntryId` or `invtNo`).
    pub id: String,
    /// Inventory number, which a summary result names.
    pub invt_no: Option<String>,
    /// Trade category.
    pub category: TradeCategory,
    /// Sub-category, e.g. `retail_direct`.
    pub subcategory: Option<String>,
    /// Direction.
    pub direction: Direction,
    /// Four-digit supervision mode.
    pub supervision_mode: String,
    /// Statistics group of the mode.
    pub statistics_group: String,
    /// Four-digit customs office that declared it.
    pub customs_office: String,
    /// Transport mode code.
    pub transport_mode: Option<String>,
    /// Goods items.
    pub num_items: u64,
    /// Value in CNY.
    pub value_cny: Decimal,
    /// Value in USD.
    pub value_usd: Decimal,
    /// Net weight in kilograms (zero when not declared).
    pub net_weight_kg: Decimal,
    /// Item-level split.
    pub slices: Vec<Slice>,
    /// When it counts: the release time (UTC+8, ISO 8601); empty until then.
    pub counted_at: String,
}

/// The items of one declaration sharing the item-level dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    /// Partner country (origin for imports, destination for exports), JGS-20 code.
    pub partner_country: String,
    /// Province: the first two digits of the domestic district code.
    pub province: Option<String>,
    /// HS chapter: the first two digits of the commodity code.
    pub hs_chapter: String,
    /// Declared currency, ISO 4217.
    pub currency: String,
    /// Goods items.
    pub num_items: u64,
    /// Declared value in `currency`.
    pub declared: Decimal,
    /// Value in CNY.
    pub value_cny: Decimal,
    /// Value in USD.
    pub value_usd: Decimal,
}

impl Contribution {
    /// The contribution of a classified declaration, counted at `counted_at`.
    pub fn of(classified: &ClassifiedDeclaration, counted_at: String) -> Contribution {
        let declaration = &classified.declaration;
        let values: BTreeMap<u32, (Decimal, Decimal)> = classified
            .valuation
            .items
            .iter()
            .map(|item| (item.item_no, (item.cny, item.usd)))
            .collect();
        let mut slices: Vec<Slice> = Vec::new();
        for item in &declaration.items {
            let partner = match declaration.direction {
                Direction::Import => item.origin_country.as_ref(),
                Direction::Export => item.destination_country.as_ref(),
            }
            .unwrap_or(&declaration.trade_country);
            let province = item
                .district_code
                .as_ref()
                .and_then(|code| code.get(..2))
                .map(str::to_owned);
            let chapter = item.commodity_code.get(..2).unwrap_or("00");
            let currency = &item.declared_total.currency;
            let (cny, usd) = values.get(&item.item_no).copied().unwrap_or_default();
            let existing = slices.iter_mut().find(|slice| {
                &slice.partner_country == partner
                    && slice.province == province
                    && slice.hs_chapter == chapter
                    && &slice.currency == currency
            });
            let slice = match existing {
                Some(slice) => slice,
                None => {
                    slices.push(Slice {
                        partner_country: partner.clone(),
                        province,
                        hs_chapter: chapter.to_owned(),
                        currency: currency.clone(),
                        num_items: 0,
                        declared: Decimal::ZERO,
                        value_cny: Decimal::ZERO,
                        value_usd: Decimal::ZERO,
                    });
                    slices.last_mut().expect("just pushed")
                }
            };
            slice.num_items += 1;
            slice.declared += item.declared_total.amount;
            slice.value_cny += cny;
            slice.value_usd += usd;
        }
        if slices.is_empty() {
            slices.push(Slice {
                partner_country: declaration.trade_country.clone(),
                province: None,
                hs_chapter: "00".to_owned(),
                currency: "CNY".to_owned(),
                num_items: 0,
                declared: Decimal::ZERO,
                value_cny: classified.valuation.total_cny,
                value_usd: classified.valuation.total_usd,
            });
        }
        Contribution {
            id: declaration.id.clone(),
            invt_no: declaration
                .guid
                .as_ref()
                .map(|_| declaration.id.clone())
                .filter(|id| Some(id) != declaration.guid.as_ref()),
            category: classified.classification.category,
            subcategory: classified.classification.subcategory.clone(),
            direction: declaration.direction,
            supervision_mode: declaration.supervision_mode.clone(),
            statistics_group: classified.classification.statistics_group.clone(),
            customs_office: declaration.customs_office.clone(),
            transport_mode: declaration.transport_mode.clone(),
            num_items: declaration.items.len() as u64,
            value_cny: classified.valuation.total_cny,
            value_usd: classified.valuation.total_usd,
            net_weight_kg: declaration.net_weight_kg.unwrap_or_default(),
            slices,
            counted_at,
        }
    }
}
