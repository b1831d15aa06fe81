//! The validated shape of one configured server: what the client connects to and how.
//!
//! Built by [`crate::validate`]; this module only defines the types and how they present
//! themselves (always redacted).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::filter::ToolFilter;
use crate::problem::Problem;
use crate::redact::{MASK, Redactor, structural_args, structural_url};
use crate::source::Source;

/// One server, as configured. `transport` is `Err` when the entry is misconfigured; `problems`
/// holds every error and warning either way.
#[derive(Clone)]
pub struct ServerConfig {
    /// The key the entry was defined under.
    pub name: String,
    /// Where the (winning) definition came from.
    pub source: Source,
    /// `"disabled": true`: never spawned or contacted.
    pub disabled: bool,
    /// How to reach the server, or the first error that prevents it (the server is
    /// `misconfigured`).
    pub transport: Result<Transport, Problem>,
    /// Every error and warning for this entry, in field order.
    pub problems: Vec<Problem>,
    /// Wall-clock limit for one tool call: `tether.tool_timeout_ms`, else `timeout` (values under
    /// 1000 ms are ignored with a warning). `None`: the client's default.
    pub tool_timeout: Option<Duration>,
    /// Tether's own options (`"tether": {…}`).
    pub options: TetherOptions,
    /// Knows this entry's secrets; use it on anything derived from the server before printing.
    pub redactor: Redactor,
    /// Keys of the entry Tether does not interpret (e.g. `oauth`, `headersHelper`, `alwaysLoad`),
    /// in file order. Kept so `doctor` can say what was ignored.
    pub ignored_keys: Vec<String>,
    /// The target as written in the file, for display.
    pub(crate) raw: RawTarget,
}

/// What the file said, unexpanded: `tether list` shows `${VAR}` as written, like Claude Code.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawTarget {
    pub declared: DeclaredType,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub url: Option<String>,
}

/// The transport the entry asks for, even when it is unusable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum DeclaredType {
    #[default]
    Stdio,
    Http,
    Sse,
    /// An unsupported `type` value, or an entry that is not an object.
    Unknown,
}

/// How to reach a server.
#[derive(Clone, PartialEq, Eq)]
pub enum Transport {
    /// A child process speaking JSON-RPC over stdin/stdout.
    Stdio(StdioSpec),
    /// Streamable HTTP (`"type": "http"` or `"streamable-http"`).
    Http(HttpSpec),
    /// The legacy HTTP+SSE transport (`"type": "sse"`).
    Sse(HttpSpec),
}

impl Transport {
    /// `stdio`, `http` or `sse`.
    pub fn label(&self) -> &'static str {
        match self {
            Transport::Stdio(_) => "stdio",
            Transport::Http(_) => "http",
            Transport::Sse(_) => "sse",
        }
    }
}

/// A stdio server: the program, its arguments and environment, all expanded.
#[derive(Clone, PartialEq, Eq)]
pub struct StdioSpec {
    /// The program (looked up in `PATH` by the client when it has no `/`).
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables added to the inherited environment, in file order.
    pub env: Vec<(String, String)>,
    /// The working directory, as written (relative paths are the client's to resolve).
    pub cwd: Option<PathBuf>,
}

/// A remote server: the endpoint and the headers to send, expanded.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSpec {
    /// The endpoint (http or https).
    pub url: Url,
    /// Headers sent with every request, in file order.
    pub headers: Vec<(String, String)>,
    /// Endpoints to try, in order, when `url` is unreachable (`tether.fallback_urls`).
    pub fallback_urls: Vec<Url>,
}

/// Tether's own per-server options: `"tether": {…}` inside the entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TetherOptions {
    /// Whether a crashed stdio server is respawned.
    pub restart: RestartPolicy,
    /// `connect_timeout_ms`: budget for connect + initialize + first tools/list.
    pub connect_timeout: Option<Duration>,
    /// `tool_timeout_ms` (at least 1000 ms).
    pub tool_timeout: Option<Duration>,
    /// `idle_timeout_ms`: a tool call with no response and no progress for this long fails.
    pub idle_timeout: Option<Duration>,
    /// `ping_interval_ms`: keep-alive ping period.
    pub ping_interval: Option<Duration>,
    /// `tools: { allow, deny }`.
    pub tools: ToolFilter,
}

/// `tether.restart`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RestartPolicy {
    /// `"on-failure"` (default): respawn a crashed stdio server within the reconnect budget.
    #[default]
    OnFailure,
    /// `"never"`: Claude Code parity, a crash is final until a manual reconnect.
    Never,
}

impl RestartPolicy {
    /// The value as written in config: `on-failure` / `never`.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Never => "never",
        }
    }
}

impl ServerConfig {
    /// What `tether list` shows as the target: the command line or the URL *as written in the
    /// file* (`${VAR}` unexpanded), with credentials structurally redacted and known secrets
    /// masked.
    pub fn display_target(&self) -> String {
        let raw = &self.raw;
        let wants_url = matches!(raw.declared, DeclaredType::Http | DeclaredType::Sse)
            || matches!(self.transport, Ok(Transport::Http(_) | Transport::Sse(_)));
        let target = match (&raw.command, &raw.url) {
            (_, Some(url)) if wants_url => structural_url(url),
            (Some(command), _) => command_line(command, &raw.args),
            (None, Some(url)) => structural_url(url),
            (None, None) => String::new(),
        };
        self.redactor.redact(&target)
    }

    /// `stdio`, `http` or `sse`: the transport in use, or for a misconfigured entry the one it
    /// declares (`stdio` when `type` is absent). `unknown` for an unsupported `type` or an entry
    /// that is not an object.
    pub fn transport_label(&self) -> &'static str {
        match &self.transport {
            Ok(transport) => transport.label(),
            Err(_) => match self.raw.declared {
                DeclaredType::Stdio => "stdio",
                DeclaredType::Http => "http",
                DeclaredType::Sse => "sse",
                DeclaredType::Unknown => "unknown",
            },
        }
    }

    /// A stdio target given on the command line (`tether doctor -- CMD ARGS…`): named after the
    /// command's basename (`ad-hoc` when there is none), scope [`crate::Scope::CommandLine`].
    /// Nothing is expanded: the shell already did. An empty command gives a misconfigured server.
    pub fn ad_hoc_stdio(command: impl Into<String>, args: Vec<String>) -> ServerConfig {
        crate::adhoc::ad_hoc_stdio(command.into(), args)
    }

    /// An HTTP (or, with `sse`, legacy SSE) target given on the command line
    /// (`tether doctor --url …`): named after the URL's host. Fails on an unparsable URL, a
    /// scheme other than http/https, or an invalid header.
    #[expect(
        clippy::result_large_err,
        reason = "shared API: a Problem is what every caller prints; built once per command"
    )]
    pub fn ad_hoc_http(
        url: &str,
        headers: Vec<(String, String)>,
        sse: bool,
    ) -> Result<ServerConfig, Problem> {
        crate::adhoc::ad_hoc_http(url, headers, sse)
    }

    /// Whether validation failed (the server is `misconfigured`).
    pub fn is_misconfigured(&self) -> bool {
        self.transport.is_err()
    }

    /// The errors among [`ServerConfig::problems`].
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_error())
    }

    /// The warnings among [`ServerConfig::problems`].
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.is_error())
    }
}

/// `command arg…`, quoting arguments that would otherwise read ambiguously.
fn command_line(command: &str, args: &[String]) -> String {
    let mut line = quote(command);
    for arg in structural_args(args) {
        line.push(' ');
        line.push_str(&quote(&arg));
    }
    line
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '"');
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Debug of `T` with the redactor applied to the rendered text.
struct RedactedDebug<'a, T>(&'a T, &'a Redactor);

impl<T: fmt::Debug> fmt::Debug for RedactedDebug<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = if f.alternate() {
            format!("{:#?}", self.0)
        } else {
            format!("{:?}", self.0)
        };
        f.write_str(&self.1.redact(&text))
    }
}

/// Names with every value shown as `***`: in a spec, any value may have been expanded from a
/// secret, and the spec alone cannot tell which.
struct MaskedPairs<'a>(&'a [(String, String)]);

impl fmt::Debug for MaskedPairs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, _)| (k, Masked)))
            .finish()
    }
}

/// Debug-prints as `***`.
struct Masked;

impl fmt::Debug for Masked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.redactor;
        f.debug_struct("ServerConfig")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("disabled", &self.disabled)
            .field("transport", &RedactedDebug(&self.transport, r))
            .field("problems", &RedactedDebug(&self.problems, r))
            .field("tool_timeout", &self.tool_timeout)
            .field("options", &self.options)
            .field("redactor", r)
            .field("ignored_keys", &self.ignored_keys)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Stdio(spec) => f.debug_tuple("Stdio").field(spec).finish(),
            Transport::Http(spec) => f.debug_tuple("Http").field(spec).finish(),
            Transport::Sse(spec) => f.debug_tuple("Sse").field(spec).finish(),
        }
    }
}

impl fmt::Debug for StdioSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdioSpec")
            .field("command", &self.command)
            .field("args", &structural_args(&self.args))
            .field("env", &MaskedPairs(&self.env))
            .field("cwd", &self.cwd)
            .finish()
    }
}

impl fmt::Debug for HttpSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fallbacks: Vec<String> = self
            .fallback_urls
            .iter()
            .map(|u| structural_url(u.as_str()))
            .collect();
        f.debug_struct("HttpSpec")
            .field("url", &structural_url(self.url.as_str()))
            .field("headers", &MaskedPairs(&self.headers))
            .field("fallback_urls", &fallbacks)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_only_where_needed() {
        assert_eq!(
            command_line("python", &["server.py".into(), "a b".into(), "".into()]),
            "python server.py 'a b' ''"
        );
        assert_eq!(command_line("it's", &[]), r"'it'\''s'");
    }

    #[test]
    fn spec_debug_hides_values() {
        let spec = StdioSpec {
            command: "npx".into(),
            args: vec!["--token".into(), "tok-123456".into()],
            env: vec![("LOG".into(), "debug-level".into())],
            cwd: None,
        };
        let debug = format!("{spec:?}");
        assert!(!debug.contains("tok-123456"), "{debug}");
        assert!(!debug.contains("debug-level"), "{debug}");
        assert!(debug.contains("LOG"));

        let http = HttpSpec {
            url: Url::parse("https://u:pw@h.example/mcp?k=v").unwrap(),
            headers: vec![("X-Key".into(), "hv-123456".into())],
            fallback_urls: vec![Url::parse("https://h2.example/mcp?k=v2").unwrap()],
        };
        let debug = format!("{http:#?}");
        assert!(!debug.contains("pw"), "{debug}");
        assert!(!debug.contains("hv-123456"), "{debug}");
        assert!(!debug.contains("v2"), "{debug}");
    }
}
