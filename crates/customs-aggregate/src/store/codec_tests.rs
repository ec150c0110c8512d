//! The compact entry encoding decodes to what was encoded, is small, and
//! its bytes are pinned.

use customs_domain::lifecycle::partition::{Sealed, Stored};
use customs_domain::lifecycle::{Entry, lifecycle_key};
use customs_domain::model::{MessageType, Receipt};
use customs_domain::sample::sample_classified;
use customs_domain::{ClassifiedDeclaration, CodeTables};

use chrono::Datelike;

use super::{Dictionary, decode, encode};

fn classified() -> Vec<ClassifiedDeclaration> {
    sample_classified(200, &CodeTables::embedded())
}

fn release(guid: &str, at: &str) -> Receipt {
    Receipt {
        message_type: MessageType::Ceb622,
        guid: guid.to_owned(),
        cop_no: None,
        pre_no: None,
        invt_no: Some(format!("INV-{guid}")),
        status: 800,
        returned_at: at.to_owned(),
    }
}

/// Every state an entry of `c` goes through: declared, released (receipt
/// with a time in milliseconds), withdrawn, and re-declared as another id.
fn states(c: &ClassifiedDeclaration) -> Vec<(String, Entry)> {
    let key = lifecycle_key(&c.declaration).to_owned();
    let declared = Entry::default().record_declaration(c);
    let released = declared.record_receipt(&release(&key, "2026-11-20T10:00:00.125"));
    let mut withdrawn_decl = c.clone();
    withdrawn_decl.declaration.app_type = customs_domain::AppType::Delete;
    let withdrawn = released.record_declaration(&withdrawn_decl);
    let waiting = Entry::default().record_receipt(&release(&key, "2026-11-20T10:00:00"));
    vec![
        (key.clone(), declared),
        (key.clone(), released),
        (key.clone(), withdrawn),
        (key.clone(), waiting),
        (
            format!("other-{key}"),
            Entry::default().record_declaration(c),
        ),
    ]
}

#[test]
fn every_sample_entry_decodes_to_itself() {
    let mut dictionary = Dictionary::default();
    let mut checked = 0;
    for c in classified() {
        for (key, entry) in states(&c) {
            let stored = Stored::Live(Box::new(entry));
            let bytes = encode(&key, &stored, &mut dictionary);
            assert_eq!(decode(&key, &bytes, &dictionary), Ok(stored), "{key}");
            checked += 1;
        }
    }
    let sealed = Stored::Sealed(Sealed {
        last_event: 29_000_000,
        invt_nos: vec!["I1".to_owned(), "I2".to_owned()],
    });
    let bytes = encode("g", &sealed, &mut dictionary);
    assert_eq!(decode("g", &bytes, &dictionary), Ok(sealed));
    assert!(checked >= 500, "{checked}");
    assert!(
        dictionary.num_strings() < 400,
        "only repeated strings: {}",
        dictionary.num_strings()
    );
}

#[test]
fn a_counted_declaration_is_small() {
    let mut dictionary = Dictionary::default();
    let c = classified()
        .into_iter()
        .find(|c| c.declaration.message_type == MessageType::DecMessage)
        .unwrap_or_else(|| panic!("a sample customs declaration"));
    let entry = Entry::default().record_declaration(&c);
    assert!(entry.counted.is_some());
    let key = lifecycle_key(&c.declaration).to_owned();
    let before = postcard::to_allocvec(&entry)
        .map(|b| b.len())
        .unwrap_or_default();
    let after = encode(&key, &Stored::Live(Box::new(entry)), &mut dictionary).len();
    assert!(after * 3 < before, "{after} bytes, was {before}");
}

#[test]
fn bytes_of_a_fixed_entry_are_pinned() {
    let mut dictionary = Dictionary::default();
    let c = classified().remove(0);
    let key = lifecycle_key(&c.declaration).to_owned();
    let stored = Stored::Live(Box::new(Entry::default().record_declaration(&c)));
    let bytes = encode(&key, &stored, &mut dictionary);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, GOLDEN, "the format changed: give it a new format byte");
    // And the pinned bytes still read as that entry.
    let golden: Vec<u8> = (0..GOLDEN.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&GOLDEN[i..i + 2], 16).ok())
        .collect();
    assert_eq!(decode(&key, &golden, &dictionary), Ok(stored));
}

/// Format 2: a counted customs declaration (the first sample), 74 bytes.
const GOLDEN: &str = "020000010000020001000102010301940b02c80102880e0101040105060701c80102940b02c80102010001080001008084b4ae0d00000001008084b4ae0d008084b4ae0d008084b4ae0d";

#[test]
fn times_agree_with_chrono_and_only_exact_ones_become_seconds() {
    use chrono::{Duration, NaiveDate};
    // Every day from 1900 to 2100 (leap years, century rules), at a varying time.
    let mut day = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default();
    let mut n = 0i64;
    while day.year_ce().1 <= 2100 {
        let at = day.and_hms_opt((n % 24) as u32, (n % 60) as u32, (n * 7 % 60) as u32);
        let at = at.unwrap_or_default();
        let text = at.format("%Y-%m-%dT%H:%M:%S").to_string();
        let seconds = super::seconds_of(&text);
        assert_eq!(seconds, Some(at.and_utc().timestamp()), "{text}");
        assert_eq!(
            super::text_of(super::Time::Seconds(at.and_utc().timestamp())),
            Ok(text)
        );
        day += Duration::days(1);
        n += 1;
    }
    for text in [
        "2026-02-29T10:00:00",
        "2026-11-20T24:00:00",
        "2026-11-20T10:00:00.125",
        "2026-11-20 10:00:00",
        "2026-13-01T00:00:00",
        "+026-11-20T10:00:00",
        "",
    ] {
        assert_eq!(super::seconds_of(text), None, "{text:?} stays text");
    }
}
