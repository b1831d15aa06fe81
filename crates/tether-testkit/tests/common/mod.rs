//! Helpers shared by the integration tests: a spawned `tether-chaos` process spoken to over
//! raw pipes, an in-process HTTP server, a plain HTTP client and a tiny SSE reader.
//!
//! Every wait is bounded by [`LIMIT`] so a regression fails the test instead of hanging it;
//! nothing sleeps to synchronise.

#![allow(dead_code)]

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

use tether_testkit::{ChaosConfig, serve_http};

/// Upper bound for any single wait in a test.
pub const LIMIT: Duration = Duration::from_secs(20);

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tether-chaos");

/// `await` with the safety limit.
pub async fn bounded<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// The initialize request most tests send.
pub fn initialize_request(id: Value, version: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {"elicitation": {}, "sampling": {}, "roots": {"listChanged": true}},
            "clientInfo": {"name": "testkit-tests", "version": "0"},
        },
    })
}

pub fn request(id: impl Into<Value>, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id.into(), "method": method, "params": params})
}

pub fn call(id: impl Into<Value>, tool: &str, arguments: Value) -> Value {
    request(
        id,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
}

pub fn notification(method: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": method})
}

/// The text of a tool result's first content item.
pub fn text(response: &Value) -> &str {
    response["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text content in {response}"))
}

/// A `tether-chaos` child over stdio.
pub struct StdioServer {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<ChildStderr>>,
}

impl StdioServer {
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_with(args, |_| {})
    }

    pub fn spawn_with(args: &[&str], configure: impl FnOnce(&mut Command)) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        configure(&mut cmd);
        let mut child = cmd.spawn().expect("spawn tether-chaos");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        Self {
            child,
            stdin,
            stdout,
            stderr,
        }
    }

    pub async fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write stdin");
        stdin.flush().await.expect("flush stdin");
    }

    pub async fn send(&mut self, message: Value) {
        self.send_raw(&message.to_string()).await;
    }

    /// The next stdout line, `None` at EOF.
    pub async fn line(&mut self) -> Option<String> {
        bounded("a stdout line", self.stdout.next_line())
            .await
            .expect("read stdout")
    }

    /// The next stdout line as JSON.
    pub async fn recv(&mut self) -> Value {
        let line = self.line().await.expect("a line before EOF");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Sends a request and returns the next line (tests that use this expect nothing else).
    pub async fn ask(&mut self, message: Value) -> Value {
        self.send(message).await;
        self.recv().await
    }

    /// Reads stderr until a line contains `needle`; returns that line.
    pub async fn stderr_until(&mut self, needle: &str) -> String {
        loop {
            let line = bounded(needle, self.stderr.next_line())
                .await
                .expect("read stderr")
                .unwrap_or_else(|| panic!("stderr closed before `{needle}`"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    pub async fn stderr_line(&mut self) -> Option<String> {
        bounded("a stderr line", self.stderr.next_line())
            .await
            .expect("read stderr")
    }

    /// Handshake: initialize (2025-11-25) + initialized. Returns the initialize response.
    pub async fn initialize(&mut self) -> Value {
        let response = self.ask(initialize_request(json!(0), "2025-11-25")).await;
        self.send(notification("notifications/initialized")).await;
        response
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub async fn wait(&mut self) -> ExitStatus {
        bounded("process exit", self.child.wait())
            .await
            .expect("wait")
    }

    pub fn pid(&self) -> i32 {
        self.child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .expect("running child has a pid")
    }
}

/// An in-process HTTP server on 127.0.0.1.
pub struct HttpServer {
    pub url: String,
    pub base: String,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    pub async fn start(specs: &[&str]) -> Self {
        let config = ChaosConfig::from_specs(specs).expect("valid specs");
        Self::start_with(config).await
    }

    pub async fn start_with(config: ChaosConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(serve_http(listener, config));
        Self {
            url: format!("http://{addr}/mcp"),
            base: format!("http://{addr}"),
            task,
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A client that never uses a proxy from the environment.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// A spec-conformant POST.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(s) = session {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    bounded("POST", req.send()).await.expect("POST sent")
}

/// Initialize + initialized; returns the session id (if any) and the initialize response.
pub async fn handshake(client: &reqwest::Client, url: &str) -> (Option<String>, Value) {
    let response = post(
        client,
        url,
        None,
        &initialize_request(json!(1), "2025-11-25"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let session = session_of(&response);
    let body = message_body(response).await;
    let ack = post(
        client,
        url,
        session.as_deref(),
        &notification("notifications/initialized"),
    )
    .await;
    assert_eq!(ack.status(), 202);
    (session, body)
}

pub fn session_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("missing header {name}"))
}

pub async fn json_body(response: reqwest::Response) -> Value {
    let text = bounded("body", response.text()).await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The JSON-RPC message of a response, whether it came as JSON or as an SSE stream.
pub async fn message_body(response: reqwest::Response) -> Value {
    if header(&response, "content-type") == "text/event-stream" {
        Sse::new(response).next_message().await
    } else {
        json_body(response).await
    }
}

pub async fn text_body(response: reqwest::Response) -> String {
    bounded("body", response.text()).await.expect("body")
}

pub async fn stats(client: &reqwest::Client, base: &str) -> Value {
    let response = bounded("stats", client.get(format!("{base}/_chaos/stats")).send())
        .await
        .expect("stats");
    json_body(response).await
}

/// One server-sent event.
#[derive(Debug, Default, Clone)]
pub struct Event {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    pub retry: Option<u64>,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data not JSON ({e}): {}", self.data))
    }
}

/// Reads events from a streaming response.
pub struct Sse {
    response: reqwest::Response,
    buf: Vec<u8>,
}

impl Sse {
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(header(&response, "content-type"), "text/event-stream");
        Self {
            response,
            buf: Vec::new(),
        }
    }

    /// The next event (comment-only blocks skipped), `None` when the stream ends.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..pos + 2).collect();
                let text = String::from_utf8_lossy(&block).into_owned();
                let mut event = Event::default();
                let mut data_lines = Vec::new();
                let mut fields = 0;
                for line in text.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "" => continue,
                        "id" => event.id = Some(value.to_owned()),
                        "event" => event.event = Some(value.to_owned()),
                        "data" => data_lines.push(value.to_owned()),
                        "retry" => event.retry = value.parse().ok(),
                        _ => {}
                    }
                    fields += 1;
                }
                if fields == 0 {
                    continue;
                }
                event.data = data_lines.join("\n");
                return Some(event);
            }
            match bounded("an SSE chunk", self.response.chunk()).await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk),
                Ok(None) => return None,
                Err(e) => panic!("SSE read failed: {e}"),
            }
        }
    }

    /// The next event that carries a JSON message (priming events skipped).
    pub async fn next_message(&mut self) -> Value {
        loop {
            let event = self.next().await.expect("an event before the stream ends");
            if !event.data.is_empty() {
                return event.json();
            }
        }
    }
}

/// A fresh path in the temp dir for a state file.
pub fn temp_file(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "tether-testkit-{}-{name}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}
