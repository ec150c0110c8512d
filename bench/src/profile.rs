//! Optional (`--perf`) CPU profile of every service process during the main
//! throughput run, to see what dominates (issue 6, item 7).
//!
//! Guarantees: one `perf record -F 499 -p <pid>` per process (sampling, no
//! call graphs, so the attribution is by self time only), started once
//! ingest has committed its first batch (start-up is not profiled) and
//! stopped with SIGINT when the aggregate is done;
//! the `perf.data` files stay in the run's log directory for `perf report`.
//! Every `perf` process is stopped again, on any path. The summary is the
//! top symbols by self time of each process, as `perf report` prints them.
//! See perf-record(1): <https://man7.org/linux/man-pages/man1/perf-record.1.html>.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::services::Pipeline;

/// Symbols kept per process.
const TOP_SYMBOLS: usize = 6;

/// One symbol's share of a process's samples.
#[derive(Debug, Clone, Serialize)]
pub struct Hotspot {
    /// Percent of the process's samples, self time.
    pub percent: f64,
    /// Symbol, as `perf report` names it (`[k]` kernel, `[.]` user).
    pub symbol: String,
}

/// The profile of one process.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// `ingest-0`, ...
    pub instance: String,
    /// Where `perf.data` is.
    pub data_path: String,
    /// Top symbols by self time.
    pub top: Vec<Hotspot>,
    /// Why there is no summary (`perf report` failed), if so.
    pub error: Option<String>,
}

/// Running `perf record` processes.
pub struct Recording {
    recorders: Vec<(String, PathBuf, Option<Child>)>,
}

/// Fails early when `perf` cannot run.
pub fn check_available() -> anyhow::Result<()> {
    let status = Command::new("perf")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .context("--perf needs the perf tool (linux-perf)")?;
    if !status.success() {
        bail!("perf --version failed: {status}");
    }
    Ok(())
}

/// Attaches `perf record` to every process of `pipeline`.
pub fn start(pipeline: &Pipeline, dir: &Path) -> anyhow::Result<Recording> {
    let mut recording = Recording {
        recorders: Vec::new(),
    };
    for instance in &pipeline.instances {
        let pid = instance.pid().context("instance without a process")?;
        let data = dir.join(format!("{}.perf.data", instance.name()));
        let log = dir.join(format!("{}.perf.log", instance.name()));
        let child = Command::new("perf")
            .args(["record", "-F", "499", "-p", &pid.to_string(), "-o"])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).with_context(|| format!("creating {}", log.display()))?)
            .spawn()
            .context("starting perf record")?;
        recording
            .recorders
            .push((instance.name().to_owned(), data, Some(child)));
    }
    Ok(recording)
}

impl Recording {
    /// Stops every recorder (SIGINT, so it writes its file) and summarises.
    pub fn finish(mut self) -> anyhow::Result<Vec<Profile>> {
        for (_, _, child) in &self.recorders {
            if let Some(child) = child {
                let _ = Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut profiles = Vec::new();
        for (instance, data, child) in &mut self.recorders {
            let Some(mut child) = child.take() else {
                continue;
            };
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    child.kill()?;
                    child.wait()?;
                    bail!("perf record for {instance} did not stop");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let (top, error) = match report(data) {
                Ok(top) => (top, None),
                Err(err) => (Vec::new(), Some(format!("{err:#}"))),
            };
            profiles.push(Profile {
                instance: instance.clone(),
                data_path: data.display().to_string(),
                top,
                error,
            });
        }
        Ok(profiles)
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        for (_, _, child) in &mut self.recorders {
            if let Some(mut child) = child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Top symbols by self time of one `perf.data`.
fn report(data: &Path) -> anyhow::Result<Vec<Hotspot>> {
    let output = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "symbol",
            "-i",
        ])
        .arg(data)
        .stderr(Stdio::null())
        .output()
        .context("running perf report")?;
    if !output.status.success() {
        bail!(
            "perf report -i {} failed: {}",
            data.display(),
            output.status
        );
    }
    Ok(parse_report(&String::from_utf8_lossy(&output.stdout)))
}

/// Lines like `    83.27%  [.] customs_domain::lifecycle::Lifecycle::num_waiting`.
fn parse_report(text: &str) -> Vec<Hotspot> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            if line.starts_with('#') {
                return None;
            }
            let (percent, rest) = line.split_once('%')?;
            let percent: f64 = percent.trim().parse().ok()?;
            // Newer perf versions append more columns after two spaces.
            let symbol = rest
                .trim()
                .split("  ")
                .next()
                .unwrap_or_default()
                .to_owned();
            (!symbol.is_empty()).then_some(Hotspot { percent, symbol })
        })
        .take(TOP_SYMBOLS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_perf_report_lines() {
        let text = "# Samples: 4K of event 'cpu-clock'\n#\n    83.27%  [.] customs_domain::lifecycle::Lifecycle::num_waiting  -      -\n     1.63%  [.] malloc_consolidate\n\n";
        let top = parse_report(text);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].percent, 83.27);
        assert_eq!(
            top[0].symbol,
            "[.] customs_domain::lifecycle::Lifecycle::num_waiting"
        );
    }
}
