//! The probe ladder: config → spawn (stdio) or DNS → TCP → HTTP (URLs) → initialize →
//! initialized → tools/list (every page) → ping → the optional tools/call, each rung timed and
//! bounded by the phase budget. The ladder stops at the first rung that fails: what comes after
//! it cannot be observed, and the failing rung is the answer.

use std::time::Duration;

use serde_json::{Value, json};
use tether_config::ServerConfig;
use tether_proto::jsonrpc;
use tether_proto::mcp::method;
use tokio::time::Instant;

use super::finding::{Finding, Rung, Severity, code, from_error};
use super::lint::{self, ResultLimits};
use super::report::{Phase, Report};
use super::{config, matrix, net};
use crate::error::{Error, Timer, fmt_duration};
use crate::session::{
    EventTap, HandshakeTimings, MAX_PAGES, RequestOptions, Session, SessionOptions,
};
use crate::spec::ServerSpec;
use crate::transport::Target;
use crate::transport::stdio::STDERR_TAIL_LINES;

/// Claude Code's budget for connecting, initializing and listing tools (`MCP_TIMEOUT`).
pub const HOST_CONNECT_BUDGET: Duration = Duration::from_secs(30);

/// A tool to call at the end of the ladder.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// The tool's name.
    pub name: String,
    /// Its arguments (`{}` when `None`).
    pub arguments: Option<Value>,
}

/// When a phase counts as slow, and how big a result may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// A connect-time phase (spawn, DNS, TCP, HTTP, initialize, tools/list) or a ping slower
    /// than this is reported (default 10 s: a third of Claude Code's 30 s connect budget, which
    /// a slower machine or a cold cache can use up).
    pub slow_phase: Duration,
    /// A tool call slower than this is reported (default 30 s: half of the 60 s Claude Code
    /// waits for the first byte of an HTTP answer).
    pub slow_call: Duration,
    /// Tool result size limits.
    pub result: ResultLimits,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            slow_phase: Duration::from_secs(10),
            slow_call: Duration::from_secs(30),
            result: ResultLimits::default(),
        }
    }
}

/// How to run the doctor.
#[derive(Clone, Debug, Default)]
pub struct DoctorOptions {
    /// The budget of each phase (default: the server's connect timeout; for the tool call, its
    /// request timeout).
    pub timeout: Option<Duration>,
    /// Call this tool at the end.
    pub call: Option<ToolCall>,
    /// Slow-phase and result-size thresholds.
    pub thresholds: Thresholds,
    /// Sees the events of every session the doctor opens (server stderr, noise, notifications).
    pub tap: Option<EventTap>,
}

/// Diagnoses one server. `config` is its loaded entry when it came from a config file (its
/// problems carry finding codes). Every string in the report has passed `spec.redact`.
pub async fn diagnose(
    spec: &ServerSpec,
    config: Option<&ServerConfig>,
    opts: &DoctorOptions,
) -> Report {
    let started = Instant::now();
    let target = spec
        .target_labels
        .first()
        .cloned()
        .unwrap_or_else(|| spec.target_display.clone());
    let mut report = Report::new(spec.name.clone(), spec.transport, target);
    run(spec, config, opts, &mut report).await;
    report.elapsed_ms = started.elapsed();
    slow_phases(&mut report, &opts.thresholds);
    report.conclude();
    report.redact(&*spec.redact);
    report
}

async fn run(
    spec: &ServerSpec,
    config: Option<&ServerConfig>,
    opts: &DoctorOptions,
    report: &mut Report,
) {
    let facts = config::check(spec, config);
    report.phases.push(facts.phase);
    report.findings.extend(facts.findings);
    if !facts.proceed {
        return;
    }
    let Some(target) = spec.targets.first().cloned() else {
        return;
    };
    let budget = opts.timeout.unwrap_or(spec.timeouts.connect);
    primary(spec, &target, budget, opts, report).await;
    fallbacks(spec, budget, opts.tap.as_ref(), report).await;
}

/// The whole ladder on the primary target.
async fn primary(
    spec: &ServerSpec,
    target: &Target,
    budget: Duration,
    opts: &DoctorOptions,
    report: &mut Report,
) {
    if let Target::Http(params) | Target::Sse(params) = target {
        let net = net::check(&params.url, budget).await;
        report.phases.extend(net.phases);
        if let Some(f) = net.failure {
            report.findings.push(f);
            return;
        }
        let sse = matches!(target, Target::Sse(_));
        let http = matrix::probe(params, sse, budget, net.proxy).await;
        report.phases.extend(http.phase);
        report.findings.extend(http.findings);
        report.matrix = http.matrix;
        if !http.proceed {
            return;
        }
    }
    let Some(session) = connect(spec, target, budget, opts.tap.as_ref(), report).await else {
        return;
    };
    ladder(spec, &session, budget, opts, report).await;
    stats_findings(&session, target, report);
    if matches!(target, Target::Stdio(_)) {
        report.stderr_tail = session.stderr_tail(STDERR_TAIL_LINES);
    }
    session.shutdown().await;
}

/// One handshake per `tether.fallback_urls` entry, all at once. A fallback that does not answer
/// fails the moment the primary does, so it is reported as a warning even while the primary
/// works; one that answers is a passing `fallback` phase.
async fn fallbacks(
    spec: &ServerSpec,
    budget: Duration,
    tap: Option<&EventTap>,
    report: &mut Report,
) {
    let checks =
        spec.targets
            .iter()
            .zip(&spec.target_labels)
            .skip(1)
            .map(|(target, label)| async move {
                let start = Instant::now();
                let outcome = Session::connect(target, session_options(spec, budget, tap)).await;
                (label, start.elapsed(), outcome)
            });
    for (label, took, outcome) in futures_util::future::join_all(checks).await {
        match outcome {
            Ok(session) => {
                let version = session
                    .info()
                    .map(|i| format!(" (protocol {})", i.protocol_version))
                    .unwrap_or_default();
                report.phases.push(Phase::new(
                    "fallback",
                    true,
                    took,
                    format!("{label} answers initialize{version}"),
                ));
                session.shutdown().await;
            }
            Err(e) => {
                let mut finding = from_error(Rung::Connect, &e);
                finding.severity = Severity::Warning;
                finding.message = format!("fallback {label}: {}", finding.message);
                finding.hint = Some(match finding.hint {
                    Some(h) => {
                        format!("{h} (Tether fails over to this URL when the primary fails)")
                    }
                    None => "fix or remove it in `tether.fallback_urls`: Tether fails over to it \
                             when the primary fails"
                        .to_owned(),
                });
                report.findings.push(finding);
            }
        }
    }
}

/// The doctor's sessions: the phase budget to connect, the server's own shutdown grace.
fn session_options(spec: &ServerSpec, budget: Duration, tap: Option<&EventTap>) -> SessionOptions {
    let mut opts = SessionOptions::new(spec.name.clone());
    opts.connect_timeout = budget;
    opts.shutdown_grace = spec.timeouts.shutdown_grace;
    opts.tap = tap.cloned();
    opts
}

/// Spawn / open, initialize, initialized.
async fn connect(
    spec: &ServerSpec,
    target: &Target,
    budget: Duration,
    tap: Option<&EventTap>,
    report: &mut Report,
) -> Option<Session> {
    let opts = session_options(spec, budget, tap);
    let mut t = HandshakeTimings::default();
    let start = Instant::now();
    let outcome = Session::connect_timed(target, opts, start + budget, &mut t).await;
    let total = start.elapsed();
    let open_name = match target {
        Target::Stdio(_) => Some("spawn"),
        Target::Sse(_) => Some("sse stream"),
        Target::Http(_) => None,
    };
    let session = match outcome {
        Ok(s) => s,
        Err(e) => {
            let done = t.open.unwrap_or_default() + t.initialize.unwrap_or_default();
            let failed_at = match (t.open, t.initialize) {
                (None, _) => open_name.unwrap_or("initialize"),
                (Some(_), None) => "initialize",
                (Some(_), Some(_)) => "initialized",
            };
            if let (Some(name), Some(open)) = (open_name, t.open) {
                report.phases.push(Phase::new(name, true, open, ""));
            }
            if let Some(init) = t.initialize {
                report.phases.push(Phase::new("initialize", true, init, ""));
            }
            report.phases.push(Phase::new(
                failed_at,
                false,
                total.saturating_sub(done),
                e.to_string(),
            ));
            report.findings.push(from_error(Rung::Connect, &e));
            report.stderr_tail = e.stderr_tail().to_vec();
            return None;
        }
    };
    if let (Some(name), Some(open)) = (open_name, t.open) {
        let detail = match session.pid() {
            Some(pid) => format!("pid {pid}"),
            None => "`endpoint` event received".to_owned(),
        };
        report.phases.push(Phase::new(name, true, open, detail));
    }
    let info = session.info();
    let detail = info.map_or_else(String::new, |i| {
        let caps = i.capabilities.names();
        let mut parts = vec![
            format!("protocol {}", i.protocol_version),
            format!("{} {}", i.server_info.name, i.server_info.version)
                .trim()
                .to_owned(),
            if caps.is_empty() {
                "no capabilities".to_owned()
            } else {
                format!("capabilities: {}", caps.join(", "))
            },
        ];
        if let Some(text) = &i.instructions {
            parts.push(format!("instructions {} B", text.len()));
        }
        parts.retain(|p| !p.is_empty());
        parts.join(" · ")
    });
    report.phases.push(Phase::new(
        "initialize",
        true,
        t.initialize.unwrap_or_default(),
        detail,
    ));
    report.phases.push(Phase::new(
        "initialized",
        true,
        t.initialized.unwrap_or_default(),
        "notifications/initialized delivered",
    ));
    if let Some(i) = info {
        report.protocol_version = Some(i.protocol_version.clone());
        report.server_info = Some(i.server_info.clone());
        report
            .findings
            .extend(lint::instructions(i.instructions.as_deref()));
    }
    Some(session)
}

/// tools/list, ping, tools/call; stops at the first failure.
async fn ladder(
    spec: &ServerSpec,
    session: &Session,
    budget: Duration,
    opts: &DoctorOptions,
    report: &mut Report,
) {
    let advertises_tools = session
        .info()
        .is_some_and(|i| i.capabilities.tools.is_some());
    let mut names = Vec::new();
    if advertises_tools {
        let start = Instant::now();
        match list_tools(session, budget).await {
            Ok(listed) => {
                let took = start.elapsed();
                let n = listed.tools.len();
                let pages = listed.pages;
                report.phases.push(Phase::new(
                    method::TOOLS_LIST,
                    true,
                    took,
                    format!(
                        "{n} tool{} in {pages} page{}",
                        if n == 1 { "" } else { "s" },
                        if pages == 1 { "" } else { "s" }
                    ),
                ));
                report.tools = Some(n);
                report.findings.extend(listed.warnings);
                report.findings.extend(lint::tools(&listed.tools));
                if n == 0 {
                    report.findings.push(Finding::new(
                        code::NO_TOOLS,
                        Severity::Warning,
                        "connected, but the server lists no tools (it advertises the tools \
                         capability)",
                        "a missing environment variable or API key is the usual cause: look \
                         at the server's stderr and its documentation",
                    ));
                }
                names = listed
                    .tools
                    .iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect();
            }
            Err(e) => {
                fail(
                    report,
                    session,
                    method::TOOLS_LIST,
                    start,
                    Rung::ToolsList,
                    &e,
                );
                return;
            }
        }
    } else {
        report.phases.push(Phase::new(
            method::TOOLS_LIST,
            true,
            Duration::ZERO,
            "skipped: the server advertises no tools capability",
        ));
        report.tools = Some(0);
        report.findings.push(Finding::new(
            code::NO_TOOLS,
            Severity::Info,
            "the server advertises no tools capability (prompts or resources only?)",
            "if it should have tools, a missing environment variable or API key is the usual \
             cause",
        ));
    }

    let ping_budget = budget.min(spec.timeouts.ping);
    let start = Instant::now();
    match session.ping(ping_budget).await {
        Ok(()) => report
            .phases
            .push(Phase::new(method::PING, true, start.elapsed(), "answered")),
        Err(Error::Peer(e)) => {
            // An answer is an answer: the connection is alive, the method is missing.
            report.phases.push(Phase::new(
                method::PING,
                true,
                start.elapsed(),
                format!("answered with error {}: {}", e.code, e.message),
            ));
            report.findings.push(Finding::new(
                code::PING_FAILED,
                Severity::Warning,
                format!(
                    "the server answers `ping` with error {}: {}",
                    e.code, e.message
                ),
                "answer `ping` with an empty result (MCP requires it); clients and gateways \
                 use it to tell a live connection from a dead one",
            ));
        }
        Err(e) => {
            fail(report, session, method::PING, start, Rung::Ping, &e);
            return;
        }
    }

    let Some(call) = &opts.call else { return };
    let call_budget = opts.timeout.unwrap_or(spec.timeouts.request);
    let start = Instant::now();
    let outcome = session
        .call_tool(
            &call.name,
            call.arguments.clone(),
            RequestOptions::timeout(call_budget),
        )
        .await;
    match outcome {
        Ok(raw) => {
            let bytes = raw.get().len();
            let tokens = lint::estimate_tokens(bytes);
            report.phases.push(Phase::new(
                method::TOOLS_CALL,
                true,
                start.elapsed(),
                format!(
                    "`{}`: result {bytes} B ≈ {tokens} token{} (estimated as bytes/4)",
                    call.name,
                    if tokens == 1 { "" } else { "s" }
                ),
            ));
            let value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            report.findings.extend(lint::call_result(
                &call.name,
                &value,
                bytes,
                opts.thresholds.result,
            ));
        }
        Err(e) => {
            fail(report, session, method::TOOLS_CALL, start, Rung::Call, &e);
            if !names.is_empty()
                && !names.contains(&call.name)
                && let Some(f) = report.findings.last_mut()
            {
                f.hint = Some(format!(
                    "the server has no tool `{}`; its tools: {}",
                    call.name,
                    names.join(", ")
                ));
            }
        }
    }
}

/// Records a failed rung: the phase, its finding, and whether the process still runs.
fn fail(
    report: &mut Report,
    session: &Session,
    name: &'static str,
    start: Instant,
    rung: Rung,
    e: &Error,
) {
    let mut finding = from_error(rung, e);
    if matches!(e, Error::Timeout { .. }) && session.pid().is_some() {
        finding
            .message
            .push_str(if session.closed_reason().is_none() {
                "; process still running"
            } else {
                "; process no longer running"
            });
    }
    report
        .phases
        .push(Phase::new(name, false, start.elapsed(), e.to_string()));
    report.findings.push(finding);
}

/// A raw tool list, every page.
struct RawList {
    tools: Vec<Value>,
    pages: usize,
    warnings: Vec<Finding>,
}

/// Walks `tools/list` page by page on the raw results, so malformed tools are seen (the
/// session's tolerant decoding would drop them).
async fn list_tools(session: &Session, budget: Duration) -> Result<RawList, Error> {
    let deadline = Instant::now() + budget;
    let mut listed = RawList {
        tools: Vec::new(),
        pages: 0,
        warnings: Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    let mut pages_seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let (params, timer) = match &cursor {
            Some(c) => (
                json!({ "cursor": c }),
                RequestOptions::until(deadline, Timer::Request),
            ),
            // The first page gets the whole budget, so a timeout names the budget as given.
            None => (json!({}), RequestOptions::timeout(budget)),
        };
        let raw = session
            .request(method::TOOLS_LIST, Some(jsonrpc::to_raw(&params)), timer)
            .await?;
        let page: Value = serde_json::from_str(raw.get())
            .map_err(|e| Error::Protocol(format!("tools/list result is not JSON ({e})")))?;
        let Some(tools) = page.get("tools").and_then(Value::as_array) else {
            return Err(Error::Protocol(format!(
                "tools/list result has no `tools` array: {}",
                tether_proto::ndjson::preview(raw.get().as_bytes())
            )));
        };
        listed.pages += 1;
        // A page identical to an earlier one (a server stuck on one cursor) is not new tools.
        if pages_seen.insert(raw.get().to_owned()) {
            listed.tools.extend(tools.iter().cloned());
        }
        let next = page
            .get("nextCursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty());
        let Some(next) = next else {
            return Ok(listed);
        };
        if !seen.insert(next.to_owned()) {
            listed.warnings.push(Finding::new(
                code::NONCONFORMANT_MESSAGE,
                Severity::Warning,
                format!(
                    "tools/list repeated the cursor {next:?} after {} pages; the doctor stopped \
                     paging",
                    listed.pages
                ),
                "return a new cursor for each page and none on the last one: clients that \
                 follow cursors loop until their own limit",
            ));
            return Ok(listed);
        }
        if listed.pages >= MAX_PAGES {
            listed.warnings.push(Finding::new(
                code::NONCONFORMANT_MESSAGE,
                Severity::Warning,
                format!("tools/list still had more pages after {MAX_PAGES}; the doctor stopped"),
                "clients cap pagination too (Tether at 64 pages): use bigger pages",
            ));
            return Ok(listed);
        }
        cursor = Some(next.to_owned());
    }
}

/// Stdout noise, missing `"jsonrpc"`, expired sessions.
fn stats_findings(session: &Session, target: &Target, report: &mut Report) {
    let stats = session.stats();
    if stats.noise > 0 {
        let first = stats.first_noise.clone().unwrap_or_default();
        let after = stats.noise - stats.noise_before_init.min(stats.noise);
        let (finding_code, what, hint) = match target {
            Target::Stdio(_) => (
                code::STDOUT_NOT_JSON,
                "non-JSON lines to stdout",
                "stdout is the protocol channel: send logs and banners to stderr. Tether and \
                 Claude Code skip these lines; Claude Desktop and other clients disconnect or \
                 fail to parse",
            ),
            _ => (
                code::NONCONFORMANT_MESSAGE,
                "SSE events that are not JSON-RPC",
                "every `message` event must carry one JSON-RPC message",
            ),
        };
        report.findings.push(Finding::new(
            finding_code,
            Severity::Warning,
            format!(
                "the server wrote {} {what} ({} before initialize, {after} after); first: {first:?}",
                stats.noise, stats.noise_before_init
            ),
            hint,
        ));
    }
    if stats.missing_jsonrpc > 0 {
        report.findings.push(Finding::new(
            code::NONCONFORMANT_MESSAGE,
            Severity::Warning,
            format!(
                "{} message(s) lacked `\"jsonrpc\": \"2.0\"`; Tether repaired them",
                stats.missing_jsonrpc
            ),
            "send `\"jsonrpc\": \"2.0\"` in every message: strict clients (the TypeScript and \
             Python SDKs) drop such messages and then time out",
        ));
    }
    if stats.session_renewals > 0 {
        report.findings.push(Finding::new(
            code::SESSION_EXPIRED,
            Severity::Warning,
            format!(
                "the server forgot the session during the check (HTTP 404, {} time(s)); Tether \
                 re-initialized",
                stats.session_renewals
            ),
            "sessions should outlive a few requests: check the server's session store \
             (restarts, replicas without sticky sessions, short idle expiry). Clients that do \
             not re-initialize on 404 stay broken until restarted",
        ));
    }
}

/// Phases slower than the thresholds, compared with real hosts' timers.
fn slow_phases(report: &mut Report, t: &Thresholds) {
    let mut startup = Duration::ZERO;
    let mut found = Vec::new();
    for p in report.phases.iter().filter(|p| p.ok) {
        let is_call = p.name == method::TOOLS_CALL;
        if !is_call && p.name != method::PING && p.name != "config" {
            startup += p.ms;
        }
        let limit = if is_call { t.slow_call } else { t.slow_phase };
        if p.ms <= limit || p.ms.is_zero() {
            continue;
        }
        let (why, hint) = match p.name {
            method::TOOLS_CALL => (
                "Claude Code waits 60s for the first byte of an HTTP answer (longer only with \
                 `MCP_TOOL_TIMEOUT`), other clients less",
                "send progress notifications while working, or return sooner and let the \
                 model poll",
            ),
            method::PING => (
                "clients and gateways treat a slow ping as a dead connection",
                "answer ping at once, outside any queue of slow work",
            ),
            _ => (
                "Claude Code gives connecting, initializing and listing tools 30s together \
                 (`MCP_TIMEOUT`), Cline 30s: a slower machine or a cold start crosses it",
                "defer slow startup work (installs, downloads, database connections) until a \
                 tool needs it; users can raise `MCP_TIMEOUT`",
            ),
        };
        found.push(Finding::new(
            code::SLOW_PHASE,
            Severity::Warning,
            format!("`{}` took {}; {why}", p.name, fmt_duration(p.ms)),
            hint,
        ));
    }
    if startup > HOST_CONNECT_BUDGET {
        found.push(Finding::new(
            code::SLOW_PHASE,
            Severity::Error,
            format!(
                "connecting, initializing and listing tools took {} in all; Claude Code gives \
                 up after {}",
                fmt_duration(startup),
                fmt_duration(HOST_CONNECT_BUDGET)
            ),
            "defer slow startup work until a tool needs it; users can raise `MCP_TIMEOUT`",
        ));
    }
    report.findings.extend(found);
}
