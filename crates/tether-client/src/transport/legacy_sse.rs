//! The legacy HTTP+SSE transport (MCP 2024-11-05, `"type": "sse"`).
//!
//! A GET opens an event stream whose first event, `endpoint`, names where to POST; answers come
//! back on the stream as `message` events. The endpoint must have the stream's origin: a server
//! must not redirect our messages (and credentials) elsewhere.

use std::sync::{Arc, Weak};

use futures_util::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use tether_proto::jsonrpc;
use tether_proto::sse::{SseDecoder, SseItem};
use tether_proto::{Id, Message};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::Sink;
use super::http::{HttpParams, client_for, failure_of, header_map, origin_of};
use crate::error::classify::{self, BodyKind};
use crate::error::{Error, HttpFailure, NetworkKind};

#[derive(Debug)]
struct Shared {
    client: reqwest::Client,
    endpoint: Url,
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
        let client = client_for(&params.url);
        let origin = origin_of(&params.url);
        let host = params.url.host_str().unwrap_or_default().to_owned();
        let headers = header_map(&params.headers)?;
        let resp = client
            .get(params.url.clone())
            .headers(headers.clone())
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|e| classify::reqwest_error(&e, &origin, &host))?;
        if !resp.status().is_success() {
            return Err(Error::Http(Box::new(
                failure_of(resp, &origin, false).await,
            )));
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if classify::body_kind(content_type.as_deref()) != BodyKind::EventStream {
            let status = resp.status().as_u16();
            return Err(Error::UnexpectedContentType(Box::new(HttpFailure {
                status,
                origin,
                content_type: content_type.map(|c| classify::media_type(&c)),
                ..Default::default()
            })));
        }
        let mut stream = resp.bytes_stream();
        let mut decoder = SseDecoder::default();
        let endpoint = 'found: loop {
            let Some(chunk) = stream.next().await else {
                return Err(closed(
                    &origin,
                    "event stream ended before the `endpoint` event",
                ));
            };
            let chunk = chunk.map_err(|e| classify::reqwest_error(&e, &origin, &host))?;
            decoder.push(&chunk);
            while let Some(item) = decoder.next_item() {
                if let SseItem::Event(ev) = item
                    && ev.event == "endpoint"
                {
                    break 'found ev.data;
                }
            }
        };
        let endpoint = params
            .url
            .join(endpoint.trim())
            .map_err(|e| Error::Protocol(format!("bad `endpoint` event: {e}")))?;
        if origin_of(&endpoint) != origin {
            return Err(Error::Protocol(format!(
                "`endpoint` event points to another origin ({}), refusing",
                origin_of(&endpoint)
            )));
        }
        let shared = Arc::new(Shared {
            client,
            endpoint,
            origin,
            host,
            headers,
            sink,
            cancel: CancellationToken::new(),
        });
        let reader = shared.clone();
        let cancel = shared.cancel.clone();
        tokio::spawn(async move {
            cancel
                .run_until_cancelled(read_stream(reader, stream, decoder))
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
        let resp = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(msg.to_bytes())
            .send()
            .await
            .map_err(|e| classify::reqwest_error(&e, &self.origin, &self.host))?;
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
        if let Ok(body) = resp.bytes().await
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

async fn read_stream(
    shared: Arc<Shared>,
    mut stream: impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    mut decoder: SseDecoder,
) {
    let mut reason = "event stream closed by the server".to_owned();
    // Events already buffered behind `endpoint` come first.
    drain(&shared, &mut decoder);
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                decoder.push(&chunk);
                drain(&shared, &mut decoder);
            }
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
