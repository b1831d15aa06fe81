//! The legacy HTTP+SSE transport (MCP 2024-11-05, `"type": "sse"`).
//!
//! A GET opens an event stream whose first event, `endpoint`, names where to POST; answers come
//! back on the stream as `message` events. The endpoint must have the stream's origin: a server
//! must not redirect our messages (and credentials) elsewhere.

use std::sync::{Arc, Weak};

use http::Method;
use http::header::{CONTENT_TYPE, HeaderMap};
use tether_proto::jsonrpc;
use tether_proto::sse::{SseDecoder, SseItem};
use tether_proto::{Id, Message};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::Sink;
use super::http::{HttpParams, failure_of, header_map, origin_of};
use super::http_client::{Endpoint, HttpClient, NetError, Request, Response};
use crate::error::classify::{self, BodyKind};
use crate::error::{Error, HttpFailure, NetworkKind};

/// The largest JSON body read from a POST's answer.
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Debug)]
struct Shared {
    client: HttpClient,
    endpoint: Endpoint,
    origin: String,
    host: String,
    headers: HeaderMap,
    sink: Weak<dyn Sink>,
    cancel: CancellationToken,
}

/// A legacy HTTP+SSE connection.
#[derive(Debug)]
pub struct LegacySseTransport {
    shared: Arc<Shared>,
}

impl Drop for LegacySseTransport {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

impl LegacySseTransport {
    /// Opens the event stream and waits for the `endpoint` event.
    pub(crate) async fn connect(params: &HttpParams, sink: Weak<dyn Sink>) -> Result<Self, Error> {
        let stream_endpoint = Endpoint::new(&params.url);
        let client = HttpClient::for_endpoint(&stream_endpoint);
        let origin = origin_of(&params.url);
        let host = params.url.host_str().unwrap_or_default().to_owned();
        let headers = header_map(&params.headers)?;
        let net_error = |e: NetError| classify::net_error(&*e, &origin, &host);
        let req = Request::new(Method::GET, &stream_endpoint)
            .headers(&headers)
            .header("accept", "text/event-stream");
        let mut resp = client.send(req).await.map_err(net_error)?;
        if !resp.status().is_success() {
            return Err(Error::Http(Box::new(
                failure_of(resp, &origin, false).await,
            )));
        }
        let content_type = resp.header(CONTENT_TYPE.as_str());
        if classify::body_kind(content_type.as_deref()) != BodyKind::EventStream {
            let status = resp.status().as_u16();
            return Err(Error::UnexpectedContentType(Box::new(HttpFailure {
                status,
                origin,
                content_type: content_type.map(|c| classify::media_type(&c)),
                ..Default::default()
            })));
        }
        let mut decoder = SseDecoder::default();
        let endpoint = 'found: loop {
            let Some(chunk) = resp.chunk().await.map_err(net_error)? else {
                return Err(closed(
                    &origin,
                    "event stream ended before the `endpoint` event",
                ));
            };
            decoder.push(&chunk);
            while let Some(item) = decoder.next_item() {
                if let SseItem::Event(ev) = item
                    && ev.event == "endpoint"
                {
                    break 'found ev.data;
                }
            }
        };
        // Relative to where the stream really came from, when a redirect moved it.
        let base = resp
            .redirected_to()
            .and_then(|uri| Url::parse(&uri.to_string()).ok())
            .unwrap_or_else(|| params.url.clone());
        let endpoint = base
            .join(endpoint.trim())
            .map_err(|e| Error::Protocol(format!("bad `endpoint` event: {e}")))?;
        if origin_of(&endpoint) != origin_of(&base) {
            return Err(Error::Protocol(format!(
                "`endpoint` event points to another origin ({}), refusing",
                origin_of(&endpoint)
            )));
        }
        let endpoint = Endpoint::new(&endpoint);
        let shared = Arc::new(Shared {
            client: HttpClient::for_endpoint(&endpoint),
            endpoint,
            origin: origin_of(&base),
            host: base.host_str().unwrap_or_default().to_owned(),
            headers,
            sink,
            cancel: CancellationToken::new(),
        });
        let reader = shared.clone();
        let cancel = shared.cancel.clone();
        tokio::spawn(async move {
            cancel
                .run_until_cancelled(read_stream(reader, resp, decoder))
                .await;
        });
        Ok(LegacySseTransport { shared })
    }

    /// POSTs a message to the endpoint; the answer arrives on the stream.
    pub(crate) fn send(&self, msg: Message) {
        let shared = self.shared.clone();
        let cancel = shared.cancel.clone();
        tokio::spawn(async move {
            let id = match &msg {
                Message::Request(r) => Some(r.id.clone()),
                _ => None,
            };
            if let Some(Err(error)) = cancel.run_until_cancelled(shared.post(&msg)).await {
                match (id, shared.sink.upgrade()) {
                    (Some(id), Some(sink)) => sink.on_request_failed(&id, error),
                    _ => tracing::debug!(%error, "legacy SSE POST failed"),
                }
            }
        });
    }

    /// POSTs a notification and waits for the server to accept it.
    pub(crate) async fn notify(&self, msg: Message) -> Result<(), Error> {
        self.shared.post(&msg).await
    }

    /// Stops the stream.
    pub(crate) fn shutdown(&self) {
        self.shared.cancel.cancel();
    }
}

impl Shared {
    async fn post(&self, msg: &Message) -> Result<(), Error> {
        let req = Request::new(Method::POST, &self.endpoint)
            .headers(&self.headers)
            .header("content-type", "application/json")
            .body(msg.to_bytes());
        let resp = self
            .client
            .send(req)
            .await
            .map_err(|e| classify::net_error(&*e, &self.origin, &self.host))?;
        if !resp.status().is_success() {
            return Err(Error::Http(Box::new(
                failure_of(resp, &self.origin, false).await,
            )));
        }
        // Some servers also answer in the POST body; take it when it is JSON-RPC.
        let related: Option<Id> = match msg {
            Message::Request(r) => Some(r.id.clone()),
            _ => None,
        };
        if let Ok(body) = resp.read_capped(MAX_BODY).await
            && let (Ok(messages), Some(sink)) = (jsonrpc::decode_many(&body), self.sink.upgrade())
        {
            for m in messages {
                sink.on_message(m, related.as_ref());
            }
        }
        Ok(())
    }
}

fn closed(origin: &str, detail: &str) -> Error {
    Error::Network {
        kind: NetworkKind::Reset,
        origin: origin.to_owned(),
        detail: detail.to_owned(),
    }
}

async fn read_stream(shared: Arc<Shared>, mut resp: Response, mut decoder: SseDecoder) {
    let mut reason = "event stream closed by the server".to_owned();
    // Events already buffered behind `endpoint` come first.
    drain(&shared, &mut decoder);
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                decoder.push(&chunk);
                drain(&shared, &mut decoder);
            }
            Ok(None) => break,
            Err(e) => {
                reason = format!("event stream failed: {e}");
                break;
            }
        }
    }
    if let Some(sink) = shared.sink.upgrade() {
        sink.on_closed(closed(&shared.origin, &reason));
    }
}

fn drain(shared: &Shared, decoder: &mut SseDecoder) {
    let Some(sink) = shared.sink.upgrade() else {
        return;
    };
    while let Some(item) = decoder.next_item() {
        if let SseItem::Event(ev) = item {
            if ev.event != "message" {
                continue;
            }
            match jsonrpc::decode_many(ev.data.as_bytes()) {
                Ok(messages) => {
                    for m in messages {
                        sink.on_message(m, None);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "non-JSON-RPC message event skipped"),
            }
        }
    }
}
