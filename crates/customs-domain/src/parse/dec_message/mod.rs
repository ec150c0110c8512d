//! `DecMessage` customs declarations (DOMAIN.md §2.1), bare or inside the
//! `ImportMessage/SWImpHead/SWImpData` wrapper: `DecHead` and `DecLists/DecList`
//! fields to a [`Declaration`] with codes as sent (see [`crate::validate`]).

use super::collect::{Fields, RawRecord};
use super::fields;
use crate::model::{AppType, Declaration, Item, MessageType, Money};
use crate::reject::Rejection;

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
