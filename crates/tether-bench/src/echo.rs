//! `tether-bench echo-server`: a minimal, cheap MCP server, the far end of every measured path.
//!
//! It answers `initialize`, `ping`, `tools/list` (`echo` plus filler tools), `tools/call echo`
//! (its `text` argument back as text content) and empty `resources/list`, `prompts/list` and
//! `resources/templates/list`; notifications and responses are read and never answered.
//! Messages are decoded borrowing from the input and answers are written by copying the raw
//! `id` and `text`, so the server stays far cheaper than anything put in front of it: the
//! direct rows are the ceiling of the table.
//!
//! * stdio: newline-delimited JSON-RPC with blocking I/O; answers are buffered and flushed
//!   whenever no complete input line is waiting (cheap when pipelined, immediate when idle).
//! * HTTP: Streamable HTTP on 127.0.0.1 (any path), one thread, TCP_NODELAY. POST answers
//!   `application/json`; `initialize` issues `Mcp-Session-Id`; an unknown session gets 404, a
//!   missing one 400; DELETE ends a session; GET gets 405.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The revision answered when the client asks for one we do not know.
pub const PROTOCOL: &str = "2025-06-18";
const SUPPORTED: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// Largest HTTP request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Deserialize)]
struct Msg<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<EchoArgs<'a>>,
}

#[derive(Deserialize)]
struct EchoArgs<'a> {
    #[serde(borrow, default)]
    text: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InitParams<'a> {
    #[serde(borrow, default, rename = "protocolVersion")]
    protocol_version: Option<Cow<'a, str>>,
}

/// The server's answers, shared by both transports.
#[derive(Debug)]
pub struct Echo {
    tools_result: String,
}

impl Echo {
    /// A server listing `n_tools` tools (at least `echo`).
    pub fn new(n_tools: usize) -> Echo {
        let mut tools = vec![serde_json::json!({
            "name": "echo",
            "description": "Returns its `text` argument as text content.",
            "inputSchema": {
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"]
            }
        })];
        for i in 1..n_tools.max(1) {
            tools.push(serde_json::json!({
                "name": format!("filler_{i}"),
                "description": format!("Filler tool number {i}; not callable."),
                "inputSchema": {"type": "object", "properties": {}}
            }));
        }
        Echo {
            tools_result: serde_json::json!({ "tools": tools }).to_string(),
        }
    }

    /// Handles one line or body (a message or a batch); appends the answer, if any, to `out`
    /// (no newline) and says whether it did.
    pub fn handle(&self, input: &[u8], out: &mut Vec<u8>) -> bool {
        let first = input.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'[') {
            return self.handle_one(input, out);
        }
        let items: Vec<&RawValue> = match serde_json::from_slice(input) {
            Ok(items) => items,
            Err(e) => {
                error(out, None, -32700, &format!("parse error: {e}"));
                return true;
            }
        };
        if items.is_empty() {
            error(out, None, -32600, "empty batch");
            return true;
        }
        let start = out.len();
        out.push(b'[');
        let mut any = false;
        for item in items {
            if any {
                out.push(b',');
            }
            let before = out.len();
            if self.handle_one(item.get().as_bytes(), out) {
                any = true;
            } else if any {
                out.truncate(before - 1);
            }
        }
        if !any {
            out.truncate(start);
            return false;
        }
        out.push(b']');
        true
    }

    fn handle_one(&self, input: &[u8], out: &mut Vec<u8>) -> bool {
        let msg: Msg<'_> = match serde_json::from_slice(input) {
            Ok(m) => m,
            Err(e) if e.is_data() => {
                error(out, None, -32600, "not a JSON-RPC message");
                return true;
            }
            Err(e) => {
                error(out, None, -32700, &format!("parse error: {e}"));
                return true;
            }
        };
        // A response from the client, or a notification: never answered.
        let (Some(method), Some(id)) = (msg.method.as_deref(), msg.id) else {
            return false;
        };
        match method {
            "tools/call" => self.call(id, msg.params, out),
            "ping" | "logging/setLevel" => result(out, id, "{}"),
            "tools/list" => result(out, id, &self.tools_result),
            "initialize" => {
                let asked = msg
                    .params
                    .and_then(|p| serde_json::from_str::<InitParams<'_>>(p.get()).ok())
                    .and_then(|p| p.protocol_version.map(Cow::into_owned));
                let version = asked
                    .as_deref()
                    .filter(|v| SUPPORTED.contains(v))
                    .unwrap_or(PROTOCOL);
                let body = format!(
                    r#"{{"protocolVersion":"{version}","capabilities":{{"tools":{{"listChanged":false}}}},"serverInfo":{{"name":"tether-bench-echo","version":"{}"}}}}"#,
                    env!("CARGO_PKG_VERSION")
                );
                result(out, id, &body);
            }
            "resources/list" => result(out, id, r#"{"resources":[]}"#),
            "resources/templates/list" => result(out, id, r#"{"resourceTemplates":[]}"#),
            "prompts/list" => result(out, id, r#"{"prompts":[]}"#),
            other => error(out, Some(id), -32601, &format!("method not found: {other}")),
        }
        true
    }

    fn call(&self, id: &RawValue, params: Option<&RawValue>, out: &mut Vec<u8>) {
        let params = params.map(|p| serde_json::from_str::<CallParams<'_>>(p.get()));
        let call = match params {
            Some(Ok(call)) => call,
            Some(Err(e)) => {
                return error(out, Some(id), -32602, &format!("invalid params: {e}"));
            }
            None => return error(out, Some(id), -32602, "tools/call needs params"),
        };
        if call.name != "echo" {
            return error(
                out,
                Some(id),
                -32602,
                &format!("unknown tool: {}", call.name),
            );
        }
        let text = call
            .arguments
            .and_then(|a| a.text)
            .map_or("\"\"", |t| t.get());
        out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
        out.extend_from_slice(id.get().as_bytes());
        out.extend_from_slice(br#","result":{"content":[{"type":"text","text":"#);
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(br#"}],"isError":false}}"#);
    }
}

fn result(out: &mut Vec<u8>, id: &RawValue, result: &str) {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id.get().as_bytes());
    out.extend_from_slice(br#","result":"#);
    out.extend_from_slice(result.as_bytes());
    out.push(b'}');
}

fn error(out: &mut Vec<u8>, id: Option<&RawValue>, code: i64, message: &str) {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id.map_or("null", |i| i.get()).as_bytes());
    out.extend_from_slice(format!(r#","error":{{"code":{code},"message":"#).as_bytes());
    // Serialising a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, message);
    out.extend_from_slice(b"}}");
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// Serves stdio until stdin closes.
pub fn run_stdio(echo: &Echo) -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut reader = BufReader::with_capacity(1 << 16, stdin.lock());
    let mut writer = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(4096);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return writer.flush();
        }
        let msg = trim(&line);
        if !msg.is_empty() {
            out.clear();
            if echo.handle(msg, &mut out) {
                out.push(b'\n');
                writer.write_all(&out)?;
            }
        }
        if !reader.buffer().contains(&b'\n') {
            writer.flush()?;
        }
    }
}

struct HttpState {
    echo: Echo,
    sessions: Mutex<HashSet<String>>,
    next: AtomicU64,
    seed: u64,
}

impl HttpState {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Resp = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    r
}

fn json_error(status: StatusCode, code: i64, message: &str) -> Resp {
    let mut body = Vec::new();
    error(&mut body, None, code, message);
    respond(status, "application/json", body)
}

/// Whether a body holds an `initialize` request (alone or in a batch).
fn is_initialize(body: &[u8]) -> bool {
    let one = |raw: &[u8]| {
        serde_json::from_slice::<Msg<'_>>(raw)
            .is_ok_and(|m| m.method.as_deref() == Some("initialize"))
    };
    match serde_json::from_slice::<Vec<&RawValue>>(body) {
        Ok(items) => items.iter().any(|i| one(i.get().as_bytes())),
        Err(_) => one(body),
    }
}

async fn serve(
    st: Arc<HttpState>,
    req: Request<Incoming>,
) -> Result<Resp, std::convert::Infallible> {
    let sid = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match *req.method() {
        Method::POST => {}
        Method::DELETE => {
            let Some(sid) = sid else {
                return Ok(respond(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    "missing Mcp-Session-Id",
                ));
            };
            return Ok(if st.sessions().remove(&sid) {
                respond(StatusCode::OK, "text/plain", "")
            } else {
                respond(StatusCode::NOT_FOUND, "text/plain", "session not found")
            });
        }
        _ => {
            let mut r = respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "POST or DELETE",
            );
            r.headers_mut().insert(
                hyper::header::ALLOW,
                HeaderValue::from_static("POST, DELETE"),
            );
            return Ok(r);
        }
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                -32600,
                "body too large or unreadable",
            ));
        }
    };
    let mut new_session = None;
    match &sid {
        Some(s) => {
            if !st.sessions().contains(s) {
                return Ok(respond(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "session not found",
                ));
            }
        }
        None if is_initialize(&body) => {
            let n = st.next.fetch_add(1, Ordering::Relaxed);
            let s = format!("{:016x}{n:016x}", st.seed);
            st.sessions().insert(s.clone());
            new_session = Some(s);
        }
        None => {
            return Ok(json_error(
                StatusCode::BAD_REQUEST,
                -32600,
                "missing Mcp-Session-Id",
            ));
        }
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    if !st.echo.handle(&body, &mut out) {
        return Ok(respond(StatusCode::ACCEPTED, "text/plain", ""));
    }
    let mut r = respond(StatusCode::OK, "application/json", out);
    if let Some(s) = new_session.and_then(|s| HeaderValue::from_str(&s).ok()) {
        r.headers_mut()
            .insert(HeaderName::from_static("mcp-session-id"), s);
    }
    Ok(r)
}

/// Serves Streamable HTTP on 127.0.0.1:`port` (0: any free port) until killed. The bound
/// address is announced on stderr as `... listening on http://127.0.0.1:PORT/mcp`.
pub fn run_http(echo: Echo, port: u16) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32);
    let st = Arc::new(HttpState {
        echo,
        sessions: Mutex::new(HashSet::new()),
        next: AtomicU64::new(1),
        seed,
    });
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        crate::note(&format!(
            "tether-bench echo-server listening on http://{addr}/mcp"
        ));
        loop {
            let sock = match listener.accept().await {
                Ok((sock, _)) => sock,
                Err(_) => {
                    // Out of descriptors or a reset during accept: try again shortly.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = sock.set_nodelay(true);
            let st = st.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| serve(st.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(hyper_util::rt::TokioIo::new(sock), svc)
                    .await;
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(input: &str) -> Option<String> {
        let mut out = Vec::new();
        Echo::new(3)
            .handle(input.as_bytes(), &mut out)
            .then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn echoes_text_and_keeps_the_id() {
        let a = answer(r#"{"jsonrpc":"2.0","id":"x7","method":"tools/call","params":{"name":"echo","arguments":{"text":"h\u00e9 \"q\""}}}"#).unwrap();
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        assert_eq!(v["id"], "x7");
        assert_eq!(v["result"]["content"][0]["text"], "hé \"q\"");
    }

    #[test]
    fn notifications_and_responses_get_nothing() {
        assert_eq!(
            answer(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
        assert_eq!(answer(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#), None);
    }

    #[test]
    fn errors_are_json_rpc() {
        let bad = answer("not json").unwrap();
        assert!(bad.contains("-32700"), "{bad}");
        let unknown = answer(r#"{"jsonrpc":"2.0","id":2,"method":"nope"}"#).unwrap();
        assert!(unknown.contains("-32601"), "{unknown}");
        let tool =
            answer(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"}}"#)
                .unwrap();
        assert!(tool.contains("-32602"), "{tool}");
    }

    #[test]
    fn batches_answer_requests_only() {
        let a = answer(r#"[{"jsonrpc":"2.0","method":"n"},{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]"#).unwrap();
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        assert_eq!(v.as_array().map(Vec::len), Some(2));
        assert_eq!(v[1]["result"]["tools"].as_array().map(Vec::len), Some(3));
        assert_eq!(answer(r#"[{"jsonrpc":"2.0","method":"n"}]"#), None);
    }
}
