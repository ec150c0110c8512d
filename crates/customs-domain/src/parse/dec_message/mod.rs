//! `DecMessage` customs declarations (README, "What it reads"), bare or inside the
//! `ImportMessage/SWImpHead/SWImpData` wrapper: `DecHead` and `DecLists/DecList`
//! fields to a [`Declaration`] with codes as sent (see [`crate::validate`]).

use super::collect::{Fields, RawRecord};
use super::fields;
use crate::model::{AppType, Cost, CostMark, Declaration, Item, MessageType, Money};
use crate::reject::{RejectReason, Rejection};

/// Builds the declaration of one `DecMessage` record.
pub(crate) fn build(record: &RawRecord) -> Result<Declaration, Rejection> {
    let head = &record.head;
    let get = |field: &str| head.get(field).map(String::as_str);
    let id = match fields::optional(get("EntryId")) {
        Some(entry_id) => entry_id.to_owned(),
        None => fields::required(get("SeqNo"), "DecHead/EntryId and DecHead/SeqNo")?.to_owned(),
    };
    let date = fields::optional(get("DDate")).or(fields::optional(get("IEDate")));
    let items = record
        .items
        .iter()
        .map(build_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Declaration {
        id,
        message_type: MessageType::DecMessage,
        app_type: AppType::New,
        guid: None,
        cop_no: None,
        direction: fields::direction(fields::required(get("IEFlag"), "DecHead/IEFlag")?, "IEFlag")?,
        supervision_mode: fields::required(get("TradeMode"), "DecHead/TradeMode")?.to_owned(),
        customs_office: fields::required(get("CustomMaster"), "DecHead/CustomMaster")?.to_owned(),
        ie_port: fields::optional(get("IEPort")).map(str::to_owned),
        trade_country: fields::required(get("TradeCountry"), "DecHead/TradeCountry")?.to_owned(),
        transport_mode: fields::optional(get("TrafMode")).map(str::to_owned),
        transaction_terms: fields::optional(get("TransMode")).map(str::to_owned),
        declared_at: date
            .map(|d| fields::date_time(d, "DecHead/DDate"))
            .transpose()?,
        gross_weight_kg: fields::optional_amount(get("GrossWet"), "DecHead/GrossWet")?,
        net_weight_kg: fields::optional_amount(get("NetWt"), "DecHead/NetWt")?,
        statistics_flag: None,
        freight: cost(&get, ["FeeMark", "FeeRate", "FeeCurr"])?,
        insurance: cost(&get, ["InsurMark", "InsurRate", "InsurCurr"])?,
        other_costs: cost(&get, ["OtherMark", "OtherRate", "OtherCurr"])?,
        items,
    })
}

fn build_item(raw: &Fields) -> Result<Item, Rejection> {
    let get = |field: &str| raw.get(field).map(String::as_str);
    let item_no = fields::item_number(fields::required(get("GNo"), "DecList/GNo")?, "GNo")?;
    let at = |name| fields::ItemField {
        block: "DecList",
        item_no,
        name,
    };
    Ok(Item {
        item_no,
        commodity_code: fields::required(get("CodeTS"), at("CodeTS"))?.to_owned(),
        quantity: fields::optional_amount(get("GQty"), at("GQty"))?,
        unit: fields::optional(get("GUnit")).map(str::to_owned),
        unit_price: fields::optional_amount(get("DeclPrice"), at("DeclPrice"))?,
        declared_total: Money {
            amount: fields::amount(
                fields::required(get("DeclTotal"), at("DeclTotal"))?,
                at("DeclTotal"),
            )?,
            currency: fields::required(get("TradeCurr"), at("TradeCurr"))?.to_owned(),
        },
        origin_country: fields::optional(get("OriginCountry")).map(str::to_owned),
        destination_country: fields::optional(get("DestinationCountry")).map(str::to_owned),
        district_code: fields::optional(get("DistrictCode")).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests;

/// The cost declared in the `DecHead` fields `[mark, rate, currency]`
/// (`FeeMark`/`FeeRate`/`FeeCurr`, `Insur*`, `Other*`), or `None` when none
/// is: an empty or zero mark with no rate. Currencies are checked by
/// [`crate::validate`].
fn cost<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    names: [&str; 3],
) -> Result<Option<Cost>, Rejection> {
    let [mark_name, rate_name, currency_name] = names;
    let field = |name: &str| format!("DecHead/{name}");
    let mark = fields::optional(get(mark_name)).filter(|mark| *mark != "0");
    let rate = fields::optional(get(rate_name));
    let currency = fields::optional(get(currency_name)).map(str::to_owned);
    let (mark, rate) = match (mark, rate) {
        (None, None) => return Ok(None),
        (None, Some(rate)) => {
            return Err(Rejection::new(
                RejectReason::InvalidCost,
                format!("{} {rate:?} has no {}", field(rate_name), field(mark_name)),
            ));
        }
        (Some(mark), rate) => (mark, rate),
    };
    let Some(mark_code) = CostMark::from_code(mark) else {
        return Err(Rejection::new(
            RejectReason::InvalidCost,
            format!(
                "{} {mark:?} is not 1 (rate), 2 (per tonne) or 3 (total)",
                field(mark_name)
            ),
        ));
    };
    let rate = fields::amount(fields::required(rate, field(rate_name))?, field(rate_name))?;
    if mark_code != CostMark::Rate && currency.is_none() {
        return Err(Rejection::new(
            RejectReason::InvalidCost,
            format!(
                "{} {mark:?} needs {}",
                field(mark_name),
                field(currency_name)
            ),
        ));
    }
    Ok(Some(Cost {
        mark: mark_code,
        rate,
        currency: currency.filter(|_| mark_code != CostMark::Rate),
    }))
}
