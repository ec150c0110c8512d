//! The owner's decisions for single records, without a broker: what goes to
//! the changelog, what is a re-send, and what is beyond the allowed
//! lateness. (The Kafka side is proven in `tests/tests/crash.rs`.)

use customs_domain::sample::sample_declarations;
use customs_domain::{AppType, ClassifiedDeclaration, CodeTables, classify, value};

use super::*;
use crate::config::StatisticsConfig;

fn owner() -> Owner {
    let shared = Arc::new(Shared::new(
        CodeTables::embedded(),
        StatisticsConfig::default(),
    ));
    let kafka = KafkaConfig::default();
    Owner::new(
        shared,
        &kafka,
        "changelog".to_owned(),
        "late".to_owned(),
        CancellationToken::new(),
    )
    .expect("a consumer can be created without a broker")
}

fn declaration(id: &str, declared_at: &str, app_type: AppType) -> Vec<u8> {
    let tables = CodeTables::embedded();
    let mut declaration = sample_declarations(1).remove(0);
    declaration.id = id.to_owned();
    declaration.declared_at = Some(declared_at.to_owned());
    declaration.app_type = app_type;
    let classified = ClassifiedDeclaration {
        classification: classify(&declaration, &tables).expect("sample classifies"),
        valuation: value(&declaration, &tables).expect("sample is valued"),
        declaration,
    };
    v1::ClassifiedEvent {
        kind: Some(v1::classified_event::Kind::Declaration(
            (&classified).into(),
        )),
        source: None,
    }
    .encode_to_vec()
}

fn run(owner: &mut Owner, payload: &[u8]) -> Vec<Output> {
    let record = Record {
        topic: "classified",
        partition: 0,
        offset: 0,
        key: None,
        payload,
        timestamp_ms: None,
        ingested_at_ms: 0,
    };
    let mut outputs = Vec::new();
    owner.transform(&record, &mut outputs);
    outputs
}

fn keys(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .map(|output| match output {
            Output::Send { key, .. } => String::from_utf8_lossy(key).into_owned(),
            Output::Divert { reason, .. } => format!("divert:{reason}"),
            Output::DeadLetter { reason, .. } => format!("dead:{reason}"),
            Output::Publish { .. } => "publish".to_owned(),
        })
        .collect()
}

#[test]
fn a_declaration_is_written_to_the_changelog_and_a_resend_is_not() {
    let mut owner = owner();
    let payload = declaration("D1", "2026-11-20T10:00:00", AppType::New);
    assert_eq!(keys(&run(&mut owner, &payload)), ["d/D1", "w/0"]);
    owner.committed();
    assert!(
        run(&mut owner, &payload).is_empty(),
        "a re-sent declaration changes nothing"
    );
    let view = owner.shared.read();
    assert!(
        view.entry("D1")
            .is_some_and(|entry| entry.counted.is_some())
    );
}

#[test]
fn events_beyond_the_allowed_lateness_go_to_the_late_topic() {
    let mut owner = owner();
    run(
        &mut owner,
        &declaration("D1", "2026-11-20T10:00:00", AppType::New),
    );
    owner.committed();
    // 13 months before the watermark: far beyond 45 days.
    let too_old = run(
        &mut owner,
        &declaration("D2", "2025-10-20T10:00:00", AppType::New),
    );
    assert_eq!(keys(&too_old), ["divert:beyond_allowed_lateness"]);
    // 40 days before: late but allowed, and it restates October.
    let late = run(
        &mut owner,
        &declaration("D3", "2026-10-11T10:00:00", AppType::New),
    );
    assert_eq!(keys(&late), ["d/D3"]);
    owner.aborted();
    assert!(
        owner.shared.read().entry("D3").is_none(),
        "an aborted transaction leaves no trace"
    );
}

#[test]
fn restating_a_final_figure_is_late_even_when_the_event_is_new() {
    let mut owner = owner();
    // Counted long ago (an old declaration read before the watermark moved).
    run(
        &mut owner,
        &declaration("OLD", "2026-08-01T10:00:00", AppType::New),
    );
    owner.committed();
    run(
        &mut owner,
        &declaration("NEW", "2026-11-20T10:00:00", AppType::New),
    );
    owner.committed();
    // A change dated now would restate August, which is final.
    let change = run(
        &mut owner,
        &declaration("OLD", "2026-11-21T10:00:00", AppType::Change),
    );
    assert_eq!(keys(&change), ["divert:beyond_allowed_lateness"]);
}

#[test]
fn lateness_is_judged_against_the_restored_watermark() {
    let mut owner = owner();
    // Another owner's committed state, as the changelog reader restores it.
    {
        let mut view = owner.shared.write();
        view.observe_watermark(0, parse_minute("2027-01-20T00:00:00").unwrap(), 0);
        view.update_watermark(0, 30_000);
    }
    owner.shared.set_restore_targets(BTreeMap::from([(0, 0)]));
    owner.shared.set_positions([(0, 0)]);
    owner.ready.insert(0);
    owner.prepare(&[("classified".to_owned(), 0)]);
    // November is more than 45 days before 2027-01-20.
    let old = run(
        &mut owner,
        &declaration("D9", "2026-11-20T10:00:00", AppType::New),
    );
    assert_eq!(keys(&old), ["divert:beyond_allowed_lateness"]);
}
