//! Raw HTTP probes of a URL, below the session: what the endpoint answers to a plain
//! `initialize` POST (status, content type, headers, the first 200 bytes of a non-MCP body),
//! which transports it speaks (Streamable HTTP with JSON or SSE answers, legacy HTTP+SSE, the
//! stateless 2026-07-28 revision's `server/discover`), and two hygiene rules the specification
//! sets for servers: a foreign `Origin` gets 403, an unknown session gets 404.
//!
//! Plain HTTP requests on purpose: the session hides exactly what is reported here. Every
//! session a probe opens is closed with DELETE (best effort).

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;
use http::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};
use tether_config::Redactor;
use tether_proto::ndjson::preview;
use tether_proto::sse::{SseDecoder, SseItem};
use tether_proto::version;
use tokio::time::Instant;
use url::Url;

use super::finding::{Finding, Rung, Severity, code, from_error, one_line};
use super::report::{HttpEvidence, MatrixLine, Phase, Support};
use crate::error::classify::{self, BodyKind};
use crate::error::{Error, HttpFailure, Timer};
use crate::transport::http::{HttpParams, failure_of, header_map, origin_of};
use crate::transport::http_client::{Endpoint, HttpClient, NetError, Request, Response};

const ACCEPT_BOTH: &str = "application/json, text/event-stream";
const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
/// An origin no server should trust.
pub(crate) const FOREIGN_ORIGIN: &str = "https://tether-doctor.invalid";
/// A session id no server issued.
const UNKNOWN_SESSION: &str = "tether-doctor-unknown-session";
/// Largest JSON body a probe reads.
const MAX_PROBE_BODY: usize = 1024 * 1024;
/// How long the legacy probe waits for the first SSE event of an open stream.
const LEGACY_WAIT: Duration = Duration::from_secs(3);
/// How long the DELETE of a probe's session may take.
const DELETE_WAIT: Duration = Duration::from_secs(2);

/// Names of the matrix lines.
pub(crate) mod line {
    /// Streamable HTTP answered with `application/json`.
    pub const JSON: &str = "Streamable HTTP, JSON responses";
    /// Streamable HTTP answered with `text/event-stream`.
    pub const SSE: &str = "Streamable HTTP, SSE responses";
    /// The 2024-11-05 transport.
    pub const LEGACY: &str = "Legacy HTTP+SSE (2024-11-05)";
    /// The stateless revision.
    pub const STATELESS: &str = "Stateless 2026-07-28 (server/discover)";
    /// 403 for a foreign `Origin`.
    pub const ORIGIN: &str = "Origin validation";
    /// 404 for an unknown session.
    pub const SESSION: &str = "Unknown session answered 404";
}

/// What the HTTP probes found.
#[derive(Debug, Default)]
pub(crate) struct HttpFacts {
    /// The `http` phase.
    pub phase: Option<Phase>,
    /// Failures and warnings.
    pub findings: Vec<Finding>,
    /// The transport matrix.
    pub matrix: Vec<MatrixLine>,
    /// True when the session ladder should run (the configured transport answered).
    pub proceed: bool,
}

struct Prober {
    client: HttpClient,
    endpoint: Endpoint,
    url: Url,
    origin: String,
    host: String,
    headers: HeaderMap,
    budget: Duration,
}

/// One HTTP answer, read as far as a probe needs.
#[derive(Debug, Default)]
struct Answer {
    status: u16,
    kind: Option<BodyKind>,
    evidence: HttpEvidence,
    session_id: Option<String>,
    /// The JSON-RPC response to the probe's request, when one came back.
    response: Option<Value>,
    /// The details of a non-2xx answer.
    failure: Option<HttpFailure>,
    /// Where 307/308 redirects led, when they were followed (query values masked).
    redirected_to: Option<String>,
}

impl Answer {
    fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A 2xx JSON or SSE answer carrying the response.
    fn speaks_mcp(&self) -> bool {
        self.success()
            && matches!(self.kind, Some(BodyKind::Json | BodyKind::EventStream))
            && self.response.is_some()
    }

    /// `404 text/html`.
    fn summary(&self) -> String {
        let mut s = self.status.to_string();
        if let Some(ct) = &self.evidence.content_type {
            s.push(' ');
            s.push_str(ct);
        }
        s
    }

    /// `400 application/json: {"jsonrpc":…}` (the first 200 bytes of the body).
    fn summary_with_body(&self) -> String {
        let mut s = self.summary();
        if self.evidence.content_type.as_deref() == Some("text/html") {
            s.push_str(" (an HTML page)");
        } else if let Some(body) = &self.evidence.body_preview {
            s.push_str(": ");
            s.push_str(&one_line(body));
        }
        s
    }
}

/// What the legacy GET saw.
#[derive(Debug)]
enum Legacy {
    /// The first event was `endpoint`, pointing here (path only: the query holds a session id).
    Endpoint { path: String, answer: Box<Answer> },
    /// Something else; why, and the error to report when legacy was what was configured.
    Not { why: String, error: Option<Error> },
}

fn initialize_body(id: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": version::LATEST,
            "capabilities": {},
            "clientInfo": {"name": "tether-doctor", "version": env!("CARGO_PKG_VERSION")},
        },
    })
}

fn discover_body() -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": "tether-doctor-discover",
        "method": "server/discover",
        "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": version::STATELESS,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo":
                {"name": "tether-doctor", "version": env!("CARGO_PKG_VERSION")},
        }},
    })
}

impl Prober {
    fn request(&self, method: Method) -> Request {
        Request::new(method, &self.endpoint).headers(&self.headers)
    }

    /// POSTs a JSON-RPC message with the Streamable HTTP headers (plus `extra`), bounded by
    /// the budget; `label` names the request in a timeout.
    async fn post(
        &self,
        body: &Value,
        extra: &[(&'static str, &str)],
        label: &str,
    ) -> Result<Answer, Error> {
        let mut req = self
            .request(Method::POST)
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .body(body.to_string());
        let mut had_session = false;
        for (k, v) in extra {
            had_session |= k.eq_ignore_ascii_case(SESSION_HEADER);
            req = req.header(k, v);
        }
        let id = body.get("id").cloned();
        let exchange = async {
            let resp = self
                .client
                .send(req)
                .await
                .map_err(|e| self.net_error(&e))?;
            self.read(resp, id.as_ref(), had_session).await
        };
        match tokio::time::timeout(self.budget, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(Error::Timeout {
                method: label.to_owned(),
                timer: Timer::Connect,
                after: self.budget,
            }),
        }
    }

    fn net_error(&self, e: &NetError) -> Error {
        classify::net_error(&**e, &self.origin, &self.host)
    }

    async fn read(
        &self,
        mut resp: Response,
        id: Option<&Value>,
        had_session: bool,
    ) -> Result<Answer, Error> {
        let mut answer = Answer {
            status: resp.status().as_u16(),
            evidence: evidence(&resp),
            session_id: resp.header(SESSION_HEADER),
            redirected_to: resp
                .redirected_to()
                .map(|u| Redactor::default().redact_url_str(&u.to_string())),
            ..Answer::default()
        };
        if !resp.status().is_success() {
            let failure = failure_of(resp, &self.origin, had_session).await;
            answer.evidence.body_preview = failure.body_preview.clone();
            answer.failure = Some(failure);
            return Ok(answer);
        }
        let kind = classify::body_kind(resp.header(CONTENT_TYPE.as_str()).as_deref());
        answer.kind = Some(kind);
        match kind {
            BodyKind::Json => {
                let body = read_limited(resp, MAX_PROBE_BODY)
                    .await
                    .map_err(|e| self.net_error(&e))?;
                match serde_json::from_slice::<Value>(&body) {
                    Ok(v) => answer.response = find_response(v, id),
                    Err(_) => answer.evidence.body_preview = Some(preview(&body)),
                }
            }
            BodyKind::EventStream => {
                let mut decoder = SseDecoder::default();
                'read: while let Some(chunk) = resp.chunk().await.map_err(|e| self.net_error(&e))? {
                    decoder.push(&chunk);
                    while let Some(item) = decoder.next_item() {
                        if let SseItem::Event(ev) = item
                            && let Ok(v) = serde_json::from_str::<Value>(&ev.data)
                            && let Some(found) = find_response(v, id)
                        {
                            answer.response = Some(found);
                            break 'read;
                        }
                    }
                }
            }
            BodyKind::Other => {
                let body = read_limited(resp, 4096)
                    .await
                    .map_err(|e| self.net_error(&e))?;
                if !body.is_empty() {
                    answer.evidence.body_preview = Some(preview(&body));
                }
            }
        }
        Ok(answer)
    }

    /// GETs the URL as a legacy HTTP+SSE client does and waits for the first event.
    async fn legacy(&self, wait: Duration) -> Legacy {
        let req = self
            .request(Method::GET)
            .header("accept", "text/event-stream");
        let resp = match tokio::time::timeout(wait, self.client.send(req)).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => {
                let error = self.net_error(&e);
                return Legacy::Not {
                    why: format!("GET failed: {error}"),
                    error: Some(error),
                };
            }
            Err(_) => {
                return Legacy::Not {
                    why: format!(
                        "GET sent no answer within {}",
                        crate::error::fmt_duration(wait)
                    ),
                    error: Some(Error::Timeout {
                        method: "GET (legacy SSE stream)".into(),
                        timer: Timer::Connect,
                        after: wait,
                    }),
                };
            }
        };
        let mut answer = Answer {
            status: resp.status().as_u16(),
            evidence: evidence(&resp),
            ..Answer::default()
        };
        if !resp.status().is_success() {
            let failure = failure_of(resp, &self.origin, false).await;
            let why = format!("GET answered {}", answer.status);
            return Legacy::Not {
                why,
                error: Some(Error::Http(Box::new(failure))),
            };
        }
        let content_type = resp.header(CONTENT_TYPE.as_str());
        if classify::body_kind(content_type.as_deref()) != BodyKind::EventStream {
            let why = format!(
                "GET answered {} {}",
                answer.status,
                content_type
                    .as_deref()
                    .map(classify::media_type)
                    .unwrap_or_default()
            );
            let body = read_limited(resp, 4096).await.unwrap_or_default();
            return Legacy::Not {
                why,
                error: Some(Error::UnexpectedContentType(Box::new(HttpFailure {
                    status: answer.status,
                    origin: self.origin.clone(),
                    content_type: content_type.map(|c| classify::media_type(&c)),
                    body_preview: Some(preview(&body)).filter(|p| !p.is_empty()),
                    ..Default::default()
                }))),
            };
        }
        let first = tokio::time::timeout(wait, first_event(resp)).await;
        match first {
            Ok(Some((event, data))) if event == "endpoint" => {
                let path = self
                    .url
                    .join(data.trim())
                    .map(|u| u.path().to_owned())
                    .unwrap_or_else(|_| "(unparsable)".into());
                answer.kind = Some(BodyKind::EventStream);
                Legacy::Endpoint {
                    path,
                    answer: Box::new(answer),
                }
            }
            Ok(Some((event, _))) => Legacy::Not {
                why: format!(
                    "GET opened an event stream whose first event is `{event}`, not `endpoint`"
                ),
                error: None,
            },
            Ok(None) => Legacy::Not {
                why: "GET opened an event stream that ended without an `endpoint` event".into(),
                error: None,
            },
            Err(_) => Legacy::Not {
                why: format!(
                    "GET opened an event stream without an `endpoint` event within {}",
                    crate::error::fmt_duration(wait)
                ),
                error: None,
            },
        }
    }

    /// Ends a session a probe opened (best effort).
    async fn delete(&self, session: &str) {
        let req = self.request(Method::DELETE).header(SESSION_HEADER, session);
        let _ = tokio::time::timeout(DELETE_WAIT, self.client.send(req)).await;
    }
}

/// The first event of a stream (`(type, data)`); a priming event (an id and empty data) counts
/// as an event of type `message`, since a legacy server must send `endpoint` first.
async fn first_event(mut resp: Response) -> Option<(String, String)> {
    let mut decoder = SseDecoder::default();
    while let Ok(Some(chunk)) = resp.chunk().await {
        decoder.push(&chunk);
        if let Some(SseItem::Event(ev)) = decoder.next_item() {
            return Some((ev.event, ev.data));
        }
        // A priming event (an id, empty data) is not yielded but sets the last event id.
        if decoder.last_event_id().is_some() {
            return Some(("message".into(), String::new()));
        }
    }
    None
}

fn find_response(v: Value, id: Option<&Value>) -> Option<Value> {
    let matches = |m: &Value| {
        (m.get("result").is_some() || m.get("error").is_some())
            && id.is_none_or(|id| m.get("id") == Some(id))
    };
    match v {
        Value::Array(items) => items.into_iter().find(matches),
        single if matches(&single) => Some(single),
        _ => None,
    }
}

/// Headers worth showing; the session id only as `present`.
fn evidence(resp: &Response) -> HttpEvidence {
    let mut headers = BTreeMap::new();
    for name in [
        "server",
        "via",
        "www-authenticate",
        "retry-after",
        "x-request-id",
        "request-id",
        "location",
    ] {
        if let Some(v) = resp.header(name) {
            let v = if name == "location" {
                Redactor::default().redact_url_str(&v)
            } else {
                v
            };
            headers.insert(name.to_owned(), v);
        }
    }
    if resp.headers().contains_key(SESSION_HEADER) {
        headers.insert(SESSION_HEADER.to_owned(), "present".to_owned());
    }
    HttpEvidence {
        status: resp.status().as_u16(),
        content_type: resp
            .header(CONTENT_TYPE.as_str())
            .map(|c| classify::media_type(&c)),
        headers,
        body_preview: None,
    }
}

/// The first `limit` bytes of the body; unlike `Response::read_limited`, a failure mid-body
/// is reported, since it is evidence.
async fn read_limited(mut resp: Response, limit: usize) -> Result<Vec<u8>, NetError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        out.extend_from_slice(&chunk);
        if out.len() >= limit {
            out.truncate(limit);
            break;
        }
    }
    Ok(out)
}

/// Probes the endpoint; `sse` when the server is configured as legacy HTTP+SSE.
pub(crate) async fn probe(
    params: &HttpParams,
    sse: bool,
    budget: Duration,
    proxy: Option<&str>,
) -> HttpFacts {
    let mut facts = HttpFacts::default();
    let headers = match header_map(&params.headers) {
        Ok(h) => h,
        Err(e) => {
            facts.findings.push(Finding::new(
                code::CONFIG_INVALID,
                Severity::Error,
                e.to_string(),
                "fix the header in the server's `headers` (or `--header`)",
            ));
            facts.phase = Some(Phase::new("http", false, Duration::ZERO, e.to_string()));
            return facts;
        }
    };
    let endpoint = Endpoint::new(&params.url);
    let p = Prober {
        client: HttpClient::for_endpoint(&endpoint),
        endpoint,
        origin: origin_of(&params.url),
        host: params.url.host_str().unwrap_or_default().to_owned(),
        url: params.url.clone(),
        headers,
        budget,
    };
    let via = proxy
        .map(|v| format!(" · through the proxy in `{v}`"))
        .unwrap_or_default();
    let legacy_wait = budget.min(LEGACY_WAIT);

    // The configured transport first: its timing is the `http` phase.
    let start = Instant::now();
    let (init, legacy) = if sse {
        let legacy = p.legacy(budget).await;
        let took = start.elapsed();
        facts.phase = Some(legacy_phase(&legacy, took, &via));
        if let Legacy::Not { error: Some(e), .. } = &legacy
            && unreachable(e)
        {
            // Nothing more to learn from this endpoint: every probe would fail the same way.
            facts.findings.push(from_error(Rung::Connect, e));
            return facts;
        }
        let init = p
            .post(&initialize_body("tether-doctor-1"), &[], "initialize")
            .await;
        (init, legacy)
    } else {
        let init = p
            .post(&initialize_body("tether-doctor-1"), &[], "initialize")
            .await;
        let took = start.elapsed();
        facts.phase = Some(streamable_phase(&init, took, &via));
        if let Err(e) = &init
            && unreachable(e)
        {
            facts.findings.push(from_error(Rung::Connect, e));
            return facts;
        }
        let legacy = p.legacy(legacy_wait).await;
        (init, legacy)
    };
    let speaks = init.as_ref().is_ok_and(Answer::speaks_mcp);

    // What the configured transport's answer means.
    if sse {
        match &legacy {
            Legacy::Endpoint { .. } => facts.proceed = true,
            Legacy::Not { why, .. } if speaks => {
                facts.findings.push(Finding::new(
                    code::STREAMABLE_HTTP_ONLY,
                    Severity::Error,
                    format!(
                        "configured as legacy HTTP+SSE (`\"type\": \"sse\"`), but the server \
                         speaks Streamable HTTP: {why}; a POST of initialize worked"
                    ),
                    "set `\"type\": \"http\"` in the server's entry (or drop `--sse`)",
                ));
            }
            Legacy::Not { why, error } => facts.findings.push(match error {
                Some(e) => from_error(Rung::Connect, e),
                None => Finding::new(
                    code::NONCONFORMANT_MESSAGE,
                    Severity::Error,
                    format!("no legacy HTTP+SSE endpoint here: {why}"),
                    "a legacy server sends an `endpoint` event first; check the URL (often \
                     `/sse`)",
                ),
            }),
        }
    } else {
        match &init {
            Err(e) => facts.findings.push(from_error(Rung::Connect, e)),
            Ok(a) if a.success() => match a.kind {
                Some(BodyKind::Other) => {
                    let failure = HttpFailure {
                        status: a.status,
                        origin: p.origin.clone(),
                        content_type: a.evidence.content_type.clone(),
                        body_preview: a.evidence.body_preview.clone(),
                        ..Default::default()
                    };
                    facts.findings.push(from_error(
                        Rung::Connect,
                        &Error::UnexpectedContentType(Box::new(failure)),
                    ));
                }
                // JSON or SSE: the session reports what is wrong inside, if anything.
                _ => facts.proceed = true,
            },
            Ok(a) => {
                let legacy_here = matches!(legacy, Legacy::Endpoint { .. });
                if legacy_here && matches!(a.status, 400 | 404 | 405) {
                    facts.findings.push(Finding::new(
                        code::LEGACY_SSE_ONLY,
                        Severity::Error,
                        format!(
                            "the server speaks only the legacy HTTP+SSE transport (2024-11-05): \
                             POST initialize answered {}, GET answered with an `endpoint` event",
                            a.status
                        ),
                        "set `\"type\": \"sse\"` in the server's entry (or use `--sse`); \
                         Claude Code and most clients do not fall back on their own",
                    ));
                } else if let Some(failure) = &a.failure {
                    facts.findings.push(from_error(
                        Rung::Connect,
                        &Error::Http(Box::new(failure.clone())),
                    ));
                }
            }
        }
    }

    if let Ok(Answer {
        redirected_to: Some(to),
        ..
    }) = &init
    {
        facts.findings.push(Finding::new(
            code::HTTP_REDIRECT,
            Severity::Warning,
            format!(
                "POST initialize was redirected (307/308) to {to}; Tether follows it, but every \
                 request pays an extra round trip and clients that do not follow redirects fail"
            ),
            format!("set the server's `url` to {to}"),
        ));
    }

    // Follow-ups on a working Streamable session: answer modes, session and Origin rules.
    let mut json_seen = Vec::new();
    let mut sse_seen = Vec::new();
    let mut session_line = None;
    let mut origin_line = None;
    if let Ok(a) = &init
        && speaks
    {
        match a.kind {
            Some(BodyKind::Json) => json_seen.push("initialize"),
            Some(BodyKind::EventStream) => sse_seen.push("initialize"),
            _ => {}
        }
        let negotiated = a
            .response
            .as_ref()
            .and_then(|r| r.pointer("/result/protocolVersion"))
            .and_then(Value::as_str)
            .filter(|v| version::is_supported(v))
            .unwrap_or(version::LATEST)
            .to_owned();
        let session = a.session_id.clone();
        let mut extra: Vec<(&str, &str)> = vec![(VERSION_HEADER, negotiated.as_str())];
        if let Some(s) = &session {
            extra.push((SESSION_HEADER, s.as_str()));
        }
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let _ = p
            .post(&initialized, &extra, "notifications/initialized")
            .await;
        let ping = json!({"jsonrpc": "2.0", "id": "tether-doctor-ping", "method": "ping"});
        if let Ok(answer) = p.post(&ping, &extra, "ping").await
            && answer.speaks_mcp()
        {
            match answer.kind {
                Some(BodyKind::Json) => json_seen.push("ping"),
                Some(BodyKind::EventStream) => sse_seen.push("ping"),
                _ => {}
            }
        }
        session_line =
            Some(session_check(&p, session.as_deref(), &negotiated, &mut facts.findings).await);
        origin_line = Some(origin_check(&p, &mut facts.findings).await);
        if let Some(s) = &session {
            p.delete(s).await;
        }
    }

    // The matrix.
    let refused = match &init {
        Ok(a) => format!("POST initialize answered {}", a.summary()),
        Err(e) => format!("POST initialize failed: {e}"),
    };
    let stream_line = |name: &'static str, seen: &[&str], other: &[&str], media: &str| {
        let other_media = if media == "application/json" {
            "text/event-stream"
        } else {
            "application/json"
        };
        if !seen.is_empty() {
            MatrixLine {
                name,
                supported: Support::Yes,
                detail: format!("{} answered with {media}", seen.join(" and ")),
            }
        } else if speaks {
            MatrixLine {
                name,
                supported: Support::Unknown,
                detail: format!(
                    "not seen: {} answered with {other_media} (the server chooses; clients \
                     must accept both)",
                    other.join(" and ")
                ),
            }
        } else {
            MatrixLine {
                name,
                supported: Support::No,
                detail: refused.clone(),
            }
        }
    };
    facts.matrix.push(stream_line(
        line::JSON,
        &json_seen,
        &sse_seen,
        "application/json",
    ));
    facts.matrix.push(stream_line(
        line::SSE,
        &sse_seen,
        &json_seen,
        "text/event-stream",
    ));
    facts.matrix.push(match &legacy {
        Legacy::Endpoint { path, .. } => MatrixLine {
            name: line::LEGACY,
            supported: Support::Yes,
            detail: format!("GET answered with an `endpoint` event ({path})"),
        },
        Legacy::Not { why, .. } => MatrixLine {
            name: line::LEGACY,
            supported: Support::No,
            detail: why.clone(),
        },
    });
    facts.matrix.push(discover_line(&p).await);
    facts.matrix.extend(origin_line);
    facts.matrix.extend(session_line);
    facts
}

/// Failures that every further probe would repeat: network, DNS, TLS, no answer in time.
fn unreachable(e: &Error) -> bool {
    use crate::error::ErrorClass as C;
    matches!(
        e.class(),
        C::Network | C::Dns | C::Tls | C::HandshakeTimeout | C::RequestTimeout
    )
}

/// An unknown session must get 404 (clients re-initialize on 404, not on 400).
async fn session_check(
    p: &Prober,
    session: Option<&str>,
    negotiated: &str,
    findings: &mut Vec<Finding>,
) -> MatrixLine {
    match session {
        None => MatrixLine {
            name: line::SESSION,
            supported: Support::Unknown,
            detail: "no session id issued (a stateless server)".into(),
        },
        Some(_) => {
            let bogus = [
                (VERSION_HEADER, negotiated),
                (SESSION_HEADER, UNKNOWN_SESSION),
            ];
            let ping = json!({"jsonrpc": "2.0", "id": "tether-doctor-session", "method": "ping"});
            match p.post(&ping, &bogus, "ping").await {
                Ok(b) if b.status == 404 => MatrixLine {
                    name: line::SESSION,
                    supported: Support::Yes,
                    detail: "an unknown Mcp-Session-Id gets 404, so clients re-initialize".into(),
                },
                Ok(b) if b.success() => MatrixLine {
                    name: line::SESSION,
                    supported: Support::Unknown,
                    detail: format!("an unknown Mcp-Session-Id was accepted ({})", b.status),
                },
                Ok(b) => {
                    findings.push(Finding::new(
                        code::UNKNOWN_SESSION_STATUS,
                        Severity::Warning,
                        format!(
                            "an unknown Mcp-Session-Id gets HTTP {} instead of 404: {}",
                            b.status,
                            b.summary_with_body()
                        ),
                        "answer unknown or expired sessions with 404 (MCP 2025-03-26+): on \
                         404 clients start a new session, on 400 they fail every request \
                         until restarted (e.g. after the server restarts)",
                    ));
                    MatrixLine {
                        name: line::SESSION,
                        supported: Support::No,
                        detail: format!("an unknown Mcp-Session-Id gets {}", b.status),
                    }
                }
                Err(e) => MatrixLine {
                    name: line::SESSION,
                    supported: Support::Unknown,
                    detail: format!("probe failed: {e}"),
                },
            }
        }
    }
}

/// A foreign `Origin` must get 403 (DNS-rebinding protection).
async fn origin_check(p: &Prober, findings: &mut Vec<Finding>) -> MatrixLine {
    let foreign = [("origin", FOREIGN_ORIGIN)];
    match p
        .post(
            &initialize_body("tether-doctor-origin"),
            &foreign,
            "initialize",
        )
        .await
    {
        Ok(o) if o.status == 403 => MatrixLine {
            name: line::ORIGIN,
            supported: Support::Yes,
            detail: format!("a foreign Origin ({FOREIGN_ORIGIN}) gets 403"),
        },
        Ok(o) if o.success() => {
            if let Some(s) = &o.session_id {
                p.delete(s).await;
            }
            findings.push(Finding::new(
                code::ORIGIN_NOT_VALIDATED,
                Severity::Warning,
                format!(
                    "the server accepted a request with `Origin: {FOREIGN_ORIGIN}` ({})",
                    o.status
                ),
                "validate the Origin header and answer foreign origins with 403 (MCP \
                 requires it): without it a web page can reach a local server through \
                 DNS rebinding",
            ));
            MatrixLine {
                name: line::ORIGIN,
                supported: Support::No,
                detail: format!("a foreign Origin was accepted ({})", o.status),
            }
        }
        Ok(o) => MatrixLine {
            name: line::ORIGIN,
            supported: Support::Unknown,
            detail: format!("a foreign Origin got {}", o.summary_with_body()),
        },
        Err(e) => MatrixLine {
            name: line::ORIGIN,
            supported: Support::Unknown,
            detail: format!("probe failed: {e}"),
        },
    }
}

fn streamable_phase(init: &Result<Answer, Error>, took: Duration, via: &str) -> Phase {
    match init {
        Ok(a) => {
            let mut detail = format!("POST initialize: {}", a.summary());
            if a.speaks_mcp() {
                detail.push_str(match a.session_id {
                    Some(_) => " · session id issued",
                    None => " · no session id (stateless)",
                });
            }
            detail.push_str(via);
            let ok = a.success() && a.kind != Some(BodyKind::Other);
            Phase {
                http: Some(a.evidence.clone()),
                ..Phase::new("http", ok, took, detail)
            }
        }
        Err(e) => Phase::new("http", false, took, format!("POST initialize: {e}{via}")),
    }
}

fn legacy_phase(legacy: &Legacy, took: Duration, via: &str) -> Phase {
    match legacy {
        Legacy::Endpoint { path, answer } => Phase {
            http: Some(answer.evidence.clone()),
            ..Phase::new(
                "http",
                true,
                took,
                format!("GET: {} · `endpoint` event → {path}{via}", answer.summary()),
            )
        },
        Legacy::Not { why, .. } => Phase::new("http", false, took, format!("{why}{via}")),
    }
}

async fn discover_line(p: &Prober) -> MatrixLine {
    let headers = [
        ("mcp-method", "server/discover"),
        (VERSION_HEADER, version::STATELESS),
    ];
    let name = line::STATELESS;
    match p.post(&discover_body(), &headers, "server/discover").await {
        Ok(a) => match &a.response {
            Some(r) if r.get("result").is_some() => {
                let versions: Vec<&str> = r
                    .pointer("/result/supportedVersions")
                    .and_then(Value::as_array)
                    .map(|v| v.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                MatrixLine {
                    name,
                    supported: Support::Yes,
                    detail: format!(
                        "server/discover answered; supported versions: {}",
                        versions.join(", ")
                    ),
                }
            }
            Some(r) if r.pointer("/error/code").and_then(Value::as_i64) == Some(-32022) => {
                MatrixLine {
                    name,
                    supported: Support::Yes,
                    detail: format!(
                        "a stateless-era server, but not {}: {}",
                        version::STATELESS,
                        r.pointer("/error/data/supported")
                            .map(Value::to_string)
                            .unwrap_or_default()
                    ),
                }
            }
            Some(r) => MatrixLine {
                name,
                supported: Support::No,
                detail: format!(
                    "server/discover answered error {}",
                    r.pointer("/error/code")
                        .map(Value::to_string)
                        .unwrap_or_default()
                ),
            },
            None => MatrixLine {
                name,
                supported: Support::No,
                detail: format!("server/discover answered {}", a.summary_with_body()),
            },
        },
        Err(e) => MatrixLine {
            name,
            supported: Support::No,
            detail: format!("server/discover failed: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_found_by_id() {
        let id = json!("a");
        assert!(find_response(json!({"jsonrpc":"2.0","id":"a","result":{}}), Some(&id)).is_some());
        assert!(find_response(json!({"jsonrpc":"2.0","id":"b","result":{}}), Some(&id)).is_none());
        assert!(find_response(json!({"jsonrpc":"2.0","method":"x"}), Some(&id)).is_none());
        let batch = json!([{"jsonrpc":"2.0","method":"n"},{"jsonrpc":"2.0","id":"a","error":{"code":1,"message":"m"}}]);
        assert!(find_response(batch, Some(&id)).is_some());
    }

    #[test]
    fn the_discover_probe_carries_the_stateless_envelope() {
        let body = discover_body();
        assert_eq!(body["method"], "server/discover");
        let meta = &body["params"]["_meta"];
        assert_eq!(
            meta["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
        assert!(meta["io.modelcontextprotocol/clientCapabilities"].is_object());
        assert_eq!(
            meta["io.modelcontextprotocol/clientInfo"]["name"],
            "tether-doctor"
        );
    }
}
