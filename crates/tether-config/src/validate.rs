//! One JSON entry → one [`ServerConfig`]: which transport it is, the rules of CONTRACT §1 for
//! its fields, and assembly. Bookkeeping (problems, expansion, secrets) is in `check`, the
//! `tether` block in `options`.
//!
//! Nothing here fails: every problem is recorded on the server (with file, server and field) and
//! the entry becomes `misconfigured` if any of them is an error, so one bad entry never keeps the
//! others from loading.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::check::{Checker, as_str, member, quoted};
use crate::endpoint::{is_header_name, parse_http_url, url_secrets};
use crate::entry::{
    DeclaredType, HttpSpec, RawTarget, ServerConfig, StdioSpec, TetherOptions, Transport,
};
use crate::expand::Expander;
use crate::json::Json;
use crate::problem::{Problem, Severity, code};
use crate::redact::{Redactor, is_secret_name, secret_arg_values};
use crate::source::Source;
use crate::suggest::closest;

/// The entry keys Tether reads.
const KNOWN_KEYS: &[&str] = &[
    "type", "command", "args", "env", "cwd", "url", "headers", "timeout", "disabled", "tether",
];

/// Keys other clients use for what Tether calls something else: worth a "did you mean".
const ALIASES: &[(&str, &str)] = &[
    ("environment", "env"),
    ("cmd", "command"),
    ("arguments", "args"),
    ("argv", "args"),
    ("endpoint", "url"),
    ("serverUrl", "url"),
    ("transport", "type"),
    ("transportType", "type"),
    ("workingDirectory", "cwd"),
    ("working_directory", "cwd"),
];

/// What every entry of one file shares.
pub(crate) struct EntryContext<'a> {
    pub source: &'a Source,
    /// VS Code / Cursor format: `type` may be omitted when `url` is given, and `env` values may be
    /// numbers.
    pub editor: bool,
    pub expander: Expander<'a>,
}

/// Validate one entry.
pub(crate) fn build(name: &str, entry: &Json, ctx: &EntryContext<'_>) -> ServerConfig {
    let mut c = Checker::new(&ctx.source.path, Some(name));
    c.check_name(name);
    let Json::Object(members) = entry else {
        c.error_at(
            None,
            format!("entry is {}, expected an object", entry.kind()),
            Some(
                r#"write "name": {"command": "…"} or "name": {"type": "http", "url": "…"}"#.into(),
            ),
        );
        let raw = RawTarget {
            declared: DeclaredType::Unknown,
            ..RawTarget::default()
        };
        return c.finish(name, ctx.source, None, Fields::default(), raw);
    };

    let declared = c.declared_type(entry);
    let has_command = entry.get_present("command").is_some();
    let has_url = entry.get_present("url").is_some();
    // Claude Code reads an entry without `type` as stdio, so `url` alone is an error there; VS
    // Code and Cursor infer a remote server from `url`.
    let (kind, broken) = match declared {
        Some(DeclaredType::Unknown) => (DeclaredType::Unknown, true),
        Some(kind) => (kind, false),
        None if has_command || !has_url => (DeclaredType::Stdio, false),
        None if ctx.editor => (DeclaredType::Http, false),
        None => {
            c.error(
                "url",
                r#"has a "url" but no "type""#,
                Some(r#"add "type": "http" (or "sse")"#.into()),
            );
            (DeclaredType::Stdio, true)
        }
    };
    let check_stdio = (kind == DeclaredType::Stdio && !broken) || (broken && has_command);
    let check_remote =
        matches!(kind, DeclaredType::Http | DeclaredType::Sse) || (broken && has_url);

    let mut fields = Fields::default();
    let raw = RawTarget {
        // The type the entry asks for; without `type`, what it is read as.
        declared: declared.unwrap_or(kind),
        command: entry
            .get_present("command")
            .and_then(as_str)
            .map(str::to_owned),
        args: match entry.get_present("args") {
            Some(Json::Array(items)) => {
                items.iter().filter_map(as_str).map(str::to_owned).collect()
            }
            _ => Vec::new(),
        },
        url: entry.get_present("url").and_then(as_str).map(str::to_owned),
    };
    if check_stdio {
        c.stdio_fields(entry, ctx, !broken, &mut fields);
    }
    if check_remote {
        c.remote_fields(entry, ctx, !broken, &mut fields);
    }
    fields.timeout = c.tool_timeout_field(entry);
    fields.disabled = c.disabled_field(entry);
    if let Some(tether) = entry.get_present("tether") {
        c.tether_block(tether, ctx, kind, &mut fields);
    }
    let key_kind = if broken { DeclaredType::Unknown } else { kind };
    fields.ignored_keys = c.unknown_keys(members, key_kind);
    let transport_kind = (!broken).then_some(kind);
    c.finish(name, ctx.source, transport_kind, fields, raw)
}

/// Everything read from one entry, before assembly.
#[derive(Default)]
pub(crate) struct Fields {
    pub(crate) command: Option<String>,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) url: Option<Url>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) fallback_urls: Vec<Url>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) disabled: bool,
    pub(crate) options: TetherOptions,
    pub(crate) ignored_keys: Vec<String>,
}

impl Checker<'_> {
    // ---- name and type ----------------------------------------------------------------------

    fn check_name(&mut self, name: &str) {
        if name.is_empty() {
            self.push(
                code::CONFIG_NAME,
                Severity::Warning,
                None,
                "name is empty",
                Some("give the server a name of letters, digits, `-` and `_`".into()),
            );
        } else if !name.chars().all(is_name_char) {
            let sanitized: String = name
                .chars()
                .map(|c| if is_name_char(c) { c } else { '_' })
                .collect();
            self.push(
                code::CONFIG_NAME,
                Severity::Warning,
                None,
                "name has characters outside [A-Za-z0-9_-]; the gateway replaces them with `_`",
                Some(format!("rename it, e.g. to `{sanitized}`")),
            );
        }
    }

    /// `None` when `type` is absent; `Some(Unknown)` after reporting an unusable value.
    fn declared_type(&mut self, entry: &Json) -> Option<DeclaredType> {
        let value = entry.get_present("type")?;
        let Json::String(text) = value else {
            self.wrong_type("type", "a string", value, Some(SUPPORTED_TYPES_HINT.into()));
            return Some(DeclaredType::Unknown);
        };
        match text.as_str() {
            "stdio" => return Some(DeclaredType::Stdio),
            "http" | "streamable-http" => return Some(DeclaredType::Http),
            "sse" => return Some(DeclaredType::Sse),
            _ => {}
        }
        let lower = text.trim().to_ascii_lowercase();
        let (message, hint) = match lower.as_str() {
            "ws" | "wss" | "websocket" => (
                format!("{} (WebSocket) is not supported", quoted(text)),
                "use the server's Streamable HTTP endpoint with \"type\": \"http\", if it has one"
                    .to_owned(),
            ),
            "stdio" | "local" | "command" => unsupported_type(text, "stdio"),
            "http" | "streamable-http" | "streamable_http" | "streamablehttp" | "remote" => {
                unsupported_type(text, "http")
            }
            "sse" => unsupported_type(text, "sse"),
            _ => (
                format!("unsupported type {}", quoted(text)),
                SUPPORTED_TYPES_HINT.to_owned(),
            ),
        };
        self.error("type", message, Some(hint));
        Some(DeclaredType::Unknown)
    }

    // ---- stdio ------------------------------------------------------------------------------

    fn stdio_fields(
        &mut self,
        entry: &Json,
        ctx: &EntryContext<'_>,
        required: bool,
        out: &mut Fields,
    ) {
        match entry.get_present("command") {
            None if required => self.error(
                "command",
                "is missing",
                Some(
                    r#"add "command": "<program>"; for a remote server add "type": "http" and "url""#
                        .into(),
                ),
            ),
            None => {}
            Some(Json::String(raw)) => out.command = self.command(raw, entry, ctx),
            Some(other @ Json::Array(_)) => self.wrong_type(
                "command",
                "a string",
                other,
                Some(r#"put the program in "command" and the rest in "args": ["…"]"#.into()),
            ),
            Some(other) => self.wrong_type("command", "a string", other, None),
        }
        match entry.get_present("args") {
            None => {}
            Some(Json::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let field = format!("args[{i}]");
                    match item {
                        Json::String(raw) => {
                            let value = self.expand(ctx, &field, raw);
                            self.whitespace(&field, "value", raw, &value);
                            self.no_nul(&field, &value.value);
                            out.args.push(value.value);
                        }
                        other => self.wrong_type(
                            &field,
                            "a string",
                            other,
                            Some("put the value in quotes".into()),
                        ),
                    }
                }
                self.secrets.extend(secret_arg_values(&out.args));
            }
            Some(other) => self.wrong_type(
                "args",
                "an array of strings",
                other,
                Some(r#"write one element per argument: "args": ["-y", "package"]"#.into()),
            ),
        }
        if let Some(env) = entry.get_present("env") {
            out.env = self.env(env, ctx);
        }
        match entry.get_present("cwd") {
            None => {}
            Some(Json::String(raw)) if raw.trim().is_empty() => self.warn(
                code::CONFIG_IGNORED_VALUE,
                "cwd",
                "is empty and is ignored",
                None,
            ),
            Some(Json::String(raw)) => {
                let value = self.expand(ctx, "cwd", raw);
                self.no_nul("cwd", &value.value);
                out.cwd = Some(PathBuf::from(value.value));
            }
            Some(other) => self.wrong_type("cwd", "a string", other, None),
        }
    }

    fn command(&mut self, raw: &str, entry: &Json, ctx: &EntryContext<'_>) -> Option<String> {
        if raw.trim().is_empty() {
            self.error(
                "command",
                "is empty",
                Some(r#"name the program to run, e.g. "npx""#.into()),
            );
            return None;
        }
        let value = self.expand(ctx, "command", raw);
        self.whitespace("command", "value", raw, &value);
        self.no_nul("command", &value.value);
        if value.value.trim().is_empty() {
            self.error("command", "is empty after expanding variables", None);
            return None;
        }
        let trimmed = value.value.trim();
        let no_args = !matches!(entry.get_present("args"), Some(Json::Array(a)) if !a.is_empty());
        if no_args && trimmed.contains(' ') && !looks_like_path(trimmed) {
            let mut words = trimmed.split_whitespace();
            let program = words.next().unwrap_or_default();
            self.warn(
                code::CONFIG_WHITESPACE,
                "command",
                "contains spaces but there are no \"args\": the whole text is run as one program name",
                Some(format!(
                    "split it: \"command\": {}, \"args\": [{}]",
                    quoted(program),
                    words.map(quoted).collect::<Vec<_>>().join(", ")
                )),
            );
        }
        Some(value.value)
    }

    fn env(&mut self, env: &Json, ctx: &EntryContext<'_>) -> Vec<(String, String)> {
        let Json::Object(members) = env else {
            self.wrong_type(
                "env",
                "an object of strings",
                env,
                Some(r#"write "env": {"NAME": "value"}"#.into()),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in members {
            let field = member("env", key);
            if key.is_empty() {
                self.error("env", "has a variable with an empty name", None);
                continue;
            }
            if key.contains('=') || key.contains('\0') {
                self.error(&field, "name contains \"=\" or a NUL character", None);
                continue;
            }
            if key.trim() != key {
                self.whitespace_warning(&field, "name", false);
            }
            let raw = match value {
                Json::String(raw) => raw.clone(),
                // VS Code allows numbers (and `null` to unset a variable, which Tether cannot
                // express: the variable is simply not added).
                Json::Number(n) if ctx.editor => n.to_string(),
                Json::Null if ctx.editor => continue,
                other => {
                    self.wrong_type(
                        &field,
                        "a string",
                        other,
                        Some("put the value in quotes".into()),
                    );
                    continue;
                }
            };
            let expanded = self.expand(ctx, &field, &raw);
            self.whitespace(&field, "value", &raw, &expanded);
            self.no_nul(&field, &expanded.value);
            if is_secret_name(key) {
                self.secrets.push(expanded.value.clone());
            }
            out.push((key.clone(), expanded.value));
        }
        out
    }

    // ---- http / sse -------------------------------------------------------------------------

    fn remote_fields(
        &mut self,
        entry: &Json,
        ctx: &EntryContext<'_>,
        required: bool,
        out: &mut Fields,
    ) {
        match entry.get_present("url") {
            None if required => self.error(
                "url",
                "is missing",
                Some(r#"add "url": "https://…" (the server's MCP endpoint)"#.into()),
            ),
            None => {}
            Some(Json::String(raw)) => out.url = self.url("url", raw, ctx),
            Some(other) => self.wrong_type("url", "a string", other, None),
        }
        if let Some(headers) = entry.get_present("headers") {
            out.headers = self.headers(headers, ctx);
        }
    }

    pub(crate) fn url(&mut self, field: &str, raw: &str, ctx: &EntryContext<'_>) -> Option<Url> {
        let value = self.expand(ctx, field, raw);
        self.whitespace(field, "value", raw, &value);
        match parse_http_url(&value.value) {
            Ok(url) => {
                self.secrets.extend(url_secrets(&url));
                Some(url)
            }
            Err((message, mut hint)) => {
                if !value.missing.is_empty() {
                    hint = Some(format!(
                        "it still contains ${{{}}}, which is not set",
                        value.missing[0]
                    ));
                }
                self.error(field, message, hint);
                None
            }
        }
    }

    fn headers(&mut self, headers: &Json, ctx: &EntryContext<'_>) -> Vec<(String, String)> {
        let Json::Object(members) = headers else {
            self.wrong_type(
                "headers",
                "an object of strings",
                headers,
                Some(r#"write "headers": {"Authorization": "Bearer ${TOKEN}"}"#.into()),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, value) in members {
            let field = member("headers", name);
            if !is_header_name(name.trim()) {
                self.error(
                    &field,
                    "is not a valid HTTP header name",
                    Some("header names are letters, digits and !#$%&'*+-.^_`|~".into()),
                );
                continue;
            }
            if name.trim() != name {
                self.whitespace_warning(&field, "name", false);
            }
            let Json::String(raw) = value else {
                self.wrong_type(
                    &field,
                    "a string",
                    value,
                    Some("put the value in quotes".into()),
                );
                continue;
            };
            let expanded = self.expand(ctx, &field, raw);
            if expanded.value.chars().any(|c| c.is_control() && c != '\t') {
                let hint = expanded.used_variables().then(|| {
                    "check the environment variable it comes from (a trailing newline?)".to_owned()
                });
                self.error(
                    &field,
                    "contains a line break or control character, which HTTP does not allow",
                    hint,
                );
                continue;
            }
            self.whitespace(&field, "value", raw, &expanded);
            if is_secret_name(name) {
                self.secrets.push(expanded.value.clone());
            }
            out.push((name.clone(), expanded.value));
        }
        out
    }

    // ---- common -----------------------------------------------------------------------------

    fn tool_timeout_field(&mut self, entry: &Json) -> Option<Duration> {
        let value = entry.get_present("timeout")?;
        self.tool_timeout_ms("timeout", value)
    }

    fn disabled_field(&mut self, entry: &Json) -> bool {
        match entry.get_present("disabled") {
            None => false,
            Some(Json::Bool(b)) => *b,
            Some(other) => {
                self.wrong_type("disabled", "true or false", other, None);
                false
            }
        }
    }

    /// Record keys Tether does not read; warn when one looks like a misspelt known key or is a
    /// feature Tether lacks that changes what is sent (`envFile`, `headersHelper`).
    fn unknown_keys(&mut self, members: &[(String, Json)], kind: DeclaredType) -> Vec<String> {
        let mut ignored = Vec::new();
        for (key, value) in members {
            let for_other_transport = match kind {
                DeclaredType::Stdio => matches!(key.as_str(), "url" | "headers"),
                DeclaredType::Http | DeclaredType::Sse => {
                    matches!(key.as_str(), "command" | "args" | "env" | "cwd")
                }
                DeclaredType::Unknown => false,
            };
            if KNOWN_KEYS.contains(&key.as_str()) && !for_other_transport {
                continue;
            }
            ignored.push(key.clone());
            if for_other_transport {
                continue;
            }
            match key.as_str() {
                "envFile" => self.warn(
                    code::CONFIG_IGNORED_VALUE,
                    key,
                    "is not supported: the variables in that file are not set",
                    Some("move them into \"env\"".into()),
                ),
                "headersHelper" => self.warn(
                    code::CONFIG_IGNORED_VALUE,
                    key,
                    "is not supported: no dynamic headers are sent",
                    Some("put the headers in \"headers\", using ${VAR} for secrets".into()),
                ),
                "enabled" if matches!(value, Json::Bool(false)) => self.warn(
                    code::CONFIG_IGNORED_VALUE,
                    key,
                    "is not read, so the server is not disabled",
                    Some("write \"disabled\": true".into()),
                ),
                _ => {
                    let alias = ALIASES.iter().find(|(a, _)| a == key).map(|(_, k)| *k);
                    if let Some(known) = alias.or_else(|| closest(key, KNOWN_KEYS.iter().copied()))
                    {
                        self.warn(
                            code::CONFIG_IGNORED_VALUE,
                            key,
                            "is not a known key and is ignored",
                            Some(format!("did you mean `{known}`?")),
                        );
                    }
                }
            }
        }
        ignored
    }

    // ---- assembly ---------------------------------------------------------------------------

    fn finish(
        self,
        name: &str,
        source: &Source,
        kind: Option<DeclaredType>,
        fields: Fields,
        raw: RawTarget,
    ) -> ServerConfig {
        let transport = match self.problems.iter().find(|p| p.is_error()) {
            Some(first) => Err(first.clone()),
            None => assemble(kind, &fields).ok_or_else(|| {
                // Unreachable by construction (every missing piece is reported as an error);
                // kept as a problem rather than a panic.
                Problem {
                    code: code::CONFIG_INVALID,
                    severity: Severity::Error,
                    file: self.file.to_path_buf(),
                    server: self.server.map(str::to_owned),
                    field: None,
                    message: "entry is incomplete".into(),
                    hint: None,
                }
            }),
        };
        let options = fields.options;
        ServerConfig {
            name: name.to_owned(),
            source: source.clone(),
            disabled: fields.disabled,
            transport,
            problems: self.problems,
            // The Tether-specific option is the more deliberate one.
            tool_timeout: options.tool_timeout.or(fields.timeout),
            options,
            redactor: Redactor::new(&self.secrets),
            ignored_keys: fields.ignored_keys,
            raw,
        }
    }
}

fn assemble(kind: Option<DeclaredType>, fields: &Fields) -> Option<Transport> {
    let remote = || {
        Some(HttpSpec {
            url: fields.url.clone()?,
            headers: fields.headers.clone(),
            fallback_urls: fields.fallback_urls.clone(),
        })
    };
    match kind? {
        DeclaredType::Stdio => Some(Transport::Stdio(StdioSpec {
            command: fields.command.clone()?,
            args: fields.args.clone(),
            env: fields.env.clone(),
            cwd: fields.cwd.clone(),
        })),
        DeclaredType::Http => remote().map(Transport::Http),
        DeclaredType::Sse => remote().map(Transport::Sse),
        DeclaredType::Unknown => None,
    }
}

const SUPPORTED_TYPES_HINT: &str = r#"use "stdio", "http" (alias "streamable-http") or "sse""#;

fn unsupported_type(text: &str, meant: &str) -> (String, String) {
    (
        format!("unsupported type {}", quoted(text)),
        format!("did you mean \"{meant}\"?"),
    )
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// A path that may legitimately contain spaces (`/Applications/My App/bin/server`).
fn looks_like_path(command: &str) -> bool {
    let first = command.split(' ').next().unwrap_or_default();
    first.contains('/') || first.contains('\\')
}
