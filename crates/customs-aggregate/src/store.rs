//! The owned partitions' committed lifecycle state on local disk (fjall).
//!
//! One fjall database per process, one new keyspace each time a partition
//! is taken over (its state is then rebuilt from the changelog, the only
//! source of truth), deleted when the partition is revoked or taken over
//! again, so the directory is a cache: nothing in it needs a
//! backup or survives a restart (a temporary directory by default). Memory
//! is bounded by the block cache and the write buffers, whatever the
//! number of identities.
//!
//! Why fjall: an LSM tree in pure Rust (no C++ toolchain; the bundled
//! RocksDB build took longer than this project's whole CI), with atomic
//! write batches across keyspaces, ordered range scans, a bounded block
//! cache and bloom filters for the many point reads that find nothing.
//! Writes are not fsynced: a crash loses the cache, never a figure.
//!
//! Layout inside a keyspace: one tag byte, then the key's UTF-8 bytes —
//! `d` identity → entry (the compact encoding of [`codec`]), `s` summary
//! id → mark (postcard behind a format byte), `h` inventory number →
//! holding identity, `x` inventory number → superseding summary (UTF-8).
//!
//! Guarantees: a store returns what was last written, every
//! [`Changes`] is written as one batch, and scans are in key order. An I/O
//! error panics the owner thread (the service exits, and the partition is
//! restored from the changelog by its next owner): a store that cannot
//! write cannot be trusted to hold committed state.

use std::ops::Bound;
use std::path::Path;

use customs_domain::lifecycle::partition::{Stored, SummaryMark};
use customs_domain::lifecycle::store::{Changes, StateStore};
use fjall::{Database, Keyspace, KeyspaceCreateOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::StateConfig;

pub mod codec;

/// Format byte of the summary marks.
const FORMAT: u8 = 1;
const ENTRY: u8 = b'd';
const SUMMARY: u8 = b's';
const HOLDER: u8 = b'h';
const SUPERSEDING: u8 = b'x';

/// The process's lifecycle-state database.
#[derive(Clone)]
pub struct Disk {
    db: Database,
    memtable_bytes: u64,
    takeovers: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disk").finish_non_exhaustive()
    }
}

impl Disk {
    /// Opens (creating) the database `config` names, or a temporary one.
    pub fn open(config: &StateConfig) -> Result<Self, fjall::Error> {
        let (path, temporary) = match &config.dir {
            Some(dir) => (dir.clone(), false),
            None => {
                // Unique per service in this process (tests run several).
                static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = format!("customs-aggregate-{}-{n}", std::process::id());
                (std::env::temp_dir().join(name), true)
            }
        };
        Self::open_at(&path, temporary, config)
    }

    fn open_at(path: &Path, temporary: bool, config: &StateConfig) -> Result<Self, fjall::Error> {
        let db = Database::builder(path)
            .temporary(temporary)
            .cache_size(config.cache_mib << 20)
            // Rebuilt from the changelog anyway: no fsync per batch.
            .manual_journal_persist(true)
            .open()?;
        // Keyspaces a crashed predecessor left in a configured directory.
        for name in db.list_keyspace_names() {
            let keyspace = db.keyspace(&name, KeyspaceCreateOptions::default)?;
            db.delete_keyspace(keyspace)?;
        }
        Ok(Disk {
            db,
            memtable_bytes: config.memtable_mib.max(1) << 20,
            takeovers: std::sync::Arc::default(),
        })
    }

    /// A new, empty store for `partition`.
    pub fn partition(&self, partition: i32) -> Result<DiskStore, fjall::Error> {
        let takeover = self
            .takeovers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let keyspace = self.db.keyspace(&format!("p{partition}-{takeover}"), || {
            KeyspaceCreateOptions::default()
                .expect_point_read_hits(false)
                .max_memtable_size(self.memtable_bytes)
        })?;
        Ok(DiskStore {
            db: self.db.clone(),
            keyspace,
            dictionary: codec::Dictionary::default(),
        })
    }

    /// Bytes the block cache holds now (at most `state.cache_mib`).
    pub fn cache_used(&self) -> u64 {
        self.db.cache_size()
    }

    /// Bytes on disk.
    pub fn disk_space(&self) -> u64 {
        self.db.disk_space().unwrap_or_default()
    }
}

/// One partition's committed lifecycle state on disk.
pub struct DiskStore {
    db: Database,
    keyspace: Keyspace,
    /// The entries' repeated strings; as long-lived as the keyspace.
    dictionary: codec::Dictionary,
}

impl Drop for DiskStore {
    fn drop(&mut self) {
        // A revoked partition's state is not kept (its next owner, maybe
        // this instance again, rebuilds it from the changelog).
        if let Err(error) = self.db.delete_keyspace(self.keyspace.clone()) {
            tracing::warn!(%error, "cannot delete a dropped partition's state");
        }
    }
}

fn key(tag: u8, key: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + key.len());
    bytes.push(tag);
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = vec![FORMAT];
    postcard::to_io(value, &mut bytes).unwrap_or_else(|e| fatal("encode", &e));
    bytes
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> T {
    match bytes.split_first() {
        Some((&FORMAT, rest)) => postcard::from_bytes(rest).unwrap_or_else(|e| fatal("decode", &e)),
        _ => fatal("decode", &"unknown format byte"),
    }
}

fn fatal(what: &str, error: &dyn std::fmt::Display) -> ! {
    panic!("lifecycle state store: cannot {what}: {error}")
}

impl DiskStore {
    fn decode_entry(&self, name: &str, bytes: &[u8]) -> Stored {
        codec::decode(name, bytes, &self.dictionary).unwrap_or_else(|e| fatal("decode", &e))
    }

    fn get(&self, tag: u8, name: &str) -> Option<fjall::UserValue> {
        self.keyspace
            .get(key(tag, name))
            .unwrap_or_else(|e| fatal("read", &e))
    }

    fn text(&self, tag: u8, name: &str) -> Option<String> {
        self.get(tag, name)
            .map(|value| String::from_utf8_lossy(&value).into_owned())
    }

    fn after<T>(
        &self,
        tag: u8,
        after: Option<&str>,
        max: usize,
        decode: impl Fn(&str, &[u8]) -> T,
    ) -> Vec<(String, T)> {
        let start = match after {
            Some(after) => Bound::Excluded(key(tag, after)),
            None => Bound::Included(vec![tag]),
        };
        let end = Bound::Excluded(vec![tag + 1]);
        self.keyspace
            .range((start, end))
            .take(max)
            .map(|guard| {
                let (name, value) = guard.into_inner().unwrap_or_else(|e| fatal("scan", &e));
                let name = String::from_utf8_lossy(&name[1..]).into_owned();
                let value = decode(&name, &value);
                (name, value)
            })
            .collect()
    }
}

impl StateStore for DiskStore {
    fn entry(&self, name: &str) -> Option<Stored> {
        self.get(ENTRY, name)
            .map(|value| self.decode_entry(name, &value))
    }

    fn summary(&self, id: &str) -> Option<SummaryMark> {
        self.get(SUMMARY, id).map(|value| decode(&value))
    }

    fn holder(&self, invt_no: &str) -> Option<String> {
        self.text(HOLDER, invt_no)
    }

    fn superseding(&self, invt_no: &str) -> Option<String> {
        self.text(SUPERSEDING, invt_no)
    }

    fn write(&mut self, changes: Changes) {
        let mut batch = self.db.batch();
        let (keyspace, dictionary) = (&self.keyspace, &mut self.dictionary);
        let mut put = |tag: u8, name: &str, value: Option<Vec<u8>>| match value {
            Some(value) => batch.insert(keyspace, key(tag, name), value),
            None => batch.remove(keyspace, key(tag, name)),
        };
        for (name, stored) in &changes.entries {
            let value = stored
                .as_ref()
                .map(|stored| codec::encode(name, stored, dictionary));
            put(ENTRY, name, value);
        }
        for (id, mark) in &changes.summaries {
            put(SUMMARY, id, mark.as_ref().map(encode));
        }
        for (invt_no, holder) in &changes.holders {
            put(
                HOLDER,
                invt_no,
                holder.as_ref().map(|h| h.as_bytes().to_vec()),
            );
        }
        for (invt_no, by) in &changes.superseding {
            put(
                SUPERSEDING,
                invt_no,
                by.as_ref().map(|b| b.as_bytes().to_vec()),
            );
        }
        batch.commit().unwrap_or_else(|e| fatal("write", &e));
    }

    fn entries_after(&self, after: Option<&str>, max: usize) -> Vec<(String, Stored)> {
        self.after(ENTRY, after, max, |name, bytes| {
            self.decode_entry(name, bytes)
        })
    }

    fn summaries_after(&self, after: Option<&str>, max: usize) -> Vec<(String, SummaryMark)> {
        self.after(SUMMARY, after, max, |_, bytes| decode(bytes))
    }
}

#[cfg(test)]
mod tests;
