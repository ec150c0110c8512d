//! `customs generate` writes what it says, and its summary is valid JSON.

use std::process::Command;

#[test]
fn generates_files_and_a_summary_that_classify_accepts() {
    let dir = std::env::temp_dir().join(format!("customs-generate-{}", std::process::id()));
    let summary_path = dir.join("summary.json");
    let status = Command::new(env!("CARGO_BIN_EXE_customs"))
        .args([
            "generate",
            "--count",
            "60",
            "--seed",
            "3",
            "--malformed-rate",
            "0",
        ])
        .arg("--out-dir")
        .arg(&dir)
        .arg("--summary")
        .arg(&summary_path)
        .status()
        .unwrap_or_else(|err| panic!("cannot run customs: {err}"));
    assert!(status.success());
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{err}"))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "xml"))
        .collect();
    assert_eq!(files.len(), 60);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).unwrap_or_default())
            .unwrap_or_else(|err| panic!("{err}"));
    let sent: u64 = summary["messages"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    assert_eq!(sent, 60);
    let classify = Command::new(env!("CARGO_BIN_EXE_customs"))
        .arg("classify")
        .args(&files)
        .output()
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        classify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&classify.stdout)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_mix_decides_the_categories() {
    let output = Command::new(env!("CARGO_BIN_EXE_customs"))
        .args([
            "generate",
            "--count",
            "200",
            "--malformed-rate",
            "0",
            "--duplicate-rate",
            "0",
        ])
        .args(["--mix", "market_procurement=1"])
        .output()
        .unwrap_or_else(|err| panic!("cannot run customs: {err}"));
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let json_end = stderr.rfind('}').map_or(0, |end| end + 1);
    let summary: serde_json::Value =
        serde_json::from_str(&stderr[..json_end]).unwrap_or_else(|err| panic!("{err}: {stderr}"));
    let cells: Vec<&String> = summary["declared"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(cells, vec!["market_procurement/export"]);
    let bad = Command::new(env!("CARGO_BIN_EXE_customs"))
        .args(["generate", "--mix", "tourism=3"])
        .output()
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(bad.status.code(), Some(2), "clap usage error");
}
