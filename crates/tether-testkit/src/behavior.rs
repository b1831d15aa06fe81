//! Transport-independent MCP behaviour of one session: request dispatch, notifications,
//! cancellation, server→client requests, and the per-request faults.
//!
//! Transports parse bytes into [`Incoming`] messages and hand them to [`Session::accept`] with a
//! [`Sink`] that says where the answer and the messages related to that request go (stdout, an
//! HTTP response, a legacy SSE stream). Requests run concurrently, each in its own task, so a
//! slow tool never blocks `ping`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::{Notify, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::catalog;
use crate::conformance::{self, ConformanceState};
use crate::engine::{Engine, Outgoing, Sink, Transport};
use crate::fault::Fault;
use crate::http::lock;
use crate::message::{INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND};
use crate::message::{Incoming, RpcError, id_key};
use crate::tools::{self, ToolCtx};

/// A running request: its generation (ids may be reused) and how to stop it.
type Running = HashMap<String, (u64, AbortHandle)>;

/// One MCP session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) engine: Arc<Engine>,
    /// Our server→client requests waiting for the client's answer.
    pending: Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>,
    running: Mutex<Running>,
    /// Running requests that hang on purpose (`hang-after`, `never-initialize`).
    silent: AtomicUsize,
    /// Signalled when a request finishes (for [`Session::wind_down`]).
    finished: Notify,
    /// Set when the client went away: server→client requests fail at once.
    closed: AtomicBool,
    next_out_id: AtomicU64,
    next_generation: AtomicU64,
    /// What `--conformance` remembers per session (log level, subscriptions, ...).
    pub(crate) conformance: ConformanceState,
}

impl Session {
    pub(crate) fn new(engine: Arc<Engine>) -> Arc<Self> {
        Arc::new(Self {
            engine,
            pending: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            silent: AtomicUsize::new(0),
            finished: Notify::new(),
            closed: AtomicBool::new(false),
            next_out_id: AtomicU64::new(0),
            next_generation: AtomicU64::new(0),
            conformance: ConformanceState::default(),
        })
    }

    /// Lets running requests finish after the client went away (stdin EOF), for at most
    /// `grace`. Server→client requests fail at once (nobody can answer them any more) and
    /// requests that hang on purpose are not waited for.
    pub(crate) async fn wind_down(&self, grace: Duration) {
        self.closed.store(true, Ordering::SeqCst);
        lock(&self.pending).clear();
        let deadline = Instant::now() + grace;
        loop {
            let notified = self.finished.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if lock(&self.running).len() <= self.silent.load(Ordering::SeqCst) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Handles one message from the client. Requests are answered on `sink` from their own task.
    pub(crate) fn accept(self: &Arc<Self>, message: Incoming, sink: &Sink) {
        match message {
            Incoming::Request { id, method, params } => {
                self.spawn_request(id, method, params, sink.clone());
            }
            Incoming::Notification { method, params } => self.notification(&method, params),
            Incoming::Response { id, outcome } => match lock(&self.pending).remove(&id_key(&id)) {
                Some(waiter) => {
                    let _ = waiter.send(outcome);
                }
                None => self.engine.note(format!(
                    "chaos: ignoring a response to unknown request id {id}"
                )),
            },
            Incoming::Invalid {
                id: Some(id),
                reason,
            } => {
                let error = RpcError::new(INVALID_REQUEST, format!("Invalid Request: {reason}"));
                let _ = sink.send(Outgoing::Response(self.engine.error_response(&id, &error)));
            }
            Incoming::Invalid { id: None, reason } => {
                self.engine
                    .note(format!("chaos: skipping an invalid message: {reason}"));
            }
        }
    }

    fn notification(self: &Arc<Self>, method: &str, params: Option<Value>) {
        match method {
            "notifications/initialized" => self.engine.start_list_changed(),
            "notifications/cancelled" => {
                let Some(request_id) = params.as_ref().and_then(|p| p.get("requestId")) else {
                    return;
                };
                // Receivers "SHOULD stop work and not respond": abort the task.
                if let Some((_, handle)) = lock(&self.running).remove(&id_key(request_id)) {
                    handle.abort();
                    self.finished.notify_waiters();
                    self.engine
                        .note(format!("chaos: cancelled request {request_id}"));
                }
            }
            _ => {}
        }
    }

    fn spawn_request(
        self: &Arc<Self>,
        id: Value,
        method: String,
        params: Option<Value>,
        sink: Sink,
    ) {
        let key = id_key(&id);
        let generation = self.next_generation.fetch_add(1, Ordering::SeqCst);
        let this = Arc::clone(self);
        let task_key = key.clone();
        // Hold the lock across spawn + insert so the task's own removal cannot run first.
        let mut running = lock(&self.running);
        let handle = self.engine.spawn(async move {
            Arc::clone(&this).answer(id, method, params, sink).await;
            let mut running = lock(&this.running);
            if running
                .get(&task_key)
                .is_some_and(|(g, _)| *g == generation)
            {
                running.remove(&task_key);
            }
            drop(running);
            this.finished.notify_waiters();
        });
        running.insert(key, (generation, handle.abort_handle()));
    }

    /// Runs one request to its answer (or, under some faults, forever).
    async fn answer(self: Arc<Self>, id: Value, method: String, params: Option<Value>, sink: Sink) {
        let engine = Arc::clone(&self.engine);
        let plan = &engine.plan;
        let hang_after = plan.configured(|f| match f {
            Fault::HangAfter { requests } => Some(*requests),
            _ => None,
        });
        if hang_after.is_some_and(|n| engine.answered.load(Ordering::SeqCst) >= n) {
            self.hang(&method, &id).await;
        }
        if let Some(ms) = plan.fire(|f| match f {
            Fault::Slow { method: m, ms } if *m == method => Some(*ms),
            _ => None,
        }) {
            engine.note(format!("chaos: slow: delaying {method} by {ms} ms"));
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if method == "initialize" && plan.fires(|f| matches!(f, Fault::NeverInitialize)) {
            self.silent.fetch_add(1, Ordering::SeqCst);
            engine.note("chaos: never-initialize: not answering initialize");
            std::future::pending::<()>().await;
        }
        let outcome = if plan.fires(|f| matches!(f, Fault::Error { method: m } if *m == method)) {
            engine.note(format!("chaos: error: failing {method}"));
            Err(RpcError::new(INTERNAL_ERROR, "chaos: injected error"))
        } else {
            self.dispatch(&method, params.as_ref(), &sink).await
        };
        let answered_before = engine.answered.fetch_add(1, Ordering::SeqCst);
        if hang_after.is_some_and(|n| answered_before >= n) {
            self.hang(&method, &id).await;
        }
        let initialized = method == "initialize" && outcome.is_ok();
        let message = match outcome {
            Ok(result) => engine.response(&id, result),
            Err(error) => engine.error_response(&id, &error),
        };
        let _ = sink.send(Outgoing::Response(message));
        if initialized {
            self.after_initialize(&sink);
        }
    }

    async fn hang(&self, method: &str, id: &Value) {
        self.silent.fetch_add(1, Ordering::SeqCst);
        self.engine.note(format!(
            "chaos: hang-after: not answering {method} (id {id})"
        ));
        std::future::pending::<()>().await;
    }

    fn after_initialize(&self, sink: &Sink) {
        let engine = &self.engine;
        if engine.transport == Transport::Stdio
            && let Some(lines) = engine.plan.fire(|f| match f {
                Fault::StdoutNoise { lines } => Some(*lines),
                _ => None,
            })
        {
            for line in noise_lines(lines) {
                let _ = sink.send(Outgoing::Raw(line));
            }
        }
        if let Some(ms) = engine.plan.fire(|f| match f {
            Fault::ExitAfter { ms } => Some(*ms),
            _ => None,
        }) {
            let e = Arc::clone(engine);
            engine.spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                e.exit(
                    1,
                    format!("chaos: exiting {ms} ms after initialize (exit-after)"),
                );
            });
        }
    }

    async fn dispatch(
        self: &Arc<Self>,
        method: &str,
        params: Option<&Value>,
        sink: &Sink,
    ) -> Result<Value, RpcError> {
        let engine = &self.engine;
        if engine.conformance
            && let Some(outcome) = conformance::dispatch(self, method, params)
        {
            return outcome;
        }
        match method {
            "initialize" => Ok(engine.initialize_result(params)),
            "ping" | "logging/setLevel" => Ok(json!({})),
            "tools/list" => self.list_tools(params),
            "tools/call" => self.call_tool(params, sink).await,
            "prompts/list" => self.list(catalog::prompts(), "prompts", params),
            "prompts/get" => catalog::get_prompt(params.unwrap_or(&Value::Null)),
            "resources/list" => self.list(catalog::resources(), "resources", params),
            "resources/read" => read_resource(params),
            "resources/templates/list" => self.list(Vec::new(), "resourceTemplates", params),
            other => Err(RpcError::new(
                METHOD_NOT_FOUND,
                format!("Method not found: {other}"),
            )),
        }
    }

    fn page_size(&self) -> Option<u32> {
        self.engine.plan.fire(|f| match f {
            Fault::PageSize { size } => Some(*size),
            _ => None,
        })
    }

    pub(crate) fn list(
        &self,
        items: Vec<Value>,
        key: &str,
        params: Option<&Value>,
    ) -> Result<Value, RpcError> {
        let (page, next) = catalog::page(items, params, self.page_size())?;
        let mut result = Map::new();
        result.insert(key.into(), Value::Array(page));
        if let Some(next) = next {
            result.insert("nextCursor".into(), next.into());
        }
        Ok(Value::Object(result))
    }

    fn list_tools(&self, params: Option<&Value>) -> Result<Value, RpcError> {
        let engine = &self.engine;
        let tools = catalog::tool_list(&engine.plan, engine.ephemeral(), engine.conformance);
        if engine.plan.fires(|f| matches!(f, Fault::RepeatCursor)) {
            // Whatever cursor came in: the first page and the same cursor again.
            let (page, _) = catalog::page(tools, None, self.page_size())?;
            return Ok(json!({"tools": page, "nextCursor": catalog::REPEATED_CURSOR}));
        }
        self.list(tools, "tools", params)
    }

    async fn call_tool(
        self: &Arc<Self>,
        params: Option<&Value>,
        sink: &Sink,
    ) -> Result<Value, RpcError> {
        let engine = &self.engine;
        let params = params.cloned().unwrap_or(Value::Null);
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err(RpcError::new(INVALID_PARAMS, "Missing tool name"));
        };
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => {
                if engine.plan.fires(|f| matches!(f, Fault::RequireArguments)) {
                    engine.note("chaos: require-arguments: rejecting tools/call without arguments");
                    return Err(RpcError::new(
                        INVALID_PARAMS,
                        "Invalid arguments: expected object",
                    ));
                }
                Map::new()
            }
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                return Err(RpcError::new(
                    INVALID_PARAMS,
                    "Invalid arguments: expected object",
                ));
            }
        };
        if engine.plan.fires(|f| matches!(f, Fault::CrashOnCall)) {
            engine.exit(3, "chaos: crashing on tools/call (crash-on-call)");
            std::future::pending::<()>().await;
        }
        let progress = params
            .get("_meta")
            .and_then(|m| m.get("progressToken"))
            .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
            .cloned();
        let ctx = ToolCtx {
            session: self,
            sink,
            progress,
        };
        let result = tools::call(&ctx, name, &arguments).await?;
        Ok(self.shape_result(result))
    }

    /// Result-shaping faults, applied after the tool ran.
    fn shape_result(&self, result: Value) -> Value {
        let plan = &self.engine.plan;
        if plan.fires(|f| matches!(f, Fault::EmptyResult)) {
            return json!({});
        }
        if plan.fires(|f| matches!(f, Fault::UnknownContent)) {
            return json!({"content": [{"type": "widget", "widget": {"kind": "chart", "points": [1, 2, 3]}}]});
        }
        if let Some(bytes) = plan.fire(|f| match f {
            Fault::BigResult { bytes } => Some(*bytes),
            _ => None,
        }) {
            return tools::text_result(tools::filler_text(bytes));
        }
        result
    }

    /// Sends a server→client request on `sink` and waits for the client's answer.
    pub(crate) async fn request(
        &self,
        sink: &Sink,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, Value> {
        let n = self.next_out_id.fetch_add(1, Ordering::SeqCst);
        let id = Value::from(n);
        let key = id_key(&id);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(key.clone(), tx);
        if self.closed.load(Ordering::SeqCst) {
            lock(&self.pending).remove(&key);
            return Err(json!({"code": -32000, "message": "Connection closed"}));
        }
        // If this request is cancelled while waiting, forget the pending entry.
        let _forget = Forget {
            pending: &self.pending,
            key,
        };
        let message = self.engine.request_message(&id, method, params);
        if sink.send(Outgoing::Related(message)).is_err() {
            return Err(json!({"code": -32000, "message": "Connection closed"}));
        }
        rx.await
            .unwrap_or_else(|_| Err(json!({"code": -32000, "message": "Connection closed"})))
    }

    /// Sends a notification related to the current request.
    pub(crate) fn notify(&self, sink: &Sink, method: &str, params: Value) {
        let message = self.engine.notification(method, Some(params));
        let _ = sink.send(Outgoing::Related(message));
    }
}

/// Removes a pending server→client request when its waiter goes away.
struct Forget<'a> {
    pending: &'a Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>,
    key: String,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(&self.key);
    }
}

fn read_resource(params: Option<&Value>) -> Result<Value, RpcError> {
    let uri = params
        .and_then(|p| p.get("uri"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if uri != catalog::README_URI {
        return Err(RpcError::new(
            crate::message::RESOURCE_NOT_FOUND,
            format!("Resource not found: {uri}"),
        )
        .with_data(json!({"uri": uri})));
    }
    Ok(json!({"contents": [{"uri": uri, "mimeType": "text/plain", "text": catalog::README_TEXT}]}))
}

/// Realistic stdout pollution, as seen in failure reports (research D.8).
pub(crate) fn noise_lines(n: u32) -> impl Iterator<Item = String> {
    const LINES: [&str; 5] = [
        "[db] Connecting to database...",
        "MCP Server running on stdio",
        "info: Microsoft.Hosting.Lifetime[0] Application started.",
        "Created in 12ms",
        "STDIO MCP server ready",
    ];
    (0..n).map(|i| LINES[i as usize % LINES.len()].to_owned())
}
