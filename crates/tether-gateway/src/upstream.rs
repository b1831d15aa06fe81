//! Requests upstream servers send to the gateway (sampling, elicitation, roots) are passed to the
//! client that caused them, when it declared the capability; otherwise they get a proper error.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tether_client::session::{ClientHandler, HandlerFuture, ServerRequest};
use tether_proto::jsonrpc::{self, ErrorObject, code};
use tether_proto::mcp::method;

use crate::downstream::Registry;

/// How long a client may take to answer (elicitation waits for a person).
const CLIENT_ANSWER: Duration = Duration::from_secs(600);

/// The handler every upstream session uses.
#[derive(Debug)]
pub struct UpstreamHandler {
    registry: Arc<Registry>,
}

impl UpstreamHandler {
    /// A handler that forwards to the clients in `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        UpstreamHandler { registry }
    }
}

impl ClientHandler for UpstreamHandler {
    fn capabilities(&self) -> Value {
        serde_json::json!({
            "roots": { "listChanged": true },
            "sampling": {},
            "elicitation": { "form": {} }
        })
    }

    fn handle(&self, request: ServerRequest<'_>) -> Option<HandlerFuture> {
        let m = request.method;
        if m != method::ROOTS_LIST
            && m != method::SAMPLING_CREATE
            && m != method::ELICITATION_CREATE
        {
            return None;
        }
        let method_name = m.to_owned();
        match self.registry.pick(request.server, m) {
            Some((ds, related)) => {
                let params = request.params;
                Some(Box::pin(async move {
                    ds.request(&method_name, params, related.as_ref(), CLIENT_ANSWER)
                        .await
                }))
            }
            None if m == method::ROOTS_LIST => {
                let empty = jsonrpc::to_raw(&serde_json::json!({ "roots": [] }));
                Some(Box::pin(async move { Ok(empty) }))
            }
            None => {
                let err = ErrorObject::new(
                    code::METHOD_NOT_FOUND,
                    format!("no connected client supports {method_name}"),
                );
                Some(Box::pin(async move { Err(err) }))
            }
        }
    }
}
