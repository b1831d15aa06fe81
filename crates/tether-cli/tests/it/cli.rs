//! The `tether` binary end to end: stdout, stderr and exit codes, pinned with snapshots (times,
//! ports and paths filtered).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{HttpChaos, Run, regex_escape, run_tether, tether};

async fn run(args: &[&str], cwd: &Path) -> Run {
    run_tether(args, cwd, |_| {}).await
}

/// A scratch directory unique to this test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn chaos(marker: &str, faults: &[&str]) -> Value {
    let mut args = vec!["chaos".to_owned(), "--name".to_owned(), marker.to_owned()];
    for f in faults {
        args.push("--fault".into());
        args.push((*f).into());
    }
    json!({ "command": tether(), "args": args })
}

/// Filters what changes between runs: times, ports, paths, the binary's location.
fn settings(dir: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&regex_escape(tether()), "[TETHER]");
    s.add_filter(&regex_escape(&dir.display().to_string()), "[DIR]");
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    s.add_filter(r"after \d+(\.\d+)?(ms|s)\b", "after [TIME]");
    s.add_filter(
        r"Attempts: (\d+) · \d+(\.\d+)?(ms|s)",
        "Attempts: $1 · [TIME]",
    );
    s.add_filter(r"\bm\d+\b", "[MARKER]");
    s.add_filter(r"tether-it-\d+-", "tether-it-[PID]-");
    s.set_snapshot_path(crate::support::manifest_dir().join("tests/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}

/// No process whose command line holds `marker` is left.
fn assert_no_process_with(marker: &str) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(!text.contains(marker), "left behind: {text}");
    }
}

async fn mixed_config(dir: &Path) -> (HttpChaos, HttpChaos) {
    let auth = HttpChaos::start(&["require-auth:t0ken"]).await;
    let plain = HttpChaos::start(&[]).await;
    let mut wrong = plain.url.clone();
    wrong.set_path("/wrong");
    let m = format!("m{}", std::process::id());
    let config = json!({ "mcpServers": {
        "healthy": chaos(&m, &[]),
        "no-tools": chaos(&m, &["no-tools"]),
        "tools-fail": chaos(&m, &["error:tools/list"]),
        "crashing": chaos(&m, &["exit-at-start:1:Error: DATABASE_URL is not set"]),
        "not-installed": { "command": "tether-test-not-installed" },
        "needs-token": { "type": "http", "url": auth.url.as_str() },
        "wrong-path": { "type": "http", "url": wrong.as_str() },
        "missing-type": { "url": "http://127.0.0.1:9/mcp" },
        "off": { "command": tether(), "args": ["chaos"], "disabled": true }
    }});
    std::fs::write(
        dir.join(".mcp.json"),
        serde_json::to_vec_pretty(&config).expect("json"),
    )
    .expect("write");
    (auth, plain)
}

#[tokio::test]
async fn list_shows_every_state_and_leaves_no_process() {
    let dir = scratch("list");
    let _servers = mixed_config(&dir).await;
    let r = run(&["list"], &dir).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    settings(&dir).bind(|| insta::assert_snapshot!("list_mixed", r.stdout));
    assert_no_process_with(&format!("m{}", std::process::id()));
}

#[tokio::test]
async fn list_json_has_the_contract_shape() {
    let dir = scratch("list-json");
    let _servers = mixed_config(&dir).await;
    let r = run(&["list", "--json"], &dir).await;
    assert_eq!(r.code, 1);
    let v: Value = serde_json::from_str(&r.stdout).expect("one JSON document on stdout");
    let servers = v["servers"].as_array().expect("servers");
    let by = |name: &str| {
        servers
            .iter()
            .find(|s| s["name"] == name)
            .expect(name)
            .clone()
    };
    let healthy = by("healthy");
    assert_eq!(healthy["state"], "connected");
    assert_eq!(healthy["transport"], "stdio");
    assert_eq!(healthy["source"], ".mcp.json");
    assert_eq!(healthy["tools_capability"], true);
    assert_eq!(healthy["protocol_version"], "2025-11-25");
    assert_eq!(healthy["attempts"], 1);
    assert!(healthy["error"].is_null());
    assert!(healthy["tools"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(by("no-tools")["tools"], 0);
    assert_eq!(by("tools-fail")["state"], "tools-fetch-failed");
    let crash = by("crashing");
    assert_eq!(crash["state"], "failed");
    assert_eq!(crash["error"]["class"], "process-exited");
    assert_eq!(crash["error"]["code"], "process_exited");
    assert_eq!(crash["error"]["exit_code"], 1);
    assert_eq!(
        crash["error"]["stderr_tail"],
        json!(["Error: DATABASE_URL is not set"])
    );
    assert!(
        crash["error"].get("http_status").is_none(),
        "absent fields are omitted"
    );
    assert_eq!(by("not-installed")["error"]["class"], "spawn");
    let auth = by("needs-token");
    assert_eq!(auth["state"], "needs-auth");
    assert_eq!(auth["error"]["http_status"], 401);
    assert_eq!(by("wrong-path")["error"]["class"], "endpoint-not-found");
    assert_eq!(by("missing-type")["state"], "misconfigured");
    assert_eq!(by("off")["state"], "disabled");
}

#[tokio::test]
async fn get_shows_one_server_in_detail() {
    let dir = scratch("get");
    let _servers = mixed_config(&dir).await;
    let r = run(&["get", "crashing"], &dir).await;
    assert_eq!(r.code, 1);
    settings(&dir).bind(|| insta::assert_snapshot!("get_crashing", r.stdout));
    let r = run(&["get", "healthy"], &dir).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    settings(&dir).bind(|| insta::assert_snapshot!("get_healthy", r.stdout));
}

#[tokio::test]
async fn unknown_names_are_a_usage_error_with_a_suggestion() {
    let dir = scratch("unknown");
    let _servers = mixed_config(&dir).await;
    let r = run(&["get", "helthy"], &dir).await;
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "error: no server named `helthy`\nhint: did you mean `healthy`?\n"
    );
    let r = run(&["call", "nosuch", "echo"], &dir).await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("error: no server named `nosuch`\n"),
        "{}",
        r.stderr
    );
}

#[tokio::test]
async fn bad_config_files_are_a_usage_error_naming_the_file() {
    let dir = scratch("badcfg");
    std::fs::write(
        dir.join("bad.json"),
        "{\n  \"mcpServers\": {\n    \"x\": { \"command\": \"a\", }\n  }\n}\n",
    )
    .expect("write");
    let r = run(&["list", "--config", "bad.json"], &dir).await;
    assert_eq!(r.code, 2);
    settings(&dir).bind(|| insta::assert_snapshot!("bad_config", r.stderr));
    let r = run(&["list", "--config", "missing.json"], &dir).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with("error: cannot read `"), "{}", r.stderr);
    assert!(r.stderr.contains("missing.json"), "{}", r.stderr);
}

#[tokio::test]
async fn call_prints_the_result_and_exits_by_outcome() {
    let dir = scratch("call");
    let _servers = mixed_config(&dir).await;
    let r = run(&["call", "healthy", "echo", r#"{"text":"hello"}"#], &dir).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, "hello\n"), "{}", r.stderr);
    let r = run(
        &["call", "--json", "healthy", "add", r#"{"a":1,"b":2}"#],
        &dir,
    )
    .await;
    assert_eq!(r.code, 0);
    let v: Value = serde_json::from_str(&r.stdout).expect("raw result");
    assert_eq!(v["content"][0]["text"], "3");
    let r = run(&["call", "healthy", "fail", r#"{"message":"boom"}"#], &dir).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "boom\n");
    assert!(
        r.stderr
            .starts_with("error: tool `fail` reported an error (isError: true)"),
        "{}",
        r.stderr
    );
    let r = run(&["call", "healthy", "echo", "{not json"], &dir).await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("error: ARGS_JSON is not valid JSON"),
        "{}",
        r.stderr
    );
    let r = run(&["call", "healthy", "echo", "[1]"], &dir).await;
    assert_eq!(r.code, 2);
    let r = run(&["call", "healthy", "crash"], &dir).await;
    assert_eq!(r.code, 1);
    settings(&dir).bind(|| insta::assert_snapshot!("call_crash", r.stderr));
    let r = run(&["call", "crashing", "echo"], &dir).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("class: process-exited"), "{}", r.stderr);
}

#[tokio::test]
async fn tools_and_call_work_on_ad_hoc_targets() {
    let dir = scratch("adhoc");
    let server = HttpChaos::start(&["sse"]).await;
    let r = run(&["tools", "--url", server.url.as_str()], &dir).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    settings(&dir).bind(|| insta::assert_snapshot!("tools_chaos", r.stdout));
    let r = run(
        &[
            "call",
            "--url",
            server.url.as_str(),
            "echo",
            r#"{"text":"via url"}"#,
        ],
        &dir,
    )
    .await;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "via url\n"),
        "{}",
        r.stderr
    );
    let r = run(
        &[
            "call",
            "echo",
            r#"{"text":"via cmd"}"#,
            "--",
            tether(),
            "chaos",
            "--fault",
            "stdout-noise:2",
        ],
        &dir,
    )
    .await;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "via cmd\n"),
        "{}",
        r.stderr
    );
    let r = run(
        &[
            "tools",
            "--json",
            "--",
            tether(),
            "chaos",
            "--fault",
            "malformed-tool",
        ],
        &dir,
    )
    .await;
    assert_eq!(r.code, 0);
    let v: Value = serde_json::from_str(&r.stdout).expect("json");
    assert!(
        v["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "echo"))
    );
    assert!(
        r.stderr.contains("warning: dropped a malformed tool"),
        "{}",
        r.stderr
    );
}

/// `tether call --url URL echo {"text": TEXT}` with `HTTP_PROXY` naming `proxy`.
async fn echo_through_proxy(url: &str, text: &str, proxy: &HttpChaos, dir: &Path) -> Run {
    let args = json!({ "text": text }).to_string();
    run_tether(&["call", "--url", url, "echo", &args], dir, |cmd| {
        cmd.env("HTTP_PROXY", format!("http://{}", proxy.addr()))
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
    })
    .await
}

/// A remote URL goes through the proxy the environment names; the proxy here is a chaos
/// server, which answers an absolute-form request like any other.
#[tokio::test]
async fn proxy_variables_route_remote_urls() {
    let dir = scratch("proxy");
    let proxy = HttpChaos::start(&[]).await;
    let remote = "http://mcp.tether-test.invalid/mcp";
    let out = echo_through_proxy(remote, "via proxy", &proxy, &dir).await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "via proxy\n"),
        "{}",
        out.stderr
    );
    assert_eq!(proxy.count("tools/call").await, 1);
    // Without the variable the name does not resolve: the proxy really carried the call.
    let call = ["call", "--url", remote, "echo", r#"{"text":"direct"}"#];
    let direct = run_tether(&call, &dir, |cmd| {
        for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
            cmd.env_remove(var);
        }
    })
    .await;
    assert_eq!(direct.code, 1, "{}", direct.stderr);
    assert_eq!(proxy.count("tools/call").await, 1);
}

/// A server on 127.0.0.1 that answers every GET with a 307 to `get_to`, and every other request
/// with a 307 to `other_to`, or 404 without one. Returns its `/mcp` URL's origin.
async fn redirector(get_to: String, other_to: Option<String>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (get_to, other_to) = (get_to.clone(), other_to.clone());
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0u8; 8192];
                while let Ok(n @ 1..) = sock.read(&mut buf).await {
                    pending.extend_from_slice(&buf[..n]);
                    // One answer per whole request: its head and `content-length` bytes of body.
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
                        let body: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if pending.len() < end + 4 + body {
                            break;
                        }
                        pending.drain(..end + 4 + body);
                        let to = if head.starts_with("get ") {
                            Some(&get_to)
                        } else {
                            other_to.as_ref()
                        };
                        let answer = match to {
                            Some(to) => format!(
                                "HTTP/1.1 307 Temporary Redirect\r\nlocation: {to}\r\n\
                                 content-length: 0\r\n\r\n"
                            ),
                            None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".into(),
                        };
                        if sock.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    origin
}

/// A local endpoint that moved to a remote host: the proxy decision is made again for the host a
/// redirect points at (loopback is never proxied; the remote name only resolves through the proxy).
#[tokio::test]
async fn a_redirect_to_a_remote_host_goes_through_the_proxy() {
    let dir = scratch("proxy-redirect");
    let proxy = HttpChaos::start(&[]).await;
    let remote = "http://mcp.tether-test.invalid/mcp".to_owned();
    let moved = redirector(remote.clone(), Some(remote)).await;
    let out = echo_through_proxy(&format!("{moved}/mcp"), "moved", &proxy, &dir).await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "moved\n"),
        "{}",
        out.stderr
    );
    assert_eq!(proxy.count("tools/call").await, 1);
}

/// A legacy SSE stream that was moved to another origin: its relative `endpoint` is resolved
/// against where the stream came from, so the POSTs reach the server, not the old address.
#[tokio::test]
async fn a_redirected_legacy_stream_posts_where_the_stream_came_from() {
    let dir = scratch("sse-redirect");
    let server = HttpChaos::start(&["legacy-sse"]).await;
    let moved = redirector(format!("http://{}/sse", server.addr()), None).await;
    let url = format!("{moved}/sse");
    let out = run(
        &[
            "call",
            "--sse",
            "--url",
            &url,
            "echo",
            r#"{"text":"followed"}"#,
        ],
        &dir,
    )
    .await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "followed\n"),
        "{}",
        out.stderr
    );
    assert_eq!(server.count("tools/call").await, 1);
}

#[tokio::test]
async fn elicitation_answers_follow_the_flag() {
    let dir = scratch("elicit");
    let cmd = [tether(), "chaos"];
    let accept = run(
        &[
            "call",
            "--elicit",
            "accept-defaults",
            "elicit",
            r#"{"message":"who?"}"#,
            "--",
            cmd[0],
            cmd[1],
        ],
        &dir,
    )
    .await;
    assert_eq!(accept.code, 0, "{}", accept.stderr);
    assert!(accept.stdout.contains("\"accept\""), "{}", accept.stdout);
    let decline = run(
        &[
            "call",
            "--elicit",
            "decline",
            "elicit",
            r#"{"message":"who?"}"#,
            "--",
            cmd[0],
            cmd[1],
        ],
        &dir,
    )
    .await;
    assert!(decline.stdout.contains("decline"), "{}", decline.stdout);
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let dir = scratch("usage");
    let r = run(&["call"], &dir).await;
    assert_eq!(r.code, 2);
    let r = run(&["bogus"], &dir).await;
    assert_eq!(r.code, 2);
    let r = run(&["call", "--timeout", "-1", "x", "y"], &dir).await;
    assert_eq!(r.code, 2);
}

#[tokio::test]
async fn the_cli_copes_with_misbehaving_servers() {
    let dir = scratch("misbehaving");
    // Logs on stdout, no "jsonrpc", and a tool call rejected without `arguments`: over stdio.
    for fault in ["stdout-noise:5", "missing-jsonrpc", "require-arguments"] {
        let r = run(
            &["call", "pid", "--", tether(), "chaos", "--fault", fault],
            &dir,
        )
        .await;
        assert_eq!(r.code, 0, "{fault}: {}", r.stderr);
        assert!(
            r.stdout.trim().parse::<u32>().is_ok(),
            "{fault}: {}",
            r.stdout
        );
    }
    // An HTTP server that forgets sessions, and one that answers with SSE.
    for faults in [
        &["session-expire:2"][..],
        &["sse"][..],
        &["session-expire:2", "session-400"][..],
    ] {
        let server = HttpChaos::start(faults).await;
        let r = run(
            &[
                "call",
                "--url",
                server.url.as_str(),
                "echo",
                r#"{"text":"still fine"}"#,
            ],
            &dir,
        )
        .await;
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (0, "still fine\n"),
            "{faults:?}: {}",
            r.stderr
        );
    }
}
