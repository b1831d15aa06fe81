//! `tether doctor` end to end, through the real binary: a corpus of broken servers (one per
//! finding code, real processes and sockets) with the exact codes, verdict and layer each must
//! produce, redaction of secrets, and snapshots of the human report (times, ports, pids and
//! paths filtered). No timing assertions: the slow-phase case lowers the threshold with
//! `TETHER_DOCTOR_SLOW_MS` and the server sleeps longer than that.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::support::{HttpChaos, Run, closed_port_url, regex_escape, run_tether, tether};

/// How a case's server is reached.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// `-- tether chaos --fault …`.
    Stdio(&'static [&'static str]),
    /// `--url` of a `tether chaos --http --fault …` process.
    Http(&'static [&'static str]),
    /// The same, with `--sse`.
    HttpAsSse(&'static [&'static str]),
    /// The same, at another path (`/wrong`).
    HttpPath(&'static [&'static str], &'static str),
    /// The same, with `https://` (a TLS client against a plain HTTP server).
    Https(&'static [&'static str]),
    /// A port nothing listens on.
    ClosedPort,
    /// `-- <a command that does not exist>`.
    Missing,
    /// A configured server (`--config FILE`, entry `s`), its JSON built from the tether path.
    Config(fn(&str) -> Value),
}

struct Case {
    name: &'static str,
    via: Via,
    /// Extra `tether doctor` flags.
    flags: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    codes: &'static [&'static str],
    verdict: &'static str,
    layer: &'static str,
}

const fn case(
    name: &'static str,
    via: Via,
    codes: &'static [&'static str],
    verdict: &'static str,
    layer: &'static str,
) -> Case {
    Case {
        name,
        via,
        flags: &[],
        env: &[],
        codes,
        verdict,
        layer,
    }
}

const CALL_ECHO: &[&str] = &["--call", "echo", "--args", r#"{"text":"hi"}"#];
/// Long enough that a loaded machine still initializes in time; only hangs reach it.
const SHORT: &[&str] = &["--timeout", "3"];

fn corpus() -> Vec<Case> {
    vec![
        case("healthy stdio", Via::Stdio(&[]), &[], "healthy", "none"),
        case("healthy http", Via::Http(&[]), &[], "healthy", "none"),
        case(
            "healthy legacy sse",
            Via::HttpAsSse(&["legacy-sse"]),
            &[],
            "healthy",
            "none",
        ),
        case(
            "healthy with server/discover",
            Via::Http(&["discover"]),
            &[],
            "healthy",
            "none",
        ),
        // config
        case(
            "url without type",
            Via::Config(|_| json!({"url": "http://127.0.0.1:9/mcp"})),
            &["config_invalid"],
            "broken",
            "config",
        ),
        case(
            "unset variable",
            Via::Config(
                |bin| json!({"command": bin, "args": ["chaos", "--name", "${TETHER_DOCTOR_TEST_UNSET_VAR}"]}),
            ),
            &["env_var_missing"],
            "degraded",
            "config",
        ),
        case(
            "whitespace in a value",
            Via::Config(
                |bin| json!({"command": bin, "args": ["chaos"], "env": {"X_PADDED": " v "}}),
            ),
            &["config_whitespace"],
            "degraded",
            "config",
        ),
        case(
            "relative argument",
            Via::Config(
                |bin| json!({"command": bin, "args": ["chaos", "--state-file", "./chaos-state.json"]}),
            ),
            &["relative_path"],
            "degraded",
            "config",
        ),
        // process
        case(
            "command not installed",
            Via::Missing,
            &["spawn_failed"],
            "broken",
            "process",
        ),
        case(
            "exits at start",
            Via::Stdio(&["exit-at-start:1:Error: DATABASE_URL is not set"]),
            &["process_exited"],
            "broken",
            "process",
        ),
        Case {
            flags: CALL_ECHO,
            ..case(
                "crashes on a call",
                Via::Stdio(&["crash-on-call"]),
                &["process_exited"],
                "broken",
                "process",
            )
        },
        case(
            "logs on stdout",
            Via::Stdio(&["stdout-noise:2"]),
            &["stdout_not_json"],
            "degraded",
            "process",
        ),
        // network
        case(
            "nothing listening",
            Via::ClosedPort,
            &["connection_refused"],
            "broken",
            "network",
        ),
        case(
            "https to plain http",
            Via::Https(&[]),
            &["tls_failed"],
            "broken",
            "network",
        ),
        // http
        case(
            "needs a token",
            Via::Http(&["require-auth:t0ken"]),
            &["http_unauthorized"],
            "broken",
            "http",
        ),
        case(
            "forbidden",
            Via::Http(&["status:403"]),
            &["http_forbidden"],
            "broken",
            "http",
        ),
        case(
            "wrong path",
            Via::HttpPath(&[], "/wrong"),
            &["http_not_found"],
            "broken",
            "http",
        ),
        case(
            "gateway error page",
            Via::Http(&["status:503"]),
            &["http_server_error"],
            "broken",
            "http",
        ),
        case(
            "moved permanently",
            Via::Http(&["status:301:Location=/v2/mcp"]),
            &["http_redirect"],
            "broken",
            "http",
        ),
        case(
            "mounted at /mcp/, redirects /mcp",
            Via::Http(&["redirect-slash"]),
            &["http_redirect"],
            "degraded",
            "http",
        ),
        case(
            "login page",
            Via::Http(&["html-200"]),
            &["http_unexpected_content_type"],
            "broken",
            "http",
        ),
        case(
            "accept rewritten",
            Via::Http(&["status:406"]),
            &["http_not_acceptable"],
            "broken",
            "http",
        ),
        case(
            "legacy server as http",
            Via::Http(&["legacy-sse"]),
            &["legacy_sse_only"],
            "broken",
            "http",
        ),
        case(
            "streamable server as sse",
            Via::HttpAsSse(&[]),
            &["streamable_http_only"],
            "broken",
            "http",
        ),
        case(
            "session forgotten",
            Via::Http(&["session-expire:1"]),
            &["session_expired"],
            "degraded",
            "http",
        ),
        case(
            "unknown session gets 400",
            Via::Http(&["session-400"]),
            &["unknown_session_status"],
            "degraded",
            "http",
        ),
        case(
            "any origin accepted",
            Via::Http(&["no-origin-check"]),
            &["origin_not_validated"],
            "degraded",
            "http",
        ),
        // protocol
        Case {
            flags: SHORT,
            ..case(
                "never answers initialize",
                Via::Stdio(&["never-initialize"]),
                &["initialize_timeout"],
                "broken",
                "protocol",
            )
        },
        case(
            "initialize fails",
            Via::Stdio(&["error:initialize"]),
            &["initialize_error"],
            "broken",
            "protocol",
        ),
        case(
            "initialize result invalid",
            Via::Stdio(&["bad-initialize"]),
            &["initialize_error"],
            "broken",
            "protocol",
        ),
        case(
            "unknown protocol version",
            Via::Stdio(&["protocol-version:1999-01-01"]),
            &["protocol_version_unsupported"],
            "broken",
            "protocol",
        ),
        case(
            "messages without jsonrpc",
            Via::Stdio(&["missing-jsonrpc"]),
            &["nonconformant_message"],
            "degraded",
            "protocol",
        ),
        case(
            "cursor loop",
            Via::Stdio(&["repeat-cursor"]),
            &["nonconformant_message"],
            "degraded",
            "protocol",
        ),
        Case {
            flags: SHORT,
            ..case(
                "tools/list hangs",
                Via::Stdio(&["hang-after:1"]),
                &["tools_list_timeout"],
                "broken",
                "protocol",
            )
        },
        case(
            "tools/list fails",
            Via::Stdio(&["error:tools/list"]),
            &["tools_list_error"],
            "broken",
            "protocol",
        ),
        Case {
            flags: SHORT,
            ..case(
                "ping hangs",
                Via::Stdio(&["hang-after:2"]),
                &["ping_failed"],
                "broken",
                "protocol",
            )
        },
        // server
        case(
            "no tools",
            Via::Stdio(&["no-tools"]),
            &["no_tools"],
            "degraded",
            "server",
        ),
        case(
            "malformed tools",
            Via::Stdio(&["malformed-tool"]),
            &["invalid_tool_name", "invalid_tool_schema"],
            "broken",
            "server",
        ),
        case(
            "lint bait",
            Via::Stdio(&["lint-bait"]),
            &[
                "duplicate_tool_name",
                "invalid_tool_name",
                "invalid_tool_schema",
                "long_tool_description",
            ],
            "broken",
            "server",
        ),
        case(
            "long instructions",
            Via::Stdio(&["instructions:3000"]),
            &["long_instructions"],
            "degraded",
            "server",
        ),
        Case {
            env: &[("TETHER_DOCTOR_SLOW_MS", "50")],
            ..case(
                "slow initialize",
                Via::Stdio(&["slow:initialize:150"]),
                &["slow_phase"],
                "degraded",
                "server",
            )
        },
        // call
        Case {
            flags: &[
                "--call",
                "echo",
                "--args",
                r#"{"text":"hi"}"#,
                "--timeout",
                "3",
            ],
            ..case(
                "call hangs",
                Via::Stdio(&["hang-after:3"]),
                &["tool_call_timeout"],
                "broken",
                "server",
            )
        },
        Case {
            flags: CALL_ECHO,
            ..case(
                "call fails",
                Via::Stdio(&["error:tools/call"]),
                &["tool_call_error"],
                "broken",
                "server",
            )
        },
        Case {
            flags: &["--call", "fail", "--args", r#"{"message":"no such file"}"#],
            ..case(
                "tool reports an error",
                Via::Stdio(&[]),
                &["tool_call_error"],
                "degraded",
                "server",
            )
        },
        Case {
            flags: CALL_ECHO,
            ..case(
                "result over the token limit",
                Via::Stdio(&["big-result:120000"]),
                &["large_tool_result"],
                "broken",
                "server",
            )
        },
        Case {
            flags: CALL_ECHO,
            ..case(
                "empty result",
                Via::Stdio(&["empty-result"]),
                &["invalid_tool_result"],
                "degraded",
                "server",
            )
        },
        Case {
            flags: CALL_ECHO,
            ..case(
                "unknown content type",
                Via::Stdio(&["unknown-content"]),
                &["invalid_tool_result"],
                "degraded",
                "server",
            )
        },
    ]
}

async fn tether_in(args: &[String], cwd: &Path, env: &[(&str, &str)]) -> Run {
    run_tether(args, cwd, |cmd| {
        cmd.env_remove("TETHER_DOCTOR_SLOW_MS");
        for (k, v) in env {
            cmd.env(k, v);
        }
    })
    .await
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-doctor-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn chaos_args(faults: &[&str]) -> Vec<String> {
    let mut args = vec!["--".to_owned(), tether().to_owned(), "chaos".to_owned()];
    for f in faults {
        args.push("--fault".into());
        args.push((*f).to_owned());
    }
    args
}

/// Runs `tether doctor` for a case (servers live until it returns).
async fn doctor(via: Via, flags: &[&str], env: &[(&str, &str)], json: bool, dir: &Path) -> Run {
    let mut args = vec!["doctor".to_owned()];
    if json {
        args.push("--json".into());
    }
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    let mut server = None;
    match via {
        Via::Stdio(faults) => args.extend(chaos_args(faults)),
        Via::Http(faults)
        | Via::HttpAsSse(faults)
        | Via::HttpPath(faults, _)
        | Via::Https(faults) => {
            let s = HttpChaos::start(faults).await;
            let mut url = s.url.clone();
            if let Via::HttpPath(_, path) = via {
                url.set_path(path);
            }
            let mut text = url.to_string();
            if let Via::Https(_) = via {
                text = text.replacen("http://", "https://", 1);
            }
            args.extend(["--url".to_owned(), text]);
            if let Via::HttpAsSse(_) = via {
                args.push("--sse".into());
            }
            server = Some(s);
        }
        Via::ClosedPort => args.extend(["--url".to_owned(), closed_port_url().await.to_string()]),
        Via::Missing => args.extend([
            "--".to_owned(),
            "tether-doctor-test-not-installed".to_owned(),
        ]),
        Via::Config(entry) => {
            let file = dir.join("mcp.json");
            let config = json!({ "mcpServers": { "s": entry(tether()) } });
            std::fs::write(&file, config.to_string()).expect("write config");
            args.extend([
                "--config".to_owned(),
                file.display().to_string(),
                "s".to_owned(),
            ]);
        }
    }
    let run = tether_in(&args, dir, env).await;
    drop(server);
    run
}

fn codes_of(report: &Value) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `--debug` streams what the doctor's session sees, stderr lines first among them, on stderr
/// before the report, without changing the report.
#[tokio::test]
async fn debug_streams_the_servers_stderr_as_it_comes() {
    let dir = scratch("debug");
    let mut args = vec!["doctor".to_owned(), "--debug".to_owned()];
    args.extend(chaos_args(&["stderr-noise:3", "stdout-noise:1"]));
    let run = tether_in(&args, &dir, &[]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{}", run.stderr))
    };
    let first = at("stderr: INFO  chaos: loading configuration (1/3)");
    let last = at("stderr: DEBUG chaos: registering handlers (3/3)");
    assert!(first < last, "{}", run.stderr);
    at("not JSON-RPC on stdout: [db] Connecting to database...");
    // `[   0.009s] tether: stderr: …`: seconds since the doctor started, then the server.
    let stamped = lines[first]
        .strip_prefix('[')
        .and_then(|l| l.split_once("s] "))
        .is_some_and(|(secs, rest)| {
            secs.trim().parse::<f64>().is_ok() && rest.starts_with("tether: stderr: ")
        });
    assert!(stamped, "{}", lines[first]);
    assert!(run.stdout.contains("Verdict: degraded"), "{}", run.stdout);
}

/// Every `tether.fallback_urls` entry gets a handshake: a dead one is a warning (the failover
/// would fail), a live one a passing `fallback` phase; the primary's verdict is unchanged.
#[tokio::test]
async fn fallback_urls_are_checked_too() {
    let dir = scratch("fallbacks");
    let server = HttpChaos::start(&[]).await;
    let dead = closed_port_url().await.to_string();
    let file = dir.join("mcp.json");
    let entry = json!({
        "type": "http",
        "url": server.url.to_string(),
        "tether": { "fallback_urls": [dead.clone(), server.url.to_string()] },
    });
    std::fs::write(&file, json!({ "mcpServers": { "s": entry } }).to_string()).unwrap();
    let args = [
        "doctor",
        "--json",
        "--config",
        &file.display().to_string(),
        "s",
    ]
    .map(String::from);
    let run = tether_in(&args, &dir, &[]).await;
    let report: Value = serde_json::from_str(&run.stdout).expect(&run.stderr);
    assert_eq!(report["verdict"], "degraded", "{}", run.stdout);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["code"], "connection_refused");
    assert_eq!(findings[0]["severity"], "warning");
    let message = findings[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("fallback {dead}")),
        "{message}"
    );
    let passing: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "fallback" && p["ok"] == true)
        .filter_map(|p| p["detail"].as_str())
        .collect();
    assert_eq!(passing.len(), 1, "{}", run.stdout);
    assert!(passing[0].contains("answers initialize"), "{}", passing[0]);
}

#[tokio::test]
async fn every_broken_server_gets_its_codes_verdict_and_layer() {
    let dir = scratch("corpus");
    // A few at a time: each case is one or two processes, and the hang cases wait out a budget.
    let gate = Arc::new(Semaphore::new(6));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, c) in corpus().into_iter().enumerate() {
        let gate = gate.clone();
        let dir = dir.join(format!("case-{i}"));
        std::fs::create_dir_all(&dir).expect("case dir");
        tasks.spawn(async move {
            let _permit = gate.acquire().await.expect("permit");
            let run = doctor(c.via, c.flags, c.env, true, &dir).await;
            (c, run)
        });
    }
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (c, run) = done.expect("case task");
        let report: Value = match serde_json::from_str(&run.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!(
                    "{}: stdout is not one JSON document ({e}): {}\nstderr: {}",
                    c.name, run.stdout, run.stderr
                ));
                continue;
            }
        };
        let want: BTreeSet<String> = c.codes.iter().map(|s| (*s).to_owned()).collect();
        let got = codes_of(&report);
        let exit = if c.verdict == "healthy" { 0 } else { 1 };
        if got != want
            || report["verdict"] != c.verdict
            || report["layer"] != c.layer
            || run.code != exit
        {
            failures.push(format!(
                "{}: want {want:?} {} {} exit {exit}; got {got:?} {} {} exit {}\n{}",
                c.name,
                c.verdict,
                c.layer,
                report["verdict"],
                report["layer"],
                run.code,
                serde_json::to_string_pretty(&report["findings"]).unwrap_or_default()
            ));
        }
        if !run.stderr.is_empty() {
            failures.push(format!("{}: unexpected stderr: {}", c.name, run.stderr));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[tokio::test]
async fn the_json_report_has_the_contract_shape() {
    let dir = scratch("shape");
    let run = doctor(Via::Http(&["discover"]), CALL_ECHO, &[], true, &dir).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(v["transport"], "http");
    assert_eq!(
        (v["verdict"].as_str(), v["layer"].as_str()),
        (Some("healthy"), Some("none"))
    );
    let names: Vec<&str> = v["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .map(|p| {
            assert!(
                p["ok"].is_boolean() && p["ms"].is_f64() && p["detail"].is_string(),
                "{p}"
            );
            p["name"].as_str().expect("name")
        })
        .collect();
    assert_eq!(
        names,
        [
            "config",
            "connect",
            "http",
            "initialize",
            "initialized",
            "tools/list",
            "ping",
            "tools/call"
        ]
    );
    assert_eq!(v["phases"][2]["http"]["status"], 200);
    assert_eq!(
        v["phases"][2]["http"]["headers"]["mcp-session-id"],
        "present"
    );
    assert!(v["findings"].as_array().is_some_and(Vec::is_empty));
    assert!(v["stderr_tail"].is_array());
    assert_eq!(v["protocol_version"], "2025-11-25");
    assert_eq!(v["tools"], 12);
    let matrix: Vec<(&str, &str)> = v["matrix"]
        .as_array()
        .expect("matrix")
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap_or(""),
                l["supported"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        matrix,
        [
            ("Streamable HTTP, JSON responses", "yes"),
            ("Streamable HTTP, SSE responses", "unknown"),
            ("Legacy HTTP+SSE (2024-11-05)", "no"),
            ("Stateless 2026-07-28 (server/discover)", "yes"),
            ("Origin validation", "yes"),
            ("Unknown session answered 404", "yes"),
        ]
    );
}

#[tokio::test]
async fn secrets_never_reach_the_output() {
    let dir = scratch("secrets");
    let server = HttpChaos::start(&["require-auth:s3cr3t-t0ken"]).await;
    let mut url = server.url.clone();
    url.set_query(Some("key=q5ecret-v4lue"));
    for (token, code) in [("s3cr3t-t0ken", 0), ("wr0ng-t0ken", 1)] {
        for json in [true, false] {
            let mut args = vec![
                "doctor".to_owned(),
                "--url".to_owned(),
                url.to_string(),
                "--header".to_owned(),
                format!("Authorization: Bearer {token}"),
            ];
            if json {
                args.push("--json".into());
            }
            let run = tether_in(&args, &dir, &[]).await;
            assert_eq!(run.code, code, "{}{}", run.stdout, run.stderr);
            let all = format!("{}{}", run.stdout, run.stderr);
            for secret in ["s3cr3t-t0ken", "wr0ng-t0ken", "q5ecret-v4lue"] {
                assert!(!all.contains(secret), "`{secret}` leaked:\n{all}");
            }
        }
    }
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let dir = scratch("usage");
    for args in [
        vec!["doctor"],
        vec!["doctor", "--call", "echo", "--args", "[1]", "--", "true"],
        vec!["doctor", "--timeout", "-1", "--", "true"],
        vec!["doctor", "name", "--url", "http://127.0.0.1:9/mcp"],
    ] {
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let run = tether_in(&args, &dir, &[]).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// Filters what changes between runs: times, ports, pids, the binary's location.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&regex_escape(tether()), "[TETHER]");
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    s.add_filter(r" +\d+\.\dms  ", " [MS]  ");
    s.add_filter(r" +\d+\.\dms\n", " [MS]\n");
    s.add_filter(r"\b(after|in|took) \d+(\.\d+)?(ms|s)\b", "$1 [TIME]");
    s.add_filter(r"pid \d+", "pid [PID]");
    s.add_filter(r"instructions \d+ B", "instructions [N] B");
    s.set_snapshot_path(crate::support::manifest_dir().join("tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}

#[tokio::test]
async fn human_reports_read_well() {
    let dir = scratch("human");
    let cases: [(&str, Via, &[&str], i32); 4] = [
        ("doctor_healthy_stdio", Via::Stdio(&[]), &[], 0),
        (
            "doctor_exits_at_start",
            Via::Stdio(&["exit-at-start:1:Error: DATABASE_URL is not set"]),
            &[],
            1,
        ),
        ("doctor_legacy_sse_only", Via::Http(&["legacy-sse"]), &[], 1),
        (
            "doctor_lint_and_call",
            Via::Stdio(&["lint-bait", "empty-result"]),
            CALL_ECHO,
            1,
        ),
    ];
    for (name, via, flags, code) in cases {
        let run = doctor(via, flags, &[], false, &dir).await;
        assert_eq!(run.code, code, "{name}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.is_empty(), "{name}: {}", run.stderr);
        settings().bind(|| insta::assert_snapshot!(name, run.stdout));
    }
}
