//! `tether-bench load` against its own echo server, over stdio and over HTTP: every call is
//! answered and checked. No timing assertions: the benchmark reports, tests only check it works.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_tether-bench");

fn report(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().next().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON report ({e}): {text}"))
}

#[test]
fn load_over_stdio_counts_every_call() {
    let out = Command::new(EXE)
        .args([
            "load",
            "--stdio-cmd",
            &format!("{EXE} echo-server --stdio"),
            "--count",
            "100",
            "--warmup",
            "0",
            "-c",
            "4",
        ])
        .output()
        .unwrap();
    let r = report(&out.stdout);
    assert!(out.status.success(), "{r}");
    assert_eq!(r["calls"], 100, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["transport"], "stdio");
    assert!(r["lat_us"]["p50"].as_u64().unwrap() > 0, "{r}");
    // The watched child is our echo server: counted apart from any proxy.
    assert_eq!(r["echo_procs"], 1, "{r}");
    assert_eq!(r["proxy_procs"], 0, "{r}");
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(
        human.lines().nth(1).unwrap_or_default().starts_with("# "),
        "{human}"
    );
}

#[test]
fn load_over_http_counts_every_call() {
    let mut server = Command::new(EXE)
        .args(["echo-server", "--http", "0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line[line.find("http://").expect("an address")..]
        .trim()
        .to_owned();
    let out = Command::new(EXE)
        .args([
            "load", "--http", &url, "--count", "100", "--warmup", "0", "-c", "3",
        ])
        .args(["--watch-pid", &server.id().to_string()])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let r = report(&out.stdout);
    assert!(out.status.success(), "{r}");
    assert_eq!(r["calls"], 100, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["transport"], "http");
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let out = Command::new(EXE)
        .args([
            "load",
            "--stdio-cmd",
            "exit 3",
            "--count",
            "1",
            "--warmup",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r = report(&out.stdout);
    assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");
    let usage = Command::new(EXE)
        .args(["load", "--count", "1"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}
