//! Ports, checked against the ones the services' own config loaders read
//! from `deploy/config/*.toml`: compose health probes, published ports and
//! Prometheus targets; Kubernetes container ports, probes, Services, scrape
//! annotations and the Kubernetes Prometheus config.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::assert_no_errors;
use super::files::{
    self, compose, compose_containers, k8s_kind, probe_words, scalar, strings, yaml,
};

/// A Kubernetes container port by number or name.
fn k8s_port(container: &Value, port: &Value) -> Option<u64> {
    port.as_u64().or_else(|| {
        container["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == *port)
            .and_then(|p| p["containerPort"].as_u64())
    })
}

/// An error when a port is missing or not the one the config gives.
fn port_error(what: String, got: Option<u64>, want: Option<u16>) -> Option<String> {
    (got.is_none() || got != want.map(u64::from))
        .then(|| format!("{what}: port {got:?}, config says {want:?}"))
}

#[test]
fn compose_probes_ports_and_scrape_targets_match_the_service_configs() {
    let ports = files::service_ports();
    let mut errors = Vec::new();
    let compose = compose();
    let mut program_of_service = BTreeMap::new();
    for container in compose_containers(&compose) {
        let Some(program) = container.program() else {
            continue;
        };
        let Some(port) = ports.get(program) else {
            continue;
        };
        let service = container
            .origin
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        let test = probe_words(&compose["services"][&service]);
        let after = |mode: &str| {
            test.windows(2)
                .find(|w| w[0] == mode)
                .and_then(|w| w[1].parse().ok())
        };
        errors.extend(port_error(
            format!("compose {service} http probe"),
            after("http"),
            Some(port.metrics),
        ));
        if port.grpc.is_some() {
            errors.extend(port_error(
                format!("compose {service} tcp probe"),
                after("tcp"),
                port.grpc,
            ));
        }
        for mapping in strings(&compose["services"][&service]["ports"]) {
            let inside = mapping
                .rsplit(':')
                .next()
                .and_then(|p| p.parse::<u16>().ok());
            if inside.is_none_or(|p| p != port.metrics && Some(p) != port.grpc) {
                errors.push(format!(
                    "compose {service} publishes {mapping}, not one of {port:?}"
                ));
            }
        }
        program_of_service.insert(service, program.to_owned());
    }
    // One static target per service, on its metrics port.
    let prometheus = yaml("deploy/prometheus/prometheus.yml");
    let mut scraped = BTreeSet::new();
    for job in prometheus["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
    {
        let configs = job["static_configs"].as_array().into_iter().flatten();
        for target in configs.flat_map(|config| strings(&config["targets"])) {
            let (host, port) = target.split_once(':').expect("host:port");
            let Some(program) = program_of_service.get(host) else {
                continue;
            };
            let want = ports[program.as_str()].metrics;
            errors.extend(port_error(
                format!("prometheus target {target}"),
                port.parse().ok(),
                Some(want),
            ));
            scraped.insert(program.clone());
        }
    }
    assert_no_errors("compose ports", &errors);
    assert_eq!(
        scraped.len(),
        ports.len(),
        "Prometheus scrapes every service"
    );
}

#[test]
fn kubernetes_probes_ports_and_scrape_targets_match_the_service_configs() {
    let ports = files::service_ports();
    let mut errors = Vec::new();
    // Deployments: container ports, probes and the scrape annotation.
    let mut deployments = BTreeMap::new();
    for (file, deployment) in k8s_kind("Deployment") {
        let template = &deployment["spec"]["template"];
        for container in template["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let command = strings(&container["command"]);
            let executable = command
                .first()
                .and_then(|c| c.rsplit('/').next())
                .unwrap_or_default();
            let program = executable
                .strip_prefix("customs-")
                .unwrap_or_default()
                .to_owned();
            let Some(port) = ports.get(program.as_str()) else {
                errors.push(format!("{file}: container runs no known service"));
                continue;
            };
            let named = |name: &str| k8s_port(container, &json!(name));
            errors.extend(port_error(
                format!("{file} metrics port"),
                named("metrics"),
                Some(port.metrics),
            ));
            if port.grpc.is_some() {
                errors.extend(port_error(
                    format!("{file} grpc port"),
                    named("grpc"),
                    port.grpc,
                ));
            }
            let annotation = scalar(&template["metadata"]["annotations"]["prometheus.io/port"]);
            errors.extend(port_error(
                format!("{file} prometheus.io/port"),
                annotation.parse().ok(),
                Some(port.metrics),
            ));
            for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                let spec = &container[probe];
                if !spec["httpGet"].is_null() {
                    let got = k8s_port(container, &spec["httpGet"]["port"]);
                    errors.extend(port_error(
                        format!("{file} {probe}"),
                        got,
                        Some(port.metrics),
                    ));
                }
                if !spec["grpc"].is_null() {
                    errors.extend(port_error(
                        format!("{file} {probe}"),
                        spec["grpc"]["port"].as_u64(),
                        port.grpc,
                    ));
                }
            }
            if container["readinessProbe"].is_null() || container["livenessProbe"].is_null() {
                errors.push(format!(
                    "{file}: readiness and liveness probes are required"
                ));
            }
            let app = scalar(&template["metadata"]["labels"]["app.kubernetes.io/name"]);
            deployments.insert(app, (container.clone(), program));
        }
    }
    // Services reach those container ports, on the same port numbers.
    let mut services = BTreeMap::new();
    for (file, service) in k8s_kind("Service") {
        let app = scalar(&service["spec"]["selector"]["app.kubernetes.io/name"]);
        let Some((container, _)) = deployments.get(&app) else {
            errors.push(format!("{file}: Service selects no Deployment"));
            continue;
        };
        for service_port in service["spec"]["ports"].as_array().into_iter().flatten() {
            let target = k8s_port(container, &service_port["targetPort"]);
            if target.is_none() || target != service_port["port"].as_u64() {
                errors.push(format!(
                    "{file}: Service port {service_port} is not its container port"
                ));
            }
        }
        services.insert(scalar(&service["metadata"]["name"]), app);
    }
    // prometheus-k8s.yml scrapes each metrics Service on its service's port.
    let prometheus = yaml("deploy/prometheus/prometheus-k8s.yml");
    let mut scraped = BTreeSet::new();
    for job in prometheus["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
    {
        for discovery in job["dns_sd_configs"].as_array().into_iter().flatten() {
            for name in strings(&discovery["names"]) {
                let service = name.split('.').next().unwrap_or_default();
                let deployment = services.get(service).and_then(|app| deployments.get(app));
                let Some((_, program)) = deployment else {
                    errors.push(format!(
                        "prometheus-k8s.yml: {name} is no Service of a Deployment"
                    ));
                    continue;
                };
                let want = ports[program.as_str()].metrics;
                errors.extend(port_error(
                    format!("prometheus-k8s.yml {name}"),
                    discovery["port"].as_u64(),
                    Some(want),
                ));
                scraped.insert(program.clone());
            }
        }
    }
    assert_no_errors("Kubernetes ports", &errors);
    assert_eq!(
        scraped.len(),
        ports.len(),
        "Prometheus scrapes every service"
    );
}
