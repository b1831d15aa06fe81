//! `tether serve` end to end: real clients (this test, speaking JSON-RPC) against both fronts,
//! with real upstreams of every transport. The same assertions run for each front × upstream
//! pair.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::support::{HttpChaos, LIMIT, tether, wait_gone};

/// A client of the gateway, over either front.
enum Front {
    Stdio {
        child: Child,
        stdin: Option<ChildStdin>,
        lines: Lines<BufReader<ChildStdout>>,
        /// Notifications and requests received while waiting for an answer.
        seen: Vec<Value>,
    },
    Http {
        child: Child,
        base: String,
        session: Option<String>,
        client: reqwest::Client,
        seen: Vec<Value>,
    },
}

fn write_config(dir: &Path, servers: Value) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join("gw.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&json!({ "mcpServers": servers })).expect("json"),
    )
    .expect("write");
    path
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-gw-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn chaos(name: &str, faults: &[&str]) -> Value {
    let mut args = vec!["chaos".to_owned(), "--name".into(), name.to_owned()];
    for f in faults {
        args.push("--fault".into());
        args.push((*f).into());
    }
    json!({ "command": tether(), "args": args })
}

impl Front {
    async fn stdio(config: &Path, extra: &[&str]) -> Front {
        let mut child = Command::new(tether())
            .args(["serve", "--config"])
            .arg(config)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn tether serve");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Front::Stdio {
            child,
            stdin: Some(stdin),
            lines,
            seen: Vec::new(),
        }
    }

    async fn http(config: &Path, extra: &[&str]) -> Front {
        let mut child = Command::new(tether())
            .args(["serve", "--http", "127.0.0.1:0", "--config"])
            .arg(config)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn tether serve --http");
        let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let base = tokio::time::timeout(LIMIT, async {
            loop {
                let line = err
                    .next_line()
                    .await
                    .expect("read")
                    .expect("the gateway announced its address");
                if let Some(rest) = line.split("serving MCP on ").nth(1) {
                    let url = rest.split_whitespace().next().expect("url");
                    return url.trim_end_matches("/mcp").to_owned();
                }
            }
        })
        .await
        .expect("gateway started");
        // Keep draining stderr so the gateway never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = err.next_line().await {} });
        Front::Http {
            child,
            base,
            session: None,
            client: reqwest::Client::new(),
            seen: Vec::new(),
        }
    }

    fn seen(&self) -> &[Value] {
        match self {
            Front::Stdio { seen, .. } | Front::Http { seen, .. } => seen,
        }
    }

    async fn send(&mut self, msg: Value) {
        match self {
            Front::Stdio { stdin, .. } => {
                let mut line = serde_json::to_vec(&msg).expect("json");
                line.push(b'\n');
                stdin
                    .as_mut()
                    .expect("stdin open")
                    .write_all(&line)
                    .await
                    .expect("write");
            }
            Front::Http { .. } => {
                let _ = self.post(msg).await;
            }
        }
    }

    /// POSTs one message; returns every JSON-RPC message in the answer (JSON or SSE).
    async fn post(&mut self, msg: Value) -> Vec<Value> {
        let Front::Http {
            base,
            session,
            client,
            ..
        } = self
        else {
            unreachable!()
        };
        let mut req = client
            .post(format!("{base}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(serde_json::to_vec(&msg).expect("json"));
        if let Some(s) = session {
            req = req.header("mcp-session-id", s.as_str());
        }
        let resp = req.send().await.expect("POST");
        if let Some(s) = resp.headers().get("mcp-session-id") {
            *session = Some(s.to_str().expect("ascii").to_owned());
        }
        let sse = resp
            .headers()
            .get("content-type")
            .is_some_and(|c| c.to_str().unwrap_or("").starts_with("text/event-stream"));
        let body = resp.text().await.expect("body");
        if body.is_empty() {
            return Vec::new();
        }
        if sse {
            body.lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter(|d| !d.is_empty())
                .map(|d| serde_json::from_str(d).expect("SSE data is JSON"))
                .collect()
        } else {
            vec![serde_json::from_str(&body).expect("JSON body")]
        }
    }

    /// Sends a request and returns its response; everything else received is kept in `seen`.
    async fn request(&mut self, id: i64, method: &str, params: Value) -> Value {
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        match self {
            Front::Stdio { .. } => {
                self.send(msg).await;
                self.until(|v| v["id"] == id && v.get("method").is_none())
                    .await
            }
            Front::Http { .. } => {
                let all = self.post(msg).await;
                let Front::Http { seen, .. } = self else {
                    unreachable!()
                };
                let mut answer = None;
                for m in all {
                    if m["id"] == id && m.get("method").is_none() {
                        answer = Some(m);
                    } else {
                        seen.push(m);
                    }
                }
                answer.expect("an answer")
            }
        }
    }

    /// Reads stdout until a message matches (stdio front only).
    async fn until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let Front::Stdio { lines, seen, .. } = self else {
            panic!("stdio only")
        };
        tokio::time::timeout(LIMIT, async {
            loop {
                let line = lines
                    .next_line()
                    .await
                    .expect("read")
                    .expect("gateway stdout closed");
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| panic!("stdout must carry only JSON-RPC, got {line:?}"));
                assert_eq!(v["jsonrpc"], "2.0", "{line}");
                if pred(&v) {
                    return v;
                }
                seen.push(v);
            }
        })
        .await
        .expect("message arrived")
    }

    async fn initialize(&mut self, capabilities: Value) -> Value {
        let r = self
            .request(0, "initialize", json!({"protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": {"name": "it", "version": "1"}}))
            .await;
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        r
    }

    async fn tool_names(&mut self, id: i64) -> Vec<String> {
        let r = self.request(id, "tools/list", json!({})).await;
        r["result"]["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .map(|t| t["name"].as_str().expect("name").to_owned())
            .collect()
    }

    async fn call(&mut self, id: i64, name: &str, arguments: Option<Value>) -> Value {
        let mut params = json!({"name": name});
        if let Some(a) = arguments {
            params["arguments"] = a;
        }
        self.request(id, "tools/call", params).await
    }

    fn child(&mut self) -> &mut Child {
        match self {
            Front::Stdio { child, .. } | Front::Http { child, .. } => child,
        }
    }
}

fn text(r: &Value) -> String {
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[derive(Clone, Copy, Debug)]
enum Up {
    Stdio,
    Http,
    Sse,
}

/// One upstream of each kind; the HTTP servers live as long as the returned guards.
async fn upstream(kind: Up, faults: &[&str]) -> (Value, Option<HttpChaos>) {
    match kind {
        Up::Stdio => (chaos("up", faults), None),
        Up::Http => {
            let s = HttpChaos::start(faults).await;
            (json!({"type": "http", "url": s.url.as_str()}), Some(s))
        }
        Up::Sse => {
            let mut all = vec!["legacy-sse"];
            all.extend_from_slice(faults);
            let s = HttpChaos::start(&all).await;
            let mut url = s.url.clone();
            url.set_path("/sse");
            (json!({"type": "sse", "url": url.as_str()}), Some(s))
        }
    }
}

/// The assertions every front × upstream pair must pass.
async fn pair(front_http: bool, kind: Up) {
    pair_with(front_http, kind, &[]).await;
}

async fn pair_with(front_http: bool, kind: Up, flags: &[&str]) {
    let dir = scratch(&format!("pair-{front_http}-{kind:?}-{}", flags.len()));
    let (entry, _guard) = upstream(kind, &["require-arguments"]).await;
    let config = write_config(&dir, json!({ "up": entry }));
    let mut f = if front_http {
        Front::http(&config, flags).await
    } else {
        Front::stdio(&config, flags).await
    };
    let init = f.initialize(json!({})).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "tether", "{init}");
    assert_eq!(init["result"]["capabilities"]["tools"]["listChanged"], true);
    let names = f.tool_names(1).await;
    assert!(
        names.contains(&"up__echo".to_owned()),
        "{kind:?}: {names:?}"
    );
    let r = f
        .call(2, "up__echo", Some(json!({"text": "through the gateway"})))
        .await;
    assert_eq!(text(&r), "through the gateway", "{r}");
    // The upstream rejects a call without `arguments`; the gateway repairs it.
    let r = f.call(3, "up__pid", None).await;
    assert!(r["result"]["isError"].is_null(), "{kind:?}: {r}");
    let r = f
        .call(4, "up__fail", Some(json!({"message": "tool said no"})))
        .await;
    assert_eq!(r["result"]["isError"], true);
    assert_eq!(text(&r), "tool said no");
    let r = f.call(5, "nope__nothing", Some(json!({}))).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = f.request(6, "ping", json!({})).await;
    assert_eq!(r["result"], json!({}));
}

#[tokio::test]
async fn stdio_front_with_stdio_upstream() {
    pair(false, Up::Stdio).await;
}

#[tokio::test]
async fn stdio_front_with_http_upstream() {
    pair(false, Up::Http).await;
}

#[tokio::test]
async fn stdio_front_with_sse_upstream() {
    pair(false, Up::Sse).await;
}

#[tokio::test]
async fn http_front_with_stdio_upstream() {
    pair(true, Up::Stdio).await;
}

#[tokio::test]
async fn http_front_with_http_upstream() {
    pair(true, Up::Http).await;
}

#[tokio::test]
async fn http_front_with_sse_upstream() {
    pair(true, Up::Sse).await;
}

#[tokio::test]
async fn both_fronts_work_with_busy_polling_off() {
    pair_with(false, Up::Stdio, &["--busy-poll-us", "0"]).await;
    pair_with(true, Up::Http, &["--busy-poll-us", "0"]).await;
}

#[tokio::test]
async fn server_discover_is_answered_at_once_on_both_fronts() {
    let dir = scratch("discover");
    let config = write_config(
        &dir,
        json!({ "slow": chaos("slow", &["slow:initialize:3000"]) }),
    );
    let mut f = Front::stdio(&config, &[]).await;
    let r = f.request(7, "server/discover", json!({})).await;
    assert_eq!(r["error"]["code"], -32601, "{r}");
    // initialize is answered before the slow upstream is ready.
    let init = f.initialize(json!({})).await;
    assert!(init["result"]["protocolVersion"].is_string());

    let mut h = Front::http(&config, &[]).await;
    let Front::Http { base, client, .. } = &h else {
        unreachable!()
    };
    let resp = client
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":"server-discover-probe-1","method":"server/discover","params":{}}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 400);
    let body: Value = resp
        .bytes()
        .await
        .map(|b| serde_json::from_slice::<Value>(&b).expect("json"))
        .expect("body");
    assert_eq!(body["id"], "server-discover-probe-1");
    let init = h.initialize(json!({})).await;
    assert!(init["result"]["protocolVersion"].is_string());
}

#[tokio::test]
async fn a_crashed_upstream_comes_back_and_clients_are_told() {
    let dir = scratch("crash");
    let config = write_config(
        &dir,
        json!({ "up": chaos("up", &[]), "other": chaos("other", &[]) }),
    );
    let mut f = Front::stdio(&config, &[]).await;
    f.initialize(json!({})).await;
    assert!(f.tool_names(1).await.contains(&"up__crash".to_owned()));
    let r = f.call(2, "up__crash", None).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(text(&r).contains("server `up`"), "{r}");
    // The other upstream is untouched.
    let r = f
        .call(3, "other__echo", Some(json!({"text": "still here"})))
        .await;
    assert_eq!(text(&r), "still here");
    f.until(|v| v["method"] == "notifications/tools/list_changed")
        .await;
    // Wait until the respawned server's tools are listed again.
    for id in 10.. {
        if f.tool_names(id).await.contains(&"up__echo".to_owned()) {
            break;
        }
        f.until(|v| v["method"] == "notifications/tools/list_changed")
            .await;
    }
    let r = f.call(4, "up__echo", Some(json!({"text": "back"}))).await;
    assert_eq!(text(&r), "back");
}

#[tokio::test]
async fn calls_to_a_failed_upstream_return_a_tool_error_at_once() {
    let dir = scratch("failed");
    let policy_fast = ["--list-wait", "10"];
    let config = write_config(&dir, json!({ "up": chaos("up", &["exit-after:300"]) }));
    let mut f = Front::stdio(&config, &policy_fast).await;
    f.initialize(json!({})).await;
    assert!(f.tool_names(1).await.contains(&"up__echo".to_owned()));
    // It crashes 300 ms after each start: the crash loop ends in `failed`.
    let r = loop {
        let r = f.call(2, "up__echo", Some(json!({"text": "x"}))).await;
        if text(&r).contains("is failed") {
            break r;
        }
        f.until(|v| v["method"] == "notifications/tools/list_changed")
            .await;
    };
    assert_eq!(r["result"]["isError"], true);
    assert!(
        text(&r).contains("Tether: server `up` is failed: crash loop"),
        "{r}"
    );
}

#[tokio::test]
async fn progress_is_mapped_to_the_clients_token_on_both_fronts() {
    let dir = scratch("progress");
    let config = write_config(&dir, json!({ "up": chaos("up", &[]) }));
    for http in [false, true] {
        let mut f = if http {
            Front::http(&config, &[]).await
        } else {
            Front::stdio(&config, &[]).await
        };
        f.initialize(json!({})).await;
        let r = f
            .request(5, "tools/call", json!({"name": "up__sleep", "arguments": {"ms": 400}, "_meta": {"progressToken": "mine"}}))
            .await;
        assert_eq!(text(&r), "slept 400 ms");
        let progress: Vec<&Value> = f
            .seen()
            .iter()
            .filter(|v| v["method"] == "notifications/progress")
            .collect();
        assert!(!progress.is_empty(), "http={http}: no progress");
        assert!(
            progress
                .iter()
                .all(|p| p["params"]["progressToken"] == "mine")
        );
    }
}

#[tokio::test]
async fn a_client_cancel_reaches_the_upstream() {
    let dir = scratch("cancel");
    let up = HttpChaos::start(&[]).await;
    let config = write_config(
        &dir,
        json!({ "up": {"type": "http", "url": up.url.as_str()} }),
    );
    let mut f = Front::stdio(&config, &[]).await;
    f.initialize(json!({})).await;
    f.send(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "up__sleep", "arguments": {"ms": 30000}}})).await;
    // Wait until the upstream has the call, then cancel it from the client side.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while up.count("tools/call").await == 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9, "reason": "user"}})).await;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while up.count("notifications/cancelled").await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream never heard of the cancel"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The gateway still works.
    let r = f.call(10, "up__echo", Some(json!({"text": "ok"}))).await;
    assert_eq!(text(&r), "ok");
}

#[tokio::test]
async fn elicitation_goes_to_the_client_that_asked() {
    let dir = scratch("elicit");
    let config = write_config(&dir, json!({ "up": chaos("up", &[]) }));
    let mut f = Front::stdio(&config, &[]).await;
    f.initialize(json!({"elicitation": {}})).await;
    f.send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "up__elicit", "arguments": {"message": "name?"}}})).await;
    let req = f.until(|v| v["method"] == "elicitation/create").await;
    f.send(json!({"jsonrpc": "2.0", "id": req["id"], "result": {"action": "accept", "content": {"name": "Ada"}}})).await;
    let r = f.until(|v| v["id"] == 3).await;
    assert!(text(&r).contains("Ada"), "{r}");
}

#[tokio::test]
async fn http_front_rejects_what_it_must() {
    let dir = scratch("http-security");
    let config = write_config(&dir, json!({ "up": chaos("up", &[]) }));
    let token = dir.join("token");
    std::fs::write(&token, "s3cret\n").expect("token");
    let h = Front::http(
        &config,
        &[
            "--token-file",
            token.to_str().expect("utf8"),
            "--max-body",
            "2000",
        ],
    )
    .await;
    let Front::Http { base, client, .. } = &h else {
        unreachable!()
    };
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}"#;
    let post = |body: String| {
        client
            .post(format!("{base}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
    };
    assert_eq!(
        post(init.into()).send().await.expect("post").status(),
        401,
        "token required"
    );
    let authed = |body: String| post(body).bearer_auth("s3cret");
    let resp = authed(init.into())
        .header("origin", "http://evil.example.com")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 403, "foreign Origin");
    let resp = authed(init.into())
        .header("host", "evil.example.com")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 403, "foreign Host");
    let resp = authed(init.into())
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200, "localhost Origin is fine");
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    assert_eq!(
        authed(list.into()).send().await.expect("post").status(),
        400,
        "no session"
    );
    let resp = authed(list.into())
        .header("mcp-session-id", "unknown")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 404, "unknown session");
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":3,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(5000)
    );
    let resp = authed(big).send().await.expect("post");
    assert_eq!(resp.status(), 413);
    let body: Value = resp
        .bytes()
        .await
        .map(|b| serde_json::from_slice::<Value>(&b).expect("json-rpc error body"))
        .expect("body");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("2000-byte limit")
    );
    let resp = authed("[1,2]".into()).send().await.expect("post");
    assert_eq!(resp.status(), 400);
    let resp = authed("{not json".into()).send().await.expect("post");
    let body: Value = resp
        .bytes()
        .await
        .map(|b| serde_json::from_slice::<Value>(&b).expect("json"))
        .expect("body");
    assert_eq!(body["error"]["code"], -32700);
}

#[tokio::test]
async fn refuses_to_listen_off_loopback_without_a_token() {
    let dir = scratch("no-token");
    let config = write_config(&dir, json!({ "up": chaos("up", &[]) }));
    let out = Command::new(tether())
        .args(["serve", "--http", "0.0.0.0:0", "--config"])
        .arg(&config)
        .env_remove("TETHER_TOKEN")
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("refusing to serve on 0.0.0.0:0 without a token")
    );
}

#[tokio::test]
async fn status_metrics_and_page_are_served() {
    let dir = scratch("status");
    let config = write_config(
        &dir,
        json!({ "up": chaos("up", &[]), "down": chaos("down", &["exit-at-start"]) }),
    );
    let mut h = Front::http(&config, &[]).await;
    h.initialize(json!({})).await;
    h.call(1, "up__echo", Some(json!({"text": "x"}))).await;
    let Front::Http { base, client, .. } = &h else {
        unreachable!()
    };
    let status: Value = client
        .get(format!("{base}/status"))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .map(|b| serde_json::from_slice::<Value>(&b).expect("json"))
        .expect("body");
    let servers = status["servers"].as_array().expect("servers");
    let up = servers.iter().find(|s| s["name"] == "up").expect("up");
    assert_eq!(up["state"], "connected");
    assert_eq!(up["calls"], 1);
    for key in [
        "name",
        "source",
        "transport",
        "target",
        "state",
        "tools",
        "tools_capability",
        "protocol_version",
        "server_info",
        "attempts",
        "elapsed_ms",
        "error",
        "status_text",
        "p50_ms",
        "restarts",
    ] {
        assert!(up.get(key).is_some(), "missing {key}");
    }
    let down = servers.iter().find(|s| s["name"] == "down").expect("down");
    assert_eq!(down["state"], "failed");
    assert_eq!(down["error"]["class"], "process-exited");
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"tether_requests_total{server="up",method="tools/call"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"tether_server_state{server="down",state="failed"} 1"#));
    let page = client
        .get(format!("{base}/"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(page.contains("<title>Tether gateway</title>"));
    let out = Command::new(tether())
        .args(["list", "--gateway", base])
        .output()
        .await
        .expect("list --gateway");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("up: ") && text.contains("✔ Connected"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(1), "one server is down");
}

#[tokio::test]
async fn a_changed_config_adds_and_removes_servers_without_restarting_the_rest() {
    let dir = scratch("reload");
    let config = write_config(
        &dir,
        json!({ "keep": chaos("keep", &[]), "gone": chaos("gone", &[]) }),
    );
    let mut f = Front::stdio(&config, &[]).await;
    f.initialize(json!({})).await;
    let r = f.call(1, "keep__pid", None).await;
    let pid_before = text(&r);
    assert!(f.tool_names(2).await.contains(&"gone__echo".to_owned()));
    write_config(
        &dir,
        json!({ "keep": chaos("keep", &[]), "new": chaos("new", &[]) }),
    );
    for id in 10.. {
        f.until(|v| v["method"] == "notifications/tools/list_changed")
            .await;
        let names = f.tool_names(id).await;
        if names.contains(&"new__echo".to_owned()) && !names.contains(&"gone__echo".to_owned()) {
            break;
        }
    }
    let r = f.call(3, "keep__pid", None).await;
    assert_eq!(text(&r), pid_before, "an unchanged server is not restarted");
}

#[tokio::test]
async fn stdin_eof_stops_the_gateway_and_every_upstream() {
    let dir = scratch("eof");
    let config = write_config(&dir, json!({ "up": chaos("up", &["spawn-child"]) }));
    let mut f = Front::stdio(&config, &["--debug"]).await;
    f.initialize(json!({})).await;
    let pid: u32 = text(&f.call(1, "up__pid", None).await)
        .parse()
        .expect("pid");
    let Front::Stdio { stdin, .. } = &mut f else {
        unreachable!()
    };
    drop(stdin.take());
    let status = tokio::time::timeout(LIMIT, f.child().wait())
        .await
        .expect("exited")
        .expect("status");
    assert!(status.success(), "{status:?}");
    wait_gone(pid).await;
}

#[tokio::test]
async fn noisy_upstreams_never_leak_onto_the_gateways_stdout() {
    let dir = scratch("noise");
    let config = write_config(
        &dir,
        json!({ "up": chaos("up", &["stdout-noise:5", "stderr-noise:5"]) }),
    );
    let mut f = Front::stdio(&config, &["--debug", "-vv"]).await;
    f.initialize(json!({})).await;
    // `until` asserts that every stdout line is JSON-RPC.
    let r = f.call(1, "up__echo", Some(json!({"text": "clean"}))).await;
    assert_eq!(text(&r), "clean");
}

#[tokio::test]
async fn no_prefix_needs_exactly_one_server() {
    let dir = scratch("noprefix");
    let config = write_config(&dir, json!({ "only": chaos("only", &[]) }));
    let mut f = Front::stdio(&config, &["--no-prefix"]).await;
    f.initialize(json!({})).await;
    assert!(f.tool_names(1).await.contains(&"echo".to_owned()));
    let two = write_config(
        &scratch("noprefix2"),
        json!({ "a": chaos("a", &[]), "b": chaos("b", &[]) }),
    );
    let out = Command::new(tether())
        .args(["serve", "--no-prefix", "--config"])
        .arg(&two)
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn idle_http_sessions_are_forgotten_and_clients_told_404() {
    let dir = scratch("idle");
    let config = write_config(&dir, json!({ "up": chaos("up", &[]) }));
    let mut h = Front::http(&config, &["--session-idle", "1"]).await;
    h.initialize(json!({})).await;
    let Front::Http {
        base,
        session,
        client,
        ..
    } = &h
    else {
        unreachable!()
    };
    let sid = session.clone().expect("session");
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let resp = client
            .post(format!("{base}/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &sid)
            .body(r#"{"jsonrpc":"2.0","method":"notifications/ping-ish"}"#)
            .send()
            .await
            .expect("post");
        if resp.status() == 404 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the idle session was never forgotten"
        );
        // Each request keeps the session alive, so wait well past the idle limit between them.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}
