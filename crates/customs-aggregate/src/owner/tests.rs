//! The owner's decisions for single records, without a broker: what goes to
//! the changelog and the statistics topic, what is a re-send, what is
//! beyond the allowed lateness, and that an abort leaves no trace. (The
//! Kafka side is proven in `tests/tests/crash.rs`.)

use customs_domain::sample::sample_declarations;
use customs_domain::{AppType, ClassifiedDeclaration, CodeTables, classify, value};

use customs_domain::lifecycle::partition::Stored;

use super::*;
use crate::config::StatisticsConfig;

/// An owner holding partition 0 (empty), as after its take-over.
fn owner() -> Owner {
    let owner = owner_with(CancellationToken::new());
    let state = PartitionState::new(owner.policy);
    owner.shared.owned().insert(0, state);
    owner
}

fn owner_with(shutdown: CancellationToken) -> Owner {
    let shared = Arc::new(Shared::new(
        CodeTables::embedded(),
        StatisticsConfig::default(),
    ));
    let kafka = KafkaConfig::default();
    let disk = crate::store::Disk::open(&crate::config::StateConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));
    Owner::new(
        shared,
        disk,
        &kafka,
        OwnerTopics {
            changelog: "changelog".to_owned(),
            stats: "stats".to_owned(),
            late: "late".to_owned(),
        },
        shutdown,
    )
}

#[test]
fn a_batch_whose_partition_is_not_restored_is_not_processed() {
    // Shutdown while taking a partition over: the restore stops early. The
    // batch must then be put back, never counted against an empty state.
    let shutdown = CancellationToken::new();
    let mut stopping = owner_with(shutdown.clone());
    shutdown.cancel();
    assert!(!stopping.prepare(&[("classified".to_owned(), 3)]));
    assert!(!stopping.shared.owned().contains_key(&3));
    // A partition already held is admitted (also while stopping: the
    // batch is whole; the stage itself stops before a transaction).
    stopping
        .shared
        .owned()
        .insert(0, PartitionState::new(stopping.policy));
    assert!(stopping.prepare(&[("classified".to_owned(), 0)]));
    assert!(!stopping.prepare(&[("classified".to_owned(), 0), ("classified".to_owned(), 3)]));
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

/// One record, then the transaction's closing outputs.
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
    owner.finish(&mut outputs);
    outputs
}

fn keys(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .map(|output| match output {
            Output::Send { topic, key, .. } if topic == "changelog" => {
                String::from_utf8_lossy(key).into_owned()
            }
            Output::Send { key, .. } => match crate::stats_record::StatRecord::decode(key, None) {
                Ok(_) => "stat".to_owned(),
                Err(_) => String::from_utf8_lossy(key).into_owned(),
            },
            Output::Divert { reason, .. } => format!("divert:{reason}"),
            Output::DeadLetter { reason, .. } => format!("dead:{reason}"),
            Output::Publish { .. } => "publish".to_owned(),
        })
        .collect()
}

fn summary(id: &str, invt_nos: &[&str], op_date: &str) -> Vec<u8> {
    let summary = customs_domain::SummaryResult {
        guid: format!("G-{id}"),
        entry_id: Some(id.to_owned()),
        summary_no: None,
        decl_seq_no: None,
        customs_office: "5301".to_owned(),
        invt_nos: invt_nos.iter().map(|n| (*n).to_owned()).collect(),
        operated_at: Some(op_date.to_owned()),
    };
    v1::ClassifiedEvent {
        kind: Some(v1::classified_event::Kind::SummaryResult((&summary).into())),
        source: None,
    }
    .encode_to_vec()
}

fn served_declarations(owner: &Owner) -> i64 {
    let mut total = 0;
    owner
        .shared
        .read()
        .panes()
        .fold(Minute::MIN / 2, Minute::MAX / 2, |_, m| {
            total += m.declarations
        })
        .unwrap_or_else(|e| panic!("{e}"));
    total
}

/// An owner whose "OLD" declaration counted in August, read before the
/// watermark moved to November ("NEW"): its figure is final.
fn with_a_final_figure() -> Owner {
    let mut owner = owner();
    for (id, at) in [
        ("OLD", "2026-08-01T10:00:00"),
        ("NEW", "2026-11-20T10:00:00"),
    ] {
        run(&mut owner, &declaration(id, at, AppType::New));
        owner.committed();
    }
    owner
}

#[test]
fn a_declaration_writes_its_entry_and_statistics_once_and_a_resend_nothing() {
    let mut owner = owner();
    let payload = declaration("D1", "2026-11-20T10:00:00", AppType::New);
    let outputs = keys(&run(&mut owner, &payload));
    assert_eq!(outputs.first().map(String::as_str), Some("d/D1"));
    assert_eq!(outputs.last().map(String::as_str), Some("w"));
    // One cell per tier at least (the sample may span several cells).
    assert!(
        outputs.iter().filter(|k| *k == "stat").count() >= 3,
        "{outputs:?}"
    );
    owner.committed();
    assert_eq!(
        served_declarations(&owner),
        1,
        "applied to the view at commit"
    );
    assert!(
        run(&mut owner, &payload).is_empty(),
        "a re-sent declaration changes nothing"
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
    owner.snapshot_marks();
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
    assert_eq!(
        late.first().map(|o| keys(std::slice::from_ref(o))),
        Some(vec!["d/D3".to_owned()])
    );
    owner.aborted();
    assert!(
        owner.shared.owned()[&0].get("D3").is_none(),
        "an aborted transaction leaves no trace"
    );
    assert_eq!(served_declarations(&owner), 1);
}

#[test]
fn restating_a_final_figure_is_late_even_when_the_event_is_new() {
    let mut owner = with_a_final_figure();
    // A change dated now would restate August, which is final.
    let change = run(
        &mut owner,
        &declaration("OLD", "2026-11-21T10:00:00", AppType::Change),
    );
    assert_eq!(keys(&change), ["divert:beyond_allowed_lateness"]);
}

#[test]
fn a_summary_that_would_retract_a_final_figure_goes_to_the_late_topic() {
    // The owner before the partition state machine returned from its
    // summary arm before any lateness rule: this diverted nothing and the
    // summary was recorded.
    let mut owner = with_a_final_figure();
    let too_old = run(&mut owner, &summary("S1", &[], "2026-08-02T00:00:00"));
    assert_eq!(keys(&too_old), ["divert:beyond_allowed_lateness"]);
    let fresh = run(&mut owner, &summary("S2", &["X1"], "2026-11-20T11:00:00"));
    assert_eq!(keys(&fresh), ["s/S2", "w"]);
}

#[test]
fn lateness_is_judged_against_the_restored_watermark() {
    let mut owner = owner();
    // Another owner's committed state, as the statistics reader restores it.
    {
        let mut view = owner.shared.write();
        view.observe_watermark(0, parse_minute("2027-01-20T00:00:00").unwrap(), 0);
        view.finish_restore(0, 30_000);
    }
    owner.shared.set_restore_targets(BTreeMap::from([(0, 0)]));
    owner.shared.set_positions([(0, 0)]);
    owner
        .shared
        .owned()
        .insert(0, PartitionState::new(owner.policy));
    owner.prepare(&[("classified".to_owned(), 0)]);
    // November is more than 45 days before 2027-01-20.
    let old = run(
        &mut owner,
        &declaration("D9", "2026-11-20T10:00:00", AppType::New),
    );
    assert_eq!(keys(&old), ["divert:beyond_allowed_lateness"]);
}

#[test]
fn housekeeping_seals_final_entries_in_the_next_transaction() {
    let mut owner = with_a_final_figure();
    owner.shared.set_restore_targets(BTreeMap::from([(0, 0)]));
    owner.shared.set_positions([(0, 0)]);
    owner.shared.write().finish_restore(0, 30_000);
    owner.last_housekeeping = Instant::now() - Duration::from_secs(3600);
    owner.prepare(&[("classified".to_owned(), 0)]);
    let outputs = run(
        &mut owner,
        &declaration("NEXT", "2026-11-20T11:00:00", AppType::New),
    );
    let sealed = outputs.iter().any(|output| {
        matches!(output, Output::Send { topic, key, payload: Some(payload), .. }
            if topic == "changelog" && key == b"d/OLD"
            && matches!(crate::changelog::Change::decode(key, Some(payload)),
                Ok(crate::changelog::Change::Entry(_, Some(Stored::Sealed(_))))))
    });
    assert!(sealed, "{:?}", keys(&outputs));
}

#[test]
fn assigned_partitions_wait_for_their_take_over_and_a_revocation_drops_it() {
    let mut owner = owner();
    let topic = "classified".to_owned();
    // Partition 0 is held: nothing to restore. 1 and 2 are queued, once.
    let queued = owner.assigned(&[(topic.clone(), 0), (topic.clone(), 1), (topic.clone(), 2)]);
    assert_eq!(queued, [(topic.clone(), 1), (topic.clone(), 2)]);
    assert!(owner.assigned(&[(topic.clone(), 1)]).is_empty());
    // A batch with a record of a partition being taken over is refused.
    assert!(!owner.prepare(&[(topic.clone(), 0), (topic.clone(), 1)]));
    owner.revoked(&[(topic.clone(), 1)]);
    let left: Vec<i32> = owner.restores.iter().map(|r| r.partition()).collect();
    assert_eq!(left, [2]);
    // Shutdown: no restore work is done, nothing becomes ready.
    owner.shutdown.cancel();
    assert!(owner.restore(Duration::from_millis(10)).is_empty());
    assert!(!owner.shared.owned().contains_key(&2));
}
