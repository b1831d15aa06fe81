//! `tether doctor`: runs the client library's probe ladder and renders its report, as a short
//! human report or as the `--json` contract document. The work is in
//! [`tether_client::doctor`].

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tether_client::ServerSpec;
use tether_client::doctor::{
    self, DoctorOptions, Report, Severity, Support, Thresholds, ToolCall, Verdict,
};
use tether_client::error::fmt_duration;
use tether_client::session::{EventTap, SessionEvent};
use tether_client::status::Glyphs;

use crate::args::{Cli, DoctorArgs};
use crate::out;
use crate::target;
use crate::ui::{self, Failure};

/// Overrides the slow-phase thresholds, in milliseconds (for tests and tuning).
pub const SLOW_ENV: &str = "TETHER_DOCTOR_SLOW_MS";

/// Runs `tether doctor`: exit 0 when healthy, 1 otherwise, 2 for usage errors and unreadable
/// configuration files.
pub async fn run(cli: &Cli, args: &DoctorArgs) -> Result<u8, Failure> {
    if args.name.is_some() && args.target.is_ad_hoc() {
        return Err(Failure::usage(
            "give a server name or an ad-hoc target (`--url`, `-- CMD`), not both",
        ));
    }
    let timeout = args
        .timeout
        .map(|s| super::seconds(s, "--timeout"))
        .transpose()?;
    let call = match &args.call {
        Some(name) => Some(ToolCall {
            name: name.clone(),
            arguments: args.call_args.as_deref().map(parse_args).transpose()?,
        }),
        None => None,
    };
    let (spec, config) = match &args.name {
        Some(name) => {
            let loaded = target::load(&cli.config)?;
            let cfg = loaded.find(name)?.clone();
            (loaded.spec(&cfg), Some(cfg))
        }
        None => (target::resolve(&cli.config, None, &args.target)?, None),
    };
    let opts = DoctorOptions {
        timeout,
        call,
        thresholds: thresholds()?,
        tap: cli.debug.then(|| debug_tap(&spec)),
    };
    // The progress line would be torn by the `--debug` lines.
    let mut progress = (!cli.debug).then(ui::Progress::new);
    if let Some(p) = progress.as_mut() {
        p.set(&format!("Checking `{}`…", spec.name));
    }
    let report = doctor::diagnose(&spec, config.as_ref(), &opts).await;
    if let Some(p) = progress.as_mut() {
        p.clear();
    }
    if args.json {
        let text = serde_json::to_string(&report)
            .map_err(|e| Failure::failed(format!("cannot encode the report: {e}")))?;
        out!("{text}");
    } else {
        out!("{}", render(&report, ui::glyphs()));
    }
    Ok(report.exit_code())
}

/// `--debug`: what the doctor's sessions see as it happens (stderr lines above all), redacted
/// like the report, with the time since the doctor started.
fn debug_tap(spec: &ServerSpec) -> EventTap {
    let started = Instant::now();
    let (name, redact) = (spec.name.clone(), spec.redact.clone());
    EventTap(Arc::new(move |event: &SessionEvent| {
        let line = match event {
            SessionEvent::Stderr(text) => format!("stderr: {text}"),
            SessionEvent::Noise(skipped) => format!("not JSON-RPC on stdout: {}", skipped.preview),
            SessionEvent::Notification(n) => format!("notification: {}", n.method),
            SessionEvent::ListChanged(kind) => format!("list changed: {kind:?}"),
            SessionEvent::SessionRenewed => "HTTP session expired; re-initialized".to_owned(),
            // The doctor ends every session it opens; an unexpected end is in the report.
            SessionEvent::Closed(_) => return,
        };
        super::debug_line(started.elapsed(), &name, &redact(&line));
    }))
}

fn parse_args(text: &str) -> Result<Value, Failure> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Failure::usage("`--args` must be a JSON object")
            .hint(r#"e.g. --args '{"text": "hi"}'"#)),
        Err(e) => Err(Failure::usage(format!("`--args` is not valid JSON: {e}"))
            .hint(r#"e.g. --args '{"text": "hi"}'"#)),
    }
}

/// The default thresholds, with `TETHER_DOCTOR_SLOW_MS` applied.
fn thresholds() -> Result<Thresholds, Failure> {
    let mut t = Thresholds::default();
    if let Ok(raw) = std::env::var(SLOW_ENV) {
        let ms: u64 = raw.trim().parse().map_err(|_| {
            Failure::usage(format!(
                "`{SLOW_ENV}={raw}` is not a number of milliseconds"
            ))
        })?;
        t.slow_phase = Duration::from_millis(ms);
        t.slow_call = Duration::from_millis(ms);
    }
    Ok(t)
}

struct Marks {
    ok: &'static str,
    fail: &'static str,
    warn: &'static str,
    info: &'static str,
    unknown: &'static str,
}

impl Marks {
    /// A mark padded to the widest one, so columns line up in ASCII too.
    fn pad(&self, mark: &str) -> String {
        let width = [self.ok, self.fail, self.warn, self.info, self.unknown]
            .iter()
            .map(|m| m.chars().count())
            .max()
            .unwrap_or(1);
        format!("{mark:<width$}")
    }
}

fn marks(g: Glyphs) -> Marks {
    match g {
        Glyphs::Unicode => Marks {
            ok: "✔",
            fail: "✘",
            warn: "!",
            info: "i",
            unknown: "?",
        },
        Glyphs::Ascii => Marks {
            ok: "[ok]",
            fail: "[x]",
            warn: "[!]",
            info: "[i]",
            unknown: "[?]",
        },
    }
}

/// The human report: phases with timings, the transport matrix, findings with hints, the
/// stderr tail when something is wrong, and the verdict in plain words.
pub fn render(r: &Report, glyphs: Glyphs) -> String {
    let m = marks(glyphs);
    let mut o = String::new();
    let _ = writeln!(o, "{} ({}): {}", r.server, r.transport, r.target);
    let _ = writeln!(o);
    let _ = writeln!(o, "Phases:");
    for p in &r.phases {
        let mark = if p.ok { m.ok } else { m.fail };
        let line = format!(
            "  {} {:<12}{:>9}  {}",
            m.pad(mark),
            p.name,
            format_ms(p.millis()),
            p.detail
        );
        let _ = writeln!(o, "{}", line.trim_end());
    }
    if !r.matrix.is_empty() {
        let width = r.matrix.iter().map(|l| l.name.len()).max().unwrap_or(0);
        let _ = writeln!(o);
        let _ = writeln!(o, "Transports and HTTP checks:");
        for l in &r.matrix {
            let mark = match l.supported {
                Support::Yes => m.ok,
                Support::No => m.fail,
                Support::Unknown => m.unknown,
            };
            let _ = writeln!(o, "  {} {:<width$}  {}", m.pad(mark), l.name, l.detail);
        }
    }
    if !r.findings.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "Findings:");
        for f in &r.findings {
            let mark = match f.severity {
                Severity::Error => m.fail,
                Severity::Warning => m.warn,
                Severity::Info => m.info,
            };
            let _ = writeln!(
                o,
                "  {} {} `{}`: {}",
                m.pad(mark),
                f.severity.as_str(),
                f.code,
                f.message
            );
            if let Some(h) = &f.hint {
                let _ = writeln!(o, "    hint: {h}");
            }
        }
    }
    if r.verdict != Verdict::Healthy && !r.stderr_tail.is_empty() {
        let n = r.stderr_tail.len();
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "Server stderr (last {n} line{}):",
            if n == 1 { "" } else { "s" }
        );
        for line in &r.stderr_tail {
            let _ = writeln!(o, "  {line}");
        }
    }
    let _ = writeln!(o);
    let total = fmt_duration(r.elapsed_ms);
    let problems = r
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .count();
    match r.verdict {
        Verdict::Healthy => {
            let _ = writeln!(o, "Verdict: healthy · every phase passed in {total}.");
            let _ = write!(
                o,
                "The server answered every request. If your client still shows a timeout or \
                 \"disconnected\", look at the client or at what sits between it and the server \
                 (proxy, VPN, firewall, the client's own config), and compare the timings above \
                 with the client's limits (Claude Code: 30s to connect, 60s per HTTP request)."
            );
        }
        Verdict::Degraded => {
            let _ = write!(
                o,
                "Verdict: degraded · every phase passed in {total}, but {} need{} attention \
                 (first in the {} layer).",
                plural(problems, "finding"),
                if problems == 1 { "s" } else { "" },
                r.layer.as_str()
            );
        }
        Verdict::Broken => match r.phases.iter().find(|p| !p.ok) {
            Some(p) => {
                let _ = write!(
                    o,
                    "Verdict: broken · the first failure is in the {} layer (phase `{}`).",
                    r.layer.as_str(),
                    p.name
                );
            }
            None => {
                let _ = write!(
                    o,
                    "Verdict: broken · every phase passed in {total}, but real clients fail on \
                     what was found (first in the {} layer).",
                    r.layer.as_str()
                );
            }
        },
    }
    o
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn format_ms(ms: f64) -> String {
    format!("{ms:.1}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_must_be_an_object() {
        assert!(parse_args(r#"{"a": 1}"#).is_ok());
        assert_eq!(parse_args("[1]").map_err(|f| f.exit).err(), Some(2));
        assert_eq!(parse_args("{").map_err(|f| f.exit).err(), Some(2));
    }
}
