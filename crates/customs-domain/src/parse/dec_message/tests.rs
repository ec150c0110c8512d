use rust_decimal::Decimal;

use crate::codes::CodeTables;
use crate::model::Direction;
use crate::parse::{ParseLimits, parse_message};
use crate::reject::RejectReason;
use crate::render::render_dec_message;

const EXPORT: &str = include_str!("../../../fixtures/dec_export_general_trade.xml");
const WRAPPED: &str = include_str!("../../../fixtures/dec_wrapped_import_ecommerce.xml");
const WITH_BOM: &[u8] = include_bytes!("../../../fixtures/dec_export_with_bom.xml");

fn parse(bytes: &[u8]) -> Result<crate::Declaration, crate::Rejection> {
    let mut events = parse_message(bytes, &CodeTables::embedded(), ParseLimits::default())?;
    assert_eq!(events.len(), 1, "a DecMessage is one declaration");
    match events.pop() {
        Some(crate::Event::Declaration(declaration)) => Ok(declaration),
        other => panic!("expected a declaration, got {other:?}"),
    }
}

fn reason(xml: &str) -> Option<RejectReason> {
    parse(xml.as_bytes())
        .err()
        .map(|rejection| rejection.reason)
}

#[test]
fn reads_a_full_export_declaration() {
    let dec = parse(EXPORT.as_bytes()).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(dec.id, "292120181000012345");
    assert_eq!(dec.direction, Direction::Export);
    assert_eq!(dec.supervision_mode, "0110", "leading zero restored");
    assert_eq!(dec.customs_office, "2921");
    assert_eq!(dec.trade_country, "USA", "numeric 502 normalised");
    assert_eq!(dec.ie_port.as_deref(), Some("2921"));
    assert_eq!(dec.transport_mode.as_deref(), Some("2"));
    assert_eq!(dec.transaction_terms.as_deref(), Some("3"));
    assert_eq!(dec.gross_weight_kg, Some(Decimal::new(12505, 1)));
    assert_eq!(dec.items[0].quantity, Some(Decimal::new(1200, 0)));
    assert_eq!(dec.items[0].unit_price, Some(Decimal::new(125, 1)));
    assert_eq!(dec.items[0].destination_country.as_deref(), Some("USA"));
    assert_eq!(dec.items[0].district_code.as_deref(), Some("33189"));
    assert_eq!(dec.declared_at.as_deref(), Some("2018-01-18T16:47:07"));
    assert_eq!(dec.items.len(), 2);
    assert_eq!(dec.items[0].commodity_code, "6403990090");
    assert_eq!(dec.items[0].declared_total.amount, Decimal::new(15000, 0));
    assert_eq!(dec.items[0].declared_total.currency, "USD");
    assert_eq!(dec.items[1].declared_total.amount, Decimal::new(321075, 2));
    assert_eq!(dec.items[1].origin_country.as_deref(), Some("CHN"));
}

#[test]
fn reads_a_wrapped_prefixed_crlf_declaration_with_seq_no_identity() {
    let dec = parse(WRAPPED.as_bytes()).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(dec.id, "I20180000000009876", "SeqNo when EntryId is empty");
    assert_eq!(dec.direction, Direction::Import);
    assert_eq!(dec.supervision_mode, "9610");
    assert_eq!(dec.trade_country, "JPN");
    assert_eq!(dec.declared_at.as_deref(), Some("2018-03-02T00:00:00"));
    assert_eq!(dec.items[0].declared_total.amount, Decimal::new(8804, 1));
    assert_eq!(dec.items[0].declared_total.currency, "JPY");
}

#[test]
fn reads_freight_insurance_and_other_costs() {
    let costs = "<GrossWet>1250.5</GrossWet><FeeMark>2</FeeMark><FeeRate>24</FeeRate>\
        <FeeCurr>502</FeeCurr><InsurMark>1</InsurMark><InsurRate>0.3</InsurRate>\
        <OtherMark>3</OtherMark><OtherRate>150</OtherRate><OtherCurr>142</OtherCurr>";
    let xml = EXPORT.replacen("<GrossWet>1250.5</GrossWet>", costs, 1);
    let dec = parse(xml.as_bytes()).unwrap_or_else(|r| panic!("{r}"));
    let freight = dec.freight.unwrap_or_else(|| panic!("freight"));
    assert_eq!(freight.mark, crate::model::CostMark::PerTonne);
    assert_eq!(freight.rate, Decimal::from(24));
    assert_eq!(
        freight.currency.as_deref(),
        Some("USD"),
        "numeric 502 normalised"
    );
    let insurance = dec.insurance.unwrap_or_else(|| panic!("insurance"));
    assert_eq!(
        (insurance.mark, insurance.rate),
        (crate::model::CostMark::Rate, Decimal::new(3, 1))
    );
    assert_eq!(insurance.currency, None);
    let other = dec.other_costs.unwrap_or_else(|| panic!("other costs"));
    assert_eq!(other.currency.as_deref(), Some("CNY"));
    // No cost fields, or an empty or zero mark with no rate: no cost.
    let plain = parse(EXPORT.as_bytes()).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(plain.freight, None);
    let zero = EXPORT.replacen(
        "<GrossWet>",
        "<FeeMark>0</FeeMark><InsurMark></InsurMark><GrossWet>",
        1,
    );
    let zero = parse(zero.as_bytes()).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!((zero.freight, zero.insurance), (None, None));
}

#[test]
fn malformed_costs_are_invalid_cost() {
    let with = |fields: &str| EXPORT.replacen("<GrossWet>", &format!("{fields}<GrossWet>"), 1);
    for fields in [
        "<FeeMark>4</FeeMark><FeeRate>1</FeeRate>",
        "<InsurRate>0.3</InsurRate>",
        "<FeeMark>3</FeeMark><FeeRate>100</FeeRate>",
    ] {
        assert_eq!(
            reason(&with(fields)),
            Some(RejectReason::InvalidCost),
            "{fields}"
        );
    }
    assert_eq!(
        reason(&with("<FeeMark>1</FeeMark><FeeRate>five</FeeRate>")),
        Some(RejectReason::InvalidAmount)
    );
    assert_eq!(
        reason(&with(
            "<FeeMark>3</FeeMark><FeeRate>9</FeeRate><FeeCurr>ZZZ</FeeCurr>"
        )),
        Some(RejectReason::UnknownCurrency)
    );
}

#[test]
fn a_bom_does_not_matter() {
    let with_bom = parse(WITH_BOM).unwrap_or_else(|r| panic!("{r}"));
    let without = parse(EXPORT.as_bytes()).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(with_bom, without);
}

#[test]
fn render_then_parse_gives_the_same_declaration() {
    for fixture in [EXPORT, WRAPPED] {
        let dec = parse(fixture.as_bytes()).unwrap_or_else(|r| panic!("{r}"));
        let again = parse(render_dec_message(&dec).as_bytes()).unwrap_or_else(|r| panic!("{r}"));
        assert_eq!(again, dec);
    }
}

#[test]
fn each_defect_has_its_own_reason() {
    let swap = |from: &str, to: &str| EXPORT.replacen(from, to, 1);
    let cases = [
        ("<DecMessage><DecHead>", RejectReason::MalformedXml),
        ("<Other/>", RejectReason::UnknownRoot),
        (
            "<ImportMessage><SWImpHead/></ImportMessage>",
            RejectReason::UnknownRoot,
        ),
        (
            &swap("<IEFlag>E</IEFlag>", "<IEFlag>X</IEFlag>"),
            RejectReason::InvalidDirection,
        ),
        (
            &swap("<EntryId>292120181000012345</EntryId>", "")
                .replace("<SeqNo>201800000001234567</SeqNo>", ""),
            RejectReason::MissingField,
        ),
        (
            &swap("<TradeMode>110</TradeMode>", "<TradeMode>11</TradeMode>"),
            RejectReason::InvalidSupervisionMode,
        ),
        (
            &swap(
                "<TradeCountry>502</TradeCountry>",
                "<TradeCountry>999</TradeCountry>",
            ),
            RejectReason::UnknownCountry,
        ),
        (
            &swap("<TradeCurr>502</TradeCurr>", "<TradeCurr>XYZ</TradeCurr>"),
            RejectReason::UnknownCurrency,
        ),
        (
            &swap("<CodeTS>6403990090</CodeTS>", "<CodeTS>6403</CodeTS>"),
            RejectReason::InvalidCommodityCode,
        ),
        (
            &swap(
                "<DeclTotal>15000.00</DeclTotal>",
                "<DeclTotal>lots</DeclTotal>",
            ),
            RejectReason::InvalidAmount,
        ),
        (
            &swap(
                "<DeclTotal>15000.00</DeclTotal>",
                "<DeclTotal>-5</DeclTotal>",
            ),
            RejectReason::NegativeValue,
        ),
        (
            &swap("<DDate>20180118164707</DDate>", "<DDate>20181318</DDate>"),
            RejectReason::MalformedDate,
        ),
        (
            &swap("<GNo>2</GNo>", "<GNo>1</GNo>"),
            RejectReason::DuplicateItemNumber,
        ),
        (
            &swap("<GNo>2</GNo>", "<GNo>zero</GNo>"),
            RejectReason::InvalidItemNumber,
        ),
        (
            &swap("<GNo>2</GNo>", "<GNo>0</GNo>"),
            RejectReason::InvalidItemNumber,
        ),
        (
            "<DecMessage><DecHead><EntryId>292120181000012345</EntryId><IEFlag>E</IEFlag><TradeMode>0110</TradeMode><CustomMaster>2921</CustomMaster><TradeCountry>USA</TradeCountry></DecHead></DecMessage>",
            RejectReason::NoItems,
        ),
        (
            "<DecMessage>&bogus;</DecMessage>",
            RejectReason::MalformedXml,
        ),
    ];
    for (xml, expected) in cases {
        assert_eq!(reason(xml), Some(expected), "{xml}");
    }
    let detail = parse_message(b"<Other/>", &CodeTables::embedded(), ParseLimits::default())
        .err()
        .map(|r| r.detail)
        .unwrap_or_default();
    assert_eq!(detail, "root element <Other> is not a supported message");
    assert_eq!(
        parse(b"<DecMessage>\xff\xfe</DecMessage>")
            .err()
            .map(|r| r.reason),
        Some(RejectReason::InvalidEncoding)
    );
}

#[test]
fn oversized_payloads_are_not_parsed() {
    let limits = ParseLimits {
        max_payload_bytes: 100,
    };
    let err = parse_message(EXPORT.as_bytes(), &CodeTables::embedded(), limits).err();
    assert_eq!(err.map(|r| r.reason), Some(RejectReason::PayloadTooLarge));
}

#[test]
fn corrupted_bytes_get_a_reason_not_a_panic() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for len in 0..400 {
        let mut bytes = EXPORT.as_bytes()[..len.min(EXPORT.len())].to_vec();
        for byte in bytes.iter_mut().step_by(7) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = (state & 0xff) as u8;
        }
        if let Err(rejection) = parse(&bytes) {
            assert!(
                !rejection.detail.is_empty(),
                "{:?} without detail",
                rejection.reason
            );
        }
    }
}
