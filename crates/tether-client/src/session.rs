//! One MCP session over any transport: the handshake, id correlation, timeouts with
//! `notifications/cancelled`, progress, pagination, and server→client requests.
//!
//! Pending requests live in a map of oneshot senders filled directly by the transport's reader,
//! so an answer costs one map lookup and one wake-up. When the connection ends, every waiter gets
//! an error that says why (exit status, stderr tail): nothing ever hangs on a dead server.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tether_proto::jsonrpc::{self, ErrorObject, code};
use tether_proto::mcp::{
    self, CancelledParams, Implementation, InitializeParams, InitializeResult, ListItem,
    ListParams, ProgressParams, method,
};
use tether_proto::ndjson::Skipped;
use tether_proto::{Decoded, Id, Message, Notification, Request, Response, version};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::error::{Error, Timer};
use crate::sync::lock;
use crate::transport::{Sink, Target, Transport};

/// A request a server sent to the client.
#[derive(Debug)]
pub struct ServerRequest<'a> {
    /// The server's configured name.
    pub server: &'a str,
    /// The method (`sampling/createMessage`, `elicitation/create`, `roots/list`, ...).
    pub method: &'a str,
    /// Raw parameters.
    pub params: Option<Box<RawValue>>,
    /// The client request whose answer stream carried it (HTTP), when known.
    pub related: Option<Id>,
}

/// What a handler eventually answers.
pub type HandlerFuture = BoxFuture<'static, Result<Box<RawValue>, ErrorObject>>;

/// Answers the requests a server sends to the client (sampling, elicitation, roots).
pub trait ClientHandler: Send + Sync + 'static {
    /// The client capabilities to declare in `initialize` (an object).
    fn capabilities(&self) -> Value {
        Value::Object(Default::default())
    }

    /// Handles a server→client request; `None` answers "method not found".
    fn handle(&self, request: ServerRequest<'_>) -> Option<HandlerFuture> {
        let _ = request;
        None
    }
}

/// A handler that declares `roots` and answers `roots/list` with fixed roots; everything else
/// (sampling, elicitation) gets a proper "method not found" error.
#[derive(Debug, Clone, Default)]
pub struct RootsHandler {
    /// `file://` URIs offered as roots.
    pub roots: Vec<String>,
}

impl ClientHandler for RootsHandler {
    fn capabilities(&self) -> Value {
        serde_json::json!({ "roots": { "listChanged": false } })
    }

    fn handle(&self, request: ServerRequest<'_>) -> Option<HandlerFuture> {
        if request.method != method::ROOTS_LIST {
            return None;
        }
        let roots: Vec<Value> = self
            .roots
            .iter()
            .map(|uri| serde_json::json!({ "uri": uri }))
            .collect();
        let result = jsonrpc::to_raw(&serde_json::json!({ "roots": roots }));
        Some(Box::pin(async move { Ok(result) }))
    }
}

/// How to run a session.
#[derive(Clone)]
pub struct SessionOptions {
    /// The server's name, for logs and errors.
    pub name: String,
    /// Who we are.
    pub client_info: Implementation,
    /// Answers server→client requests.
    pub handler: Arc<dyn ClientHandler>,
    /// The connect + initialize budget.
    pub connect_timeout: Duration,
    /// Grace periods of the stdio shutdown ladder.
    pub shutdown_grace: Duration,
    /// Sees every event as it happens, from the spawn on (subscribers only see what follows
    /// the handshake): `--debug` output.
    pub tap: Option<EventTap>,
}

/// A callback that sees a session's events as they happen.
#[derive(Clone)]
pub struct EventTap(pub Arc<dyn Fn(&SessionEvent) + Send + Sync>);

impl std::fmt::Debug for EventTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventTap")
    }
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions")
            .field("name", &self.name)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl SessionOptions {
    /// Defaults for a server name: 30 s connect budget, 2 s shutdown grace, no handler.
    pub fn new(name: impl Into<String>) -> Self {
        SessionOptions {
            name: name.into(),
            client_info: Implementation {
                name: "tether".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                title: Some("Tether".into()),
            },
            handler: Arc::new(RootsHandler::default()),
            connect_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(2),
            tap: None,
        }
    }
}

/// Per-request options.
#[derive(Debug, Clone)]
pub struct RequestOptions {
    /// How long to wait for the answer.
    pub timeout: Option<Duration>,
    /// An absolute deadline (the connect budget), whichever comes first.
    pub deadline: Option<Instant>,
    /// What `timeout` is called in errors.
    pub timer: Timer,
    /// Abort when neither an answer nor progress arrives for this long.
    pub idle: Option<Duration>,
    /// Receives the request's progress notifications.
    pub progress: Option<mpsc::UnboundedSender<ProgressParams>>,
    /// Filled with the id the request went out under (for request logs).
    pub sent_id: Option<Arc<OnceLock<Id>>>,
}

impl RequestOptions {
    /// A request with a plain timeout.
    pub fn timeout(d: Duration) -> Self {
        RequestOptions {
            timeout: Some(d),
            deadline: None,
            timer: Timer::Request,
            idle: None,
            progress: None,
            sent_id: None,
        }
    }

    /// A request bounded by an absolute deadline (and its timer's name).
    pub fn until(deadline: Instant, timer: Timer) -> Self {
        RequestOptions {
            timeout: None,
            deadline: Some(deadline),
            timer,
            idle: None,
            progress: None,
            sent_id: None,
        }
    }
}

/// Something that happened on a session, for whoever listens.
#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// `notifications/{tools,prompts,resources}/list_changed`.
    ListChanged(ListKind),
    /// Any other notification (logging, resource updates, ...).
    Notification(Notification),
    /// A line of the server's stderr.
    Stderr(String),
    /// Something that was not JSON-RPC.
    Noise(Skipped),
    /// The HTTP session expired and was re-established.
    SessionRenewed,
    /// The connection ended.
    Closed(Error),
}

/// Which list changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// Tools.
    Tools,
    /// Prompts.
    Prompts,
    /// Resources.
    Resources,
}

/// Counters a session keeps about its peer's behaviour.
#[derive(Debug, Clone, Default)]
pub struct SessionStats {
    /// Lines or events that were not JSON-RPC.
    pub noise: u64,
    /// The first such line.
    pub first_noise: Option<String>,
    /// Noise seen before the handshake completed.
    pub noise_before_init: u64,
    /// Messages that lacked `"jsonrpc"`.
    pub missing_jsonrpc: u64,
    /// HTTP sessions re-established after expiry.
    pub session_renewals: u64,
}

/// How long each step of connecting took.
#[derive(Debug, Clone, Copy, Default)]
pub struct HandshakeTimings {
    /// Opening the transport: spawning the process, or for legacy SSE the GET until `endpoint`.
    pub open: Option<Duration>,
    /// From sending `initialize` to its valid result.
    pub initialize: Option<Duration>,
    /// Delivering `notifications/initialized` (HTTP: until the server accepted it).
    pub initialized: Option<Duration>,
}

/// A complete list, gathered across pages.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    /// Every item that decoded.
    pub items: Vec<T>,
    /// Items that were dropped, and why.
    pub issues: Vec<mcp::ListIssue>,
    /// Pagination trouble (repeated cursor, page cap) that cut the list short.
    pub warnings: Vec<String>,
    /// Pages read.
    pub pages: usize,
}

/// Most pages read for one list.
pub const MAX_PAGES: usize = 64;

struct Pending {
    tx: oneshot::Sender<Result<Box<RawValue>, Error>>,
    method: Box<str>,
    /// Where the caller wants progress notifications.
    progress: Option<mpsc::UnboundedSender<ProgressParams>>,
    /// When the last progress notification arrived (it pushes the idle timer back).
    last_progress: Option<Instant>,
}

struct Inner {
    name: String,
    transport: OnceLock<Transport>,
    pending: Mutex<foldhash::HashMap<Id, Pending>>,
    next_id: AtomicI64,
    handler: Arc<dyn ClientHandler>,
    events: broadcast::Sender<SessionEvent>,
    tap: Option<EventTap>,
    closed: watch::Sender<Option<Error>>,
    info: OnceLock<InitializeResult>,
    stats: Mutex<SessionStats>,
    initialized: std::sync::atomic::AtomicBool,
    requests_sent: AtomicU64,
    shutdown_grace: Duration,
    /// Sink callbacks get `&self`; handlers that outlive the call need an owning handle.
    weak_self: Weak<Inner>,
}

/// A live MCP session. Cheap to clone; the connection ends when the last clone is dropped.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects and runs the handshake within `opts.connect_timeout`.
    pub async fn connect(target: &Target, opts: SessionOptions) -> Result<Session, Error> {
        let deadline = Instant::now() + opts.connect_timeout;
        Self::connect_until(target, opts, deadline).await
    }

    /// Connects and runs the handshake before `deadline`.
    pub async fn connect_until(
        target: &Target,
        opts: SessionOptions,
        deadline: Instant,
    ) -> Result<Session, Error> {
        Self::connect_timed(target, opts, deadline, &mut HandshakeTimings::default()).await
    }

    /// [`Session::connect_until`], recording how long each step took (for `tether doctor`);
    /// steps that did not finish stay `None`.
    pub(crate) async fn connect_timed(
        target: &Target,
        opts: SessionOptions,
        deadline: Instant,
        timings: &mut HandshakeTimings,
    ) -> Result<Session, Error> {
        let budget = opts.connect_timeout;
        let started = Instant::now();
        // Small on purpose: every idle upstream pays for it; a listener that falls behind only
        // loses stderr lines and noise reports, which the stderr ring and counters still hold.
        let (events, _) = broadcast::channel(32);
        let inner = Arc::new_cyclic(|weak_self| Inner {
            name: opts.name.clone(),
            transport: OnceLock::new(),
            pending: Mutex::default(),
            next_id: AtomicI64::new(0),
            handler: opts.handler.clone(),
            events,
            tap: opts.tap.clone(),
            closed: watch::channel(None).0,
            info: OnceLock::new(),
            stats: Mutex::new(SessionStats::default()),
            initialized: false.into(),
            requests_sent: AtomicU64::new(0),
            shutdown_grace: opts.shutdown_grace,
            weak_self: weak_self.clone(),
        });
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        let sink: Weak<dyn Sink> = weak;
        let open = tokio::time::timeout_at(deadline, Transport::open(target, sink)).await;
        let transport = match open {
            Ok(t) => t?,
            Err(_) => {
                return Err(Error::HandshakeTimeout {
                    after: budget,
                    process_running: None,
                    stdout_noise: 0,
                    stderr_tail: Vec::new(),
                });
            }
        };
        let _ = inner.transport.set(transport);
        timings.open = Some(started.elapsed());
        let session = Session { inner };
        match session.handshake(&opts, deadline, budget, timings).await {
            Ok(()) => Ok(session),
            Err(e) => {
                session.kill_now();
                Err(e)
            }
        }
    }

    async fn handshake(
        &self,
        opts: &SessionOptions,
        deadline: Instant,
        budget: Duration,
        timings: &mut HandshakeTimings,
    ) -> Result<(), Error> {
        let step = Instant::now();
        let params = InitializeParams {
            protocol_version: version::LATEST.to_owned(),
            capabilities: opts.handler.capabilities(),
            client_info: opts.client_info.clone(),
        };
        let outcome = self
            .request(
                method::INITIALIZE,
                Some(jsonrpc::to_raw(&params)),
                RequestOptions::until(deadline, Timer::Connect),
            )
            .await;
        let raw = match outcome {
            Ok(raw) => raw,
            Err(e) => return Err(self.handshake_error(e, budget)),
        };
        let result: InitializeResult = serde_json::from_str(raw.get()).map_err(|e| {
            Error::Protocol(format!(
                "bad initialize result ({e}): {}",
                preview(raw.get())
            ))
        })?;
        if !version::is_supported(&result.protocol_version) {
            return Err(Error::VersionUnsupported {
                offered: result.protocol_version,
            });
        }
        let negotiated = result.protocol_version.clone();
        let _ = self.inner.info.set(result);
        timings.initialize = Some(step.elapsed());
        let step = Instant::now();
        let initialized = Message::Notification(Notification {
            method: method::INITIALIZED.to_owned(),
            params: None,
        });
        let transport = self.transport()?;
        match tokio::time::timeout_at(deadline, transport.notify(initialized)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Timeout {
                    method: method::INITIALIZED.to_owned(),
                    timer: Timer::Connect,
                    after: budget,
                });
            }
        }
        timings.initialized = Some(step.elapsed());
        self.inner.initialized.store(true, Ordering::Release);
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(2));
        transport.after_handshake(&negotiated, wait).await;
        tracing::debug!(server = %self.inner.name, version = %negotiated, "handshake done");
        Ok(())
    }

    /// Turns a failed `initialize` into the error that explains it best.
    fn handshake_error(&self, e: Error, budget: Duration) -> Error {
        match e {
            Error::Timeout {
                timer: Timer::Connect,
                ..
            } => {
                let stats = self.stats();
                let (running, stderr_tail) = match self.inner.transport.get() {
                    Some(Transport::Stdio(t)) => (
                        Some(t.is_running()),
                        t.stderr_tail(crate::transport::stdio::STDERR_TAIL_LINES),
                    ),
                    _ => (None, Vec::new()),
                };
                Error::HandshakeTimeout {
                    after: budget,
                    process_running: running,
                    stdout_noise: stats.noise,
                    stderr_tail,
                }
            }
            Error::ConnectionLost { cause, .. } => match *cause {
                Error::ProcessExited {
                    exit,
                    uptime,
                    stderr_tail,
                    ..
                } => Error::ProcessExited {
                    exit,
                    during_init: true,
                    uptime,
                    stderr_tail,
                },
                other => other,
            },
            other => other,
        }
    }

    fn transport(&self) -> Result<&Transport, Error> {
        self.inner.transport.get().ok_or(Error::Closed)
    }

    /// The server's name, as configured.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The `initialize` result.
    pub fn info(&self) -> Option<&InitializeResult> {
        self.inner.info.get()
    }

    /// The negotiated protocol revision.
    pub fn protocol_version(&self) -> &str {
        self.info().map_or("", |i| i.protocol_version.as_str())
    }

    /// Counters about the peer's behaviour.
    pub fn stats(&self) -> SessionStats {
        lock(&self.inner.stats).clone()
    }

    /// Subscribes to session events.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.inner.events.subscribe()
    }

    /// Why the connection ended, once it has.
    pub fn closed_reason(&self) -> Option<Error> {
        self.inner.closed.borrow().clone()
    }

    /// Resolves when the connection ends, with the reason.
    pub async fn closed(&self) -> Error {
        let mut rx = self.inner.closed.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or(Error::Closed),
            Err(_) => Error::Closed,
        }
    }

    /// The stdio process id, when there is one.
    pub fn pid(&self) -> Option<u32> {
        match self.inner.transport.get() {
            Some(Transport::Stdio(t)) => Some(t.pid()),
            _ => None,
        }
    }

    /// The last lines of the server's stderr (stdio only).
    pub fn stderr_tail(&self, n: usize) -> Vec<String> {
        match self.inner.transport.get() {
            Some(Transport::Stdio(t)) => t.stderr_tail(n),
            _ => Vec::new(),
        }
    }

    /// Requests sent so far.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests_sent.load(Ordering::Relaxed)
    }

    /// Sends a request and waits for its answer under the given timers.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Box<RawValue>>,
        opts: RequestOptions,
    ) -> Result<Box<RawValue>, Error> {
        self.request_with(
            method,
            |token| match (token, params) {
                (Some(token), Some(p)) => Some(with_progress_token(p, token)),
                (_, p) => p,
            },
            opts,
        )
        .await
    }

    /// Sends a request whose parameters are built once its id is known: `build` receives the
    /// progress token to embed (the request id) when progress or an idle timer is wanted.
    pub async fn request_with(
        &self,
        method: &str,
        build: impl FnOnce(Option<&Id>) -> Option<Box<RawValue>>,
        opts: RequestOptions,
    ) -> Result<Box<RawValue>, Error> {
        if let Some(cause) = self.closed_reason() {
            return Err(lost(method, false, cause));
        }
        let id = Id::Number(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        // A progress token makes servers report progress, which is what keeps the idle timer
        // from firing on long but live calls; a channel is only needed when the caller listens.
        let wants_token = opts.idle.is_some() || opts.progress.is_some();
        let params = build(wants_token.then_some(&id));
        lock(&self.inner.pending).insert(
            id.clone(),
            Pending {
                tx,
                method: method.into(),
                progress: opts.progress.clone(),
                last_progress: None,
            },
        );
        let mut guard = PendingGuard {
            inner: &self.inner,
            id: id.clone(),
            cancel_on_drop: method != method::INITIALIZE,
        };
        if let Some(slot) = &opts.sent_id {
            let _ = slot.set(id.clone());
        }
        let msg = Message::Request(Request {
            id: id.clone(),
            method: method.to_owned(),
            params,
        });
        self.inner.requests_sent.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.transport()?.send(msg) {
            guard.cancel_on_drop = false;
            return Err(lost(method, false, e));
        }
        let start = Instant::now();
        let wall = match (opts.timeout, opts.deadline) {
            (Some(t), Some(d)) => Some((start + t).min(d)),
            (Some(t), None) => Some(start + t),
            (None, d) => d,
        };
        let mut idle_at = opts.idle.map(|d| start + d);
        let mut rx = rx;
        loop {
            // One timer for both deadlines: the earlier one.
            let next = match (wall, idle_at) {
                (Some(w), Some(i)) => Some(w.min(i)),
                (w, i) => w.or(i),
            };
            tokio::select! {
                biased;
                outcome = &mut rx => {
                    guard.cancel_on_drop = false;
                    return outcome.unwrap_or(Err(Error::Closed));
                }
                _ = sleep_opt(next) => {
                    let now = Instant::now();
                    if wall.is_some_and(|w| now >= w) {
                        let after = wall.map_or(Duration::ZERO, |w| w - start);
                        return Err(Error::Timeout { method: method.to_owned(), timer: opts.timer, after });
                    }
                    // The idle deadline passed: unless progress came in meanwhile, give up.
                    let last = lock(&self.inner.pending).get(&id).and_then(|p| p.last_progress);
                    match (opts.idle, last) {
                        (Some(idle), Some(last)) if last + idle > now => idle_at = Some(last + idle),
                        _ => {
                            return Err(Error::Timeout {
                                method: method.to_owned(),
                                timer: Timer::Idle,
                                after: opts.idle.unwrap_or_default(),
                            });
                        }
                    }
                }
            }
        }
    }

    /// Sends a notification (fire and forget).
    pub fn notify(&self, method: &str, params: Option<Box<RawValue>>) -> Result<(), Error> {
        self.transport()?.send(Message::Notification(Notification {
            method: method.to_owned(),
            params,
        }))
    }

    /// `ping`, answered within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), Error> {
        let mut opts = RequestOptions::timeout(timeout);
        opts.timer = Timer::Ping;
        self.request(method::PING, None, opts).await.map(|_| ())
    }

    /// Calls a tool; `arguments` is always sent (`{}` when there are none).
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<Value>,
        opts: RequestOptions,
    ) -> Result<Box<RawValue>, Error> {
        let raw = arguments.map(|a| jsonrpc::to_raw(&a));
        self.call_tool_raw(name, raw.as_deref(), None, opts).await
    }

    /// Calls a tool with arguments and `_meta` forwarded as raw JSON, untouched; `arguments`
    /// is always sent (`{}` when there are none).
    pub async fn call_tool_raw(
        &self,
        name: &str,
        arguments: Option<&RawValue>,
        meta: Option<&RawValue>,
        mut opts: RequestOptions,
    ) -> Result<Box<RawValue>, Error> {
        if opts.timer == Timer::Request {
            opts.timer = Timer::WallClock;
        }
        let build = |token: Option<&Id>| Some(call_params(name, arguments, meta, token));
        self.request_with(method::TOOLS_CALL, build, opts)
            .await
            .map_err(|e| match e {
                Error::Timeout { timer, after, .. } => Error::Timeout {
                    method: format!("tools/call '{name}'"),
                    timer,
                    after,
                },
                other => other,
            })
    }

    /// Reads every page of a list (capped at 64 pages, stopping at a repeated cursor).
    pub async fn list_all<T: ListItem>(
        &self,
        method: &str,
        opts: RequestOptions,
    ) -> Result<Listed<T>, Error> {
        let mut listed = Listed {
            items: Vec::new(),
            issues: Vec::new(),
            warnings: Vec::new(),
            pages: 0,
        };
        let mut seen_cursors = std::collections::HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = ListParams {
                cursor: cursor.clone(),
            };
            let raw = self
                .request(method, Some(jsonrpc::to_raw(&params)), opts.clone())
                .await?;
            let page = mcp::decode_page::<T>(&raw)
                .map_err(|e| Error::Protocol(format!("{method}: {e}")))?;
            listed.pages += 1;
            let offset = listed.items.len();
            listed.items.extend(page.items);
            listed.issues.extend(page.issues.into_iter().map(|mut i| {
                i.index += offset;
                i
            }));
            match page.next_cursor {
                None => return Ok(listed),
                Some(next) if next.is_empty() => return Ok(listed),
                Some(next) => {
                    if !seen_cursors.insert(next.clone()) {
                        listed
                            .warnings
                            .push(format!("server repeated cursor {next:?}; stopped paging"));
                        return Ok(listed);
                    }
                    if listed.pages >= MAX_PAGES {
                        listed
                            .warnings
                            .push(format!("stopped after {MAX_PAGES} pages"));
                        return Ok(listed);
                    }
                    cursor = Some(next);
                }
            }
        }
    }

    /// Closes gracefully (stdio: close stdin → grace → SIGTERM → grace → SIGKILL; HTTP: DELETE).
    pub async fn shutdown(&self) {
        if let Some(t) = self.inner.transport.get() {
            t.shutdown(self.inner.shutdown_grace).await;
        }
    }

    /// Kills a stdio server at once (a wedged server); a no-op for HTTP.
    pub fn kill_now(&self) {
        if let Some(Transport::Stdio(t)) = self.inner.transport.get() {
            t.kill();
        }
    }
}

fn lost(method: &str, outcome_unknown: bool, cause: Error) -> Error {
    Error::ConnectionLost {
        method: method.to_owned(),
        outcome_unknown,
        cause: Box::new(cause),
    }
}

fn preview(s: &str) -> String {
    tether_proto::ndjson::preview(s.as_bytes())
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `tools/call` parameters assembled from raw pieces, so arguments are never re-serialised (nor
/// parsed again: `to_raw` trusts what it serialised).
fn call_params(
    name: &str,
    arguments: Option<&RawValue>,
    meta: Option<&RawValue>,
    token: Option<&Id>,
) -> Box<RawValue> {
    #[derive(Serialize)]
    struct Params<'a> {
        name: &'a str,
        arguments: &'a RawValue,
        #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
        meta: Option<Meta<'a>>,
    }
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Meta<'a> {
        Token {
            #[serde(rename = "progressToken")]
            progress_token: &'a Id,
        },
        Merged(serde_json::Map<String, Value>),
    }
    let empty;
    let arguments = match arguments {
        Some(a) => a,
        None => {
            empty = jsonrpc::empty_object();
            &*empty
        }
    };
    let meta = match (meta, token) {
        (None, None) => None,
        (None, Some(token)) => Some(Meta::Token {
            progress_token: token,
        }),
        (Some(meta), token) => {
            // Keep the caller's other `_meta` members; our token replaces theirs.
            let mut map: serde_json::Map<String, Value> =
                serde_json::from_str(meta.get()).unwrap_or_default();
            if let Some(token) = token {
                map.insert(
                    "progressToken".into(),
                    serde_json::to_value(token).unwrap_or(Value::Null),
                );
            }
            Some(Meta::Merged(map))
        }
    };
    jsonrpc::to_raw(&Params {
        name,
        arguments,
        meta,
    })
}

/// Puts our own `_meta.progressToken` into request parameters (an object).
fn with_progress_token(params: Box<RawValue>, token: &Id) -> Box<RawValue> {
    let Ok(mut map) = serde_json::from_str::<serde_json::Map<String, Value>>(params.get()) else {
        return params;
    };
    let meta = map
        .entry("_meta")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Value::Object(meta) = meta {
        meta.insert(
            "progressToken".into(),
            serde_json::to_value(token).unwrap_or(Value::Null),
        );
    }
    jsonrpc::to_raw(&map)
}

/// Removes a pending request that is abandoned (timeout, caller gone) and tells the server.
struct PendingGuard<'a> {
    inner: &'a Arc<Inner>,
    id: Id,
    cancel_on_drop: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let removed = lock(&self.inner.pending).remove(&self.id);
        if self.cancel_on_drop && removed.is_some() {
            let params = CancelledParams {
                request_id: self.id.clone(),
                reason: Some("request timed out or was abandoned by the client".into()),
            };
            if let Some(t) = self.inner.transport.get() {
                let _ = t.send(Message::notification(method::CANCELLED, Some(&params)));
            }
        }
    }
}

impl Inner {
    fn emit(&self, event: SessionEvent) {
        if let Some(tap) = &self.tap {
            (tap.0)(&event);
        }
        let _ = self.events.send(event);
    }

    fn answer(&self, id: Id, outcome: Result<Box<RawValue>, ErrorObject>) {
        if let Some(t) = self.transport.get() {
            let _ = t.send(Message::Response(Response {
                id: Some(id),
                outcome,
            }));
        }
    }

    fn on_server_request(self: &Arc<Self>, req: Request, related: Option<&Id>) {
        if req.method == method::PING {
            self.answer(req.id, Ok(jsonrpc::empty_object()));
            return;
        }
        let request = ServerRequest {
            server: &self.name,
            method: &req.method,
            params: req.params,
            related: related.cloned(),
        };
        match self.handler.handle(request) {
            Some(fut) => {
                let weak = Arc::downgrade(self);
                let id = req.id;
                tokio::spawn(async move {
                    let outcome = fut.await;
                    if let Some(inner) = weak.upgrade() {
                        inner.answer(id, outcome);
                    }
                });
            }
            None => self.answer(
                req.id,
                Err(ErrorObject::new(
                    code::METHOD_NOT_FOUND,
                    format!("{} is not supported by this client", req.method),
                )),
            ),
        }
    }

    fn on_notification(&self, n: Notification) {
        match n.method.as_str() {
            method::PROGRESS => {
                let Some(params) = n.params.as_deref() else {
                    return;
                };
                let Ok(p) = serde_json::from_str::<ProgressParams>(params.get()) else {
                    return;
                };
                // Sent from here, while the reader handles this line, so the caller receives
                // every progress notification before the answer that follows it.
                let mut pending = lock(&self.pending);
                if let Some(entry) = pending.get_mut(&p.progress_token) {
                    entry.last_progress = Some(Instant::now());
                    if let Some(tx) = &entry.progress {
                        let _ = tx.send(p);
                    }
                }
            }
            method::TOOLS_LIST_CHANGED => self.emit(SessionEvent::ListChanged(ListKind::Tools)),
            method::PROMPTS_LIST_CHANGED => self.emit(SessionEvent::ListChanged(ListKind::Prompts)),
            method::RESOURCES_LIST_CHANGED => {
                self.emit(SessionEvent::ListChanged(ListKind::Resources))
            }
            method::CANCELLED => {} // a server cancelling its own request to us: nothing in flight to stop
            _ => self.emit(SessionEvent::Notification(n)),
        }
    }
}

impl Sink for Inner {
    fn on_message(&self, msg: Decoded, related: Option<&Id>) {
        if msg.repairs.missing_jsonrpc {
            lock(&self.stats).missing_jsonrpc += 1;
        }
        match msg.message {
            Message::Response(r) => {
                let Some(id) = r.id else {
                    tracing::debug!(server = %self.name, "error response without id ignored");
                    return;
                };
                let entry = lock(&self.pending).remove(&id);
                match entry {
                    Some(p) => {
                        let _ = p.tx.send(r.outcome.map_err(Error::Peer));
                    }
                    None => {
                        tracing::debug!(server = %self.name, %id, "late or unknown response dropped")
                    }
                }
            }
            Message::Request(req) => {
                // Sink is implemented on Inner, but handlers need an Arc to outlive this call.
                if let Some(me) = self.weak_self.upgrade() {
                    me.on_server_request(req, related);
                }
            }
            Message::Notification(n) => self.on_notification(n),
        }
    }

    fn on_request_failed(&self, id: &Id, error: Error) {
        let entry = lock(&self.pending).remove(id);
        if let Some(p) = entry {
            let _ = p.tx.send(Err(error));
        }
    }

    fn on_closed(&self, error: Error) {
        let drained: Vec<Pending> = lock(&self.pending).drain().map(|(_, p)| p).collect();
        for p in drained {
            let unknown = &*p.method == method::TOOLS_CALL;
            let _ = p.tx.send(Err(lost(&p.method, unknown, error.clone())));
        }
        self.closed.send_replace(Some(error.clone()));
        self.emit(SessionEvent::Closed(error));
    }

    fn on_noise(&self, skipped: Skipped) {
        {
            let mut stats = lock(&self.stats);
            stats.noise += 1;
            if !self.initialized.load(Ordering::Acquire) {
                stats.noise_before_init += 1;
            }
            if stats.first_noise.is_none() {
                stats.first_noise = Some(skipped.preview.clone());
            }
        }
        tracing::debug!(server = %self.name, line = %skipped.preview, "skipped non-JSON-RPC output");
        self.emit(SessionEvent::Noise(skipped));
    }

    fn on_stderr(&self, line: &str) {
        tracing::trace!(server = %self.name, line, "stderr");
        self.emit(SessionEvent::Stderr(line.to_owned()));
    }

    fn on_session_renewed(&self) {
        lock(&self.stats).session_renewals += 1;
        tracing::debug!(server = %self.name, "HTTP session expired; re-initialized");
        self.emit(SessionEvent::SessionRenewed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn params(arguments: Option<&str>, meta: Option<&str>, token: Option<Id>) -> serde_json::Value {
        let (arguments, meta) = (arguments.map(raw), meta.map(raw));
        let built = call_params(
            "a \"tool\"",
            arguments.as_deref(),
            meta.as_deref(),
            token.as_ref(),
        );
        serde_json::from_str(built.get()).expect("valid JSON")
    }

    #[test]
    fn call_params_keep_arguments_verbatim_and_place_the_progress_token() {
        assert_eq!(
            params(Some(r#"{"n": 1.50}"#), None, None),
            serde_json::json!({"name": "a \"tool\"", "arguments": {"n": 1.50}})
        );
        let verbatim = call_params("t", Some(&raw(r#"{"n": 1.50}"#)), None, None);
        assert!(
            verbatim.get().contains(r#""arguments":{"n": 1.50}"#),
            "{}",
            verbatim.get()
        );
        assert_eq!(
            params(None, None, Some(Id::Number(7))),
            serde_json::json!({"name": "a \"tool\"", "arguments": {}, "_meta": {"progressToken": 7}})
        );
        assert_eq!(
            params(
                Some("{}"),
                Some(r#"{"progressToken": "theirs", "trace": "x"}"#),
                Some(Id::from("ours"))
            ),
            serde_json::json!({
                "name": "a \"tool\"",
                "arguments": {},
                "_meta": {"progressToken": "ours", "trace": "x"}
            })
        );
    }
}
