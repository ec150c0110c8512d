//! `customs send`: an operator's own messages into the raw topic.
//!
//! Each file is one message, its bytes sent unchanged (an XML file in any
//! encoding, a Base64 `<Data>` envelope, a JSON object); a directory sends
//! its files in name order; with `--lines` every non-empty line of a file
//! (`-` = standard input) is one message, e.g. what `customs generate`
//! prints. The key is the file name (with the line number under
//! `--lines`). Guarantees: nothing is sent unless every input could be
//! read; the command returns after the broker acknowledged every message
//! (see [`KafkaSink`]), printing how many it sent, or fails with the first
//! error.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::kafka_sink::KafkaSink;

/// Options of `customs send`.
#[derive(Args)]
pub struct SendArgs {
    /// Files or directories to send; `-` reads standard input (with `--lines`).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Kafka topic (the pipeline's raw topic).
    #[arg(long, default_value = "customs.raw.v1")]
    topic: String,
    /// Kafka bootstrap servers (else `KAFKA_BOOTSTRAP_SERVERS`).
    #[arg(long)]
    bootstrap_servers: Option<String>,
    /// One message per non-empty line instead of one per file.
    #[arg(long)]
    lines: bool,
}

/// Runs `customs send`.
pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    let messages = read_all(&args.inputs, args.lines)?;
    let servers = match &args.bootstrap_servers {
        Some(servers) => servers.clone(),
        None => std::env::var("KAFKA_BOOTSTRAP_SERVERS")
            .context("needs --bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS")?,
    };
    let mut sink = KafkaSink::new(&servers, &args.topic)?;
    for (key, payload) in &messages {
        sink.send(key, payload).await?;
    }
    sink.finish().await?;
    eprintln!("sent {} messages to {}", messages.len(), args.topic);
    Ok(())
}

/// Every message of `inputs` as (key, bytes), or the first read error.
fn read_all(inputs: &[PathBuf], lines: bool) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut entries = std::fs::read_dir(input)
                .with_context(|| format!("reading {}", input.display()))?
                .map(|entry| entry.map(|entry| entry.path()))
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("reading {}", input.display()))?;
            entries.retain(|path| path.is_file());
            entries.sort();
            files.extend(entries);
        } else {
            files.push(input.clone());
        }
    }
    let mut messages = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .map_or_else(|| "stdin".to_owned(), |n| n.to_string_lossy().into_owned());
        if lines {
            for (number, line) in open(file)?.split(b'\n').enumerate() {
                let line = line.with_context(|| format!("reading {}", file.display()))?;
                let line = line.strip_suffix(b"\r").unwrap_or(&line).to_vec();
                if !line.iter().all(u8::is_ascii_whitespace) {
                    messages.push((format!("{name}:{}", number + 1), line));
                }
            }
        } else {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            messages.push((name, bytes));
        }
    }
    Ok(messages)
}

/// `path` for reading; `-` is standard input.
fn open(path: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Box::new(std::io::BufReader::new(file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_directories_and_lines_become_messages_byte_for_byte() {
        let dir = std::env::temp_dir().join(format!("customs-send-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).expect("temp dir");
        std::fs::write(dir.join("sub/b.xml"), b"<b/>").expect("write");
        std::fs::write(
            dir.join("sub/a.xml"),
            [0xEF, 0xBB, 0xBF, b'<', b'a', b'/', b'>'],
        )
        .expect("write");
        std::fs::write(dir.join("feed.txt"), b"<x/>\r\n\n  \n<y/>\n").expect("write");

        let files = read_all(&[dir.join("sub")], false).expect("read");
        assert_eq!(
            files,
            vec![
                (
                    "a.xml".to_owned(),
                    vec![0xEF, 0xBB, 0xBF, b'<', b'a', b'/', b'>']
                ),
                ("b.xml".to_owned(), b"<b/>".to_vec()),
            ]
        );
        let lines = read_all(&[dir.join("feed.txt")], true).expect("read");
        assert_eq!(
            lines,
            vec![
                ("feed.txt:1".to_owned(), b"<x/>".to_vec()),
                ("feed.txt:4".to_owned(), b"<y/>".to_vec()),
            ]
        );
        assert!(read_all(&[dir.join("missing.xml")], false).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
