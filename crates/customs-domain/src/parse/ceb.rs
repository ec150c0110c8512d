//! Cross-border e-commerce messages (GACC unified spec, 2022 edition):
//! inventories `CEB603Message` / `CEB621Message`, receipts `CEB604Message` /
//! `CEB622Message` and summary results `CEB792Message`.
//!
//! Only statistics fields are read; the buyer identity an import inventory
//! carries is never collected (see `collect`).

use super::collect::{Fields, RawRecord};
use super::fields;
use crate::model::{
    AppType, Declaration, Direction, Item, MessageType, Money, Receipt, SummaryResult,
};
use crate::reject::{RejectReason, Rejection};

/// Builds the declaration of one `Inventory` record.
pub(crate) fn inventory(
    message_type: MessageType,
    record: &RawRecord,
) -> Result<Declaration, Rejection> {
    let head = &record.head;
    let get = |field: &str| head.get(field).map(String::as_str);
    let guid = fields::required(get("guid"), "InventoryHead/guid")?.to_owned();
    let id = fields::optional(get("invtNo")).unwrap_or(&guid).to_owned();
    let statistics_flag = fields::optional(get("statisticsFlag")).map(str::to_owned);
    let head_currency = fields::optional(get("currency"));
    let date = fields::optional(get("appTime"))
        .or(fields::optional(get("declTime")))
        .or(fields::optional(get("ieDate")));
    let direction = fields::direction(
        fields::required(get("ieFlag"), "InventoryHead/ieFlag")?,
        "ieFlag",
    )?;
    let items = record
        .items
        .iter()
        .map(|raw| inventory_item(raw, head_currency, direction))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Declaration {
        id,
        message_type,
        app_type: app_type(get("appType"))?,
        guid: Some(guid),
        cop_no: fields::optional(get("copNo")).map(str::to_owned),
        direction,
        supervision_mode: fields::required(get("tradeMode"), "InventoryHead/tradeMode")?.to_owned(),
        customs_office: fields::required(get("customsCode"), "InventoryHead/customsCode")?
            .to_owned(),
        ie_port: fields::optional(get("portCode")).map(str::to_owned),
        trade_country: fields::required(get("country"), "InventoryHead/country")?.to_owned(),
        transport_mode: fields::optional(get("trafMode")).map(str::to_owned),
        transaction_terms: None,
        declared_at: date
            .map(|d| fields::date_time(d, "InventoryHead/appTime"))
            .transpose()?,
        gross_weight_kg: fields::optional_amount(get("grossWeight"), "InventoryHead/grossWeight")?,
        net_weight_kg: fields::optional_amount(get("netWeight"), "InventoryHead/netWeight")?,
        statistics_flag,
        freight: None,
        insurance: None,
        other_costs: None,
        items,
    })
}

fn inventory_item(
    raw: &Fields,
    head_currency: Option<&str>,
    direction: Direction,
) -> Result<Item, Rejection> {
    let get = |field: &str| raw.get(field).map(String::as_str);
    let item_no =
        fields::item_number(fields::required(get("gnum"), "InventoryList/gnum")?, "gnum")?;
    let at = |name| fields::ItemField {
        block: "InventoryList",
        item_no,
        name,
    };
    let currency = fields::optional(get("currency")).or(head_currency);
    let country = fields::optional(get("country")).map(str::to_owned);
    Ok(Item {
        item_no,
        commodity_code: fields::required(get("gcode"), at("gcode"))?.to_owned(),
        quantity: fields::optional_amount(get("qty"), at("qty"))?,
        unit: fields::optional(get("unit")).map(str::to_owned),
        unit_price: fields::optional_amount(get("price"), at("price"))?,
        declared_total: Money {
            amount: fields::amount(
                fields::required(get("totalPrice"), at("totalPrice"))?,
                at("totalPrice"),
            )?,
            currency: fields::required(currency, at("currency"))?.to_owned(),
        },
        // The item country is the origin on imports, the destination on exports.
        origin_country: country.clone().filter(|_| direction == Direction::Import),
        destination_country: country.filter(|_| direction == Direction::Export),
        district_code: None,
    })
}

fn app_type(value: Option<&str>) -> Result<AppType, Rejection> {
    match fields::optional(value) {
        None | Some("1") => Ok(AppType::New),
        Some("2") => Ok(AppType::Change),
        Some("3") => Ok(AppType::Delete),
        Some(other) => Err(Rejection::new(
            RejectReason::InvalidAppType,
            format!("InventoryHead/appType {other:?} is not 1, 2 or 3"),
        )),
    }
}

/// Builds one `InventoryReturn` receipt.
pub(crate) fn receipt(message_type: MessageType, record: &RawRecord) -> Result<Receipt, Rejection> {
    let head = &record.head;
    let get = |field: &str| head.get(field).map(String::as_str);
    let status_text = fields::required(get("returnStatus"), "InventoryReturn/returnStatus")?;
    let status = status_text.parse::<i32>().map_err(|_| {
        Rejection::new(
            RejectReason::InvalidStatus,
            format!("InventoryReturn/returnStatus {status_text:?} is not an integer"),
        )
    })?;
    Ok(Receipt {
        message_type,
        guid: fields::required(get("guid"), "InventoryReturn/guid")?.to_owned(),
        cop_no: fields::optional(get("copNo")).map(str::to_owned),
        pre_no: fields::optional(get("preNo")).map(str::to_owned),
        invt_no: fields::optional(get("invtNo")).map(str::to_owned),
        status,
        returned_at: fields::date_time(
            fields::required(get("returnTime"), "InventoryReturn/returnTime")?,
            "InventoryReturn/returnTime",
        )?,
    })
}

/// Builds one `SummaryResult`.
pub(crate) fn summary(record: &RawRecord) -> Result<SummaryResult, Rejection> {
    let head = &record.head;
    let get = |field: &str| head.get(field).map(String::as_str);
    let mut invt_nos: Vec<String> = record
        .items
        .iter()
        .filter_map(|item| {
            fields::optional(item.get("invtNo").map(String::as_str)).map(str::to_owned)
        })
        .collect();
    invt_nos.sort_unstable();
    invt_nos.dedup();
    if invt_nos.is_empty() {
        return Err(Rejection::new(
            RejectReason::NoItems,
            "SummaryResult lists no inventory (SummaryResultList/invtNo)",
        ));
    }
    Ok(SummaryResult {
        guid: fields::required(get("guid"), "SummaryResultHead/guid")?.to_owned(),
        entry_id: fields::optional(get("entryId")).map(str::to_owned),
        summary_no: fields::optional(get("sumNo")).map(str::to_owned),
        decl_seq_no: fields::optional(get("declSeqNo")).map(str::to_owned),
        customs_office: fields::required(get("customsCode"), "SummaryResultHead/customsCode")?
            .to_owned(),
        invt_nos,
        operated_at: fields::optional(get("opDate"))
            .map(|d| fields::date_time(d, "SummaryResultHead/opDate"))
            .transpose()?,
    })
}
