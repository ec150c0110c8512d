//! Reading the services' Prometheus `/metrics` over loopback HTTP.
//!
//! Guarantees: a scrape either returns every sample of one `200 OK` response
//! or an error (connection refused, timeout, other status), never a partial
//! set. Counters are summed over label sets on request. Histogram quantiles
//! are **bucket-interpolated** the way PromQL's `histogram_quantile` does it
//! (linear within the bucket that holds the rank), so they are only as fine as
//! the buckets; a rank in the `+Inf` bucket is reported as "above the largest
//! finite bound", not as a number.
//! Format: <https://prometheus.io/docs/instrumenting/exposition_formats/>.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// One sample line: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with `_bucket`/`_sum`/`_count` for histograms).
    pub name: String,
    /// Label pairs in the order given.
    pub labels: Vec<(String, String)>,
    /// Sample value.
    pub value: f64,
}

/// All samples of one scrape.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<Sample>);

/// Fetches and parses `http://{addr}/metrics`.
pub async fn scrape(addr: SocketAddr) -> anyhow::Result<Samples> {
    let body = tokio::time::timeout(SCRAPE_TIMEOUT, get_metrics(addr))
        .await
        .with_context(|| format!("scraping {addr} timed out"))??;
    parse(&body)
}

async fn get_metrics(addr: SocketAddr) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    // HTTP/1.0: the server closes after the response and cannot use chunked
    // encoding, so the body is everything after the header.
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8(response).context("metrics response is not UTF-8")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("metrics response has no header end")?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        bail!("GET http://{addr}/metrics answered {status:?}");
    }
    Ok(body.to_owned())
}

/// Parses the Prometheus text exposition format.
pub fn parse(text: &str) -> anyhow::Result<Samples> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        samples.push(parse_line(line).with_context(|| format!("metrics line {line:?}"))?);
    }
    Ok(Samples(samples))
}

fn parse_line(line: &str) -> anyhow::Result<Sample> {
    let name_end = line
        .find(['{', ' '])
        .context("no value after the metric name")?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(after_brace)?;
        labels = parsed;
        rest = after;
    }
    let value_text = rest
        .split_whitespace()
        .next()
        .context("no value after the labels")?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().context("value is not a number")?,
    };
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// Parses `a="x",b="y"}` and returns the labels and what follows the `}`.
fn parse_labels(text: &str) -> anyhow::Result<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (key, after_key) = rest.split_once("=\"").context("label without =\"")?;
        let mut value = String::new();
        let mut chars = after_key.char_indices();
        let end = loop {
            match chars.next() {
                Some((index, '"')) => break index,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, escaped)) => value.push(escaped),
                    None => bail!("label value ends in a backslash"),
                },
                Some((_, other)) => value.push(other),
                None => bail!("unterminated label value"),
            }
        };
        labels.push((key.trim().to_owned(), value));
        rest = &after_key[end + 1..];
    }
}

impl Samples {
    /// Sum of the samples named `name` whose labels include every pair of
    /// `filter`; `None` when no sample matches (the metric is not exported).
    pub fn sum(&self, name: &str, filter: &[(&str, &str)]) -> Option<f64> {
        let mut matched = self
            .0
            .iter()
            .filter(|sample| sample.name == name && has_labels(sample, filter))
            .peekable();
        matched.peek()?;
        Some(matched.map(|sample| sample.value).sum())
    }

    /// The histogram `name` (from its `_bucket` samples), summed over all
    /// other labels; `None` when it is not exported.
    pub fn histogram(&self, name: &str) -> Option<Histogram> {
        let bucket_name = format!("{name}_bucket");
        // Bounds are few (tens), so a linear merge is simplest.
        let mut bounds: Vec<(f64, f64)> = Vec::new();
        for sample in self.0.iter().filter(|sample| sample.name == bucket_name) {
            let le =
                sample.labels.iter().find(|(key, _)| key == "le").and_then(
                    |(_, value)| match value.as_str() {
                        "+Inf" => Some(f64::INFINITY),
                        other => other.parse::<f64>().ok(),
                    },
                )?;
            match bounds.iter_mut().find(|(bound, _)| *bound == le) {
                Some((_, count)) => *count += sample.value,
                None => bounds.push((le, sample.value)),
            }
        }
        if bounds.is_empty() {
            return None;
        }
        bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Histogram { buckets: bounds })
    }
}

fn has_labels(sample: &Sample, filter: &[(&str, &str)]) -> bool {
    filter
        .iter()
        .all(|(key, value)| sample.labels.iter().any(|(k, v)| k == key && v == value))
}

/// Cumulative buckets `(upper bound, count of observations <= bound)`,
/// ascending, the last one `+Inf`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// `(le, cumulative count)` pairs.
    pub buckets: Vec<(f64, f64)>,
}

/// A quantile read from buckets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantile {
    /// Interpolated within a finite bucket, in the metric's unit.
    Interpolated(f64),
    /// The rank falls in the `+Inf` bucket: above this largest finite bound.
    Above(f64),
}

impl Histogram {
    /// Number of observations.
    pub fn count(&self) -> f64 {
        self.buckets.last().map(|(_, count)| *count).unwrap_or(0.0)
    }

    /// This histogram less an earlier scrape of the same one (the
    /// observations made in between); bounds missing earlier count as zero.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let buckets = self
            .buckets
            .iter()
            .map(|(le, count)| {
                let before = earlier
                    .buckets
                    .iter()
                    .find(|(bound, _)| bound == le)
                    .map(|(_, count)| *count)
                    .unwrap_or(0.0);
                (*le, count - before)
            })
            .collect();
        Histogram { buckets }
    }

    /// Observations of both, e.g. of two instances of one service. Both come
    /// from the same code and so have the same bounds; a bound missing from
    /// `other` counts as zero there.
    pub fn plus(&self, other: &Histogram) -> Histogram {
        if self.buckets.is_empty() {
            return other.clone();
        }
        let buckets = self
            .buckets
            .iter()
            .map(|(le, count)| {
                let theirs = other
                    .buckets
                    .iter()
                    .find(|(bound, _)| bound == le)
                    .map(|(_, count)| *count)
                    .unwrap_or(0.0);
                (*le, count + theirs)
            })
            .collect();
        Histogram { buckets }
    }

    /// The `q` quantile (0..=1), bucket-interpolated; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Quantile> {
        let total = self.count();
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut lower_bound = 0.0;
        let mut lower_count = 0.0;
        for (le, count) in &self.buckets {
            if *count >= rank {
                if le.is_infinite() {
                    return Some(Quantile::Above(lower_bound));
                }
                let in_bucket = count - lower_count;
                let fraction = if in_bucket > 0.0 {
                    (rank - lower_count) / in_bucket
                } else {
                    1.0
                };
                return Some(Quantile::Interpolated(
                    lower_bound + (le - lower_bound) * fraction,
                ));
            }
            lower_bound = *le;
            lower_count = *count;
        }
        Some(Quantile::Above(lower_bound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
# TYPE customs_ingest_messages_produced_total counter
customs_ingest_messages_produced_total{output="data"} 90
customs_ingest_messages_produced_total{output="dead_letter"} 10
customs_ingest_messages_consumed_total 100
# TYPE lat_seconds histogram
lat_seconds_bucket{stage="a",le="0.1"} 10
lat_seconds_bucket{stage="a",le="0.5"} 60
lat_seconds_bucket{stage="a",le="+Inf"} 100
lat_seconds_bucket{stage="b",le="0.1"} 0
lat_seconds_bucket{stage="b",le="0.5"} 0
lat_seconds_bucket{stage="b",le="+Inf"} 0
lat_seconds_sum 40.5
lat_seconds_count 100
weird{detail="a \"q\" \\ b"} 1.5e3
"#;

    #[test]
    fn sums_counters_by_label() -> anyhow::Result<()> {
        let samples = parse(TEXT)?;
        let produced = "customs_ingest_messages_produced_total";
        assert_eq!(samples.sum(produced, &[]), Some(100.0));
        assert_eq!(samples.sum(produced, &[("output", "data")]), Some(90.0));
        assert_eq!(
            samples.sum("customs_ingest_messages_consumed_total", &[]),
            Some(100.0)
        );
        assert_eq!(samples.sum("absent_total", &[]), None);
        assert_eq!(
            samples.sum("weird", &[("detail", "a \"q\" \\ b")]),
            Some(1500.0)
        );
        Ok(())
    }

    #[test]
    fn quantiles_interpolate_within_buckets() -> anyhow::Result<()> {
        let samples = parse(TEXT)?;
        let histogram = samples.histogram("lat_seconds").context("histogram")?;
        assert_eq!(histogram.count(), 100.0);
        // Rank 5 of 10 in [0, 0.1].
        assert_eq!(histogram.quantile(0.05), Some(Quantile::Interpolated(0.05)));
        // Rank 50: 40 of the 50 in (0.1, 0.5] -> 0.1 + 0.4 * 0.8.
        let Some(Quantile::Interpolated(p50)) = histogram.quantile(0.5) else {
            bail!("p50 not interpolated");
        };
        assert!((p50 - 0.42).abs() < 1e-9, "{p50}");
        assert_eq!(histogram.quantile(0.99), Some(Quantile::Above(0.5)));
        assert_eq!(samples.histogram("absent_seconds"), None);
        Ok(())
    }

    #[test]
    fn since_subtracts_an_earlier_scrape() {
        let before = Histogram {
            buckets: vec![(0.1, 1.0), (f64::INFINITY, 1.0)],
        };
        let after = Histogram {
            buckets: vec![(0.1, 3.0), (f64::INFINITY, 5.0)],
        };
        let delta = after.since(&before);
        assert_eq!(delta.buckets, vec![(0.1, 2.0), (f64::INFINITY, 4.0)]);
        let sum = Histogram::default().plus(&after).plus(&before);
        assert_eq!(sum.buckets, vec![(0.1, 4.0), (f64::INFINITY, 6.0)]);
        assert_eq!(Histogram { buckets: vec![] }.quantile(0.5), None);
    }
}
