//! The statistical value: imports at CIF, exports at FOB, from the goods
//! price in its transaction terms (`TransMode`) and the declared freight
//! and insurance (`Fee*`, `Insur*`). Rules and sources: `docs/valuation.md`.
//!
//! Guarantees:
//! - **Exact.** Goods are in CNY, 2 decimals (as converted by the caller);
//!   each cost is converted to CNY and rounded to 2 decimals, then split
//!   over the items in proportion to their goods value by the largest
//!   remainder in fen ([`allocate`]), so the items' shares add up to the
//!   cost exactly and the statistical total is the goods total plus or
//!   minus the costs, to the fen.
//! - **Never a silent guess.** A combination that cannot be converted
//!   (market price or 垫仓 terms, EXW exports, per-tonne freight without a
//!   gross weight, a cost the terms need that is not declared, costs above
//!   the goods value) keeps the goods value and says why in a
//!   [`ValueFlag`]; EXW imports are converted (freight and insurance
//!   added) and flagged, since inland costs are unknown.
//! - Other costs (`Other*`) are not part of the statistical value.
//! - Only customs declarations carry terms; inventories keep their value.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::codes::{CodeTables, TermsBasis};
use crate::model::{Cost, CostMark, Declaration, Direction, MessageType};
use crate::reject::Rejection;

/// Why a statistical value is the declared one, or is converted with a
/// known gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueFlag {
    /// A customs declaration without `TransMode`.
    NoTransactionTerms,
    /// `TransMode` is not in the transaction-terms table.
    UnknownTransactionTerms,
    /// Market price (5) or 垫仓 (6): no price basis to convert from.
    NoPriceBasis,
    /// An EXW export: the costs to the border are not declared.
    ExwExport,
    /// An EXW import, converted with freight and insurance: inland costs
    /// before the seller's border are unknown.
    ExwInlandCostsUnknown,
    /// The terms need freight and none is declared.
    MissingFreight,
    /// The terms need insurance alone and none is declared.
    MissingInsurance,
    /// Freight per tonne without a gross weight.
    PerTonneWithoutGrossWeight,
    /// Insurance per tonne: not a form the filling rules allow.
    PerTonneInsurance,
    /// Freight and insurance to deduct exceed an item's goods value.
    CostsExceedValue,
}

impl ValueFlag {
    /// Every flag, for metrics.
    pub const ALL: [ValueFlag; 10] = [
        ValueFlag::NoTransactionTerms,
        ValueFlag::UnknownTransactionTerms,
        ValueFlag::NoPriceBasis,
        ValueFlag::ExwExport,
        ValueFlag::ExwInlandCostsUnknown,
        ValueFlag::MissingFreight,
        ValueFlag::MissingInsurance,
        ValueFlag::PerTonneWithoutGrossWeight,
        ValueFlag::PerTonneInsurance,
        ValueFlag::CostsExceedValue,
    ];

    /// Stable snake-case name, as in metrics and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueFlag::NoTransactionTerms => "no_transaction_terms",
            ValueFlag::UnknownTransactionTerms => "unknown_transaction_terms",
            ValueFlag::NoPriceBasis => "no_price_basis",
            ValueFlag::ExwExport => "exw_export",
            ValueFlag::ExwInlandCostsUnknown => "exw_inland_costs_unknown",
            ValueFlag::MissingFreight => "missing_freight",
            ValueFlag::MissingInsurance => "missing_insurance",
            ValueFlag::PerTonneWithoutGrossWeight => "per_tonne_without_gross_weight",
            ValueFlag::PerTonneInsurance => "per_tonne_insurance",
            ValueFlag::CostsExceedValue => "costs_exceed_value",
        }
    }

    /// The flag named `name` ([`ValueFlag::as_str`]).
    pub fn from_name(name: &str) -> Option<ValueFlag> {
        ValueFlag::ALL
            .into_iter()
            .find(|flag| flag.as_str() == name)
    }

    /// Whether the value was still converted (only EXW imports).
    pub fn converted(self) -> bool {
        self == ValueFlag::ExwInlandCostsUnknown
    }
}

/// How the terms move the goods price to the statistical basis: the sign
/// of freight and of insurance (+1 add, -1 deduct, 0 none), and a flag
/// that goes with a converted value.
type Rule = (i64, i64, Option<ValueFlag>);

fn rule(direction: Direction, basis: TermsBasis) -> Result<Rule, ValueFlag> {
    use Direction::{Export, Import};
    use TermsBasis::{Cfr, Ci, Cif, Exw, Fob, Other};
    Ok(match (direction, basis) {
        (Import, Cif) | (Export, Fob) => (0, 0, None),
        (Import, Cfr) => (0, 1, None),
        (Import, Fob) => (1, 1, None),
        (Import, Ci) => (1, 0, None),
        (Import, Exw) => (1, 1, Some(ValueFlag::ExwInlandCostsUnknown)),
        (Export, Cif) => (-1, -1, None),
        (Export, Cfr) => (-1, 0, None),
        (Export, Ci) => (0, -1, None),
        (Export, Exw) => return Err(ValueFlag::ExwExport),
        (_, Other) => return Err(ValueFlag::NoPriceBasis),
    })
}

/// Why no statistical value came out: a flag (keep the goods value) or a
/// rejection (a missing exchange rate).
enum Stop {
    Flag(ValueFlag),
    Reject(Rejection),
}

impl From<Rejection> for Stop {
    fn from(rejection: Rejection) -> Self {
        Stop::Reject(rejection)
    }
}

impl From<ValueFlag> for Stop {
    fn from(flag: ValueFlag) -> Self {
        Stop::Flag(flag)
    }
}

/// The statistical CNY value of each item of `declaration`, from their
/// goods values `goods` (CNY, 2 decimals, in item order); `rate` gives
/// CNY per unit of a currency in the declaration's month, `tables` what
/// each terms code includes. With a flag, the values are the goods values
/// unless the flag says they were converted.
pub fn statistical(
    declaration: &Declaration,
    goods: &[Decimal],
    tables: &CodeTables,
    rate: &dyn Fn(&str) -> Result<Decimal, Rejection>,
) -> Result<(Vec<Decimal>, Option<ValueFlag>), Rejection> {
    if declaration.message_type != MessageType::DecMessage {
        return Ok((goods.to_vec(), None));
    }
    match convert(declaration, goods, tables, rate) {
        Ok(result) => Ok(result),
        Err(Stop::Flag(flag)) => Ok((goods.to_vec(), Some(flag))),
        Err(Stop::Reject(rejection)) => Err(rejection),
    }
}

fn convert(
    declaration: &Declaration,
    goods: &[Decimal],
    tables: &CodeTables,
    rate: &dyn Fn(&str) -> Result<Decimal, Rejection>,
) -> Result<(Vec<Decimal>, Option<ValueFlag>), Stop> {
    let terms = declaration
        .transaction_terms
        .as_deref()
        .ok_or(ValueFlag::NoTransactionTerms)?;
    let basis = tables
        .terms_basis(terms)
        .ok_or(ValueFlag::UnknownTransactionTerms)?;
    let (freight_sign, insurance_sign, flag) = rule(declaration.direction, basis)?;
    let total: Decimal = goods.iter().sum();
    let freight = if freight_sign == 0 {
        Decimal::ZERO
    } else {
        let cost = declaration
            .freight
            .as_ref()
            .ok_or(ValueFlag::MissingFreight)?;
        cost_cny(cost, total, declaration.gross_weight_kg, rate, true)?
    };
    let insurance = match (&declaration.insurance, insurance_sign) {
        (_, 0) => Decimal::ZERO,
        (Some(cost), _) => {
            // A rate applies to goods plus freight: add the freight the
            // price does not include.
            let base = if freight_sign > 0 {
                total + freight
            } else {
                total
            };
            cost_cny(cost, base, declaration.gross_weight_kg, rate, false)?
        }
        // Declared together with the freight, in the freight field.
        (None, _) if freight_sign != 0 => Decimal::ZERO,
        (None, _) => return Err(ValueFlag::MissingInsurance.into()),
    };
    let weights: Vec<i64> = goods.iter().map(|value| fen(*value)).collect();
    let freight_shares = allocate(fen(freight), &weights);
    let insurance_shares = allocate(fen(insurance), &weights);
    let mut values = Vec::with_capacity(goods.len());
    for ((weight, freight), insurance) in weights.iter().zip(freight_shares).zip(insurance_shares) {
        let value = weight + freight_sign * freight + insurance_sign * insurance;
        if value < 0 {
            return Err(ValueFlag::CostsExceedValue.into());
        }
        values.push(Decimal::new(value, 2));
    }
    Ok((values, flag))
}

/// A cost in CNY, 2 decimals: a rate of `base`, an amount per tonne of
/// `gross_kg`, or a total.
fn cost_cny(
    cost: &Cost,
    base: Decimal,
    gross_kg: Option<Decimal>,
    rate: &dyn Fn(&str) -> Result<Decimal, Rejection>,
    freight: bool,
) -> Result<Decimal, Stop> {
    let in_cny = |amount: Decimal| -> Result<Decimal, Stop> {
        let currency = cost.currency.as_deref().unwrap_or("CNY");
        Ok(super::round(amount * rate(currency)?))
    };
    match cost.mark {
        CostMark::Rate => Ok(super::round(base * cost.rate / Decimal::ONE_HUNDRED)),
        CostMark::PerTonne if !freight => Err(ValueFlag::PerTonneInsurance.into()),
        CostMark::PerTonne => {
            let gross = gross_kg.ok_or(ValueFlag::PerTonneWithoutGrossWeight)?;
            in_cny(cost.rate * gross / Decimal::ONE_THOUSAND)
        }
        CostMark::Total => in_cny(cost.rate),
    }
}

/// A CNY amount with 2 decimals, in fen.
fn fen(value: Decimal) -> i64 {
    (value * Decimal::ONE_HUNDRED)
        .trunc()
        .to_i64()
        .unwrap_or_default()
}

/// Splits `total` (fen, not negative) over `weights` (not negative) in
/// proportion, by the largest-remainder method: each share is the whole
/// part of its quota, and the fen left over go one each to the largest
/// fractional parts (the earlier item on a tie). The shares add up to
/// `total` exactly. Weights that are all zero split equally.
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let ones;
    let weights = if weights.iter().all(|weight| *weight == 0) {
        ones = vec![1; weights.len()];
        &ones
    } else {
        weights
    };
    let sum: i128 = weights.iter().map(|weight| i128::from(*weight)).sum();
    let quotas: Vec<(i64, i128)> = weights
        .iter()
        .map(|weight| {
            let product = i128::from(total) * i128::from(*weight);
            ((product / sum) as i64, product % sum)
        })
        .collect();
    let mut shares: Vec<i64> = quotas.iter().map(|(whole, _)| *whole).collect();
    let left = total - shares.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..quotas.len()).collect();
    order.sort_by(|a, b| quotas[*b].1.cmp(&quotas[*a].1).then(a.cmp(b)));
    for index in order.into_iter().take(left.max(0) as usize) {
        shares[index] += 1;
    }
    shares
}

#[cfg(test)]
mod tests;
