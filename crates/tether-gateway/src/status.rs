//! What the gateway shows about itself: `GET /status` (the `tether list --json` shape plus live
//! counters), `GET /metrics` (Prometheus text) and `GET /` (a page that polls `/status`).

use std::fmt::Write as _;

use serde_json::{Value, json};
use tether_client::status::Glyphs;

use crate::Gateway;
use crate::metrics::label;

impl Gateway {
    /// The live status document.
    pub fn status_json(&self) -> Value {
        let servers: Vec<Value> = self
            .manager()
            .statuses()
            .iter()
            .map(|s| {
                let mut v = s.to_json();
                let (calls, errors, p50, p95) = self.inner.metrics.server_summary(&s.name);
                if let Value::Object(map) = &mut v {
                    map.insert("status_text".into(), s.status_text(Glyphs::Unicode).into());
                    map.insert("restarts".into(), s.restarts.into());
                    map.insert("calls".into(), calls.into());
                    map.insert("errors".into(), errors.into());
                    map.insert("p50_ms".into(), json!(p50));
                    map.insert("p95_ms".into(), json!(p95));
                    map.insert("last_error".into(), json!(s.last_error));
                    map.insert("stderr_tail".into(), json!(self.stderr_tail(&s.name)));
                }
                v
            })
            .collect();
        let repairs: serde_json::Map<String, Value> = self
            .repairs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
        json!({
            "servers": servers,
            "gateway": {
                "version": env!("CARGO_PKG_VERSION"),
                "uptime_s": self.uptime().as_secs(),
                "clients": self.client_count(),
                "tools": self.catalog().tool_count,
                "repairs": repairs,
            }
        })
    }

    /// The Prometheus text exposition.
    pub fn metrics_text(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.inner.metrics.render(&mut out);
        let statuses = self.manager().statuses();
        out.push_str(
            "# HELP tether_restarts_total Respawns and reconnects after a lost connection.\n",
        );
        out.push_str("# TYPE tether_restarts_total counter\n");
        for s in &statuses {
            let _ = writeln!(
                out,
                "tether_restarts_total{{server=\"{}\"}} {}",
                label(&s.name),
                s.restarts
            );
        }
        out.push_str("# HELP tether_server_state 1 for the state each server is in.\n");
        out.push_str("# TYPE tether_server_state gauge\n");
        for s in &statuses {
            for state in STATES {
                let v = u8::from(s.state.name() == state);
                let _ = writeln!(
                    out,
                    "tether_server_state{{server=\"{}\",state=\"{state}\"}} {v}",
                    label(&s.name)
                );
            }
        }
        out.push_str("# HELP tether_server_tools Tools listed per server.\n");
        out.push_str("# TYPE tether_server_tools gauge\n");
        for s in &statuses {
            let _ = writeln!(
                out,
                "tether_server_tools{{server=\"{}\"}} {}",
                label(&s.name),
                s.tools.len()
            );
        }
        out.push_str("# HELP tether_repairs_total Malformed client messages repaired.\n");
        out.push_str("# TYPE tether_repairs_total counter\n");
        for (kind, n) in self.repairs() {
            let _ = writeln!(out, "tether_repairs_total{{kind=\"{kind}\"}} {n}");
        }
        out.push_str("# HELP tether_clients Connected client sessions.\n");
        out.push_str("# TYPE tether_clients gauge\n");
        let _ = writeln!(out, "tether_clients {}", self.client_count());
        out
    }
}

const STATES: [&str; 7] = [
    "connected",
    "tools-fetch-failed",
    "needs-auth",
    "pending",
    "failed",
    "misconfigured",
    "disabled",
];

/// The live status page: static HTML that polls `/status` once a second.
pub const DASHBOARD: &str = include_str!("dashboard.html");
