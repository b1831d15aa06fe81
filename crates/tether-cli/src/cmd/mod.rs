//! One module per subcommand; shared plumbing for running servers here.

pub mod call;
pub mod chaos;
pub mod doctor;
pub mod get;
pub mod list;
pub mod serve;
pub mod tools;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tether_client::manager::EventKind;
use tether_client::policy::Policy;
use tether_client::session::{
    ClientHandler, HandlerFuture, RootsHandler, ServerRequest, SessionOptions,
};
use tether_client::{Manager, ManagerOptions, ServerSpec};
use tether_proto::jsonrpc;
use tether_proto::mcp::method;

use crate::args::Elicit;

/// Starts servers for a one-shot command (no pings, no reconnects, no probes).
pub fn start(specs: Vec<ServerSpec>, debug: bool, elicit: Option<Elicit>) -> Manager {
    let mut session = SessionOptions::new("");
    session.handler = Arc::new(CliHandler {
        roots: RootsHandler {
            roots: std::env::current_dir()
                .ok()
                .map(|d| format!("file://{}", d.display()))
                .into_iter()
                .collect(),
        },
        elicit,
    });
    let manager = Manager::start(
        specs,
        ManagerOptions {
            policy: Policy::default(),
            session,
            one_shot: true,
            ..ManagerOptions::default()
        },
    );
    if debug {
        print_lifecycle(&manager);
    }
    manager
}

/// `--debug`: every lifecycle step and stderr line, with the time since start, on stderr.
pub fn print_lifecycle(manager: &Manager) {
    let mut events = manager.subscribe();
    tokio::spawn(async move {
        while let Ok(ev) = events.recv().await {
            let line = match &ev.kind {
                EventKind::Step(text) => text.clone(),
                EventKind::Stderr(text) => format!("stderr: {text}"),
                EventKind::State { text, .. } => format!("state: {text}"),
                EventKind::CatalogChanged | EventKind::Notification(_) => continue,
            };
            debug_line(ev.at, &ev.server, &line);
        }
    });
}

/// One `--debug` line on stderr: time since start, server, what happened.
pub fn debug_line(at: Duration, server: &str, line: &str) {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr().lock(),
        "[{:>8.3}s] {server}: {line}",
        at.as_secs_f64()
    );
}

/// The CLI's answers to server requests: roots, and elicitation when `--elicit` says how.
struct CliHandler {
    roots: RootsHandler,
    elicit: Option<Elicit>,
}

impl ClientHandler for CliHandler {
    fn capabilities(&self) -> Value {
        let mut caps = self.roots.capabilities();
        if self.elicit.is_some()
            && let Value::Object(map) = &mut caps
        {
            map.insert("elicitation".into(), serde_json::json!({ "form": {} }));
        }
        caps
    }

    fn handle(&self, request: ServerRequest<'_>) -> Option<HandlerFuture> {
        if request.method != method::ELICITATION_CREATE {
            return self.roots.handle(request);
        }
        let params = request.params;
        let mode = self.elicit?;
        let answer = match mode {
            Elicit::Decline => serde_json::json!({ "action": "decline" }),
            Elicit::AcceptDefaults => {
                let params: Value = params
                    .and_then(|p| serde_json::from_str(p.get()).ok())
                    .unwrap_or(Value::Null);
                serde_json::json!({ "action": "accept", "content": defaults_of(&params) })
            }
        };
        let raw = jsonrpc::to_raw(&answer);
        Some(Box::pin(async move { Ok(raw) }))
    }
}

/// The `default` of every property of an elicitation's `requestedSchema`.
fn defaults_of(params: &Value) -> Value {
    let mut content = serde_json::Map::new();
    if let Some(props) = params
        .pointer("/requestedSchema/properties")
        .and_then(Value::as_object)
    {
        for (name, schema) in props {
            if let Some(default) = schema.get("default") {
                content.insert(name.clone(), default.clone());
            }
        }
    }
    Value::Object(content)
}

/// Seconds from the command line to a duration; rejects negatives and NaN.
pub fn seconds(s: f64, flag: &str) -> Result<Duration, crate::ui::Failure> {
    if s.is_finite() && s > 0.0 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(crate::ui::Failure::usage(format!(
            "`{flag}` must be a positive number of seconds"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elicitation_defaults_are_collected() {
        let params = serde_json::json!({"requestedSchema": {"properties": {
            "name": {"type": "string", "default": "x"},
            "n": {"type": "integer", "default": 3},
            "free": {"type": "string"}
        }}});
        assert_eq!(
            defaults_of(&params),
            serde_json::json!({"name": "x", "n": 3})
        );
    }
}
