//! Terminal output: the `error:` / `hint:` format, glyph choice, TTY detection.

use std::io::{IsTerminal, Write};

use tether_client::status::Glyphs;

/// A command's failure: what the CLI prints and the exit code it returns.
#[derive(Debug)]
pub struct Failure {
    /// 1: something failed; 2: usage or configuration error.
    pub exit: u8,
    /// One line, lowercase.
    pub message: String,
    /// `caused by:` lines.
    pub causes: Vec<String>,
    /// Indented fact lines (class, status, ...).
    pub details: Vec<String>,
    /// A concrete next step.
    pub hint: Option<String>,
}

impl Failure {
    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            exit: 2,
            message: message.into(),
            causes: Vec::new(),
            details: Vec::new(),
            hint: None,
        }
    }

    /// A runtime failure (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Failure {
            exit: 1,
            message: message.into(),
            causes: Vec::new(),
            details: Vec::new(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a `caused by:` line.
    pub fn cause(mut self, cause: impl Into<String>) -> Self {
        self.causes.push(cause.into());
        self
    }

    /// Adds an indented fact line.
    pub fn detail(mut self, line: impl Into<String>) -> Self {
        self.details.push(line.into());
        self
    }

    /// A client error, with its class, the stderr tail and its hint.
    pub fn from_error(e: &tether_client::Error, redact: &dyn Fn(&str) -> String) -> Self {
        let summary = tether_client::status::ErrorSummary::of(e, redact);
        let mut f = Failure::failed(summary.message.clone());
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            f = f.cause(redact(&cause.to_string()));
            source = cause.source();
        }
        f = f.detail(format!("class: {}", summary.class));
        if let Some(status) = summary.http_status {
            f = f.detail(format!("HTTP status: {status}"));
        }
        if let Some(id) = &summary.request_id {
            f = f.detail(format!("request id: {id}"));
        }
        if !summary.stderr_tail.is_empty() {
            f = f.detail("server stderr (last lines):");
            for line in &summary.stderr_tail {
                f = f.detail(format!("  {line}"));
            }
        }
        if let Some(h) = summary.hint {
            f = f.hint(h);
        }
        f
    }

    /// Prints to stderr.
    pub fn print(&self) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "error: {}", self.message);
        for c in &self.causes {
            let _ = writeln!(err, "  caused by: {c}");
        }
        for d in &self.details {
            let _ = writeln!(err, "  {d}");
        }
        if let Some(h) = &self.hint {
            let _ = writeln!(err, "hint: {h}");
        }
    }
}

/// Prints a warning line on stderr.
pub fn warn(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "warning: {text}");
}

/// Which glyphs the terminal can show: ASCII when `NO_COLOR` is set, `TERM=dumb`, or the
/// locale is explicitly not UTF-8.
pub fn glyphs() -> Glyphs {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if env("NO_COLOR").is_some() || env("TERM").as_deref() == Some("dumb") {
        return Glyphs::Ascii;
    }
    let locale = env("LC_ALL")
        .or_else(|| env("LC_CTYPE"))
        .or_else(|| env("LANG"));
    match locale {
        Some(l) => {
            let l = l.to_ascii_lowercase();
            if l.contains("utf-8") || l.contains("utf8") || l == "c.utf8" {
                Glyphs::Unicode
            } else if l == "c" || l == "posix" {
                Glyphs::Ascii
            } else {
                Glyphs::Unicode
            }
        }
        None => Glyphs::Unicode,
    }
}

/// True when stderr is a terminal (progress lines go there).
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// A one-line progress display on a TTY; silent otherwise.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    shown: bool,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            enabled: stderr_is_tty(),
            shown: false,
        }
    }
}

impl Progress {
    /// A progress line, shown only when stderr is a terminal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the line.
    pub fn set(&mut self, text: &str) {
        if !self.enabled {
            return;
        }
        let _ = write!(std::io::stderr().lock(), "\r\x1b[2K{text}");
        self.shown = true;
    }

    /// Erases the line.
    pub fn clear(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            self.shown = false;
        }
    }
}

/// Prints a line on stdout; a closed pipe (`| head`) is not an error worth a panic.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
