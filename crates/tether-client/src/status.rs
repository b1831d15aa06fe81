//! What one server is doing right now: the state machine's states (CONTRACT §2), a snapshot of
//! everything known about the server, and the stable JSON and text renderings of both.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tether_proto::mcp::{Implementation, Prompt, Resource, ResourceTemplate, Tool};

use crate::error::{Error, ErrorClass, fmt_duration};
use crate::timeouts::Timeouts;

/// The state of one server.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Never spawned or contacted.
    Disabled,
    /// Static validation failed.
    Misconfigured {
        /// `field: why`.
        problem: String,
    },
    /// Connecting for the first time (or after a manual reconnect or a probe).
    Connecting {
        /// 1-based attempt.
        attempt: u32,
    },
    /// Handshake done; the tool list is in the snapshot.
    Connected,
    /// Handshake done, but listing tools failed; the last good list is kept.
    ToolsFetchFailed {
        /// Why.
        error: ErrorSummary,
    },
    /// 401/403: needs credentials; never retried in a loop.
    NeedsAuth {
        /// The failure.
        error: ErrorSummary,
    },
    /// Recovering after the connection was lost.
    Reconnecting {
        /// 1-based attempt about to run.
        attempt: u32,
        /// The budget.
        max: u32,
        /// Delay before that attempt, when one is scheduled.
        next_in: Option<Duration>,
    },
    /// Retries exhausted or a failure that retrying cannot fix.
    Failed {
        /// The failure.
        error: ErrorSummary,
    },
    /// Shut down.
    Stopped,
}

impl State {
    /// The stable JSON name.
    pub fn name(&self) -> &'static str {
        match self {
            State::Disabled => "disabled",
            State::Misconfigured { .. } => "misconfigured",
            State::Connecting { .. } | State::Reconnecting { .. } => "pending",
            State::Connected => "connected",
            State::ToolsFetchFailed { .. } => "tools-fetch-failed",
            State::NeedsAuth { .. } => "needs-auth",
            State::Failed { .. } => "failed",
            State::Stopped => "stopped",
        }
    }

    /// True once the server reached a state that waiting will not change by itself soon.
    pub fn is_settled(&self) -> bool {
        !matches!(self, State::Connecting { .. } | State::Reconnecting { .. })
    }

    /// True when requests can be sent.
    pub fn is_usable(&self) -> bool {
        matches!(self, State::Connected | State::ToolsFetchFailed { .. })
    }

    /// The failure behind this state, if any.
    pub fn error(&self) -> Option<&ErrorSummary> {
        match self {
            State::ToolsFetchFailed { error }
            | State::NeedsAuth { error }
            | State::Failed { error } => Some(error),
            _ => None,
        }
    }
}

/// An error reduced to what status output shows (already redacted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorSummary {
    /// The class (CONTRACT §3).
    pub class: ErrorClass,
    /// The finding code (CONTRACT §6).
    pub code: String,
    /// One line, lowercase, redacted.
    pub message: String,
    /// HTTP status, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Exit code, when a process exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Signal number, when a signal ended the process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The server's last stderr lines.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stderr_tail: Vec<String>,
    /// The upstream's request id header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// A next step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ErrorSummary {
    /// Summarises an error, passing every string through `redact`.
    pub fn of(error: &Error, redact: &dyn Fn(&str) -> String) -> Self {
        let http = error.http();
        let exit = error.exit();
        ErrorSummary {
            class: error.class(),
            code: error.code().to_owned(),
            message: redact(&error.to_string()),
            http_status: http.map(|h| h.status),
            exit_code: exit.and_then(|e| e.code),
            signal: exit.and_then(|e| e.signal),
            stderr_tail: error.stderr_tail().iter().map(|l| redact(l)).collect(),
            request_id: http.and_then(|h| h.request_id.clone()),
            hint: error.hint().map(|h| redact(&h)),
        }
    }

    /// A summary of a configuration problem.
    pub fn config(message: impl Into<String>) -> Self {
        ErrorSummary {
            class: ErrorClass::Config,
            code: "config_invalid".into(),
            message: message.into(),
            http_status: None,
            exit_code: None,
            signal: None,
            stderr_tail: Vec::new(),
            request_id: None,
            hint: None,
        }
    }
}

/// Everything known about one server at one moment.
#[derive(Debug, Clone)]
pub struct ServerStatus {
    /// The configured name.
    pub name: String,
    /// Where it was configured, e.g. `project (.mcp.json)`.
    pub source: String,
    /// `stdio`, `http` or `sse`.
    pub transport: &'static str,
    /// The command line or URL as written (redacted, unexpanded).
    pub target: String,
    /// The state.
    pub state: State,
    /// The last good tool list.
    pub tools: Vec<Tool>,
    /// The last good prompt list.
    pub prompts: Vec<Prompt>,
    /// The last good resource list.
    pub resources: Vec<Resource>,
    /// The last good resource template list.
    pub resource_templates: Vec<ResourceTemplate>,
    /// Tools the server sent that were malformed and dropped.
    pub dropped_tools: Vec<String>,
    /// Whether the server advertised the tools capability.
    pub tools_capability: bool,
    /// The negotiated revision.
    pub protocol_version: Option<String>,
    /// `serverInfo`.
    pub server_info: Option<Implementation>,
    /// Advertised capability names.
    pub capabilities: Vec<String>,
    /// Size of `instructions`, in bytes.
    pub instructions_len: usize,
    /// Attempts in the connect cycle that produced this state.
    pub attempts: u32,
    /// Duration of that cycle.
    pub elapsed: Duration,
    /// Which URL serves (HTTP with fallbacks), redacted.
    pub active_url: Option<String>,
    /// Why that URL (e.g. "primary failed: ...").
    pub url_reason: Option<String>,
    /// Times the server was respawned or reconnected after a loss.
    pub restarts: u32,
    /// The last failure, even if the server recovered since.
    pub last_error: Option<ErrorSummary>,
    /// The stdio process id.
    pub pid: Option<u32>,
    /// Non-JSON lines the server wrote to stdout.
    pub stdout_noise: u64,
    /// The timers in effect.
    pub timeouts: Timeouts,
    /// Configuration warnings.
    pub warnings: Vec<String>,
}

impl ServerStatus {
    /// A fresh status for a server that has not been contacted.
    pub fn new(
        name: &str,
        source: &str,
        transport: &'static str,
        target: &str,
        timeouts: Timeouts,
    ) -> Self {
        ServerStatus {
            name: name.to_owned(),
            source: source.to_owned(),
            transport,
            target: target.to_owned(),
            state: State::Connecting { attempt: 0 },
            tools: Vec::new(),
            prompts: Vec::new(),
            resources: Vec::new(),
            resource_templates: Vec::new(),
            dropped_tools: Vec::new(),
            tools_capability: false,
            protocol_version: None,
            server_info: None,
            capabilities: Vec::new(),
            instructions_len: 0,
            attempts: 0,
            elapsed: Duration::ZERO,
            active_url: None,
            url_reason: None,
            restarts: 0,
            last_error: None,
            pid: None,
            stdout_noise: 0,
            timeouts,
            warnings: Vec::new(),
        }
    }

    /// The error to report for this server: the state's, else none.
    pub fn error(&self) -> Option<&ErrorSummary> {
        self.state.error().or(match &self.state {
            State::Reconnecting { .. } => self.last_error.as_ref(),
            _ => None,
        })
    }

    /// The status column of `tether list` (CONTRACT §2).
    pub fn status_text(&self, glyphs: Glyphs) -> String {
        let g = glyphs;
        match &self.state {
            State::Connected if self.tools.is_empty() && self.tools_capability => {
                format!("{} Connected · 0 tools (server advertises tools)", g.warn())
            }
            State::Connected => {
                let n = self.tools.len();
                format!(
                    "{} Connected · {n} tool{}",
                    g.ok(),
                    if n == 1 { "" } else { "s" }
                )
            }
            State::ToolsFetchFailed { error } => {
                format!(
                    "{} Connected · tools fetch failed: {}",
                    g.warn(),
                    error.message
                )
            }
            State::NeedsAuth { error } => format!(
                "{} Needs authentication (HTTP {})",
                g.warn(),
                error.http_status.unwrap_or(401)
            ),
            State::Connecting { .. } => format!("{} Connecting", g.pending()),
            State::Reconnecting {
                attempt,
                max,
                next_in,
            } => match next_in {
                Some(d) => format!(
                    "{} Reconnecting ({attempt}/{max}, next in {})",
                    g.pending(),
                    fmt_duration(Duration::from_secs(d.as_secs().max(1)))
                ),
                None => format!("{} Reconnecting ({attempt}/{max})", g.pending()),
            },
            State::Failed { error } => {
                let mut text = format!(
                    "{} Failed to connect: {} {}",
                    g.fail(),
                    error.class,
                    error.message
                );
                // The last stderr line usually says why a process died; show it at a glance.
                if let Some(last) = error
                    .stderr_tail
                    .iter()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                {
                    text.push_str("; last stderr: ");
                    text.push_str(last.trim());
                }
                text
            }
            State::Misconfigured { problem } => format!("{} Config error: {problem}", g.fail()),
            State::Disabled => format!("{} Disabled", g.disabled()),
            State::Stopped => format!("{} Stopped", g.disabled()),
        }
    }

    /// The `tether list --json` object (CONTRACT §6).
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::json!({
            "name": self.name,
            "source": self.source,
            "transport": self.transport,
            "target": self.target,
            "state": self.state.name(),
            "tools": self.tools.len(),
            "tools_capability": self.tools_capability,
            "protocol_version": self.protocol_version,
            "server_info": self.server_info.as_ref().map(|i| serde_json::json!({"name": i.name, "version": i.version})),
            "attempts": self.attempts,
            "elapsed_ms": self.elapsed.as_millis() as u64,
            "error": self.error(),
        });
        if let (Some(url), Value::Object(map)) = (&self.active_url, &mut v) {
            map.insert("active_url".into(), Value::String(url.clone()));
            if let Some(reason) = &self.url_reason {
                map.insert("url_reason".into(), Value::String(reason.clone()));
            }
        }
        if let (
            State::Reconnecting {
                attempt,
                max,
                next_in,
            },
            Value::Object(map),
        ) = (&self.state, &mut v)
        {
            map.insert(
                "reconnect".into(),
                serde_json::json!({"attempt": attempt, "max": max, "next_in_ms": next_in.map(|d| d.as_millis() as u64)}),
            );
        }
        v
    }
}

/// Status glyphs, with an ASCII fallback for terminals that cannot show the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Glyphs {
    /// ✔ ! … ✘ ⊘
    Unicode,
    /// `[ok] [!] [..] [x] [-]`
    Ascii,
}

impl Glyphs {
    fn ok(self) -> &'static str {
        match self {
            Glyphs::Unicode => "✔",
            Glyphs::Ascii => "[ok]",
        }
    }
    fn warn(self) -> &'static str {
        match self {
            Glyphs::Unicode => "!",
            Glyphs::Ascii => "[!]",
        }
    }
    fn pending(self) -> &'static str {
        match self {
            Glyphs::Unicode => "…",
            Glyphs::Ascii => "[..]",
        }
    }
    fn fail(self) -> &'static str {
        match self {
            Glyphs::Unicode => "✘",
            Glyphs::Ascii => "[x]",
        }
    }
    fn disabled(self) -> &'static str {
        match self {
            Glyphs::Unicode => "⊘",
            Glyphs::Ascii => "[-]",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::HttpFailure;

    fn status(state: State) -> ServerStatus {
        let mut s = ServerStatus::new(
            "db",
            ".mcp.json",
            "stdio",
            "python server.py",
            Timeouts::defaults(true),
        );
        s.state = state;
        s
    }

    fn summary(e: &Error) -> ErrorSummary {
        ErrorSummary::of(e, &|s| s.to_owned())
    }

    #[test]
    fn status_texts_follow_the_contract() {
        let tool = Tool::from_raw(tether_proto::jsonrpc::to_raw(
            &serde_json::json!({"name": "q", "inputSchema": {"type": "object"}}),
        ))
        .unwrap();
        let mut s = status(State::Connected);
        s.tools = vec![tool.clone(), tool.clone(), tool];
        s.tools_capability = true;
        assert_eq!(s.status_text(Glyphs::Unicode), "✔ Connected · 3 tools");
        let mut s = status(State::Connected);
        s.tools_capability = true;
        assert_eq!(
            s.status_text(Glyphs::Unicode),
            "! Connected · 0 tools (server advertises tools)"
        );
        let e = Error::Http(Box::new(HttpFailure {
            status: 401,
            origin: "http://x".into(),
            ..Default::default()
        }));
        assert_eq!(
            status(State::NeedsAuth { error: summary(&e) }).status_text(Glyphs::Unicode),
            "! Needs authentication (HTTP 401)"
        );
        let e = Error::Http(Box::new(HttpFailure {
            status: 404,
            origin: "http://x".into(),
            ..Default::default()
        }));
        assert_eq!(
            status(State::Failed { error: summary(&e) }).status_text(Glyphs::Unicode),
            "✘ Failed to connect: endpoint-not-found HTTP 404: MCP endpoint not found at http://x"
        );
        assert_eq!(
            status(State::Reconnecting {
                attempt: 2,
                max: 5,
                next_in: Some(Duration::from_millis(3900))
            })
            .status_text(Glyphs::Unicode),
            "… Reconnecting (2/5, next in 3s)"
        );
        assert_eq!(
            status(State::Connecting { attempt: 1 }).status_text(Glyphs::Ascii),
            "[..] Connecting"
        );
        assert_eq!(
            status(State::Disabled).status_text(Glyphs::Unicode),
            "⊘ Disabled"
        );
        assert_eq!(
            status(State::Misconfigured {
                problem: "`url`: has a \"url\" but no \"type\"".into()
            })
            .status_text(Glyphs::Unicode),
            "✘ Config error: `url`: has a \"url\" but no \"type\""
        );
    }

    #[test]
    fn json_has_the_contract_fields() {
        let e = Error::Http(Box::new(HttpFailure {
            status: 503,
            origin: "http://x".into(),
            request_id: Some("r-1".into()),
            ..Default::default()
        }));
        let v = status(State::Failed { error: summary(&e) }).to_json();
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
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["state"], "failed");
        assert_eq!(v["error"]["class"], "http-transient");
        assert_eq!(v["error"]["http_status"], 503);
        assert_eq!(v["error"]["request_id"], "r-1");
        assert!(
            v["error"].get("exit_code").is_none(),
            "absent fields are omitted"
        );
    }
}
