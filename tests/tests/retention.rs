//! The classified topic is created with the retention a rebuild of the
//! lifecycle state needs, on the real broker: normalize (like the
//! aggregate) creates it with `topics.classified_retention`, and the
//! broker reports that retention back; topics without such a need keep the
//! broker's default.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use customs_e2e::{broker, service_kafka, unique_topics};
use customs_kafka::admin::retention;

const TEST: &str = "retention";
const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_classified_topic_keeps_records_for_its_configured_retention() -> anyhow::Result<()> {
    let bootstrap = broker()?;
    let mut topics = unique_topics(TEST);
    // Not the default, so the test sees the setting and not a constant.
    topics.classified_retention = 97 * DAY;
    let kafka = service_kafka(&bootstrap, TEST, "normalize");
    let config = customs_normalize::Config {
        kafka: kafka.clone(),
        topics: topics.clone(),
        ..Default::default()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let service = tokio::spawn(customs_normalize::run(config, shutdown.clone()));

    let started = Instant::now();
    let kept = loop {
        match retention(&kafka, &topics.classified).await {
            Ok(kept) => break kept,
            Err(_) if started.elapsed() < Duration::from_secs(60) && !service.is_finished() => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => bail!("the classified topic was not created: {err}"),
        }
    };
    ensure!(
        kept == Some(97 * DAY),
        "the classified topic keeps records for {kept:?}, not the configured 97 days"
    );
    // The dead-letter topic is created by the same start, with the
    // broker's default: the setting is the classified topic's alone.
    let dead_letters = retention(&kafka, &topics.dead_letter).await?;
    ensure!(
        dead_letters != Some(97 * DAY),
        "the dead-letter topic took the classified topic's retention"
    );
    shutdown.cancel();
    service.await??;
    Ok(())
}
