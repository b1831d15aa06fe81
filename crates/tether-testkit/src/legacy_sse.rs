//! The legacy HTTP+SSE transport of MCP 2024-11-05 (`legacy-sse`).
//!
//! `GET /sse` (or `GET /mcp`) opens a stream whose first event is `endpoint` with
//! `data: /message?sessionId=<id>`; the client POSTs every message there (202) and every answer
//! comes back as an `event: message` on the stream. The session lives as long as the stream.

use std::collections::HashMap;
use std::future::ready;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Body;
use axum::http::{HeaderMap, Response};
use futures_util::stream::{self, StreamExt};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::behavior::Session;
use crate::canned;
use crate::engine::{Outgoing, Sink};
use crate::http::{App, new_session_id};
use crate::message::{Incoming, classify};
use crate::sse::{self, BodyOptions, KEEP_ALIVE, channel_stream};

#[derive(Debug)]
struct LegacySession {
    mcp: Arc<Session>,
    sink: Sink,
}

/// Open legacy sessions by id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    sessions: Mutex<HashMap<String, LegacySession>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, LegacySession>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Open sessions.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Ends a legacy session when its stream's body is dropped (the client went away).
struct StreamGuard {
    app: Arc<App>,
    id: String,
    _stop_notifications: DropGuard,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.app.legacy_sessions.lock().remove(&self.id);
    }
}

/// `GET /sse`: opens a session and its event stream.
pub(crate) fn open(app: &Arc<App>, headers: &HeaderMap) -> Response<Body> {
    if let Some(r) = app.check_origin(headers) {
        return r;
    }
    if let Some(r) = app.check_auth(headers) {
        return r;
    }
    let id = new_session_id();
    let (tx, rx) = mpsc::unbounded_channel::<Outgoing>();
    let mcp = Session::new(Arc::clone(&app.engine));
    app.legacy_sessions.lock().insert(
        id.clone(),
        LegacySession {
            mcp,
            sink: tx.clone(),
        },
    );
    app.stats.session_created();

    let stop = CancellationToken::new();
    forward_notifications(app, app.engine.subscribe(), tx, stop.clone());

    let endpoint = sse::plain_event("endpoint", &format!("/message?sessionId={id}"));
    let messages = channel_stream(rx).filter_map(|item: Outgoing| {
        ready(
            item.json()
                .map(|message| sse::plain_event("message", &message.to_string())),
        )
    });
    let events = stream::once(ready(endpoint)).chain(messages);
    let guard = StreamGuard {
        app: Arc::clone(app),
        id,
        _stop_notifications: stop.drop_guard(),
    };
    let options = BodyOptions {
        drip: None,
        keep_alive: Some(KEEP_ALIVE),
    };
    sse::response(sse::body(Box::pin(events), options, Some(Box::new(guard))))
}

fn forward_notifications(
    app: &App,
    mut rx: broadcast::Receiver<Value>,
    sink: Sink,
    stop: CancellationToken,
) {
    app.engine.spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                message = rx.recv() => match message {
                    Ok(message) => {
                        if sink.send(Outgoing::Related(message)).is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    });
}

/// `POST /message?sessionId=<id>`: one client message; the answer goes to the stream.
pub(crate) fn post(
    app: &Arc<App>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<Body> {
    if let Some(r) = app.check_origin(headers) {
        return r;
    }
    if let Some(r) = app.post_faults("/message") {
        return r;
    }
    if let Some(r) = app.check_auth(headers) {
        return r;
    }
    let Some(id) = query.get("sessionId") else {
        return canned::build(
            400,
            "text/plain; charset=utf-8",
            "Missing sessionId parameter",
        );
    };
    let Some((mcp, sink)) = app
        .legacy_sessions
        .lock()
        .get(id)
        .map(|s| (Arc::clone(&s.mcp), s.sink.clone()))
    else {
        return canned::build(404, "text/plain; charset=utf-8", "Session not found");
    };
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return canned::build(
                400,
                "text/plain; charset=utf-8",
                format!("Invalid message: {e}"),
            );
        }
    };
    match classify(value) {
        Incoming::Invalid { id: None, reason } => canned::build(
            400,
            "text/plain; charset=utf-8",
            format!("Invalid message: {reason}"),
        ),
        message => {
            mcp.accept(message, &sink);
            canned::build(202, "text/plain; charset=utf-8", "Accepted")
        }
    }
}
