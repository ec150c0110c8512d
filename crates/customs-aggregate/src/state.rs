//! State shared by the owner loop, the statistics reader and the gRPC
//! handlers: the serving [`StatsView`], how far it has read the statistics
//! topic, and the lifecycle state of the partitions this instance owns.
//!
//! The view is behind a read–write lock that is held only to apply a batch
//! of changes or to compute one answer, never across I/O. Every applied
//! change bumps [`Progress::version`], so an answer can say which state it
//! reflects and a subscription can tell whether anything changed. The owned
//! partitions' state is written only by the owner loop; `Explain` reads its
//! committed part ([`PartitionState::find_committed`]).

use std::collections::BTreeMap;
use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use std::time::Duration;

use customs_domain::CodeTables;
use customs_domain::lifecycle::partition::PartitionState;
use customs_domain::stats::StatsView;

use crate::config::StatisticsConfig;

/// How far the view has read the statistics topic.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Next changelog offset the reader will read, per partition.
    pub positions: BTreeMap<i32, i64>,
    /// End offsets found at start: a partition restores until its position
    /// reaches its target.
    pub restore_targets: BTreeMap<i32, i64>,
    /// Bumped on every change applied to the view.
    pub version: u64,
    /// Classified records this instance's owner loop committed since start.
    pub records_committed: u64,
}

impl Progress {
    /// Partitions still restoring (position below the start-up end offset,
    /// or not yet known).
    pub fn restoring(&self) -> Vec<i32> {
        if self.restore_targets.is_empty() {
            return vec![-1];
        }
        self.restore_targets
            .iter()
            .filter(|(partition, target)| {
                self.positions
                    .get(partition)
                    .is_none_or(|position| position < target)
            })
            .map(|(partition, _)| *partition)
            .collect()
    }
}

/// Everything the aggregate's threads share.
pub struct Shared {
    view: RwLock<StatsView>,
    progress: Mutex<Progress>,
    owned: Mutex<BTreeMap<i32, PartitionState>>,
    advanced: Condvar,
    /// Code tables for derived dimensions; replaced whole on a reload.
    tables: RwLock<Arc<CodeTables>>,
    /// Event-time rules.
    pub statistics: StatisticsConfig,
    /// The latest [`Progress::version`], for subscriptions: a watch keeps
    /// only the newest value, so a slow subscriber skips versions and never
    /// holds the writer up.
    version: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    /// Empty state.
    pub fn new(tables: CodeTables, statistics: StatisticsConfig) -> Self {
        Shared {
            view: RwLock::new(StatsView::default()),
            progress: Mutex::new(Progress::default()),
            owned: Mutex::new(BTreeMap::new()),
            advanced: Condvar::new(),
            tables: RwLock::new(Arc::new(tables)),
            statistics,
            version: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The code tables in use: an answer takes them once, so it is
    /// resolved with one set even while a reload replaces it.
    pub fn tables(&self) -> Arc<CodeTables> {
        Arc::clone(&self.tables.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the code tables (a reload): answers from now on use them.
    pub fn set_tables(&self, tables: CodeTables) {
        *self.tables.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(tables);
    }

    /// Reads the view. A poisoned lock still holds a consistent view: every
    /// change is applied in full before the lock is released.
    pub fn read(&self) -> RwLockReadGuard<'_, StatsView> {
        self.view.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the view; call [`Shared::changed`] after releasing it.
    pub fn write(&self) -> RwLockWriteGuard<'_, StatsView> {
        self.view.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lifecycle state of the partitions this instance owns.
    pub fn owned(&self) -> MutexGuard<'_, BTreeMap<i32, PartitionState>> {
        self.owned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Progress so far.
    pub fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that the view changed and wakes waiters.
    pub fn changed(&self) {
        let version = {
            let mut progress = self.progress();
            progress.version += 1;
            progress.version
        };
        self.advanced.notify_all();
        // Never blocks; without subscribers the value is just stored.
        self.version.send_replace(version);
    }

    /// Watches the state version (see [`Shared::changed`]).
    pub fn watch_version(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Records reader positions and wakes waiters.
    pub fn set_positions(&self, positions: impl IntoIterator<Item = (i32, i64)>) {
        self.progress().positions.extend(positions);
        self.advanced.notify_all();
    }

    /// Records the end offsets a restore must reach.
    pub fn set_restore_targets(&self, targets: BTreeMap<i32, i64>) {
        self.progress().restore_targets = targets;
        self.advanced.notify_all();
    }

    /// Waits up to `timeout` until no partition is restoring; returns
    /// whether none is.
    pub fn wait_restored(&self, timeout: Duration) -> bool {
        let guard = self.progress();
        let (guard, _) = self
            .advanced
            .wait_timeout_while(guard, timeout, |progress| !progress.restoring().is_empty())
            .unwrap_or_else(PoisonError::into_inner);
        guard.restoring().is_empty()
    }

    /// Waits up to `timeout` until the view has read `partition` up to
    /// `offset`; returns whether it has.
    pub fn wait_for(&self, partition: i32, offset: i64, timeout: Duration) -> bool {
        let guard = self.progress();
        let (guard, _) = self
            .advanced
            .wait_timeout_while(guard, timeout, |progress| {
                progress
                    .positions
                    .get(&partition)
                    .is_none_or(|position| *position < offset)
            })
            .unwrap_or_else(PoisonError::into_inner);
        guard
            .positions
            .get(&partition)
            .is_some_and(|position| *position >= offset)
    }
}
