//! `customs classify [FILE...]`: why a message was classified or rejected.
//!
//! Each argument is one XML document or a file of JSON lines (one message per
//! line); `-` or no argument reads standard input. Prints one JSON object per
//! event (a message with several inventories prints several), or one per
//! rejected message. Exit code: 0 when everything was accepted, 1 when any
//! message was rejected, 2 on usage errors (unreadable file, bad tables).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use customs_domain::model::format_amount;
use customs_domain::parse::{ParseLimits, parse_message};
use customs_domain::{CodeTables, Event, Rejection, classify, value};
use serde::Serialize;

/// Options of `customs classify`.
#[derive(Args)]
pub struct ClassifyArgs {
    /// XML documents or JSON-lines files; `-` or none for standard input.
    files: Vec<String>,
    /// Directory whose CSV files replace the embedded code tables.
    #[arg(long)]
    code_tables: Option<PathBuf>,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = ParseLimits::default().max_payload_bytes)]
    max_payload_bytes: usize,
}

/// One output line.
#[derive(Serialize, Default)]
struct Line {
    source: String,
    id: Option<String>,
    message_type: Option<&'static str>,
    kind: Option<&'static str>,
    direction: Option<&'static str>,
    supervision_mode: Option<String>,
    category: Option<&'static str>,
    subcategory: Option<String>,
    statistics_group: Option<String>,
    in_trade_statistics: Option<bool>,
    value_cny: Option<String>,
    value_usd: Option<String>,
    flag: Option<String>,
    rejected: Option<&'static str>,
    explanation: String,
}

/// Runs `customs classify`.
pub fn run(args: ClassifyArgs) -> ExitCode {
    let tables = match CodeTables::load_or_embedded(args.code_tables.as_deref()) {
        Ok(tables) => tables,
        Err(err) => return usage(&err.to_string()),
    };
    let limits = ParseLimits {
        max_payload_bytes: args.max_payload_bytes,
    };
    let files = if args.files.is_empty() {
        vec!["-".to_owned()]
    } else {
        args.files
    };
    let mut any_rejected = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in files {
        let bytes = match read(&file) {
            Ok(bytes) => bytes,
            Err(err) => return usage(&format!("{file}: {err}")),
        };
        for (position, message) in messages(&bytes) {
            let source = match position {
                Some(line) => format!("{file}:{line}"),
                None => file.clone(),
            };
            for line in classify_message(message, &source, &tables, limits) {
                any_rejected |= line.rejected.is_some();
                let json = serde_json::to_string(&line).unwrap_or_default();
                if writeln!(out, "{json}").is_err() {
                    return ExitCode::from(2);
                }
            }
        }
    }
    if any_rejected {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("customs classify: {message}");
    ExitCode::from(2)
}

fn read(file: &str) -> std::io::Result<Vec<u8>> {
    if file == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    std::fs::read(file)
}

/// A JSON-lines file is split into lines (numbered from 1); anything else is
/// one XML document.
fn messages(bytes: &[u8]) -> Vec<(Option<usize>, &[u8])> {
    let text_start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if text_start.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return vec![(None, bytes)];
    }
    text_start
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| line.iter().any(|b| !b.is_ascii_whitespace()))
        .map(|(index, line)| (Some(index + 1), line))
        .collect()
}

fn classify_message(
    message: &[u8],
    source: &str,
    tables: &CodeTables,
    limits: ParseLimits,
) -> Vec<Line> {
    let events = match parse_message(message, tables, limits) {
        Ok(events) => events,
        Err(rejection) => return vec![rejected(source, None, None, &rejection)],
    };
    events
        .iter()
        .map(|event| describe(event, source, tables))
        .collect()
}

fn describe(event: &Event, source: &str, tables: &CodeTables) -> Line {
    let message_type = Some(event.message_type().as_str());
    let id = Some(event.id().to_owned());
    let declaration = match event {
        Event::Declaration(declaration) => declaration,
        Event::Receipt(receipt) => {
            return Line {
                source: source.to_owned(),
                id,
                message_type,
                kind: Some("receipt"),
                explanation: format!(
                    "receipt: inventory {} has status {} at {}",
                    receipt.guid, receipt.status, receipt.returned_at
                ),
                ..Line::default()
            };
        }
        Event::SummaryResult(summary) => {
            return Line {
                source: source.to_owned(),
                id,
                message_type,
                kind: Some("summary_result"),
                explanation: format!(
                    "summary result: replaces inventories {}",
                    summary.invt_nos.join(", ")
                ),
                ..Line::default()
            };
        }
    };
    let classification = match classify(declaration, tables) {
        Ok(classification) => classification,
        Err(rejection) => return rejected(source, id, message_type, &rejection),
    };
    let valuation = match value(declaration, tables) {
        Ok(valuation) => valuation,
        Err(rejection) => return rejected(source, id, message_type, &rejection),
    };
    Line {
        source: source.to_owned(),
        id,
        message_type,
        kind: Some("declaration"),
        direction: Some(declaration.direction.as_str()),
        supervision_mode: Some(declaration.supervision_mode.clone()),
        category: Some(classification.category.as_str()),
        subcategory: classification.subcategory,
        statistics_group: Some(classification.statistics_group),
        in_trade_statistics: Some(classification.in_trade_statistics),
        value_cny: Some(format_amount(valuation.total_cny)),
        value_usd: Some(format_amount(valuation.total_usd)),
        flag: classification.flag,
        rejected: None,
        explanation: format!(
            "{}; valued at the {} rates",
            classification.explanation, valuation.month
        ),
    }
}

fn rejected(
    source: &str,
    id: Option<String>,
    message_type: Option<&'static str>,
    rejection: &Rejection,
) -> Line {
    Line {
        source: source.to_owned(),
        id,
        message_type,
        rejected: Some(rejection.reason.as_str()),
        explanation: rejection.detail.clone(),
        ..Line::default()
    }
}
