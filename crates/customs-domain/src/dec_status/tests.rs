use proptest::prelude::*;

use super::*;

const HEADER: &str = "code_set,code,meaning_zh,meaning_en,effect,rank,source\n";

fn table() -> &'static ChannelTable {
    ChannelTable::embedded().unwrap_or_else(|err| panic!("{err}"))
}

fn receipt(channel: &str, at: &str) -> DecReceipt {
    DecReceipt {
        seq_no: "I20260000000001234".into(),
        entry_id: None,
        channel: channel.into(),
        code_set: if channel.len() == 3 {
            CodeSet::Tcs
        } else {
            CodeSet::SingleWindow
        },
        notified_at: at.into(),
        customs_office: None,
        layout: ReceiptLayout::Current,
        enveloped: false,
    }
}

fn winner(receipts: &[DecReceipt]) -> Option<(String, ChannelEffect, String)> {
    winning_status(table(), receipts).map(|s| (s.channel, s.effect, s.notified_at))
}

fn expect(
    channel: &str,
    effect: ChannelEffect,
    at: &str,
) -> Option<(String, ChannelEffect, String)> {
    Some((channel.into(), effect, at.into()))
}

#[test]
fn embedded_table_loads_with_both_code_sets() {
    let table = table();
    assert_eq!(table.rows().len(), 30);
    let released = table.get("P").map(|row| (row.code_set, row.effect));
    assert_eq!(
        released,
        Some((CodeSet::SingleWindow, ChannelEffect::Released))
    );
    let cleared = table.get("022").map(|row| (row.code_set, row.effect));
    assert_eq!(cleared, Some((CodeSet::Tcs, ChannelEffect::Cleared)));
    assert_eq!(
        table.get("D").map(|row| row.effect),
        Some(ChannelEffect::DeletedAfterRelease)
    );
    assert_eq!(
        table.get("A").map(|row| row.effect),
        Some(ChannelEffect::NeverCounts)
    );
    assert!(table.get("Q").is_none());
    assert!(table.get("p").is_none(), "codes are matched exactly");
    for code in [
        "7", "L", "J", "K", "B", "C", "T", "G", "W", "I", "F", "M", "H", "X",
    ] {
        assert_eq!(
            table.get(code).map(|r| r.effect),
            Some(ChannelEffect::None),
            "{code}"
        );
    }
    for code in ["E", "Z", "Y", "S", "U", "9", "013", "015", "026"] {
        assert_eq!(
            table.get(code).map(|r| r.effect),
            Some(ChannelEffect::NeverCounts),
            "{code}"
        );
    }
}

#[test]
fn only_the_bold_codes_claim_a_source() {
    for row in table().rows() {
        let claimed = !row.source.starts_with("unverified");
        let bold = ["P", "R", "D", "A"].contains(&row.code.as_str());
        assert_eq!(claimed, bold, "{}: {}", row.code, row.source);
    }
}

#[test]
fn malformed_rows_are_errors_naming_the_line() {
    let cases = [
        (
            "single_window,P,放行,released,released,thirty,x\n",
            2,
            "rank",
        ),
        ("single_window,P,放行,released,counted,30,x\n", 2, "counted"),
        (
            "single_window,PP,放行,released,released,30,x\n",
            2,
            "not a single_window",
        ),
        ("tcs,25,放行,released,released,30,x\n", 2, "not a tcs"),
        (
            "single_window,P,放行,released,released,30,x\nsingle_window,P,放行,released,released,30,x\n",
            3,
            "twice",
        ),
        (
            "single_window,P,放行,released,released,30,x\nsingle_window,E,退单,rejected,never_counts,30,x\n",
            2,
            "not above E",
        ),
    ];
    for (rows, line, needle) in cases {
        let err = ChannelTable::from_csv(&format!("{HEADER}{rows}")).err();
        let err = err.unwrap_or_else(|| panic!("accepted {rows}"));
        assert_eq!(err.line, line, "{err}");
        assert!(err.to_string().contains(needle), "{err}");
        assert!(err.to_string().contains(&format!("line {line}")), "{err}");
    }
}

#[test]
fn cleared_before_released_still_clears() {
    let receipts = [
        receipt("R", "2026-11-20T10:00:00"),
        receipt("P", "2026-11-19T09:00:00"),
    ];
    assert_eq!(
        winner(&receipts),
        expect("R", ChannelEffect::Cleared, "2026-11-20T10:00:00")
    );
    let status = winning_status(table(), &receipts);
    assert_eq!(
        status.and_then(|s| s.released_at),
        Some("2026-11-19T09:00:00".into()),
        "an import still counts on its release date"
    );
}

#[test]
fn released_and_cleared_at_the_same_time() {
    let at = "2026-11-19T09:00:00";
    for receipts in [
        [receipt("P", at), receipt("R", at)],
        [receipt("R", at), receipt("P", at)],
    ] {
        let status = winning_status(table(), &receipts);
        assert_eq!(
            status.as_ref().map(|s| s.effect),
            Some(ChannelEffect::Cleared)
        );
        assert_eq!(
            status.as_ref().and_then(|s| s.released_at.as_deref()),
            Some(at)
        );
        assert_eq!(
            status.as_ref().and_then(|s| s.cleared_at.as_deref()),
            Some(at)
        );
    }
}

#[test]
fn a_duplicate_receipt_changes_nothing() {
    let once = [
        receipt("L", "2026-11-18T08:00:00"),
        receipt("P", "2026-11-19T09:00:00"),
    ];
    let twice = [once[0].clone(), once[1].clone(), once[1].clone()];
    assert_eq!(
        winning_status(table(), &once),
        winning_status(table(), &twice)
    );
}

#[test]
fn deleted_after_release_outranks_release() {
    for receipts in [
        [
            receipt("P", "2026-11-19T09:00:00"),
            receipt("D", "2026-11-25T12:00:00"),
        ],
        [
            receipt("D", "2026-11-25T12:00:00"),
            receipt("P", "2026-11-19T09:00:00"),
        ],
    ] {
        assert_eq!(
            winner(&receipts),
            expect(
                "D",
                ChannelEffect::DeletedAfterRelease,
                "2026-11-25T12:00:00"
            )
        );
    }
}

#[test]
fn a_release_after_a_pre_release_deletion_counts() {
    let receipts = [
        receipt("A", "2026-11-18T08:00:00"),
        receipt("P", "2026-11-19T09:00:00"),
    ];
    assert_eq!(
        winner(&receipts),
        expect("P", ChannelEffect::Released, "2026-11-19T09:00:00")
    );
}

#[test]
fn a_rejection_alone_never_counts_and_outranks_later_steps() {
    assert_eq!(
        winner(&[receipt("E", "2026-11-18T08:00:00")]),
        expect("E", ChannelEffect::NeverCounts, "2026-11-18T08:00:00")
    );
    let receipts = [
        receipt("E", "2026-11-18T08:00:00"),
        receipt("7", "2026-11-18T09:00:00"),
    ];
    assert_eq!(
        winner(&receipts).map(|w| w.1),
        Some(ChannelEffect::NeverCounts)
    );
    assert_eq!(winner(&[]), None);
    assert_eq!(winner(&[receipt("Q", "2026-11-18T08:00:00")]), None);
}

#[test]
fn pre_release_steps_tie_on_rank_and_the_later_one_wins() {
    let receipts = [
        receipt("B", "2026-11-18T10:00:00"),
        receipt("7", "2026-11-18T08:00:00"),
    ];
    assert_eq!(
        winner(&receipts),
        expect("B", ChannelEffect::None, "2026-11-18T10:00:00")
    );
    // Same rank and time: the code text decides, whatever the order.
    let same = [
        receipt("L", "2026-11-18T08:00:00"),
        receipt("7", "2026-11-18T08:00:00"),
    ];
    let reversed = [same[1].clone(), same[0].clone()];
    assert_eq!(winner(&same), winner(&reversed));
    assert_eq!(winner(&same).map(|w| w.0), Some("L".into()));
}

#[test]
fn times_with_and_without_milliseconds_compare_as_instants() {
    let receipts = [
        receipt("7", "2018-02-08T15:03:22.500"),
        receipt("L", "2018-02-08T15:03:22"),
    ];
    assert_eq!(winner(&receipts).map(|w| w.0), Some("7".into()));
}

#[test]
fn tcs_and_single_window_codes_mixed() {
    let receipts = [
        receipt("025", "2018-02-08T15:03:22.000"),
        receipt("013", "2018-02-07T10:00:00"),
        receipt("R", "2018-02-09T10:00:00"),
    ];
    let status = winning_status(table(), &receipts);
    assert_eq!(status.as_ref().map(|s| s.channel.as_str()), Some("R"));
    assert_eq!(
        status.as_ref().and_then(|s| s.released_at.as_deref()),
        Some("2018-02-08T15:03:22.000")
    );
    let deleted = [
        receipt("P", "2018-02-08T15:03:22"),
        receipt("020", "2018-02-10T10:00:00"),
    ];
    assert_eq!(
        winner(&deleted),
        expect(
            "020",
            ChannelEffect::DeletedAfterRelease,
            "2018-02-10T10:00:00"
        )
    );
    // Equal rank and time across code sets: the code set order decides (TCS last).
    let tie = [
        receipt("022", "2018-02-09T10:00:00"),
        receipt("R", "2018-02-09T10:00:00"),
    ];
    assert_eq!(winner(&tie).map(|w| w.0), Some("022".into()));
}

#[test]
fn the_entry_id_comes_from_the_best_receipt_that_has_one() {
    let mut early = receipt("L", "2026-11-18T08:00:00");
    early.entry_id = Some("530120261000012345".into());
    let late = receipt("P", "2026-11-19T09:00:00");
    let status = winning_status(table(), [&late, &early]);
    assert_eq!(
        status.and_then(|s| s.entry_id),
        Some("530120261000012345".into())
    );
}

fn arb_receipts() -> impl Strategy<Value = Vec<DecReceipt>> {
    let codes = prop::sample::select(vec![
        "7", "L", "B", "P", "R", "D", "A", "E", "Z", "025", "022", "020", "026", "013",
    ]);
    let times = prop::sample::select(vec![
        "2026-11-18T08:00:00",
        "2026-11-18T08:00:00.000",
        "2026-11-18T08:00:00.500",
        "2026-11-19T09:00:00",
    ]);
    let ids = prop::option::of(prop::sample::select(vec![
        "530120261000012345",
        "530120261000099999",
    ]));
    prop::collection::vec((codes, times, ids), 0..8).prop_map(|rows| {
        rows.into_iter()
            .map(|(code, at, id)| DecReceipt {
                entry_id: id.map(str::to_owned),
                ..receipt(code, at)
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn the_winner_is_the_same_in_every_arrival_order(
        (receipts, shuffled) in arb_receipts().prop_flat_map(|receipts| {
            let shuffled = Just(receipts.clone()).prop_shuffle();
            (Just(receipts), shuffled)
        })
    ) {
        let table = table();
        prop_assert_eq!(winning_status(table, &receipts), winning_status(table, &shuffled));
        let mut reversed = receipts.clone();
        reversed.reverse();
        prop_assert_eq!(winning_status(table, &receipts), winning_status(table, &reversed));
    }
}

#[test]
fn receipts_and_statuses_round_trip_through_json_and_refuse_unknown_fields() {
    let mut receipt = receipt("P", "2026-11-19T09:00:00");
    receipt.entry_id = Some("530120261000012345".into());
    let json = serde_json::to_string(&receipt).unwrap_or_default();
    assert!(json.contains("\"code_set\":\"single_window\""), "{json}");
    assert!(json.contains("\"layout\":\"current\""), "{json}");
    let back: Result<DecReceipt, _> = serde_json::from_str(&json);
    assert_eq!(back.ok(), Some(receipt.clone()));
    let extra = json.replacen('{', "{\"note\":\"报关单已放行\",", 1);
    assert!(serde_json::from_str::<DecReceipt>(&extra).is_err());
    let status = winning_status(table(), [&receipt]);
    let json = serde_json::to_string(&status).unwrap_or_default();
    assert!(json.contains("\"effect\":\"released\""), "{json}");
    let back: Option<DecStatus> = serde_json::from_str(&json).ok().flatten();
    assert_eq!(back, status);
}
