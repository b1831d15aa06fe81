//! File-level failures: a configuration file that cannot be used at all.
//!
//! Problems with one server entry are not errors of this kind: they become [`crate::Problem`]s on
//! that server so the other entries still load. A `ConfigError` stops loading (the CLI exits 2).

use std::io;
use std::path::{Path, PathBuf};

/// A configuration file that could not be read, parsed or understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file exists (or was named with `--config`) but could not be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not valid JSON.
    #[error("invalid JSON at `{}:{line}:{column}`", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first error.
        line: usize,
        /// 1-based column (in bytes) of the first error.
        column: usize,
        /// The parser's description.
        #[source]
        source: serde_json::Error,
    },
    /// The file is JSON but has neither `mcpServers` nor `servers` at the top level.
    #[error("`{}` has neither a \"mcpServers\" nor a \"servers\" key", path.display())]
    NoServers {
        /// The file.
        path: PathBuf,
        /// Set when the file looks like VS Code `settings.json` (`"mcp": {"servers": …}`).
        vscode_settings: bool,
    },
    /// A value that must be an object (the document itself, `mcpServers`, `servers`,
    /// `projects[…].mcpServers`) is something else.
    #[error("`{}`: {what} is {found}, expected an object", path.display())]
    NotAnObject {
        /// The file.
        path: PathBuf,
        /// Which value: `the document`, `"mcpServers"`, ...
        what: String,
        /// What it is instead: `an array`, `a string`, ...
        found: &'static str,
    },
}

impl ConfigError {
    /// The error class of CONTRACT §3: always `config` (never retried).
    pub fn class(&self) -> &'static str {
        match self {
            ConfigError::Read { .. }
            | ConfigError::Syntax { .. }
            | ConfigError::NoServers { .. }
            | ConfigError::NotAnObject { .. } => "config",
        }
    }

    /// The finding code (CONTRACT §6): always `config_invalid`.
    pub fn code(&self) -> &'static str {
        crate::problem::code::CONFIG_INVALID
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ConfigError::Read { path, .. }
            | ConfigError::Syntax { path, .. }
            | ConfigError::NoServers { path, .. }
            | ConfigError::NotAnObject { path, .. } => path,
        }
    }

    /// A concrete fix, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { .. } => {
                Some("fix the JSON syntax at that position (editors can point at it too)".into())
            }
            ConfigError::NoServers {
                vscode_settings: true,
                ..
            } => Some(
                "this looks like VS Code settings.json; move the servers to .vscode/mcp.json \
                 as {\"servers\": {…}}"
                    .into(),
            ),
            ConfigError::NoServers { .. } => Some(
                "expected {\"mcpServers\": {…}} (Claude Code, Claude Desktop, Cursor) or \
                 {\"servers\": {…}} (VS Code)"
                    .into(),
            ),
            ConfigError::NotAnObject { .. } => Some(
                "write servers as an object keyed by name: {\"mcpServers\": {\"name\": {…}}}"
                    .into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_path_and_position() {
        let source = serde_json::from_str::<serde_json::Value>("{,}").unwrap_err();
        let err = ConfigError::Syntax {
            path: "/p/.mcp.json".into(),
            line: 1,
            column: 2,
            source,
        };
        assert_eq!(err.to_string(), "invalid JSON at `/p/.mcp.json:1:2`");
        assert_eq!(err.class(), "config");
        assert_eq!(err.code(), "config_invalid");
    }

    #[test]
    fn no_servers_names_the_expected_keys() {
        let err = ConfigError::NoServers {
            path: "/p/x.json".into(),
            vscode_settings: false,
        };
        assert_eq!(
            err.to_string(),
            "`/p/x.json` has neither a \"mcpServers\" nor a \"servers\" key"
        );
        assert!(err.hint().unwrap().contains("\"mcpServers\""));
    }
}
