//! The Streamable HTTP transport (MCP 2025-03-26 … 2025-11-25).
//!
//! Every message is a POST; answers come back as JSON or as an SSE stream. The transport owns the
//! HTTP-level rules so the session above never sees them: the session id, the protocol version
//! header, **404 with a session id → re-initialize once and re-send once** (generation-guarded so
//! a late 404 cannot clear a newer session), resuming a dropped SSE answer with `Last-Event-ID`
//! after the server's `retry`, the optional GET stream (whose failure never fails the server) and
//! DELETE on close.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use tether_proto::jsonrpc::{self, Decoded};
use tether_proto::mcp::method;
use tether_proto::ndjson::preview;
use tether_proto::sse::{SseDecoder, SseItem};
use tether_proto::{Id, Message};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::Sink;
use super::http_client::{BodyError, Endpoint, HttpClient, NetError, Request, Response};
use crate::error::classify::{self, BodyKind};
use crate::error::{Error, HttpFailure, NetworkKind};
use crate::sync::lock;

/// The largest JSON body accepted (the same cap as one SSE event).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How long the GET stream may take to start answering before it is given up for now.
const GET_FIRST_BYTE: Duration = Duration::from_secs(30);
/// Reopen an idle GET stream after this long without bytes.
const GET_IDLE: Duration = Duration::from_secs(300);
/// Resume attempts for one dropped SSE answer (and GET stream reopenings in a row).
const RESUME_ATTEMPTS: u32 = 5;
/// The HTTP session DELETE on close is best effort, bounded.
const DELETE_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) const SESSION_HEADER: &str = "mcp-session-id";
pub(crate) const VERSION_HEADER: &str = "mcp-protocol-version";
const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// Where to connect.
#[derive(Clone, Debug)]
pub struct HttpParams {
    /// The MCP endpoint.
    pub url: Url,
    /// Extra headers (e.g. `Authorization`), sent on every request.
    pub headers: Vec<(String, String)>,
}

/// `scheme://host:port` of a URL: safe to print (no path, query or userinfo).
pub(crate) fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

pub(crate) fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::Config(format!("`headers.{name}`: not a valid header name")))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::Config(format!(
                "`headers.{name}`: value is not a valid header value"
            ))
        })?;
        map.append(name, value);
    }
    Ok(map)
}

#[derive(Debug, Default)]
struct State {
    session_id: Option<String>,
    /// Bumped whenever the session changes, so a stale 404 cannot clear a newer session.
    generation: u64,
    protocol_version: Option<String>,
    /// The initialize request as first sent, replayed when the session expires.
    initialize: Option<Message>,
    get_stream_wanted: bool,
}

#[derive(Debug)]
struct Shared {
    client: HttpClient,
    endpoint: Endpoint,
    origin: String,
    host: String,
    headers: HeaderMap,
    state: Mutex<State>,
    reinit_lock: tokio::sync::Mutex<()>,
    sink: Weak<dyn Sink>,
    cancel: CancellationToken,
    reinit_ids: AtomicU64,
}

/// A Streamable HTTP connection.
#[derive(Debug)]
pub struct HttpTransport {
    shared: Arc<Shared>,
}

impl Drop for HttpTransport {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

impl std::fmt::Debug for dyn Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sink")
    }
}

impl HttpTransport {
    pub(crate) fn new(params: &HttpParams, sink: Weak<dyn Sink>) -> Result<Self, Error> {
        let endpoint = Endpoint::new(&params.url);
        Ok(HttpTransport {
            shared: Arc::new(Shared {
                client: HttpClient::for_endpoint(&endpoint),
                origin: origin_of(&params.url),
                host: params.url.host_str().unwrap_or_default().to_owned(),
                endpoint,
                headers: header_map(&params.headers)?,
                state: Mutex::new(State::default()),
                reinit_lock: tokio::sync::Mutex::new(()),
                sink,
                cancel: CancellationToken::new(),
                reinit_ids: AtomicU64::new(0),
            }),
        })
    }

    /// Sends a message; answers and failures reach the sink.
    pub(crate) fn send(&self, msg: Message) {
        let shared = self.shared.clone();
        let cancel = shared.cancel.clone();
        tokio::spawn(async move {
            let id = match &msg {
                Message::Request(r) => Some(r.id.clone()),
                _ => None,
            };
            // Boxed: the task stays small, and tokio moves a task's whole future around.
            let post = Box::pin(shared.post(&msg, true));
            if let Some(Err(error)) = cancel.run_until_cancelled(post).await {
                match (id, shared.sink.upgrade()) {
                    (Some(id), Some(sink)) => sink.on_request_failed(&id, error),
                    _ => tracing::debug!(%error, "POST of a notification or response failed"),
                }
            }
        });
    }

    /// Sends a notification and waits until the server accepted it.
    pub(crate) async fn notify(&self, msg: Message) -> Result<(), Error> {
        self.shared.post(&msg, true).await
    }

    /// Records the negotiated version; it goes into `MCP-Protocol-Version` from now on.
    pub(crate) fn set_protocol_version(&self, version: &str) {
        lock(&self.shared.state).protocol_version = Some(version.to_owned());
    }

    /// True when the server assigned a session id.
    pub fn has_session(&self) -> bool {
        lock(&self.shared.state).session_id.is_some()
    }

    /// Opens the optional server→client GET stream.
    /// Opens the optional server→client GET stream and waits (at most `wait`) until the server
    /// answered it, so messages the server sends there about our first request are not lost.
    pub(crate) async fn open_get_stream(&self, wait: Duration) {
        lock(&self.shared.state).get_stream_wanted = true;
        let (tx, rx) = tokio::sync::oneshot::channel();
        spawn_get_stream(self.shared.clone(), Some(tx));
        let _ = tokio::time::timeout(wait, rx).await;
    }

    /// Ends the session: stops streams and sends DELETE (best effort, bounded).
    pub(crate) async fn shutdown(&self) {
        self.shared.cancel.cancel();
        let (session, version) = {
            let st = lock(&self.shared.state);
            (st.session_id.clone(), st.protocol_version.clone())
        };
        if let Some(session) = session {
            let mut req = Request::new(Method::DELETE, &self.shared.endpoint)
                .headers(&self.shared.headers)
                .header(SESSION_HEADER, &session);
            if let Some(v) = version {
                req = req.header(VERSION_HEADER, &v);
            }
            let _ = tokio::time::timeout(DELETE_TIMEOUT, self.shared.client.send(req)).await;
        }
    }
}

impl Shared {
    fn request(&self, body: Vec<u8>, initialize: bool) -> (Request, bool, u64) {
        let st = lock(&self.state);
        // The handshake never carries an old session id.
        let had_session = !initialize && st.session_id.is_some();
        let mut req = Request::new(Method::POST, &self.endpoint)
            .headers(&self.headers)
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .body(body);
        if !initialize {
            if let Some(session) = &st.session_id {
                req = req.header(SESSION_HEADER, session);
            }
            if let Some(version) = &st.protocol_version {
                req = req.header(VERSION_HEADER, version);
            }
        }
        (req, had_session, st.generation)
    }

    async fn send(&self, req: Request) -> Result<Response, Error> {
        self.client
            .send(req)
            .await
            .map_err(|e| self.network_error(&e))
    }

    fn network_error(&self, e: &NetError) -> Error {
        classify::net_error(&**e, &self.origin, &self.host)
    }

    /// POSTs one message and dispatches whatever comes back.
    async fn post(self: &Arc<Self>, msg: &Message, allow_reinit: bool) -> Result<(), Error> {
        let initialize = msg.method() == Some(method::INITIALIZE);
        if initialize {
            lock(&self.state).initialize = Some(msg.clone());
        }
        let (req, had_session, generation) = self.request(msg.to_bytes(), initialize);
        let resp = self.send(req).await?;
        let status = resp.status();
        if status.is_success() {
            if initialize {
                self.adopt_session(&resp);
            }
            let expect = match msg {
                Message::Request(r) => Some(&r.id),
                _ => None,
            };
            return self.read_answer(resp, expect).await;
        }
        let failure = Box::pin(failure_of(resp, &self.origin, had_session)).await;
        if allow_reinit && had_session && session_gone(&failure) {
            tracing::debug!(
                status = failure.status,
                "session expired; re-initializing once"
            );
            Box::pin(self.reinitialize(generation))
                .await
                .map_err(|cause| Error::SessionExpired {
                    cause: Some(Box::new(cause)),
                })?;
            return Box::pin(self.post(msg, false)).await;
        }
        let mut failure = failure;
        if !allow_reinit && failure.status == 404 {
            // A second 404 right after a fresh session: the endpoint itself is gone.
            failure.had_session = false;
        }
        Err(Error::Http(Box::new(failure)))
    }

    fn adopt_session(&self, resp: &Response) {
        let id = resp.header(SESSION_HEADER);
        let mut st = lock(&self.state);
        st.session_id = id;
        st.generation += 1;
    }

    /// Reads a 2xx answer: JSON, SSE, or nothing (202).
    async fn read_answer(&self, resp: Response, expect: Option<&Id>) -> Result<(), Error> {
        // A notification or response needs no answer: whatever a server sends back (some send
        // `200 {"jsonrpc":"2.0","result":{}}`) is ignored, as the official SDKs do.
        if resp.status() == StatusCode::ACCEPTED || expect.is_none() {
            return Ok(());
        }
        let content_type = resp.header(CONTENT_TYPE.as_str());
        match classify::body_kind(content_type.as_deref()) {
            BodyKind::Json => {
                let body = resp
                    .read_capped(MAX_BODY)
                    .await
                    .map_err(|e| self.body_error(e))?;
                if body.iter().all(u8::is_ascii_whitespace) {
                    return match expect {
                        Some(_) => Err(Error::Protocol("empty response body to a request".into())),
                        None => Ok(()),
                    };
                }
                let messages = jsonrpc::decode_many(&body).map_err(|e| {
                    Error::Protocol(format!("unparsable JSON body ({e}): {}", preview(&body)))
                })?;
                self.dispatch(messages, expect);
                Ok(())
            }
            BodyKind::EventStream => Box::pin(self.read_sse_answer(resp, expect)).await,
            BodyKind::Other => {
                let status = resp.status().as_u16();
                let body = resp.read_capped(MAX_BODY).await.unwrap_or_default();
                if expect.is_none() && body.is_empty() {
                    return Ok(()); // e.g. 200 with no body to a notification
                }
                Err(Error::UnexpectedContentType(Box::new(HttpFailure {
                    status,
                    origin: self.origin.clone(),
                    content_type: content_type.map(|c| classify::media_type(&c)),
                    body_preview: Some(preview(&body)),
                    ..Default::default()
                })))
            }
        }
    }

    fn body_error(&self, e: BodyError) -> Error {
        match e {
            BodyError::TooLarge => {
                Error::Protocol(format!("response body larger than {MAX_BODY} bytes"))
            }
            BodyError::Net(e) => self.network_error(&e),
        }
    }

    fn dispatch(&self, messages: Vec<Decoded>, related: Option<&Id>) {
        if let Some(sink) = self.sink.upgrade() {
            for m in messages {
                sink.on_message(m, related);
            }
        }
    }

    /// Reads an SSE answer to a POST; resumes with `Last-Event-ID` when it drops early.
    async fn read_sse_answer(&self, resp: Response, expect: Option<&Id>) -> Result<(), Error> {
        let mut decoder = SseDecoder::default();
        let mut answered = self.pump_sse(resp, &mut decoder, expect).await?;
        let mut attempts = 0;
        while expect.is_some() && !answered {
            let Some(last_id) = decoder.last_event_id().map(str::to_owned) else {
                return Err(Error::Network {
                    kind: NetworkKind::Reset,
                    origin: self.origin.clone(),
                    detail: "SSE stream ended before the response (no event id to resume from)"
                        .into(),
                });
            };
            attempts += 1;
            if attempts > RESUME_ATTEMPTS {
                return Err(Error::Network {
                    kind: NetworkKind::Reset,
                    origin: self.origin.clone(),
                    detail: format!(
                        "SSE stream dropped {RESUME_ATTEMPTS} times before the response"
                    ),
                });
            }
            let delay = decoder.retry().unwrap_or(backoff(attempts));
            tracing::debug!(
                ?delay,
                last_id,
                "SSE answer dropped; resuming with Last-Event-ID"
            );
            tokio::time::sleep(delay).await;
            let resp = self.get(Some(&last_id)).await?;
            if !resp.status().is_success() {
                let had = lock(&self.state).session_id.is_some();
                return Err(Error::Http(Box::new(
                    failure_of(resp, &self.origin, had).await,
                )));
            }
            answered = self.pump_sse(resp, &mut decoder, expect).await?;
        }
        Ok(())
    }

    /// Feeds one SSE response through the decoder; true once the expected response was seen.
    async fn pump_sse(
        &self,
        mut resp: Response,
        decoder: &mut SseDecoder,
        expect: Option<&Id>,
    ) -> Result<bool, Error> {
        let mut answered = false;
        while let Ok(Some(chunk)) = resp.chunk().await {
            decoder.push(&chunk);
            while let Some(item) = decoder.next_item() {
                match item {
                    SseItem::Event(ev) if ev.event == "message" => {
                        match jsonrpc::decode_many(ev.data.as_bytes()) {
                            Ok(messages) => {
                                if let Some(want) = expect {
                                    answered |= messages.iter().any(|m| is_response_to(m, want));
                                }
                                self.dispatch(messages, expect);
                            }
                            Err(e) => {
                                if let Some(sink) = self.sink.upgrade() {
                                    sink.on_noise(tether_proto::ndjson::Skipped {
                                        reason: tether_proto::ndjson::SkipReason::NotJsonRpc(
                                            e.to_string(),
                                        ),
                                        preview: preview(ev.data.as_bytes()),
                                    });
                                }
                            }
                        }
                    }
                    SseItem::Event(ev) => {
                        tracing::debug!(event = ev.event, "ignoring SSE event type")
                    }
                    SseItem::TooLarge(n) => {
                        tracing::warn!(bytes = n, "dropped an SSE event over the 16 MiB cap");
                    }
                }
            }
            if answered {
                // The stream may stay open for more; our answer is in, stop reading.
                return Ok(true);
            }
        }
        Ok(answered)
    }

    async fn get(&self, last_event_id: Option<&str>) -> Result<Response, Error> {
        let mut req = {
            let st = lock(&self.state);
            let mut req = Request::new(Method::GET, &self.endpoint)
                .headers(&self.headers)
                .header("accept", "text/event-stream");
            if let Some(s) = &st.session_id {
                req = req.header(SESSION_HEADER, s);
            }
            if let Some(v) = &st.protocol_version {
                req = req.header(VERSION_HEADER, v);
            }
            req
        };
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        self.send(req).await
    }

    /// Re-runs the handshake after the session expired; one at a time, generation-guarded.
    async fn reinitialize(self: &Arc<Self>, seen_generation: u64) -> Result<(), Error> {
        let _one_at_a_time = self.reinit_lock.lock().await;
        let init = {
            let mut st = lock(&self.state);
            if st.generation != seen_generation {
                return Ok(()); // somebody else already renewed the session
            }
            st.session_id = None;
            st.initialize.clone()
        };
        let Some(Message::Request(mut init)) = init else {
            return Err(Error::Protocol("no initialize request to replay".into()));
        };
        let n = self.reinit_ids.fetch_add(1, Ordering::Relaxed);
        init.id = Id::String(format!("tether-reinit-{n}").into());
        let id = init.id.clone();
        let (req, _, _) = self.request(Message::Request(init).to_bytes(), true);
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(Error::Http(Box::new(
                failure_of(resp, &self.origin, false).await,
            )));
        }
        self.adopt_session(&resp);
        let answer = self.collect_response(resp, &id).await?;
        if let Err(e) = answer {
            return Err(Error::Peer(e));
        }
        let initialized = Message::Notification(tether_proto::Notification {
            method: method::INITIALIZED.to_owned(),
            params: None,
        });
        let (req, _, _) = self.request(initialized.to_bytes(), false);
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(Error::Http(Box::new(
                failure_of(resp, &self.origin, true).await,
            )));
        }
        if let Some(sink) = self.sink.upgrade() {
            sink.on_session_renewed();
        }
        if lock(&self.state).get_stream_wanted {
            // The old GET stream belonged to the old session.
            spawn_get_stream(self.clone(), None);
        }
        Ok(())
    }

    /// Reads an answer and returns the response to `id`, forwarding anything else to the sink.
    async fn collect_response(
        &self,
        mut resp: Response,
        id: &Id,
    ) -> Result<Result<Box<serde_json::value::RawValue>, tether_proto::ErrorObject>, Error> {
        let content_type = resp.header(CONTENT_TYPE.as_str());
        let messages: Vec<Decoded> = match classify::body_kind(content_type.as_deref()) {
            BodyKind::Json => {
                let body = resp
                    .read_capped(MAX_BODY)
                    .await
                    .map_err(|e| self.body_error(e))?;
                jsonrpc::decode_many(&body)
                    .map_err(|e| Error::Protocol(format!("unparsable JSON body ({e})")))?
            }
            BodyKind::EventStream => {
                let mut decoder = SseDecoder::default();
                let mut out = Vec::new();
                'read: while let Ok(Some(chunk)) = resp.chunk().await {
                    decoder.push(&chunk);
                    while let Some(item) = decoder.next_item() {
                        if let SseItem::Event(ev) = item
                            && let Ok(mut ms) = jsonrpc::decode_many(ev.data.as_bytes())
                        {
                            let done = ms.iter().any(|m| is_response_to(m, id));
                            out.append(&mut ms);
                            if done {
                                break 'read;
                            }
                        }
                    }
                }
                out
            }
            BodyKind::Other => {
                return Err(Error::Protocol(format!(
                    "unexpected content type {content_type:?} re-initializing"
                )));
            }
        };
        let mut found = None;
        let mut rest = Vec::new();
        for m in messages {
            match m.message {
                Message::Response(r) if r.id.as_ref() == Some(id) => found = Some(r.outcome),
                _ => rest.push(m),
            }
        }
        self.dispatch(rest, None);
        found.ok_or_else(|| Error::Protocol("no answer to the replayed initialize".into()))
    }
}

fn is_response_to(m: &Decoded, id: &Id) -> bool {
    matches!(&m.message, Message::Response(r) if r.id.as_ref() == Some(id))
}

/// A 404 (or a 400 that says "session", a common non-compliance) to a session-bound request.
fn session_gone(f: &HttpFailure) -> bool {
    f.status == 404
        || (f.status == 400
            && f.body_preview
                .as_deref()
                .is_some_and(|b| b.to_ascii_lowercase().contains("session")))
}

fn backoff(attempt: u32) -> Duration {
    let secs = 1u64 << attempt.saturating_sub(1).min(5);
    Duration::from_secs(secs.min(30))
}

/// Collects what a failed answer says about itself.
pub(crate) async fn failure_of(resp: Response, origin: &str, had_session: bool) -> HttpFailure {
    let status = resp.status().as_u16();
    let content_type = resp
        .header(CONTENT_TYPE.as_str())
        .map(|c| classify::media_type(&c));
    let retry_after = resp
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let request_id = resp
        .header("x-request-id")
        .or_else(|| resp.header("request-id"));
    let www_authenticate = resp.header("www-authenticate");
    let location = Some(status)
        .filter(|s| (300..400).contains(s))
        .and_then(|_| resp.header("location"))
        .map(|l| {
            // Relative to the origin, the only part of the URL kept here (paths can hold secrets).
            let absolute = Url::parse(origin).and_then(|o| o.join(&l));
            absolute.map_or(l, String::from)
        })
        .map(|l| tether_config::Redactor::default().redact_url_str(&l));
    let body = resp.read_limited(4096).await;
    HttpFailure {
        status,
        origin: origin.to_owned(),
        content_type,
        body_preview: Some(preview(&body)).filter(|p| !p.is_empty()),
        retry_after,
        request_id,
        www_authenticate,
        had_session,
        location,
    }
}

fn spawn_get_stream(shared: Arc<Shared>, opened: Option<tokio::sync::oneshot::Sender<()>>) {
    let cancel = shared.cancel.clone();
    tokio::spawn(async move {
        cancel
            .run_until_cancelled(get_stream_loop(shared, opened))
            .await;
    });
}

/// Keeps the optional GET stream open; any failure here only ends the stream, never the server.
async fn get_stream_loop(
    shared: Arc<Shared>,
    mut opened: Option<tokio::sync::oneshot::Sender<()>>,
) {
    let generation = lock(&shared.state).generation;
    let mut failures = 0u32;
    let mut decoder = SseDecoder::default();
    loop {
        if lock(&shared.state).generation != generation {
            return; // a newer session has its own stream
        }
        let last_id = decoder.last_event_id().map(str::to_owned);
        let mut resp =
            match tokio::time::timeout(GET_FIRST_BYTE, shared.get(last_id.as_deref())).await {
                Ok(Ok(resp)) => resp,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "GET stream failed to open");
                    failures += 1;
                    if failures >= RESUME_ATTEMPTS {
                        return;
                    }
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
                Err(_) => {
                    tracing::debug!("GET stream sent no headers within 30s; continuing POST-only");
                    return;
                }
            };
        // The server answered: whoever waits for the stream may go on (dropping `opened` at
        // any return tells them too).
        if let Some(tx) = opened.take() {
            let _ = tx.send(());
        }
        let status = resp.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            tracing::debug!("server offers no GET stream (405)");
            return;
        }
        let is_sse = classify::body_kind(resp.header(CONTENT_TYPE.as_str()).as_deref())
            == BodyKind::EventStream;
        if !status.is_success() || !is_sse {
            tracing::debug!(%status, "GET stream refused; continuing POST-only");
            return;
        }
        failures = 0;
        // Ends on a read error, the end of the stream, or GET_IDLE without bytes.
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout(GET_IDLE, resp.chunk()).await {
            decoder.push(&chunk);
            while let Some(item) = decoder.next_item() {
                if let SseItem::Event(ev) = item
                    && let Ok(messages) = jsonrpc::decode_many(ev.data.as_bytes())
                {
                    shared.dispatch(messages, None);
                }
            }
        }
        failures += 1;
        if failures >= RESUME_ATTEMPTS {
            return;
        }
        let delay = decoder.retry().unwrap_or(backoff(failures));
        tokio::time::sleep(delay).await;
    }
}
