//! Behaviour of the crate as a whole: validation rules (exact messages), discovery and
//! precedence across real files, the VS Code format, and redaction end to end.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;

use crate::*;

const FILE: &str = "/p/.mcp.json";

fn env() -> MapEnv {
    MapEnv::new()
        .with("HOME", "/home/me")
        .with("API_KEY", "sk-live-4f9a8b7c")
        .with("HOST", "mcp.example.com")
        .with("PADDED", " padded-value ")
}

fn parse(text: &str) -> Vec<ServerConfig> {
    parse_str(text, Source::new(FILE, Scope::Project), &env()).expect("file-level error")
}

/// The single server `s` defined by `entry`.
fn one(entry: &str) -> ServerConfig {
    let mut servers = parse(&format!(r#"{{"mcpServers": {{"s": {entry}}}}}"#));
    assert_eq!(servers.len(), 1);
    servers.remove(0)
}

fn shown(server: &ServerConfig) -> Vec<String> {
    server.problems.iter().map(ToString::to_string).collect()
}

/// Asserts the entry is misconfigured with exactly this primary error (Display) and hint.
fn assert_error(entry: &str, display: &str, hint: Option<&str>) {
    let server = one(entry);
    let problem = server
        .transport
        .as_ref()
        .expect_err("expected a config error");
    assert_eq!(problem.to_string(), display, "in {entry}");
    assert_eq!(problem.hint.as_deref(), hint, "in {entry}");
    assert_eq!(problem.code, "config_invalid");
    assert_eq!(problem.severity, Severity::Error);
    assert!(server.problems.contains(problem));
}

/// Asserts the entry loads, with a warning of this code and Display.
fn assert_warning(entry: &str, code: &str, display: &str) -> Problem {
    let server = one(entry);
    assert!(server.transport.is_ok(), "{entry}: {:?}", server.problems);
    let found = server
        .problems
        .iter()
        .find(|p| p.to_string() == display)
        .unwrap_or_else(|| panic!("no `{display}` in {:?}", shown(&server)));
    assert_eq!(found.code, code);
    assert_eq!(found.severity, Severity::Warning);
    found.clone()
}

// ---- entries and transports -----------------------------------------------------------------

#[test]
fn stdio_entry_with_everything() {
    let s = one(
        r#"{"command": "npx", "args": ["-y", "pkg"], "env": {"A": "1"}, "cwd": "/srv",
            "timeout": 120000, "disabled": true}"#,
    );
    assert!(s.problems.is_empty(), "{:?}", shown(&s));
    let Ok(Transport::Stdio(spec)) = &s.transport else {
        panic!("{s:?}")
    };
    assert_eq!(spec.command, "npx");
    assert_eq!(spec.args, ["-y", "pkg"]);
    assert_eq!(spec.env, [("A".to_owned(), "1".to_owned())]);
    assert_eq!(spec.cwd.as_deref(), Some(Path::new("/srv")));
    assert_eq!(s.tool_timeout, Some(Duration::from_secs(120)));
    assert!(s.disabled);
    assert_eq!(s.transport_label(), "stdio");
    assert_eq!(s.display_target(), "npx -y pkg");
}

#[test]
fn http_aliases_and_sse() {
    for ty in ["http", "streamable-http"] {
        let s = one(&format!(
            r#"{{"type": "{ty}", "url": "https://h.example/mcp", "headers": {{"X-A": "b"}}}}"#
        ));
        let Ok(Transport::Http(spec)) = &s.transport else {
            panic!("{s:?}")
        };
        assert_eq!(spec.url.as_str(), "https://h.example/mcp");
        assert_eq!(spec.headers, [("X-A".to_owned(), "b".to_owned())]);
        assert_eq!(s.transport_label(), "http");
    }
    let s = one(r#"{"type": "sse", "url": "http://localhost:3000/sse"}"#);
    assert!(matches!(s.transport, Ok(Transport::Sse(_))));
    assert_eq!(s.transport_label(), "sse");
}

#[test]
fn servers_keep_file_order() {
    let servers = parse(
        r#"{"mcpServers": {"zeta": {"command": "z"}, "alpha": {"command": "a"}, "mid": {"command": "m"}}}"#,
    );
    let names: Vec<_> = servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
}

#[test]
fn tether_options() {
    let s = one(
        r#"{"type": "http", "url": "https://a.example/mcp", "timeout": 5000,
            "tether": {"restart": "never", "connect_timeout_ms": 10000, "tool_timeout_ms": 90000,
                       "idle_timeout_ms": 300000, "ping_interval_ms": 15000,
                       "fallback_urls": ["https://b.example/mcp"],
                       "tools": {"allow": ["read_*"], "deny": ["read_secret"]}}}"#,
    );
    assert!(s.problems.is_empty(), "{:?}", shown(&s));
    let o = &s.options;
    assert_eq!(o.restart, RestartPolicy::Never);
    assert_eq!(o.connect_timeout, Some(Duration::from_secs(10)));
    assert_eq!(o.tool_timeout, Some(Duration::from_secs(90)));
    assert_eq!(o.idle_timeout, Some(Duration::from_secs(300)));
    assert_eq!(o.ping_interval, Some(Duration::from_secs(15)));
    // The Tether option wins over the Claude Code field.
    assert_eq!(s.tool_timeout, Some(Duration::from_secs(90)));
    assert!(o.tools.permits("read_file"));
    assert!(!o.tools.permits("read_secret"));
    assert!(!o.tools.permits("write_file"));
    let Ok(Transport::Http(spec)) = &s.transport else {
        panic!()
    };
    assert_eq!(spec.fallback_urls[0].as_str(), "https://b.example/mcp");
}

#[test]
fn unknown_keys_are_kept_and_ignored() {
    let s = one(
        r#"{"command": "x", "oauth": {"clientId": "c"}, "alwaysLoad": true, "description": "d"}"#,
    );
    assert!(s.problems.is_empty(), "{:?}", shown(&s));
    assert!(s.transport.is_ok());
    assert_eq!(s.ignored_keys, ["oauth", "alwaysLoad", "description"]);
}

#[test]
fn null_fields_count_as_absent() {
    let s = one(r#"{"command": "x", "args": null, "env": null, "type": null}"#);
    assert!(s.problems.is_empty(), "{:?}", shown(&s));
    assert!(s.transport.is_ok());
}

// ---- validation rules: exact messages -------------------------------------------------------

#[test]
fn url_without_type_is_claude_codes_complaint() {
    assert_error(
        r#"{"url": "https://mcp.example.com/mcp"}"#,
        "/p/.mcp.json: server `s`: `url`: has a \"url\" but no \"type\"",
        Some("add \"type\": \"http\" (or \"sse\")"),
    );
    let s = one(r#"{"url": "https://mcp.example.com/mcp"}"#);
    assert_eq!(s.display_target(), "https://mcp.example.com/mcp");
    assert_eq!(s.transport_label(), "stdio");
    assert_eq!(s.problems.len(), 1, "{:?}", shown(&s));
}

#[test]
fn unsupported_types_name_the_supported_values() {
    assert_error(
        r#"{"type": "ws", "url": "wss://x.example/ws"}"#,
        "/p/.mcp.json: server `s`: `type`: \"ws\" (WebSocket) is not supported",
        Some("use the server's Streamable HTTP endpoint with \"type\": \"http\", if it has one"),
    );
    assert_error(
        r#"{"type": "grpc", "url": "https://x.example"}"#,
        "/p/.mcp.json: server `s`: `type`: unsupported type \"grpc\"",
        Some("use \"stdio\", \"http\" (alias \"streamable-http\") or \"sse\""),
    );
    assert_error(
        r#"{"type": "HTTP", "url": "https://x.example"}"#,
        "/p/.mcp.json: server `s`: `type`: unsupported type \"HTTP\"",
        Some("did you mean \"http\"?"),
    );
    assert_error(
        r#"{"type": 1, "command": "x"}"#,
        "/p/.mcp.json: server `s`: `type`: expected a string, found a number",
        Some("use \"stdio\", \"http\" (alias \"streamable-http\") or \"sse\""),
    );
    assert_eq!(
        one(r#"{"type": "ws", "url": "wss://x"}"#).transport_label(),
        "unknown"
    );
}

#[test]
fn missing_command_and_url() {
    assert_error(
        r#"{"args": ["x"]}"#,
        "/p/.mcp.json: server `s`: `command`: is missing",
        Some(
            "add \"command\": \"<program>\"; for a remote server add \"type\": \"http\" and \"url\"",
        ),
    );
    assert_error(
        r#"{"type": "stdio"}"#,
        "/p/.mcp.json: server `s`: `command`: is missing",
        Some(
            "add \"command\": \"<program>\"; for a remote server add \"type\": \"http\" and \"url\"",
        ),
    );
    assert_error(
        r#"{"command": ["npx", "-y", "pkg"]}"#,
        "/p/.mcp.json: server `s`: `command`: expected a string, found an array",
        Some(r#"put the program in "command" and the rest in "args": ["…"]"#),
    );
    assert_error(
        r#"{"command": "  "}"#,
        "/p/.mcp.json: server `s`: `command`: is empty",
        Some("name the program to run, e.g. \"npx\""),
    );
    assert_error(
        r#"{"type": "http"}"#,
        "/p/.mcp.json: server `s`: `url`: is missing",
        Some("add \"url\": \"https://…\" (the server's MCP endpoint)"),
    );
    assert_error(
        r#"{"type": "sse", "headers": {}}"#,
        "/p/.mcp.json: server `s`: `url`: is missing",
        Some("add \"url\": \"https://…\" (the server's MCP endpoint)"),
    );
}

#[test]
fn bad_urls() {
    assert_error(
        r#"{"type": "http", "url": "mcp.example.com/mcp"}"#,
        "/p/.mcp.json: server `s`: `url`: is not a valid URL (relative URL without a base)",
        Some("write an absolute URL, e.g. \"https://example.com/mcp\""),
    );
    assert_error(
        r#"{"type": "http", "url": "ws://x.example/mcp"}"#,
        "/p/.mcp.json: server `s`: `url`: uses the \"ws\" scheme; only http and https are supported",
        Some("WebSocket servers are not supported; use the server's HTTP endpoint"),
    );
    assert_error(
        r#"{"type": "http", "url": "https://h.example:${NOT_SET_PORT}/mcp"}"#,
        "/p/.mcp.json: server `s`: `url`: is not a valid URL (invalid port number)",
        Some("it still contains ${NOT_SET_PORT}, which is not set"),
    );
    assert_error(
        r#"{"type": "http", "url": 42}"#,
        "/p/.mcp.json: server `s`: `url`: expected a string, found a number",
        None,
    );
}

#[test]
fn args_must_be_an_array_of_strings() {
    assert_error(
        r#"{"command": "npx", "args": "-y pkg"}"#,
        "/p/.mcp.json: server `s`: `args`: expected an array of strings, found a string",
        Some("write one element per argument: \"args\": [\"-y\", \"package\"]"),
    );
    assert_error(
        r#"{"command": "srv", "args": ["--port", 8080]}"#,
        "/p/.mcp.json: server `s`: `args[1]`: expected a string, found a number",
        Some("put the value in quotes"),
    );
}

#[test]
fn env_and_headers_must_be_objects_of_strings() {
    assert_error(
        r#"{"command": "x", "env": ["A=1"]}"#,
        "/p/.mcp.json: server `s`: `env`: expected an object of strings, found an array",
        Some("write \"env\": {\"NAME\": \"value\"}"),
    );
    assert_error(
        r#"{"command": "x", "env": {"PORT": 8080}}"#,
        "/p/.mcp.json: server `s`: `env.PORT`: expected a string, found a number",
        Some("put the value in quotes"),
    );
    assert_error(
        r#"{"type": "http", "url": "https://h.example", "headers": "Authorization: x"}"#,
        "/p/.mcp.json: server `s`: `headers`: expected an object of strings, found a string",
        Some("write \"headers\": {\"Authorization\": \"Bearer ${TOKEN}\"}"),
    );
    assert_error(
        r#"{"type": "http", "url": "https://h.example", "headers": {"X-N": true}}"#,
        "/p/.mcp.json: server `s`: `headers.X-N`: expected a string, found a boolean",
        Some("put the value in quotes"),
    );
    assert_error(
        r#"{"type": "http", "url": "https://h.example", "headers": {"Bad Name": "v"}}"#,
        "/p/.mcp.json: server `s`: `headers[\"Bad Name\"]`: is not a valid HTTP header name",
        Some("header names are letters, digits and !#$%&'*+-.^_`|~"),
    );
}

#[test]
fn cwd_disabled_and_timeout_types() {
    assert_error(
        r#"{"command": "x", "cwd": ["/a"]}"#,
        "/p/.mcp.json: server `s`: `cwd`: expected a string, found an array",
        None,
    );
    assert_error(
        r#"{"command": "x", "disabled": "yes"}"#,
        "/p/.mcp.json: server `s`: `disabled`: expected true or false, found a string",
        None,
    );
    assert_error(
        r#"{"command": "x", "timeout": "60000"}"#,
        "/p/.mcp.json: server `s`: `timeout`: expected a number of milliseconds, found a string",
        Some("remove the quotes"),
    );
}

#[test]
fn wrong_types_in_tether_block() {
    assert_error(
        r#"{"command": "x", "tether": true}"#,
        "/p/.mcp.json: server `s`: `tether`: expected an object, found a boolean",
        None,
    );
    assert_error(
        r#"{"command": "x", "tether": {"restart": "always"}}"#,
        "/p/.mcp.json: server `s`: `tether.restart`: unsupported value \"always\"",
        Some("use \"on-failure\" or \"never\""),
    );
    assert_error(
        r#"{"command": "x", "tether": {"connect_timeout_ms": "5s"}}"#,
        "/p/.mcp.json: server `s`: `tether.connect_timeout_ms`: expected a number of milliseconds, found a string",
        None,
    );
    assert_error(
        r#"{"command": "x", "tether": {"tools": {"allow": "read_*"}}}"#,
        "/p/.mcp.json: server `s`: `tether.tools.allow`: expected an array of strings, found a string",
        None,
    );
    assert_error(
        r#"{"command": "x", "tether": {"tools": {"deny": ["a", 1]}}}"#,
        "/p/.mcp.json: server `s`: `tether.tools.deny[1]`: expected a string, found a number",
        None,
    );
    assert_error(
        r#"{"type": "http", "url": "https://a.example", "tether": {"fallback_urls": ["ftp://b"]}}"#,
        "/p/.mcp.json: server `s`: `tether.fallback_urls[0]`: uses the \"ftp\" scheme; only http and https are supported",
        Some("use an http:// or https:// URL"),
    );
}

#[test]
fn short_tool_timeouts_are_ignored_with_a_warning() {
    let p = assert_warning(
        r#"{"command": "x", "timeout": 30}"#,
        "config_ignored_value",
        "/p/.mcp.json: server `s`: `timeout`: is under 1000 ms and is ignored",
    );
    assert_eq!(
        p.hint.as_deref(),
        Some("the value is in milliseconds: 60000 is one minute")
    );
    assert_eq!(one(r#"{"command": "x", "timeout": 30}"#).tool_timeout, None);
    assert_warning(
        r#"{"command": "x", "tether": {"tool_timeout_ms": 999}}"#,
        "config_ignored_value",
        "/p/.mcp.json: server `s`: `tether.tool_timeout_ms`: is under 1000 ms and is ignored",
    );
    // An ignored Tether value falls back to `timeout`.
    let s = one(r#"{"command": "x", "timeout": 2000, "tether": {"tool_timeout_ms": 999}}"#);
    assert_eq!(s.tool_timeout, Some(Duration::from_secs(2)));
    assert_eq!(
        one(r#"{"command": "x", "timeout": 1000}"#).tool_timeout,
        Some(Duration::from_secs(1))
    );
}

#[test]
fn whitespace_is_named_not_echoed() {
    let p = assert_warning(
        r#"{"type": "http", "url": "https://h.example", "headers": {"Authorization": "Bearer tok-abc123 "}}"#,
        "config_whitespace",
        "/p/.mcp.json: server `s`: `headers.Authorization`: value has leading or trailing whitespace; it is used as written",
    );
    assert_eq!(p.hint.as_deref(), Some("remove the spaces around it"));
    // Not trimmed.
    let s = one(
        r#"{"type": "http", "url": "https://h.example", "headers": {"Authorization": "Bearer tok-abc123 "}}"#,
    );
    let Ok(Transport::Http(spec)) = &s.transport else {
        panic!()
    };
    assert_eq!(spec.headers[0].1, "Bearer tok-abc123 ");

    assert_warning(
        r#"{"command": " npx", "args": ["a"]}"#,
        "config_whitespace",
        "/p/.mcp.json: server `s`: `command`: value has leading or trailing whitespace; it is used as written",
    );
    assert_warning(
        r#"{"command": "npx", "args": ["-y", "pkg "]}"#,
        "config_whitespace",
        "/p/.mcp.json: server `s`: `args[1]`: value has leading or trailing whitespace; it is used as written",
    );
    assert_warning(
        r#"{"type": "sse", "url": " https://h.example/sse"}"#,
        "config_whitespace",
        "/p/.mcp.json: server `s`: `url`: value has leading or trailing whitespace; it is used as written",
    );
    assert_warning(
        r#"{"command": "x", "env": {"TOKEN ": "v"}}"#,
        "config_whitespace",
        "/p/.mcp.json: server `s`: `env[\"TOKEN \"]`: name has leading or trailing whitespace; it is used as written",
    );
    let p = assert_warning(
        r#"{"command": "x", "env": {"SECRET": "${PADDED}"}}"#,
        "config_whitespace",
        "/p/.mcp.json: server `s`: `env.SECRET`: value has leading or trailing whitespace; it is used as written",
    );
    assert_eq!(
        p.hint.as_deref(),
        Some("the whitespace comes from an environment variable's value; remove it there")
    );
    for p in one(r#"{"command": "x", "env": {"SECRET": "${PADDED}"}}"#).problems {
        assert!(!format!("{p} {:?}", p.hint).contains("padded-value"));
    }
}

#[test]
fn command_with_spaces_and_no_args() {
    let p = assert_warning(
        r#"{"command": "npx -y @scope/server"}"#,
        "config_whitespace",
        "/p/.mcp.json: server `s`: `command`: contains spaces but there are no \"args\": the whole text is run as one program name",
    );
    assert_eq!(
        p.hint.as_deref(),
        Some("split it: \"command\": \"npx\", \"args\": [\"-y\", \"@scope/server\"]")
    );
    // A path with spaces is fine.
    assert!(
        one(r#"{"command": "/Applications/My App/server"}"#)
            .problems
            .is_empty()
    );
}

#[test]
fn header_values_with_line_breaks_are_errors() {
    let text = r#"{"mcpServers": {"s": {"type": "http", "url": "https://h.example", "headers": {"Authorization": "Bearer ${NL}"}}}}"#;
    let env = MapEnv::new().with("NL", "abcd\n");
    let s = parse_str(text, Source::new(FILE, Scope::Project), &env)
        .unwrap()
        .remove(0);
    let p = s.transport.unwrap_err();
    assert_eq!(
        p.to_string(),
        "/p/.mcp.json: server `s`: `headers.Authorization`: contains a line break or control character, which HTTP does not allow"
    );
    assert_eq!(
        p.hint.as_deref(),
        Some("check the environment variable it comes from (a trailing newline?)")
    );
}

#[test]
fn server_names_outside_the_safe_set_are_warned() {
    let servers = parse(r#"{"mcpServers": {"my server.v2": {"command": "x"}}}"#);
    let p = &servers[0].problems[0];
    assert_eq!(
        p.to_string(),
        "/p/.mcp.json: server `my server.v2`: name has characters outside [A-Za-z0-9_-]; the gateway replaces them with `_`"
    );
    assert_eq!(p.code, "config_name");
    assert_eq!(p.hint.as_deref(), Some("rename it, e.g. to `my_server_v2`"));
    assert!(servers[0].transport.is_ok());
}

#[test]
fn entry_that_is_not_an_object() {
    assert_error(
        r#""npx server""#,
        "/p/.mcp.json: server `s`: entry is a string, expected an object",
        Some(r#"write "name": {"command": "…"} or "name": {"type": "http", "url": "…"}"#),
    );
    let s = one("[1]");
    assert_eq!(s.display_target(), "");
    assert_eq!(s.transport_label(), "unknown");
}

#[test]
fn one_bad_entry_does_not_stop_the_others() {
    let servers = parse(
        r#"{"mcpServers": {"good": {"command": "a"}, "bad": {"url": "https://x"}, "odd": 7,
            "also-good": {"type": "http", "url": "https://y.example"}}}"#,
    );
    let ok: Vec<_> = servers
        .iter()
        .map(|s| (s.name.as_str(), s.transport.is_ok()))
        .collect();
    assert_eq!(
        ok,
        [
            ("good", true),
            ("bad", false),
            ("odd", false),
            ("also-good", true)
        ]
    );
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let s = one(r#"{"command": "x", "args": [1], "env": {"A": 2}, "disabled": "no"}"#);
    let errors: Vec<_> = s.errors().filter_map(|p| p.field.clone()).collect();
    assert_eq!(errors, ["args[0]", "env.A", "disabled"]);
    assert_eq!(s.transport.unwrap_err().field.as_deref(), Some("args[0]"));
}

#[test]
fn likely_typos_and_unsupported_keys_warn() {
    let p = assert_warning(
        r#"{"command": "x", "arg": ["a"]}"#,
        "config_ignored_value",
        "/p/.mcp.json: server `s`: `arg`: is not a known key and is ignored",
    );
    assert_eq!(p.hint.as_deref(), Some("did you mean `args`?"));
    let p = assert_warning(
        r#"{"command": "x", "environment": {}}"#,
        "config_ignored_value",
        "/p/.mcp.json: server `s`: `environment`: is not a known key and is ignored",
    );
    assert_eq!(p.hint.as_deref(), Some("did you mean `env`?"));
    assert_warning(
        r#"{"command": "x", "envFile": ".env"}"#,
        "config_ignored_value",
        "/p/.mcp.json: server `s`: `envFile`: is not supported: the variables in that file are not set",
    );
    let p = assert_warning(
        r#"{"command": "x", "tether": {"tool_timeout": 5000}}"#,
        "config_ignored_value",
        "/p/.mcp.json: server `s`: `tether.tool_timeout`: is not a Tether option and is ignored",
    );
    assert_eq!(p.hint.as_deref(), Some("did you mean `tool_timeout_ms`?"));
    assert_warning(
        r#"{"command": "x", "tether": {"fallback_urls": ["https://b"]}}"#,
        "config_ignored_value",
        "/p/.mcp.json: server `s`: `tether.fallback_urls`: applies to http and sse servers only and is ignored",
    );
}

// ---- expansion ------------------------------------------------------------------------------

#[test]
fn variables_expand_in_every_documented_field() {
    let s = one(r#"{"type": "http", "url": "https://${HOST}/mcp",
            "headers": {"Authorization": "Bearer ${API_KEY}"},
            "tether": {"fallback_urls": ["https://${HOST:-x}/b"]}}"#);
    assert!(s.problems.is_empty(), "{:?}", shown(&s));
    let Ok(Transport::Http(spec)) = &s.transport else {
        panic!()
    };
    assert_eq!(spec.url.as_str(), "https://mcp.example.com/mcp");
    assert_eq!(spec.headers[0].1, "Bearer sk-live-4f9a8b7c");
    assert_eq!(spec.fallback_urls[0].as_str(), "https://mcp.example.com/b");

    let s = one(
        r#"{"command": "${TOOL_DIR:-/opt}/bin/srv", "args": ["--key", "${API_KEY}"],
            "env": {"KEY": "${API_KEY}"}, "cwd": "${HOME}/work"}"#,
    );
    let Ok(Transport::Stdio(spec)) = &s.transport else {
        panic!()
    };
    assert_eq!(spec.command, "/opt/bin/srv");
    assert_eq!(spec.args[1], "sk-live-4f9a8b7c");
    assert_eq!(spec.env[0].1, "sk-live-4f9a8b7c");
    assert_eq!(spec.cwd.as_deref(), Some(Path::new("/home/me/work")));
}

#[test]
fn missing_variables_warn_and_stay_as_written() {
    let s = one(
        r#"{"type": "http", "url": "https://h.example", "headers": {"Authorization": "Bearer ${GH_TOKEN}"}}"#,
    );
    let p = &s.problems[0];
    assert_eq!(
        p.to_string(),
        "/p/.mcp.json: server `s`: `headers.Authorization`: ${GH_TOKEN} is not set; the text is used as written"
    );
    assert_eq!(p.code, "env_var_missing");
    assert_eq!(
        p.hint.as_deref(),
        Some("set GH_TOKEN, or write ${GH_TOKEN:-default}")
    );
    let Ok(Transport::Http(spec)) = &s.transport else {
        panic!()
    };
    assert_eq!(spec.headers[0].1, "Bearer ${GH_TOKEN}");
}

#[test]
fn posix_forms_are_not_flagged() {
    let s = one(r#"{"command": "sh", "args": ["-c", "echo ${file%.txt} $HOME $"]}"#);
    assert!(s.problems.is_empty(), "{:?}", shown(&s));
}

// ---- VS Code and Cursor ---------------------------------------------------------------------

#[test]
fn vscode_format() {
    let text = r#"{
        // VS Code allows comments
        "inputs": [{"type": "promptString", "id": "pat", "password": true}],
        "servers": {
            "gh": {"type": "http", "url": "https://api.example.com/mcp/",
                   "headers": {"Authorization": "Bearer ${input:pat}"}},
            "remote": {"url": "https://r.example/mcp"},
            "local": {"command": "python", "args": ["${workspaceFolder}/server.py"],
                      "env": {"PORT": 8080, "KEY": "${env:API_KEY}", "UNSET": null}},
        },
    }"#;
    let source = Source::new("/w/app/.vscode/mcp.json", Scope::VsCode);
    let servers = parse_str(text, source, &env()).unwrap();
    let names: Vec<_> = servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["gh", "remote", "local"]);

    let gh = &servers[0];
    assert_eq!(
        gh.problems[0].to_string(),
        "/w/app/.vscode/mcp.json: server `gh`: `headers.Authorization`: ${input:pat} can only be resolved by VS Code; the text is used as written"
    );
    assert_eq!(gh.problems[0].code, "config_unsupported_variable");

    // VS Code reads `url` without `type` as a remote server.
    assert!(matches!(servers[1].transport, Ok(Transport::Http(_))));
    assert_eq!(servers[1].transport_label(), "http");

    let Ok(Transport::Stdio(spec)) = &servers[2].transport else {
        panic!("{:?}", servers[2])
    };
    assert_eq!(spec.args, ["/w/app/server.py"]);
    assert_eq!(
        spec.env,
        [
            ("PORT".to_owned(), "8080".to_owned()),
            ("KEY".to_owned(), "sk-live-4f9a8b7c".to_owned())
        ]
    );
}

#[test]
fn servers_key_in_any_file_uses_vscode_conventions() {
    let servers = parse(r#"{"servers": {"r": {"url": "https://r.example/mcp"}}}"#);
    assert!(servers[0].transport.is_ok());
}

#[test]
fn cursor_infers_remote_servers_from_url() {
    let text = r#"{"mcpServers": {"r": {"url": "http://localhost:3000/mcp"}}}"#;
    let servers = parse_str(
        text,
        Source::new("/h/.cursor/mcp.json", Scope::Cursor),
        &env(),
    )
    .unwrap();
    assert!(matches!(servers[0].transport, Ok(Transport::Http(_))));
}

// ---- file-level errors ----------------------------------------------------------------------

#[test]
fn json_syntax_error_names_line_and_column() {
    let text = "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\",}\n  }\n}";
    let err = parse_str(text, Source::new(FILE, Scope::Project), &env()).unwrap_err();
    assert_eq!(err.to_string(), "invalid JSON at `/p/.mcp.json:3:26`");
    let ConfigError::Syntax { line, column, .. } = &err else {
        panic!()
    };
    assert_eq!((*line, *column), (3, 26));
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn file_with_neither_key_is_an_error() {
    let err = parse_str(
        r#"{"servers_list": {}}"#,
        Source::new(FILE, Scope::Project),
        &env(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`/p/.mcp.json` has neither a \"mcpServers\" nor a \"servers\" key"
    );
    assert_eq!(
        err.hint().as_deref(),
        Some(
            "expected {\"mcpServers\": {…}} (Claude Code, Claude Desktop, Cursor) or {\"servers\": {…}} (VS Code)"
        )
    );
    let err = parse_str(
        r#"{"mcp": {"servers": {}}}"#,
        Source::new(FILE, Scope::Project),
        &env(),
    )
    .unwrap_err();
    assert!(err.hint().unwrap().contains("settings.json"));
}

#[test]
fn servers_must_be_an_object() {
    let err = parse_str(
        r#"{"mcpServers": []}"#,
        Source::new(FILE, Scope::Project),
        &env(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`/p/.mcp.json`: \"mcpServers\" is an array, expected an object"
    );
    let err = parse_str("[]", Source::new(FILE, Scope::Project), &env()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`/p/.mcp.json`: the document is an array, expected an object"
    );
}

// ---- redaction ------------------------------------------------------------------------------

#[test]
fn expanded_secrets_never_reach_output() {
    let secret = "sk-live-4f9a8b7c";
    let servers = parse(
        r#"{"mcpServers": {
            "remote": {"type": "http", "url": "https://mcp.example.com/mcp?key=${API_KEY}",
                       "headers": {"Authorization": "Bearer ${API_KEY}", "X-Other": "${API_KEY}"}},
            "local": {"command": "srv", "args": ["--api-key", "${API_KEY}", "--mode=${API_KEY}"],
                      "env": {"PLAIN": "${API_KEY}"}}}}"#,
    );
    for s in &servers {
        assert!(s.transport.is_ok(), "{:?}", shown(s));
        let target = s.display_target();
        assert!(!target.contains(secret), "{target}");
        for debug in [format!("{s:?}"), format!("{s:#?}")] {
            assert!(!debug.contains(secret), "{debug}");
        }
        let error = format!("server said: invalid key {secret} (Bearer {secret})");
        let redacted = s.redactor.redact(&error);
        assert!(!redacted.contains(secret), "{redacted}");
        assert!(
            redacted.starts_with("server said: invalid key *** ("),
            "{redacted}"
        );
    }
    assert_eq!(
        servers[0].display_target(),
        "https://mcp.example.com/mcp?key=***"
    );
    assert_eq!(
        servers[1].display_target(),
        "srv --api-key ${API_KEY} --mode=${API_KEY}"
    );
    let Ok(Transport::Http(spec)) = &servers[0].transport else {
        panic!()
    };
    assert_eq!(
        servers[0].redactor.redact_url(&spec.url),
        "https://mcp.example.com/mcp?key=***"
    );
    let headers = servers[0].redactor.redact_headers(&spec.headers);
    assert_eq!(headers[0].1, "***");
    assert_eq!(headers[1].1, "***");
}

#[test]
fn literal_credentials_are_structurally_redacted() {
    let s =
        one(r#"{"type": "http", "url": "https://user:hunter2-pass@h.example/mcp?token=abcd1234"}"#);
    assert_eq!(s.display_target(), "https://***@h.example/mcp?token=***");
    assert_eq!(
        s.redactor
            .redact("connect to https://h.example/mcp?token=abcd1234 failed for hunter2-pass"),
        "connect to https://h.example/mcp?token=*** failed for ***"
    );
    let s =
        one(r#"{"command": "docker", "args": ["run", "-e", "GITHUB_TOKEN=ghp_literal", "img"]}"#);
    assert_eq!(s.display_target(), "docker run -e GITHUB_TOKEN=*** img");
    assert_eq!(
        s.redactor.redact("bad credentials ghp_literal"),
        "bad credentials ***"
    );
}

#[test]
fn config_redactor_knows_every_server() {
    let config = Config {
        servers: parse(
            r#"{"mcpServers": {"a": {"command": "x", "env": {"TOKEN": "tok-aaaa"}},
                               "b": {"command": "y", "env": {"PASSWORD": "pw-bbbb"}}}}"#,
        ),
        ..Config::default()
    };
    assert_eq!(config.redactor().redact("tok-aaaa pw-bbbb"), "*** ***");
}

// ---- ad hoc targets -------------------------------------------------------------------------

#[test]
fn ad_hoc_targets() {
    let s = ServerConfig::ad_hoc_stdio(
        "/usr/bin/python3",
        vec!["server.py".into(), "--token".into(), "tk-12345".into()],
    );
    assert_eq!(s.name, "python3");
    assert_eq!(s.source.scope, Scope::CommandLine);
    assert_eq!(s.display_target(), "/usr/bin/python3 server.py --token ***");
    assert_eq!(s.redactor.redact("echo tk-12345"), "echo ***");

    let s = ServerConfig::ad_hoc_http(
        "https://mcp.example.com/mcp?api_key=k-9999",
        vec![("Authorization".into(), "Bearer sekrit-1".into())],
        false,
    )
    .unwrap();
    assert_eq!(s.name, "mcp.example.com");
    assert_eq!(s.transport_label(), "http");
    assert_eq!(
        s.display_target(),
        "https://mcp.example.com/mcp?api_key=***"
    );
    assert_eq!(s.redactor.redact("k-9999 sekrit-1"), "*** ***");
    assert!(
        ServerConfig::ad_hoc_http("https://x.example/sse", vec![], true)
            .unwrap()
            .transport_label()
            == "sse"
    );

    let p = ServerConfig::ad_hoc_http("localhost:3000", vec![], false).unwrap_err();
    assert_eq!(
        p.to_string(),
        "`url`: uses the \"localhost\" scheme; only http and https are supported"
    );
    let p = ServerConfig::ad_hoc_http("/mcp", vec![], false).unwrap_err();
    assert_eq!(
        p.to_string(),
        "`url`: is not a valid URL (relative URL without a base)"
    );
    assert!(ServerConfig::ad_hoc_stdio("", vec![]).transport.is_err());
}

// ---- discovery and precedence ---------------------------------------------------------------

/// A unique temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tether-config-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.0.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn options(tmp: &TempDir, env: MapEnv) -> LoadOptions {
    LoadOptions::new(tmp.0.join("proj"), Some(tmp.0.join("home")), Arc::new(env))
}

fn stdio(command: &str) -> String {
    format!(r#"{{"command": "{command}"}}"#)
}

#[test]
fn discovery_precedence_and_shadowing() {
    let tmp = TempDir::new();
    let cwd = tmp.0.join("proj");
    let claude = format!(
        r#"{{"numStartups": 3,
            "projects": {{"{}": {{"mcpServers": {{"a": {}, "local-only": {}}}}},
                          "/elsewhere": {{"mcpServers": {{"never": {}}}}}}},
            "mcpServers": {{"a": {}, "b": {}, "user-only": {}}}}}"#,
        cwd.display(),
        stdio("local-a"),
        stdio("l"),
        stdio("n"),
        stdio("user-a"),
        stdio("user-b"),
        stdio("u"),
    );
    tmp.write("home/.claude.json", &claude);
    tmp.write(
        "proj/.mcp.json",
        &format!(
            r#"{{"mcpServers": {{"a": {}, "b": {}, "c": {}}}}}"#,
            stdio("project-a"),
            stdio("project-b"),
            stdio("project-c")
        ),
    );
    tmp.write(
        "proj/.vscode/mcp.json",
        &format!(
            r#"{{"servers": {{"c": {}, "v": {}}}}}"#,
            stdio("vscode-c"),
            stdio("v")
        ),
    );
    tmp.write(
        "proj/.cursor/mcp.json",
        &format!(
            r#"{{"mcpServers": {{"v": {}, "cur": {}}}}}"#,
            stdio("cursor-v"),
            stdio("cur")
        ),
    );
    tmp.write(
        "home/.cursor/mcp.json",
        &format!(
            r#"{{"mcpServers": {{"cur": {}, "hc": {}}}}}"#,
            stdio("home-cur"),
            stdio("hc")
        ),
    );
    tmp.write(
        "home/.config/Claude/claude_desktop_config.json",
        &format!(
            r#"{{"mcpServers": {{"a": {}, "desk": {}}}}}"#,
            stdio("desktop-a"),
            stdio("desk")
        ),
    );

    let config = load(&options(&tmp, MapEnv::new())).unwrap();
    let got: Vec<(&str, String, Scope)> = config
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.display_target(), s.source.scope))
        .collect();
    let want = [
        ("a", "local-a", Scope::Local),
        ("local-only", "l", Scope::Local),
        ("b", "project-b", Scope::Project),
        ("c", "project-c", Scope::Project),
        ("user-only", "u", Scope::User),
        ("v", "v", Scope::VsCode),
        ("cur", "cur", Scope::Cursor),
        ("hc", "hc", Scope::Cursor),
        ("desk", "desk", Scope::Desktop),
    ];
    let want: Vec<(&str, String, Scope)> = want
        .iter()
        .map(|(n, t, s)| (*n, t.to_string(), *s))
        .collect();
    assert_eq!(got, want);

    let scopes: Vec<Scope> = config.sources.iter().map(|s| s.scope).collect();
    assert_eq!(
        scopes,
        [
            Scope::Local,
            Scope::Project,
            Scope::User,
            Scope::VsCode,
            Scope::Cursor,
            Scope::Cursor,
            Scope::Desktop
        ]
    );
    let shadowed: Vec<(&str, Scope)> = config
        .shadowed
        .iter()
        .map(|(n, s)| (n.as_str(), s.scope))
        .collect();
    assert_eq!(
        shadowed,
        [
            ("a", Scope::Project),
            ("a", Scope::User),
            ("b", Scope::User),
            ("c", Scope::VsCode),
            ("v", Scope::Cursor),
            ("cur", Scope::Cursor),
            ("a", Scope::Desktop),
        ]
    );
    assert_eq!(
        config.get("hc").unwrap().source.path,
        tmp.0.join("home/.cursor/mcp.json")
    );
    assert_eq!(config.suggest("loca-only"), Some("local-only"));
    assert_eq!(config.suggest("a"), None);
}

#[test]
fn missing_files_are_skipped() {
    let tmp = TempDir::new();
    let config = load(&options(&tmp, MapEnv::new())).unwrap();
    assert!(config.servers.is_empty() && config.sources.is_empty());
    let no_home = LoadOptions::new(tmp.0.join("proj"), None, Arc::new(MapEnv::new()));
    assert!(load(&no_home).unwrap().servers.is_empty());
}

#[test]
fn claude_json_without_servers_is_fine() {
    let tmp = TempDir::new();
    tmp.write("home/.claude.json", r#"{"numStartups": 1, "projects": {}}"#);
    let config = load(&options(&tmp, MapEnv::new())).unwrap();
    assert!(config.servers.is_empty());
}

#[test]
fn xdg_config_home_and_per_project_disabled_servers() {
    let tmp = TempDir::new();
    let cwd = tmp.0.join("proj");
    tmp.write(
        "home/.claude.json",
        &format!(
            r#"{{"projects": {{"{}/": {{"disabledMcpServers": ["desk"]}}}}}}"#,
            cwd.display()
        ),
    );
    tmp.write(
        "xdg/Claude/claude_desktop_config.json",
        &format!(r#"{{"mcpServers": {{"desk": {}}}}}"#, stdio("d")),
    );
    tmp.write(
        "home/.config/Claude/claude_desktop_config.json",
        &format!(r#"{{"mcpServers": {{"ignored": {}}}}}"#, stdio("i")),
    );
    let env = MapEnv::new().with("XDG_CONFIG_HOME", tmp.0.join("xdg").display().to_string());
    let config = load(&options(&tmp, env)).unwrap();
    let names: Vec<_> = config.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["desk"]);
    assert!(config.servers[0].disabled);
}

#[test]
fn explicit_files_replace_discovery() {
    let tmp = TempDir::new();
    tmp.write(
        "proj/.mcp.json",
        &format!(r#"{{"mcpServers": {{"discovered": {}}}}}"#, stdio("x")),
    );
    tmp.write(
        "proj/one.json",
        &format!(
            r#"{{"mcpServers": {{"a": {}, "b": {}}}}}"#,
            stdio("one-a"),
            stdio("one-b")
        ),
    );
    let two = tmp.write(
        "two.json",
        &format!(
            r#"{{"servers": {{"a": {}, "c": {}}}}}"#,
            stdio("two-a"),
            stdio("two-c")
        ),
    );
    let opts = options(&tmp, MapEnv::new()).with_explicit([PathBuf::from("one.json"), two.clone()]);
    let config = load(&opts).unwrap();
    let names: Vec<_> = config
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.display_target()))
        .collect();
    assert_eq!(
        names,
        [
            ("a", "one-a".to_owned()),
            ("b", "one-b".to_owned()),
            ("c", "two-c".to_owned())
        ]
    );
    assert_eq!(
        config.shadowed,
        [("a".to_owned(), Source::new(two, Scope::Explicit))]
    );
    assert_eq!(config.sources[0].path, tmp.0.join("proj/one.json"));

    let missing = options(&tmp, MapEnv::new()).with_explicit(["nope.json"]);
    let err = load(&missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot read `{}`", tmp.0.join("proj/nope.json").display())
    );
}

#[test]
fn a_broken_discovered_file_is_a_file_level_error() {
    let tmp = TempDir::new();
    tmp.write(
        "proj/.mcp.json",
        "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"}\n  \n",
    );
    let err = load(&options(&tmp, MapEnv::new())).unwrap_err();
    let path = tmp.0.join("proj/.mcp.json");
    assert_eq!(err.path(), path);
    assert_eq!(
        err.to_string(),
        format!("invalid JSON at `{}:5:0`", path.display())
    );

    let tmp = TempDir::new();
    tmp.write("proj/.vscode/mcp.json", r#"{"mcp": {"servers": {}}}"#);
    let err = load(&options(&tmp, MapEnv::new())).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::NoServers {
            vscode_settings: true,
            ..
        }
    ));
}

#[test]
fn load_options_debug_hides_the_environment() {
    let opts = LoadOptions::new(
        "/p",
        None,
        Arc::new(MapEnv::new().with("TOKEN", "tok-zzzz")),
    );
    assert!(!format!("{opts:?}").contains("tok-zzzz"));
}

// ---- robustness -----------------------------------------------------------------------------

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[ -~]{0,12}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("stdio"),
            Just("http"),
            Just("sse"),
            Just("https://h.example/${X}"),
            Just("${A:-${B}}"),
            Just(" padded "),
            Just("*"),
            Just("command"),
            Just("url"),
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("type".to_owned()),
                        Just("command".to_owned()),
                        Just("args".to_owned()),
                        Just("env".to_owned()),
                        Just("cwd".to_owned()),
                        Just("url".to_owned()),
                        Just("headers".to_owned()),
                        Just("timeout".to_owned()),
                        Just("disabled".to_owned()),
                        Just("tether".to_owned()),
                        Just("tools".to_owned()),
                        Just("allow".to_owned()),
                        Just("fallback_urls".to_owned()),
                        Just("restart".to_owned()),
                        "[a-z]{1,6}",
                    ],
                    inner,
                ),
                0..6,
            )
            .prop_map(|members| serde_json::Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_entries_never_panic(entry in arbitrary_json(), editor in any::<bool>()) {
        let text = serde_json::json!({"mcpServers": {"s": entry.clone(), "t": {"tether": entry}}}).to_string();
        let source = if editor {
            Source::new("/w/.vscode/mcp.json", Scope::VsCode)
        } else {
            Source::new(FILE, Scope::Project)
        };
        let servers = parse_str(&text, source, &env()).unwrap();
        for s in &servers {
            let _ = (s.display_target(), s.transport_label(), format!("{s:?}"));
            prop_assert_eq!(s.transport.is_err(), s.errors().next().is_some());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}", editor in any::<bool>()) {
        let source = if editor {
            Source::new("/w/.cursor/mcp.json", Scope::Cursor)
        } else {
            Source::new(FILE, Scope::Project)
        };
        let _ = parse_str(&text, source, &env());
    }
}
