//! Per-entry findings: what is wrong (or suspicious) with one server entry, and where.
//!
//! A [`Problem`] never carries a configured *value*: messages name files, servers, fields and
//! variable names only, so they can be printed and logged without redaction.

use std::fmt;
use std::path::PathBuf;

/// Stable problem codes. They are part of Tether's finding vocabulary (CONTRACT §6): new codes may
/// be added, existing ones are never renamed.
pub mod code {
    /// An error: the entry cannot be used as written (missing or mistyped field, unsupported
    /// `type`, unparsable URL, ...). The server is `misconfigured`.
    pub const CONFIG_INVALID: &str = "config_invalid";
    /// A warning: `${VAR}` without a default names a variable that is not set; the text is used
    /// as written.
    pub const ENV_VAR_MISSING: &str = "env_var_missing";
    /// A warning: leading or trailing whitespace in `command`, `url`, `args[]`, or an `env` /
    /// `headers` name or value. The value is used as written, not trimmed.
    pub const CONFIG_WHITESPACE: &str = "config_whitespace";
    /// A warning: a value or key is ignored (a tool timeout under 1000 ms, an option that does
    /// not apply to this transport, an unknown key that looks like a typo).
    pub const CONFIG_IGNORED_VALUE: &str = "config_ignored_value";
    /// A warning: the server name has characters outside `[A-Za-z0-9_-]`; the gateway will
    /// sanitise it when it builds tool names.
    pub const CONFIG_NAME: &str = "config_name";
    /// A warning: a VS Code `${input:…}`, `${command:…}` or `${config:…}` reference that only
    /// VS Code can resolve (it prompts or runs editor commands); the text is used as written.
    pub const CONFIG_UNSUPPORTED_VARIABLE: &str = "config_unsupported_variable";
}

/// How bad a [`Problem`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The entry cannot be used: the server is `misconfigured`.
    Error,
    /// The entry is used, but something is probably not what the user meant.
    Warning,
}

impl Severity {
    /// The lowercase name used in JSON output (`error` / `warning`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding about one server entry.
///
/// Display: ``<file>: server `<name>`: `<field>`: <message>``, each part omitted when absent. The
/// hint is not part of Display: the CLI prints it on its own `hint:` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// A code from [`code`].
    pub code: &'static str,
    /// Error (the server is misconfigured) or warning.
    pub severity: Severity,
    /// The file the entry came from (empty for targets given on the command line).
    pub file: PathBuf,
    /// The server name, when the problem belongs to one entry.
    pub server: Option<String>,
    /// The field path inside the entry, e.g. `url`, `args[2]`, `headers.Authorization`,
    /// `tether.tools.allow[0]`.
    pub field: Option<String>,
    /// What is wrong, as a lowercase fragment. Never contains a configured value.
    pub message: String,
    /// A concrete fix, when there is one.
    pub hint: Option<String>,
}

impl Problem {
    /// Whether this problem makes the server unusable.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `<field>: <message>` (just the message when there is no field): the short form for a
    /// status line such as `✘ Config error: url: has a "url" but no "type"`.
    pub fn summary(&self) -> String {
        match &self.field {
            Some(field) => format!("{field}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.as_os_str().is_empty() {
            write!(f, "{}: ", self.file.display())?;
        }
        if let Some(server) = &self.server {
            write!(f, "server `{server}`: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(server: Option<&str>, field: Option<&str>) -> Problem {
        Problem {
            code: code::CONFIG_INVALID,
            severity: Severity::Error,
            file: PathBuf::from("/p/.mcp.json"),
            server: server.map(str::to_owned),
            field: field.map(str::to_owned),
            message: "is missing".into(),
            hint: None,
        }
    }

    #[test]
    fn display_includes_every_present_part() {
        assert_eq!(
            problem(Some("db"), Some("command")).to_string(),
            "/p/.mcp.json: server `db`: `command`: is missing"
        );
    }

    #[test]
    fn summary_is_field_and_message() {
        assert_eq!(
            problem(Some("db"), Some("command")).summary(),
            "command: is missing"
        );
        assert_eq!(problem(Some("db"), None).summary(), "is missing");
    }

    #[test]
    fn display_omits_absent_parts() {
        assert_eq!(
            problem(Some("db"), None).to_string(),
            "/p/.mcp.json: server `db`: is missing"
        );
        assert_eq!(problem(None, None).to_string(), "/p/.mcp.json: is missing");
        let mut p = problem(Some("x"), Some("url"));
        p.file = PathBuf::new();
        assert_eq!(p.to_string(), "server `x`: `url`: is missing");
    }
}
