//! A previous owner's last transaction on a changelog partition, held open
//! by the test: what a new owner meets when it takes a partition over while
//! that transaction is not settled yet (or while its owner is dead and the
//! broker has not aborted it yet).

use std::time::Duration;

use anyhow::Context;
use customs_aggregate::changelog::encode_entry;
use customs_domain::CodeTables;
use customs_domain::lifecycle::Entry;
use customs_domain::lifecycle::partition::Stored;
use customs_domain::sample::sample_classified;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// A transaction that wrote one counted lifecycle entry and is not
/// committed yet.
pub struct OpenTransaction {
    producer: ThreadedProducer<DefaultProducerContext>,
    timeout: Duration,
}

impl OpenTransaction {
    /// Begins a transaction (as `transactional_id`) that writes a counted
    /// entry for declaration `id` to partition `partition` of `changelog`,
    /// and flushes it without committing.
    pub fn begin(
        bootstrap: &str,
        transactional_id: &str,
        changelog: &str,
        partition: i32,
        id: &str,
    ) -> anyhow::Result<Self> {
        let tables = CodeTables::embedded();
        let mut classified = sample_classified(20, &tables)
            .into_iter()
            .find(|c| c.classification.in_trade_statistics)
            .context("a sample declaration that counts")?;
        classified.declaration.id = id.to_owned();
        let mut entry = Entry::default().record_declaration(&classified);
        entry.version = 1;
        let (key, payload) = encode_entry(id, Some(&Stored::Live(Box::new(entry))));
        let payload = payload.context("an entry has a value")?;
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("transactional.id", transactional_id)
            .create()?;
        let timeout = Duration::from_secs(30);
        producer.init_transactions(timeout)?;
        producer.begin_transaction()?;
        producer
            .send(
                BaseRecord::to(changelog)
                    .key(&key)
                    .payload(&payload)
                    .partition(partition),
            )
            .map_err(|(err, _)| anyhow::anyhow!("producing the changelog entry: {err}"))?;
        producer.flush(timeout)?;
        Ok(OpenTransaction { producer, timeout })
    }

    /// Commits it.
    pub fn commit(self) -> anyhow::Result<()> {
        Ok(self.producer.commit_transaction(self.timeout)?)
    }
}
