//! Server-wide state shared by every session: the armed faults, the `hang-after` count, the
//! `list-changed` timer and its notifications, message envelopes (where `missing-jsonrpc`
//! applies), and the [`Control`] channel through which whole-process events (exit, `chaos: ...`
//! notes) reach the runner, because only the runner knows whether "exit" means the process or
//! one in-process server.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::fault::Fault;
use crate::message::RpcError;
use crate::plan::FaultPlan;

/// Protocol revisions this server speaks, newest first.
pub(crate) const SUPPORTED_VERSIONS: [&str; 4] =
    ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// What `initialize` answers when the client asked for something unknown.
pub(crate) const LATEST_VERSION: &str = SUPPORTED_VERSIONS[0];

/// Which transport the engine serves; a few faults only make sense on one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Stdio,
    Http,
}

/// One item a request handler emits.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A message that belongs with the request being handled (progress, server→client request).
    Related(Value),
    /// The final answer to the request.
    Response(Value),
    /// A raw stdout line (`stdout-noise`); only the stdio transport writes it.
    Raw(String),
}

impl Outgoing {
    /// The JSON-RPC message, if this item is one.
    pub(crate) fn json(&self) -> Option<&Value> {
        match self {
            Outgoing::Related(v) | Outgoing::Response(v) => Some(v),
            Outgoing::Raw(_) => None,
        }
    }
}

/// Where a request's answer and related messages go.
pub(crate) type Sink = mpsc::UnboundedSender<Outgoing>;

/// Whole-process events for the runner.
#[derive(Debug)]
pub(crate) enum Control {
    /// End the server: write `message` to stderr, exit with `code`.
    Exit { code: i32, message: String },
    /// A `chaos: ...` line worth showing on stderr (what a fault just did).
    Note(String),
}

/// Server-wide state shared by every session.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) plan: FaultPlan,
    pub(crate) name: String,
    pub(crate) transport: Transport,
    /// `--conformance`: also offer what the MCP conformance suite's server scenarios call.
    pub(crate) conformance: bool,
    /// Requests answered so far (for `hang-after`).
    pub(crate) answered: AtomicU64,
    /// Whether the `ephemeral` tool is currently listed (`list-changed`).
    ephemeral: AtomicBool,
    ticker_started: AtomicBool,
    /// Notifications unrelated to any request (`tools/list_changed`).
    notify: broadcast::Sender<Value>,
    control: mpsc::UnboundedSender<Control>,
    /// Cancels every task the engine spawned when the server ends.
    pub(crate) tasks: CancellationToken,
}

impl Engine {
    pub(crate) fn new(
        plan: FaultPlan,
        name: String,
        transport: Transport,
        conformance: bool,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Control>) {
        let (control, control_rx) = mpsc::unbounded_channel();
        let (notify, _) = broadcast::channel(64);
        let engine = Arc::new(Self {
            plan,
            name,
            transport,
            conformance,
            answered: AtomicU64::new(0),
            ephemeral: AtomicBool::new(false),
            ticker_started: AtomicBool::new(false),
            notify,
            control,
            tasks: CancellationToken::new(),
        });
        (engine, control_rx)
    }

    /// Spawns a task that ends with the server.
    pub(crate) fn spawn<F>(&self, fut: F) -> JoinHandle<Option<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(self.tasks.clone().run_until_cancelled_owned(fut))
    }

    /// A `chaos: ...` note for stderr.
    pub(crate) fn note(&self, message: impl Into<String>) {
        let _ = self.control.send(Control::Note(message.into()));
    }

    /// Ends the server the way a crash would.
    pub(crate) fn exit(&self, code: i32, message: impl Into<String>) {
        let _ = self.control.send(Control::Exit {
            code,
            message: message.into(),
        });
    }

    /// Receives notifications unrelated to a request.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.notify.subscribe()
    }

    /// Whether `version` is acceptable in an `MCP-Protocol-Version` header.
    pub(crate) fn accepts_version(&self, version: &str) -> bool {
        SUPPORTED_VERSIONS.contains(&version)
            || self
                .plan
                .configured(|f| match f {
                    Fault::ProtocolVersion { version } => Some(version.clone()),
                    _ => None,
                })
                .is_some_and(|v| v == version)
    }

    /// Wraps a message body in the envelope (`missing-jsonrpc` drops the version).
    fn envelope(&self, mut obj: Map<String, Value>) -> Value {
        if !self.plan.fires(|f| matches!(f, Fault::MissingJsonrpc)) {
            obj.insert("jsonrpc".into(), "2.0".into());
        }
        Value::Object(obj)
    }

    pub(crate) fn response(&self, id: &Value, result: Value) -> Value {
        let mut obj = Map::new();
        obj.insert("id".into(), id.clone());
        obj.insert("result".into(), result);
        self.envelope(obj)
    }

    pub(crate) fn error_response(&self, id: &Value, error: &RpcError) -> Value {
        let mut obj = Map::new();
        obj.insert("id".into(), id.clone());
        obj.insert("error".into(), error.to_value());
        self.envelope(obj)
    }

    pub(crate) fn notification(&self, method: &str, params: Option<Value>) -> Value {
        let mut obj = Map::new();
        obj.insert("method".into(), method.into());
        if let Some(p) = params {
            obj.insert("params".into(), p);
        }
        self.envelope(obj)
    }

    pub(crate) fn request_message(&self, id: &Value, method: &str, params: Option<Value>) -> Value {
        let mut obj = Map::new();
        obj.insert("id".into(), id.clone());
        obj.insert("method".into(), method.into());
        if let Some(p) = params {
            obj.insert("params".into(), p);
        }
        self.envelope(obj)
    }

    /// Whether the `ephemeral` tool is listed right now.
    pub(crate) fn ephemeral(&self) -> bool {
        self.ephemeral.load(Ordering::SeqCst)
    }

    /// Starts the `list-changed` timer once (no-op without that fault).
    pub(crate) fn start_list_changed(self: &Arc<Self>) {
        let Some(ms) = self.plan.configured(|f| match f {
            Fault::ListChanged { ms } => Some(*ms),
            _ => None,
        }) else {
            return;
        };
        if self.ticker_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let period = Duration::from_millis(ms);
        let this = Arc::clone(self);
        self.spawn(async move {
            let mut next = Instant::now() + period;
            loop {
                tokio::time::sleep_until(next).await;
                next += period;
                if !this.plan.fires(|f| matches!(f, Fault::ListChanged { .. })) {
                    break;
                }
                let was = this.ephemeral.fetch_xor(true, Ordering::SeqCst);
                let verb = if was { "removed" } else { "added" };
                this.note(format!("chaos: list-changed: {verb} tool `ephemeral`"));
                let _ = this
                    .notify
                    .send(this.notification("notifications/tools/list_changed", None));
            }
        });
    }

    pub(crate) fn initialize_result(&self, params: Option<&Value>) -> Value {
        let requested = params
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str);
        let version = match self.plan.fire(|f| match f {
            Fault::ProtocolVersion { version } => Some(version.clone()),
            _ => None,
        }) {
            Some(forced) => forced,
            None => requested
                .filter(|v| SUPPORTED_VERSIONS.contains(v))
                .unwrap_or(LATEST_VERSION)
                .to_owned(),
        };
        let server_info = json!({"name": self.name, "version": env!("CARGO_PKG_VERSION")});
        let mut instructions = String::from(
            "tether chaos: a fault-injecting MCP test server. Tools: echo, add, sleep, fail, \
             crash, elicit, sample, roots, big, env, cwd, pid.",
        );
        if self.conformance {
            instructions.push_str(
                " Conformance mode: also the test_* tools, test:// resources and test_* prompts \
                 of the MCP conformance suite.",
            );
        }
        if let Some(bytes) = self.plan.fire(|f| match f {
            Fault::Instructions { bytes } => Some(*bytes),
            _ => None,
        }) {
            instructions = long_instructions(bytes);
        }
        if self.plan.fires(|f| matches!(f, Fault::BadInitialize)) {
            return json!({"serverInfo": server_info, "instructions": instructions});
        }
        let mut capabilities = json!({"prompts": {}, "resources": {}, "logging": {}});
        if !self.plan.fires(|f| matches!(f, Fault::NoToolsCapability))
            && let Some(caps) = capabilities.as_object_mut()
        {
            caps.insert("tools".into(), json!({"listChanged": true}));
        }
        if self.conformance
            && let Some(caps) = capabilities.as_object_mut()
        {
            crate::conformance::add_capabilities(caps);
        }
        json!({
            "protocolVersion": version,
            "capabilities": capabilities,
            "serverInfo": server_info,
            "instructions": instructions,
        })
    }
}

/// `instructions:BYTES`: a repeated sentence cut to exactly BYTES bytes (ASCII).
fn long_instructions(bytes: u64) -> String {
    let sentence = "Long server instructions (instructions fault). ";
    sentence
        .chars()
        .cycle()
        .take(usize::try_from(bytes).unwrap_or(usize::MAX))
        .collect()
}
