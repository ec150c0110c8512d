//! `customs send` on the real broker: an operator's files arrive in the raw
//! topic one record each, byte for byte (the BOM and GBK fixtures
//! included), keyed by file name, and lines mode sends one record per
//! non-empty line. The oracle is the files themselves, read back from the
//! topic by a plain consumer.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use customs_e2e::processes::{repo, service_binary};
use customs_e2e::{broker, unique_topics};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

#[test]
fn files_and_lines_arrive_one_record_each_byte_for_byte() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let fixtures = repo().join("crates/customs-domain/fixtures");
    let mut expected = BTreeMap::new();
    for entry in std::fs::read_dir(&fixtures)? {
        let path = entry?.path();
        if path.is_file() {
            let name = path
                .file_name()
                .context("a name")?
                .to_string_lossy()
                .into_owned();
            expected.insert(name, std::fs::read(&path)?);
        }
    }
    ensure!(expected.len() >= 5, "too few fixtures: {}", expected.len());
    let lines_file = std::env::temp_dir().join(format!("customs-send-{}.txt", std::process::id()));
    std::fs::write(&lines_file, "<a/>\n\n<b/>\r\n")?;
    expected.insert("customs-send-lines:1".to_owned(), b"<a/>".to_vec());
    expected.insert("customs-send-lines:3".to_owned(), b"<b/>".to_vec());

    let topic = unique_topics("send").raw;
    let customs = service_binary("customs")?;
    let run = |args: &[&std::ffi::OsStr]| -> anyhow::Result<()> {
        let output = Command::new(&customs)
            .arg("send")
            .args(["--topic", &topic, "--bootstrap-servers", &bootstrap])
            .args(args)
            .output()?;
        ensure!(
            output.status.success(),
            "customs send failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    };
    run(&[fixtures.as_os_str()])?;
    run(&["--lines".as_ref(), lines_file.as_os_str()])?;
    // A file that is not there: an error, and nothing of the batch is sent.
    let missing = fixtures.join("no-such-file.xml");
    ensure!(
        run(&[
            fixtures.join("dec_export_gbk.xml").as_os_str(),
            missing.as_os_str()
        ])
        .is_err(),
        "a missing file was not an error"
    );

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", format!("send-check-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[&topic])?;
    let mut received = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.len() < expected.len() && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message?;
            let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
            // The lines file's name carries this run's pid; compare by line.
            let key = match key.rsplit_once(':') {
                Some((_, line)) if key.starts_with("customs-send-") => {
                    format!("customs-send-lines:{line}")
                }
                _ => key,
            };
            let payload = message.payload().unwrap_or_default().to_vec();
            ensure!(
                received.insert(key.clone(), payload).is_none(),
                "{key} arrived twice"
            );
        }
    }
    // Nothing more arrives (the failed batch sent nothing).
    let extra = consumer.poll(Duration::from_secs(2));
    ensure!(extra.is_none(), "an extra record: {extra:?}");
    ensure!(
        received == expected,
        "received {:?}, expected {:?}",
        received.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    std::fs::remove_file(&lines_file).ok();
    Ok(())
}
