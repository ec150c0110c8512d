//! `DecMessage` customs declarations (DOMAIN.md §2.1), bare or inside the
//! `ImportMessage/SWImpHead/SWImpData` wrapper.
//!
//! Reads `DecHead` and `DecLists/DecList` in one streaming pass; every other
//! block (`DecContainers`, `DecLicenseDocus`, `DecSign`, unknown ones) is ignored.

use std::collections::{BTreeSet, HashMap};

use super::fields;
use super::xml::{XmlEvent, walk};
use crate::codes::CodeTables;
use crate::model::{Declaration, Item, Money};
use crate::reject::{RejectReason, Rejection};

/// `DecHead` elements that statistics read.
const HEAD_FIELDS: &[&str] = &[
    "SeqNo",
    "EntryId",
    "IEFlag",
    "TradeMode",
    "CustomMaster",
    "TradeCountry",
    "DDate",
];

/// `DecList` elements that statistics read.
const ITEM_FIELDS: &[&str] = &["GNo", "CodeTS", "DeclTotal", "TradeCurr", "OriginCountry"];

type Fields = HashMap<&'static str, String>;

/// Parses a `DecMessage` document.
pub(crate) fn parse(text: &str, tables: &CodeTables) -> Result<Declaration, Rejection> {
    let mut head = Fields::new();
    let mut items: Vec<Fields> = Vec::new();
    let mut seen_dec_message = false;
    walk(text, |event| {
        match event {
            XmlEvent::Open { name, depth } => {
                if depth == 0 {
                    check_root(name)?;
                }
                match name {
                    "DecMessage" => seen_dec_message = true,
                    "DecList" => items.push(Fields::new()),
                    _ => {}
                }
            }
            XmlEvent::Leaf {
                parent: "DecHead",
                name,
                text,
            } => keep(&mut head, HEAD_FIELDS, name, text),
            XmlEvent::Leaf {
                parent: "DecList",
                name,
                text,
            } => {
                if let Some(item) = items.last_mut() {
                    keep(item, ITEM_FIELDS, name, text);
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    if !seen_dec_message {
        return Err(Rejection::new(
            RejectReason::UnknownRoot,
            "ImportMessage carries no DecMessage",
        ));
    }
    build(&head, &items, tables)
}

fn check_root(name: &str) -> Result<(), Rejection> {
    match name {
        "DecMessage" | "ImportMessage" => Ok(()),
        other => Err(Rejection::new(
            RejectReason::UnknownRoot,
            format!("root element <{other}> is not a supported message"),
        )),
    }
}

fn keep(fields: &mut Fields, wanted: &[&'static str], name: &str, text: &str) {
    if let Some(field) = wanted.iter().find(|field| **field == name) {
        fields.insert(field, text.to_owned());
    }
}

fn build(
    head: &Fields,
    raw_items: &[Fields],
    tables: &CodeTables,
) -> Result<Declaration, Rejection> {
    let get = |field: &str| head.get(field).map(String::as_str);
    let id = match get("EntryId").map(str::trim).filter(|s| !s.is_empty()) {
        Some(entry_id) => entry_id.to_owned(),
        None => fields::required(get("SeqNo"), "DecHead/EntryId and DecHead/SeqNo")?.to_owned(),
    };
    let direction =
        fields::direction(fields::required(get("IEFlag"), "DecHead/IEFlag")?, "IEFlag")?;
    let supervision_mode = fields::supervision_mode(
        fields::required(get("TradeMode"), "DecHead/TradeMode")?,
        "TradeMode",
    )?;
    let customs_office = fields::required(get("CustomMaster"), "DecHead/CustomMaster")?.to_owned();
    let partner_country = fields::country(
        fields::required(get("TradeCountry"), "DecHead/TradeCountry")?,
        "TradeCountry",
        tables,
    )?;
    let declared_at = match get("DDate").map(str::trim).filter(|s| !s.is_empty()) {
        Some(date) => fields::date_time(date, "DDate")?,
        None => String::new(),
    };
    if raw_items.is_empty() {
        return Err(Rejection::new(
            RejectReason::NoItems,
            "DecLists has no DecList",
        ));
    }
    let mut seen = BTreeSet::new();
    let mut items = Vec::with_capacity(raw_items.len());
    for raw in raw_items {
        let item = build_item(raw, tables)?;
        if !seen.insert(item.item_no) {
            return Err(Rejection::new(
                RejectReason::DuplicateItemNumber,
                format!("GNo {} appears twice", item.item_no),
            ));
        }
        items.push(item);
    }
    items.sort_by_key(|item| item.item_no);
    Ok(Declaration {
        id,
        message_type: "DecMessage".to_owned(),
        direction,
        supervision_mode,
        customs_office,
        partner_country,
        declared_at,
        items,
    })
}

fn build_item(raw: &Fields, tables: &CodeTables) -> Result<Item, Rejection> {
    let get = |field: &str| raw.get(field).map(String::as_str);
    let item_no = fields::item_number(fields::required(get("GNo"), "DecList/GNo")?, "GNo")?;
    let at = |field: &str| format!("DecList[{item_no}]/{field}");
    let commodity_code = fields::commodity_code(
        fields::required(get("CodeTS"), &at("CodeTS"))?,
        &at("CodeTS"),
    )?;
    let amount = fields::amount(
        fields::required(get("DeclTotal"), &at("DeclTotal"))?,
        &at("DeclTotal"),
    )?;
    let currency = fields::currency(
        fields::required(get("TradeCurr"), &at("TradeCurr"))?,
        &at("TradeCurr"),
        tables,
    )?;
    let origin_country = match get("OriginCountry")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(code) => Some(fields::country(code, &at("OriginCountry"), tables)?),
        None => None,
    };
    Ok(Item {
        item_no,
        commodity_code,
        declared_total: Money { amount, currency },
        origin_country,
    })
}

#[cfg(test)]
mod tests;
