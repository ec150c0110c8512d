//! Rules every event obeys, whatever format it came in (XML or JSON).
//!
//! [`event`] normalises codes to one system (countries to ISO 3166 alpha-3,
//! currencies to ISO 4217, supervision modes to four digits) and checks the
//! rules that need the code tables or the whole declaration. It is
//! idempotent: a validated event validates to itself, which is what makes
//! `parse(render(x)) == x` hold for both formats.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use crate::codes::CodeTables;
use crate::model::{Declaration, Event, Item};
use crate::parse::fields;
use crate::reject::{RejectReason, Rejection};

/// Largest relative difference between `unit_price × quantity` and the
/// declared total before they count as mismatched: 1 %, and never less than
/// one currency unit, because unit prices are rounded to 4 decimals.
const TOTALS_TOLERANCE_PERCENT: Decimal = Decimal::ONE;

/// Validates and normalises one event.
pub fn event(event: Event, tables: &CodeTables) -> Result<Event, Rejection> {
    match event {
        Event::Declaration(declaration) => {
            declaration_rules(declaration, tables).map(Event::Declaration)
        }
        Event::Receipt(mut receipt) => {
            receipt.returned_at = fields::date_time(&receipt.returned_at, "returned_at")?;
            fields::required(Some(&receipt.guid), "guid")?;
            Ok(Event::Receipt(receipt))
        }
        Event::SummaryResult(mut summary) => {
            fields::required(Some(&summary.guid), "guid")?;
            summary.invt_nos.sort_unstable();
            summary.invt_nos.dedup();
            if summary.invt_nos.is_empty() {
                return Err(Rejection::new(
                    RejectReason::NoItems,
                    "summary lists no inventory",
                ));
            }
            summary.operated_at = summary
                .operated_at
                .map(|d| fields::date_time(&d, "operated_at"))
                .transpose()?;
            Ok(Event::SummaryResult(summary))
        }
    }
}

fn declaration_rules(
    mut declaration: Declaration,
    tables: &CodeTables,
) -> Result<Declaration, Rejection> {
    fields::required(Some(&declaration.id), "id")?;
    declaration.supervision_mode =
        fields::supervision_mode(&declaration.supervision_mode, "supervision_mode")?;
    fields::required(Some(&declaration.customs_office), "customs_office")?;
    declaration.trade_country =
        fields::country(&declaration.trade_country, "trade_country", tables)?;
    if let Some(mode) = &declaration.transport_mode
        && tables.transport_mode(mode).is_none()
    {
        return Err(Rejection::new(
            RejectReason::UnknownTransportMode,
            format!("transport_mode {mode:?} is not in the code table"),
        ));
    }
    declaration.declared_at = declaration
        .declared_at
        .map(|d| fields::date_time(&d, "declared_at"))
        .transpose()?;
    for (cost, field) in [
        (&mut declaration.freight, "freight"),
        (&mut declaration.insurance, "insurance"),
        (&mut declaration.other_costs, "other_costs"),
    ] {
        if let Some(cost) = cost {
            cost.rate = fields::check_amount(cost.rate, format!("{field}/rate"))?;
            if let Some(currency) = &cost.currency {
                cost.currency = Some(fields::currency(
                    currency,
                    format!("{field}/currency"),
                    tables,
                )?);
            }
        }
    }
    if declaration.items.is_empty() {
        return Err(Rejection::new(
            RejectReason::NoItems,
            format!(
                "{} {} has no goods items",
                declaration.message_type.as_str(),
                declaration.id
            ),
        ));
    }
    let allow_heading = declaration.statistics_flag.as_deref() == Some("A");
    let mut seen = BTreeSet::new();
    for item in &mut declaration.items {
        if !seen.insert(item.item_no) {
            return Err(Rejection::new(
                RejectReason::DuplicateItemNumber,
                format!("item number {} appears twice", item.item_no),
            ));
        }
        item_rules(item, tables, allow_heading)?;
    }
    declaration.items.sort_by_key(|item| item.item_no);
    Ok(declaration)
}

fn item_rules(item: &mut Item, tables: &CodeTables, allow_heading: bool) -> Result<(), Rejection> {
    let item_no = item.item_no;
    let at = |name| fields::ItemField {
        block: "item",
        item_no,
        name,
    };
    if item.item_no == 0 {
        return Err(Rejection::new(
            RejectReason::InvalidItemNumber,
            "item number 0",
        ));
    }
    item.commodity_code =
        fields::commodity_code(&item.commodity_code, at("commodity_code"), allow_heading)?;
    item.declared_total.amount =
        fields::check_amount(item.declared_total.amount, at("declared_total"))?;
    item.declared_total.currency =
        fields::currency(&item.declared_total.currency, at("currency"), tables)?;
    for (value, field) in [
        (&mut item.origin_country, "origin_country"),
        (&mut item.destination_country, "destination_country"),
    ] {
        if let Some(code) = value.as_deref() {
            *value = Some(fields::country(code, at(field), tables)?);
        }
    }
    for (value, field) in [(item.quantity, "quantity"), (item.unit_price, "unit_price")] {
        if let Some(number) = value
            && number.is_sign_negative()
            && !number.is_zero()
        {
            return Err(Rejection::new(
                RejectReason::NegativeValue,
                format!("{} is negative", at(field)),
            ));
        }
    }
    if let (Some(price), Some(quantity)) = (item.unit_price, item.quantity) {
        check_totals(
            price,
            quantity,
            item.declared_total.amount,
            at("declared_total"),
        )?;
    }
    Ok(())
}

fn check_totals(
    price: Decimal,
    quantity: Decimal,
    total: Decimal,
    field: impl std::fmt::Display,
) -> Result<(), Rejection> {
    let Some(expected) = price.checked_mul(quantity) else {
        return Err(Rejection::new(
            RejectReason::AbsurdValue,
            format!("{field}: price × quantity overflows"),
        ));
    };
    let tolerance = (total * TOTALS_TOLERANCE_PERCENT / Decimal::ONE_HUNDRED).max(Decimal::ONE);
    if (expected - total).abs() > tolerance {
        return Err(Rejection::new(
            RejectReason::MismatchedTotals,
            format!("{field} is {total} but unit price {price} × quantity {quantity} = {expected}"),
        ));
    }
    Ok(())
}
