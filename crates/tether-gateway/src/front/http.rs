//! The Streamable HTTP front (MCP 2025-11-25) on axum, plus `/status`, `/metrics` and `/`.
//!
//! Sessions are created by `initialize` and named by `Mcp-Session-Id`; an unknown session is a
//! 404 (never a 400: clients re-initialize on 404). Answers are JSON, except a `tools/call` that
//! runs longer than a moment or sends progress or requests along the way: it switches to SSE
//! (priming event, `Cache-Control: no-cache`, `X-Accel-Buffering: no`, keep-alive comments), so
//! proxies neither buffer it nor time it out. Quick calls stay plain JSON, which is cheaper.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use tether_proto::jsonrpc::{self, DecodeError, ErrorObject, code};
use tether_proto::mcp::method;
use tether_proto::{Id, Message, version};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::Gateway;
use crate::downstream::{CallStream, Downstream, Outlet};
use crate::lock;

// Named once: looking a header up by a `&str` parses the name on every request.
const SESSION: HeaderName = HeaderName::from_static("mcp-session-id");
const PROTOCOL: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// A call still running after this long switches its answer to SSE.
const SSE_AFTER: Duration = Duration::from_millis(250);
/// Keep-alive comments on SSE streams.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How the HTTP front runs.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// A bearer token required on every request (always required off loopback).
    pub token: Option<String>,
    /// Origins accepted besides localhost ones (exact `scheme://host:port`).
    pub allowed_origins: Vec<String>,
    /// Largest request body.
    pub max_body: usize,
    /// Check `Host` against localhost names (DNS rebinding); on when bound to loopback.
    pub check_host: bool,
    /// A session with no request and no open stream for this long is forgotten (its client
    /// gets 404 and re-initializes, as the specification says).
    pub session_idle: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            token: None,
            allowed_origins: Vec::new(),
            max_body: 16 * 1024 * 1024,
            check_host: true,
            session_idle: Duration::from_secs(3600),
        }
    }
}

struct AppState {
    gw: Gateway,
    opts: HttpOptions,
    sessions: Mutex<foldhash::HashMap<String, SessionEntry>>,
}

struct SessionEntry {
    client: u64,
    last_seen: tokio::time::Instant,
}

type App = Arc<AppState>;

/// Serves until `shutdown` resolves.
pub async fn serve(
    gw: Gateway,
    listener: TcpListener,
    opts: HttpOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (app, state) = app(gw, opts);
    tokio::spawn(expire_sessions(Arc::downgrade(&state)));
    use axum::serve::ListenerExt;
    // Small JSON-RPC messages must not wait for Nagle's algorithm (44 ms per call otherwise).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// The routes, for embedding and tests.
pub fn router(gw: Gateway, opts: HttpOptions) -> Router {
    app(gw, opts).0
}

fn app(gw: Gateway, opts: HttpOptions) -> (Router, App) {
    let state = Arc::new(AppState {
        gw,
        opts,
        sessions: Mutex::default(),
    });
    let router = Router::new()
        .route("/mcp", get(get_stream).post(post).delete(delete))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/", get(dashboard))
        .with_state(state.clone());
    (router, state)
}

/// Forgets sessions idle for longer than `session_idle`, so clients that never send DELETE do
/// not make the gateway grow forever.
async fn expire_sessions(state: std::sync::Weak<AppState>) {
    loop {
        let every = match state.upgrade() {
            Some(s) => (s.opts.session_idle / 4).max(Duration::from_secs(1)),
            None => return,
        };
        tokio::time::sleep(every).await;
        let Some(app) = state.upgrade() else { return };
        let now = tokio::time::Instant::now();
        let idle = app.opts.session_idle;
        let expired: Vec<(String, u64)> = lock(&app.sessions)
            .iter()
            .filter(|(_, e)| now.duration_since(e.last_seen) > idle)
            .filter(|(_, e)| {
                !app.gw
                    .client(e.client)
                    .is_some_and(|ds| ds.has_open_stream())
            })
            .map(|(sid, e)| (sid.clone(), e.client))
            .collect();
        for (sid, client) in expired {
            lock(&app.sessions).remove(&sid);
            app.gw.disconnect_client(client);
            tracing::debug!(client, "idle HTTP session expired");
        }
    }
}

fn rpc_error(status: StatusCode, id: Option<Id>, code: i64, message: &str) -> Response {
    let body = Message::error(id, ErrorObject::new(code, message)).to_bytes();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_local_host(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    matches!(name, "localhost" | "127.0.0.1" | "::1") || name.ends_with(".localhost")
}

impl AppState {
    /// Origin, Host and token checks; `Some` is the refusal.
    fn refuse(&self, headers: &HeaderMap, query_token: Option<&str>) -> Option<Response> {
        if let Some(origin) = header_str(headers, &header::ORIGIN) {
            let host = origin.split("://").nth(1).unwrap_or(origin);
            let allowed =
                is_local_host(host) || self.opts.allowed_origins.iter().any(|o| o == origin);
            if !allowed {
                return Some(rpc_error(
                    StatusCode::FORBIDDEN,
                    None,
                    code::INVALID_REQUEST,
                    "Forbidden: Origin not allowed",
                ));
            }
        }
        if self.opts.check_host
            && let Some(host) = header_str(headers, &header::HOST)
            && !is_local_host(host)
        {
            return Some(rpc_error(
                StatusCode::FORBIDDEN,
                None,
                code::INVALID_REQUEST,
                "Forbidden: Host not allowed",
            ));
        }
        if let Some(token) = &self.opts.token {
            let bearer =
                header_str(headers, &header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer "));
            if bearer != Some(token.as_str()) && query_token != Some(token.as_str()) {
                let mut resp = rpc_error(
                    StatusCode::UNAUTHORIZED,
                    None,
                    code::INVALID_REQUEST,
                    "Unauthorized: a bearer token is required",
                );
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return Some(resp);
            }
        }
        None
    }

    fn session(&self, headers: &HeaderMap) -> Result<Arc<Downstream>, Box<Response>> {
        self.with_session(headers, |entry| {
            entry.last_seen = tokio::time::Instant::now();
            false
        })
    }

    /// Finds the request's session (400 without the header, 404 when unknown); `forget`
    /// decides, under the lock, whether to remove it.
    fn with_session(
        &self,
        headers: &HeaderMap,
        forget: impl FnOnce(&mut SessionEntry) -> bool,
    ) -> Result<Arc<Downstream>, Box<Response>> {
        let Some(sid) = header_str(headers, &SESSION) else {
            return Err(Box::new(rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                code::INVALID_REQUEST,
                "Bad Request: Mcp-Session-Id header is required",
            )));
        };
        let client = {
            let mut sessions = lock(&self.sessions);
            match sessions.get_mut(sid) {
                Some(entry) => {
                    let client = entry.client;
                    if forget(entry) {
                        sessions.remove(sid);
                    }
                    Some(client)
                }
                None => None,
            }
        };
        match client.and_then(|id| self.gw.client(id)) {
            Some(ds) => Ok(ds),
            None => Err(Box::new(rpc_error(
                StatusCode::NOT_FOUND,
                None,
                -32001,
                "Session not found",
            ))),
        }
    }
}

async fn read_body(body: Body, max: usize) -> Result<Bytes, ()> {
    axum::body::to_bytes(body, max).await.map_err(|_| ())
}

fn json_response(msg: &Message, session: Option<&str>) -> Response {
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        msg.to_bytes(),
    )
        .into_response();
    if let Some(s) = session
        && let Ok(v) = HeaderValue::from_str(s)
    {
        resp.headers_mut().insert(SESSION, v);
    }
    resp
}

fn new_session_id() -> String {
    format!("{:032x}", rand_u128())
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    // Two independently seeded SipHash states: unpredictable enough for a session name on a
    // loopback gateway, without another dependency. Sessions are not credentials here.
    let a = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(a);
    (u128::from(a) << 64) | u128::from(h.finish())
}

async fn post(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    if let Some(refusal) = app.refuse(&headers, None) {
        return refusal;
    }
    let max = app.opts.max_body;
    let Ok(bytes) = read_body(body, max).await else {
        return rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            code::INVALID_REQUEST,
            &format!("request body exceeds the {max}-byte limit"),
        );
    };
    let decoded = match jsonrpc::decode(&bytes) {
        Ok(d) => d,
        Err(DecodeError::Batch) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                code::INVALID_REQUEST,
                "JSON-RPC batches are not supported (removed in MCP 2025-06-18)",
            );
        }
        Err(DecodeError::Syntax(e)) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                code::PARSE_ERROR,
                &format!("Parse error: {e}"),
            );
        }
        Err(e) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                code::INVALID_REQUEST,
                &e.to_string(),
            );
        }
    };
    let gw = app.gw.clone();
    if decoded.message.method() == Some(method::INITIALIZE) {
        let ds = gw.connect_client(None);
        let sid = new_session_id();
        lock(&app.sessions).insert(
            sid.clone(),
            SessionEntry {
                client: ds.id,
                last_seen: tokio::time::Instant::now(),
            },
        );
        let reply = gw.handle(&ds, decoded, None).await;
        return match reply {
            Some(msg) => json_response(&msg, Some(&sid)),
            None => StatusCode::ACCEPTED.into_response(),
        };
    }
    if decoded.message.method() == Some(method::SERVER_DISCOVER) {
        // The 2026-07-28 probe: a plain error tells the client to fall back to initialize.
        let id = match &decoded.message {
            Message::Request(r) => Some(r.id.clone()),
            _ => None,
        };
        return rpc_error(
            StatusCode::BAD_REQUEST,
            id,
            code::METHOD_NOT_FOUND,
            "server/discover is not supported; use initialize",
        );
    }
    let ds = match app.session(&headers) {
        Ok(ds) => ds,
        Err(resp) => return *resp,
    };
    if let Some(v) = header_str(&headers, &PROTOCOL)
        && !version::is_supported(v)
    {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            code::INVALID_REQUEST,
            &format!(
                "Bad Request: unsupported MCP-Protocol-Version {v} (supported: {})",
                version::SUPPORTED.join(", ")
            ),
        );
    }
    let wants_sse =
        header_str(&headers, &header::ACCEPT).is_some_and(|a| a.contains("text/event-stream"));
    match decoded.message {
        Message::Request(req) if req.method == method::TOOLS_CALL && wants_sse => {
            call(gw, ds, req).await
        }
        Message::Request(req) => {
            let reply = gw.handle_request(&ds, req, None).await;
            json_response(&reply, None)
        }
        _ => {
            let _ = gw.handle(&ds, decoded, None).await;
            StatusCode::ACCEPTED.into_response()
        }
    }
}

/// A tool call: JSON when it is quick and quiet, SSE once it runs long or has things to say.
/// The call is polled right here (no task) until it needs a stream; only then is it spawned.
async fn call(gw: Gateway, ds: Arc<Downstream>, req: tether_proto::Request) -> Response {
    let id = req.id.clone();
    let cancelled = ds.track(id.clone());
    let related = CallStream::new();
    let (call_ds, call_gw, outlet) = (ds.clone(), gw.clone(), Outlet::Call(related.clone()));
    let mut running = Box::pin(async move {
        tokio::select! {
            reply = call_gw.handle_request(&call_ds, req, Some(outlet)) => Some(reply),
            _ = cancelled.cancelled() => None,
        }
    });
    let early = tokio::select! {
        done = &mut running => Early::Done(done),
        first = related.recv() => Early::Related(first),
        _ = tokio::time::sleep(SSE_AFTER) => Early::Slow,
    };
    let reply = match early {
        Early::Done(Some(reply)) => {
            ds.untrack(&id);
            match related.try_recv() {
                // Progress or requests arrived with the answer: all of it goes out as SSE.
                Some(first) => return sse_answer(vec![first], related, None, Some(reply)),
                None => {
                    related.close();
                    reply
                }
            }
        }
        Early::Done(None) => {
            related.close();
            return rpc_error(StatusCode::OK, Some(id), -32800, "request cancelled");
        }
        Early::Related(first) => {
            let task = tokio::spawn(running);
            return sse_answer(vec![first], related, Some((task, ds, id)), None);
        }
        Early::Slow => {
            let task = tokio::spawn(running);
            return sse_answer(Vec::new(), related, Some((task, ds, id)), None);
        }
    };
    json_response(&reply, None)
}

enum Early {
    Done(Option<Message>),
    Related(Message),
    Slow,
}

type Running = (
    tokio::task::JoinHandle<Option<Message>>,
    Arc<Downstream>,
    Id,
);

/// An SSE answer: priming event, the messages already out, whatever else comes, the reply.
fn sse_answer(
    firsts: Vec<Message>,
    related: Arc<CallStream>,
    running: Option<Running>,
    reply: Option<Message>,
) -> Response {
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Message>();
    tokio::spawn(async move {
        for m in firsts {
            let _ = out_tx.send(m);
        }
        let final_reply = match running {
            Some((mut task, ds, id)) => loop {
                tokio::select! {
                    done = &mut task => {
                        ds.untrack(&id);
                        break done.ok().flatten();
                    }
                    m = related.recv() => { let _ = out_tx.send(m); }
                }
            },
            None => reply,
        };
        related.close();
        while let Some(m) = related.try_recv() {
            let _ = out_tx.send(m);
        }
        if let Some(r) = final_reply {
            let _ = out_tx.send(r);
        }
    });
    sse(out_rx)
}

/// Turns a channel of messages into an SSE response with the proxy-friendly headers: a priming
/// event (an id and empty data, so a client can resume from it), one `message` event per
/// message, and a keep-alive comment every 15 s.
fn sse(rx: mpsc::UnboundedReceiver<Message>) -> Response {
    let stream_id = format!("{:08x}", rand_u128() as u32);
    let priming = Bytes::from(format!("id: {stream_id}-0\ndata: \n\n"));
    let first_tick = tokio::time::Instant::now() + KEEP_ALIVE;
    let ticks = tokio::time::interval_at(first_tick, KEEP_ALIVE);
    let events = futures_util::stream::unfold(
        (rx, 1u64, ticks, stream_id),
        |(mut rx, n, mut ticks, stream_id)| async move {
            let chunk = tokio::select! {
                msg = rx.recv() => {
                    let data = String::from_utf8(msg?.to_bytes()).unwrap_or_default();
                    let id = format!("{stream_id}-{n}");
                    Bytes::from(tether_proto::sse::encode_event(Some(&id), Some("message"), &data))
                }
                _ = ticks.tick() => Bytes::from_static(b": keep-alive\n\n"),
            };
            Some((
                Ok::<Bytes, Infallible>(chunk),
                (rx, n + 1, ticks, stream_id),
            ))
        },
    );
    let body =
        futures_util::stream::once(async move { Ok::<Bytes, Infallible>(priming) }).chain(events);
    let mut resp = Body::from_stream(body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

async fn get_stream(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(refusal) = app.refuse(&headers, None) {
        return refusal;
    }
    let accepts =
        header_str(&headers, &header::ACCEPT).is_some_and(|a| a.contains("text/event-stream"));
    if !accepts {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            code::INVALID_REQUEST,
            "Not Acceptable: the GET stream needs Accept: text/event-stream",
        );
    }
    let ds = match app.session(&headers) {
        Ok(ds) => ds,
        Err(resp) => return *resp,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    ds.set_general(Some(Outlet::Stream(tx)));
    sse(rx)
}

async fn delete(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(refusal) = app.refuse(&headers, None) {
        return refusal;
    }
    match app.with_session(&headers, |_| true) {
        Ok(ds) => {
            app.gw.disconnect_client(ds.id);
            StatusCode::OK.into_response()
        }
        Err(resp) => *resp,
    }
}

async fn status(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refusal) = app.refuse(&headers, q.get("token").map(String::as_str)) {
        return refusal;
    }
    let body = serde_json::to_vec(&app.gw.status_json()).unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn metrics(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refusal) = app.refuse(&headers, q.get("token").map(String::as_str)) {
        return refusal;
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.gw.metrics_text(),
    )
        .into_response()
}

async fn dashboard(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refusal) = app.refuse(&headers, q.get("token").map(String::as_str)) {
        return refusal;
    }
    Html(crate::status::DASHBOARD).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts_are_recognised() {
        for h in [
            "localhost",
            "localhost:7777",
            "127.0.0.1:80",
            "[::1]:7777",
            "app.localhost",
        ] {
            assert!(is_local_host(h), "{h}");
        }
        for h in [
            "evil.example.com",
            "evil.example.com:7777",
            "10.0.0.1:7777",
            "localhost.evil.com",
        ] {
            assert!(!is_local_host(h), "{h}");
        }
    }
}
