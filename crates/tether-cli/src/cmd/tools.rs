//! `tether tools NAME`: a server's tools.

use tether_client::status::State;

use crate::args::{Cli, ToolsArgs};
use crate::out;
use crate::target;
use crate::ui::{self, Failure};

/// Runs `tether tools`.
pub async fn run(cli: &Cli, args: &ToolsArgs) -> Result<u8, Failure> {
    if args.name.is_some() && args.target.is_ad_hoc() {
        return Err(Failure::usage(
            "give a server name or an ad-hoc target, not both",
        ));
    }
    let spec = target::resolve(&cli.config, args.name.as_deref(), &args.target)?;
    let name = spec.name.clone();
    let redact = spec.redact.clone();
    let manager = super::start(vec![spec], cli.debug, None);
    manager.settled().await;
    let status = manager
        .status(&name)
        .ok_or_else(|| Failure::failed("server vanished"))?;
    manager.shutdown().await;
    match &status.state {
        State::Connected => {}
        State::ToolsFetchFailed { error } => {
            let mut f = Failure::failed(format!(
                "connected to `{name}`, but tools/list failed: {}",
                error.message
            ))
            .detail(format!("class: {}", error.class));
            if let Some(h) = &error.hint {
                f = f.hint(h.clone());
            }
            return Err(f);
        }
        other => {
            let error = other.error().cloned();
            let mut f = Failure::failed(format!(
                "`{name}` is not connected: {}",
                status.status_text(ui::glyphs())
            ));
            if let Some(e) = error {
                f = f.detail(format!("class: {}", e.class));
                for line in &e.stderr_tail {
                    f = f.detail(format!("stderr: {}", redact(line)));
                }
                if let Some(h) = e.hint {
                    f = f.hint(h);
                }
            }
            return Err(f);
        }
    }
    for d in &status.dropped_tools {
        ui::warn(&format!("dropped a malformed tool: {d}"));
    }
    if args.json {
        out!("{}", serde_json::json!({ "tools": status.tools }));
        return Ok(0);
    }
    if status.tools.is_empty() {
        out!("(no tools)");
        return Ok(0);
    }
    let width = status.tools.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for t in &status.tools {
        let desc = t
            .description
            .as_deref()
            .and_then(|d| d.lines().find(|l| !l.trim().is_empty()))
            .unwrap_or("")
            .trim();
        let desc = truncate(desc, 100);
        out!("{:<width$}  {desc}", t.name);
    }
    Ok(0)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("{cut}…")
}
