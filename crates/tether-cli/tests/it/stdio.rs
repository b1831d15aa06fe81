//! The stdio transport and the session over it.

use std::time::Duration;

use serde_json::json;
use tether_client::error::{Error, ErrorClass, Timer};
use tether_client::session::{RequestOptions, Session};
use tether_proto::mcp::{CallToolSummary, Tool, method};

use crate::support::{self, session_opts, stdio, stdio_args, wait_gone};

async fn connect(faults: &[&str]) -> Session {
    Session::connect(&stdio(faults), session_opts(Duration::from_secs(10)))
        .await
        .expect("connect")
}

fn call_opts() -> RequestOptions {
    RequestOptions::timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn handshake_lists_tools_and_calls_one() {
    let s = connect(&[]).await;
    assert_eq!(s.protocol_version(), "2025-11-25");
    let tools = s
        .list_all::<Tool>(method::TOOLS_LIST, call_opts())
        .await
        .expect("tools");
    assert!(tools.items.iter().any(|t| t.name == "echo"));
    let r = s
        .call_tool("echo", Some(json!({"text": "hi"})), call_opts())
        .await
        .expect("call");
    assert_eq!(CallToolSummary::of(&r).text(), "hi");
    s.shutdown().await;
}

#[tokio::test]
async fn logs_on_stdout_are_skipped_and_counted() {
    let s = connect(&["stdout-noise:3"]).await;
    let r = s
        .call_tool("add", Some(json!({"a": 2, "b": 3})), call_opts())
        .await
        .expect("call");
    assert_eq!(CallToolSummary::of(&r).text(), "5");
    let stats = s.stats();
    assert_eq!(stats.noise, 6, "3 lines at start, 3 after initialize");
    assert_eq!(stats.noise_before_init, 3);
    assert!(stats.first_noise.is_some());
}

#[tokio::test]
async fn a_server_that_omits_jsonrpc_still_works_and_is_counted() {
    let s = connect(&["missing-jsonrpc"]).await;
    s.call_tool("echo", Some(json!({"text": "x"})), call_opts())
        .await
        .expect("call");
    assert!(s.stats().missing_jsonrpc >= 2);
}

#[tokio::test]
async fn arguments_are_always_sent_so_strict_servers_accept_calls_without_them() {
    let s = connect(&["require-arguments"]).await;
    let r = s
        .call_tool("pid", None, call_opts())
        .await
        .expect("call without arguments");
    assert_eq!(CallToolSummary::of(&r).is_error, None);
}

#[tokio::test]
async fn one_malformed_tool_is_dropped_and_the_rest_kept() {
    let s = connect(&["malformed-tool"]).await;
    let tools = s
        .list_all::<Tool>(method::TOOLS_LIST, call_opts())
        .await
        .expect("tools");
    assert_eq!(tools.issues.len(), 2, "{:?}", tools.issues);
    assert!(tools.items.iter().any(|t| t.name == "echo"));
}

#[tokio::test]
async fn every_page_is_read_and_a_repeated_cursor_stops_paging() {
    let s = connect(&["tools:30", "page-size:7"]).await;
    let tools = s
        .list_all::<Tool>(method::TOOLS_LIST, call_opts())
        .await
        .expect("tools");
    assert!(tools.pages >= 6, "{} pages", tools.pages);
    assert!(tools.items.iter().any(|t| t.name == "filler_29"));
    assert!(tools.warnings.is_empty());
    let s = connect(&["repeat-cursor", "page-size:3"]).await;
    let tools = s
        .list_all::<Tool>(method::TOOLS_LIST, call_opts())
        .await
        .expect("tools");
    assert_eq!(tools.warnings.len(), 1, "{:?}", tools.warnings);
    assert!(tools.warnings[0].contains("repeated cursor"));
}

#[tokio::test]
async fn a_crash_during_a_call_fails_it_at_once_with_the_exit_and_stderr() {
    let s = connect(&[]).await;
    let err = s
        .call_tool("crash", None, call_opts())
        .await
        .expect_err("crash");
    match &err {
        Error::ConnectionLost {
            outcome_unknown,
            cause,
            ..
        } => {
            assert!(
                *outcome_unknown,
                "a call that may have run is never replayed"
            );
            assert_eq!(cause.exit().and_then(|e| e.code), Some(3));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::ProcessExited);
    assert!(
        err.stderr_tail()
            .iter()
            .any(|l| l.contains("crashing on purpose"))
    );
    // Later requests fail at once too, never hang.
    let again = s.ping(Duration::from_secs(5)).await.expect_err("closed");
    assert_eq!(again.class(), ErrorClass::ProcessExited);
}

#[tokio::test]
async fn exit_at_start_is_a_process_exit_during_initialize_with_stderr() {
    let err = Session::connect(
        &stdio(&["exit-at-start:7:boom: missing API key"]),
        session_opts(Duration::from_secs(10)),
    )
    .await
    .expect_err("exits");
    match &err {
        Error::ProcessExited {
            during_init,
            exit,
            stderr_tail,
            ..
        } => {
            assert!(*during_init);
            assert_eq!(exit.and_then(|e| e.code), Some(7));
            assert_eq!(stderr_tail, &["boom: missing API key"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::ProcessExited);
    assert!(
        err.to_string()
            .starts_with("server exited during initialize (code 7)")
    );
}

#[tokio::test]
async fn a_missing_command_is_a_spawn_error_naming_the_path_searched() {
    let target = tether_client::Target::Stdio(tether_client::transport::StdioParams {
        command: "tether-test-no-such-command".into(),
        ..Default::default()
    });
    let err = Session::connect(&target, session_opts(Duration::from_secs(5)))
        .await
        .expect_err("spawn");
    assert_eq!(err.class(), ErrorClass::Spawn);
    assert_eq!(
        err.to_string(),
        "could not start `tether-test-no-such-command`: not found on PATH"
    );
    assert!(err.hint().expect("hint").contains("searched:"));
}

#[tokio::test]
async fn a_server_that_never_answers_initialize_times_out_and_is_killed() {
    let err = Session::connect(
        &stdio(&["never-initialize", "stderr-noise:1"]),
        session_opts(Duration::from_millis(600)),
    )
    .await
    .expect_err("timeout");
    match &err {
        Error::HandshakeTimeout {
            process_running, ..
        } => assert_eq!(*process_running, Some(true)),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::HandshakeTimeout);
    assert!(
        err.to_string()
            .contains("within 600ms; process still running"),
        "{err}"
    );
}

#[tokio::test]
async fn request_timeout_sends_cancelled_and_the_session_survives() {
    let s = connect(&[]).await;
    let opts = RequestOptions::timeout(Duration::from_millis(300));
    let err = s
        .call_tool("sleep", Some(json!({"ms": 20_000})), opts)
        .await
        .expect_err("timeout");
    match &err {
        Error::Timeout { method, timer, .. } => {
            assert_eq!(method, "tools/call 'sleep'");
            assert_eq!(*timer, Timer::WallClock);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::RequestTimeout);
    // The server stopped the call (it got notifications/cancelled) and still answers.
    s.ping(Duration::from_secs(5))
        .await
        .expect("alive after a timed-out call");
}

#[tokio::test]
async fn progress_resets_the_idle_timer_under_a_hard_cap() {
    let s = connect(&[]).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // 1.2 s of work with progress every 100 ms: an idle timer of 500 ms never fires.
    let opts = RequestOptions {
        timeout: Some(Duration::from_secs(20)),
        deadline: None,
        timer: Timer::WallClock,
        idle: Some(Duration::from_millis(500)),
        progress: Some(tx),
        sent_id: None,
    };
    s.call_tool("sleep", Some(json!({"ms": 1200})), opts)
        .await
        .expect("progress kept it alive");
    assert!(rx.try_recv().is_ok(), "progress was forwarded");
    // The same work with the wall clock under it: the hard cap wins over progress.
    let capped = RequestOptions {
        timeout: Some(Duration::from_millis(700)),
        deadline: None,
        timer: Timer::WallClock,
        idle: Some(Duration::from_millis(500)),
        progress: None,
        sent_id: None,
    };
    let err = s
        .call_tool("sleep", Some(json!({"ms": 5000})), capped)
        .await
        .expect_err("capped");
    assert!(
        matches!(
            err,
            Error::Timeout {
                timer: Timer::WallClock,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn idle_timer_fires_without_progress() {
    let s = connect(&["slow:tools/call:20000"]).await;
    let opts = RequestOptions {
        timeout: Some(Duration::from_secs(20)),
        deadline: None,
        timer: Timer::WallClock,
        idle: Some(Duration::from_millis(300)),
        progress: None,
        sent_id: None,
    };
    let err = s
        .call_tool("echo", Some(json!({"text": "x"})), opts)
        .await
        .expect_err("idle");
    assert!(
        matches!(
            err,
            Error::Timeout {
                timer: Timer::Idle,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn server_requests_are_answered_ping_and_roots() {
    let s = connect(&[]).await;
    let r = s
        .call_tool("roots", None, call_opts())
        .await
        .expect("roots tool");
    let text = CallToolSummary::of(&r).text();
    // The default handler declares roots and answers with its (empty) list.
    assert!(text.contains("roots"), "{text}");
}

#[tokio::test]
async fn unsupported_server_requests_get_a_proper_error() {
    let s = connect(&[]).await;
    let r = s
        .call_tool("sample", Some(json!({"prompt": "hi"})), call_opts())
        .await
        .expect("call");
    let summary = CallToolSummary::of(&r);
    // The server reports our -32601 back as a tool error; the session did not hang.
    assert_eq!(summary.is_error, Some(true), "{}", r.get());
}

#[tokio::test]
async fn shutdown_escalates_to_sigterm_then_sigkill_and_kills_the_group() {
    // Ignores stdin EOF and SIGTERM, and has a grandchild: only SIGKILL to the group ends it all.
    let s = Session::connect(
        &stdio(&["ignore-stdin-eof", "ignore-sigterm", "spawn-child"]),
        session_opts(Duration::from_secs(10)),
    )
    .await
    .expect("connect");
    let pid = s.pid().expect("pid");
    let child_pid = wait_for_child_pid(&s).await;
    assert!(support::alive(child_pid));
    s.shutdown().await;
    wait_gone(pid).await;
    wait_gone(child_pid).await;
}

#[tokio::test]
async fn dropping_a_session_leaves_no_process_behind() {
    let s = connect(&["spawn-child"]).await;
    let pid = s.pid().expect("pid");
    let child_pid = wait_for_child_pid(&s).await;
    drop(s);
    wait_gone(pid).await;
    wait_gone(child_pid).await;
}

async fn wait_for_child_pid(s: &Session) -> u32 {
    let deadline = tokio::time::Instant::now() + support::LIMIT;
    loop {
        if let Some(pid) = s.stderr_tail(50).iter().find_map(|l| {
            l.strip_prefix("chaos: child pid ")
                .and_then(|p| p.trim().parse().ok())
        }) {
            return pid;
        }
        assert!(tokio::time::Instant::now() < deadline, "no child pid line");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn env_and_cwd_reach_the_server() {
    let dir = std::env::temp_dir();
    let target = tether_client::Target::Stdio(tether_client::transport::StdioParams {
        command: support::tether().into(),
        args: vec!["chaos".into()],
        env: vec![("TETHER_TEST_VALUE".into(), "from-config".into())],
        cwd: Some(dir.clone()),
    });
    let s = Session::connect(&target, session_opts(Duration::from_secs(10)))
        .await
        .expect("connect");
    let r = s
        .call_tool(
            "env",
            Some(json!({"name": "TETHER_TEST_VALUE"})),
            call_opts(),
        )
        .await
        .expect("env");
    assert_eq!(CallToolSummary::of(&r).text(), "from-config");
    let r = s
        .call_tool("env", Some(json!({"name": "PATH"})), call_opts())
        .await
        .expect("env");
    assert!(
        !CallToolSummary::of(&r).text().is_empty(),
        "the rest of the environment is inherited"
    );
    let r = s.call_tool("cwd", None, call_opts()).await.expect("cwd");
    let cwd = CallToolSummary::of(&r).text();
    assert_eq!(
        std::fs::canonicalize(cwd).expect("cwd"),
        std::fs::canonicalize(dir).expect("dir")
    );
}

#[tokio::test]
async fn a_peer_error_passes_through_with_its_code() {
    let s = connect(&[]).await;
    let err = s
        .call_tool("no-such-tool", None, call_opts())
        .await
        .expect_err("unknown tool");
    match err {
        Error::Peer(e) => assert_eq!(e.code, -32602),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn concurrent_requests_are_correlated_by_id() {
    let s = connect(&[]).await;
    let calls = (0..50).map(|i| {
        let s = s.clone();
        async move {
            let r = s
                .call_tool("echo", Some(json!({"text": format!("m{i}")})), call_opts())
                .await
                .expect("call");
            assert_eq!(CallToolSummary::of(&r).text(), format!("m{i}"));
        }
    });
    futures_util::future::join_all(calls).await;
}

#[tokio::test]
async fn an_unsupported_protocol_version_is_refused() {
    let err = Session::connect(
        &stdio_args(&["--fault", "protocol-version:1999-01-01"]),
        session_opts(Duration::from_secs(10)),
    )
    .await
    .expect_err("version");
    assert!(matches!(err, Error::VersionUnsupported { .. }), "{err:?}");
    assert_eq!(err.code(), "protocol_version_unsupported");
}
