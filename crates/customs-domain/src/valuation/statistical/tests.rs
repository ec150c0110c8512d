//! The statistical value against figures worked out by hand from the rules
//! in `docs/valuation.md` (goods in CNY so that no exchange rate is
//! involved, except where a rate is the point).

use rust_decimal::Decimal;

use super::*;
use crate::codes::CodeTables;
use crate::model::{AppType, Item, Money};
use crate::valuation::value;

fn cny(text: &str) -> Decimal {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn cost(mark: CostMark, rate: &str, currency: Option<&str>) -> Option<Cost> {
    Some(Cost {
        mark,
        rate: cny(rate),
        currency: currency.map(str::to_owned),
    })
}

fn declaration(direction: Direction, terms: Option<&str>, goods: &[&str]) -> Declaration {
    Declaration {
        id: "531120261000000001".into(),
        message_type: MessageType::DecMessage,
        app_type: AppType::New,
        guid: None,
        cop_no: None,
        direction,
        supervision_mode: "0110".into(),
        customs_office: "5311".into(),
        ie_port: None,
        trade_country: "USA".into(),
        transport_mode: None,
        transaction_terms: terms.map(str::to_owned),
        declared_at: Some("2026-11-18T10:00:00".into()),
        gross_weight_kg: None,
        net_weight_kg: None,
        statistics_flag: None,
        freight: None,
        insurance: None,
        other_costs: None,
        items: goods
            .iter()
            .enumerate()
            .map(|(index, amount)| Item {
                item_no: index as u32 + 1,
                commodity_code: "8517130000".into(),
                quantity: None,
                unit: None,
                unit_price: None,
                declared_total: Money {
                    amount: cny(amount),
                    currency: "CNY".into(),
                },
                origin_country: None,
                destination_country: None,
                district_code: None,
            })
            .collect(),
    }
}

/// Item values in CNY and the flag.
fn valued(declaration: &Declaration) -> (Vec<String>, Option<ValueFlag>) {
    let valuation = value(declaration, &CodeTables::embedded()).unwrap_or_else(|r| panic!("{r}"));
    let items: Vec<String> = valuation.items.iter().map(|i| i.cny.to_string()).collect();
    let sum: Decimal = valuation.items.iter().map(|i| i.cny).sum();
    assert_eq!(
        valuation.total_cny, sum,
        "the total is the sum of the items"
    );
    (items, valuation.flag)
}

#[test]
fn an_fob_import_adds_freight_and_insurance_on_goods_plus_freight() {
    let mut dec = declaration(Direction::Import, Some("3"), &["1000.00", "3000.00"]);
    dec.freight = cost(CostMark::Total, "100", Some("CNY"));
    // 0.3 % of (4,000 + 100) = 12.30, i.e. 1,230 fen: quotas 307.5 and 922.5;
    // the tie gives the left-over fen to the first item.
    dec.insurance = cost(CostMark::Rate, "0.3", None);
    // Other costs stay out of the statistical value.
    dec.other_costs = cost(CostMark::Total, "999", Some("CNY"));
    assert_eq!(
        valued(&dec),
        (vec!["1028.08".into(), "3084.22".into()], None)
    );
}

#[test]
fn a_cif_export_deducts_freight_and_insurance() {
    let mut dec = declaration(Direction::Export, Some("1"), &["500.00", "500.00"]);
    dec.freight = cost(CostMark::Rate, "5", None); // 5 % of 1,000 = 50
    dec.insurance = cost(CostMark::Total, "10", Some("CNY"));
    assert_eq!(valued(&dec), (vec!["470.00".into(), "470.00".into()], None));
}

#[test]
fn each_term_moves_only_what_it_includes_or_excludes() {
    let run = |direction, terms| {
        let mut dec = declaration(direction, Some(terms), &["1000.00"]);
        dec.freight = cost(CostMark::Total, "40", Some("CNY"));
        dec.insurance = cost(CostMark::Total, "2", Some("CNY"));
        valued(&dec)
    };
    use Direction::{Export, Import};
    let one = |value: &str, flag| (vec![value.to_owned()], flag);
    assert_eq!(run(Import, "1"), one("1000.00", None));
    assert_eq!(run(Import, "2"), one("1002.00", None));
    assert_eq!(run(Import, "3"), one("1042.00", None));
    assert_eq!(run(Import, "4"), one("1040.00", None));
    assert_eq!(
        run(Import, "7"),
        one("1042.00", Some(ValueFlag::ExwInlandCostsUnknown))
    );
    assert_eq!(run(Export, "1"), one("958.00", None));
    assert_eq!(run(Export, "2"), one("960.00", None));
    assert_eq!(run(Export, "3"), one("1000.00", None));
    assert_eq!(run(Export, "4"), one("998.00", None));
    assert_eq!(run(Export, "7"), one("1000.00", Some(ValueFlag::ExwExport)));
    assert_eq!(
        run(Import, "5"),
        one("1000.00", Some(ValueFlag::NoPriceBasis))
    );
    assert_eq!(
        run(Export, "6"),
        one("1000.00", Some(ValueFlag::NoPriceBasis))
    );
    assert_eq!(
        run(Import, "9"),
        one("1000.00", Some(ValueFlag::UnknownTransactionTerms))
    );
}

#[test]
fn per_tonne_freight_uses_the_gross_weight_and_the_cost_currency() {
    // 502/24/2: USD 24 per tonne; 2,500 kg gross: USD 60.
    let mut dec = declaration(Direction::Import, Some("4"), &["1000.00"]);
    dec.freight = cost(CostMark::PerTonne, "24", Some("USD"));
    assert_eq!(valued(&dec).1, Some(ValueFlag::PerTonneWithoutGrossWeight));
    assert_eq!(valued(&dec).0, ["1000.00"]);
    dec.gross_weight_kg = Some(cny("2500"));
    let usd = CodeTables::embedded()
        .cny_rate("USD", "2026-11")
        .unwrap_or_default();
    let freight = (Decimal::from(60) * usd).round_dp(2);
    assert_eq!(
        valued(&dec),
        (vec![(cny("1000.00") + freight).to_string()], None)
    );
}

#[test]
fn what_cannot_be_converted_keeps_the_goods_value_with_a_reason() {
    let fob_import = declaration(Direction::Import, Some("3"), &["1000.00"]);
    assert_eq!(valued(&fob_import).1, Some(ValueFlag::MissingFreight));
    let cfr_import = declaration(Direction::Import, Some("2"), &["1000.00"]);
    assert_eq!(valued(&cfr_import).1, Some(ValueFlag::MissingInsurance));
    // Freight and insurance combined in the freight field.
    let mut combined = declaration(Direction::Import, Some("3"), &["1000.00"]);
    combined.freight = cost(CostMark::Total, "60", Some("CNY"));
    assert_eq!(valued(&combined), (vec!["1060.00".into()], None));
    let mut per_tonne_insurance = declaration(Direction::Import, Some("2"), &["1000.00"]);
    per_tonne_insurance.insurance = cost(CostMark::PerTonne, "1", Some("CNY"));
    per_tonne_insurance.gross_weight_kg = Some(cny("1000"));
    assert_eq!(
        valued(&per_tonne_insurance).1,
        Some(ValueFlag::PerTonneInsurance)
    );
    let mut too_costly = declaration(Direction::Export, Some("2"), &["100.00"]);
    too_costly.freight = cost(CostMark::Total, "200", Some("CNY"));
    assert_eq!(
        valued(&too_costly),
        (vec!["100.00".into()], Some(ValueFlag::CostsExceedValue))
    );
    let untermed = declaration(Direction::Export, None, &["100.00"]);
    assert_eq!(valued(&untermed).1, Some(ValueFlag::NoTransactionTerms));
}

#[test]
fn inventories_keep_their_value_without_a_flag() {
    let mut inventory = declaration(Direction::Import, None, &["88.00"]);
    inventory.message_type = MessageType::Ceb621;
    assert_eq!(valued(&inventory), (vec!["88.00".into()], None));
}

#[test]
fn a_cost_in_a_month_without_its_rate_is_a_rejection() {
    let mut dec = declaration(Direction::Import, Some("4"), &["1000.00"]);
    dec.freight = cost(CostMark::Total, "10", Some("XTS"));
    assert!(value(&dec, &CodeTables::embedded()).is_err());
}

#[test]
fn largest_remainders_add_up_exactly() {
    assert_eq!(allocate(100, &[1, 1, 1]), [34, 33, 33]);
    assert_eq!(allocate(1, &[1, 2]), [0, 1]);
    assert_eq!(allocate(0, &[5, 7]), [0, 0]);
    assert_eq!(allocate(5, &[0, 0]), [3, 2]);
    assert_eq!(allocate(7, &[]), Vec::<i64>::new());
    // 1,000 fen over 3 : 3 : 1 = 428.57.., 428.57.., 142.85..
    assert_eq!(allocate(1000, &[3, 3, 1]), [429, 428, 143]);
}

proptest::proptest! {
    #[test]
    fn shares_always_sum_to_the_total_and_stay_within_a_fen_of_their_quota(
        total in 0i64..10_000_000_000,
        weights in proptest::collection::vec(0i64..1_000_000_000, 1..12),
    ) {
        let shares = allocate(total, &weights);
        proptest::prop_assert_eq!(shares.iter().sum::<i64>(), total);
        let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
        for (share, weight) in shares.iter().zip(&weights) {
            if sum == 0 { continue; }
            let quota = i128::from(total) * i128::from(*weight);
            let share = i128::from(*share) * sum;
            proptest::prop_assert!(share >= quota - sum && share <= quota + sum);
        }
    }
}
