//! Reads MCP server configurations as people already have them — Claude Code (`.mcp.json`,
//! `~/.claude.json`), Claude Desktop, VS Code (`.vscode/mcp.json`) and Cursor — and turns each
//! entry into a validated [`ServerConfig`], with every problem named precisely.
//!
//! Pure library: reads files, nothing else (no network, no async runtime, no printing). The
//! environment, home and working directory are injected through [`LoadOptions`] so tests never
//! touch the real process.
//!
//! ```text
//!  --config F… ─┐
//!  discovery ───┴─► document (file-level: JSON, keys) ─► validate (per entry: types,
//!                   ConfigError on failure               ${VAR}, rules, secrets) ─► Config
//! ```
//!
//! # Problems
//! A file that cannot be used is a [`ConfigError`] (the CLI exits 2). Everything else is a
//! [`Problem`] on one server, and one bad entry never prevents the others from loading; a server
//! with an error has `transport: Err(first error)` and is `misconfigured`. Codes
//! (see [`problem::code`]):
//!
//! | code | severity | when |
//! |---|---|---|
//! | `config_invalid` | error | missing/mistyped field, unsupported `type`, bad URL, `url` without `type`, ... |
//! | `env_var_missing` | warning | `${VAR}` without default names an unset variable (text used as written) |
//! | `config_whitespace` | warning | leading/trailing whitespace in `command`, `url`, `args[]`, env/header names and values; a `command` with spaces and no `args` |
//! | `config_ignored_value` | warning | tool timeout < 1000 ms, option not applicable to the transport, unknown `tether.*` key, likely misspelt entry key, unsupported `envFile` / `headersHelper` |
//! | `config_name` | warning | server name outside `[A-Za-z0-9_-]` |
//! | `config_unsupported_variable` | warning | VS Code `${input:…}` / `${command:…}` / `${config:…}` |
//!
//! # Secrets
//! Values expanded from environment variables, secret-named env and header values, and URL
//! credentials are collected per server in its [`Redactor`]; `display_target` shows the target
//! as written (unexpanded) and structurally redacted; Debug output never shows them.

mod adhoc;
mod check;
mod config;
mod discover;
mod document;
mod endpoint;
mod entry;
mod env;
mod error;
mod expand;
mod filter;
mod json;
mod options;
pub mod problem;
mod redact;
mod source;
mod suggest;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use config::Config;
pub use discover::{LoadOptions, load};
pub use entry::{HttpSpec, RestartPolicy, ServerConfig, StdioSpec, TetherOptions, Transport};
pub use env::{Env, MapEnv, ProcessEnv};
pub use error::ConfigError;
pub use filter::ToolFilter;
pub use problem::{Problem, Severity, code};
pub use redact::{MASK, Redactor, is_secret_name};
pub use source::{Scope, Source};

/// Parse one file's text as if read from `source`: its top-level `mcpServers` and/or `servers`.
/// (`~/.claude.json`'s per-project servers are only read by [`load`], which knows the project
/// directory.) `${userHome}` in VS Code files comes from `HOME` in `env`.
pub fn parse_str(
    text: &str,
    source: Source,
    env: &dyn Env,
) -> Result<Vec<ServerConfig>, ConfigError> {
    let home = env::home_from(env);
    document::parse_servers(text, &source, env, home.as_deref().map(Path::new))
}
