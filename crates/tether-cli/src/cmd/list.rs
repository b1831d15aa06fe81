//! `tether list`: connect to every configured server at once and show a health table.

use tether_client::status::{Glyphs, ServerStatus, State};

use crate::args::{Cli, ListArgs};
use crate::out;
use crate::target;
use crate::ui::{self, Failure, Progress};

/// Runs `tether list`; exit 0 only when every enabled server is connected.
pub async fn run(cli: &Cli, args: &ListArgs) -> Result<u8, Failure> {
    if let Some(url) = &args.gateway {
        return from_gateway(url, args.json).await;
    }
    let loaded = target::load(&cli.config)?;
    for problem in loaded.config.problems().filter(|p| !p.is_error()) {
        ui::warn(&loaded.config.redactor().redact(&problem.to_string()));
    }
    if loaded.config.servers.is_empty() {
        if args.json {
            out!("{}", serde_json::json!({ "servers": [] }));
        } else {
            out!("No MCP servers configured.");
            eprintln_hint(&loaded.nothing_configured_hint());
        }
        return Ok(0);
    }
    let specs = loaded
        .config
        .servers
        .iter()
        .map(|s| loaded.spec(s))
        .collect();
    let manager = super::start(specs, cli.debug, None);
    let total = manager.names().len();
    let mut progress = Progress::new();
    let mut events = manager.subscribe();
    progress.set(&format!("Checking MCP server health… 0/{total}"));
    let settled = manager.settled();
    tokio::pin!(settled);
    loop {
        tokio::select! {
            _ = &mut settled => break,
            ev = events.recv() => {
                if ev.is_err() { continue; }
                let statuses = manager.statuses();
                let done = statuses.iter().filter(|s| s.state.is_settled()).count();
                let connected = statuses.iter().filter(|s| s.state == State::Connected).count();
                progress.set(&format!("Checking MCP server health… {done}/{total} ({connected} connected)"));
            }
        }
    }
    progress.clear();
    let statuses = manager.statuses();
    manager.shutdown().await;
    if args.json {
        let servers: Vec<_> = statuses.iter().map(ServerStatus::to_json).collect();
        out!("{}", serde_json::json!({ "servers": servers }));
    } else {
        let glyphs = ui::glyphs();
        for s in &statuses {
            out!("{}", row(s, glyphs));
        }
    }
    let all_ok = statuses
        .iter()
        .all(|s| matches!(s.state, State::Connected | State::Disabled));
    Ok(if all_ok { 0 } else { 1 })
}

/// One line: `name: target (HTTP) - status`, the format `claude mcp list` users know.
pub fn row(s: &ServerStatus, glyphs: Glyphs) -> String {
    let kind = match s.transport {
        "http" => " (HTTP)",
        "sse" => " (SSE)",
        _ => "",
    };
    format!("{}: {}{kind} - {}", s.name, s.target, s.status_text(glyphs))
}

fn eprintln_hint(hint: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "hint: {hint}");
}

/// `tether list --gateway URL`: a running gateway's live view.
async fn from_gateway(url: &str, json: bool) -> Result<u8, Failure> {
    let base = url
        .trim_end_matches('/')
        .trim_end_matches("/mcp")
        .trim_end_matches("/status");
    let status_url = format!("{base}/status");
    let mut req = reqwest::Client::new().get(&status_url);
    if let Ok(token) = std::env::var("TETHER_TOKEN") {
        req = req.bearer_auth(token);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| Failure::failed(format!("cannot reach the gateway at {base}: {e}")))?;
    if !resp.status().is_success() {
        return Err(Failure::failed(format!(
            "the gateway at {base} answered HTTP {}",
            resp.status()
        ))
        .hint("with a token, set TETHER_TOKEN"));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| Failure::failed(format!("reading the gateway status: {e}")))?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::failed(format!("the gateway status is not JSON: {e}")))?;
    let servers = v["servers"].as_array().cloned().unwrap_or_default();
    if json {
        out!("{}", serde_json::json!({ "servers": servers }));
    } else {
        for s in &servers {
            let kind = match s["transport"].as_str() {
                Some("http") => " (HTTP)",
                Some("sse") => " (SSE)",
                _ => "",
            };
            out!(
                "{}: {}{kind} - {}",
                s["name"].as_str().unwrap_or("?"),
                s["target"].as_str().unwrap_or(""),
                s["status_text"].as_str().unwrap_or("?")
            );
        }
    }
    let all_ok = servers
        .iter()
        .all(|s| matches!(s["state"].as_str(), Some("connected" | "disabled")));
    Ok(if all_ok { 0 } else { 1 })
}
