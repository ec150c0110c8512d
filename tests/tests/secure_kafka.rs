//! The pipeline over TLS with SASL/SCRAM, every setting and secret from the
//! environment, on the real broker's SASL_SSL listener.
//!
//! The broker is the project's own (`scripts/kafka start` opens a SASL_SSL
//! listener with a test CA and a SCRAM user; `scripts/kafka secure-env`
//! says how to reach it), or any broker named by `KAFKA_SECURE_*`
//! variables. The three services run as real processes configured only by
//! `CUSTOMS_<SERVICE>_KAFKA__PROPERTIES__*` variables (the way a Kubernetes
//! Secret reaches them); a generated feed goes in over TLS and the served
//! statistics must equal the generator's summary. A service given a wrong
//! password must say so in its log, not wait silently.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use customs_domain::CodeTables;
use customs_domain::generator::{Generator, GeneratorConfig};
use customs_e2e::feed::{generate, produce};
use customs_e2e::processes::{
    Children, Instance, free_port, repo, service_command, service_env, setting,
};
use customs_e2e::{StatsClient, await_exact_totals, service_kafka, unique_topics};

const TIMEOUT: Duration = Duration::from_secs(180);

/// How to reach a SASL_SSL listener.
struct Secure {
    bootstrap: String,
    ca_location: String,
    username: String,
    password: String,
}

impl Secure {
    /// The librdkafka properties for SCRAM-SHA-512 over TLS, with `password`.
    fn properties(&self, password: &str) -> BTreeMap<String, String> {
        [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", &self.username),
            ("sasl.password", password),
            ("ssl.ca.location", &self.ca_location),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
    }

    /// The same properties as `CUSTOMS_<SERVICE>_KAFKA__PROPERTIES__*`
    /// variables: a property's dots are single underscores there.
    fn env(&self, service: &str, password: &str) -> Vec<(String, String)> {
        self.properties(password)
            .into_iter()
            .map(|(key, value)| {
                let name = format!(
                    "KAFKA__PROPERTIES__{}",
                    key.replace('.', "_").to_uppercase()
                );
                setting(service, &name, value)
            })
            .collect()
    }
}

/// `KAFKA_SECURE_*` from the environment, else from `scripts/kafka secure-env`.
fn secure_broker() -> anyhow::Result<Secure> {
    // Starts the project's broker when none is given.
    customs_e2e::broker()?;
    let mut values: BTreeMap<String, String> = std::env::vars()
        .filter(|(key, _)| key.starts_with("KAFKA_SECURE_"))
        .collect();
    if !values.contains_key("KAFKA_SECURE_BOOTSTRAP_SERVERS") {
        let output = std::process::Command::new("bash")
            .arg(repo().join("scripts/kafka"))
            .arg("secure-env")
            .output()
            .context("running scripts/kafka secure-env")?;
        ensure!(
            output.status.success(),
            "no SASL_SSL listener: scripts/kafka secure-env said {}\n(with a broker of your own, set KAFKA_SECURE_BOOTSTRAP_SERVERS, KAFKA_SECURE_CA_LOCATION, KAFKA_SECURE_USERNAME and KAFKA_SECURE_PASSWORD)",
            String::from_utf8_lossy(&output.stderr)
        );
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if let Some((key, value)) = line.split_once('=') {
                values.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    let mut take = |key: &str| {
        values
            .remove(key)
            .with_context(|| format!("{key} is not set"))
    };
    Ok(Secure {
        bootstrap: take("KAFKA_SECURE_BOOTSTRAP_SERVERS")?,
        ca_location: take("KAFKA_SECURE_CA_LOCATION")?,
        username: take("KAFKA_SECURE_USERNAME")?,
        password: take("KAFKA_SECURE_PASSWORD")?,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_runs_over_sasl_ssl_with_secrets_from_the_environment() -> anyhow::Result<()> {
    let secure = secure_broker()?;
    let topics = unique_topics("secure");
    let mut kafka = service_kafka(&secure.bootstrap, "secure", "setup");
    kafka.properties = secure.properties(&secure.password);
    customs_kafka::admin::ensure_topics(
        &kafka,
        &[
            &topics.raw,
            &topics.declarations,
            &topics.classified,
            &topics.dead_letter,
        ],
    )
    .await
    .context("creating topics over SASL_SSL")?;

    let mut children = Children::default();
    let grpc = free_port()?;
    for service in ["ingest", "normalize", "aggregate"] {
        let group_id = format!("secure-{service}-{}", std::process::id());
        let mut env = service_env(
            service,
            &Instance {
                bootstrap: &secure.bootstrap,
                group_id: &group_id,
                transactional_id: &group_id,
                topics: &topics,
                metrics_addr: &format!("127.0.0.1:{}", free_port()?),
            },
        );
        env.extend(secure.env(service, &secure.password));
        if service == "aggregate" {
            env.push(setting(service, "GRPC_ADDR", format!("127.0.0.1:{grpc}")));
        }
        children.spawn(service, &mut service_command(service, &env, false)?)?;
    }

    let tables = CodeTables::embedded();
    let mut generator = Generator::new(
        GeneratorConfig {
            seed: 99,
            ..GeneratorConfig::default()
        },
        &tables,
    );
    let messages = generate(&mut generator, 400);
    let mut producer_config = rdkafka::ClientConfig::new();
    producer_config
        .set("bootstrap.servers", &secure.bootstrap)
        .set("enable.idempotence", "true");
    for (key, value) in secure.properties(&secure.password) {
        producer_config.set(key, value);
    }
    let producer: rdkafka::producer::FutureProducer = producer_config.create()?;
    produce(&producer, &topics.raw, &messages)
        .await
        .context("producing over SASL_SSL")?;

    let started = Instant::now();
    let mut client = loop {
        match StatsClient::connect(format!("http://127.0.0.1:{grpc}")).await {
            Ok(client) => break client,
            Err(err) if started.elapsed() < TIMEOUT => {
                children.ensure_running()?;
                let _ = err;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => bail!("no gRPC on {grpc}: {err}"),
        }
    };
    await_exact_totals(&mut client, &generator.summary().counted, TIMEOUT, || {
        children.ensure_running()
    })
    .await?;
    Ok(())
}

#[test]
fn a_wrong_password_is_reported_in_the_log() -> anyhow::Result<()> {
    let secure = secure_broker()?;
    let topics = unique_topics("secure-denied");
    let group_id = format!("secure-denied-{}", std::process::id());
    let mut env = service_env(
        "ingest",
        &Instance {
            bootstrap: &secure.bootstrap,
            group_id: &group_id,
            transactional_id: &group_id,
            topics: &topics,
            metrics_addr: &format!("127.0.0.1:{}", free_port()?),
        },
    );
    env.extend(secure.env("ingest", "not-the-password"));
    let mut child = service_command("ingest", &env, false)?
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("ingest's stderr")?;
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let found = loop {
        match received.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let lower = line.to_lowercase();
                if lower.contains("authentication") {
                    break true;
                }
                seen.push(line);
            }
            Err(_) if Instant::now() > deadline => break false,
            Err(_) => {}
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    ensure!(
        found,
        "no authentication error logged within 30 s; the log was:\n{}",
        seen.join("\n")
    );
    Ok(())
}
