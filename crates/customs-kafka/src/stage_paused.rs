//! Partitions whose records must wait while the transform restores their
//! state: paused in the stage's consumer, so the stage keeps polling (and
//! keeps its group membership, `max.poll.interval.ms`) however long a
//! restore takes, and resumed when the transform hands them back. Records
//! a paused partition fetched before the pause are the transform's to
//! refuse (`Transform::prepare`); the stage then reads the batch again.

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};

/// The partitions the stage holds paused.
#[derive(Debug, Default)]
pub(crate) struct Paused(Vec<(String, i32)>);

impl Paused {
    /// Whether any partition is paused.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Pauses `partitions` in `consumer`.
    pub(crate) fn pause<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        partitions: Vec<(String, i32)>,
    ) {
        if partitions.is_empty() {
            return;
        }
        if let Err(error) = consumer.pause(&list(&partitions)) {
            // Their records then reach batches, which the transform
            // refuses until the restore ends: slower, never wrong.
            tracing::warn!(%error, "cannot pause partitions being restored");
        }
        tracing::info!(
            num_partitions = partitions.len(),
            "partitions paused until restored"
        );
        self.0.extend(partitions);
    }

    /// Resumes those of `ready` that are paused.
    pub(crate) fn resume<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        ready: &[(String, i32)],
    ) {
        let resumed: Vec<(String, i32)> = ready
            .iter()
            .filter(|partition| self.0.contains(partition))
            .cloned()
            .collect();
        if resumed.is_empty() {
            return;
        }
        self.0.retain(|partition| !resumed.contains(partition));
        if let Err(error) = consumer.resume(&list(&resumed)) {
            tracing::error!(%error, "cannot resume restored partitions");
        }
        tracing::info!(
            num_partitions = resumed.len(),
            "restored partitions resumed"
        );
    }

    /// Forgets `revoked` partitions (a new assignment starts unpaused).
    pub(crate) fn forget(&mut self, revoked: &[(String, i32)]) {
        self.0.retain(|partition| !revoked.contains(partition));
    }

    /// Forgets every partition (a new consumer holds no pause).
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

fn list(partitions: &[(String, i32)]) -> TopicPartitionList {
    let mut list = TopicPartitionList::with_capacity(partitions.len());
    for (topic, partition) in partitions {
        list.add_partition(topic, *partition);
    }
    list
}
