//! The measuring client: MCP over stdio (many requests in flight on one connection, matched by
//! id) and over Streamable HTTP (one session on one keep-alive connection, TCP_NODELAY, answers
//! as JSON or SSE), with the handshake and the check of an echo result.
//!
//! Request ids are unique in the whole process, so an answer that reaches the wrong waiter is
//! seen (counted as foreign) instead of being taken for the right one.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

mod http;
mod stdio;

pub use http::{HttpSession, Url};
pub use stdio::{StdioConn, spawn_stdio, spawn_stdio_argv};

/// The protocol revision the client asks for.
pub const PROTOCOL: &str = "2025-06-18";

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A process-unique request id.
pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The wire form of a request.
pub fn request_json(id: u64, method: &str, params_json: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params_json}}}"#)
}

/// The wire form of a notification.
pub fn notification_json(method: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","method":"{method}"}}"#)
}

/// Why a call did not give a good answer.
#[derive(Clone, Debug, PartialEq)]
pub enum CallError {
    /// No answer within the call timeout.
    Timeout,
    /// The connection failed or closed before the answer came.
    Transport(String),
    /// An HTTP status other than success, with the start of the body.
    Http(u16, String),
    /// A JSON-RPC error answer.
    Rpc(i64, String),
    /// A result with `isError: true`, with its text.
    Tool(String),
    /// An answer that is not what was asked for (wrong text, wrong shape).
    Bad(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Timeout => write!(f, "timeout"),
            CallError::Transport(s) => write!(f, "transport: {s}"),
            CallError::Http(code, body) => write!(f, "HTTP {code}: {body}"),
            CallError::Rpc(code, m) => write!(f, "JSON-RPC error {code}: {m}"),
            CallError::Tool(t) => write!(f, "tool error: {t}"),
            CallError::Bad(s) => write!(f, "unexpected answer: {s}"),
        }
    }
}

pub(crate) fn preview(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned()
}

#[derive(Deserialize)]
pub(crate) struct Head<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ErrorObj {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ToolResult<'a> {
    #[serde(borrow, default)]
    content: Vec<Content<'a>>,
    #[serde(default, rename = "isError")]
    is_error: Option<bool>,
}

#[derive(Deserialize)]
struct Content<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

/// A numeric id (or a string holding one).
pub(crate) fn id_of(raw: Option<&RawValue>) -> Option<u64> {
    let s = raw?.get();
    s.parse()
        .ok()
        .or_else(|| s.strip_prefix('"')?.strip_suffix('"')?.parse().ok())
}

/// The raw `result` of a response, or the error it carries.
pub fn result_of(msg: &[u8]) -> Result<&RawValue, CallError> {
    let head: Head<'_> = serde_json::from_slice(msg)
        .map_err(|e| CallError::Bad(format!("{e}: {}", preview(msg))))?;
    if let Some(err) = head.error {
        let e: ErrorObj = serde_json::from_str(err.get()).unwrap_or(ErrorObj {
            code: 0,
            message: err.get().to_owned(),
        });
        return Err(CallError::Rpc(e.code, e.message));
    }
    head.result
        .ok_or_else(|| CallError::Bad(format!("neither result nor error: {}", preview(msg))))
}

/// The text of a `tools/call` result (its first text item); a tool error for `isError`.
pub fn tool_text(msg: &[u8]) -> Result<String, CallError> {
    let result = result_of(msg)?;
    let r: ToolResult<'_> = serde_json::from_str(result.get())
        .map_err(|e| CallError::Bad(format!("not a tool result ({e}): {}", preview(msg))))?;
    let text = r
        .content
        .into_iter()
        .find_map(|c| c.text)
        .unwrap_or_default();
    if r.is_error == Some(true) {
        return Err(CallError::Tool(text.chars().take(300).collect()));
    }
    Ok(text.into_owned())
}

/// Checks that a `tools/call echo` answer carries exactly `payload`.
pub fn check_echo(msg: &[u8], payload: &str) -> Result<(), CallError> {
    let result = result_of(msg)?;
    let r: ToolResult<'_> = serde_json::from_str(result.get())
        .map_err(|e| CallError::Bad(format!("not a tool result ({e}): {}", preview(msg))))?;
    let text = r.content.first().and_then(|c| c.text.as_deref());
    if r.is_error == Some(true) {
        return Err(CallError::Tool(
            text.unwrap_or("").chars().take(300).collect(),
        ));
    }
    if text == Some(payload) {
        Ok(())
    } else {
        Err(CallError::Bad(format!("wrong echo: {}", preview(msg))))
    }
}

/// Either kind of connection, as the load and soak workers use it.
#[derive(Debug)]
pub enum Client {
    /// A shared stdio connection.
    Stdio(Arc<StdioConn>),
    /// An HTTP session of its own.
    Http(HttpSession),
}

impl Client {
    /// Sends a request and returns the raw answer message.
    pub async fn request(
        &mut self,
        method: &str,
        params_json: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, CallError> {
        match self {
            Client::Stdio(c) => c.request(method, params_json, timeout).await,
            Client::Http(h) => h.request(method, params_json, timeout).await,
        }
    }

    /// `initialize` + `notifications/initialized` + `tools/list`; returns the tool names.
    pub async fn handshake(&mut self, timeout: Duration) -> Result<Vec<String>, CallError> {
        let params = format!(
            r#"{{"protocolVersion":"{PROTOCOL}","capabilities":{{}},"clientInfo":{{"name":"tether-bench","version":"{}"}}}}"#,
            env!("CARGO_PKG_VERSION")
        );
        let init = self.request("initialize", &params, timeout).await?;
        let version = {
            #[derive(Deserialize)]
            struct Init {
                #[serde(default, rename = "protocolVersion")]
                protocol_version: Option<String>,
            }
            let raw = result_of(&init)?;
            serde_json::from_str::<Init>(raw.get())
                .ok()
                .and_then(|i| i.protocol_version)
                .unwrap_or_else(|| PROTOCOL.to_owned())
        };
        match self {
            Client::Stdio(c) => c.notify("notifications/initialized")?,
            Client::Http(h) => {
                h.protocol = Some(version);
                h.notify("notifications/initialized", timeout).await?;
            }
        }
        self.tool_names(timeout).await
    }

    /// The names in `tools/list` (first page).
    pub async fn tool_names(&mut self, timeout: Duration) -> Result<Vec<String>, CallError> {
        #[derive(Deserialize)]
        struct Named {
            name: String,
        }
        #[derive(Deserialize)]
        struct List {
            #[serde(default)]
            tools: Vec<Named>,
        }
        let msg = self.request("tools/list", "{}", timeout).await?;
        let list: List = serde_json::from_str(result_of(&msg)?.get())
            .map_err(|e| CallError::Bad(format!("bad tools/list result: {e}")))?;
        Ok(list.tools.into_iter().map(|t| t.name).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_echo_answers() {
        let ok = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}"#;
        assert_eq!(check_echo(ok, "hi"), Ok(()));
        assert!(matches!(check_echo(ok, "ho"), Err(CallError::Bad(_))));
        let err = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"no"}}"#;
        assert_eq!(
            check_echo(err, "hi"),
            Err(CallError::Rpc(-32602, "no".into()))
        );
        let tool = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"down"}],"isError":true}}"#;
        assert_eq!(check_echo(tool, "hi"), Err(CallError::Tool("down".into())));
        assert!(matches!(
            check_echo(b"garbage", "hi"),
            Err(CallError::Bad(_))
        ));
    }

    #[test]
    fn reads_numeric_and_string_ids() {
        let raw: Box<RawValue> = serde_json::from_str("42").unwrap();
        assert_eq!(id_of(Some(&raw)), Some(42));
        let raw: Box<RawValue> = serde_json::from_str(r#""43""#).unwrap();
        assert_eq!(id_of(Some(&raw)), Some(43));
        let raw: Box<RawValue> = serde_json::from_str(r#""x""#).unwrap();
        assert_eq!(id_of(Some(&raw)), None);
    }
}
