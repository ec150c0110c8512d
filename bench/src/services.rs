//! The three services as separate release processes, configured the way an
//! operator would: `--config deploy/config/<service>.toml` (the production
//! batch, commit and transaction settings) plus `CUSTOMS_<SERVICE>_*`
//! environment overrides for what must be unique to this run (topics, group
//! and transactional ids) or local to this machine (loopback addresses).
//!
//! Guarantees: every process this module starts is stopped again — by
//! [`Pipeline::stop`] (SIGTERM, then SIGKILL after a grace period) or, on any
//! error path, by `Drop` (SIGKILL) — and each writes its logs to its own file.
//! Every address given to a service is on 127.0.0.1.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::topics::{self, Topics};

/// How long a service may take to drain and exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// One of the three services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `customs-ingest`: raw XML → declarations.
    Ingest,
    /// `customs-normalize`: declarations → classified.
    Normalize,
    /// `customs-aggregate`: classified → totals over gRPC.
    Aggregate,
}

impl Role {
    /// All roles, upstream first.
    pub const ALL: [Role; 3] = [Role::Ingest, Role::Normalize, Role::Aggregate];

    /// Short name, as in `customs-<name>` and metric names.
    pub fn name(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Normalize => "normalize",
            Role::Aggregate => "aggregate",
        }
    }
}

/// Where the binaries and the deployed config files are, and which topic
/// keys each config file has.
#[derive(Debug, Clone)]
pub struct Install {
    bin_dir: PathBuf,
    config_dir: PathBuf,
    topic_keys: Vec<(Role, Vec<String>)>,
    overrides: Vec<(String, String)>,
}

impl Install {
    /// Checks that `customs-<service>` binaries are in `bin_dir` and
    /// `<service>.toml` files in `config_dir`, and reads their topic keys.
    /// `overrides` (`CUSTOMS_<SERVICE>_...` variables) are given to every
    /// process after the benchmark's own, for experiments away from the
    /// deployed settings.
    pub fn load(
        bin_dir: &Path,
        config_dir: &Path,
        overrides: Vec<(String, String)>,
    ) -> anyhow::Result<Install> {
        if let Some((key, _)) = overrides
            .iter()
            .find(|(key, _)| !key.starts_with("CUSTOMS_"))
        {
            bail!("--env {key}: only CUSTOMS_<SERVICE>_* variables configure the services");
        }
        let mut topic_keys = Vec::new();
        for role in Role::ALL {
            let binary = bin_dir.join(format!("customs-{}", role.name()));
            if !binary.is_file() {
                bail!("{} does not exist", binary.display());
            }
            let config = config_dir.join(format!("{}.toml", role.name()));
            topic_keys.push((role, topics::keys_in_config(&config)?));
        }
        Ok(Install {
            bin_dir: bin_dir.to_owned(),
            config_dir: config_dir.to_owned(),
            topic_keys,
            overrides,
        })
    }

    /// Topic keys of one service's config.
    fn keys(&self, role: Role) -> &[String] {
        self.topic_keys
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, keys)| keys.as_slice())
            .unwrap_or_default()
    }

    /// Every topic key any service has, each once.
    pub fn all_topic_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for (_, service_keys) in &self.topic_keys {
            for key in service_keys {
                if !keys.contains(key) {
                    keys.push(key.clone());
                }
            }
        }
        keys
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    /// Broker address.
    pub bootstrap: String,
    /// The run's topics (already created with `partitions` partitions).
    pub topics: Topics,
    /// Partitions of topics a service would create.
    pub partitions: i32,
    /// Instances of ingest and of normalize (one consumer group each).
    pub num_instances: usize,
    /// Where each process's log goes.
    pub log_dir: PathBuf,
}

/// One running service process.
pub struct Instance {
    /// Which service.
    pub role: Role,
    /// Its `/metrics` address.
    pub metrics_addr: SocketAddr,
    /// Its gRPC address (aggregate only).
    pub grpc_addr: Option<SocketAddr>,
    name: String,
    child: Option<Child>,
}

impl Instance {
    /// Process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `ingest-0`, `normalize-1`, ...
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL: an error path; nothing of this run is kept anyway.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The pipeline's processes; dropping it kills them all.
pub struct Pipeline {
    /// Every instance, ingest first, the aggregate last.
    pub instances: Vec<Instance>,
}

impl Pipeline {
    /// Starts `num_instances` ingest and normalize processes and one aggregate,
    /// all at once.
    pub fn start(install: &Install, spec: &PipelineSpec) -> anyhow::Result<Pipeline> {
        std::fs::create_dir_all(&spec.log_dir)
            .with_context(|| format!("creating {}", spec.log_dir.display()))?;
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let mut instances = Vec::new();
        for role in Role::ALL {
            let count = if role == Role::Aggregate {
                1
            } else {
                spec.num_instances
            };
            for index in 0..count {
                instances.push(start_instance(install, spec, role, index, &run_id)?);
            }
        }
        Ok(Pipeline { instances })
    }

    /// Instances of one service.
    pub fn of(&self, role: Role) -> impl Iterator<Item = &Instance> {
        self.instances
            .iter()
            .filter(move |instance| instance.role == role)
    }

    /// The aggregate's gRPC address.
    pub fn grpc_addr(&self) -> anyhow::Result<SocketAddr> {
        self.of(Role::Aggregate)
            .find_map(|instance| instance.grpc_addr)
            .context("no aggregate instance")
    }

    /// Fails if any process has exited (services only exit when told to).
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        for instance in &mut self.instances {
            if let Some(child) = instance.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "{} exited on its own ({status}); see its log",
                    instance.name
                );
            }
        }
        Ok(())
    }

    /// SIGTERM to every process, then waits; SIGKILL after the grace period.
    /// Returns the names of processes that did not exit cleanly in time.
    pub fn stop(mut self) -> anyhow::Result<Vec<String>> {
        for instance in &self.instances {
            if let Some(pid) = instance.pid() {
                // The `kill` utility keeps this crate free of unsafe libc calls.
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        let mut unclean = Vec::new();
        for instance in &mut self.instances {
            let Some(mut child) = instance.child.take() else {
                continue;
            };
            loop {
                if let Some(status) = child.try_wait()? {
                    if !status.success() {
                        unclean.push(format!("{} ({status})", instance.name));
                    }
                    break;
                }
                if Instant::now() > deadline {
                    child.kill()?;
                    child.wait()?;
                    unclean.push(format!("{} (killed after {STOP_GRACE:?})", instance.name));
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(unclean)
    }
}

fn start_instance(
    install: &Install,
    spec: &PipelineSpec,
    role: Role,
    index: usize,
    run_id: &str,
) -> anyhow::Result<Instance> {
    let service = role.name();
    let name = format!("{service}-{index}");
    let binary = install.bin_dir.join(format!("customs-{service}"));
    let config = install.config_dir.join(format!("{service}.toml"));
    let metrics_addr = free_loopback_addr()?;
    let grpc_addr = (role == Role::Aggregate)
        .then(free_loopback_addr)
        .transpose()?;
    let group_id = format!("bench-{run_id}-{service}");
    let topics = &spec.topics;
    let mut env = vec![
        (
            "KAFKA__BOOTSTRAP_SERVERS".to_owned(),
            spec.bootstrap.clone(),
        ),
        ("KAFKA__GROUP_ID".to_owned(), group_id.clone()),
        // Distinct per instance, as in production: each fences only itself.
        (
            "KAFKA__TRANSACTIONAL_ID".to_owned(),
            format!("{group_id}-{index}"),
        ),
        // Topics the service creates get as many partitions as the raw one.
        (
            "KAFKA__TOPIC_PARTITIONS".to_owned(),
            spec.partitions.to_string(),
        ),
        (
            "TELEMETRY__METRICS_ADDR".to_owned(),
            metrics_addr.to_string(),
        ),
    ];
    for key in install.keys(role) {
        let name = topics
            .name(key)
            .with_context(|| format!("no topic name for key {key}"))?;
        env.push((format!("TOPICS__{}", key.to_uppercase()), name.to_owned()));
    }
    if let Some(addr) = grpc_addr {
        env.push(("GRPC_ADDR".to_owned(), addr.to_string()));
    }
    let prefix = format!("CUSTOMS_{}_", service.to_uppercase());
    let log_path = spec.log_dir.join(format!("{name}.log"));
    let log =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let child = Command::new(&binary)
        .arg("--config")
        .arg(&config)
        // The file, our settings and `--env` experiments are the whole configuration.
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .envs(
            env.iter()
                .map(|(key, value)| (format!("{prefix}{key}"), value)),
        )
        .envs(install.overrides.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    Ok(Instance {
        role,
        metrics_addr,
        grpc_addr,
        name,
        child: Some(child),
    })
}

/// A loopback port that was free a moment ago. Another process could take it
/// before the service binds it; the service then exits and the run fails
/// loudly rather than measuring something else.
fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?)
}
