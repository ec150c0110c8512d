//! The deployment files, checked without Docker or a cluster (none runs on the
//! project's machines): `docker-compose.yml`, `Dockerfile`,
//! `deploy/{prometheus,grafana,k8s}` and `docs/metrics.md`.
//!
//! Guarantees, each a test below: every YAML file parses; every dashboard
//! panel queries the provisioned datasource; every image is built by the
//! Dockerfile (and runs a binary it installs) or is a pinned public image;
//! every config path a container is given exists, and the Kubernetes
//! ConfigMap holds exactly `deploy/config/*.toml`; every probe, scrape target,
//! published port and container port is the one the services' own config
//! loaders read from those files; every environment variable set on a service
//! is one it reads, with a value of the right type; every metric name the
//! alert rules, their unit tests and the dashboard use is documented in
//! `docs/metrics.md`, and every alert has a unit test; the compose health
//! probe tells a 200 from a 503 and a closed port. The last test feeds each
//! check broken input, so none of them passes vacuously.

#[path = "deploy/checks.rs"]
mod checks;
#[path = "deploy/files.rs"]
mod files;
#[path = "deploy/ports.rs"]
mod ports;

use std::collections::{BTreeMap, BTreeSet};

use checks::{OWN_IMAGE, check_dashboard, check_env, check_image, check_metric_names};
use files::{
    Container, compose, compose_containers, k8s_containers, k8s_kind, probe_words, read, repo,
    resolve_in_compose, scalar, strings, yaml, yaml_docs,
};
use serde_json::{Value, json};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn all_containers() -> Vec<Container> {
    let mut containers = compose_containers(&compose());
    containers.extend(k8s_containers());
    containers
}

fn assert_no_errors(what: &str, errors: &[String]) {
    assert!(errors.is_empty(), "{what}:\n  {}", errors.join("\n  "));
}

#[test]
fn every_yaml_file_parses() {
    let files = files::yaml_files();
    for expected in [
        "docker-compose.yml",
        "deploy/prometheus/prometheus.yml",
        "deploy/prometheus/rules/customs.yml",
        "deploy/grafana/provisioning/datasources/prometheus.yml",
        "deploy/k8s/kustomization.yaml",
    ] {
        assert!(files.iter().any(|f| f == expected), "{expected} not found");
    }
    let mut errors = Vec::new();
    for file in &files {
        match yaml_docs(&read(file)) {
            Ok(docs) if docs.is_empty() => errors.push(format!("{file}: no document")),
            Ok(_) => {}
            Err(err) => errors.push(format!("{file}: {err}")),
        }
    }
    assert_no_errors("YAML files that do not parse", &errors);
    // kubectl apply -k deploys exactly the manifests in the directory.
    let listed: BTreeSet<String> = strings(&yaml("deploy/k8s/kustomization.yaml")["resources"])
        .into_iter()
        .map(|name| format!("deploy/k8s/{name}"))
        .collect();
    let present: BTreeSet<String> = files
        .into_iter()
        .filter(|f| f.starts_with("deploy/k8s/") && !f.ends_with("kustomization.yaml"))
        .collect();
    assert_eq!(listed, present, "kustomization resources");
}

#[test]
fn dashboard_panels_query_the_provisioned_datasource() {
    let provisioning = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let datasources = provisioning["datasources"].as_array().expect("datasources");
    let uids: BTreeSet<String> = datasources.iter().map(|d| scalar(&d["uid"])).collect();
    let dashboard: Value =
        serde_json::from_str(&read("deploy/grafana/dashboards/customs-pipeline.json"))
            .expect("the dashboard is JSON");
    assert_no_errors("dashboard", &check_dashboard(&dashboard, &uids));
    assert!(
        checks::panels(&dashboard).len() >= 12,
        "the dashboard has its panels"
    );
    // Grafana reaches Prometheus by its compose name and port.
    let compose = compose();
    for datasource in datasources {
        let url = scalar(&datasource["url"]);
        let host_port = url.trim_start_matches("http://");
        let (host, port) = host_port.split_once(':').expect("url has a port");
        let command = strings(&compose["services"][host]["command"]);
        assert!(
            command.iter().any(|arg| arg.ends_with(&format!(":{port}"))),
            "datasource {url}: compose service {host} does not listen on {port}"
        );
    }
    // The provider reads the directory compose mounts the dashboards into.
    let provider = yaml("deploy/grafana/provisioning/dashboards/customs.yml");
    let path = scalar(&provider["providers"][0]["options"]["path"]);
    let resolved = resolve_in_compose("grafana", &path).expect("dashboard path is mounted");
    assert!(resolved.join("customs-pipeline.json").is_file());
}

#[test]
fn images_are_built_by_the_dockerfile_or_pinned() {
    let executables = files::dockerfile_executables(&read("Dockerfile"));
    assert!(
        executables.contains("/usr/local/bin/customs-ingest"),
        "{executables:?}"
    );
    let mut errors = Vec::new();
    for container in all_containers() {
        if let Err(err) = check_image(&container.image, VERSION) {
            errors.push(format!("{}: {err}", container.origin));
        }
        let ours = container.image.starts_with(&format!("{OWN_IMAGE}:"));
        let executable = container.command.first().cloned().unwrap_or_default();
        if ours && !executables.contains(&executable) {
            errors.push(format!(
                "{}: the image has no {executable}",
                container.origin
            ));
        }
        if ours && container.origin.starts_with("docker-compose") && !container.built_here {
            errors.push(format!(
                "{}: compose must build our image (build: .)",
                container.origin
            ));
        }
    }
    // Health probes run inside our image too.
    for (name, service) in compose()["services"].as_object().expect("services") {
        if !scalar(&service["image"]).starts_with(&format!("{OWN_IMAGE}:")) {
            continue;
        }
        let test = probe_words(service);
        for word in test
            .iter()
            .filter(|word| word.starts_with("/usr/local/bin/"))
        {
            if !executables.contains(word) {
                errors.push(format!(
                    "compose service {name}: health check runs missing {word}"
                ));
            }
        }
        if test.is_empty() {
            errors.push(format!("compose service {name}: no health check"));
        }
    }
    assert_no_errors("images", &errors);
}

#[test]
fn config_paths_exist_and_the_configmap_equals_deploy_config() {
    let mut errors = Vec::new();
    let compose = compose();
    // Every bind mount's source exists, and every absolute path a compose
    // container is given that lies in a mount exists on the host.
    for (name, service) in compose["services"].as_object().expect("services") {
        for volume in strings(&service["volumes"])
            .iter()
            .filter(|v| v.starts_with("./"))
        {
            let host = volume.split(':').next().unwrap_or_default();
            if !repo().join(host).exists() {
                errors.push(format!(
                    "compose service {name}: mount source {host} is missing"
                ));
            }
        }
        let mut paths = strings(&service["entrypoint"]);
        paths.extend(strings(&service["command"]));
        if let Some(env) = service["environment"].as_object() {
            paths.extend(env.values().map(scalar));
        }
        for arg in &paths {
            let path = arg.rsplit('=').next().unwrap_or(arg);
            if let Some(host) = resolve_in_compose(name, path)
                && !host.exists()
            {
                errors.push(format!(
                    "compose service {name}: {path} is {} on the host, which is missing",
                    host.display()
                ));
            }
        }
    }
    let configs = ["aggregate.toml", "ingest.toml", "normalize.toml"];
    // Our services' --config paths: in the compose mount and in the image.
    for container in compose_containers(&compose) {
        let Some(path) = container.config_path() else {
            continue;
        };
        let service = container.origin.rsplit(' ').next().unwrap_or_default();
        let in_mount = resolve_in_compose(service, path).is_some_and(|host| host.is_file());
        let file = path.strip_prefix("/etc/customs/").unwrap_or(path);
        if !in_mount || !configs.contains(&file) {
            errors.push(format!(
                "{}: --config {path} is not a mounted deploy/config file",
                container.origin
            ));
        }
    }
    assert!(read("Dockerfile").contains("COPY deploy/config/ /etc/customs/"));
    // Kubernetes: --config paths lie in the ConfigMap mount and name a key of it.
    let config_maps = k8s_kind("ConfigMap");
    let (_, config_map) = config_maps.first().expect("a ConfigMap");
    let data = config_map["data"].as_object().expect("ConfigMap data");
    let keys: BTreeSet<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(configs), "ConfigMap keys");
    for key in configs {
        if data[key] != read(&format!("deploy/config/{key}")) {
            errors.push(format!("ConfigMap {key} differs from deploy/config/{key}"));
        }
    }
    for (file, deployment) in k8s_kind("Deployment") {
        let pod = &deployment["spec"]["template"]["spec"];
        let config_volumes: BTreeSet<String> = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["configMap"]["name"] == config_map["metadata"]["name"])
            .map(|v| scalar(&v["name"]))
            .collect();
        for container in pod["containers"].as_array().into_iter().flatten() {
            let mut command = strings(&container["command"]);
            command.extend(strings(&container["args"]));
            let at = command
                .iter()
                .position(|a| a == "--config")
                .expect("--config");
            let path = &command[at + 1];
            let mounted = container["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| {
                    config_volumes.contains(&scalar(&m["name"]))
                        && path
                            .strip_prefix(&scalar(&m["mountPath"]))
                            .and_then(|rest| rest.strip_prefix('/'))
                            .is_some_and(|key| keys.contains(key))
                });
            if !mounted {
                errors.push(format!(
                    "{file}: --config {path} is not a key of the mounted ConfigMap"
                ));
            }
        }
    }
    assert_no_errors("config paths", &errors);
}

#[test]
fn environment_variables_are_ones_the_services_read() {
    let mut errors = Vec::new();
    let mut checked = 0;
    for container in all_containers() {
        let Some(program) = container.program() else {
            continue;
        };
        for (name, value) in &container.env {
            checked += 1;
            if let Err(err) = check_env(program, name, value) {
                errors.push(format!("{}: {err}", container.origin));
            }
        }
    }
    assert_no_errors("environment", &errors);
    assert!(checked >= 6, "only {checked} variables checked");
}

#[test]
fn metric_names_in_rules_and_dashboard_are_documented() {
    let documented = files::documented_metrics(&read("docs/metrics.md"));
    assert!(
        documented.len() >= 20,
        "docs/metrics.md lists {} metrics",
        documented.len()
    );
    let mut exprs = Vec::new();
    let mut records = BTreeSet::new();
    let mut alerts = BTreeSet::new();
    let rules = yaml("deploy/prometheus/rules/customs.yml");
    for rule in rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
    {
        let name = scalar(if rule["record"].is_null() {
            &rule["alert"]
        } else {
            &rule["record"]
        });
        if rule["record"].is_null() {
            alerts.insert(name.clone());
        } else {
            records.insert(name.clone());
        }
        exprs.push((format!("rule {name}"), scalar(&rule["expr"])));
    }
    let dashboard: Value =
        serde_json::from_str(&read("deploy/grafana/dashboards/customs-pipeline.json"))
            .expect("JSON");
    for panel in checks::panels(&dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push((format!("panel {}", panel["title"]), scalar(&target["expr"])));
        }
    }
    let tests = yaml("deploy/prometheus/tests/customs_test.yml");
    let mut tested = BTreeSet::new();
    for test in tests["tests"].as_array().expect("tests") {
        for series in test["input_series"].as_array().into_iter().flatten() {
            exprs.push(("rule test input".to_owned(), scalar(&series["series"])));
        }
        for case in test["promql_expr_test"].as_array().into_iter().flatten() {
            exprs.push(("rule test expr".to_owned(), scalar(&case["expr"])));
            for sample in case["exp_samples"].as_array().into_iter().flatten() {
                exprs.push(("rule test sample".to_owned(), scalar(&sample["labels"])));
            }
        }
        for case in test["alert_rule_test"].as_array().into_iter().flatten() {
            tested.insert(scalar(&case["alertname"]));
        }
    }
    assert_no_errors(
        "undocumented metrics",
        &check_metric_names(&exprs, &documented, &records),
    );
    let untested: Vec<_> = alerts.difference(&tested).collect();
    assert!(
        untested.is_empty(),
        "alerts without a promtool unit test: {untested:?}"
    );
}

/// Runs `deploy/docker/customs-probe` with `args`; true when it exits 0.
fn probe(args: &[&str]) -> bool {
    std::process::Command::new("bash")
        .arg(repo().join("deploy/docker/customs-probe"))
        .args(args)
        .env("CUSTOMS_PROBE_TIMEOUT", "5")
        .stderr(std::process::Stdio::null())
        .status()
        .expect("bash runs")
        .success()
}

#[test]
fn the_compose_health_probe_tells_healthy_from_not() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    // A stand-in for the metrics endpoint: 200 on /metrics, 503 elsewhere.
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // Read the whole request first, as a real server does: closing
            // with unread bytes would reset the connection.
            let lines: Vec<String> = BufReader::new(&stream)
                .lines()
                .map_while(Result::ok)
                .take_while(|line| !line.is_empty())
                .collect();
            let healthy = lines
                .first()
                .is_some_and(|line| line.starts_with("GET /metrics "));
            let status = if healthy {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let response = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            let _ = (&stream).write_all(response.as_bytes());
        }
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port().to_string();
    drop(closed);
    assert!(probe(&["http", &port, "/metrics"]));
    assert!(probe(&["http", &format!("127.0.0.1:{port}"), "/metrics"]));
    assert!(!probe(&["http", &port, "/other"]), "503 is unhealthy");
    assert!(probe(&["tcp", &port]));
    assert!(!probe(&["tcp", &closed_port]), "nothing listens");
    assert!(
        !probe(&["http", &closed_port, "/metrics"]),
        "nothing listens"
    );
    assert!(!probe(&["http", &port]), "usage error");
}

#[test]
fn the_checks_catch_broken_input() {
    assert!(
        yaml_docs("a: [1, 2\nb: c").is_err(),
        "unclosed flow sequence"
    );
    assert!(check_image("prom/prometheus:v2.53.4", VERSION).is_ok());
    assert!(check_image(&format!("customs-pipeline:{VERSION}"), VERSION).is_ok());
    for unpinned in [
        "grafana/grafana:latest",
        "grafana/grafana",
        "customs-pipeline:latest",
        "busybox:stable",
    ] {
        assert!(check_image(unpinned, VERSION).is_err(), "{unpinned} passed");
    }
    assert!(check_env("ingest", "CUSTOMS_INGEST_TELEMETRY__LOG_FORMAT", "json").is_ok());
    assert!(check_env("aggregate", "CUSTOMS_AGGREGATE_GRPC_ADDR", "0.0.0.0:50052").is_ok());
    assert!(check_env("customs", "KAFKA_BOOTSTRAP_SERVERS", "kafka:9092").is_ok());
    for (program, name, value) in [
        ("ingest", "CUSTOMS_INGEST_KAFKA__GRUOP_ID", "a"),
        ("ingest", "CUSTOMS_INGEST_KAFKA__MAX_BATCH_RECORDS", "many"),
        ("ingest", "CUSTOMS_INGEST_TELEMETRY__LOG_FORMAT", "xml"),
        ("ingest", "CUSTOMS_NORMALIZE_TELEMETRY__LOG_FORMAT", "json"),
        ("normalize", "KAFKA_BROKERS", "kafka:9092"),
        ("customs", "CUSTOMS_CUSTOMS_RATE", "5"),
    ] {
        assert!(
            check_env(program, name, value).is_err(),
            "{program}: {name}={value} passed"
        );
    }
    let uids = BTreeSet::from(["customs-prometheus".to_owned()]);
    let broken = json!({"panels": [
        {"id": 1, "type": "row", "title": "a row"},
        {"id": 2, "type": "timeseries", "title": "no datasource", "targets": [{"refId": "A", "expr": "up"}]},
        {"id": 3, "type": "stat", "title": "no targets", "datasource": {"uid": "customs-prometheus"}, "targets": []},
        {"id": 3, "type": "stat", "title": "empty expr", "datasource": {"uid": "customs-prometheus"},
         "targets": [{"refId": "A", "expr": " "}]},
    ]});
    assert_eq!(
        check_dashboard(&broken, &uids).len(),
        4,
        "{:?}",
        check_dashboard(&broken, &uids)
    );
    let documented = BTreeMap::from([
        (
            "customs_ingest_messages_consumed_total".to_owned(),
            "counter".to_owned(),
        ),
        (
            "customs_aggregate_event_to_queryable_seconds".to_owned(),
            "histogram".to_owned(),
        ),
    ]);
    let records = BTreeSet::from(["customs:ok:rate5m".to_owned()]);
    let expr = |text: &str| vec![("test".to_owned(), text.to_owned())];
    let fine = r#"rate(customs_ingest_messages_consumed_total{reason="customs_not_a_metric"}[5m])
        / customs:ok:rate5m + sum(rate(customs_aggregate_event_to_queryable_seconds_bucket[5m]))"#;
    assert_no_errors(
        "valid names",
        &check_metric_names(&expr(fine), &documented, &records),
    );
    for wrong in [
        "rate(customs_ingest_mesages_consumed_total[5m])",
        "customs:missing:rate5m",
        "customs_ingest_messages_consumed_total_bucket",
    ] {
        assert_eq!(
            check_metric_names(&expr(wrong), &documented, &records).len(),
            1,
            "{wrong} passed"
        );
    }
}
