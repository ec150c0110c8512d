//! Rendering declarations as single-window XML: the inverse of the parsers.
//!
//! Used by the demo feed, the tests and (later) the feed generator, so that
//! `parse(render(x)) == x` can be checked for every declaration.

use std::fmt::Write;

use crate::model::{Declaration, Direction};

/// Renders a `DecMessage` document (namespace `http://www.chinaport.gov.cn/dec`).
///
/// Codes are written in their alphabetic form (`USA`, `USD`); `declared_at` is
/// written in the compact `YYYYMMDDhhmmss` layout the single window uses.
pub fn render_dec_message(declaration: &Declaration) -> String {
    let mut xml = String::with_capacity(1024 + 256 * declaration.items.len());
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(
        "<DecMessage xmlns=\"http://www.chinaport.gov.cn/dec\" version=\"3.1\">\n<DecHead>\n",
    );
    let (seq_no, entry_id) =
        if declaration.id.len() == 18 && declaration.id.bytes().all(|b| b.is_ascii_digit()) {
            ("", declaration.id.as_str())
        } else {
            (declaration.id.as_str(), "")
        };
    element(&mut xml, "SeqNo", seq_no);
    element(&mut xml, "EntryId", entry_id);
    let flag = match declaration.direction {
        Direction::Import => "I",
        Direction::Export => "E",
    };
    element(&mut xml, "IEFlag", flag);
    element(&mut xml, "TradeMode", &declaration.supervision_mode);
    element(&mut xml, "CustomMaster", &declaration.customs_office);
    element(&mut xml, "TradeCountry", &declaration.partner_country);
    let compact_date: String = declaration
        .declared_at
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    element(&mut xml, "DDate", &compact_date);
    xml.push_str("</DecHead>\n<DecLists>\n");
    for item in &declaration.items {
        xml.push_str("<DecList>\n");
        element(&mut xml, "GNo", &item.item_no.to_string());
        element(&mut xml, "CodeTS", &item.commodity_code);
        element(
            &mut xml,
            "DeclTotal",
            &item.declared_total.amount.to_string(),
        );
        element(&mut xml, "TradeCurr", &item.declared_total.currency);
        element(
            &mut xml,
            "OriginCountry",
            item.origin_country.as_deref().unwrap_or(""),
        );
        xml.push_str("</DecList>\n");
    }
    xml.push_str("</DecLists>\n</DecMessage>\n");
    xml
}

fn element(xml: &mut String, name: &str, value: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(xml, "<{name}>{}</{name}>", quick_xml::escape::escape(value));
}
