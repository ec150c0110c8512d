use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use proptest::prelude::*;

use super::*;
use crate::dec_status::CodeSet;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn parsed(name: &str) -> DecReceipt {
    parse_dec_result(&fixture(name)).unwrap_or_else(|r| panic!("{name}: {r}"))
}

fn rejected(payload: &[u8]) -> (RejectReason, String) {
    match parse_dec_result(payload) {
        Ok(receipt) => panic!("accepted {receipt:?}"),
        Err(rejection) => (rejection.reason, rejection.detail),
    }
}

fn bare(body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><DEC_RESULT>{body}</DEC_RESULT>")
}

const GOOD: &str = "<CUS_CIQ_NO>I20260000481516234</CUS_CIQ_NO><ENTRY_ID></ENTRY_ID>\
                    <NOTICE_DATE>2026-11-19T14:40:43</NOTICE_DATE><CHANNEL>7</CHANNEL>\
                    <NOTE>申报成功</NOTE>";

#[test]
fn bare_current_release_receipt() {
    assert_eq!(
        parsed("dec_result_released.xml"),
        DecReceipt {
            seq_no: "I20260000481516234".into(),
            entry_id: Some("530120261000012345".into()),
            channel: "P".into(),
            code_set: CodeSet::SingleWindow,
            notified_at: "2026-11-19T14:40:43".into(),
            customs_office: Some("5301".into()),
            layout: ReceiptLayout::Current,
            enveloped: false,
        }
    );
}

#[test]
fn enveloped_receipt_with_wrapped_base64_and_an_inner_bom() {
    assert_eq!(
        parsed("dec_result_enveloped.xml"),
        DecReceipt {
            seq_no: "E20260000481599871".into(),
            entry_id: Some("223120261000067890".into()),
            channel: "R".into(),
            code_set: CodeSet::SingleWindow,
            notified_at: "2026-11-21T09:15:02".into(),
            customs_office: Some("2231".into()),
            layout: ReceiptLayout::Current,
            enveloped: true,
        }
    );
}

#[test]
fn qp_receipt_in_gb2312_keeps_codes_only() {
    let bytes = fixture("dec_data_qp_gb2312.xml");
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the fixture really is GB2312"
    );
    let receipt = parsed("dec_data_qp_gb2312.xml");
    assert_eq!(
        receipt,
        DecReceipt {
            seq_no: "201800000000123456".into(),
            entry_id: Some("530120181000004321".into()),
            channel: "025".into(),
            code_set: CodeSet::Tcs,
            notified_at: "2018-02-08T15:03:22.000".into(),
            customs_office: Some("5301".into()),
            layout: ReceiptLayout::Qp,
            enveloped: false,
        }
    );
    let json = serde_json::to_string(&receipt).unwrap_or_default();
    for personal in ["4403960ABC", "放行", "贸易", "COSU6123456789"] {
        assert!(!json.contains(personal), "{personal} leaked: {json}");
    }
}

#[test]
fn every_bad_fixture_is_rejected_for_its_reason_naming_the_field() {
    let cases = [
        (
            "dec_result_bad_missing_seq.xml",
            RejectReason::MissingField,
            "DEC_RESULT/CUS_CIQ_NO is missing or empty",
        ),
        (
            "dec_result_bad_notice_date.xml",
            RejectReason::MalformedDate,
            "DEC_RESULT/NOTICE_DATE \"2026-11-31T14:40:43\" is not a recognised date",
        ),
        (
            "dec_result_bad_channel.xml",
            RejectReason::UnknownChannel,
            "DEC_RESULT/CHANNEL \"Q\" is not in the channel table",
        ),
        (
            "dec_result_bad_base64.xml",
            RejectReason::MalformedEnvelope,
            "DxpMsg/Data is not Base64",
        ),
        (
            "dec_result_bad_envelope_payload.xml",
            RejectReason::MalformedEnvelope,
            "DxpMsg/Data does not decode to a DEC_RESULT: root element <DecMessage>",
        ),
    ];
    for (name, reason, detail) in cases {
        let (got, got_detail) = rejected(&fixture(name));
        assert_eq!(got, reason, "{name}: {got_detail}");
        assert!(got_detail.starts_with(detail), "{name}: {got_detail}");
    }
}

#[test]
fn qp_without_seq_no_names_its_path() {
    let qp = "<DEC_DATA><DEC_RESULT><NOTICE_DATE>20180208T15032200</NOTICE_DATE>\
              <CHANNEL>025</CHANNEL></DEC_RESULT></DEC_DATA>";
    assert_eq!(
        rejected(qp.as_bytes()),
        (
            RejectReason::MissingField,
            "DEC_DATA/DEC_RESULT/SEQ_NO is missing or empty".into()
        )
    );
    let empty = rejected(b"<DEC_DATA><RESULT_INFO>x</RESULT_INFO></DEC_DATA>");
    assert_eq!(empty.0, RejectReason::MissingField);
    let two = "<DEC_DATA><DEC_RESULT/><DEC_RESULT/></DEC_DATA>";
    assert_eq!(rejected(two.as_bytes()).0, RejectReason::MalformedEnvelope);
}

#[test]
fn missing_channel_or_notice_date_is_a_missing_field() {
    let no_channel =
        bare("<CUS_CIQ_NO>I1</CUS_CIQ_NO><NOTICE_DATE>2026-11-19T14:40:43</NOTICE_DATE>");
    assert_eq!(
        rejected(no_channel.as_bytes()),
        (
            RejectReason::MissingField,
            "DEC_RESULT/CHANNEL is missing or empty".into()
        )
    );
    let no_date = bare("<CUS_CIQ_NO>I1</CUS_CIQ_NO><CHANNEL>P</CHANNEL>");
    assert_eq!(
        rejected(no_date.as_bytes()).1,
        "DEC_RESULT/NOTICE_DATE is missing or empty"
    );
    let lower = bare(
        "<CUS_CIQ_NO>I1</CUS_CIQ_NO><NOTICE_DATE>2026-11-19T14:40:43</NOTICE_DATE><CHANNEL>p</CHANNEL>",
    );
    assert_eq!(rejected(lower.as_bytes()).0, RejectReason::UnknownChannel);
}

#[test]
fn utf8_with_and_without_bom_and_gbk_parse_alike() {
    let plain = bare(GOOD);
    let expected = parse_dec_result(plain.as_bytes());
    assert_eq!(expected.as_ref().map(|r| r.channel.as_str()), Ok("7"));
    assert_eq!(expected.as_ref().map(|r| r.entry_id.clone()), Ok(None));
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), plain.as_bytes()].concat();
    assert_eq!(parse_dec_result(&with_bom), expected);
    let gbk = plain.replace("UTF-8", "GBK");
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&gbk);
    assert!(!unmappable);
    assert_eq!(parse_dec_result(&bytes), expected);
}

#[test]
fn envelopes_of_any_root_with_unpadded_or_wrapped_base64() {
    let inner = bare(GOOD);
    let expected = parse_dec_result(inner.as_bytes()).map(|r| DecReceipt {
        enveloped: true,
        ..r
    });
    let unpadded = STANDARD_NO_PAD.encode(inner.as_bytes());
    let padded = STANDARD.encode(inner.as_bytes());
    let wrapped: String = padded
        .as_bytes()
        .chunks(60)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n\t");
    for data in [unpadded, wrapped] {
        let envelope = format!("<Msg><Head><Id>1</Id></Head><Data>{data}</Data></Msg>");
        assert_eq!(parse_dec_result(envelope.as_bytes()), expected);
    }
    let qp = STANDARD.encode(
        "<DEC_DATA><DEC_RESULT><SEQ_NO>S1</SEQ_NO><NOTICE_DATE>20180208T15032200</NOTICE_DATE>\
         <CHANNEL>022</CHANNEL></DEC_RESULT></DEC_DATA>",
    );
    let receipt = parse_dec_result(format!("<Env><Data>{qp}</Data></Env>").as_bytes());
    assert_eq!(
        receipt.map(|r| (r.layout, r.enveloped, r.code_set)),
        Ok((ReceiptLayout::Qp, true, CodeSet::Tcs))
    );
}

#[test]
fn broken_envelopes_are_malformed_envelopes() {
    let nested = STANDARD.encode(format!(
        "<Env><Data>{}</Data></Env>",
        STANDARD.encode(bare(GOOD))
    ));
    let not_xml = STANDARD.encode("just text");
    let bad_gbk =
        STANDARD.encode(b"<?xml version='1.0' encoding='GBK'?><DEC_RESULT>\xFF</DEC_RESULT>");
    for data in [nested, not_xml, bad_gbk, "%%%".into()] {
        let envelope = format!("<Env><Data>{data}</Data></Env>");
        let (reason, detail) = rejected(envelope.as_bytes());
        assert_eq!(reason, RejectReason::MalformedEnvelope, "{data}: {detail}");
        assert!(detail.starts_with("Env/Data "), "{detail}");
    }
    for envelope in ["<Env><Data/></Env>", "<Env><Data> \n </Data></Env>"] {
        assert_eq!(
            rejected(envelope.as_bytes()),
            (RejectReason::MalformedEnvelope, "Env/Data is empty".into())
        );
    }
    assert_eq!(
        rejected(b"<Env><Data><X>1</X></Data></Env>"),
        (
            RejectReason::MalformedEnvelope,
            "Env/Data holds elements, not Base64 text".into()
        )
    );
    // Field errors inside a well-formed envelope keep their own reason.
    let no_seq = STANDARD.encode(bare("<CHANNEL>P</CHANNEL>"));
    let (reason, _) = rejected(format!("<Env><Data>{no_seq}</Data></Env>").as_bytes());
    assert_eq!(reason, RejectReason::MissingField);
}

#[test]
fn other_documents_are_not_receipts() {
    assert_eq!(rejected(b"<Env><Head/></Env>").0, RejectReason::UnknownRoot);
    assert_eq!(
        rejected(b"<Env><A><Data>x</Data></A></Env>").0,
        RejectReason::UnknownRoot
    );
    assert_eq!(rejected(b"").0, RejectReason::MalformedXml);
    assert_eq!(rejected(b"<DEC_RESULT>").0, RejectReason::MalformedXml);
    assert_eq!(rejected(b"\xFF\xFE<a/>").0, RejectReason::InvalidEncoding);
    let huge = vec![b' '; ParseLimits::default().max_payload_bytes + 1];
    assert_eq!(rejected(&huge).0, RejectReason::PayloadTooLarge);
}

proptest! {
    #[test]
    fn never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_dec_result(&bytes);
    }

    #[test]
    fn never_panics_on_mangled_receipts(cut in 0usize..400, byte in any::<u8>()) {
        let mut bytes = fixture("dec_result_enveloped.xml");
        if let Some(slot) = bytes.get_mut(cut) {
            *slot = byte;
        }
        let _ = parse_dec_result(&bytes);
        let mut qp = fixture("dec_data_qp_gb2312.xml");
        qp.truncate(cut);
        let _ = parse_dec_result(&qp);
    }
}
