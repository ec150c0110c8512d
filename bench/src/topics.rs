//! Topic names of one run, for every topic the services know.
//!
//! Which topics exist is not hard-coded: the keys of the `[topics]` table of
//! each deployed config file (`deploy/config/<service>.toml`, which lists
//! every key) are the topics a service reads and writes, so a topic added on
//! `main` (e.g. a changelog) gets a run-unique name too, and a service is
//! never given a key it does not know (configs deny unknown keys).
//!
//! Guarantees: names are `bench.<uuid>.<label>.<key>`, used by no other run
//! or test. Only the raw topic is created here (with the run's partition
//! count, so it can be preloaded); the services create the others as they
//! do in production, with `kafka.topic_partitions` set to the same count and
//! whatever settings they need (e.g. compaction). All of them are deleted at
//! the end of the run, or, if the benchmark is interrupted, through the
//! [`Registry`] before it exits.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

/// How long admin operations may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Key of the raw input topic.
pub const RAW: &str = "raw";

/// `[topics]` keys that set something about a topic rather than name one.
const SETTINGS: [&str; 1] = ["classified_retention"];

/// The topic-name keys of the `[topics]` table of a service's TOML config
/// file.
///
/// A deliberately small reader for the one shape these files have
/// (`key = "value"  # comment` lines under a `[topics]` header), so that no
/// TOML crate is needed just for this.
pub fn keys_in_config(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut in_topics = false;
    let mut keys = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.starts_with('[') {
            in_topics = line == "[topics]";
            continue;
        }
        if !in_topics || line.is_empty() {
            continue;
        }
        let (key, _) = line.split_once('=').with_context(|| {
            format!(
                "{}: [topics] line {line:?} is not key = value",
                path.display()
            )
        })?;
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            bail!("{}: unexpected [topics] key {key:?}", path.display());
        }
        // Settings of a topic, not names: kept as configured.
        if SETTINGS.contains(&key) {
            continue;
        }
        keys.push(key.to_owned());
    }
    if !keys.iter().any(|key| key == RAW) {
        bail!("{} has no [topics] raw key", path.display());
    }
    Ok(keys)
}

/// The run's name for each topic key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    names: Vec<(String, String)>,
}

impl Topics {
    /// Fresh names for `keys` (which include [`RAW`]).
    pub fn fresh(label: &str, keys: &[String]) -> Topics {
        let prefix = format!("bench.{}.{label}", uuid::Uuid::new_v4().simple());
        Topics {
            names: keys
                .iter()
                .map(|key| (key.clone(), format!("{prefix}.{key}")))
                .collect(),
        }
    }

    /// The name of topic `key`, if the run has it.
    pub fn name(&self, key: &str) -> Option<&str> {
        self.names
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, name)| name.as_str())
    }

    /// The raw input topic.
    pub fn raw(&self) -> &str {
        // `keys_in_config` insists on it, and `fresh` keeps every key.
        self.name(RAW).unwrap_or("missing-raw-topic")
    }

    /// Creates the raw topic with `partitions` partitions, replication 1.
    pub async fn create_raw(&self, bootstrap: &str, partitions: i32) -> anyhow::Result<()> {
        let admin = admin(bootstrap)?;
        let topic = NewTopic::new(self.raw(), partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        for result in admin.create_topics([&topic], &options).await? {
            if let Err((topic, code)) = result {
                bail!("creating topic {topic}: {code}");
            }
        }
        Ok(())
    }

    /// Deletes every topic of the run that exists.
    pub async fn delete(&self, bootstrap: &str) -> anyhow::Result<()> {
        let admin = admin(bootstrap)?;
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        let names: Vec<&str> = self.names.iter().map(|(_, name)| name.as_str()).collect();
        for result in admin.delete_topics(&names, &options).await? {
            if let Err((topic, code)) = result
                && code != RDKafkaErrorCode::UnknownTopicOrPartition
            {
                bail!("deleting topic {topic}: {code}");
            }
        }
        Ok(())
    }
}

/// Topics created and not yet deleted, so that an interrupted benchmark
/// can still delete them after its runs were dropped mid-way.
#[derive(Debug, Clone, Default)]
pub struct Registry(Arc<Mutex<Vec<Topics>>>);

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Topics>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fresh names for `keys`, registered until [`Registry::delete`].
    pub fn fresh(&self, label: &str, keys: &[String]) -> Topics {
        let topics = Topics::fresh(label, keys);
        self.lock().push(topics.clone());
        topics
    }

    /// Deletes the run's topics and forgets them.
    pub async fn delete(&self, topics: &Topics, bootstrap: &str) -> anyhow::Result<()> {
        topics.delete(bootstrap).await?;
        self.lock().retain(|registered| registered != topics);
        Ok(())
    }

    /// Deletes every registered run's topics (best effort, reported).
    pub async fn delete_all(&self, bootstrap: &str) {
        let left: Vec<Topics> = self.lock().clone();
        for topics in left {
            if let Err(err) = self.delete(&topics, bootstrap).await {
                eprintln!("bench: could not delete the topics {topics:?}: {err:#}");
            }
        }
    }
}

fn admin(bootstrap: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_topic_keys_of_the_deployed_configs() -> anyhow::Result<()> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config");
        for service in ["ingest", "normalize", "aggregate"] {
            let keys = keys_in_config(&dir.join(format!("{service}.toml")))?;
            for key in ["raw", "declarations", "classified", "dead_letter"] {
                assert!(
                    keys.iter().any(|k| k == key),
                    "{service}: {key} in {keys:?}"
                );
            }
            // A setting is not a name to make unique (a duration is no topic).
            assert!(
                !keys.iter().any(|k| k == "classified_retention"),
                "{service}: {keys:?}"
            );
        }
        let topics = Topics::fresh("t", &["raw".to_owned(), "late".to_owned()]);
        assert!(topics.raw().ends_with(".t.raw"));
        assert!(
            topics
                .name("late")
                .is_some_and(|name| name.starts_with("bench."))
        );
        assert_eq!(topics.name("changelog"), None);
        Ok(())
    }
}
