//! What the gateway does with each message a client sends, whatever the front.
//!
//! Requests are answered from the catalog (lists) or routed to the upstream that owns the tool,
//! prompt or resource. Ids need no table: each upstream session numbers its own requests, and
//! the answer goes back under the client's id. Progress tokens are mapped both ways and a
//! client's `notifications/cancelled` aborts the forwarded call, which cancels it upstream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tether_client::error::Error;
use tether_client::{CallOptions, ErrorClass};
use tether_proto::jsonrpc::{self, ErrorObject, code};
use tether_proto::mcp::{ProgressParams, method};
use tether_proto::{Decoded, Id, Message, Notification, Request, Response, version};

use crate::Gateway;
use crate::catalog::Catalog;
use crate::downstream::{ClientCaps, Downstream, Outlet};
use crate::repair::{self, Repair};

/// The answer to one request.
pub type Outcome = Result<Box<RawValue>, ErrorObject>;

impl Gateway {
    /// Handles one decoded message from a client. Returns the response for requests.
    pub async fn handle(
        &self,
        ds: &Arc<Downstream>,
        msg: Decoded,
        related: Option<Outlet>,
    ) -> Option<Message> {
        if msg.repairs.missing_jsonrpc {
            self.inner.repairs.count(Repair::MissingJsonrpc);
        }
        match msg.message {
            Message::Request(req) => Some(self.handle_request(ds, req, related).await),
            Message::Notification(n) => {
                self.handle_notification(ds, n);
                None
            }
            Message::Response(r) => {
                if !ds.complete(r) {
                    tracing::debug!(client = ds.id, "answer to an unknown request dropped");
                }
                None
            }
        }
    }

    /// Answers one request, under the client's id.
    pub async fn handle_request(
        &self,
        ds: &Arc<Downstream>,
        req: Request,
        related: Option<Outlet>,
    ) -> Message {
        let id = req.id.clone();
        self.inner.busy_poll.touch();
        let outcome = self.request_outcome(ds, req, related).await;
        self.inner.busy_poll.touch();
        Message::Response(Response {
            id: Some(id),
            outcome,
        })
    }

    async fn request_outcome(
        &self,
        ds: &Arc<Downstream>,
        req: Request,
        related: Option<Outlet>,
    ) -> Outcome {
        let params = req.params.as_deref();
        match req.method.as_str() {
            method::INITIALIZE => Ok(self.initialize(ds, params)),
            method::PING => Ok(jsonrpc::empty_object()),
            method::SERVER_DISCOVER => Err(ErrorObject::new(
                code::METHOD_NOT_FOUND,
                "server/discover is not supported; use initialize (protocol 2025-11-25)",
            )),
            method::TOOLS_LIST => Ok(self.listing(|c| c.tools_result.clone()).await),
            method::PROMPTS_LIST => Ok(self.listing(|c| c.prompts_result.clone()).await),
            method::RESOURCES_LIST => Ok(self.listing(|c| c.resources_result.clone()).await),
            method::RESOURCE_TEMPLATES_LIST => {
                Ok(self.listing(|c| c.templates_result.clone()).await)
            }
            method::TOOLS_CALL => self.call_tool(ds, &req.id, params, related).await,
            method::PROMPTS_GET => self.get_prompt(params).await,
            method::RESOURCES_READ => self.by_uri(method::RESOURCES_READ, req.params).await,
            method::RESOURCES_SUBSCRIBE => {
                self.by_uri(method::RESOURCES_SUBSCRIBE, req.params).await
            }
            method::RESOURCES_UNSUBSCRIBE => {
                self.by_uri(method::RESOURCES_UNSUBSCRIBE, req.params).await
            }
            method::COMPLETE => self.complete(req.params).await,
            method::SET_LEVEL => Ok(self.set_level(req.params).await),
            other => Err(ErrorObject::new(
                code::METHOD_NOT_FOUND,
                format!("method not found: {other}"),
            )),
        }
    }

    /// Handles a notification from a client.
    pub fn handle_notification(&self, ds: &Arc<Downstream>, n: Notification) {
        match n.method.as_str() {
            method::INITIALIZED => ds.mark_initialized(),
            method::CANCELLED => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Cancelled {
                    request_id: Id,
                }
                if let Some(c) = n
                    .params
                    .as_deref()
                    .and_then(|p| serde_json::from_str::<Cancelled>(p.get()).ok())
                {
                    ds.cancel(&c.request_id);
                }
            }
            method::ROOTS_LIST_CHANGED => {
                for status in self.inner.manager.statuses() {
                    if let Some(s) = self.inner.manager.session(&status.name) {
                        let _ = s.notify(method::ROOTS_LIST_CHANGED, None);
                    }
                }
            }
            _ => tracing::debug!(method = %n.method, "client notification ignored"),
        }
    }

    fn initialize(&self, ds: &Arc<Downstream>, params: Option<&RawValue>) -> Box<RawValue> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Init {
            #[serde(default)]
            protocol_version: String,
            #[serde(default)]
            capabilities: Value,
        }
        let init: Init = params
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .unwrap_or_default();
        let negotiated = if version::is_supported(&init.protocol_version) {
            init.protocol_version.clone()
        } else {
            version::LATEST.to_owned()
        };
        ds.set_initialize(ClientCaps::of(&init.capabilities), &negotiated);
        let names = self.inner.manager.names();
        jsonrpc::to_raw(&serde_json::json!({
            "protocolVersion": negotiated,
            "capabilities": {
                "tools": { "listChanged": true },
                "prompts": { "listChanged": true },
                "resources": { "listChanged": true, "subscribe": true },
                "logging": {},
                "completions": {}
            },
            "serverInfo": { "name": "tether", "title": "Tether gateway", "version": env!("CARGO_PKG_VERSION") },
            "instructions": format!(
                "Tether gateway: the tools of {} MCP server(s) ({}), named <server>__<tool>.",
                names.len(),
                names.join(", ")
            ),
        }))
    }

    /// A list from the catalog; during startup, waits (bounded) for servers still connecting.
    async fn listing(&self, pick: impl Fn(&Catalog) -> Option<Box<RawValue>>) -> Box<RawValue> {
        self.wait_for_startup().await;
        pick(&self.catalog()).unwrap_or_else(jsonrpc::empty_object)
    }

    async fn call_tool(
        &self,
        ds: &Arc<Downstream>,
        request_id: &Id,
        params: Option<&RawValue>,
        related: Option<Outlet>,
    ) -> Outcome {
        let p =
            repair::call_params(params).map_err(|m| ErrorObject::new(code::INVALID_PARAMS, m))?;
        if let Some(r) = p.repair {
            self.inner.repairs.count(r);
            tracing::debug!(
                repair = r.label(),
                params = params.map(RawValue::get),
                "repaired tools/call"
            );
        }
        let mut route = self.catalog().tools.get(&p.name).cloned();
        if route.is_none() && !self.startup_done() {
            self.wait_for_startup().await;
            route = self.catalog().tools.get(&p.name).cloned();
        }
        let Some(route) = route else {
            return Err(ErrorObject::new(
                code::INVALID_PARAMS,
                format!("Unknown tool: {}", p.name),
            ));
        };
        // Progress is relayed here, in the same task as the answer, so the client always gets
        // every notification before the result.
        let (progress_tx, mut progress_rx) = match p.progress_token {
            Some(_) => {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<ProgressParams>();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let relay = |progress: ProgressParams| {
            if let Some(token) = &p.progress_token {
                let mut progress = progress;
                progress.progress_token = token.clone();
                ds.send(
                    Message::notification(method::PROGRESS, Some(&progress)),
                    related.as_ref(),
                );
            }
        };
        let _active = self
            .inner
            .registry
            .begin_call(&route.server, ds.id, related.clone());
        let sent_id = self
            .inner
            .opts
            .request_log
            .then(|| Arc::new(std::sync::OnceLock::new()));
        let started = Instant::now();
        let call = self.inner.manager.call_tool_raw(
            &route.server,
            &route.name,
            Some(&p.arguments),
            p.meta.as_deref(),
            CallOptions {
                timeout: None,
                // A reconnecting upstream is waited for, up to the call's timeout.
                wait_ready: Some(Duration::MAX),
                progress: progress_tx,
                sent_id: sent_id.clone(),
            },
        );
        tokio::pin!(call);
        let result = loop {
            tokio::select! {
                result = &mut call => break result,
                Some(progress) = recv(&mut progress_rx) => relay(progress),
            }
        };
        if let Some(rx) = progress_rx.as_mut() {
            while let Ok(progress) = rx.try_recv() {
                relay(progress);
            }
        }
        let elapsed = started.elapsed();
        let class = result.as_ref().err().map(|e| e.class().as_str());
        self.inner
            .metrics
            .observe(&route.server, method::TOOLS_CALL, elapsed, class);
        if self.inner.opts.request_log {
            log_call(
                ds.id,
                request_id,
                sent_id.as_ref().and_then(|s| s.get()),
                &route.server,
                &route.name,
                elapsed,
                &result,
            );
        }
        match result {
            Ok(raw) => Ok(raw),
            Err(Error::Peer(e)) => Err(e),
            Err(e) => Ok(tool_error(&route.server, &e, &*self.redact(&route.server))),
        }
    }

    async fn get_prompt(&self, params: Option<&RawValue>) -> Outcome {
        let mut params: serde_json::Map<String, Value> = params
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .ok_or_else(|| ErrorObject::new(code::INVALID_PARAMS, "prompts/get needs a `name`"))?;
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ErrorObject::new(code::INVALID_PARAMS, "prompts/get needs a `name`"))?
            .to_owned();
        self.wait_for_startup().await;
        let route = self.catalog().prompts.get(&name).cloned().ok_or_else(|| {
            ErrorObject::new(code::INVALID_PARAMS, format!("Unknown prompt: {name}"))
        })?;
        params.insert("name".into(), Value::String(route.name.clone()));
        self.forward(
            &route.server,
            method::PROMPTS_GET,
            Some(jsonrpc::to_raw(&params)),
        )
        .await
    }

    async fn by_uri(&self, method_name: &'static str, params: Option<Box<RawValue>>) -> Outcome {
        #[derive(Deserialize)]
        struct WithUri {
            uri: String,
        }
        let uri = params
            .as_deref()
            .and_then(|p| serde_json::from_str::<WithUri>(p.get()).ok())
            .map(|w| w.uri)
            .ok_or_else(|| {
                ErrorObject::new(code::INVALID_PARAMS, format!("{method_name} needs a `uri`"))
            })?;
        self.wait_for_startup().await;
        let server = self.catalog().resource_server(&uri).ok_or_else(|| {
            ErrorObject::new(code::INVALID_PARAMS, format!("Resource not found: {uri}"))
        })?;
        self.forward(&server, method_name, params).await
    }

    async fn complete(&self, params: Option<Box<RawValue>>) -> Outcome {
        let mut p: serde_json::Map<String, Value> = params
            .as_deref()
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .ok_or_else(|| {
                ErrorObject::new(code::INVALID_PARAMS, "completion/complete needs a `ref`")
            })?;
        let reference = p.get("ref").cloned().unwrap_or(Value::Null);
        let catalog = self.catalog();
        let server = match reference.get("type").and_then(Value::as_str) {
            Some("ref/prompt") => {
                let name = reference.get("name").and_then(Value::as_str).unwrap_or("");
                let route = catalog.prompts.get(name).cloned().ok_or_else(|| {
                    ErrorObject::new(code::INVALID_PARAMS, format!("Unknown prompt: {name}"))
                })?;
                if let Some(Value::Object(r)) = p.get_mut("ref") {
                    r.insert("name".into(), Value::String(route.name.clone()));
                }
                route.server.clone()
            }
            Some("ref/resource") => {
                let uri = reference.get("uri").and_then(Value::as_str).unwrap_or("");
                catalog.resource_server(uri).ok_or_else(|| {
                    ErrorObject::new(code::INVALID_PARAMS, format!("Resource not found: {uri}"))
                })?
            }
            _ => return Err(ErrorObject::new(code::INVALID_PARAMS, "unknown `ref` type")),
        };
        self.forward(&server, method::COMPLETE, Some(jsonrpc::to_raw(&p)))
            .await
    }

    async fn set_level(&self, params: Option<Box<RawValue>>) -> Box<RawValue> {
        let calls = self
            .inner
            .manager
            .statuses()
            .into_iter()
            .filter(|s| s.state.is_usable() && s.capabilities.iter().any(|c| c == "logging"));
        let forwards = calls.map(|s| {
            let params = params.clone();
            async move {
                let _ = self
                    .inner
                    .manager
                    .request(&s.name, method::SET_LEVEL, params, None)
                    .await;
            }
        });
        futures_util::future::join_all(forwards).await;
        jsonrpc::empty_object()
    }

    /// Sends a request to one upstream, mapping failures to errors the client understands.
    async fn forward(
        &self,
        server: &str,
        method_name: &'static str,
        params: Option<Box<RawValue>>,
    ) -> Outcome {
        let wait = self.inner.manager.timeouts(server).map(|t| t.request);
        let started = Instant::now();
        let result = self
            .inner
            .manager
            .request(server, method_name, params, wait)
            .await;
        let class = result.as_ref().err().map(|e| e.class().as_str());
        self.inner
            .metrics
            .observe(server, method_name, started.elapsed(), class);
        result.map_err(|e| match e {
            Error::Peer(obj) => obj,
            other => ErrorObject::new(
                code::INTERNAL_ERROR,
                format!(
                    "server `{server}`: {}",
                    self.redact(server)(&other.to_string())
                ),
            ),
        })
    }
}

/// A tool result that tells the model what went wrong (it can relay it to the user).
fn tool_error(server: &str, e: &Error, redact: &dyn Fn(&str) -> String) -> Box<RawValue> {
    let mut text = match e {
        Error::Unavailable { .. } => format!("Tether: {}", redact(&e.to_string())),
        _ => format!(
            "Tether: the call to server `{server}` failed ({}): {}",
            e.class(),
            redact(&e.to_string())
        ),
    };
    if let Some(h) = e.hint() {
        text.push_str("\nHint: ");
        text.push_str(&redact(&h));
    }
    jsonrpc::to_raw(&serde_json::json!({
        "content": [{ "type": "text", "text": text }],
        "isError": true
    }))
}

fn log_call(
    client: u64,
    id: &Id,
    upstream_id: Option<&Id>,
    server: &str,
    tool: &str,
    elapsed: Duration,
    result: &Result<Box<RawValue>, Error>,
) {
    let (outcome, class): (&str, Option<ErrorClass>) = match result {
        Ok(raw) if tether_proto::mcp::CallToolSummary::of(raw).is_error == Some(true) => {
            ("tool-error", None)
        }
        Ok(_) => ("ok", None),
        Err(e) => ("error", Some(e.class())),
    };
    tracing::info!(
        target: "tether::request",
        server,
        method = "tools/call",
        tool,
        client,
        downstream_id = %id,
        upstream_id = upstream_id.map(|u| u.to_string()),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        outcome,
        class = class.map(ErrorClass::as_str),
        "request"
    );
}

async fn recv<T>(rx: &mut Option<tokio::sync::mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
