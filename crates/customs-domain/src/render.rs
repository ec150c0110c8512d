//! Rendering events as single-window XML (and JSON): the inverse of the parsers.
//!
//! Used by the feed generator, the demo and the tests, so that
//! `parse(render(x)) == x` can be checked for every validated event. Codes
//! are written as held (alphabetic after validation); dates in the compact
//! layouts the single window uses.

use std::fmt::Write;

use rust_decimal::Decimal;

use crate::model::{AppType, Declaration, Direction, MessageType, Receipt, SummaryResult};
pub use crate::parse::json::render as render_json;

const DEC_NS: &str = "http://www.chinaport.gov.cn/dec";
const CEB_NS: &str = "http://www.chinaport.gov.cn/ceb";

/// Renders a `DecMessage` document.
pub fn render_dec_message(declaration: &Declaration) -> String {
    let mut xml = String::with_capacity(1024 + 400 * declaration.items.len());
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<DecMessage xmlns=\"{DEC_NS}\" version=\"3.1\">\n<DecHead>"
    );
    let is_entry_id =
        declaration.id.len() == 18 && declaration.id.bytes().all(|b| b.is_ascii_digit());
    let (seq_no, entry_id) = if is_entry_id {
        ("", declaration.id.as_str())
    } else {
        (declaration.id.as_str(), "")
    };
    let e = &mut xml;
    element(e, "SeqNo", seq_no);
    element(e, "EntryId", entry_id);
    element(e, "IEFlag", ie_flag(declaration.direction));
    element(e, "TradeMode", &declaration.supervision_mode);
    element(e, "CustomMaster", &declaration.customs_office);
    optional(e, "IEPort", declaration.ie_port.as_deref());
    element(e, "TradeCountry", &declaration.trade_country);
    optional(e, "TrafMode", declaration.transport_mode.as_deref());
    optional(e, "TransMode", declaration.transaction_terms.as_deref());
    optional(
        e,
        "DDate",
        declaration.declared_at.as_deref().map(compact).as_deref(),
    );
    decimal(e, "GrossWet", declaration.gross_weight_kg);
    decimal(e, "NetWt", declaration.net_weight_kg);
    for (prefix, cost) in [
        ("Fee", &declaration.freight),
        ("Insur", &declaration.insurance),
        ("Other", &declaration.other_costs),
    ] {
        if let Some(cost) = cost {
            element(e, &format!("{prefix}Mark"), cost.mark.code());
            element(e, &format!("{prefix}Rate"), &cost.rate.to_string());
            optional(e, &format!("{prefix}Curr"), cost.currency.as_deref());
        }
    }
    e.push_str("</DecHead>\n<DecLists>\n");
    for item in &declaration.items {
        e.push_str("<DecList>\n");
        element(e, "GNo", &item.item_no.to_string());
        element(e, "CodeTS", &item.commodity_code);
        decimal(e, "GQty", item.quantity);
        optional(e, "GUnit", item.unit.as_deref());
        decimal(e, "DeclPrice", item.unit_price);
        element(e, "DeclTotal", &item.declared_total.amount.to_string());
        element(e, "TradeCurr", &item.declared_total.currency);
        optional(e, "OriginCountry", item.origin_country.as_deref());
        optional(e, "DestinationCountry", item.destination_country.as_deref());
        optional(e, "DistrictCode", item.district_code.as_deref());
        e.push_str("</DecList>\n");
    }
    e.push_str("</DecLists>\n</DecMessage>\n");
    xml
}

/// Renders inventories as one `CEB603Message` (exports) or `CEB621Message`
/// (imports), by the first inventory's direction. Items' countries are
/// written as origin on imports and destination on exports.
pub fn render_inventories(inventories: &[Declaration], message_guid: &str) -> String {
    let direction = inventories
        .first()
        .map_or(Direction::Import, |inv| inv.direction);
    let root = match direction {
        Direction::Export => MessageType::Ceb603,
        Direction::Import => MessageType::Ceb621,
    };
    let mut xml = open_ceb(root, message_guid);
    let e = &mut xml;
    for inventory in inventories {
        e.push_str("<ceb:Inventory>\n<ceb:InventoryHead>\n");
        let guid = inventory.guid.as_deref().unwrap_or(&inventory.id);
        ceb(e, "guid", guid);
        let app_type = match inventory.app_type {
            AppType::New => "1",
            AppType::Change => "2",
            AppType::Delete => "3",
        };
        ceb(e, "appType", app_type);
        ceb_optional(
            e,
            "appTime",
            inventory.declared_at.as_deref().map(compact).as_deref(),
        );
        ceb_optional(e, "copNo", inventory.cop_no.as_deref());
        ceb(
            e,
            "invtNo",
            if inventory.id == guid {
                ""
            } else {
                &inventory.id
            },
        );
        ceb(e, "ieFlag", ie_flag(inventory.direction));
        ceb(e, "customsCode", &inventory.customs_office);
        ceb_optional(e, "portCode", inventory.ie_port.as_deref());
        // Personal data is never rendered: the generator's inventories carry none.
        ceb(e, "tradeMode", &inventory.supervision_mode);
        ceb_optional(e, "trafMode", inventory.transport_mode.as_deref());
        ceb(e, "country", &inventory.trade_country);
        ceb_decimal(e, "grossWeight", inventory.gross_weight_kg);
        ceb_decimal(e, "netWeight", inventory.net_weight_kg);
        ceb_optional(e, "statisticsFlag", inventory.statistics_flag.as_deref());
        e.push_str("</ceb:InventoryHead>\n");
        for item in &inventory.items {
            e.push_str("<ceb:InventoryList>\n");
            ceb(e, "gnum", &item.item_no.to_string());
            ceb(e, "gcode", &item.commodity_code);
            let country = match inventory.direction {
                Direction::Import => item.origin_country.as_deref(),
                Direction::Export => item.destination_country.as_deref(),
            };
            ceb_optional(e, "country", country);
            ceb(e, "currency", &item.declared_total.currency);
            ceb_decimal(e, "qty", item.quantity);
            ceb_optional(e, "unit", item.unit.as_deref());
            ceb_decimal(e, "price", item.unit_price);
            ceb(e, "totalPrice", &item.declared_total.amount.to_string());
            e.push_str("</ceb:InventoryList>\n");
        }
        e.push_str("</ceb:Inventory>\n");
    }
    close_ceb(e, root);
    xml
}

/// Renders receipts as one `CEB604Message` or `CEB622Message`.
pub fn render_receipts(
    message_type: MessageType,
    receipts: &[Receipt],
    message_guid: &str,
) -> String {
    let mut xml = open_ceb(message_type, message_guid);
    let e = &mut xml;
    for receipt in receipts {
        e.push_str("<ceb:InventoryReturn>\n");
        ceb(e, "guid", &receipt.guid);
        ceb_optional(e, "copNo", receipt.cop_no.as_deref());
        ceb_optional(e, "preNo", receipt.pre_no.as_deref());
        ceb_optional(e, "invtNo", receipt.invt_no.as_deref());
        ceb(e, "returnStatus", &receipt.status.to_string());
        ceb(e, "returnTime", &compact(&receipt.returned_at));
        e.push_str("</ceb:InventoryReturn>\n");
    }
    close_ceb(e, message_type);
    xml
}

/// Renders summary results as one `CEB792Message`.
pub fn render_summaries(summaries: &[SummaryResult], message_guid: &str) -> String {
    let mut xml = open_ceb(MessageType::Ceb792, message_guid);
    let e = &mut xml;
    for summary in summaries {
        e.push_str("<ceb:SummaryResult>\n<ceb:SummaryResultHead>\n");
        ceb(e, "guid", &summary.guid);
        ceb_optional(e, "entryId", summary.entry_id.as_deref());
        ceb(e, "customsCode", &summary.customs_office);
        ceb_optional(e, "sumNo", summary.summary_no.as_deref());
        ceb_optional(
            e,
            "opDate",
            summary.operated_at.as_deref().map(compact).as_deref(),
        );
        ceb_optional(e, "declSeqNo", summary.decl_seq_no.as_deref());
        e.push_str("</ceb:SummaryResultHead>\n");
        for (index, invt_no) in summary.invt_nos.iter().enumerate() {
            e.push_str("<ceb:SummaryResultList>\n");
            ceb(e, "invtNo", invt_no);
            ceb(e, "gnum", &(index + 1).to_string());
            e.push_str("</ceb:SummaryResultList>\n");
        }
        e.push_str("</ceb:SummaryResult>\n");
    }
    close_ceb(e, MessageType::Ceb792);
    xml
}

fn open_ceb(root: MessageType, guid: &str) -> String {
    let mut xml = String::with_capacity(2048);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<ceb:{} guid=\"{}\" version=\"1.0\" xmlns:ceb=\"{CEB_NS}\">",
        root.as_str(),
        quick_xml::escape::escape(guid)
    );
    xml
}

fn close_ceb(xml: &mut String, root: MessageType) {
    let _ = writeln!(xml, "</ceb:{}>", root.as_str());
}

fn ie_flag(direction: Direction) -> &'static str {
    match direction {
        Direction::Import => "I",
        Direction::Export => "E",
    }
}

/// `2026-11-18T10:00:00.123` → `20261118100000123`.
fn compact(date_time: &str) -> String {
    date_time.chars().filter(char::is_ascii_digit).collect()
}

fn element(xml: &mut String, name: &str, value: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(xml, "<{name}>{}</{name}>", quick_xml::escape::escape(value));
}

fn optional(xml: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        element(xml, name, value);
    }
}

fn decimal(xml: &mut String, name: &str, value: Option<Decimal>) {
    optional(xml, name, value.map(|v| v.to_string()).as_deref());
}

fn ceb(xml: &mut String, name: &str, value: &str) {
    let _ = writeln!(
        xml,
        "<ceb:{name}>{}</ceb:{name}>",
        quick_xml::escape::escape(value)
    );
}

fn ceb_optional(xml: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        ceb(xml, name, value);
    }
}

fn ceb_decimal(xml: &mut String, name: &str, value: Option<Decimal>) {
    ceb_optional(xml, name, value.map(|v| v.to_string()).as_deref());
}
