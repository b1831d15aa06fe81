//! Targets given on the command line (`tether doctor --url …`, `tether doctor -- CMD …`): no
//! file, no expansion (the shell already did it), the same checks where they apply.

use std::path::{Path, PathBuf};

use crate::check::{Checker, member};
use crate::endpoint::{is_header_name, parse_http_url, url_secrets};
use crate::entry::{
    DeclaredType, HttpSpec, RawTarget, ServerConfig, StdioSpec, TetherOptions, Transport,
};
use crate::problem::Problem;
use crate::redact::{Redactor, is_secret_name, secret_arg_values};
use crate::source::Source;

/// Validate a command-line HTTP target (`tether doctor --url …`).
#[expect(
    clippy::result_large_err,
    reason = "mirrors ServerConfig::ad_hoc_http; built once per command"
)]
pub(crate) fn ad_hoc_http(
    url: &str,
    headers: Vec<(String, String)>,
    sse: bool,
) -> Result<ServerConfig, Problem> {
    let no_file = PathBuf::new();
    let mut c = Checker::new(&no_file, None);
    let parsed = match parse_http_url(url) {
        Ok(parsed) => parsed,
        Err((message, hint)) => {
            c.error("url", message, hint);
            return Err(c.problems.remove(0));
        }
    };
    c.secrets.extend(url_secrets(&parsed));
    for (name, value) in &headers {
        if !is_header_name(name) {
            c.error(
                &member("headers", name),
                "is not a valid HTTP header name",
                None,
            );
        } else if value.chars().any(|ch| ch.is_control() && ch != '\t') {
            c.error(
                &member("headers", name),
                "contains a line break or control character",
                None,
            );
        } else if is_secret_name(name) {
            c.secrets.push(value.clone());
        }
    }
    if let Some(first) = c.problems.first() {
        return Err(first.clone());
    }
    let name = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .unwrap_or("ad-hoc")
        .to_owned();
    let spec = HttpSpec {
        url: parsed,
        headers,
        fallback_urls: Vec::new(),
    };
    let declared = if sse {
        DeclaredType::Sse
    } else {
        DeclaredType::Http
    };
    Ok(ServerConfig {
        name,
        source: Source::command_line(),
        disabled: false,
        transport: Ok(if sse {
            Transport::Sse(spec)
        } else {
            Transport::Http(spec)
        }),
        problems: Vec::new(),
        tool_timeout: None,
        options: TetherOptions::default(),
        redactor: Redactor::new(&c.secrets),
        ignored_keys: Vec::new(),
        raw: RawTarget {
            declared,
            command: None,
            args: Vec::new(),
            url: Some(url.to_owned()),
        },
    })
}

/// A command-line stdio target (`tether doctor -- CMD ARGS…`).
pub(crate) fn ad_hoc_stdio(command: String, args: Vec<String>) -> ServerConfig {
    let name = Path::new(&command)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "ad-hoc".to_owned());
    let no_file = PathBuf::new();
    let mut c = Checker::new(&no_file, None);
    if command.trim().is_empty() {
        c.error(
            "command",
            "is empty",
            Some("name the program to run".into()),
        );
    }
    let secrets = secret_arg_values(&args);
    let transport = match c.problems.first() {
        Some(problem) => Err(problem.clone()),
        None => Ok(Transport::Stdio(StdioSpec {
            command: command.clone(),
            args: args.clone(),
            env: Vec::new(),
            cwd: None,
        })),
    };
    ServerConfig {
        name,
        source: Source::command_line(),
        disabled: false,
        transport,
        problems: c.problems,
        tool_timeout: None,
        options: TetherOptions::default(),
        redactor: Redactor::new(&secrets),
        ignored_keys: Vec::new(),
        raw: RawTarget {
            declared: DeclaredType::Stdio,
            command: Some(command),
            args,
            url: None,
        },
    }
}
