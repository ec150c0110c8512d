//! Code tables reloaded without a restart: on SIGHUP the service reads its
//! `code_tables_dir` again and, when the tables load and differ, hands the
//! new set to `apply` (ingest and normalize swap it in between two batches,
//! through a [`TableSlot`]; the aggregate answers with it from the next
//! query on). A table that does not load is logged with its name and
//! counted, and the tables in use stay: a bad edit never stops a service or
//! changes a figure half-way. Which set is in use is its version
//! (`customs_<service>_code_tables_info{version}`, and in the aggregate's
//! answers).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use customs_domain::CodeTables;
use tokio_util::sync::CancellationToken;

/// A new table set waiting for the next batch.
#[derive(Debug, Clone, Default)]
pub struct TableSlot(Arc<Mutex<Option<CodeTables>>>);

impl TableSlot {
    /// Puts `tables` in, replacing any set not taken yet.
    pub fn put(&self, tables: CodeTables) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(tables);
    }

    /// The set waiting, if any (taken out).
    pub fn take(&self) -> Option<CodeTables> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A [`TableSlot`] that SIGHUP reloads of `dir` fill until `shutdown`
/// ([`reload_on_sighup`]), for a transform that takes them between batches.
pub fn reloading_slot(
    service: &'static str,
    dir: Option<PathBuf>,
    version: &str,
    shutdown: &CancellationToken,
) -> TableSlot {
    let slot = TableSlot::default();
    let filled = slot.clone();
    reload_on_sighup(
        service,
        dir,
        version.to_owned(),
        shutdown.clone(),
        move |tables| {
            filled.put(tables);
        },
    );
    slot
}

/// Until `shutdown`: on every SIGHUP, loads the tables of `dir` again and
/// passes a set whose version differs from the one in use to `apply`.
/// `version` is the version in use at start. Without a directory there is
/// nothing to reload (the embedded tables are part of the binary).
pub fn reload_on_sighup(
    service: &'static str,
    dir: Option<PathBuf>,
    version: String,
    shutdown: CancellationToken,
    apply: impl Fn(CodeTables) + Send + 'static,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; code tables reload only at restart");
            return;
        }
    };
    for outcome in ["applied", "unchanged", "failed"] {
        let _registered = counter(service, outcome);
    }
    tokio::spawn(async move {
        let mut in_use = version;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                received = hangups.recv() => if received.is_none() { return },
            }
            let Some(dir) = dir.clone() else {
                tracing::warn!("SIGHUP: no code_tables_dir is configured, nothing to reload");
                continue;
            };
            let loaded = tokio::task::spawn_blocking(move || CodeTables::load(&dir)).await;
            match loaded {
                Ok(Ok(tables)) if tables.version() == in_use => {
                    counter(service, "unchanged").increment(1);
                    tracing::info!(version = %in_use, "SIGHUP: code tables unchanged");
                }
                Ok(Ok(tables)) => {
                    counter(service, "applied").increment(1);
                    customs_telemetry::code_tables_info(service, Some(&in_use), tables.version());
                    in_use = tables.version().to_owned();
                    apply(tables);
                }
                Ok(Err(error)) => {
                    counter(service, "failed").increment(1);
                    tracing::error!(%error, version = %in_use, "SIGHUP: code tables not reloaded, the ones in use stay");
                }
                Err(error) => {
                    counter(service, "failed").increment(1);
                    tracing::error!(%error, "SIGHUP: code table reload failed");
                }
            }
        }
    });
}

fn counter(service: &str, outcome: &'static str) -> metrics::Counter {
    metrics::counter!(
        format!("customs_{service}_code_table_reloads_total"),
        "outcome" => outcome,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_hands_a_set_over_once() {
        let slot = TableSlot::default();
        assert!(slot.take().is_none());
        slot.clone().put(CodeTables::embedded());
        assert!(slot.take().is_some());
        assert!(slot.take().is_none(), "taken once");
    }
}
