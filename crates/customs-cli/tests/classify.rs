//! `customs classify` on every fixture: the right category, value and reason,
//! and the documented exit codes.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../customs-domain/fixtures");

fn classify(args: &[&str], stdin: Option<&[u8]>) -> (i32, Vec<Value>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_customs"))
        .arg("classify")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run customs: {err}"));
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.unwrap_or_default())
            .unwrap_or_else(|err| panic!("{err}"));
    }
    let output = child
        .wait_with_output()
        .unwrap_or_else(|err| panic!("{err}"));
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect();
    (output.status.code().unwrap_or(-1), lines)
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

#[test]
fn every_fixture_gets_its_category_and_value() {
    let (code, lines) = classify(
        &[
            &fixture("ceb621_import_inventory.xml"),
            &fixture("ceb603_export_inventory.xml"),
            &fixture("ceb622_receipts.xml"),
            &fixture("ceb792_summary_result.xml"),
        ],
        None,
    );
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.len(), 2 + 1 + 2 + 1);
    let first = &lines[0];
    assert_eq!(first["id"], "7F3E2A10-5B6C-4D8E-9F01-23456789ABCD");
    assert_eq!(first["message_type"], "CEB621Message");
    assert_eq!(first["direction"], "import");
    assert_eq!(first["supervision_mode"], "1210");
    assert_eq!(first["category"], "cross_border_ecommerce");
    assert_eq!(first["subcategory"], "retail_bonded");
    assert_eq!(first["statistics_group"], "10");
    assert_eq!(
        first["value_cny"], "1134.00",
        "537 + 597 CNY, already in CNY"
    );
    assert!(first["rejected"].is_null());
    assert!(
        first["explanation"]
            .as_str()
            .unwrap_or_default()
            .contains("supervision_mode=1210")
    );
    assert_eq!(lines[1]["subcategory"], "retail_direct");
    assert_eq!(lines[2]["message_type"], "CEB603Message");
    assert_eq!(lines[2]["direction"], "export");
    assert_eq!(lines[3]["kind"], "receipt");
    assert_eq!(lines[5]["kind"], "summary_result");
    assert_eq!(lines[5]["id"], "534920261000009999");
}

#[test]
fn json_lines_from_stdin_and_rejects_exit_one() {
    let json = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/json-format.example.jsonl"
    ))
    .unwrap_or_else(|err| panic!("{err}"));
    let (code, lines) = classify(&[], Some(&json));
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines[0]["supervision_mode"], "0110", "110 normalised");
    assert_eq!(lines[0]["category"], "general_trade");
    assert_eq!(lines[0]["source"], "-:1");

    let original =
        std::fs::read_to_string(fixture("ceb621_import_inventory.xml")).unwrap_or_default();
    let cases = [
        (
            original.replacen("<ceb:appType>1<", "<ceb:appType>9<", 1),
            "invalid_app_type",
        ),
        (
            original.replacen("<ceb:tradeMode>1210<", "<ceb:tradeMode>7777<", 1),
            "unknown_supervision_mode",
        ),
        (
            original.replacen(
                "<ceb:appTime>20261118093015<",
                "<ceb:appTime>20180118093015<",
                1,
            ),
            "missing_exchange_rate",
        ),
        (
            std::fs::read_to_string(fixture("ceb622_receipts.xml"))
                .unwrap_or_default()
                .replacen("<returnStatus>2<", "<returnStatus>two<", 1),
            "invalid_status",
        ),
    ];
    for (message, reason) in cases {
        let (code, lines) = classify(&["-"], Some(message.as_bytes()));
        assert_eq!(code, 1, "{reason}");
        assert!(
            lines.iter().any(|line| line["rejected"] == reason),
            "{reason}: {lines:?}"
        );
    }
}

#[test]
fn unreadable_input_is_a_usage_error() {
    let (code, lines) = classify(&["/nonexistent/message.xml"], None);
    assert_eq!(code, 2);
    assert!(lines.is_empty());
}
