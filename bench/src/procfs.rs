//! What Linux's `/proc` says about our processes and the machine.
//!
//! Guarantees: CPU time is `utime + stime` of `/proc/<pid>/stat` (the process's
//! own threads, not its children), converted with the real `CLK_TCK` from
//! `getconf`, never an assumed 100; peak memory is `VmHWM` of
//! `/proc/<pid>/status` (resident set high-water mark). Both must be read while
//! the process is alive; a missing value is an error, not a zero.
//! See proc(5): <https://man7.org/linux/man-pages/man5/proc.5.html>.

use std::process::Command;

use anyhow::{Context, bail};
use serde::Serialize;

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`).
pub fn clock_ticks_per_second() -> anyhow::Result<u64> {
    let output = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("running getconf CLK_TCK")?;
    if !output.status.success() {
        bail!("getconf CLK_TCK failed: {}", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("getconf CLK_TCK printed {text:?}"))
}

/// `utime + stime` of a live process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may hold spaces, so
    // count fields from the last ')'; utime and stime are fields 14 and 15.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path} has no command name"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> anyhow::Result<u64> {
        // Field 3 is the first after the name.
        let text = fields
            .get(number - 3)
            .with_context(|| format!("{path} has no field {number}"))?;
        text.parse()
            .with_context(|| format!("{path} field {number} is {text:?}"))
    };
    Ok(field(14)? + field(15)?)
}

/// Peak resident set size (`VmHWM`) of a live process, in bytes.
pub fn peak_rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .with_context(|| format!("{path} has no VmHWM"))?;
    let kib: u64 = line
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("{path} VmHWM is {line:?}"))?;
    Ok(kib * 1024)
}

/// Busy clock ticks of all CPUs together since boot (`/proc/stat`, `cpu` line).
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    /// Ticks not idle and not waiting for I/O.
    pub busy: u64,
}

/// Reads the machine-wide CPU times.
pub fn machine_cpu_times() -> anyhow::Result<CpuTimes> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat
        .lines()
        .find(|line| line.starts_with("cpu "))
        .context("/proc/stat has no cpu line")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|value| value.parse().context("/proc/stat cpu field"))
        .collect::<anyhow::Result<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]; guest
    // time is already included in user, so it is not added again.
    let get = |index: usize| values.get(index).copied().unwrap_or(0);
    Ok(CpuTimes {
        busy: get(0) + get(1) + get(2) + get(5) + get(6) + get(7),
    })
}

/// The machine the numbers were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Online CPUs (`nproc`).
    pub num_cpus: usize,
    /// `model name` of the first CPU in /proc/cpuinfo.
    pub cpu_model: String,
    /// `MemTotal` of /proc/meminfo.
    pub memory_bytes: u64,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// 1-, 5- and 15-minute load averages when the benchmark started.
    pub load_average_at_start: String,
}

/// Describes this machine.
pub fn machine() -> anyhow::Result<Machine> {
    let num_cpus = std::thread::available_parallelism()
        .context("counting CPUs")?
        .get();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").context("reading /proc/cpuinfo")?;
    let cpu_model = cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown (no model name in /proc/cpuinfo)".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    let memory_kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("/proc/meminfo has no MemTotal")?;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_owned())
        .unwrap_or_default();
    let load_average_at_start = std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Ok(Machine {
        num_cpus,
        cpu_model,
        memory_bytes: memory_kib * 1024,
        kernel,
        load_average_at_start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() -> anyhow::Result<()> {
        let pid = std::process::id();
        // Burn a little CPU so the count cannot be a stale zero.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert_ne!(std::hint::black_box(x), 1);
        assert!(cpu_ticks(pid)? > 0);
        assert!(peak_rss_bytes(pid)? > 1024 * 1024);
        assert!(clock_ticks_per_second()? > 0);
        assert!(machine_cpu_times()?.busy > 0);
        assert!(machine()?.num_cpus > 0);
        Ok(())
    }
}
