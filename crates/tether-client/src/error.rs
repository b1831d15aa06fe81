//! Typed client errors, each carrying its [`ErrorClass`] (CONTRACT §3).
//!
//! Every failure is classified once, where it is born, by its type: never by a JSON-RPC code
//! alone (-32001 means both "request timed out" and "session not found" in the wild). Foreign
//! errors (io, HTTP clients, HTTP statuses, content types) are classified in one place,
//! [`classify`], with a table test.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use tether_proto::ErrorObject;

/// The class of a failure; it decides retries (CONTRACT §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// Static validation failed.
    Config,
    /// The command could not be started (ENOENT, EACCES).
    Spawn,
    /// The server process exited.
    ProcessExited,
    /// No initialize result in the connect budget.
    HandshakeTimeout,
    /// Connection refused or reset, connect or read timeout, temporary DNS failure.
    Network,
    /// The host name does not exist.
    Dns,
    /// Certificate or TLS handshake failure.
    Tls,
    /// 429, 500, 502, 503, 504.
    HttpTransient,
    /// 401 or 403.
    Unauthorized,
    /// 404 to a request without a session id.
    EndpointNotFound,
    /// 404 to a request carrying `Mcp-Session-Id`.
    SessionExpired,
    /// Not MCP: wrong content type, unparsable body, bad initialize result, 406/415.
    Protocol,
    /// Tether's own timer ran out.
    RequestTimeout,
    /// The server answered with a JSON-RPC error.
    PeerError,
}

impl ErrorClass {
    /// The stable kebab-case name used in JSON and text output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Config => "config",
            ErrorClass::Spawn => "spawn",
            ErrorClass::ProcessExited => "process-exited",
            ErrorClass::HandshakeTimeout => "handshake-timeout",
            ErrorClass::Network => "network",
            ErrorClass::Dns => "dns",
            ErrorClass::Tls => "tls",
            ErrorClass::HttpTransient => "http-transient",
            ErrorClass::Unauthorized => "unauthorized",
            ErrorClass::EndpointNotFound => "endpoint-not-found",
            ErrorClass::SessionExpired => "session-expired",
            ErrorClass::Protocol => "protocol",
            ErrorClass::RequestTimeout => "request-timeout",
            ErrorClass::PeerError => "peer-error",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ExitInfo {
    /// Exit code, when it exited normally.
    pub code: Option<i32>,
    /// Signal number, when a signal ended it.
    pub signal: Option<i32>,
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "code {code}"),
            (None, Some(sig)) => write!(f, "signal {}", signal_name(sig)),
            (None, None) => f.write_str("unknown status"),
        }
    }
}

fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| sig.to_string())
}

/// Which of Tether's timers ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timer {
    /// The connect + initialize (+ first tools/list) budget.
    Connect,
    /// The per-request timer of non-tool requests.
    Request,
    /// No response and no progress for this long.
    Idle,
    /// The tool call's wall clock.
    WallClock,
    /// The liveness ping.
    Ping,
}

impl Timer {
    /// The timer's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Timer::Connect => "connect",
            Timer::Request => "request",
            Timer::Idle => "idle",
            Timer::WallClock => "wall-clock",
            Timer::Ping => "ping",
        }
    }

    /// The setting that raises this timer, for hints.
    pub fn knob(self) -> &'static str {
        match self {
            Timer::Connect => "`MCP_TIMEOUT` or `tether.connect_timeout_ms`",
            Timer::Request => "the request timeout (`--timeout`)",
            Timer::Idle => "`tether.idle_timeout_ms`",
            Timer::WallClock => "`timeout` in the server entry or `MCP_TOOL_TIMEOUT`",
            Timer::Ping => "`tether.ping_interval_ms`",
        }
    }
}

/// Details of an HTTP answer that was not what MCP expects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HttpFailure {
    /// The status code.
    pub status: u16,
    /// `scheme://host:port` of the endpoint (never the path or query: they can hold secrets).
    pub origin: String,
    /// The media type of the body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The first 200 bytes of the body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_preview: Option<String>,
    /// `Retry-After`, when given in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<Duration>,
    /// The upstream's `request-id` / `x-request-id` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `WWW-Authenticate`, on 401/403.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub www_authenticate: Option<String>,
    /// True when the request carried `Mcp-Session-Id`.
    pub had_session: bool,
    /// `Location`, on a redirect Tether does not follow (query values masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl HttpFailure {
    /// True when the body looks like an HTML page (an intermediary, not the MCP server).
    pub fn is_html(&self) -> bool {
        self.content_type.as_deref() == Some("text/html")
            || self
                .body_preview
                .as_deref()
                .is_some_and(|b| b.trim_start().starts_with('<'))
    }
}

/// Kinds of network failure, as far as the OS tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkKind {
    /// ECONNREFUSED.
    Refused,
    /// ECONNRESET, broken pipe, unexpected EOF.
    Reset,
    /// Connect or read timeout at the socket level.
    Timeout,
    /// A temporary DNS failure (EAI_AGAIN).
    DnsTemporary,
    /// Anything else.
    Other,
}

/// A client error. Display is one lowercase fragment; causes are in `source()`.
///
/// Cloneable, because one closed connection fails every request that was waiting on it.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Static validation failed.
    #[error("config error: {0}")]
    Config(String),

    /// The command could not be started.
    #[error("could not start `{command}`: {reason}")]
    Spawn {
        /// The command as configured.
        command: String,
        /// Why (e.g. "not found on PATH").
        reason: String,
        /// The PATH searched.
        path_var: String,
        /// The OS error.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },

    /// The server process ended (or closed its stdout).
    #[error("{}", process_exited_text(.exit, .during_init, .uptime))]
    ProcessExited {
        /// How it ended; `None` when stdout closed but the process is still running.
        exit: Option<ExitInfo>,
        /// True when it ended before the handshake completed.
        during_init: bool,
        /// How long it ran.
        uptime: Duration,
        /// The last lines it wrote to stderr.
        stderr_tail: Vec<String>,
    },

    /// No answer to `initialize` in the connect budget.
    #[error("no response to initialize within {}{}", fmt_duration(*.after), handshake_detail(*.process_running, *.stdout_noise))]
    HandshakeTimeout {
        /// The budget.
        after: Duration,
        /// For stdio: the process was still running when the budget ran out.
        process_running: Option<bool>,
        /// Non-JSON lines seen on stdout meanwhile.
        stdout_noise: u64,
        /// The last lines the server wrote to stderr.
        stderr_tail: Vec<String>,
    },

    /// The network failed.
    #[error("{}", network_text(*.kind, .origin, .detail))]
    Network {
        /// What kind of failure.
        kind: NetworkKind,
        /// `scheme://host:port`.
        origin: String,
        /// The root cause, unwrapped.
        detail: String,
    },

    /// The host name does not resolve.
    #[error("DNS lookup failed for {host}: {detail}")]
    Dns {
        /// The host.
        host: String,
        /// The resolver's answer.
        detail: String,
    },

    /// TLS failed (certificate, handshake).
    #[error("TLS failed for {origin}: {detail}")]
    Tls {
        /// `scheme://host:port`.
        origin: String,
        /// The root cause.
        detail: String,
    },

    /// An HTTP status MCP does not expect.
    #[error("{}", http_text(.0))]
    Http(Box<HttpFailure>),

    /// A 2xx answer that is not JSON or SSE (often an HTML login page from a proxy).
    #[error("expected JSON or SSE, got {} from {}", .0.content_type.as_deref().unwrap_or("no content type"), .0.origin)]
    UnexpectedContentType(Box<HttpFailure>),

    /// The session was gone (404 with `Mcp-Session-Id`) and could not be re-established.
    #[error("session expired (HTTP 404) and re-initializing failed")]
    SessionExpired {
        /// Why re-initializing failed.
        #[source]
        cause: Option<Box<Error>>,
    },

    /// The peer said something that is not valid MCP.
    #[error("{0}")]
    Protocol(String),

    /// The server chose a protocol revision Tether does not speak.
    #[error("server chose protocol version `{offered}`, which Tether does not support (supported: {})", tether_proto::version::SUPPORTED.join(", "))]
    VersionUnsupported {
        /// What the server answered.
        offered: String,
    },

    /// One of Tether's timers ran out.
    #[error("{method} timed out after {} ({} timer)", fmt_duration(*.after), .timer.name())]
    Timeout {
        /// The request method (with the tool name for calls: `tools/call 'x'`).
        method: String,
        /// Which timer.
        timer: Timer,
        /// Its value.
        after: Duration,
    },

    /// A JSON-RPC error from the server.
    #[error("server error {}: {}", .0.code, .0.message)]
    Peer(ErrorObject),

    /// The connection died while a request was in flight.
    #[error("connection lost during {method}{}", if *.outcome_unknown { "; outcome unknown (not retried)" } else { "" })]
    ConnectionLost {
        /// The request method.
        method: String,
        /// True for calls that may have run (never replayed).
        outcome_unknown: bool,
        /// What killed the connection.
        #[source]
        cause: Box<Error>,
    },

    /// The session was closed by its owner.
    #[error("session closed")]
    Closed,

    /// The server cannot take requests now (failed, needs auth, disabled, still connecting).
    #[error("server `{server}` is {state}: {reason}")]
    Unavailable {
        /// The server name.
        server: String,
        /// Its state name.
        state: String,
        /// Why, one line.
        reason: String,
        /// The class of the failure behind the state.
        class: ErrorClass,
    },

    /// No server by that name.
    #[error("no server named `{name}`{}", .suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownServer {
        /// The name asked for.
        name: String,
        /// The closest configured name.
        suggestion: Option<String>,
    },
}

fn process_exited_text(exit: &Option<ExitInfo>, during_init: &bool, uptime: &Duration) -> String {
    let when = if *during_init {
        "during initialize"
    } else {
        "unexpectedly"
    };
    match exit {
        Some(exit) => format!(
            "server exited {when} ({exit}) after {}",
            fmt_duration(*uptime)
        ),
        None => format!("server closed its stdout {when} (process still running)"),
    }
}

fn handshake_detail(running: Option<bool>, noise: u64) -> String {
    let mut out = String::new();
    match running {
        Some(true) => out.push_str("; process still running"),
        Some(false) => out.push_str("; process not running"),
        None => {}
    }
    if noise > 0 {
        out.push_str(&format!("; {noise} non-JSON lines on stdout"));
    }
    out
}

fn network_text(kind: NetworkKind, origin: &str, detail: &str) -> String {
    match kind {
        NetworkKind::Refused => format!("connection refused by {origin}"),
        NetworkKind::Reset => format!("connection to {origin} reset: {detail}"),
        NetworkKind::Timeout => format!("connection to {origin} timed out"),
        NetworkKind::DnsTemporary => format!("temporary DNS failure for {origin}: {detail}"),
        NetworkKind::Other => format!("network error talking to {origin}: {detail}"),
    }
}

fn http_text(f: &HttpFailure) -> String {
    match f.status {
        404 if !f.had_session => format!("HTTP 404: MCP endpoint not found at {}", f.origin),
        401 | 403 => format!("HTTP {}: needs authentication at {}", f.status, f.origin),
        406 => format!(
            "HTTP 406: server rejected the Accept header at {}",
            f.origin
        ),
        300..=399 => match &f.location {
            Some(to) => format!("HTTP {}: {} redirects to {to}", f.status, f.origin),
            None => format!(
                "HTTP {} from {} (a redirect without a usable Location)",
                f.status, f.origin
            ),
        },
        status => {
            let mut text = format!("HTTP {status} from {}", f.origin);
            if f.is_html() {
                text.push_str(" (an HTML page: likely a proxy or gateway, not the MCP server)");
            } else if let Some(body) = f.body_preview.as_deref().filter(|b| !b.is_empty()) {
                text.push_str(": ");
                text.push_str(body.lines().next().unwrap_or(body));
            }
            text
        }
    }
}

/// Formats a duration the way people read them: `30s`, `1.5s`, `250ms`, `5min`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(60_000) {
        format!("{}min", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

impl Error {
    /// The class: an exhaustive match, so a new variant forces a decision.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Config(_) => ErrorClass::Config,
            Error::Spawn { .. } => ErrorClass::Spawn,
            Error::ProcessExited { .. } => ErrorClass::ProcessExited,
            Error::HandshakeTimeout { .. } => ErrorClass::HandshakeTimeout,
            Error::Network { kind, .. } => match kind {
                NetworkKind::Refused
                | NetworkKind::Reset
                | NetworkKind::Timeout
                | NetworkKind::DnsTemporary
                | NetworkKind::Other => ErrorClass::Network,
            },
            Error::Dns { .. } => ErrorClass::Dns,
            Error::Tls { .. } => ErrorClass::Tls,
            Error::Http(f) => classify_status(f.status, f.had_session),
            Error::UnexpectedContentType(_) => ErrorClass::Protocol,
            Error::SessionExpired { .. } => ErrorClass::SessionExpired,
            Error::Protocol(_) => ErrorClass::Protocol,
            Error::VersionUnsupported { .. } => ErrorClass::Protocol,
            Error::Timeout { timer, method, .. } => match timer {
                Timer::Connect if method.starts_with("initialize") => ErrorClass::HandshakeTimeout,
                Timer::Connect | Timer::Request | Timer::Idle | Timer::WallClock | Timer::Ping => {
                    ErrorClass::RequestTimeout
                }
            },
            Error::Peer(_) => ErrorClass::PeerError,
            Error::ConnectionLost { cause, .. } => cause.class(),
            Error::Closed => ErrorClass::Network,
            Error::Unavailable { class, .. } => *class,
            Error::UnknownServer { .. } => ErrorClass::Config,
        }
    }

    /// The HTTP details, when this came from an HTTP answer.
    pub fn http(&self) -> Option<&HttpFailure> {
        match self {
            Error::Http(f) | Error::UnexpectedContentType(f) => Some(f),
            Error::ConnectionLost { cause, .. } => cause.http(),
            Error::SessionExpired { cause: Some(c) } => c.http(),
            _ => None,
        }
    }

    /// The exit status, when a process ended.
    pub fn exit(&self) -> Option<ExitInfo> {
        match self {
            Error::ProcessExited { exit, .. } => *exit,
            Error::ConnectionLost { cause, .. } => cause.exit(),
            _ => None,
        }
    }

    /// The server's last stderr lines, when this error has them.
    pub fn stderr_tail(&self) -> &[String] {
        match self {
            Error::ProcessExited { stderr_tail, .. }
            | Error::HandshakeTimeout { stderr_tail, .. } => stderr_tail,
            Error::ConnectionLost { cause, .. } => cause.stderr_tail(),
            _ => &[],
        }
    }

    /// The finding code (CONTRACT §6) that names this failure.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config(_) => "config_invalid",
            Error::Spawn { .. } => "spawn_failed",
            Error::ProcessExited { .. } => "process_exited",
            Error::HandshakeTimeout { .. } => "initialize_timeout",
            Error::Network { kind, .. } => match kind {
                NetworkKind::Refused => "connection_refused",
                NetworkKind::Timeout => "connect_timeout",
                NetworkKind::DnsTemporary => "dns_failed",
                NetworkKind::Reset | NetworkKind::Other => "connection_refused",
            },
            Error::Dns { .. } => "dns_failed",
            Error::Tls { .. } => "tls_failed",
            Error::Http(f) => match f.status {
                401 => "http_unauthorized",
                403 => "http_forbidden",
                404 if f.had_session => "session_expired",
                404 => "http_not_found",
                406 | 415 => "http_not_acceptable",
                300..=399 => "http_redirect",
                _ if f.is_html() && f.status < 500 => "http_unexpected_content_type",
                _ => "http_server_error",
            },
            Error::UnexpectedContentType(_) => "http_unexpected_content_type",
            Error::SessionExpired { .. } => "session_expired",
            Error::Protocol(_) => "nonconformant_message",
            Error::VersionUnsupported { .. } => "protocol_version_unsupported",
            Error::Timeout { method, .. } if method.starts_with("initialize") => {
                "initialize_timeout"
            }
            Error::Timeout { method, .. } if method.starts_with("tools/list") => {
                "tools_list_timeout"
            }
            Error::Timeout { .. } => "tool_call_timeout",
            Error::Peer(_) => "tool_call_error",
            Error::ConnectionLost { cause, .. } => cause.code(),
            Error::Closed => "process_exited",
            Error::Unavailable { .. } => "server_unavailable",
            Error::UnknownServer { .. } => "config_invalid",
        }
    }

    /// A concrete next step for the user, when there is one.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::Spawn { path_var, .. } => format!(
                "use an absolute path, or add its directory to PATH (searched: {path_var})"
            ),
            Error::ProcessExited { .. } => {
                "run the command by hand to see why it exits; its stderr is shown above".to_owned()
            }
            Error::HandshakeTimeout { stdout_noise, .. } if *stdout_noise > 0 => {
                "the server writes logs to stdout; it must log to stderr".to_owned()
            }
            Error::HandshakeTimeout { .. } => {
                "raise `MCP_TIMEOUT` / `tether.connect_timeout_ms` if the server is slow to start"
                    .to_owned()
            }
            Error::Network {
                kind: NetworkKind::Refused,
                ..
            } => "is the server running and listening on that port?".to_owned(),
            Error::Dns { .. } => "check the host name in the URL".to_owned(),
            Error::Tls { .. } => {
                "check the certificate; a corporate proxy may need its CA installed".to_owned()
            }
            Error::Http(f) => match f.status {
                401 | 403 => "set a valid `Authorization` header (or token) for this server".to_owned(),
                404 if !f.had_session => "check the URL path (e.g. `/mcp` vs `/sse`); for a legacy server use `\"type\": \"sse\"`".to_owned(),
                406 => "something between Tether and the server rewrites the Accept header".to_owned(),
                300..=399 => format!(
                    "set the server's `url` to {}; only 307 and 308 are followed, because the \
                     others turn the POST into a GET",
                    f.location.as_deref().unwrap_or("the address the server names")
                ),
                _ if f.is_html() => "an HTML page came back: check the proxy route and its timeouts".to_owned(),
                _ => return None,
            },
            Error::UnexpectedContentType(_) => {
                "a proxy or web frontend is answering instead of the MCP server: check the URL and routing".to_owned()
            }
            Error::VersionUnsupported { .. } => "upgrade Tether or the server".to_owned(),
            Error::Timeout { timer, .. } => format!("raise {}", timer.knob()),
            Error::ConnectionLost { cause, .. } => return cause.hint(),
            Error::UnknownServer { .. } => {
                "`tether list` shows the configured servers".to_owned()
            }
            Error::Config(_)
            | Error::Network { .. }
            | Error::SessionExpired { .. }
            | Error::Protocol(_)
            | Error::Peer(_)
            | Error::Closed
            | Error::Unavailable { .. } => return None,
        })
    }
}

/// Classifies an HTTP status (CONTRACT §3).
pub fn classify_status(status: u16, had_session: bool) -> ErrorClass {
    match status {
        401 | 403 => ErrorClass::Unauthorized,
        404 if had_session => ErrorClass::SessionExpired,
        404 => ErrorClass::EndpointNotFound,
        429 | 500 | 502 | 503 | 504 => ErrorClass::HttpTransient,
        // Other 5xx are servers failing too; retrying them is what users expect.
        505..=599 => ErrorClass::HttpTransient,
        _ => ErrorClass::Protocol,
    }
}

/// Classification of foreign errors, in one place.
pub mod classify {
    use super::{Error, NetworkKind};
    use std::io;

    /// Maps an io error on a socket or pipe to a network kind.
    pub fn io_kind(e: &io::Error) -> NetworkKind {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => NetworkKind::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected => NetworkKind::Reset,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => NetworkKind::Timeout,
            _ => NetworkKind::Other,
        }
    }

    /// Classifies an HTTP client error (hyper's or reqwest's) by walking its source chain to
    /// the root cause.
    pub fn net_error(e: &(dyn std::error::Error + 'static), origin: &str, host: &str) -> Error {
        let chain = source_chain(e);
        let lower = chain.to_lowercase();
        if let Some(io) = find_io(e) {
            let kind = io_kind(io);
            if kind != NetworkKind::Other {
                return Error::Network {
                    kind,
                    origin: origin.to_owned(),
                    detail: io.to_string(),
                };
            }
        }
        if lower.contains("dns error") || lower.contains("failed to lookup address") {
            if lower.contains("temporary failure") || lower.contains("try again") {
                return Error::Network {
                    kind: NetworkKind::DnsTemporary,
                    origin: origin.to_owned(),
                    detail: last_cause(e),
                };
            }
            return Error::Dns {
                host: host.to_owned(),
                detail: last_cause(e),
            };
        }
        if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("invalidcontenttype")
            || lower.contains("handshake")
        {
            return Error::Tls {
                origin: origin.to_owned(),
                detail: last_cause(e),
            };
        }
        let timed_out = e
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout);
        let kind = if timed_out {
            NetworkKind::Timeout
        } else if lower.contains("connection refused") {
            NetworkKind::Refused
        } else if lower.contains("reset")
            || lower.contains("closed")
            || lower.contains("broken pipe")
            || lower.contains("incomplete")
        {
            NetworkKind::Reset
        } else {
            NetworkKind::Other
        };
        Error::Network {
            kind,
            origin: origin.to_owned(),
            detail: last_cause(e),
        }
    }

    fn find_io<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a io::Error> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if let Some(io) = err.downcast_ref::<io::Error>() {
                return Some(io);
            }
            cur = err.source();
        }
        None
    }

    fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
        let mut parts = vec![e.to_string()];
        let mut cur = e.source();
        while let Some(err) = cur {
            parts.push(err.to_string());
            cur = err.source();
        }
        parts.join(": ")
    }

    fn last_cause(e: &(dyn std::error::Error + 'static)) -> String {
        let mut last = e.to_string();
        let mut cur = e.source();
        while let Some(err) = cur {
            last = err.to_string();
            cur = err.source();
        }
        last
    }

    /// The media-type essence of a `Content-Type` value: lowercase, parameters dropped.
    pub fn media_type(content_type: &str) -> String {
        content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// What a 2xx body is, judged by its media type.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum BodyKind {
        /// `application/json` (or a `+json` type).
        Json,
        /// `text/event-stream`.
        EventStream,
        /// Anything else: not MCP.
        Other,
    }

    /// Classifies a response body by its `Content-Type`.
    pub fn body_kind(content_type: Option<&str>) -> BodyKind {
        match content_type.map(media_type).as_deref() {
            Some("application/json") => BodyKind::Json,
            Some(t) if t.starts_with("application/") && t.ends_with("+json") => BodyKind::Json,
            Some("text/event-stream") => BodyKind::EventStream,
            _ => BodyKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::classify::{BodyKind, body_kind, io_kind, media_type};
    use super::*;
    use std::io;

    #[test]
    fn classifies_http_statuses() {
        let table = [
            (401, false, ErrorClass::Unauthorized),
            (403, false, ErrorClass::Unauthorized),
            (404, false, ErrorClass::EndpointNotFound),
            (404, true, ErrorClass::SessionExpired),
            (429, false, ErrorClass::HttpTransient),
            (500, false, ErrorClass::HttpTransient),
            (502, true, ErrorClass::HttpTransient),
            (503, false, ErrorClass::HttpTransient),
            (504, false, ErrorClass::HttpTransient),
            (400, false, ErrorClass::Protocol),
            (405, false, ErrorClass::Protocol),
            (406, false, ErrorClass::Protocol),
            (415, false, ErrorClass::Protocol),
        ];
        for (status, had_session, class) in table {
            assert_eq!(classify_status(status, had_session), class, "{status}");
        }
    }

    #[test]
    fn classifies_io_kinds() {
        let table = [
            (io::ErrorKind::ConnectionRefused, NetworkKind::Refused),
            (io::ErrorKind::ConnectionReset, NetworkKind::Reset),
            (io::ErrorKind::ConnectionAborted, NetworkKind::Reset),
            (io::ErrorKind::BrokenPipe, NetworkKind::Reset),
            (io::ErrorKind::UnexpectedEof, NetworkKind::Reset),
            (io::ErrorKind::TimedOut, NetworkKind::Timeout),
            (io::ErrorKind::PermissionDenied, NetworkKind::Other),
        ];
        for (kind, expected) in table {
            assert_eq!(io_kind(&io::Error::from(kind)), expected, "{kind:?}");
        }
    }

    #[test]
    fn classifies_content_types() {
        let table = [
            (Some("application/json"), BodyKind::Json),
            (Some("application/json; charset=utf-8"), BodyKind::Json),
            (Some("Application/JSON"), BodyKind::Json),
            (Some("application/vnd.api+json"), BodyKind::Json),
            (Some("text/event-stream"), BodyKind::EventStream),
            (
                Some("text/event-stream;charset=UTF-8"),
                BodyKind::EventStream,
            ),
            (Some("text/html; charset=utf-8"), BodyKind::Other),
            (Some("text/plain"), BodyKind::Other),
            (None, BodyKind::Other),
        ];
        for (ct, expected) in table {
            assert_eq!(body_kind(ct), expected, "{ct:?}");
        }
        assert_eq!(media_type(" text/HTML ; q=1"), "text/html");
    }

    #[test]
    fn error_classes_and_codes() {
        let http = |status, had_session, ct: Option<&str>| {
            Error::Http(Box::new(HttpFailure {
                status,
                origin: "http://127.0.0.1:1".into(),
                content_type: ct.map(str::to_owned),
                had_session,
                ..Default::default()
            }))
        };
        let cases: Vec<(Error, ErrorClass, &str)> = vec![
            (
                http(401, false, None),
                ErrorClass::Unauthorized,
                "http_unauthorized",
            ),
            (
                http(403, false, None),
                ErrorClass::Unauthorized,
                "http_forbidden",
            ),
            (
                http(404, false, None),
                ErrorClass::EndpointNotFound,
                "http_not_found",
            ),
            (
                http(404, true, None),
                ErrorClass::SessionExpired,
                "session_expired",
            ),
            (
                http(503, false, None),
                ErrorClass::HttpTransient,
                "http_server_error",
            ),
            (
                http(504, false, Some("text/html")),
                ErrorClass::HttpTransient,
                "http_server_error",
            ),
            (
                http(406, false, None),
                ErrorClass::Protocol,
                "http_not_acceptable",
            ),
            (
                Error::Timeout {
                    method: "tools/list".into(),
                    timer: Timer::Request,
                    after: Duration::from_secs(60),
                },
                ErrorClass::RequestTimeout,
                "tools_list_timeout",
            ),
            (
                Error::Timeout {
                    method: "initialize".into(),
                    timer: Timer::Connect,
                    after: Duration::from_secs(30),
                },
                ErrorClass::HandshakeTimeout,
                "initialize_timeout",
            ),
            (
                Error::Network {
                    kind: NetworkKind::Refused,
                    origin: "o".into(),
                    detail: String::new(),
                },
                ErrorClass::Network,
                "connection_refused",
            ),
            (
                Error::Peer(ErrorObject::new(-32001, "Request timed out")),
                ErrorClass::PeerError,
                "tool_call_error",
            ),
        ];
        for (err, class, code) in cases {
            assert_eq!(err.class(), class, "{err}");
            assert_eq!(err.code(), code, "{err}");
        }
    }

    #[test]
    fn connection_lost_keeps_its_cause_as_source() {
        let e = Error::ConnectionLost {
            method: "tools/call".into(),
            outcome_unknown: true,
            cause: Box::new(Error::Closed),
        };
        assert_eq!(
            std::error::Error::source(&e)
                .map(|s| s.to_string())
                .as_deref(),
            Some("session closed")
        );
    }

    #[test]
    fn messages_read_well() {
        let e = Error::Http(Box::new(HttpFailure {
            status: 404,
            origin: "https://mcp.example.com".into(),
            ..Default::default()
        }));
        assert_eq!(
            e.to_string(),
            "HTTP 404: MCP endpoint not found at https://mcp.example.com"
        );
        let e = Error::ProcessExited {
            exit: Some(ExitInfo {
                code: Some(1),
                signal: None,
            }),
            during_init: true,
            uptime: Duration::from_millis(120),
            stderr_tail: vec![],
        };
        assert_eq!(
            e.to_string(),
            "server exited during initialize (code 1) after 120ms"
        );
        let e = Error::ProcessExited {
            exit: Some(ExitInfo {
                code: None,
                signal: Some(9),
            }),
            during_init: false,
            uptime: Duration::from_secs(3),
            stderr_tail: vec![],
        };
        assert_eq!(
            e.to_string(),
            "server exited unexpectedly (signal SIGKILL) after 3s"
        );
        assert_eq!(fmt_duration(Duration::from_secs(300)), "5min");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
    }
}
