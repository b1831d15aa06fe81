//! Per-entry bookkeeping shared by every rule: recording problems (with file, server and
//! field), expanding `${VAR}` while collecting secrets and missing-variable warnings, and the
//! generic type checks (`expected a string, found …`).

use std::path::Path;

use crate::expand::Expansion;
use crate::json::Json;
use crate::problem::{Problem, Severity, code};
use crate::validate::EntryContext;

/// Collects problems and secrets for one entry.
pub(crate) struct Checker<'a> {
    pub(crate) file: &'a Path,
    pub(crate) server: Option<&'a str>,
    pub(crate) problems: Vec<Problem>,
    /// Every value that must be masked in output (see [`crate::Redactor`]).
    pub(crate) secrets: Vec<String>,
}

impl<'a> Checker<'a> {
    /// A checker for `server` (`None` for command-line targets) in `file`.
    pub(crate) fn new(file: &'a Path, server: Option<&'a str>) -> Self {
        Checker {
            file,
            server,
            problems: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// Record a problem at `field` of this entry.
    pub(crate) fn push(
        &mut self,
        code: &'static str,
        severity: Severity,
        field: Option<&str>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.problems.push(Problem {
            code,
            severity,
            file: self.file.to_path_buf(),
            server: self.server.map(str::to_owned),
            field: field.map(str::to_owned),
            message: message.into(),
            hint,
        });
    }

    /// A `config_invalid` error at `field`.
    pub(crate) fn error(&mut self, field: &str, message: impl Into<String>, hint: Option<String>) {
        self.error_at(Some(field), message, hint);
    }

    /// A `config_invalid` error about the entry (`None`) or one field.
    pub(crate) fn error_at(
        &mut self,
        field: Option<&str>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(code::CONFIG_INVALID, Severity::Error, field, message, hint);
    }

    /// A warning with `code` at `field`.
    pub(crate) fn warn(
        &mut self,
        code: &'static str,
        field: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(code, Severity::Warning, Some(field), message, hint);
    }

    /// `expected <expected>, found <kind>`: never the value itself.
    pub(crate) fn wrong_type(
        &mut self,
        field: &str,
        expected: &str,
        found: &Json,
        hint: Option<String>,
    ) {
        self.error(
            field,
            format!("expected {expected}, found {}", found.kind()),
            hint,
        );
    }

    /// A number of milliseconds, or an error naming what was found instead.
    pub(crate) fn millis(&mut self, field: &str, value: &Json) -> Option<f64> {
        match value {
            Json::Number(n) => n.as_f64(),
            Json::String(s) if s.trim().parse::<f64>().is_ok() => {
                self.wrong_type(
                    field,
                    "a number of milliseconds",
                    value,
                    Some("remove the quotes".into()),
                );
                None
            }
            other => {
                self.wrong_type(field, "a number of milliseconds", other, None);
                None
            }
        }
    }

    /// The strings of an array, reporting non-strings; `(index, value)`.
    pub(crate) fn string_list(&mut self, field: &str, value: &Json) -> Vec<(usize, String)> {
        let Json::Array(items) = value else {
            if !matches!(value, Json::Null) {
                self.wrong_type(field, "an array of strings", value, None);
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Json::String(s) => out.push((i, s.clone())),
                other => self.wrong_type(&format!("{field}[{i}]"), "a string", other, None),
            }
        }
        out
    }

    /// Expand `raw` for `field`: warn about missing variables and editor-only references, and
    /// remember the substituted values as secrets.
    pub(crate) fn expand(&mut self, ctx: &EntryContext<'_>, field: &str, raw: &str) -> Expansion {
        let expansion = ctx.expander.expand(raw);
        for name in &expansion.missing {
            self.warn(
                code::ENV_VAR_MISSING,
                field,
                format!("${{{name}}} is not set; the text is used as written"),
                Some(format!("set {name}, or write ${{{name}:-default}}")),
            );
        }
        for reference in &expansion.unsupported {
            self.warn(
                code::CONFIG_UNSUPPORTED_VARIABLE,
                field,
                format!("{reference} can only be resolved by VS Code; the text is used as written"),
                Some("use ${env:NAME} and set NAME in the environment".into()),
            );
        }
        self.secrets.extend(expansion.secrets.iter().cloned());
        expansion
    }

    /// Leading or trailing whitespace, named without echoing the value (CONTRACT §1).
    pub(crate) fn whitespace(&mut self, field: &str, what: &str, raw: &str, value: &Expansion) {
        if value.value.trim() != value.value {
            let from_variable = raw.trim() == raw;
            self.whitespace_warning(field, what, from_variable);
        }
    }

    /// The `config_whitespace` warning; the hint says whether a variable brought the whitespace.
    pub(crate) fn whitespace_warning(&mut self, field: &str, what: &str, from_variable: bool) {
        let hint = if from_variable {
            "the whitespace comes from an environment variable's value; remove it there"
        } else {
            "remove the spaces around it"
        };
        self.warn(
            code::CONFIG_WHITESPACE,
            field,
            format!("{what} has leading or trailing whitespace; it is used as written"),
            Some(hint.into()),
        );
    }

    /// NUL cannot be passed in argv or the environment: an error rather than a spawn failure.
    pub(crate) fn no_nul(&mut self, field: &str, value: &str) {
        if value.contains('\0') {
            self.error(
                field,
                "contains a NUL character, which cannot be passed to a process",
                None,
            );
        }
    }
}

pub(crate) fn as_str(json: &Json) -> Option<&str> {
    match json {
        Json::String(s) => Some(s),
        _ => None,
    }
}

/// `parent.key`, or `parent["key"]` when the key would read ambiguously.
pub(crate) fn member(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{key:?}]")
    }
}

/// A short, escaped, quoted rendering of a non-secret value (a `type`, a scheme).
pub(crate) fn quoted(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() > MAX {
        let short: String = text.chars().take(MAX).collect();
        format!("{:?}…", short)
    } else {
        format!("{text:?}")
    }
}
