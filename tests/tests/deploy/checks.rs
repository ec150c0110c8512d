//! The rules the deployment files must follow, as pure functions that return
//! what is wrong (an empty list or `Ok` when nothing is), so each rule is
//! tested on a broken input as well as on the real files.

use std::collections::{BTreeMap, BTreeSet};

use figment::Figment;
use figment::providers::Serialized;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The repository name of the image the Dockerfile builds.
pub const OWN_IMAGE: &str = "customs-pipeline";

/// An image is either ours, tagged with the workspace version, or a public
/// image pinned to a version tag or a digest (never `latest` or no tag).
pub fn check_image(image: &str, version: &str) -> Result<(), String> {
    if image.contains("@sha256:") {
        return Ok(());
    }
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    let Some((name, tag)) = last_segment.split_once(':') else {
        return Err(format!("image {image} has no tag"));
    };
    if name == OWN_IMAGE && !image.contains('/') {
        return if tag == version {
            Ok(())
        } else {
            Err(format!(
                "image {image}: our image is tagged with the workspace version {version}"
            ))
        };
    }
    if tag == "latest" || !tag.chars().any(|c| c.is_ascii_digit()) {
        return Err(format!("image {image} is not pinned to a version"));
    }
    Ok(())
}

/// An environment variable on a container running `program` (`ingest`,
/// `normalize`, `aggregate` or the `customs` CLI) must be one it reads:
/// `KAFKA_BOOTSTRAP_SERVERS`, `CUSTOMS_<SERVICE>_CONFIG` (the `--config`
/// fallback) or `CUSTOMS_<SERVICE>_<KEY>` where KEY (nested keys joined by
/// `__`) is a config key and the value fits its type, loaded the way
/// `customs_service::config` loads the environment.
pub fn check_env(program: &str, name: &str, value: &str) -> Result<(), String> {
    if name == "KAFKA_BOOTSTRAP_SERVERS" {
        return Ok(());
    }
    let prefix = format!("CUSTOMS_{}_", program.to_uppercase());
    let Some(key) = name.strip_prefix(&prefix) else {
        return Err(format!("{name} is not read by {program}"));
    };
    if key == "CONFIG" && program != "customs" {
        return Ok(());
    }
    let dotted = key.to_lowercase().replace("__", ".");
    let loaded = match program {
        "ingest" => loads::<customs_ingest::Config>(&dotted, value),
        "normalize" => loads::<customs_normalize::Config>(&dotted, value),
        "aggregate" => loads::<customs_aggregate::Config>(&dotted, value),
        _ => Err(format!("{program} reads no CUSTOMS_ variables")),
    };
    loaded.map_err(|err| format!("{name}={value} does not load for {program}: {err}"))
}

/// Whether `dotted = value` on top of `C`'s defaults extracts into `C`
/// (its config structs deny unknown fields).
fn loads<C: Serialize + DeserializeOwned + Default>(
    dotted: &str,
    value: &str,
) -> Result<(), String> {
    let parsed: figment::value::Value = value.parse().unwrap_or_else(|never| match never {});
    Figment::from(Serialized::defaults(C::default()))
        .merge(Serialized::default(dotted, parsed))
        .extract::<C>()
        .map(drop)
        .map_err(|err| err.to_string())
}

/// Every panel of a Grafana dashboard (rows only group panels and are
/// skipped) has a datasource among `uids`, at least one query, and no query
/// without an expression or with a foreign datasource.
pub fn check_dashboard(dashboard: &Value, uids: &BTreeSet<String>) -> Vec<String> {
    let mut errors = Vec::new();
    let mut ids = BTreeSet::new();
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        if !ids.insert(panel["id"].to_string()) {
            errors.push(format!("panel {title}: id {} used twice", panel["id"]));
        }
        if panel["type"] == "row" {
            continue;
        }
        let uid_ok =
            |datasource: &Value| datasource["uid"].as_str().is_some_and(|u| uids.contains(u));
        if !uid_ok(&panel["datasource"]) {
            errors.push(format!(
                "panel {title}: datasource {} is not provisioned",
                panel["datasource"]
            ));
        }
        let targets = panel["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if targets.is_empty() {
            errors.push(format!("panel {title}: no queries"));
        }
        for target in targets {
            if target["expr"]
                .as_str()
                .is_none_or(|expr| expr.trim().is_empty())
            {
                errors.push(format!(
                    "panel {title}: query {} has no expression",
                    target["refId"]
                ));
            }
            if !target["datasource"].is_null() && !uid_ok(&target["datasource"]) {
                errors.push(format!(
                    "panel {title}: query {} has a foreign datasource",
                    target["refId"]
                ));
            }
        }
    }
    errors
}

/// All panels, those inside collapsed rows included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all
}

/// The `customs_*` metric names and `customs:*` recorded names a PromQL
/// expression (or a promtool series selector) uses. Quoted text (label
/// values, label_replace arguments) is skipped.
pub fn promql_names(expr: &str) -> BTreeSet<String> {
    let mut unquoted = String::with_capacity(expr.len());
    let mut quote = None;
    for c in expr.chars() {
        match quote {
            Some(open) if c == open => quote = None,
            Some(_) => {}
            None if matches!(c, '"' | '\'' | '`') => quote = Some(c),
            None => unquoted.push(c),
        }
    }
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    unquoted
        .split(|c: char| !is_ident(c))
        .filter(|word| word.starts_with("customs_") || word.starts_with("customs:"))
        .map(str::to_owned)
        .collect()
}

/// Each `customs_*` name in `exprs` (where → expression) is documented (a
/// histogram's `_bucket`, `_sum` and `_count` series count as its name) and
/// each `customs:*` name is recorded by a rule in `records`.
pub fn check_metric_names(
    exprs: &[(String, String)],
    documented: &BTreeMap<String, String>,
    records: &BTreeSet<String>,
) -> Vec<String> {
    let mut errors = Vec::new();
    for (origin, expr) in exprs {
        for name in promql_names(expr) {
            let known = if name.starts_with("customs:") {
                records.contains(&name)
            } else {
                documented.contains_key(&name)
                    || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                        name.strip_suffix(suffix)
                            .and_then(|base| documented.get(base))
                            .is_some_and(|kind| kind == "histogram")
                    })
            };
            if !known {
                errors.push(format!(
                    "{origin}: {name} is not in docs/metrics.md or a recording rule"
                ));
            }
        }
    }
    errors
}
