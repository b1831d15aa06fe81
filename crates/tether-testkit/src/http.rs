//! The HTTP server: the accept loop, the per-request entry (stats, `drop-connection`), routing,
//! the checks every MCP endpoint shares (Origin, auth, intermediary faults, protocol version),
//! and the side routes (`/_chaos/stats`, OAuth resource metadata, 404s). The `/mcp` endpoint
//! itself is in `streamable`, the legacy transport in `legacy_sse`.
//!
//! Connections are driven by hyper directly (not `axum::serve`) so that `drop-connection` can
//! close a TCP connection without writing any response: the outer service returns an error,
//! which makes hyper drop the connection. Routing below that is an axum `Router`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, Method, Request, Response, Uri, header};
use axum::routing::{get, post};
use hyper::body::Incoming as HyperBody;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::canned;
use crate::engine::{Control, Engine, SUPPORTED_VERSIONS};
use crate::fault::Fault;
use crate::legacy_sse;
use crate::message::INVALID_REQUEST;
use crate::stdio::stderr_line;
use crate::streamable::{self, HttpSession};

/// Largest accepted POST body.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Where `chaos: ...` notes go: stderr for the `tether chaos` process, tracing in-process.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Notes {
    Stderr,
    Tracing,
}

impl Notes {
    fn write(self, note: &str) {
        match self {
            Notes::Stderr => stderr_line(note),
            Notes::Tracing => tracing::info!("{note}"),
        }
    }
}

/// Why the server stopped: an injected exit (code, stderr message).
pub(crate) type ExitRequest = (i32, String);

/// Serves HTTP on `listener` until an injected fault ends the server.
pub(crate) async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    mut control: mpsc::UnboundedReceiver<Control>,
    notes: Notes,
) -> io::Result<ExitRequest> {
    // Everything the engine spawned ends with this function, even when the caller drops it.
    let _cancel_tasks = engine.tasks.clone().drop_guard();
    let local = listener.local_addr()?;
    let app = Arc::new(App::new(Arc::clone(&engine), local));
    engine.start_list_changed();
    let service = TowerToHyperService::new(router(Arc::clone(&app)));
    let mut connections = JoinSet::new();
    let mut control_open = true;
    loop {
        while connections.try_join_next().is_some() {}
        tokio::select! {
            event = control.recv(), if control_open => match event {
                Some(Control::Note(note)) => notes.write(&note),
                Some(Control::Exit { code, message }) => return Ok((code, message)),
                None => control_open = false,
            },
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Usually EMFILE; back off briefly instead of spinning.
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                // SSE events are small writes; Nagle would batch them (and defeat slow-drip).
                let _ = stream.set_nodelay(true);
                let app = Arc::clone(&app);
                let service = service.clone();
                connections.spawn(async move {
                    let per_request = hyper::service::service_fn(move |req| {
                        handle(Arc::clone(&app), service.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), per_request)
                        .await;
                });
            }
        }
    }
}

/// The error that makes hyper close a connection without answering (`drop-connection`).
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("chaos: connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

async fn call(service: &TowerToHyperService<Router>, req: Request<Body>) -> Response<Body> {
    match hyper::service::Service::call(service, req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Per-request entry: stats, `drop-connection`, then the router.
async fn handle(
    app: Arc<App>,
    service: TowerToHyperService<Router>,
    req: Request<HyperBody>,
) -> Result<Response<Body>, DropConnection> {
    if req.uri().path().starts_with("/_chaos/") {
        return Ok(call(&service, req.map(Body::new)).await);
    }
    app.stats.http_request(req.method());
    if req.uri().path() == "/mcp" && app.engine.plan.fires(|f| matches!(f, Fault::RedirectSlash)) {
        app.engine
            .note("chaos: redirect-slash: answering /mcp with 307 to /mcp/");
        let response = canned::redirect(307, &format!("{}/mcp/", app.origin));
        app.stats.status(response.status());
        return Ok(response);
    }
    let req = if req.method() == Method::POST {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(Body::new(body), MAX_BODY).await else {
            let response = canned::rpc_error(413, INVALID_REQUEST, "Payload Too Large");
            app.stats.status(response.status());
            return Ok(response);
        };
        app.stats.post(&parts.headers, &bytes);
        if app
            .engine
            .plan
            .fires(|f| matches!(f, Fault::DropConnection))
        {
            app.stats.dropped_connection();
            app.engine
                .note("chaos: drop-connection: closing the connection without a response");
            return Err(DropConnection);
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        req.map(Body::new)
    };
    let response = call(&service, req).await;
    app.stats.status(response.status());
    Ok(response)
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/mcp",
            post(streamable::post_mcp)
                .get(streamable::get_mcp)
                .delete(streamable::delete_mcp),
        )
        .route(
            "/mcp/",
            post(streamable::post_mcp)
                .get(streamable::get_mcp)
                .delete(streamable::delete_mcp),
        )
        .route("/sse", get(get_sse).post(post_sse))
        .route("/message", post(post_message))
        .route("/_chaos/stats", get(stats))
        .route(
            "/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .fallback(fallback)
        // The outer service already buffered the body under MAX_BODY.
        .layer(DefaultBodyLimit::disable())
        .with_state(app)
}

/// A random visible-ASCII session id.
pub(crate) fn new_session_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared state of the HTTP server.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) engine: Arc<Engine>,
    pub(crate) stats: crate::stats::Stats,
    /// `http://127.0.0.1:PORT`, for URLs the server hands out.
    pub(crate) origin: String,
    /// The listening address (the `--conformance` Host check).
    local: SocketAddr,
    pub(crate) sessions: Mutex<HashMap<String, Arc<HttpSession>>>,
    /// The one session every request uses under `stateless`.
    pub(crate) stateless: Option<Arc<HttpSession>>,
    pub(crate) legacy: bool,
    pub(crate) legacy_sessions: legacy_sse::Registry,
}

impl App {
    fn new(engine: Arc<Engine>, local: SocketAddr) -> Self {
        let host = if local.ip().is_unspecified() {
            format!("127.0.0.1:{}", local.port())
        } else {
            local.to_string()
        };
        let stateless = engine
            .plan
            .has(|f| matches!(f, Fault::Stateless))
            .then(|| HttpSession::new(Arc::clone(&engine)));
        let legacy = engine.plan.has(|f| matches!(f, Fault::LegacySse));
        Self {
            engine,
            stats: crate::stats::Stats::default(),
            origin: format!("http://{host}"),
            local,
            sessions: Mutex::new(HashMap::new()),
            stateless,
            legacy,
            legacy_sessions: legacy_sse::Registry::default(),
        }
    }

    /// `Origin` validation (403 unless local or `no-origin-check`); with `--conformance` also
    /// `Host` validation (see [`crate::conformance::check_host`]).
    pub(crate) fn check_origin(&self, headers: &HeaderMap) -> Option<Response<Body>> {
        if self.engine.conformance
            && !self.engine.plan.has(|f| matches!(f, Fault::NoOriginCheck))
            && let Some(rejected) = crate::conformance::check_host(headers, self.local)
        {
            self.engine
                .note("chaos: conformance: rejecting a non-localhost Host header with 403");
            return Some(rejected);
        }
        let origin = headers.get(header::ORIGIN)?;
        let text = String::from_utf8_lossy(origin.as_bytes());
        if origin_is_local(&text)
            || self
                .engine
                .plan
                .fires(|f| matches!(f, Fault::NoOriginCheck))
        {
            return None;
        }
        self.engine
            .note(format!("chaos: rejecting Origin `{text}` with 403"));
        Some(canned::rpc_error(
            403,
            -32000,
            &format!("Forbidden: invalid Origin header: {text}"),
        ))
    }

    /// Faults that answer a POST before MCP is reached (an intermediary's answer).
    pub(crate) fn post_faults(&self, path: &str) -> Option<Response<Body>> {
        let plan = &self.engine.plan;
        if let Some((code, headers)) = plan.fire(|f| match f {
            Fault::Status { code, headers } => Some((*code, headers.clone())),
            _ => None,
        }) {
            self.engine
                .note(format!("chaos: status: answering POST {path} with {code}"));
            return Some(canned::status(code, &headers, &self.origin, path));
        }
        if plan.fires(|f| matches!(f, Fault::Html200)) {
            self.engine
                .note("chaos: html-200: answering with a login page");
            return Some(canned::login_page());
        }
        if let Some(content_type) = plan.fire(|f| match f {
            Fault::ContentType { content_type } => Some(content_type.clone()),
            _ => None,
        }) {
            self.engine.note(format!(
                "chaos: content-type: answering with `{content_type}`"
            ));
            return Some(canned::wrong_content_type(&content_type));
        }
        None
    }

    /// `require-auth:TOKEN`.
    pub(crate) fn check_auth(&self, headers: &HeaderMap) -> Option<Response<Body>> {
        let token = self.engine.plan.fire(|f| match f {
            Fault::RequireAuth { token } => Some(token.clone()),
            _ => None,
        })?;
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        if presented == Some(token.as_str()) {
            return None;
        }
        self.engine
            .note("chaos: require-auth: missing or wrong bearer token, answering 401");
        Some(canned::unauthorized(
            &self.origin,
            "Missing or invalid access token",
        ))
    }

    pub(crate) fn check_protocol_version(&self, headers: &HeaderMap) -> Option<Response<Body>> {
        let raw = headers.get("mcp-protocol-version")?;
        let version = String::from_utf8_lossy(raw.as_bytes());
        if self.engine.accepts_version(&version) {
            return None;
        }
        Some(canned::rpc_error(
            400,
            -32000,
            &format!(
                "Bad Request: Unsupported protocol version: {version} (supported versions: {})",
                SUPPORTED_VERSIONS.join(", ")
            ),
        ))
    }
}

/// Whether an `Origin` names this machine (`localhost`, `127.0.0.1`, `[::1]`).
pub(crate) fn origin_is_local(origin: &str) -> bool {
    let Some((_, rest)) = origin.trim().split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').is_some_and(|(host, _)| host == "::1");
    }
    let host = authority.split(':').next().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1"
}

/// Whether an `Accept` header lists `wanted` (media-type essence, parameters ignored).
pub(crate) fn accepts(headers: &HeaderMap, wanted: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| item.split(';').next())
        .any(|media| media.trim().eq_ignore_ascii_case(wanted))
}

pub(crate) fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

async fn get_sse(State(app): State<Arc<App>>, headers: HeaderMap) -> Response<Body> {
    if !app.legacy {
        return canned::express_not_found("GET", "/sse");
    }
    legacy_sse::open(&app, &headers)
}

async fn post_sse() -> Response<Body> {
    canned::express_not_found("POST", "/sse")
}

async fn post_message(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    if !app.legacy {
        return canned::express_not_found("POST", "/message");
    }
    legacy_sse::post(&app, &query, &headers, &body)
}

async fn stats(State(app): State<Arc<App>>) -> Response<Body> {
    let counters = app.engine.plan.counters();
    let active = lock(&app.sessions).len() + app.legacy_sessions.len();
    let snapshot = app
        .stats
        .snapshot(counters.starts(), active, counters.hits());
    canned::build(200, "application/json", snapshot.to_string())
}

async fn resource_metadata(State(app): State<Arc<App>>) -> Response<Body> {
    let plan = &app.engine.plan;
    let auth_configured = plan.has(|f| {
        matches!(
            f,
            Fault::RequireAuth { .. } | Fault::Status { code: 401, .. }
        )
    });
    if !auth_configured {
        return canned::express_not_found("GET", "/.well-known/oauth-protected-resource");
    }
    let doc = serde_json::json!({
        "resource": format!("{}/mcp", app.origin),
        "authorization_servers": [],
        "bearer_methods_supported": ["header"],
        "resource_name": app.engine.name,
    });
    canned::build(200, "application/json", doc.to_string())
}

async fn fallback(method: Method, uri: Uri) -> Response<Body> {
    let mut response = canned::express_not_found(method.as_str(), uri.path());
    if method == Method::HEAD {
        *response.body_mut() = Body::empty();
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_origins_are_recognised() {
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "https://LOCALHOST",
            "http://[::1]:8080",
            "http://user@127.0.0.1:1/x",
        ] {
            assert!(origin_is_local(ok), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "null",
            "http://127.0.0.1.evil.example",
            "http://[::2]",
            "localhost",
        ] {
            assert!(!origin_is_local(bad), "{bad}");
        }
    }

    #[test]
    fn accept_matching_ignores_parameters_and_case() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            axum::http::HeaderValue::from_static("Application/JSON; q=0.9, text/event-stream"),
        );
        assert!(accepts(&h, "application/json"));
        assert!(accepts(&h, "text/event-stream"));
        assert!(!accepts(&h, "text/html"));
    }
}
