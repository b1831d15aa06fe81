//! `tether get NAME`: one server in detail.

use std::fmt::Write as _;

use tether_client::error::fmt_duration;
use tether_client::status::{ServerStatus, State};

use crate::args::{Cli, GetArgs};
use crate::out;
use crate::target;
use crate::ui::{self, Failure};

/// Runs `tether get`; exit 0 when the server is connected.
pub async fn run(cli: &Cli, args: &GetArgs) -> Result<u8, Failure> {
    let loaded = target::load(&cli.config)?;
    let cfg = loaded.find(&args.name)?;
    let spec = loaded.spec(cfg);
    let scope = cfg.source.scope.to_string();
    let file = spec.source.clone();
    let manager = super::start(vec![spec], cli.debug, None);
    manager.settled().await;
    let status = manager
        .status(&args.name)
        .ok_or_else(|| Failure::failed("server vanished"))?;
    manager.shutdown().await;
    if args.json {
        let mut v = status.to_json();
        if let serde_json::Value::Object(map) = &mut v {
            map.insert("scope".into(), scope.into());
            map.insert(
                "capabilities".into(),
                serde_json::json!(status.capabilities),
            );
            map.insert(
                "tool_names".into(),
                serde_json::json!(status.tools.iter().map(|t| &t.name).collect::<Vec<_>>()),
            );
            map.insert(
                "dropped_tools".into(),
                serde_json::json!(status.dropped_tools),
            );
            map.insert(
                "timeouts_ms".into(),
                serde_json::to_value(status.timeouts).unwrap_or_default(),
            );
            map.insert("warnings".into(), serde_json::json!(status.warnings));
            map.insert("stdout_noise".into(), status.stdout_noise.into());
        }
        out!("{v}");
    } else {
        out!("{}", render(&status, &scope, &file));
    }
    Ok(if status.state == State::Connected {
        0
    } else {
        1
    })
}

/// The human detail view.
pub fn render(s: &ServerStatus, scope: &str, file: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}:", s.name);
    let _ = writeln!(o, "  Scope: {scope}");
    let _ = writeln!(o, "  File: {file}");
    let _ = writeln!(o, "  Status: {}", s.status_text(ui::glyphs()));
    let _ = writeln!(o, "  Type: {}", s.transport);
    let target_label = if s.transport == "stdio" {
        "Command"
    } else {
        "URL"
    };
    let _ = writeln!(o, "  {target_label}: {}", s.target);
    if let Some(url) = &s.active_url {
        let _ = writeln!(
            o,
            "  Serving URL: {url}{}",
            s.url_reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    if let Some(v) = &s.protocol_version {
        let _ = writeln!(o, "  Protocol: {v}");
    }
    if let Some(info) = &s.server_info {
        let _ = writeln!(o, "  Server: {} {}", info.name, info.version);
    }
    if !s.capabilities.is_empty() {
        let _ = writeln!(o, "  Capabilities: {}", s.capabilities.join(" · "));
    }
    if s.state.is_usable() || !s.tools.is_empty() {
        let names: Vec<&str> = s.tools.iter().map(|t| t.name.as_str()).collect();
        let _ = writeln!(o, "  Tools ({}): {}", names.len(), names.join(", "));
    }
    for d in &s.dropped_tools {
        let _ = writeln!(o, "  Dropped tool: {d}");
    }
    if s.stdout_noise > 0 {
        let _ = writeln!(
            o,
            "  Stdout noise: {} non-JSON line(s) skipped",
            s.stdout_noise
        );
    }
    if let Some(e) = s
        .error()
        .or(s.last_error.as_ref().filter(|_| !s.state.is_usable()))
    {
        let _ = writeln!(o, "  Issue: {} {}", e.class, e.message);
        let mut facts = Vec::new();
        if let Some(status) = e.http_status {
            facts.push(format!("HTTP {status}"));
        }
        if let Some(id) = &e.request_id {
            facts.push(format!("request id {id}"));
        }
        if let Some(code) = e.exit_code {
            facts.push(format!("exit code {code}"));
        }
        if let Some(sig) = e.signal {
            facts.push(format!("signal {sig}"));
        }
        facts.push(format!("code {}", e.code));
        let _ = writeln!(o, "    {}", facts.join(" · "));
        if !e.stderr_tail.is_empty() {
            let _ = writeln!(o, "    Stderr (last {} lines):", e.stderr_tail.len());
            for line in &e.stderr_tail {
                let _ = writeln!(o, "      {line}");
            }
        }
        if let Some(h) = &e.hint {
            let _ = writeln!(o, "    Hint: {h}");
        }
    }
    let t = &s.timeouts;
    let _ = writeln!(
        o,
        "  Timeouts: connect {} · request {} · ping {} · tool idle {} · tool wall clock {}",
        fmt_duration(t.connect),
        fmt_duration(t.request),
        fmt_duration(t.ping),
        fmt_duration(t.tool_idle),
        fmt_duration(t.tool_wall)
    );
    for w in &s.warnings {
        let _ = writeln!(o, "  Warning: {w}");
    }
    let _ = write!(
        o,
        "  Attempts: {} · {}",
        s.attempts,
        fmt_duration(s.elapsed)
    );
    o
}
