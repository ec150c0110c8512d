//! Reading the deployment files into plain values: YAML documents (merge keys
//! applied) as `serde_json::Value`, the containers that run the project's
//! image in compose and Kubernetes, what the Dockerfile installs, the metric
//! names of `docs/metrics.md`, and the ports the services' own config loaders
//! read from `deploy/config/*.toml`. Nothing here judges; `checks` does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file of the repository, by its path relative to the root.
pub fn read(relative: &str) -> String {
    std::fs::read_to_string(repo().join(relative))
        .unwrap_or_else(|err| panic!("reading {relative}: {err}"))
}

/// Every document of a YAML text, merge keys (`<<: *anchor`) applied; empty
/// documents are skipped.
pub fn yaml_docs(text: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let mut value = serde_norway::Value::deserialize(document).map_err(|e| e.to_string())?;
        value.apply_merge().map_err(|e| e.to_string())?;
        if !value.is_null() {
            docs.push(serde_json::to_value(value).map_err(|e| e.to_string())?);
        }
    }
    Ok(docs)
}

/// The single document of a YAML file.
pub fn yaml(relative: &str) -> Value {
    let mut docs = yaml_docs(&read(relative)).unwrap_or_else(|err| panic!("{relative}: {err}"));
    assert_eq!(docs.len(), 1, "{relative}: expected one YAML document");
    docs.remove(0)
}

/// `docker-compose.yml` and every `*.yml`/`*.yaml` under `deploy/`, relative
/// to the repository root, sorted.
pub fn yaml_files() -> Vec<String> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.map(|entry| entry.expect("directory entry").path()) {
            if entry.is_dir() {
                walk(&entry, found);
            } else if matches!(
                entry.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) {
                found.push(entry);
            }
        }
    }
    let root = repo();
    let mut found = vec![root.join("docker-compose.yml")];
    walk(&root.join("deploy"), &mut found);
    let mut names: Vec<String> = found
        .iter()
        .map(|path| {
            path.strip_prefix(&root)
                .expect("under the root")
                .display()
                .to_string()
        })
        .collect();
    names.sort();
    names
}

/// The Kubernetes objects of `deploy/k8s/` with the file each came from
/// (the kustomization is not an object).
pub fn k8s_objects() -> Vec<(String, Value)> {
    let mut objects = Vec::new();
    for file in yaml_files()
        .into_iter()
        .filter(|f| f.starts_with("deploy/k8s/"))
    {
        if file.ends_with("kustomization.yaml") {
            continue;
        }
        for doc in yaml_docs(&read(&file)).unwrap_or_else(|err| panic!("{file}: {err}")) {
            objects.push((file.clone(), doc));
        }
    }
    objects
}

/// The Kubernetes objects of one kind.
pub fn k8s_kind(kind: &str) -> Vec<(String, Value)> {
    k8s_objects()
        .into_iter()
        .filter(|(_, object)| object["kind"] == kind)
        .collect()
}

/// `value` as a list of strings (a YAML list of scalars, or one string split
/// at whitespace as compose allows); numbers become their text.
pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        Value::String(text) => text.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// A scalar's text (`"9101"` and `9101` alike).
pub fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A container that runs something, from compose or Kubernetes.
#[derive(Debug, Clone)]
pub struct Container {
    /// Where it is defined, for messages.
    pub origin: String,
    /// Its image reference.
    pub image: String,
    /// Whether compose builds the image from the Dockerfile.
    pub built_here: bool,
    /// Entrypoint/command and arguments.
    pub command: Vec<String>,
    /// Environment variables set on it.
    pub env: Vec<(String, String)>,
}

impl Container {
    /// The service it runs, from its executable: `customs-ingest` → `ingest`,
    /// the CLI → `customs`; `None` for third-party programs.
    pub fn program(&self) -> Option<&str> {
        let executable = self.command.first()?.rsplit('/').next()?;
        match executable {
            "customs" => Some("customs"),
            other => other.strip_prefix("customs-"),
        }
    }

    /// The value of `--config` in its command.
    pub fn config_path(&self) -> Option<&str> {
        let at = self.command.iter().position(|arg| arg == "--config")?;
        self.command.get(at + 1).map(String::as_str)
    }
}

/// The containers of `docker-compose.yml`.
pub fn compose_containers(compose: &Value) -> Vec<Container> {
    let services = compose["services"]
        .as_object()
        .expect("compose has services");
    services
        .iter()
        .map(|(name, service)| {
            let mut command = strings(&service["entrypoint"]);
            command.extend(strings(&service["command"]));
            let env = match &service["environment"] {
                Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), scalar(v))).collect(),
                Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        let text = scalar(item);
                        let (k, v) = text.split_once('=').unwrap_or((&text, ""));
                        (k.to_owned(), v.to_owned())
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Container {
                origin: format!("docker-compose.yml service {name}"),
                image: scalar(&service["image"]),
                built_here: !service["build"].is_null(),
                command,
                env,
            }
        })
        .collect()
}

/// The containers of the Kubernetes Deployments.
pub fn k8s_containers() -> Vec<Container> {
    let mut containers = Vec::new();
    for (file, deployment) in k8s_kind("Deployment") {
        let pod = &deployment["spec"]["template"]["spec"];
        for container in pod["containers"].as_array().into_iter().flatten() {
            let mut command = strings(&container["command"]);
            command.extend(strings(&container["args"]));
            let env = container["env"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|var| (scalar(&var["name"]), scalar(&var["value"])))
                .collect();
            containers.push(Container {
                origin: format!("{file} container {}", scalar(&container["name"])),
                image: scalar(&container["image"]),
                built_here: false,
                command,
                env,
            });
        }
    }
    containers
}

/// Absolute paths of the executables the Dockerfile's final image installs:
/// every `--bin NAME` of the build (copied from /out/ to /usr/local/bin/) and
/// every repository file it COPYs into /usr/local/bin/.
pub fn dockerfile_executables(dockerfile: &str) -> BTreeSet<String> {
    let mut executables = BTreeSet::new();
    let words: Vec<&str> = dockerfile.split_whitespace().collect();
    let bins_installed = dockerfile
        .lines()
        .any(|line| line.trim() == "COPY --from=build /out/ /usr/local/bin/");
    for pair in words.windows(2) {
        if pair[0] == "--bin" && bins_installed {
            executables.insert(format!("/usr/local/bin/{}", pair[1]));
        }
    }
    for line in dockerfile.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let ["COPY", source, target] = parts.as_slice()
            && target.starts_with("/usr/local/bin/")
            && repo().join(source).is_file()
        {
            executables.insert((*target).to_owned());
        }
    }
    executables
}

/// Metric names of the table in `docs/metrics.md`, with their type.
pub fn documented_metrics(markdown: &str) -> BTreeMap<String, String> {
    markdown
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            name.starts_with("customs_").then(|| {
                (
                    name.to_owned(),
                    cells.get(2).copied().unwrap_or("").to_owned(),
                )
            })
        })
        .collect()
}

/// Ports a service listens on, as its own config loader reads them from
/// `deploy/config/<service>.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// `/metrics`.
    pub metrics: u16,
    /// The gRPC API (aggregate only).
    pub grpc: Option<u16>,
}

/// `ingest`/`normalize`/`aggregate` → the ports in their deploy config.
pub fn service_ports() -> BTreeMap<&'static str, Ports> {
    let file = |name: &str| repo().join(format!("deploy/config/{name}.toml"));
    let metrics = |addr: Option<std::net::SocketAddr>| addr.expect("metrics_addr is set").port();
    let ingest = customs_ingest::Config::load(Some(&file("ingest"))).expect("ingest.toml loads");
    let normalize =
        customs_normalize::Config::load(Some(&file("normalize"))).expect("normalize.toml loads");
    let aggregate =
        customs_aggregate::Config::load(Some(&file("aggregate"))).expect("aggregate.toml loads");
    BTreeMap::from([
        (
            "ingest",
            Ports {
                metrics: metrics(ingest.telemetry.metrics_addr),
                grpc: None,
            },
        ),
        (
            "normalize",
            Ports {
                metrics: metrics(normalize.telemetry.metrics_addr),
                grpc: None,
            },
        ),
        (
            "aggregate",
            Ports {
                metrics: metrics(aggregate.telemetry.metrics_addr),
                grpc: Some(aggregate.grpc_addr.port()),
            },
        ),
    ])
}

/// `docker-compose.yml`.
pub fn compose() -> Value {
    yaml("docker-compose.yml")
}

/// The words of a compose service's health check (`CMD-SHELL` strings split).
pub fn probe_words(service: &Value) -> Vec<String> {
    let test = strings(&service["healthcheck"]["test"]);
    test.iter()
        .flat_map(|part| part.split_whitespace().map(str::to_owned))
        .collect()
}

/// A path inside compose service `service`'s container, on the host, through
/// its bind mounts (`./host:/container[:ro]`).
pub fn resolve_in_compose(service: &str, path: &str) -> Option<PathBuf> {
    strings(&compose()["services"][service]["volumes"])
        .iter()
        .find_map(|volume| {
            let mut parts = volume.split(':');
            let (host, inside) = (parts.next()?, parts.next()?);
            let rest = path.strip_prefix(inside)?;
            (host.starts_with("./") && (rest.is_empty() || rest.starts_with('/')))
                .then(|| repo().join(host).join(rest.trim_start_matches('/')))
        })
}
