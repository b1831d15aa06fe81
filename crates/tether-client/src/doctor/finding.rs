//! What the doctor concludes: findings with a stable code (CONTRACT §6), a severity, a message
//! and a concrete hint, and the layer each code belongs to.
//!
//! Codes are part of Tether's public vocabulary: new ones may be added, none is ever renamed.
//! Client errors already carry their code ([`Error::code`]); this module only refines it where
//! the phase says more than the error does (a JSON-RPC error to `ping` is not a tool-call error).

use serde::Serialize;

use crate::error::{Error, NetworkKind, fmt_duration};

/// The finding codes. The first groups are CONTRACT §6; the rest were added by the doctor.
pub mod code {
    // config
    /// The entry cannot be used as written.
    pub const CONFIG_INVALID: &str = "config_invalid";
    /// `${VAR}` names an unset variable.
    pub const ENV_VAR_MISSING: &str = "env_var_missing";
    /// Leading or trailing whitespace in a value (from the config loader).
    pub const CONFIG_WHITESPACE: &str = "config_whitespace";
    /// A value or key is ignored (from the config loader, and timer settings).
    pub const CONFIG_IGNORED_VALUE: &str = "config_ignored_value";
    /// A server name outside `[A-Za-z0-9_-]` (from the config loader).
    pub const CONFIG_NAME: &str = "config_name";
    /// A VS Code-only `${input:…}` reference (from the config loader).
    pub const CONFIG_UNSUPPORTED_VARIABLE: &str = "config_unsupported_variable";
    /// A relative command, argument or `cwd`: it resolves against the client's directory.
    pub const RELATIVE_PATH: &str = "relative_path";
    // process
    /// The command could not be started.
    pub const SPAWN_FAILED: &str = "spawn_failed";
    /// The process exited (or closed its stdout).
    pub const PROCESS_EXITED: &str = "process_exited";
    /// Lines on stdout that are not JSON-RPC.
    pub const STDOUT_NOT_JSON: &str = "stdout_not_json";
    // network
    /// TCP connection refused or reset.
    pub const CONNECTION_REFUSED: &str = "connection_refused";
    /// The host name does not resolve.
    pub const DNS_FAILED: &str = "dns_failed";
    /// TLS handshake or certificate failure.
    pub const TLS_FAILED: &str = "tls_failed";
    /// TCP connect did not finish in time.
    pub const CONNECT_TIMEOUT: &str = "connect_timeout";
    // http
    /// 401.
    pub const HTTP_UNAUTHORIZED: &str = "http_unauthorized";
    /// 403.
    pub const HTTP_FORBIDDEN: &str = "http_forbidden";
    /// 404 without a session.
    pub const HTTP_NOT_FOUND: &str = "http_not_found";
    /// A redirect: not followed (301/302/303), or followed at the cost of a round trip.
    pub const HTTP_REDIRECT: &str = "http_redirect";
    /// 5xx, 429 and other unexpected statuses.
    pub const HTTP_SERVER_ERROR: &str = "http_server_error";
    /// A body that is neither JSON nor SSE (an HTML login page, a proxy's error page).
    pub const HTTP_UNEXPECTED_CONTENT_TYPE: &str = "http_unexpected_content_type";
    /// 406 / 415.
    pub const HTTP_NOT_ACCEPTABLE: &str = "http_not_acceptable";
    /// A legacy HTTP+SSE server configured as `http`.
    pub const LEGACY_SSE_ONLY: &str = "legacy_sse_only";
    /// The session expired (404 with `Mcp-Session-Id`).
    pub const SESSION_EXPIRED: &str = "session_expired";
    /// A Streamable HTTP server configured as `sse` (the inverse of `legacy_sse_only`).
    pub const STREAMABLE_HTTP_ONLY: &str = "streamable_http_only";
    /// An unknown `Mcp-Session-Id` is not answered with 404 (clients then never re-initialize).
    pub const UNKNOWN_SESSION_STATUS: &str = "unknown_session_status";
    /// A foreign `Origin` header is accepted (DNS-rebinding protection missing).
    pub const ORIGIN_NOT_VALIDATED: &str = "origin_not_validated";
    // protocol
    /// No answer to `initialize` in time.
    pub const INITIALIZE_TIMEOUT: &str = "initialize_timeout";
    /// `initialize` answered with an error or an invalid result.
    pub const INITIALIZE_ERROR: &str = "initialize_error";
    /// The server chose a revision Tether does not speak.
    pub const PROTOCOL_VERSION_UNSUPPORTED: &str = "protocol_version_unsupported";
    /// Messages that break JSON-RPC or MCP rules but were tolerated.
    pub const NONCONFORMANT_MESSAGE: &str = "nonconformant_message";
    /// `tools/list` did not answer in time.
    pub const TOOLS_LIST_TIMEOUT: &str = "tools_list_timeout";
    /// `tools/list` failed.
    pub const TOOLS_LIST_ERROR: &str = "tools_list_error";
    /// `ping` failed or timed out.
    pub const PING_FAILED: &str = "ping_failed";
    // server
    /// No tools.
    pub const NO_TOOLS: &str = "no_tools";
    /// A tool's `inputSchema` / `outputSchema` that clients reject.
    pub const INVALID_TOOL_SCHEMA: &str = "invalid_tool_schema";
    /// A tool name that clients or model APIs reject.
    pub const INVALID_TOOL_NAME: &str = "invalid_tool_name";
    /// Two tools with one name.
    pub const DUPLICATE_TOOL_NAME: &str = "duplicate_tool_name";
    /// A tool description over the 2 KB hosts keep.
    pub const LONG_TOOL_DESCRIPTION: &str = "long_tool_description";
    /// Server instructions over the 2 KB hosts keep.
    pub const LONG_INSTRUCTIONS: &str = "long_instructions";
    /// A phase that took long compared with real hosts' timeouts.
    pub const SLOW_PHASE: &str = "slow_phase";
    // call
    /// `tools/call` did not answer in time.
    pub const TOOL_CALL_TIMEOUT: &str = "tool_call_timeout";
    /// `tools/call` failed (JSON-RPC error, or `isError: true`).
    pub const TOOL_CALL_ERROR: &str = "tool_call_error";
    /// A result near or over the token limit hosts enforce.
    pub const LARGE_TOOL_RESULT: &str = "large_tool_result";
    /// A result without `content`, or with a content type clients do not know.
    pub const INVALID_TOOL_RESULT: &str = "invalid_tool_result";
}

/// How bad a finding is. `error`: some real client fails; `warning`: some client misbehaves or
/// the server breaks a rule; `info`: worth knowing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Some real client fails.
    Error,
    /// Some client misbehaves, or the server breaks a rule.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Where a failure sits, from the user's configuration to the server's own behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// Nothing failed.
    None,
    /// The configuration entry.
    Config,
    /// The local process (spawn, exit, stdout).
    Process,
    /// DNS, TCP, TLS.
    Network,
    /// HTTP statuses, content types, transports, sessions, intermediaries.
    Http,
    /// JSON-RPC and the MCP handshake.
    Protocol,
    /// The server's tools and their results.
    Server,
}

impl Layer {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::None => "none",
            Layer::Config => "config",
            Layer::Process => "process",
            Layer::Network => "network",
            Layer::Http => "http",
            Layer::Protocol => "protocol",
            Layer::Server => "server",
        }
    }

    /// The layer a finding code belongs to (unknown codes: `server`).
    pub fn of(code: &str) -> Layer {
        use code::*;
        match code {
            CONFIG_INVALID
            | ENV_VAR_MISSING
            | CONFIG_WHITESPACE
            | CONFIG_IGNORED_VALUE
            | CONFIG_NAME
            | CONFIG_UNSUPPORTED_VARIABLE
            | RELATIVE_PATH => Layer::Config,
            SPAWN_FAILED | PROCESS_EXITED | STDOUT_NOT_JSON => Layer::Process,
            CONNECTION_REFUSED | DNS_FAILED | TLS_FAILED | CONNECT_TIMEOUT => Layer::Network,
            HTTP_UNAUTHORIZED
            | HTTP_FORBIDDEN
            | HTTP_NOT_FOUND
            | HTTP_SERVER_ERROR
            | HTTP_REDIRECT
            | HTTP_UNEXPECTED_CONTENT_TYPE
            | HTTP_NOT_ACCEPTABLE
            | LEGACY_SSE_ONLY
            | SESSION_EXPIRED
            | STREAMABLE_HTTP_ONLY
            | UNKNOWN_SESSION_STATUS
            | ORIGIN_NOT_VALIDATED => Layer::Http,
            INITIALIZE_TIMEOUT
            | INITIALIZE_ERROR
            | PROTOCOL_VERSION_UNSUPPORTED
            | NONCONFORMANT_MESSAGE
            | TOOLS_LIST_TIMEOUT
            | TOOLS_LIST_ERROR
            | PING_FAILED => Layer::Protocol,
            _ => Layer::Server,
        }
    }
}

/// One conclusion, with the evidence in its message and the next step in its hint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable code from [`code`].
    pub code: &'static str,
    /// How bad.
    pub severity: Severity,
    /// What was seen (redacted before the report is returned).
    pub message: String,
    /// A concrete next step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Finding {
    /// A finding with a hint.
    pub fn new(
        code: &'static str,
        severity: Severity,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Finding {
            code,
            severity,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// The layer of its code.
    pub fn layer(&self) -> Layer {
        Layer::of(self.code)
    }
}

/// The ladder's rungs that talk to the server, for mapping errors to codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rung {
    /// Spawn, TCP, HTTP probes and the handshake.
    Connect,
    /// `tools/list`.
    ToolsList,
    /// `ping`.
    Ping,
    /// `tools/call`.
    Call,
}

/// The finding that explains a client error at a given rung (always severity `error`).
pub(crate) fn from_error(rung: Rung, e: &Error) -> Finding {
    let code = code_for(rung, e);
    let mut message = match e {
        Error::HandshakeTimeout {
            after,
            process_running,
            stdout_noise,
            ..
        } => {
            let mut m = format!(
                "no response to initialize within {} (connect timer)",
                fmt_duration(*after)
            );
            match process_running {
                Some(true) => m.push_str("; process still running"),
                Some(false) => m.push_str("; process not running"),
                None => {}
            }
            if *stdout_noise > 0 {
                m.push_str(&format!("; {stdout_noise} non-JSON lines on stdout"));
            }
            m
        }
        other => other.to_string(),
    };
    if let Some(cause) = lost_cause(e) {
        message = format!("{message}: {cause}");
    }
    if let Some(http) = e.http() {
        if http.is_html() && !message.contains("HTML page") {
            message.push_str(
                " (an HTML page: a proxy, a login wall or a web frontend answered, not the MCP \
                 server)",
            );
        }
        if let Some(body) = http.body_preview.as_deref().filter(|b| !b.is_empty())
            && !message.contains(body.lines().next().unwrap_or(body))
        {
            message.push_str(&format!("; body: {}", one_line(body)));
        }
        if let Some(id) = &http.request_id {
            message.push_str(&format!("; request id {id}"));
        }
    }
    let hint = hint_for(rung, code, e);
    Finding {
        code,
        severity: Severity::Error,
        message,
        hint: Some(hint),
    }
}

/// The cause of a lost connection, spelled out (`server exited unexpectedly (code 3)`).
fn lost_cause(e: &Error) -> Option<String> {
    match e {
        Error::ConnectionLost { cause, .. } => Some(cause.to_string()),
        _ => None,
    }
}

fn code_for(rung: Rung, e: &Error) -> &'static str {
    let inner = match e {
        Error::ConnectionLost { cause, .. } => cause.as_ref(),
        other => other,
    };
    match (rung, inner) {
        (_, Error::ProcessExited { .. } | Error::Closed) => code::PROCESS_EXITED,
        (_, Error::Network { kind, .. }) => match kind {
            NetworkKind::Timeout => code::CONNECT_TIMEOUT,
            NetworkKind::DnsTemporary => code::DNS_FAILED,
            NetworkKind::Refused | NetworkKind::Reset | NetworkKind::Other => {
                code::CONNECTION_REFUSED
            }
        },
        (Rung::Connect, Error::Peer(_) | Error::Protocol(_)) => code::INITIALIZE_ERROR,
        (Rung::ToolsList, Error::Peer(_) | Error::Protocol(_)) => code::TOOLS_LIST_ERROR,
        (Rung::Ping, Error::Peer(_) | Error::Protocol(_) | Error::Timeout { .. }) => {
            code::PING_FAILED
        }
        (Rung::Connect, Error::Timeout { .. }) => code::INITIALIZE_TIMEOUT,
        (Rung::ToolsList, Error::Timeout { .. }) => code::TOOLS_LIST_TIMEOUT,
        (Rung::Call, Error::Timeout { .. }) => code::TOOL_CALL_TIMEOUT,
        (Rung::Call, Error::Peer(_) | Error::Protocol(_)) => code::TOOL_CALL_ERROR,
        (_, other) => other.code(),
    }
}

fn hint_for(rung: Rung, code: &str, e: &Error) -> String {
    let inner = match e {
        Error::ConnectionLost { cause, .. } => cause.as_ref(),
        other => other,
    };
    // Hints that depend on the rung; the error's own hint otherwise.
    let specific = match (rung, code, inner) {
        (_, code::PROCESS_EXITED, _) => Some(
            "run the command by hand, with the same environment, to see why it exits; its last \
             stderr lines are in this report",
        ),
        (Rung::Connect, code::INITIALIZE_ERROR, Error::Peer(_)) => {
            Some("the server rejected the handshake: run it by hand and look at its logs")
        }
        (Rung::Connect, code::INITIALIZE_ERROR, _) => Some(
            "the initialize result must be a JSON object with `protocolVersion`, \
             `capabilities` and `serverInfo`: fix the server or upgrade its MCP SDK",
        ),
        (Rung::ToolsList, code::TOOLS_LIST_TIMEOUT, _) => Some(
            "the server took the request but never answered: look at what it does to list its \
             tools (a slow backend, a lock); `--timeout S` gives it longer",
        ),
        (Rung::ToolsList, _, Error::Peer(_)) => Some(
            "the server failed to list its tools: look at its logs (a missing API key or \
             environment variable is the usual cause)",
        ),
        (Rung::ToolsList, _, _) => {
            Some("the tools/list result must be an object with a `tools` array")
        }
        (Rung::Ping, code::PING_FAILED, Error::Timeout { .. }) => Some(
            "ping needs no work, so the server's message loop is blocked (a long synchronous \
             task, a deadlock) or it stopped reading its input",
        ),
        (Rung::Ping, _, _) => Some(
            "`ping` is required by the MCP specification; clients use it to check that the \
             connection is alive",
        ),
        (Rung::Call, code::TOOL_CALL_TIMEOUT, _) => Some(
            "send progress notifications while the tool works (they keep clients waiting), or \
             return sooner; users raise the limit with `timeout` in the server entry or \
             `MCP_TOOL_TIMEOUT`, the doctor with `--timeout S`",
        ),
        (Rung::Call, _, Error::Peer(_)) => {
            Some("check the tool's name and arguments (`--args`), then the server's logs")
        }
        _ => None,
    };
    if let Some(h) = specific {
        return h.to_owned();
    }
    if let Some(h) = e.hint() {
        return h;
    }
    match code {
        code::CONNECTION_REFUSED => "check that the server is running and that the URL's host \
                                     and port are right; a proxy or firewall may be resetting \
                                     the connection"
            .into(),
        code::SESSION_EXPIRED => "the server forgot the session twice in a row: check its \
                                  session store (restarts, several replicas without sticky \
                                  sessions, idle expiry)"
            .into(),
        _ => "run the server by hand and look at its output".into(),
    }
}

/// A multi-line body on one line, whitespace collapsed.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ExitInfo, HttpFailure, Timer};
    use std::time::Duration;
    use tether_proto::ErrorObject;

    #[test]
    fn phase_decides_the_code_of_peer_errors_and_timeouts() {
        let peer = Error::Peer(ErrorObject::new(-32603, "boom"));
        let timeout = |method: &str, timer| Error::Timeout {
            method: method.into(),
            timer,
            after: Duration::from_secs(1),
        };
        let table = [
            (Rung::Connect, peer.clone(), code::INITIALIZE_ERROR),
            (Rung::ToolsList, peer.clone(), code::TOOLS_LIST_ERROR),
            (Rung::Ping, peer.clone(), code::PING_FAILED),
            (Rung::Call, peer, code::TOOL_CALL_ERROR),
            (
                Rung::Connect,
                timeout("initialize", Timer::Connect),
                code::INITIALIZE_TIMEOUT,
            ),
            (
                Rung::ToolsList,
                timeout("tools/list", Timer::Request),
                code::TOOLS_LIST_TIMEOUT,
            ),
            (Rung::Ping, timeout("ping", Timer::Ping), code::PING_FAILED),
            (
                Rung::Call,
                timeout("tools/call 'x'", Timer::WallClock),
                code::TOOL_CALL_TIMEOUT,
            ),
            (
                Rung::Connect,
                Error::Network {
                    kind: NetworkKind::Timeout,
                    origin: "http://h:1".into(),
                    detail: String::new(),
                },
                code::CONNECT_TIMEOUT,
            ),
            (
                Rung::Call,
                Error::ConnectionLost {
                    method: "tools/call".into(),
                    outcome_unknown: true,
                    cause: Box::new(Error::ProcessExited {
                        exit: Some(ExitInfo {
                            code: Some(3),
                            signal: None,
                        }),
                        during_init: false,
                        uptime: Duration::from_millis(5),
                        stderr_tail: vec![],
                    }),
                },
                code::PROCESS_EXITED,
            ),
            (
                Rung::Connect,
                Error::Http(Box::new(HttpFailure {
                    status: 403,
                    origin: "http://h:1".into(),
                    ..Default::default()
                })),
                code::HTTP_FORBIDDEN,
            ),
        ];
        for (rung, err, want) in table {
            let f = from_error(rung, &err);
            assert_eq!(f.code, want, "{rung:?} {err}");
            assert_eq!(f.severity, Severity::Error);
            assert!(f.hint.is_some(), "{want} has a hint");
        }
    }

    #[test]
    fn every_code_has_a_layer() {
        let table = [
            (code::ENV_VAR_MISSING, Layer::Config),
            (code::RELATIVE_PATH, Layer::Config),
            (code::STDOUT_NOT_JSON, Layer::Process),
            (code::TLS_FAILED, Layer::Network),
            (code::LEGACY_SSE_ONLY, Layer::Http),
            (code::ORIGIN_NOT_VALIDATED, Layer::Http),
            (code::PING_FAILED, Layer::Protocol),
            (code::NO_TOOLS, Layer::Server),
            (code::LARGE_TOOL_RESULT, Layer::Server),
        ];
        for (c, layer) in table {
            assert_eq!(Layer::of(c), layer, "{c}");
        }
    }

    #[test]
    fn http_findings_carry_the_body_preview() {
        let e = Error::Http(Box::new(HttpFailure {
            status: 502,
            origin: "http://h:1".into(),
            content_type: Some("text/html".into()),
            body_preview: Some("<html>\r\n<head><title>502 Bad Gateway</title>".into()),
            ..Default::default()
        }));
        let f = from_error(Rung::Connect, &e);
        assert_eq!(f.code, code::HTTP_SERVER_ERROR);
        assert!(
            f.message
                .contains("body: <html> <head><title>502 Bad Gateway</title>"),
            "{}",
            f.message
        );
    }
}
