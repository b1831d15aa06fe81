//! One test per row of CONTRACT §3, through the manager: the fault is real, the state sequence,
//! the attempt count and the final error class are asserted.

use std::time::Duration;

use serde_json::json;
use tether_client::error::{Error, ErrorClass};
use tether_client::spec::Restart;
use tether_client::status::State;
use tether_client::transport::{HttpParams, StdioParams, Target};
use tether_client::{CallOptions, Manager};

use crate::support::{self, HttpChaos, closed_port_url, fast, spec, start, stdio, wait_gone};

fn class_of(m: &Manager, name: &str) -> ErrorClass {
    m.status(name)
        .and_then(|s| s.error().map(|e| e.class))
        .expect("an error")
}

fn attempts(m: &Manager, name: &str) -> u32 {
    m.status(name).expect("status").attempts
}

#[tokio::test]
async fn config_errors_are_never_contacted() {
    let mut s = spec("bad", stdio(&[]));
    s.misconfigured = Some("`url`: has a \"url\" but no \"type\"".into());
    let (m, mut ev) = start(s, fast());
    ev.until("misconfigured").await;
    assert_eq!(ev.states(), ["misconfigured"]);
    assert!(m.status("bad").expect("status").pid.is_none());
}

#[tokio::test]
async fn spawn_failures_are_not_retried() {
    let target = Target::Stdio(StdioParams {
        command: "/nonexistent/tether-test-server".into(),
        ..Default::default()
    });
    let (m, mut ev) = start(spec("s", target), fast());
    ev.until("failed").await;
    assert_eq!(ev.states(), ["pending", "failed"]);
    assert_eq!(attempts(&m, "s"), 1);
    assert_eq!(class_of(&m, "s"), ErrorClass::Spawn);
}

#[tokio::test]
async fn exit_during_initialize_is_not_retried_and_shows_stderr() {
    let (m, mut ev) = start(
        spec("s", stdio(&["exit-at-start:2:fatal: no config"])),
        fast(),
    );
    let text = ev.until("failed").await;
    assert_eq!(attempts(&m, "s"), 1);
    assert_eq!(class_of(&m, "s"), ErrorClass::ProcessExited);
    assert!(text.contains("last stderr: fatal: no config"), "{text}");
    let err = m
        .status("s")
        .and_then(|s| s.error().cloned())
        .expect("error");
    assert_eq!(err.exit_code, Some(2));
}

#[tokio::test]
async fn a_crashed_stdio_server_is_respawned_and_its_tools_come_back() {
    let (m, mut ev) = start(spec("s", stdio(&["exit-after:200"])), fast());
    ev.until("connected").await;
    let first_pid = m.status("s").expect("status").pid.expect("pid");
    ev.until("pending").await;
    ev.until("connected").await;
    let status = m.status("s").expect("status");
    assert!(status.restarts >= 1);
    assert_ne!(status.pid, Some(first_pid), "a new process");
    assert!(!status.tools.is_empty(), "tools came back");
    m.shutdown().await;
}

#[tokio::test]
async fn a_crash_loop_ends_in_failed_with_the_stderr_tail() {
    let (m, mut ev) = start(
        spec("s", stdio(&["exit-after:50", "stderr-noise:1"])),
        fast(),
    );
    let text = ev.until("failed").await;
    assert!(text.contains("crash loop"), "{text}");
    let states = ev.states();
    assert_eq!(
        states.iter().filter(|s| **s == "connected").count(),
        3,
        "{states:?}"
    );
    let err = m
        .status("s")
        .and_then(|s| s.error().cloned())
        .expect("error");
    assert!(!err.stderr_tail.is_empty());
}

#[tokio::test]
async fn restart_never_leaves_a_crashed_server_failed() {
    let mut s = spec("s", stdio(&["exit-after:100"]));
    s.restart = Restart::Never;
    let (m, mut ev) = start(s, fast());
    ev.until("failed").await;
    assert_eq!(ev.states(), ["pending", "connected", "failed"]);
    assert_eq!(class_of(&m, "s"), ErrorClass::ProcessExited);
}

#[tokio::test]
async fn a_hung_stdio_handshake_is_killed_and_not_retried() {
    let mut s = spec("s", stdio(&["never-initialize"]));
    s.timeouts.connect = Duration::from_millis(500);
    let (m, mut ev) = start(s, fast());
    ev.until("failed").await;
    assert_eq!(attempts(&m, "s"), 1);
    assert_eq!(class_of(&m, "s"), ErrorClass::HandshakeTimeout);
}

#[tokio::test]
async fn a_slow_remote_handshake_is_retried_as_transient() {
    let server = HttpChaos::start(&["slow:initialize:3000@1"]).await;
    let mut s = spec("s", server.target());
    s.timeouts.connect = Duration::from_millis(800);
    let (m, mut ev) = start(s, fast());
    ev.until("connected").await;
    assert_eq!(attempts(&m, "s"), 2);
}

#[tokio::test]
async fn refused_connections_get_three_retries_then_fail() {
    let (m, mut ev) = start(spec("s", http(closed_port_url().await)), fast());
    ev.until("failed").await;
    assert_eq!(ev.states(), ["pending", "failed"]);
    assert_eq!(attempts(&m, "s"), 4, "1 + 3 retries");
    assert_eq!(class_of(&m, "s"), ErrorClass::Network);
}

#[tokio::test]
async fn a_503_twice_then_ok_connects_on_the_third_attempt() {
    let server = HttpChaos::start(&["status:503@2"]).await;
    let (m, mut ev) = start(spec("s", server.target()), fast());
    ev.until("connected").await;
    assert_eq!(attempts(&m, "s"), 3);
}

#[tokio::test]
async fn a_503_forever_fails_after_the_retries_with_http_transient() {
    let server = HttpChaos::start(&["status:503"]).await;
    let (m, mut ev) = start(spec("s", server.target()), fast());
    ev.until("failed").await;
    assert_eq!(attempts(&m, "s"), 4);
    assert_eq!(class_of(&m, "s"), ErrorClass::HttpTransient);
    assert_eq!(server.count("initialize").await, 4);
}

#[tokio::test]
async fn unauthorized_goes_to_needs_auth_without_retrying() {
    let server = HttpChaos::start(&["status:401"]).await;
    let (m, mut ev) = start(spec("s", server.target()), fast());
    let text = ev.until("needs-auth").await;
    assert_eq!(text, "! Needs authentication (HTTP 401)");
    assert_eq!(attempts(&m, "s"), 1);
    assert_eq!(server.count("initialize").await, 1);
    let server = HttpChaos::start(&["status:403"]).await;
    let (m, mut ev) = start(spec("s", server.target()), fast());
    ev.until("needs-auth").await;
    assert_eq!(class_of(&m, "s"), ErrorClass::Unauthorized);
}

#[tokio::test]
async fn endpoint_not_found_is_not_retried() {
    let server = HttpChaos::start(&[]).await;
    let mut url = server.url.clone();
    url.set_path("/nope");
    let (m, mut ev) = start(spec("s", http(url)), fast());
    let text = ev.until("failed").await;
    assert!(
        text.contains("MCP endpoint not found at http://127.0.0.1:"),
        "{text}"
    );
    assert_eq!(attempts(&m, "s"), 1);
    assert_eq!(class_of(&m, "s"), ErrorClass::EndpointNotFound);
}

#[tokio::test]
async fn protocol_errors_are_not_retried() {
    let server = HttpChaos::start(&["html-200"]).await;
    let (m, mut ev) = start(spec("s", server.target()), fast());
    ev.until("failed").await;
    assert_eq!(attempts(&m, "s"), 1);
    assert_eq!(class_of(&m, "s"), ErrorClass::Protocol);
}

#[tokio::test]
async fn dns_failures_are_not_retried_at_first_connect() {
    let url: url::Url = "http://tether-test.invalid/mcp".parse().expect("url");
    let (m, mut ev) = start(spec("s", http(url)), fast());
    ev.until("failed").await;
    let class = class_of(&m, "s");
    // Without any resolver the lookup fails as "temporary"; that is retried as a network error.
    match class {
        ErrorClass::Dns => assert_eq!(attempts(&m, "s"), 1),
        ErrorClass::Network => assert_eq!(attempts(&m, "s"), 4),
        other => panic!("unexpected class {other}"),
    }
}

#[tokio::test]
async fn session_expiry_is_recovered_without_leaving_connected() {
    let server = HttpChaos::start(&["session-expire:4"]).await;
    let (m, mut ev) = start(spec("s", server.target()), fast());
    ev.until("connected").await;
    for _ in 0..5 {
        m.call_tool(
            "s",
            "echo",
            Some(json!({"text": "x"})),
            CallOptions::default(),
        )
        .await
        .expect("call");
    }
    ev.until_step("session expired").await;
    assert_eq!(m.status("s").expect("status").state, State::Connected);
}

#[tokio::test]
async fn a_timed_out_call_never_marks_the_server_failed() {
    let (m, mut ev) = start(spec("s", stdio(&[])), fast());
    ev.until("connected").await;
    let err = m
        .call_tool(
            "s",
            "sleep",
            Some(json!({"ms": 30000})),
            CallOptions {
                timeout: Some(Duration::from_millis(300)),
                ..Default::default()
            },
        )
        .await
        .expect_err("timeout");
    assert_eq!(err.class(), ErrorClass::RequestTimeout);
    // The follow-up liveness ping succeeds: still connected, the next call works.
    m.call_tool(
        "s",
        "echo",
        Some(json!({"text": "ok"})),
        CallOptions::default(),
    )
    .await
    .expect("call");
    assert_eq!(m.status("s").expect("status").state, State::Connected);
    assert!(!ev.states().contains(&"failed"));
}

#[tokio::test]
async fn a_timed_out_call_on_a_wedged_server_kills_and_respawns_it() {
    // initialize, tools/list, prompts/list and resources/list are answered; then it wedges.
    let (m, mut ev) = start(spec("s", stdio(&["hang-after:4"])), fast());
    ev.until("connected").await;
    let pid = m.status("s").expect("status").pid.expect("pid");
    let _ = m
        .call_tool(
            "s",
            "echo",
            Some(json!({"text": "x"})),
            CallOptions {
                timeout: Some(Duration::from_millis(300)),
                ..Default::default()
            },
        )
        .await;
    ev.until_step("server is hung").await;
    ev.until("pending").await;
    wait_gone(pid).await;
}

#[tokio::test]
async fn peer_errors_pass_through() {
    let (m, mut ev) = start(spec("s", stdio(&["error:tools/call"])), fast());
    ev.until("connected").await;
    let err = m
        .call_tool("s", "echo", None, CallOptions::default())
        .await
        .expect_err("peer");
    assert!(
        matches!(err, Error::Peer(ref e) if e.code == -32603),
        "{err:?}"
    );
    assert_eq!(m.status("s").expect("status").state, State::Connected);
}

#[tokio::test]
async fn a_tools_list_failing_once_is_retried() {
    let (m, mut ev) = start(spec("s", stdio(&["error:tools/list@1"])), fast());
    ev.until("connected").await;
    assert!(!m.status("s").expect("status").tools.is_empty());
    assert!(ev.steps().iter().any(|s| s.contains("tools/list failed")));
}

#[tokio::test]
async fn a_tools_list_failing_always_is_tools_fetch_failed_not_failed() {
    let (m, mut ev) = start(spec("s", stdio(&["error:tools/list"])), fast());
    let text = ev.until("tools-fetch-failed").await;
    assert!(
        text.starts_with("! Connected · tools fetch failed: server error -32603"),
        "{text}"
    );
    assert!(m.session("s").is_some(), "still usable for calls");
}

#[tokio::test]
async fn a_tools_list_timeout_within_the_budget_is_tools_fetch_failed() {
    let mut s = spec("s", stdio(&["slow:tools/list:20000"]));
    s.timeouts.connect = Duration::from_millis(800);
    let (m, mut ev) = start(s, fast());
    ev.until("tools-fetch-failed").await;
    let err = m
        .status("s")
        .and_then(|s| s.error().cloned())
        .expect("error");
    assert_eq!(err.code, "tools_list_timeout");
}

#[tokio::test]
async fn zero_tools_with_the_capability_is_flagged() {
    let (_m, mut ev) = start(spec("s", stdio(&["no-tools"])), fast());
    let text = ev.until("connected").await;
    assert_eq!(text, "! Connected · 0 tools (server advertises tools)");
    let (_m, mut ev) = start(spec("s", stdio(&["no-tools-capability"])), fast());
    let text = ev.until("connected").await;
    assert_eq!(text, "✔ Connected · 0 tools");
}

#[tokio::test]
async fn list_changed_refreshes_the_tools() {
    let (m, mut ev) = start(spec("s", stdio(&["list-changed:100"])), fast());
    ev.until("connected").await;
    let has = |m: &Manager| {
        m.status("s")
            .expect("status")
            .tools
            .iter()
            .any(|t| t.name == "ephemeral")
    };
    let before = has(&m);
    let deadline = tokio::time::Instant::now() + support::LIMIT;
    loop {
        ev.until_step("tools/list:").await;
        if has(&m) != before {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
    }
}

#[tokio::test]
async fn a_lost_http_server_is_reconnected_when_it_comes_back() {
    let server = HttpChaos::start(&[]).await;
    let addr = server.addr();
    let mut policy = fast();
    policy.ping_interval = Some(Duration::from_millis(100));
    policy.reconnect_base = Duration::from_millis(200);
    let (m, mut ev) = start(spec("s", server.target()), policy);
    ev.until("connected").await;
    server.kill().await;
    ev.until("pending").await;
    let _back = HttpChaos::start_on(&addr, &[]).await;
    ev.until("connected").await;
    assert!(m.status("s").expect("status").restarts >= 1);
}

#[tokio::test]
async fn a_lost_http_server_fails_after_five_reconnect_attempts() {
    let server = HttpChaos::start(&[]).await;
    let mut policy = fast();
    policy.ping_interval = Some(Duration::from_millis(100));
    let (m, mut ev) = start(spec("s", server.target()), policy);
    ev.until("connected").await;
    server.kill().await;
    ev.until("failed").await;
    let texts = ev.texts();
    assert!(
        texts.iter().any(|t| t.contains("Reconnecting (5/5")),
        "{texts:?}"
    );
    assert_eq!(class_of(&m, "s"), ErrorClass::Network);
}

#[tokio::test]
async fn a_failed_server_is_probed_in_the_background_and_recovers() {
    let url = closed_port_url().await;
    let addr = format!("127.0.0.1:{}", url.port().expect("port"));
    let mut policy = fast();
    policy.probe_first = Duration::from_millis(100);
    let (_m, mut ev) = start(spec("s", http(url)), policy);
    ev.until("failed").await;
    let _server = HttpChaos::start_on(&addr, &[]).await;
    ev.until("connected").await;
}

#[tokio::test]
async fn fallback_urls_take_over_and_the_primary_is_failed_back_to() {
    let primary_url = closed_port_url().await;
    let primary_addr = format!("127.0.0.1:{}", primary_url.port().expect("port"));
    let fallback = HttpChaos::start(&[]).await;
    let mut s = spec("s", http(primary_url.clone()));
    s.targets.push(fallback.target());
    s.target_labels.push(fallback.url.to_string());
    let mut policy = fast();
    policy.failback_interval = Duration::from_millis(100);
    let (m, mut ev) = start(s, policy);
    ev.until("connected").await;
    let status = m.status("s").expect("status");
    assert_eq!(status.active_url.as_deref(), Some(fallback.url.as_str()));
    assert!(
        status
            .url_reason
            .as_deref()
            .is_some_and(|r| r.contains("failed")),
        "{:?}",
        status.url_reason
    );
    let _primary = HttpChaos::start_on(&primary_addr, &[]).await;
    ev.until_step("failing back").await;
    let mut watch = m.watch("s").expect("watch");
    tokio::time::timeout(
        support::LIMIT,
        watch.wait_for(|s| s.url_reason.as_deref() == Some("primary")),
    )
    .await
    .expect("failed back to the primary")
    .expect("watch");
    assert_eq!(m.status("s").expect("status").state, State::Connected);
}

#[tokio::test]
async fn tools_call_is_never_replayed_after_the_connection_drops() {
    let server = HttpChaos::start(&["drop-connection"]).await;
    let (m, mut ev) = start(spec("s", stdio(&["crash-on-call"])), fast());
    ev.until("connected").await;
    let err = m
        .call_tool(
            "s",
            "echo",
            Some(json!({"text": "x"})),
            CallOptions::default(),
        )
        .await
        .expect_err("lost");
    match err {
        Error::ConnectionLost {
            outcome_unknown, ..
        } => assert!(outcome_unknown),
        other => panic!("{other:?}"),
    }
    drop(server);
}

#[tokio::test]
async fn calls_to_a_failed_server_fail_at_once_naming_state_and_reason() {
    let (m, mut ev) = start(spec("s", stdio(&["exit-at-start"])), fast());
    ev.until("failed").await;
    let err = m
        .call_tool("s", "echo", None, CallOptions::default())
        .await
        .expect_err("unavailable");
    let text = err.to_string();
    assert!(
        text.starts_with("server `s` is failed: server exited during initialize"),
        "{text}"
    );
}

#[tokio::test]
async fn disable_and_enable_stop_and_restart_a_server() {
    let (m, mut ev) = start(spec("s", stdio(&[])), fast());
    ev.until("connected").await;
    let pid = m.status("s").expect("status").pid.expect("pid");
    m.set_enabled("s", false).expect("known");
    ev.until("disabled").await;
    wait_gone(pid).await;
    m.set_enabled("s", true).expect("known");
    ev.until("connected").await;
    m.reconnect("s").expect("known");
    ev.until("pending").await;
    ev.until("connected").await;
    m.shutdown().await;
    let last = m.status("s").expect("status").pid.expect("pid");
    wait_gone(last).await;
}

#[tokio::test]
async fn many_servers_connect_concurrently_and_shutdown_leaves_no_process() {
    let specs: Vec<_> = (0..8)
        .map(|i| spec(&format!("s{i}"), stdio(&["slow:initialize:300"])))
        .collect();
    let (m, _rx) = Manager::start_observed(specs, support::options(fast()));
    tokio::time::timeout(support::LIMIT, m.settled())
        .await
        .expect("settled");
    let pids: Vec<u32> = m.statuses().iter().map(|s| s.pid.expect("pid")).collect();
    assert!(m.statuses().iter().all(|s| s.state == State::Connected));
    m.shutdown().await;
    for pid in pids {
        wait_gone(pid).await;
    }
}

fn http(url: url::Url) -> Target {
    Target::Http(HttpParams {
        url,
        headers: Vec::new(),
    })
}
