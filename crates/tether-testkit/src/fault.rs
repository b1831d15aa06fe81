//! The `--fault` vocabulary: every failure the server can inject, as data.
//!
//! Syntax: `NAME[:ARG[:ARG...]][@N]`. `@N` wraps the fault in [`Fault::Limited`] ("only the first N
//! occurrences"). Parsing never guesses: an unknown name, a missing or extra argument or a bad
//! number is an error that names the offending part. [`Fault`]'s `Display` prints the canonical
//! spec, which parses back to an equal value and keys the occurrence counters.

use std::fmt;
use std::str::FromStr;

use axum::http::{HeaderName, HeaderValue};

/// The help text, as a macro so `concat!` can embed it in the `--fault` long help.
macro_rules! fault_help_text {
    () => {
        "\
exit-at-start[:CODE[:MESSAGE]]  write MESSAGE (default `chaos: exiting at start`) to stderr and exit CODE (default 1) before reading anything
exit-after:MS                   exit with code 1, MS ms after initialize was answered (a crash mid-session)
crash-on-call                   any tools/call exits the process with code 3 before answering
never-initialize                read initialize and never answer it (stay alive)
slow:METHOD:MS                  delay the answer to METHOD (initialize, tools/list, tools/call, ...) by MS ms
hang-after:N                    after N answered requests answer nothing more (ping included), keep reading
stdout-noise:N                  stdio: N non-JSON log lines on stdout at start and N more after answering initialize
stderr-noise:N                  N informational stderr lines at start
ignore-stdin-eof                stdio: keep running after stdin closes
ignore-sigterm                  ignore SIGTERM (a client must escalate to SIGKILL)
spawn-child                     start a grandchild `sleep 3600` at start and print `chaos: child pid <PID>` to stderr
missing-jsonrpc                 omit \"jsonrpc\" from every message sent
require-arguments               tools/call without `arguments` -> error -32602 `Invalid arguments: expected object`
error:METHOD                    answer METHOD with error -32603 `chaos: injected error` (with @N: N times, then succeed)
malformed-tool                  tools/list also holds a tool without inputSchema and a tool whose name is a number
lint-bait                       extra valid tools that trip client lints (space in name, name > 64 chars, duplicate, ...)
no-tools                        advertise the tools capability but list no tools
no-tools-capability             advertise no tools capability and list no tools
tools:N                         N extra tools `filler_0` .. `filler_<N-1>`
page-size:N                     paginate every list with N items per page (opaque cursors)
repeat-cursor                   tools/list pages keep returning the same nextCursor
protocol-version:V              answer initialize with version V whatever was asked
bad-initialize                  initialize result without protocolVersion and capabilities
instructions:BYTES              initialize result carries `instructions` of BYTES bytes (hosts keep 2 KB)
list-changed:MS                 every MS ms toggle tool `ephemeral` and send notifications/tools/list_changed
empty-result                    tools/call returns {}
unknown-content                 tools/call returns a content item of type \"widget\"
big-result:BYTES                tools/call returns one text item of BYTES bytes
status:CODE[:Header=Value...]   http: answer POSTs with CODE, with a realistic body and headers for the code
html-200                        http: answer POSTs with 200 and a text/html login page
content-type:TYPE               http: answer POSTs with 200, Content-Type TYPE and a non-MCP body
session-expire:N                http: forget a session after N requests in it (then 404, like a restarted server)
session-400                     http: answer unknown sessions with 400 `Bad Request: No valid session ID provided`
stateless                       http: never issue session ids
sse                             http: answer requests with SSE (priming event with `retry: 500` first)
sse-drop[:MS]                   http: tools/call SSE stream closes after the priming event (`retry: MS`, default 500); answer on GET + Last-Event-ID
slow-drip:MS                    http: SSE answers written in 16-byte chunks, MS ms apart
no-get-stream                   http: GET /mcp -> 405
get-stream-fail                 http: GET /mcp -> 500
legacy-sse                      http: speak only the 2024-11-05 HTTP+SSE transport (GET /sse, POST /message?sessionId=)
require-auth:TOKEN              http: 401 unless `Authorization: Bearer TOKEN`
no-origin-check                 http: accept any Origin header
redirect-slash                  http: answer every request to /mcp with 307 to /mcp/, which serves (as apps mounted at /mcp/ do)
drop-connection                 http: close the TCP connection of a POST without any HTTP response
discover                        http: also answer the stateless 2026-07-28 `server/discover` (any session, or none)
"
    };
}
pub(crate) use fault_help_text;

/// The fault vocabulary, one line per fault (`SYNTAX  description`), for `--help` and the README.
pub const FAULT_HELP: &str = fault_help_text!();

/// Default `retry:` of `sse` and `sse-drop`, in milliseconds.
pub const DEFAULT_SSE_RETRY_MS: u64 = 500;

/// One injected failure. Faults are plain data; the server consults them at their trigger point
/// (a start, a request of some method, a POST, ...), and every such moment is one occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    // --- process / stdio ---
    /// `exit-at-start[:CODE[:MESSAGE]]`: write MESSAGE to stderr and exit CODE before reading.
    ExitAtStart {
        /// Exit code, 0..=255 (default 1).
        code: i32,
        /// Stderr line; `None` means `chaos: exiting at start`.
        message: Option<String>,
    },
    /// `exit-after:MS`: exit 1, MS ms after initialize was answered.
    ExitAfter {
        /// Delay after the initialize answer.
        ms: u64,
    },
    /// `crash-on-call`: any `tools/call` exits the process (code 3) before answering.
    CrashOnCall,
    /// `never-initialize`: read `initialize`, never answer it.
    NeverInitialize,
    /// `slow:METHOD:MS`: delay the answer to METHOD.
    Slow {
        /// JSON-RPC method whose answer is delayed.
        method: String,
        /// Delay.
        ms: u64,
    },
    /// `hang-after:N`: after N answered requests, answer nothing more.
    HangAfter {
        /// Requests answered normally before the hang.
        requests: u64,
    },
    /// `stdout-noise:N`: N non-JSON lines on stdout at start and after answering initialize.
    StdoutNoise {
        /// Lines per burst.
        lines: u32,
    },
    /// `stderr-noise:N`: N informational stderr lines at start.
    StderrNoise {
        /// Lines written.
        lines: u32,
    },
    /// `ignore-stdin-eof`: keep running after stdin closes.
    IgnoreStdinEof,
    /// `ignore-sigterm`: ignore SIGTERM.
    IgnoreSigterm,
    /// `spawn-child`: start a grandchild `sleep 3600` at start.
    SpawnChild,

    // --- protocol ---
    /// `missing-jsonrpc`: omit `"jsonrpc"` from everything sent.
    MissingJsonrpc,
    /// `require-arguments`: `tools/call` without `arguments` is rejected with -32602.
    RequireArguments,
    /// `error:METHOD`: answer METHOD with -32603 `chaos: injected error`.
    Error {
        /// JSON-RPC method that fails.
        method: String,
    },
    /// `malformed-tool`: two broken tools among the good ones.
    MalformedTool,
    /// `lint-bait`: extra valid tools that trip client lints.
    LintBait,
    /// `no-tools`: tools capability advertised, empty list.
    NoTools,
    /// `no-tools-capability`: no tools capability, empty list.
    NoToolsCapability,
    /// `tools:N`: N extra filler tools.
    Tools {
        /// Number of `filler_<i>` tools.
        count: u32,
    },
    /// `page-size:N`: paginate every list.
    PageSize {
        /// Items per page (at least 1).
        size: u32,
    },
    /// `repeat-cursor`: `tools/list` always returns the same `nextCursor`.
    RepeatCursor,
    /// `protocol-version:V`: answer initialize with V.
    ProtocolVersion {
        /// The version string sent back.
        version: String,
    },
    /// `bad-initialize`: initialize result without `protocolVersion`/`capabilities`.
    BadInitialize,
    /// `instructions:BYTES`: initialize result with `instructions` of BYTES bytes.
    Instructions {
        /// Length of the instructions text.
        bytes: u64,
    },
    /// `list-changed:MS`: toggle tool `ephemeral` every MS ms and notify.
    ListChanged {
        /// Toggle period.
        ms: u64,
    },
    /// `empty-result`: `tools/call` returns `{}`.
    EmptyResult,
    /// `unknown-content`: `tools/call` returns a `"widget"` content item.
    UnknownContent,
    /// `big-result:BYTES`: `tools/call` returns one text item of BYTES bytes.
    BigResult {
        /// Size of the text.
        bytes: u64,
    },

    // --- HTTP only ---
    /// `status:CODE[:Header=Value...]`: answer POSTs with CODE.
    Status {
        /// HTTP status, 200..=599.
        code: u16,
        /// Extra headers (added after the per-code defaults, replacing same-named ones).
        headers: Vec<(String, String)>,
    },
    /// `html-200`: 200 with a text/html login page.
    Html200,
    /// `content-type:TYPE`: 200 with that content type and a non-MCP body.
    ContentType {
        /// The Content-Type sent.
        content_type: String,
    },
    /// `session-expire:N`: forget a session after N requests in it.
    SessionExpire {
        /// Requests served in a session before it is forgotten.
        requests: u64,
    },
    /// `session-400`: unknown sessions get 400 instead of 404.
    Session400,
    /// `stateless`: never issue session ids.
    Stateless,
    /// `sse`: answer requests with SSE.
    Sse,
    /// `sse-drop[:MS]`: close a `tools/call` SSE stream after the priming event.
    SseDrop {
        /// The `retry:` sent in the priming event.
        retry_ms: u64,
    },
    /// `slow-drip:MS`: SSE answers in 16-byte chunks, MS ms apart.
    SlowDrip {
        /// Pause between chunks.
        ms: u64,
    },
    /// `no-get-stream`: GET → 405.
    NoGetStream,
    /// `get-stream-fail`: GET → 500.
    GetStreamFail,
    /// `legacy-sse`: speak only the 2024-11-05 HTTP+SSE transport.
    LegacySse,
    /// `require-auth:TOKEN`: 401 unless `Authorization: Bearer TOKEN`.
    RequireAuth {
        /// The accepted bearer token.
        token: String,
    },
    /// `no-origin-check`: accept any `Origin`.
    NoOriginCheck,
    /// `redirect-slash`: `/mcp` answers 307 to `/mcp/`, which serves.
    RedirectSlash,
    /// `drop-connection`: close the TCP connection of a POST without a response.
    DropConnection,
    /// `discover`: answer the stateless 2026-07-28 `server/discover` on `/mcp`.
    Discover,

    /// `FAULT@N`: only the first `times` occurrences of `fault` (counted across restarts with a
    /// state file).
    Limited {
        /// Occurrences that fire (at least 1).
        times: u64,
        /// The limited fault (never itself `Limited` when parsed).
        fault: Box<Fault>,
    },
}

impl Fault {
    /// The fault without its `@N` limit, and the limit.
    pub fn unlimited(&self) -> (&Fault, Option<u64>) {
        match self {
            Fault::Limited { times, fault } => {
                let (inner, inner_limit) = fault.unlimited();
                let limit = inner_limit.map_or(*times, |l| l.min(*times));
                (inner, Some(limit))
            }
            other => (other, None),
        }
    }
}

/// Why a `--fault` spec was rejected; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault `{spec}`: {reason}")]
pub struct ParseFaultError {
    spec: String,
    reason: String,
}

impl ParseFaultError {
    fn new(spec: &str, reason: impl Into<String>) -> Self {
        Self {
            spec: spec.to_owned(),
            reason: reason.into(),
        }
    }

    /// The explanation, without the spec.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl FromStr for Fault {
    type Err = ParseFaultError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let trimmed = spec.trim();
        if trimmed.is_empty() {
            return Err(ParseFaultError::new(spec, "empty fault spec"));
        }
        let (body, times) = split_times(spec, trimmed)?;
        let mut parts = body.split(':');
        let name = parts.next().unwrap_or_default();
        let args: Vec<&str> = parts.collect();
        let p = ArgParser { spec, name, args };
        let fault = p.parse()?;
        Ok(match times {
            Some(times) => Fault::Limited {
                times,
                fault: Box::new(fault),
            },
            None => fault,
        })
    }
}

/// Splits a trailing `@N` off. A trailing `@` part that is not all digits stays in the body (a
/// MESSAGE or TOKEN may contain `@`); `@0` is rejected because it would never fire.
fn split_times<'a>(spec: &str, body: &'a str) -> Result<(&'a str, Option<u64>), ParseFaultError> {
    let Some((head, tail)) = body.rsplit_once('@') else {
        return Ok((body, None));
    };
    if tail.is_empty() {
        return Err(ParseFaultError::new(
            spec,
            "`@` must be followed by a count N",
        ));
    }
    if !tail.bytes().all(|b| b.is_ascii_digit()) {
        return Ok((body, None));
    }
    let times: u64 = tail
        .parse()
        .map_err(|_| ParseFaultError::new(spec, format!("count `@{tail}` is too large")))?;
    if times == 0 {
        return Err(ParseFaultError::new(
            spec,
            "count `@0` would never fire; use N >= 1",
        ));
    }
    if head.rsplit_once('@').is_some_and(|(_, t)| {
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && !t.contains(':')
    }) {
        return Err(ParseFaultError::new(spec, "more than one `@N` count"));
    }
    Ok((head, Some(times)))
}

struct ArgParser<'a> {
    spec: &'a str,
    name: &'a str,
    args: Vec<&'a str>,
}

impl ArgParser<'_> {
    fn err(&self, reason: impl Into<String>) -> ParseFaultError {
        ParseFaultError::new(self.spec, reason)
    }

    fn none(&self, fault: Fault) -> Result<Fault, ParseFaultError> {
        if self.args.is_empty() {
            Ok(fault)
        } else {
            Err(self.err(format!(
                "`{}` takes no arguments, got `{}`",
                self.name,
                self.args.join(":")
            )))
        }
    }

    /// Exactly `n` arguments, `usage` naming them.
    fn exactly(&self, n: usize, usage: &str) -> Result<(), ParseFaultError> {
        match self.args.len() {
            len if len < n => Err(self.err(format!("`{}` needs {usage}", self.name))),
            len if len > n => Err(self.err(format!(
                "`{}` takes {usage}; unexpected `{}`",
                self.name,
                self.args[n..].join(":")
            ))),
            _ => Ok(()),
        }
    }

    fn number<T: FromStr>(&self, what: &str, raw: &str) -> Result<T, ParseFaultError> {
        raw.trim().parse().map_err(|_| {
            self.err(format!(
                "{what} `{raw}` of `{}` is not a valid number",
                self.name
            ))
        })
    }

    /// One numeric argument.
    fn one_number<T: FromStr>(&self, what: &str) -> Result<T, ParseFaultError> {
        self.exactly(1, what)?;
        self.number(what, self.args[0])
    }

    /// Everything after NAME as one string (it may contain `:`), non-empty.
    fn rest(&self, what: &str) -> Result<String, ParseFaultError> {
        let rest = self.args.join(":");
        if rest.trim().is_empty() {
            return Err(self.err(format!("`{}` needs {what}", self.name)));
        }
        Ok(rest)
    }

    fn parse(&self) -> Result<Fault, ParseFaultError> {
        let a = &self.args;
        Ok(match self.name {
            "exit-at-start" => {
                let code = match a.first() {
                    None => 1,
                    Some(raw) => {
                        let code: i32 = self.number("CODE", raw)?;
                        if !(0..=255).contains(&code) {
                            return Err(self.err(format!("CODE `{raw}` must be 0..=255")));
                        }
                        code
                    }
                };
                let message = (a.len() > 1).then(|| a[1..].join(":"));
                Fault::ExitAtStart { code, message }
            }
            "exit-after" => Fault::ExitAfter {
                ms: self.one_number("MS")?,
            },
            "crash-on-call" => self.none(Fault::CrashOnCall)?,
            "never-initialize" => self.none(Fault::NeverInitialize)?,
            "slow" => {
                self.exactly(2, "METHOD:MS")?;
                Fault::Slow {
                    method: self.method(a[0])?,
                    ms: self.number("MS", a[1])?,
                }
            }
            "hang-after" => Fault::HangAfter {
                requests: self.one_number("N")?,
            },
            "stdout-noise" => Fault::StdoutNoise {
                lines: self.one_number("N")?,
            },
            "stderr-noise" => Fault::StderrNoise {
                lines: self.one_number("N")?,
            },
            "ignore-stdin-eof" => self.none(Fault::IgnoreStdinEof)?,
            "ignore-sigterm" => self.none(Fault::IgnoreSigterm)?,
            "spawn-child" => self.none(Fault::SpawnChild)?,
            "missing-jsonrpc" => self.none(Fault::MissingJsonrpc)?,
            "require-arguments" => self.none(Fault::RequireArguments)?,
            "error" => {
                self.exactly(1, "METHOD")?;
                Fault::Error {
                    method: self.method(a[0])?,
                }
            }
            "malformed-tool" => self.none(Fault::MalformedTool)?,
            "lint-bait" => self.none(Fault::LintBait)?,
            "no-tools" => self.none(Fault::NoTools)?,
            "no-tools-capability" => self.none(Fault::NoToolsCapability)?,
            "tools" => Fault::Tools {
                count: self.one_number("N")?,
            },
            "page-size" => {
                let size: u32 = self.one_number("N")?;
                if size == 0 {
                    return Err(self.err("page size N must be at least 1"));
                }
                Fault::PageSize { size }
            }
            "repeat-cursor" => self.none(Fault::RepeatCursor)?,
            "protocol-version" => Fault::ProtocolVersion {
                version: self.rest("a version V")?,
            },
            "bad-initialize" => self.none(Fault::BadInitialize)?,
            "instructions" => Fault::Instructions {
                bytes: self.one_number("BYTES")?,
            },
            "list-changed" => {
                let ms: u64 = self.one_number("MS")?;
                if ms == 0 {
                    return Err(self.err("list-changed period MS must be at least 1"));
                }
                Fault::ListChanged { ms }
            }
            "empty-result" => self.none(Fault::EmptyResult)?,
            "unknown-content" => self.none(Fault::UnknownContent)?,
            "big-result" => Fault::BigResult {
                bytes: self.one_number("BYTES")?,
            },
            "status" => self.status()?,
            "html-200" => self.none(Fault::Html200)?,
            "content-type" => {
                let content_type = self.rest("a content type TYPE")?;
                if HeaderValue::from_str(&content_type).is_err() {
                    return Err(self.err(format!(
                        "content type `{content_type}` is not a valid header value"
                    )));
                }
                Fault::ContentType { content_type }
            }
            "session-expire" => {
                let requests: u64 = self.one_number("N")?;
                if requests == 0 {
                    return Err(self.err("session-expire N must be at least 1"));
                }
                Fault::SessionExpire { requests }
            }
            "session-400" => self.none(Fault::Session400)?,
            "stateless" => self.none(Fault::Stateless)?,
            "sse" => self.none(Fault::Sse)?,
            "sse-drop" => {
                let retry_ms = match a.len() {
                    0 => DEFAULT_SSE_RETRY_MS,
                    _ => self.one_number("MS")?,
                };
                Fault::SseDrop { retry_ms }
            }
            "slow-drip" => Fault::SlowDrip {
                ms: self.one_number("MS")?,
            },
            "no-get-stream" => self.none(Fault::NoGetStream)?,
            "get-stream-fail" => self.none(Fault::GetStreamFail)?,
            "legacy-sse" => self.none(Fault::LegacySse)?,
            "require-auth" => {
                let token = self.rest("a TOKEN")?;
                if HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
                    return Err(self.err(format!("TOKEN `{token}` is not a valid header value")));
                }
                Fault::RequireAuth { token }
            }
            "no-origin-check" => self.none(Fault::NoOriginCheck)?,
            "redirect-slash" => self.none(Fault::RedirectSlash)?,
            "drop-connection" => self.none(Fault::DropConnection)?,
            "discover" => self.none(Fault::Discover)?,
            "" => return Err(self.err("missing fault NAME before `:`")),
            other => {
                return Err(self.err(format!(
                    "unknown fault `{other}` (see `--help` for the vocabulary)"
                )));
            }
        })
    }

    fn method(&self, raw: &str) -> Result<String, ParseFaultError> {
        let method = raw.trim();
        if method.is_empty() {
            return Err(self.err(format!("`{}` needs a METHOD", self.name)));
        }
        Ok(method.to_owned())
    }

    fn status(&self) -> Result<Fault, ParseFaultError> {
        let Some(raw) = self.args.first() else {
            return Err(self.err("`status` needs CODE"));
        };
        let code: u16 = self.number("CODE", raw)?;
        if !(200..=599).contains(&code) {
            return Err(self.err(format!("CODE `{raw}` must be 200..=599")));
        }
        // Header values may contain `:` (URLs): a segment without `=` continues the previous
        // value.
        let mut pairs: Vec<String> = Vec::new();
        for seg in &self.args[1..] {
            match pairs.last_mut() {
                Some(last) if !seg.contains('=') => {
                    last.push(':');
                    last.push_str(seg);
                }
                _ => pairs.push((*seg).to_owned()),
            }
        }
        let mut headers = Vec::new();
        for pair in pairs {
            let Some((name, value)) = pair.split_once('=') else {
                return Err(self.err(format!("header `{pair}` is not `Header=Value`")));
            };
            if HeaderName::from_bytes(name.as_bytes()).is_err() || name.is_empty() {
                return Err(self.err(format!("header name `{name}` is not valid")));
            }
            if HeaderValue::from_str(value).is_err() {
                return Err(self.err(format!("value `{value}` of header `{name}` is not valid")));
            }
            headers.push((name.to_owned(), value.to_owned()));
        }
        Ok(Fault::Status { code, headers })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::ExitAtStart { code, message } => {
                write!(f, "exit-at-start:{code}")?;
                if let Some(m) = message {
                    write!(f, ":{m}")?;
                }
                Ok(())
            }
            Fault::ExitAfter { ms } => write!(f, "exit-after:{ms}"),
            Fault::CrashOnCall => f.write_str("crash-on-call"),
            Fault::NeverInitialize => f.write_str("never-initialize"),
            Fault::Slow { method, ms } => write!(f, "slow:{method}:{ms}"),
            Fault::HangAfter { requests } => write!(f, "hang-after:{requests}"),
            Fault::StdoutNoise { lines } => write!(f, "stdout-noise:{lines}"),
            Fault::StderrNoise { lines } => write!(f, "stderr-noise:{lines}"),
            Fault::IgnoreStdinEof => f.write_str("ignore-stdin-eof"),
            Fault::IgnoreSigterm => f.write_str("ignore-sigterm"),
            Fault::SpawnChild => f.write_str("spawn-child"),
            Fault::MissingJsonrpc => f.write_str("missing-jsonrpc"),
            Fault::RequireArguments => f.write_str("require-arguments"),
            Fault::Error { method } => write!(f, "error:{method}"),
            Fault::MalformedTool => f.write_str("malformed-tool"),
            Fault::LintBait => f.write_str("lint-bait"),
            Fault::NoTools => f.write_str("no-tools"),
            Fault::NoToolsCapability => f.write_str("no-tools-capability"),
            Fault::Tools { count } => write!(f, "tools:{count}"),
            Fault::PageSize { size } => write!(f, "page-size:{size}"),
            Fault::RepeatCursor => f.write_str("repeat-cursor"),
            Fault::ProtocolVersion { version } => write!(f, "protocol-version:{version}"),
            Fault::BadInitialize => f.write_str("bad-initialize"),
            Fault::Instructions { bytes } => write!(f, "instructions:{bytes}"),
            Fault::ListChanged { ms } => write!(f, "list-changed:{ms}"),
            Fault::EmptyResult => f.write_str("empty-result"),
            Fault::UnknownContent => f.write_str("unknown-content"),
            Fault::BigResult { bytes } => write!(f, "big-result:{bytes}"),
            Fault::Status { code, headers } => {
                write!(f, "status:{code}")?;
                for (name, value) in headers {
                    write!(f, ":{name}={value}")?;
                }
                Ok(())
            }
            Fault::Html200 => f.write_str("html-200"),
            Fault::ContentType { content_type } => write!(f, "content-type:{content_type}"),
            Fault::SessionExpire { requests } => write!(f, "session-expire:{requests}"),
            Fault::Session400 => f.write_str("session-400"),
            Fault::Stateless => f.write_str("stateless"),
            Fault::Sse => f.write_str("sse"),
            Fault::SseDrop { retry_ms } => write!(f, "sse-drop:{retry_ms}"),
            Fault::SlowDrip { ms } => write!(f, "slow-drip:{ms}"),
            Fault::NoGetStream => f.write_str("no-get-stream"),
            Fault::GetStreamFail => f.write_str("get-stream-fail"),
            Fault::LegacySse => f.write_str("legacy-sse"),
            Fault::RequireAuth { token } => write!(f, "require-auth:{token}"),
            Fault::NoOriginCheck => f.write_str("no-origin-check"),
            Fault::RedirectSlash => f.write_str("redirect-slash"),
            Fault::DropConnection => f.write_str("drop-connection"),
            Fault::Discover => f.write_str("discover"),
            Fault::Limited { times, fault } => write!(f, "{fault}@{times}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Fault {
        s.parse()
            .unwrap_or_else(|e| panic!("`{s}` should parse: {e}"))
    }

    fn reject(s: &str) -> String {
        match s.parse::<Fault>() {
            Ok(f) => panic!("`{s}` should be rejected, got {f:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// One example per vocabulary entry, with the value it must parse to.
    fn examples() -> Vec<(&'static str, Fault)> {
        vec![
            (
                "exit-at-start",
                Fault::ExitAtStart {
                    code: 1,
                    message: None,
                },
            ),
            (
                "exit-at-start:7:boom: really",
                Fault::ExitAtStart {
                    code: 7,
                    message: Some("boom: really".into()),
                },
            ),
            ("exit-after:250", Fault::ExitAfter { ms: 250 }),
            ("crash-on-call", Fault::CrashOnCall),
            ("never-initialize", Fault::NeverInitialize),
            (
                "slow:tools/list:300",
                Fault::Slow {
                    method: "tools/list".into(),
                    ms: 300,
                },
            ),
            ("hang-after:2", Fault::HangAfter { requests: 2 }),
            ("stdout-noise:3", Fault::StdoutNoise { lines: 3 }),
            ("stderr-noise:4", Fault::StderrNoise { lines: 4 }),
            ("ignore-stdin-eof", Fault::IgnoreStdinEof),
            ("ignore-sigterm", Fault::IgnoreSigterm),
            ("spawn-child", Fault::SpawnChild),
            ("missing-jsonrpc", Fault::MissingJsonrpc),
            ("require-arguments", Fault::RequireArguments),
            (
                "error:tools/list",
                Fault::Error {
                    method: "tools/list".into(),
                },
            ),
            ("malformed-tool", Fault::MalformedTool),
            ("lint-bait", Fault::LintBait),
            ("no-tools", Fault::NoTools),
            ("no-tools-capability", Fault::NoToolsCapability),
            ("tools:20", Fault::Tools { count: 20 }),
            ("page-size:5", Fault::PageSize { size: 5 }),
            ("repeat-cursor", Fault::RepeatCursor),
            (
                "protocol-version:1999-01-01",
                Fault::ProtocolVersion {
                    version: "1999-01-01".into(),
                },
            ),
            ("bad-initialize", Fault::BadInitialize),
            ("instructions:3000", Fault::Instructions { bytes: 3000 }),
            ("list-changed:100", Fault::ListChanged { ms: 100 }),
            ("empty-result", Fault::EmptyResult),
            ("unknown-content", Fault::UnknownContent),
            ("big-result:1048576", Fault::BigResult { bytes: 1_048_576 }),
            (
                "status:503",
                Fault::Status {
                    code: 503,
                    headers: vec![],
                },
            ),
            (
                "status:401:WWW-Authenticate=Bearer resource_metadata=\"http://x:1/y\":X-A=b",
                Fault::Status {
                    code: 401,
                    headers: vec![
                        (
                            "WWW-Authenticate".into(),
                            "Bearer resource_metadata=\"http://x:1/y\"".into(),
                        ),
                        ("X-A".into(), "b".into()),
                    ],
                },
            ),
            ("html-200", Fault::Html200),
            (
                "content-type:text/plain",
                Fault::ContentType {
                    content_type: "text/plain".into(),
                },
            ),
            ("session-expire:3", Fault::SessionExpire { requests: 3 }),
            ("session-400", Fault::Session400),
            ("stateless", Fault::Stateless),
            ("sse", Fault::Sse),
            ("sse-drop", Fault::SseDrop { retry_ms: 500 }),
            ("sse-drop:50", Fault::SseDrop { retry_ms: 50 }),
            ("slow-drip:10", Fault::SlowDrip { ms: 10 }),
            ("no-get-stream", Fault::NoGetStream),
            ("get-stream-fail", Fault::GetStreamFail),
            ("legacy-sse", Fault::LegacySse),
            (
                "require-auth:s3cr3t",
                Fault::RequireAuth {
                    token: "s3cr3t".into(),
                },
            ),
            ("no-origin-check", Fault::NoOriginCheck),
            ("redirect-slash", Fault::RedirectSlash),
            ("drop-connection", Fault::DropConnection),
            ("discover", Fault::Discover),
            (
                "status:503@2",
                Fault::Limited {
                    times: 2,
                    fault: Box::new(Fault::Status {
                        code: 503,
                        headers: vec![],
                    }),
                },
            ),
            (
                "exit-at-start:1:mail me@example@3",
                Fault::Limited {
                    times: 3,
                    fault: Box::new(Fault::ExitAtStart {
                        code: 1,
                        message: Some("mail me@example".into()),
                    }),
                },
            ),
        ]
    }

    #[test]
    fn parses_every_vocabulary_example() {
        for (spec, want) in examples() {
            assert_eq!(parse(spec), want, "{spec}");
        }
    }

    #[test]
    fn display_round_trips() {
        for (spec, want) in examples() {
            let shown = want.to_string();
            assert_eq!(parse(&shown), want, "{spec} displayed as {shown}");
        }
    }

    #[test]
    fn every_help_line_names_a_parsable_fault() {
        let lines: Vec<&str> = FAULT_HELP.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 45, "one line per fault");
        let examples = examples();
        for line in lines {
            let syntax = line.split_whitespace().next().unwrap_or_default();
            let name = syntax.split([':', '[']).next().unwrap_or_default();
            assert!(
                examples
                    .iter()
                    .any(|(spec, _)| spec.split([':', '@']).next() == Some(name)),
                "help line `{line}` has no parse example"
            );
        }
    }

    #[test]
    fn readme_lists_every_fault_line() {
        let readme = include_str!("../README.md");
        for line in FAULT_HELP.lines().filter(|l| !l.is_empty()) {
            assert!(readme.contains(line), "README is missing `{line}`");
        }
    }

    #[test]
    fn unlimited_unwraps_the_count() {
        let f = parse("error:ping@4");
        let (inner, limit) = f.unlimited();
        assert_eq!(
            inner,
            &Fault::Error {
                method: "ping".into()
            }
        );
        assert_eq!(limit, Some(4));
        assert_eq!(parse("sse").unlimited(), (&Fault::Sse, None));
    }

    #[test]
    fn errors_name_the_bad_part() {
        let cases = [
            ("bogus", "`bogus`"),
            ("bogus:1", "unknown fault `bogus`"),
            ("", "empty"),
            ("slow:tools/list", "METHOD:MS"),
            ("slow:tools/list:soon", "`soon`"),
            ("slow:tools/list:1:2", "unexpected `2`"),
            ("exit-after:abc", "`abc`"),
            ("exit-after", "MS"),
            ("exit-at-start:300", "`300`"),
            ("status:99", "`99`"),
            ("status:abc", "`abc`"),
            ("status:503:NoEquals", "`NoEquals`"),
            ("status:503:Bad Name=1", "`Bad Name`"),
            ("sse:5", "`5`"),
            ("crash-on-call:now", "`now`"),
            ("page-size:0", "at least 1"),
            ("status:503@0", "`@0`"),
            ("status:503@", "`@`"),
            ("status:503@1@2", "more than one"),
            ("tools:-1", "`-1`"),
            ("error", "METHOD"),
            ("require-auth", "TOKEN"),
            (":5", "NAME"),
        ];
        for (spec, needle) in cases {
            let msg = reject(spec);
            assert!(
                msg.contains(needle),
                "error for `{spec}` was `{msg}`, expected `{needle}`"
            );
            assert!(
                msg.contains(&format!("`{spec}`")),
                "error names the spec: {msg}"
            );
        }
    }
}
