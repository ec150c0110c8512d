//! Start-up an orchestrator can rely on: with no broker at the configured
//! address, each service (the real binaries, deployed configs) says so
//! within seconds, naming the address, and a SIGTERM in that phase ends it
//! cleanly within 10 s (Kubernetes' default grace is 30 s). Before, ingest
//! and aggregate logged nothing for about 60 s and SIGTERM took 47–50 s.
//!
//! Needs no broker: the address is a free loopback port nobody listens on.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use customs_e2e::processes::{deployed_env, free_port, service_command, setting};
use customs_e2e::unique_topics;

/// Longest wait for the "cannot reach Kafka" line.
const SAYS_SO_WITHIN: Duration = Duration::from_secs(15);
/// Longest SIGTERM → exit.
const EXITS_WITHIN: Duration = Duration::from_secs(10);

#[test]
fn without_a_broker_every_service_says_so_at_once_and_stops_on_sigterm() -> anyhow::Result<()> {
    let nobody = format!("127.0.0.1:{}", free_port()?);
    let topics = unique_topics("startup");
    let dir = std::env::temp_dir().join(format!("customs-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut running = Vec::new();
    for service in ["ingest", "normalize", "aggregate"] {
        let mut env = deployed_env("startup", service, &nobody, &topics, free_port()?);
        if service == "aggregate" {
            env.push(setting(
                service,
                "GRPC_ADDR",
                format!("127.0.0.1:{}", free_port()?),
            ));
        }
        let log = dir.join(format!("{service}.log"));
        // (Building the binary happens here, before the clock starts.)
        let mut command = service_command(service, &env, true)?;
        let child = command
            .stderr(Stdio::from(std::fs::File::create(&log)?))
            .spawn()
            .with_context(|| format!("starting {service}"))?;
        running.push((service, child, log, Instant::now()));
    }
    for (service, child, log, started) in &mut running {
        loop {
            let text = std::fs::read_to_string(&*log)?;
            if text
                .lines()
                .any(|line| line.contains("cannot reach Kafka") && line.contains(&nobody))
            {
                eprintln!(
                    "startup: {service} named {nobody} after {:.1?}",
                    started.elapsed()
                );
                break;
            }
            ensure!(
                child.try_wait()?.is_none(),
                "{service} exited instead of waiting for the broker:\n{text}"
            );
            ensure!(
                started.elapsed() < SAYS_SO_WITHIN,
                "{service} did not name {nobody} within {SAYS_SO_WITHIN:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    for (service, child, _, _) in &mut running {
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        ensure!(status.success(), "kill -TERM {service}");
        let signalled = Instant::now();
        let exit = loop {
            if let Some(exit) = child.try_wait()? {
                break exit;
            }
            ensure!(
                signalled.elapsed() < EXITS_WITHIN,
                "{service} still running {EXITS_WITHIN:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        ensure!(exit.success(), "{service} exited with {exit} after SIGTERM");
        eprintln!(
            "startup: {service} stopped {:.1?} after SIGTERM",
            signalled.elapsed()
        );
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// A code-table directory that is not there stops every service at once
/// with an error naming it, before it waits for any broker: the aggregate
/// reads `code_tables_dir` too (it serves country groups and provinces from
/// its tables), so a wrong directory is never answered with the embedded
/// tables.
#[test]
fn a_missing_code_table_directory_stops_every_service_naming_it() -> anyhow::Result<()> {
    let nobody = format!("127.0.0.1:{}", free_port()?);
    let topics = unique_topics("startup-tables");
    let missing = std::env::temp_dir().join(format!("customs-no-tables-{}", std::process::id()));
    let missing = missing.display().to_string();
    for service in ["ingest", "normalize", "aggregate"] {
        let mut env = deployed_env("startup", service, &nobody, &topics, free_port()?);
        env.push(setting(service, "CODE_TABLES_DIR", &missing));
        if service == "aggregate" {
            env.push(setting(
                service,
                "GRPC_ADDR",
                format!("127.0.0.1:{}", free_port()?),
            ));
        }
        let mut command = service_command(service, &env, true)?;
        let started = Instant::now();
        let mut child = command
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {service}"))?;
        let exit = loop {
            if let Some(exit) = child.try_wait()? {
                break exit;
            }
            if started.elapsed() > EXITS_WITHIN {
                child.kill().ok();
                anyhow::bail!("{service} kept running with a missing code-table directory");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut log = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().context("stderr")?, &mut log)?;
        ensure!(!exit.success(), "{service} exited 0:\n{log}");
        ensure!(
            log.contains(&missing),
            "{service}'s error does not name {missing}:\n{log}"
        );
        eprintln!("startup: {service} refused {missing} ({exit})");
    }
    Ok(())
}
