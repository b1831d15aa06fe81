//! Transports move JSON-RPC messages; sessions give them meaning.
//!
//! A transport reports everything it receives to a `Sink` (the session) through a weak
//! reference, so dropping the session tears the transport down: the stdio child is killed,
//! HTTP streams are cancelled.

pub mod http;
pub(crate) mod http_client;
pub mod legacy_sse;
pub mod stdio;

use std::time::Duration;

use tether_proto::ndjson::Skipped;
use tether_proto::{Decoded, Id, Message};

use crate::error::Error;

pub use http::{HttpParams, HttpTransport};
pub use legacy_sse::LegacySseTransport;
pub use stdio::{StdioParams, StdioTransport};

/// Where inbound traffic goes. Implemented by the session.
pub(crate) trait Sink: Send + Sync + 'static {
    /// A decoded message; `related` is the request whose HTTP answer stream carried it.
    fn on_message(&self, msg: Decoded, related: Option<&Id>);
    /// A request could not be delivered or its answer could not be read.
    fn on_request_failed(&self, id: &Id, error: Error);
    /// The connection is gone; every pending request must fail.
    fn on_closed(&self, error: Error);
    /// A line or event that was not JSON-RPC.
    fn on_noise(&self, skipped: Skipped);
    /// One line of the server's stderr.
    fn on_stderr(&self, line: &str);
    /// The HTTP session expired and was re-established transparently.
    fn on_session_renewed(&self);
}

/// What to connect to.
#[derive(Clone, Debug)]
pub enum Target {
    /// A child process.
    Stdio(StdioParams),
    /// A Streamable HTTP endpoint.
    Http(HttpParams),
    /// A legacy HTTP+SSE endpoint.
    Sse(HttpParams),
}

impl Target {
    /// `stdio`, `http` or `sse`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Stdio(_) => "stdio",
            Target::Http(_) => "http",
            Target::Sse(_) => "sse",
        }
    }
}

/// An open transport.
#[derive(Debug)]
pub(crate) enum Transport {
    Stdio(StdioTransport),
    Http(HttpTransport),
    Sse(LegacySseTransport),
}

impl Transport {
    /// Opens a transport; for legacy SSE this waits for the `endpoint` event.
    pub(crate) async fn open(
        target: &Target,
        sink: std::sync::Weak<dyn Sink>,
    ) -> Result<Transport, Error> {
        Ok(match target {
            Target::Stdio(p) => Transport::Stdio(StdioTransport::spawn(p, sink)?),
            Target::Http(p) => Transport::Http(HttpTransport::new(p, sink)?),
            Target::Sse(p) => Transport::Sse(LegacySseTransport::connect(p, sink).await?),
        })
    }

    /// Sends without waiting; failures of requests reach the sink.
    pub(crate) fn send(&self, msg: Message) -> Result<(), Error> {
        match self {
            Transport::Stdio(t) => t.send(msg.to_bytes()),
            Transport::Http(t) => {
                t.send(msg);
                Ok(())
            }
            Transport::Sse(t) => {
                t.send(msg);
                Ok(())
            }
        }
    }

    /// Sends a notification and waits until it was delivered (HTTP: accepted).
    pub(crate) async fn notify(&self, msg: Message) -> Result<(), Error> {
        match self {
            Transport::Stdio(t) => t.send(msg.to_bytes()),
            Transport::Http(t) => t.notify(msg).await,
            Transport::Sse(t) => t.notify(msg).await,
        }
    }

    /// After `initialized`: the HTTP transport sends the version header from now on and opens
    /// its GET stream (waiting at most `wait` for the server to take it).
    pub(crate) async fn after_handshake(&self, protocol_version: &str, wait: Duration) {
        if let Transport::Http(t) = self {
            t.set_protocol_version(protocol_version);
            t.open_get_stream(wait).await;
        }
    }

    pub(crate) async fn shutdown(&self, grace: Duration) {
        match self {
            Transport::Stdio(t) => t.shutdown(grace).await,
            Transport::Http(t) => t.shutdown().await,
            Transport::Sse(t) => t.shutdown(),
        }
    }
}
