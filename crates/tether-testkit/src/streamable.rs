//! The Streamable HTTP endpoint `/mcp` (MCP 2025-11-25): sessions, POST answered as JSON or
//! SSE, the GET notification stream with `Last-Event-ID` resumption, and DELETE.
//!
//! A POST's request runs in the session; its answer is JSON unless the handler sends something
//! first (progress, a request to the client) or a fault asks for SSE. SSE streams are written
//! into the session's event log, so a dropped stream can be resumed with `GET` + `Last-Event-ID`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Response, header};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::behavior::Session;
use crate::canned;
use crate::engine::{Engine, Outgoing};
use crate::fault::{DEFAULT_SSE_RETRY_MS, Fault};
use crate::http::{App, accepts, is_json_content_type, lock, new_session_id};
use crate::legacy_sse;
use crate::message::{INVALID_REQUEST, Incoming, PARSE_ERROR, classify};
use crate::sse::{self, BodyOptions, EventLog, KEEP_ALIVE, channel_stream};

/// The session header.
const SESSION_HEADER: &str = "mcp-session-id";

/// One Streamable HTTP session.
#[derive(Debug)]
pub(crate) struct HttpSession {
    pub(crate) id: String,
    pub(crate) mcp: Arc<Session>,
    log: EventLog,
    /// Requests seen in this session (`session-expire`).
    requests: AtomicU64,
    /// Stops the forwarder of the current standalone GET stream.
    standalone: Mutex<Option<CancellationToken>>,
    ended: CancellationToken,
}

impl HttpSession {
    pub(crate) fn new(engine: Arc<Engine>) -> Arc<Self> {
        Arc::new(Self {
            id: new_session_id(),
            mcp: Session::new(engine),
            log: EventLog::default(),
            requests: AtomicU64::new(0),
            standalone: Mutex::new(None),
            ended: CancellationToken::new(),
        })
    }
}

impl App {
    /// The session a non-initialize request belongs to.
    fn session_for(&self, headers: &HeaderMap) -> Result<Arc<HttpSession>, NoSession> {
        if let Some(s) = &self.stateless {
            return Ok(Arc::clone(s));
        }
        let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
            return Err(NoSession::Missing);
        };
        if let Some(s) = lock(&self.sessions).get(id) {
            return Ok(Arc::clone(s));
        }
        if self.engine.plan.fires(|f| matches!(f, Fault::Session400)) {
            self.engine
                .note(format!("chaos: session-400: unknown session {id} gets 400"));
            return Err(NoSession::Unknown400);
        }
        Err(NoSession::Unknown)
    }

    fn register(&self, session: &Arc<HttpSession>) {
        lock(&self.sessions).insert(session.id.clone(), Arc::clone(session));
        self.stats.session_created();
    }

    fn forget(&self, id: &str) {
        if let Some(s) = lock(&self.sessions).remove(id) {
            s.ended.cancel();
        }
    }

    /// Counts a request in its session; `session-expire` forgets the session at the limit.
    fn count_session_request(&self, session: &HttpSession) {
        if self.stateless.is_some() {
            return;
        }
        let seen = session.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let plan = &self.engine.plan;
        let limit = plan.configured(|f| match f {
            Fault::SessionExpire { requests } => Some(*requests),
            _ => None,
        });
        if limit == Some(seen) && plan.fires(|f| matches!(f, Fault::SessionExpire { .. })) {
            self.forget(&session.id);
            self.engine.note(format!(
                "chaos: session-expire: forgot session {} after {seen} requests",
                session.id
            ));
        }
    }
}

/// Why a request has no session.
#[derive(Debug, Clone, Copy)]
enum NoSession {
    /// No `Mcp-Session-Id` header.
    Missing,
    /// An unknown id: 404, as the spec requires.
    Unknown,
    /// An unknown id under `session-400`.
    Unknown400,
}

impl NoSession {
    fn response(self) -> Response<Body> {
        match self {
            NoSession::Missing => canned::rpc_error(
                400,
                -32000,
                "Bad Request: Mcp-Session-Id header is required",
            ),
            NoSession::Unknown => canned::rpc_error(404, -32001, "Session not found"),
            NoSession::Unknown400 => {
                canned::rpc_error(400, -32000, "Bad Request: No valid session ID provided")
            }
        }
    }
}

/// `discover`: the stateless 2026-07-28 `server/discover` result (no session needed).
fn discover_result(engine: &Engine) -> Value {
    let mut versions = vec!["2026-07-28"];
    versions.extend(crate::engine::SUPPORTED_VERSIONS);
    let server_info =
        serde_json::json!({"name": engine.name, "version": env!("CARGO_PKG_VERSION")});
    serde_json::json!({
        "supportedVersions": versions,
        "capabilities": {"tools": {"listChanged": true}, "prompts": {}, "resources": {}, "logging": {}},
        "serverInfo": server_info,
        "instructions": "tether chaos (discover fault): answers server/discover; everything else \
                         still needs initialize.",
        "ttlMs": 60_000,
        "cacheScope": "public",
        "_meta": {"io.modelcontextprotocol/serverInfo": server_info},
    })
}

fn json_response(message: &Value, session_id: Option<&str>) -> Response<Body> {
    let mut response = canned::build(200, "application/json", message.to_string());
    add_session_header(&mut response, session_id);
    response
}

fn add_session_header(response: &mut Response<Body>, session_id: Option<&str>) {
    if let Some(value) = session_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
}

pub(crate) async fn post_mcp(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    if app.legacy {
        return canned::express_not_found("POST", "/mcp");
    }
    if let Some(r) = app.check_origin(&headers) {
        return r;
    }
    if let Some(r) = app.post_faults("/mcp") {
        return r;
    }
    if let Some(r) = app.check_auth(&headers) {
        return r;
    }
    if !(accepts(&headers, "application/json") && accepts(&headers, "text/event-stream")) {
        return canned::rpc_error(
            406,
            -32000,
            "Not Acceptable: Client must accept both application/json and text/event-stream",
        );
    }
    if !is_json_content_type(&headers) {
        return canned::rpc_error(
            415,
            -32000,
            "Unsupported Media Type: Content-Type must be application/json",
        );
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return canned::rpc_error(400, PARSE_ERROR, &format!("Parse error: {e}")),
    };
    if value.is_array() {
        return canned::rpc_error(
            400,
            INVALID_REQUEST,
            "Invalid Request: batches are not supported",
        );
    }
    let incoming = match classify(value) {
        Incoming::Invalid { id, reason } => {
            let body = crate::message::error_body(
                id.as_ref(),
                INVALID_REQUEST,
                &format!("Invalid Request: {reason}"),
            );
            return canned::build(400, "application/json", body.to_string());
        }
        valid => valid,
    };
    if let Incoming::Request { id, method, .. } = &incoming
        && method == "server/discover"
        && app.engine.plan.fires(|f| matches!(f, Fault::Discover))
    {
        let answer = app.engine.response(id, discover_result(&app.engine));
        return canned::build(200, "application/json", answer.to_string());
    }
    if let Some(r) = app.check_protocol_version(&headers) {
        return r;
    }
    let is_init =
        incoming.method() == Some("initialize") && matches!(incoming, Incoming::Request { .. });
    let session = if is_init && app.stateless.is_none() {
        HttpSession::new(Arc::clone(&app.engine))
    } else {
        match app.session_for(&headers) {
            Ok(s) => s,
            Err(no) => return no.response(),
        }
    };
    match incoming {
        Incoming::Request { id, method, params } => {
            if !is_init {
                app.count_session_request(&session);
            }
            run_request(&app, session, is_init, id, method, params).await
        }
        other => {
            // Notifications and responses produce nothing on this POST.
            let (sink, _) = mpsc::unbounded_channel();
            session.mcp.accept(other, &sink);
            canned::accepted()
        }
    }
}

/// Runs one request and turns what it emits into a JSON or SSE response.
async fn run_request(
    app: &Arc<App>,
    session: Arc<HttpSession>,
    is_init: bool,
    id: Value,
    method: String,
    params: Option<Value>,
) -> Response<Body> {
    let engine = &app.engine;
    let plan = &engine.plan;
    let is_call = method == "tools/call";
    // `--conformance`: `test_reconnection` behaves as under `sse-drop` (SEP-1699 polling).
    let reconnection =
        engine.conformance && crate::conformance::closes_stream(&method, params.as_ref());
    let (tx, mut rx) = mpsc::unbounded_channel();
    session
        .mcp
        .accept(Incoming::Request { id, method, params }, &tx);
    drop(tx);

    let drop_retry = if reconnection {
        Some(DEFAULT_SSE_RETRY_MS)
    } else if is_call {
        plan.fire(|f| match f {
            Fault::SseDrop { retry_ms } => Some(*retry_ms),
            _ => None,
        })
    } else {
        None
    };
    if let Some(retry_ms) = drop_retry {
        let (stream, priming, _) = session.log.open(Some(retry_ms), false);
        forward(engine, &session, stream, rx);
        let why = if reconnection {
            crate::conformance::RECONNECTION_TOOL
        } else {
            "sse-drop"
        };
        engine.note(format!(
            "chaos: {why}: closing stream {stream} after its priming event"
        ));
        return sse::response(Body::from(priming));
    }
    let drip = plan
        .fire(|f| match f {
            Fault::SlowDrip { ms } => Some(*ms),
            _ => None,
        })
        .map(Duration::from_millis);
    let retry = plan
        .fires(|f| matches!(f, Fault::Sse))
        .then_some(DEFAULT_SSE_RETRY_MS);
    let forced_sse = drip.is_some() || retry.is_some();
    let options = BodyOptions {
        drip,
        keep_alive: None,
    };
    if forced_sse && !is_init {
        return open_sse(engine, &session, retry, None, rx, options, None);
    }
    // JSON unless the handler sends something before its answer (progress, a request to the
    // client): then the answer needs a stream.
    let first = loop {
        match rx.recv().await {
            Some(Outgoing::Raw(_)) => continue,
            other => break other,
        }
    };
    let session_id = match &first {
        Some(Outgoing::Response(v))
            if is_init && v.get("result").is_some() && app.stateless.is_none() =>
        {
            app.register(&session);
            Some(session.id.clone())
        }
        _ => None,
    };
    match first {
        Some(Outgoing::Response(v)) if !forced_sse => json_response(&v, session_id.as_deref()),
        other => open_sse(
            engine,
            &session,
            retry,
            other,
            rx,
            options,
            session_id.as_deref(),
        ),
    }
}

/// Starts an SSE response for a request: priming event, `first`, then everything `rx` yields.
fn open_sse(
    engine: &Arc<Engine>,
    session: &Arc<HttpSession>,
    retry: Option<u64>,
    first: Option<Outgoing>,
    rx: mpsc::UnboundedReceiver<Outgoing>,
    options: BodyOptions,
    session_id: Option<&str>,
) -> Response<Body> {
    let (stream, priming, live) = session.log.open(retry, true);
    if let Some(message) = first.as_ref().and_then(Outgoing::json) {
        session.log.push(stream, message);
    }
    forward(engine, session, stream, rx);
    let body = match live {
        Some(live) => sse::body(Box::pin(channel_stream(live)), options, None),
        None => Body::from(priming),
    };
    let mut response = sse::response(body);
    add_session_header(&mut response, session_id);
    response
}

/// Copies a request's output into its stream log, finishing the stream after the answer.
fn forward(
    engine: &Arc<Engine>,
    session: &Arc<HttpSession>,
    stream: u64,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    let session = Arc::clone(session);
    engine.spawn(async move {
        while let Some(item) = rx.recv().await {
            if let Some(message) = item.json() {
                session.log.push(stream, message);
            }
        }
        session.log.finish(stream);
    });
}

pub(crate) async fn get_mcp(State(app): State<Arc<App>>, headers: HeaderMap) -> Response<Body> {
    if app.legacy {
        return legacy_sse::open(&app, &headers);
    }
    if let Some(r) = app.check_origin(&headers) {
        return r;
    }
    if let Some(r) = app.check_auth(&headers) {
        return r;
    }
    let plan = &app.engine.plan;
    if plan.fires(|f| matches!(f, Fault::NoGetStream)) {
        let mut r = canned::rpc_error(
            405,
            -32000,
            "Method Not Allowed: this server offers no GET stream",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST, DELETE"));
        return r;
    }
    if plan.fires(|f| matches!(f, Fault::GetStreamFail)) {
        app.engine
            .note("chaos: get-stream-fail: answering GET with 500");
        return canned::rpc_error(500, -32603, "Internal server error");
    }
    if !accepts(&headers, "text/event-stream") {
        return canned::rpc_error(
            406,
            -32000,
            "Not Acceptable: Client must accept text/event-stream",
        );
    }
    let session = match app.session_for(&headers) {
        Ok(s) => s,
        Err(no) => return no.response(),
    };
    if let Some(r) = app.check_protocol_version(&headers) {
        return r;
    }
    let options = BodyOptions {
        drip: None,
        keep_alive: Some(KEEP_ALIVE),
    };
    if let Some(last) = headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        app.stats.last_event_id(last);
        if let Some(rx) = session.log.resume(last) {
            app.engine
                .note(format!("chaos: resuming after event {last}"));
            return sse::response(sse::body(Box::pin(channel_stream(rx)), options, None));
        }
        // An unknown id: replay is optional, so serve a fresh stream.
    }
    standalone_stream(&app, &session, options)
}

/// A new server→client stream for notifications unrelated to requests.
fn standalone_stream(
    app: &App,
    session: &Arc<HttpSession>,
    options: BodyOptions,
) -> Response<Body> {
    let stop = session.ended.child_token();
    if let Some(previous) = lock(&session.standalone).replace(stop.clone()) {
        previous.cancel();
    }
    let (stream, priming, live) = session.log.open(None, true);
    let mut notifications = app.engine.subscribe();
    let forwarder_session = Arc::clone(session);
    app.engine.spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                message = notifications.recv() => match message {
                    Ok(message) => forwarder_session.log.push(stream, &message),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        forwarder_session.log.finish(stream);
    });
    let body = match live {
        Some(live) => sse::body(Box::pin(channel_stream(live)), options, None),
        None => Body::from(priming),
    };
    sse::response(body)
}

pub(crate) async fn delete_mcp(State(app): State<Arc<App>>, headers: HeaderMap) -> Response<Body> {
    if app.legacy {
        return canned::express_not_found("DELETE", "/mcp");
    }
    if let Some(r) = app.check_origin(&headers) {
        return r;
    }
    if let Some(r) = app.check_auth(&headers) {
        return r;
    }
    if app.stateless.is_some() {
        return canned::rpc_error(
            405,
            -32000,
            "Method Not Allowed: stateless server has no sessions",
        );
    }
    match app.session_for(&headers) {
        Ok(session) => {
            app.forget(&session.id);
            canned::build(200, "text/plain; charset=utf-8", "")
        }
        Err(no) => no.response(),
    }
}
