//! The benchmark's results: one JSON document and a Markdown table rendered
//! from it (printed and written next to it).
//!
//! Guarantees: every number in the table comes from the JSON document; a
//! measurement that was not made or whose metric is not exported is shown as
//! "n/a", never as a made-up value.

use std::fmt::Write as _;

use serde::Serialize;

use crate::latency::{LatencyResult, Seconds};
use crate::procfs::Machine;
use crate::throughput::RunResult;

/// Issue 6, item 7: throughput at least this fraction of the ceiling.
pub const TARGET_RATIO: f64 = 0.5;
/// Issue 6, item 7: p99 event-to-queryable latency below this at half load.
pub const TARGET_P99_SECONDS: f64 = 0.5;

/// How the benchmark was invoked.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Raw messages per throughput run.
    pub num_messages: usize,
    /// Generator seed.
    pub seed: u64,
    /// Partitions of the main run.
    pub partitions: i32,
    /// Partition (= instance) counts of the scaling runs.
    pub scaling: Vec<i32>,
    /// Latency load duration (0: skipped).
    pub latency_seconds: f64,
    /// `--rate` if given.
    pub rate_opt: Option<f64>,
    /// `--latency-fractions` (unused with `--rate`).
    pub latency_fractions: Vec<f64>,
    /// Service config files used.
    pub config_dir: String,
    /// Source revision of the binaries, as given by `bench/run`.
    pub revision: String,
    /// `--env` service settings that override the deployed ones.
    pub overrides: Vec<String>,
}

impl Settings {
    /// The `bench/run` command line that repeats this run.
    pub fn command(&self) -> String {
        let scaling: Vec<String> = self.scaling.iter().map(i32::to_string).collect();
        let scaling = if scaling.is_empty() {
            "none".to_owned()
        } else {
            scaling.join(",")
        };
        let mut command = format!(
            "bench/run --messages {} --partitions {} --scaling {} --latency-seconds {} --seed {}",
            self.num_messages, self.partitions, scaling, self.latency_seconds, self.seed
        );
        if let Some(rate) = self.rate_opt {
            command.push_str(&format!(" --rate {rate}"));
        } else {
            let fractions: Vec<String> =
                self.latency_fractions.iter().map(f64::to_string).collect();
            command.push_str(&format!(" --latency-fractions {}", fractions.join(",")));
        }
        for setting in &self.overrides {
            command.push_str(&format!(" --env {setting}"));
        }
        command
    }
}

/// Everything one invocation measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// UTC start time, RFC 3339.
    pub started_at: String,
    /// Where it ran.
    pub machine: Machine,
    /// How it ran.
    pub settings: Settings,
    /// The main run: `partitions` partitions, one instance per service.
    pub throughput: RunResult,
    /// Latency at fixed offered loads, one run per load.
    pub latency: Vec<LatencyResult>,
    /// One run per entry of `settings.scaling`.
    pub scaling: Vec<RunResult>,
}

fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".to_owned();
    }
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) && digit != '-' {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / (1024.0 * 1024.0))
}

fn opt_seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}"))
}

fn quantile(value: &Seconds) -> String {
    if value.above_largest_bucket {
        format!("> {:.3} s", value.seconds)
    } else {
        format!("{:.3} s", value.seconds)
    }
}

/// Stages run concurrently on a backlog, so a stage that catches up long
/// after its upstream is slower than it; if none lags (by more than a second,
/// a few batch intervals), the first stage sets the pace.
fn slowest_stage(run: &RunResult) -> String {
    let m = &run.milestones;
    let (Some(ingest), Some(normalize), Some(aggregate)) = (
        m.ingest_done_seconds,
        m.normalize_done_seconds,
        m.aggregate_done_seconds,
    ) else {
        return "n/a".to_owned();
    };
    if aggregate - normalize > 1.0 {
        format!(
            "the aggregate (caught up {:.1} s after normalize)",
            aggregate - normalize
        )
    } else if normalize - ingest > 1.0 {
        format!(
            "normalize (caught up {:.1} s after ingest)",
            normalize - ingest
        )
    } else {
        "ingest (the others caught up within a second of it)".to_owned()
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}

impl Report {
    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let s = &self.settings;
        let t = &self.throughput;
        let _ = writeln!(out, "# customs-pipeline end-to-end benchmark\n");
        let _ = writeln!(
            out,
            "{} · revision `{}` · `{}{}`\n",
            self.started_at,
            s.revision,
            s.command(),
            if t.profiles.is_empty() { "" } else { " --perf" }
        );
        let _ = writeln!(
            out,
            "Machine: {} × {}, {:.1} GiB RAM, Linux {}; load average at start {}. Shared and \
             noisy (other builds and tests run at the same time): compare the ratios within \
             one run, not absolute numbers across runs.\n",
            m.num_cpus,
            m.cpu_model,
            m.memory_bytes as f64 / (1u64 << 30) as f64,
            m.kernel,
            m.load_average_at_start
        );
        let _ = writeln!(
            out,
            "Feed: {} generated messages (seed {}, default mix and fault rates), {} MiB, \
             preloaded into a fresh raw topic per run. Services: release binaries with \
             `{}/*.toml` (exactly-once transactions on), topics/groups/ids/loopback ports \
             overridden by `CUSTOMS_<SERVICE>_*` variables. Broker: one local KRaft node.\n",
            thousands(t.num_messages as f64),
            s.seed,
            mib(t.num_bytes),
            s.config_dir
        );
        if !s.overrides.is_empty() {
            let _ = writeln!(
                out,
                "**Not the deployed settings**: overridden with {}.\n",
                s.overrides.join(", ")
            );
        }
        let _ = writeln!(out, "## Throughput\n");
        let _ = writeln!(
            out,
            "Pipeline = messages / time from spawning the processes until the aggregate has \
             read every classified record. Ceiling = a bare rdkafka `BaseConsumer` \
             (read_committed, fresh group) reading the same raw topic. Both clocks include \
             their group join. ingest+normalize = messages / time until normalize had \
             caught up: the two exactly-once stages without the aggregate.\n"
        );
        let _ = writeln!(
            out,
            "| run | partitions | ingest/normalize/aggregate | ceiling msg/s | pipeline msg/s | \
             pipeline/ceiling | ingest+normalize msg/s | first progress s | ingest done s | normalize done s | aggregate done s | \
             CPU s/1k msgs | machine busy cores |"
        );
        let _ = writeln!(
            out,
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for run in std::iter::once(t).chain(&self.scaling) {
            let _ = writeln!(
                out,
                "| {} | {} | {n}/{n}/1 | {} | {} | {:.2} | {} | {} | {} | {} | {} | {:.3} | {:.2} |",
                run.label,
                run.partitions,
                thousands(run.ceiling.messages_per_second),
                thousands(run.messages_per_second),
                run.ratio_to_ceiling,
                run.transactional_stages_messages_per_second
                    .map_or_else(|| "n/a".to_owned(), thousands),
                opt_seconds(run.milestones.first_progress_seconds),
                opt_seconds(run.milestones.ingest_done_seconds),
                opt_seconds(run.milestones.normalize_done_seconds),
                opt_seconds(run.milestones.aggregate_done_seconds),
                run.total_cpu_seconds_per_1k_messages,
                run.machine_busy_cores,
                n = run.num_instances,
            );
        }
        let _ = writeln!(out, "\n## Resources, run `{}`\n", t.label);
        let _ = writeln!(
            out,
            "CPU = utime+stime of each process from /proc/<pid>/stat over its whole life until \
             the aggregate was done; peak RSS = VmHWM. Transactions from the stages' own \
             metrics: a transaction covers transform, produce and commit of a batch; busy time \
             runs from spawn until the stage had caught up, and what is not in transactions \
             is start-up, collecting the next batch and waiting for input.\n"
        );
        let _ = writeln!(
            out,
            "| service | CPU s | CPU s per 1,000 msgs | peak RSS MiB | transactions (aborted) | \
             records/transaction | mean (p99) transaction ms | share of busy time in transactions |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for service in &t.services {
            let transactions = match &service.transactions {
                Some(x) => format!(
                    "{} ({}) | {:.0} | {:.1} ({}) | {:.2}",
                    x.num_committed,
                    x.num_aborted,
                    x.records_per_transaction,
                    x.mean_transaction_ms,
                    x.p99_transaction_ms
                        .map_or_else(|| "n/a".to_owned(), |ms| format!("{ms:.0}")),
                    x.share_of_busy_time
                ),
                None => "n/a | n/a | n/a | n/a".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:.3} | {} | {} |",
                service.service,
                service.cpu_seconds,
                service.cpu_seconds_per_1k_messages,
                mib(service.peak_rss_bytes_max),
                transactions
            );
        }
        let total_cpu: f64 = t.services.iter().map(|s| s.cpu_seconds).sum();
        let total_rss: u64 = t.services.iter().map(|s| s.peak_rss_bytes_sum).sum();
        let _ = writeln!(
            out,
            "| **total** | {:.2} | {:.3} | {} | | | | |",
            total_cpu,
            t.total_cpu_seconds_per_1k_messages,
            mib(total_rss)
        );
        for run in std::iter::once(t).chain(&self.scaling) {
            if !run.unclean_stops.is_empty() {
                let _ = writeln!(
                    out,
                    "\nRun `{}`: did not stop cleanly on SIGTERM: {}.",
                    run.label,
                    run.unclean_stops.join(", ")
                );
            }
        }
        self.latency_markdown(&mut out);
        if !t.profiles.is_empty() {
            let _ = writeln!(
                out,
                "\n## Profile, run `{}` (`--perf`: perf record -F 499, self time)\n",
                t.label
            );
            let _ = writeln!(out, "| process | top symbols |");
            let _ = writeln!(out, "|---|---|");
            for profile in &t.profiles {
                let mut top: Vec<String> = profile
                    .top
                    .iter()
                    .map(|h| format!("{:.1} % `{}`", h.percent, h.symbol))
                    .collect();
                if let Some(error) = &profile.error {
                    top.push(format!("n/a: {error}"));
                }
                let _ = writeln!(out, "| {} | {} |", profile.instance, top.join("<br>"));
            }
        }
        let _ = writeln!(out, "\n## Against the targets of issue 6, item 7\n");
        let _ = writeln!(
            out,
            "- pipeline/ceiling ≥ {TARGET_RATIO:.2}: {:.2} — {}",
            t.ratio_to_ceiling,
            met(t.ratio_to_ceiling >= TARGET_RATIO)
        );
        if let Some(rate) = t.transactional_stages_messages_per_second {
            let _ = writeln!(
                out,
                "  (ingest+normalize alone: {:.2} of the ceiling)",
                rate / t.ceiling.messages_per_second
            );
        }
        let _ = writeln!(
            out,
            "- slowest stage in run `{}`: {}",
            t.label,
            slowest_stage(t)
        );
        let meets = |l: &LatencyResult| {
            l.histogram
                .as_ref()
                .is_some_and(|h| !h.p99.above_largest_bucket && h.p99.seconds < TARGET_P99_SECONDS)
        };
        let half = self
            .latency
            .iter()
            .find(|l| l.fraction_of_max == Some(0.5))
            .and_then(|l| l.histogram.as_ref().map(|h| (l, h.p99)));
        let _ = match half {
            Some((l, p99)) => writeln!(
                out,
                "- p99 event-to-queryable < {TARGET_P99_SECONDS} s at half the maximum \
                 throughput ({} msg/s, histogram): {} — {}",
                thousands(l.offered_rate),
                quantile(&p99),
                met(meets(l))
            ),
            None => writeln!(
                out,
                "- p99 event-to-queryable < {TARGET_P99_SECONDS} s at half the maximum \
                 throughput: not measured (no run at 0.5 of it, or no histogram)"
            ),
        };
        match self
            .latency
            .iter()
            .filter(|l| meets(l))
            .max_by(|a, b| a.offered_rate.total_cmp(&b.offered_rate))
        {
            Some(l) => {
                let _ = writeln!(
                    out,
                    "  (largest offered load here with p99 < {TARGET_P99_SECONDS} s: {} msg/s, \
                     {:.2} of the main run's throughput)",
                    thousands(l.offered_rate),
                    l.offered_rate / t.messages_per_second
                );
            }
            None if !self.latency.is_empty() => {
                let _ = writeln!(
                    out,
                    "  (no offered load here had p99 < {TARGET_P99_SECONDS} s)"
                );
            }
            None => {}
        }
        out
    }

    fn latency_markdown(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n## Event-to-queryable latency at fixed offered loads\n"
        );
        if self.latency.is_empty() {
            let _ = writeln!(out, "Not run (`--latency-seconds 0`).");
            return;
        }
        let _ = writeln!(
            out,
            "Each load on fresh topics ({} partitions, one instance per service, fresh \
             processes), offered for {} s after a warm-up marker went through. Histogram: \
             `{}` over the load and its drain, bucket-interpolated. Markers: declarations of \
             a category the load never has, one at a time, from just before the producer \
             takes one until `GetTotals` (polled every {} ms) counts it.\n",
            self.latency[0].partitions,
            self.latency[0].seconds,
            crate::latency::METRIC,
            crate::latency::MARKER_POLL.as_millis()
        );
        let _ = writeln!(
            out,
            "| offered msg/s (of max) | achieved msg/s | drain s | histogram samples | p50 | p99 | markers | marker p50 | marker max |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for l in &self.latency {
            let offered = match l.fraction_of_max {
                Some(fraction) => format!("{} ({fraction})", thousands(l.offered_rate)),
                None => thousands(l.offered_rate),
            };
            let (samples, p50, p99) = match &l.histogram {
                Some(h) => (
                    thousands(h.num_observations),
                    quantile(&h.p50),
                    quantile(&h.p99),
                ),
                None => ("n/a".to_owned(), "n/a".to_owned(), "n/a".to_owned()),
            };
            let (markers, marker_p50, marker_max) = match &l.markers {
                Some(k) => (
                    k.num_samples.to_string(),
                    format!("{:.3} s", k.p50_seconds),
                    format!("{:.3} s", k.max_seconds),
                ),
                None => ("0".to_owned(), "n/a".to_owned(), "n/a".to_owned()),
            };
            let _ = writeln!(
                out,
                "| {offered} | {} | {:.1} | {samples} | {p50} | {p99} | {markers} | {marker_p50} | {marker_max} |",
                thousands(l.achieved_rate),
                l.drain_seconds
            );
        }
        let _ = writeln!(
            out,
            "\n## Statistics API latency (release build)\n\n\
             After each load drained, services still running. `Query`: last 30 days by \
             partner country, top 10 by value, {} calls in a row; then {} clients at \
             once, {} calls each (`×{}` columns: their round trips and the queries answered \
             per second); `Subscribe` update: a marker produced to the raw topic until the \
             update counting it arrives, {} times. Client-side times over one gRPC \
             connection on loopback.\n",
            crate::api::NUM_QUERIES,
            crate::api::NUM_CLIENTS,
            crate::api::QUERIES_PER_CLIENT,
            crate::api::NUM_CLIENTS,
            crate::api::NUM_UPDATES
        );
        let _ = writeln!(
            out,
            "| after load msg/s | declarations held | Query p50 ms | Query p99 ms | Query ×{n} p50 ms | Query ×{n} p99 ms | ×{n} queries/s | Subscribe update p50 ms | Subscribe update max ms |",
            n = crate::api::NUM_CLIENTS
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for l in &self.latency {
            let api = &l.api;
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                thousands(l.offered_rate),
                thousands(api.num_declarations as f64),
                api.query.p50,
                api.query.p99,
                api.concurrent_query.p50,
                api.concurrent_query.p99,
                api.concurrent_queries_per_second,
                api.subscription_update.p50,
                api.subscription_update.max
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(f64::NAN), "n/a");
    }
}
