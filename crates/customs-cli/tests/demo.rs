//! The README's main job: `customs demo --once` runs the three services on the
//! embedded mock cluster and prints non-zero totals for several categories.

use std::net::TcpListener;
use std::process::Command;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|err| panic!("no free port: {err}"))
}

#[test]
fn demo_prints_totals_for_several_categories() {
    let output = Command::new(env!("CARGO_BIN_EXE_customs"))
        .args(["demo", "--once", "--count", "120"])
        .args(["--grpc-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap_or_else(|err| panic!("cannot run customs: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "customs demo failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("total: 120 declarations"), "{stdout}");
    for category in [
        "general_trade",
        "cross_border_ecommerce",
        "market_procurement",
        "processing_trade",
    ] {
        let row = stdout
            .lines()
            .find(|line| line.starts_with(category))
            .unwrap_or_else(|| panic!("no {category} row in\n{stdout}"));
        let num_declarations: u64 = row
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unreadable row {row}"));
        assert!(num_declarations > 0, "{row}");
    }
    assert!(stdout.contains("dead letters: 6"), "{stdout}");
}
