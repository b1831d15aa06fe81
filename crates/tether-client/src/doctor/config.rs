//! The `config` rung: what the configuration loader already found (errors, unset variables,
//! whitespace, ignored values), where the command resolves on PATH, and relative paths that
//! only work from the directory the doctor happens to run in.

use std::path::Path;
use std::time::Instant;

use tether_config::{ServerConfig, Severity as ProblemSeverity};

use super::finding::{Finding, Severity, code};
use super::report::Phase;
use crate::spec::ServerSpec;
use crate::transport::Target;
use crate::transport::stdio::{StdioParams, resolve_command};

/// What the config rung found.
#[derive(Debug)]
pub(crate) struct ConfigFacts {
    pub phase: Phase,
    pub findings: Vec<Finding>,
    /// False when the entry cannot be used.
    pub proceed: bool,
}

/// Checks the entry; `config` is the loaded entry when the server was named (its problems carry
/// codes), `None` for targets given on the command line.
pub(crate) fn check(spec: &ServerSpec, config: Option<&ServerConfig>) -> ConfigFacts {
    let start = Instant::now();
    let mut findings = Vec::new();
    let problems = config.map(|c| c.problems.as_slice()).unwrap_or_default();
    let mut known = Vec::new();
    for p in problems {
        // The form `ServerSpec::warnings` uses, so those are not reported twice.
        let text = match &p.field {
            Some(field) => format!("`{field}`: {}", p.message),
            None => p.message.clone(),
        };
        known.push(text.clone());
        let severity = match p.severity {
            ProblemSeverity::Error => Severity::Error,
            ProblemSeverity::Warning => Severity::Warning,
        };
        let hint = p
            .hint
            .clone()
            .unwrap_or_else(|| default_hint(p.code).to_owned());
        findings.push(Finding {
            code: p.code,
            severity,
            message: text,
            hint: Some(hint),
        });
    }
    // Warnings the spec gathered beyond the loader's problems (timer settings).
    for w in spec.warnings.iter().filter(|w| !known.contains(w)) {
        findings.push(Finding::new(
            code::CONFIG_IGNORED_VALUE,
            Severity::Warning,
            w.clone(),
            default_hint(code::CONFIG_IGNORED_VALUE),
        ));
    }
    if let Some(c) = config.filter(|c| !c.ignored_keys.is_empty()) {
        let keys: Vec<String> = c.ignored_keys.iter().map(|k| format!("`{k}`")).collect();
        findings.push(Finding::new(
            code::CONFIG_IGNORED_VALUE,
            Severity::Info,
            format!("keys Tether does not use: {}", keys.join(", ")),
            "they are kept for the clients that read them; nothing to do unless you expected \
             Tether to use them",
        ));
    }
    if let Some(why) = &spec.misconfigured {
        if !findings.iter().any(|f| f.severity == Severity::Error) {
            findings.push(Finding::new(
                code::CONFIG_INVALID,
                Severity::Error,
                why.clone(),
                "fix the entry; `tether list` shows every configured server",
            ));
        }
        return ConfigFacts {
            phase: Phase::new("config", false, start.elapsed(), why.clone()),
            findings,
            proceed: false,
        };
    }
    if spec.disabled {
        findings.push(Finding::new(
            code::CONFIG_IGNORED_VALUE,
            Severity::Info,
            "the server is disabled in its config file; the doctor checked it anyway",
            "remove `\"disabled\": true` to use it",
        ));
    }
    let detail = match spec.targets.first() {
        Some(Target::Stdio(p)) => {
            findings.extend(relative_paths(p));
            stdio_detail(p)
        }
        Some(Target::Http(_) | Target::Sse(_)) => {
            format!(
                "{} ({})",
                spec.target_labels.first().cloned().unwrap_or_default(),
                spec.transport
            )
        }
        None => String::new(),
    };
    ConfigFacts {
        phase: Phase::new("config", true, start.elapsed(), detail),
        findings,
        proceed: true,
    }
}

/// The PATH a stdio server is started with: its own `env.PATH`, else Tether's.
pub(crate) fn path_of(p: &StdioParams) -> (String, bool) {
    match p.env.iter().rev().find(|(k, _)| k == "PATH") {
        Some((_, v)) => (v.clone(), true),
        None => (std::env::var("PATH").unwrap_or_default(), false),
    }
}

fn stdio_detail(p: &StdioParams) -> String {
    let (path, own) = path_of(p);
    let from = if own {
        "the entry's `env.PATH`"
    } else {
        "Tether's PATH"
    };
    match resolve_command(&p.command, &path, p.cwd.as_deref()) {
        Some(found) if p.command.contains('/') => format!("`{}` is executable", found.display()),
        Some(found) => format!("`{}` → {} (from {from})", p.command, found.display()),
        None => format!("`{}` not found (searched {from})", p.command),
    }
}

/// Relative command, arguments and `cwd`: clients start servers in their own directory (Claude
/// Desktop: `/`), so these only work from where the doctor runs.
fn relative_paths(p: &StdioParams) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(cwd) = &p.cwd
        && cwd.is_relative()
    {
        out.push(Finding::new(
            code::RELATIVE_PATH,
            Severity::Warning,
            format!("`cwd` is relative ({})", cwd.display()),
            "use an absolute `cwd`: each client resolves a relative one against its own \
             working directory",
        ));
    }
    if p.cwd.is_some() {
        return out;
    }
    let mut rel: Vec<String> = Vec::new();
    if p.command.contains('/') && Path::new(&p.command).is_relative() {
        rel.push(format!("command `{}`", p.command));
    }
    for a in &p.args {
        // `./x` and `../x` are paths whatever they name; other words only when a file by that
        // name exists here (`src/index.js`, `server.py`), so package names are not flagged.
        let explicit = a.starts_with("./") || a.starts_with("../");
        let looks_like_path = explicit
            || (!a.starts_with('-')
                && !a.starts_with('@')
                && !a.contains("://")
                && Path::new(a).is_relative()
                && (a.contains('/') || has_script_ext(a))
                && Path::new(a).exists());
        if looks_like_path {
            rel.push(format!("argument `{a}`"));
        }
    }
    if !rel.is_empty() {
        out.push(Finding::new(
            code::RELATIVE_PATH,
            Severity::Warning,
            format!(
                "relative {} with no `cwd`: it works from here, not from a client's directory",
                rel.join(", ")
            ),
            "use absolute paths (or set `cwd`): Claude Desktop starts servers in `/`, other \
             clients in their own directory",
        ));
    }
    out
}

fn has_script_ext(a: &str) -> bool {
    [".js", ".mjs", ".cjs", ".ts", ".py", ".rb", ".jar", ".sh"]
        .iter()
        .any(|e| a.ends_with(e))
}

fn default_hint(code: &str) -> &'static str {
    match code {
        code::ENV_VAR_MISSING => {
            "set the variable in the environment the client starts with (GUI apps do not read \
             your shell profile), or give a default with `${VAR:-default}`"
        }
        code::CONFIG_WHITESPACE => "remove the leading or trailing whitespace",
        code::CONFIG_NAME => "use letters, digits, `_` and `-` in server names",
        code::CONFIG_UNSUPPORTED_VARIABLE => {
            "only VS Code resolves `${input:…}`; use `${env:VAR}` or a literal value"
        }
        code::CONFIG_INVALID => "fix the entry; `tether list` shows every configured server",
        _ => "remove the value or fix it; see the message for what Tether uses instead",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(command: &str, args: &[&str]) -> StdioParams {
        StdioParams {
            command: command.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
            cwd: None,
        }
    }

    #[test]
    fn relative_commands_and_existing_relative_arguments_are_flagged() {
        assert!(relative_paths(&params("node", &["/abs/server.js", "--flag"])).is_empty());
        let found = relative_paths(&params(
            "./bin/server",
            &[
                "Cargo.toml",
                "src/lib.rs",
                "x.py",
                "../gone.js",
                "@scope/pkg",
            ],
        ));
        assert_eq!(found.len(), 1);
        let m = &found[0].message;
        assert!(m.contains("command `./bin/server`"), "{m}");
        assert!(m.contains("argument `src/lib.rs`"), "{m}");
        assert!(m.contains("argument `../gone.js`"), "{m}");
        assert!(!m.contains("@scope"), "{m}");
        assert!(!m.contains("Cargo.toml") && !m.contains("x.py"), "{m}");
        let mut with_cwd = params("./bin/server", &[]);
        with_cwd.cwd = Some("rel".into());
        let found = relative_paths(&with_cwd);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("`cwd` is relative"));
    }

    #[test]
    fn the_entry_path_wins() {
        let mut p = params("sh", &[]);
        p.env.push(("PATH".into(), "/nowhere".into()));
        assert_eq!(path_of(&p), ("/nowhere".to_owned(), true));
        assert!(stdio_detail(&p).contains("not found (searched the entry's `env.PATH`)"));
        p.env.clear();
        p.env.push(("PATH".into(), "/usr/bin:/bin".into()));
        assert!(
            stdio_detail(&p).contains("`sh` → /"),
            "{}",
            stdio_detail(&p)
        );
    }
}
