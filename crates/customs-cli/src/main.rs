//! `customs`: the operator CLI of the customs-declaration pipeline.
//!
//! Subcommands:
//! - `customs demo`: the whole pipeline in one process on librdkafka's
//!   in-process mock cluster (no broker needed), fed with sample
//!   declarations; prints the statistics it serves over gRPC.
//! - `customs classify [FILE...]`: why a message was classified or rejected.
//! - `customs generate`: seeded synthetic traffic in the real formats.
//! - `customs send FILE|DIR...`: one's own messages into the raw topic.
//! - `customs dead-letters`: list dead letters with their reasons; replay.
//! - `customs status`: whether an aggregate serves, and how fresh it is.

mod classify;
mod dead_letters;
mod demo;
mod generate;
mod kafka_sink;
mod send;
mod status;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Operator CLI of the customs-declaration pipeline.
#[derive(Parser)]
#[command(name = "customs", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run ingest, normalize and aggregate on an embedded mock Kafka cluster,
    /// feed them sample declarations and show the statistics.
    Demo(demo::DemoArgs),
    /// Parse, validate, classify and value messages and say why (one JSON
    /// object per event on stdout; exit 1 if any message was rejected).
    Classify(classify::ClassifyArgs),
    /// Seeded synthetic single-window traffic to stdout, a directory or Kafka,
    /// with a summary of what a correct pipeline must count.
    Generate(generate::GenerateArgs),
    /// Send files (one message each) or lines (`--lines`) to the raw topic.
    Send(send::SendArgs),
    /// List dead letters (JSON lines) with their reasons; replay them.
    DeadLetters(dead_letters::DeadLettersArgs),
    /// Health and freshness of a running aggregate (JSON; exit 1 unless serving).
    Status(status::StatusArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Classify(args) => return classify::run(args),
        Command::Generate(args) => generate::run(args).await,
        Command::Send(args) => send::run(args).await,
        Command::DeadLetters(args) => dead_letters::run(args).await,
        Command::Status(args) => return status::run(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("customs: {err:#}");
            ExitCode::FAILURE
        }
    }
}
