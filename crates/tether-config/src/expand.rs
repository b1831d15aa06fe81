//! `${VAR}` expansion, as Claude Code does it, plus VS Code's `${env:VAR}` and predefined
//! variables in VS Code-format files.
//!
//! Supported: `${VAR}`, `${VAR:-default}` (the default is used when `VAR` is unset *or empty*, as
//! in POSIX shells, and may itself contain `${…}`), `${env:VAR}`. Everything else that looks like
//! a shell expansion (`${var%pattern}`, `${#var}`, `$VAR`, a lone `$`) is left exactly as written
//! and not reported: since Claude Code 2.1.141 such forms are not flagged, and configs rely on it.

use std::path::PathBuf;

use crate::env::Env;

/// Defaults may nest (`${A:-${B:-x}}`); past this depth the default is used verbatim, so a
/// hostile file cannot exhaust the stack.
const MAX_DEPTH: usize = 8;

/// Variables that name places and the login, never credentials. Their values are not registered
/// as secrets: masking `/home/me` would turn every path in a diagnostic into `***/…` and hide
/// nothing.
const NOT_SECRET: &[&str] = &[
    "HOME",
    "USERPROFILE",
    "PWD",
    "TMPDIR",
    "TMP",
    "TEMP",
    "PATH",
    "USER",
    "USERNAME",
    "LOGNAME",
    "SHELL",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
    "APPDATA",
    "LOCALAPPDATA",
    "CLAUDE_PROJECT_DIR",
];

/// VS Code's predefined variables, available in VS Code-format files only.
#[derive(Clone, Debug, Default)]
pub(crate) struct EditorVars {
    /// `${workspaceFolder}`: the folder holding `.vscode/mcp.json`.
    pub workspace_folder: Option<PathBuf>,
    /// `${userHome}`.
    pub user_home: Option<PathBuf>,
}

/// Expands strings against one environment.
pub(crate) struct Expander<'a> {
    env: &'a dyn Env,
    editor: Option<EditorVars>,
}

/// The result of expanding one string.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Expansion {
    /// The text with every resolvable reference replaced.
    pub value: String,
    /// Values that came from environment variables (other than the few in [`NOT_SECRET`]):
    /// these are secrets.
    pub secrets: Vec<String>,
    /// Variables referenced without a default that are not set (the reference stays as written).
    pub missing: Vec<String>,
    /// Editor-only references (`${input:id}` ...) left as written.
    pub unsupported: Vec<String>,
    /// Whether any environment variable's value was substituted.
    pub from_env: bool,
}

impl Expansion {
    /// Whether any part of the value came from a variable (so whitespace in it may too).
    pub(crate) fn used_variables(&self) -> bool {
        self.from_env
    }
}

impl<'a> Expander<'a> {
    /// An expander for Claude Code-format files.
    pub(crate) fn new(env: &'a dyn Env) -> Self {
        Expander { env, editor: None }
    }

    /// An expander that also knows VS Code's predefined variables.
    pub(crate) fn with_editor_vars(env: &'a dyn Env, vars: EditorVars) -> Self {
        Expander {
            env,
            editor: Some(vars),
        }
    }

    /// Expand every reference in `text`.
    pub(crate) fn expand(&self, text: &str) -> Expansion {
        let mut out = Expansion::default();
        out.value = self.expand_at(text, 0, &mut out);
        out
    }

    fn expand_at(&self, text: &str, depth: usize, out: &mut Expansion) -> String {
        let mut result = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            result.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = closing_brace(after) else {
                // An unterminated `${` is plain text.
                result.push_str(&rest[start..]);
                return result;
            };
            let inner = &after[..end];
            match self.resolve(inner, depth, out) {
                Some(value) => result.push_str(&value),
                None => result.push_str(&rest[start..start + 2 + end + 1]),
            }
            rest = &after[end + 1..];
        }
        result.push_str(rest);
        result
    }

    /// The replacement for `${inner}`, or `None` to leave it as written.
    fn resolve(&self, inner: &str, depth: usize, out: &mut Expansion) -> Option<String> {
        for prefix in ["input:", "command:", "config:"] {
            if inner.starts_with(prefix) {
                out.unsupported.push(format!("${{{inner}}}"));
                return None;
            }
        }
        let (inner, env_form) = match inner.strip_prefix("env:") {
            Some(rest) => (rest, true),
            None => (inner, false),
        };
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if !env_form
            && default.is_none()
            && let Some(value) = self.editor_var(name)
        {
            return Some(value);
        }
        if !is_identifier(name) {
            return None;
        }
        match (self.env.var(name), default) {
            (Some(value), Some(_)) if value.is_empty() => {
                default.map(|d| self.default(d, depth, out))
            }
            (Some(value), _) => {
                out.from_env = true;
                if !NOT_SECRET.contains(&name) {
                    out.secrets.push(value.clone());
                }
                Some(value)
            }
            (None, Some(d)) => Some(self.default(d, depth, out)),
            (None, None) => {
                if !out.missing.iter().any(|m| m == name) {
                    out.missing.push(name.to_owned());
                }
                None
            }
        }
    }

    fn default(&self, text: &str, depth: usize, out: &mut Expansion) -> String {
        if depth < MAX_DEPTH {
            self.expand_at(text, depth + 1, out)
        } else {
            text.to_owned()
        }
    }

    fn editor_var(&self, name: &str) -> Option<String> {
        let vars = self.editor.as_ref()?;
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        match name {
            "workspaceFolder" => path(&vars.workspace_folder),
            "workspaceFolderBasename" => vars
                .workspace_folder
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned()),
            "userHome" => path(&vars.user_home),
            "pathSeparator" | "/" => Some(std::path::MAIN_SEPARATOR.to_string()),
            _ => None,
        }
    }
}

/// Index of the `}` closing a `${`, counting nested braces so `${A:-${B}}` and `${A:-{x}}`
/// close where a reader expects.
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Shell variable names: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    fn env() -> MapEnv {
        MapEnv::new()
            .with("HOST", "example.com")
            .with("TOKEN", "sk-secret")
            .with("EMPTY", "")
    }

    fn expand(text: &str) -> Expansion {
        Expander::new(&env()).expand(text)
    }

    #[test]
    fn plain_variable_expands_and_is_a_secret() {
        let e = expand("https://${HOST}/mcp");
        assert_eq!(e.value, "https://example.com/mcp");
        assert_eq!(e.secrets, ["example.com"]);
        assert!(e.missing.is_empty());
    }

    #[test]
    fn location_variables_are_not_secrets() {
        let env = MapEnv::new()
            .with("HOME", "/home/me")
            .with("TMPDIR", "/tmp/x");
        let e = Expander::new(&env).expand("${HOME}/bin:${TMPDIR}");
        assert_eq!(e.value, "/home/me/bin:/tmp/x");
        assert!(e.secrets.is_empty());
    }

    #[test]
    fn default_applies_when_unset_or_empty() {
        assert_eq!(expand("${NOPE:-fallback}").value, "fallback");
        assert_eq!(expand("${EMPTY:-fallback}").value, "fallback");
        assert_eq!(expand("${HOST:-fallback}").value, "example.com");
        assert_eq!(expand("${NOPE:-}").value, "");
        assert!(expand("${NOPE:-x}").missing.is_empty());
    }

    #[test]
    fn set_but_empty_variable_without_default_is_empty() {
        let e = expand("a${EMPTY}b");
        assert_eq!(e.value, "ab");
        assert!(e.missing.is_empty());
    }

    #[test]
    fn missing_variable_is_reported_and_left_as_written() {
        let e = expand("Bearer ${API_KEY} ${API_KEY}");
        assert_eq!(e.value, "Bearer ${API_KEY} ${API_KEY}");
        assert_eq!(e.missing, ["API_KEY"]);
    }

    #[test]
    fn nested_braces_in_defaults() {
        assert_eq!(expand("${NOPE:-${HOST}}").value, "example.com");
        assert_eq!(expand("${NOPE:-${ALSO_NOPE:-deep}}").value, "deep");
        assert_eq!(expand("${NOPE:-{json}}").value, "{json}");
        let e = expand("${NOPE:-${MISSING}}");
        assert_eq!(e.value, "${MISSING}");
        assert_eq!(e.missing, ["MISSING"]);
    }

    #[test]
    fn lone_dollar_and_bare_dollar_names_are_text() {
        for text in ["$", "cost: $5", "$HOST", "$$", "${", "${HOST", "a}b", "${}"] {
            let e = expand(text);
            assert_eq!(e.value, text);
            assert!(e.missing.is_empty(), "{text}");
        }
    }

    #[test]
    fn posix_forms_are_left_alone_and_not_flagged() {
        for text in [
            "${var%pattern}",
            "${#var}",
            "${var/a/b}",
            "${var:=x}",
            "${1}",
        ] {
            let e = expand(text);
            assert_eq!(e.value, text);
            assert!(e.missing.is_empty(), "{text}");
        }
    }

    #[test]
    fn vscode_env_form() {
        assert_eq!(expand("${env:HOST}").value, "example.com");
        assert_eq!(expand("${env:NOPE}").missing, ["NOPE"]);
    }

    #[test]
    fn vscode_inputs_are_unsupported_and_left_alone() {
        let e = expand("Bearer ${input:github_pat}");
        assert_eq!(e.value, "Bearer ${input:github_pat}");
        assert_eq!(e.unsupported, ["${input:github_pat}"]);
        assert!(e.missing.is_empty());
    }

    #[test]
    fn editor_variables_only_in_editor_files() {
        let env = env();
        let vars = EditorVars {
            workspace_folder: Some("/work/app".into()),
            user_home: Some("/home/me".into()),
        };
        let editor = Expander::with_editor_vars(&env, vars);
        let e = editor.expand("${workspaceFolder}/s.py ${workspaceFolderBasename} ${userHome}");
        assert_eq!(e.value, "/work/app/s.py app /home/me");
        assert!(e.secrets.is_empty(), "editor paths are not secrets");
        assert_eq!(expand("${workspaceFolder}").missing, ["workspaceFolder"]);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = format!("{}x{}", "${N:-".repeat(10_000), "}".repeat(10_000));
        let e = expand(&text);
        assert!(e.value.ends_with('}'));
    }
}
