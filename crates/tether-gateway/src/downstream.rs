//! One connected client of the gateway (a host, over stdio or an HTTP session): what it can do,
//! where messages to it go, and the requests the gateway has sent it.

use foldhash::HashMap as FastMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::lock;
use serde_json::value::RawValue;
use tether_proto::jsonrpc::{ErrorObject, code};
use tether_proto::{Id, Message, Request, Response};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// One place the client reads from.
#[derive(Debug, Clone)]
pub enum Outlet {
    /// A long-lived stream: stdout, or an HTTP GET stream.
    Stream(mpsc::UnboundedSender<Message>),
    /// The answer of one HTTP request, which becomes an SSE stream only if something is sent
    /// on it before the answer (most calls never need one, so it is cheap to create).
    Call(Arc<CallStream>),
}

impl Outlet {
    /// Sends; gives the message back when the reader is gone.
    pub fn send(&self, msg: Message) -> Result<(), Message> {
        match self {
            Outlet::Stream(tx) => tx.send(msg).map_err(|e| e.0),
            Outlet::Call(stream) => stream.push(msg),
        }
    }

    /// True once the reader is gone.
    pub fn is_closed(&self) -> bool {
        match self {
            Outlet::Stream(tx) => tx.is_closed(),
            Outlet::Call(stream) => stream.closed.load(Ordering::Acquire),
        }
    }
}

/// Messages about one request, waiting for the HTTP front to send them.
#[derive(Debug, Default)]
pub struct CallStream {
    queue: Mutex<std::collections::VecDeque<Message>>,
    ready: tokio::sync::Notify,
    closed: AtomicBool,
}

impl CallStream {
    /// An empty stream.
    pub fn new() -> Arc<Self> {
        Arc::new(CallStream::default())
    }

    fn push(&self, msg: Message) -> Result<(), Message> {
        if self.closed.load(Ordering::Acquire) {
            return Err(msg);
        }
        lock(&self.queue).push_back(msg);
        self.ready.notify_one();
        Ok(())
    }

    /// The next message, if one is queued.
    pub fn try_recv(&self) -> Option<Message> {
        lock(&self.queue).pop_front()
    }

    /// Waits for the next message.
    pub async fn recv(&self) -> Message {
        loop {
            if let Some(m) = self.try_recv() {
                return m;
            }
            self.ready.notified().await;
        }
    }

    /// The reader is gone: later messages go to the client's other streams.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

/// What the client declared in `initialize`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCaps {
    /// `sampling`.
    pub sampling: bool,
    /// `elicitation`.
    pub elicitation: bool,
    /// `roots`.
    pub roots: bool,
}

impl ClientCaps {
    /// Reads the capabilities object of an `initialize` request.
    pub fn of(capabilities: &serde_json::Value) -> Self {
        ClientCaps {
            sampling: capabilities.get("sampling").is_some(),
            elicitation: capabilities.get("elicitation").is_some(),
            roots: capabilities.get("roots").is_some(),
        }
    }

    /// Whether the client can answer `method`.
    pub fn supports(&self, method: &str) -> bool {
        use tether_proto::mcp::method as m;
        match method {
            m::SAMPLING_CREATE => self.sampling,
            m::ELICITATION_CREATE => self.elicitation,
            m::ROOTS_LIST => self.roots,
            _ => false,
        }
    }
}

type Waiter = oneshot::Sender<Result<Box<RawValue>, ErrorObject>>;

/// One downstream client.
#[derive(Debug)]
pub struct Downstream {
    /// A process-unique number (the HTTP session id is derived from it, plus randomness).
    pub id: u64,
    caps: Mutex<ClientCaps>,
    /// Where unrelated messages go (stdout, or the HTTP GET stream once opened).
    general: Mutex<Option<Outlet>>,
    pending: Mutex<FastMap<Id, Waiter>>,
    next_id: AtomicI64,
    in_flight: Mutex<FastMap<Id, CancellationToken>>,
    initialized: AtomicBool,
    protocol_version: Mutex<String>,
}

impl Downstream {
    /// A client whose unrelated messages go to `general` (None: nowhere yet).
    pub fn new(id: u64, general: Option<Outlet>) -> Self {
        Downstream {
            id,
            caps: Mutex::new(ClientCaps::default()),
            general: Mutex::new(general),
            pending: Mutex::default(),
            next_id: AtomicI64::new(0),
            in_flight: Mutex::default(),
            initialized: AtomicBool::new(false),
            protocol_version: Mutex::new(String::new()),
        }
    }

    /// Records what `initialize` said.
    pub fn set_initialize(&self, caps: ClientCaps, version: &str) {
        *lock(&self.caps) = caps;
        *lock(&self.protocol_version) = version.to_owned();
    }

    /// The declared capabilities.
    pub fn caps(&self) -> ClientCaps {
        *lock(&self.caps)
    }

    /// The negotiated protocol version.
    pub fn protocol_version(&self) -> String {
        lock(&self.protocol_version).clone()
    }

    /// `notifications/initialized` arrived.
    pub fn mark_initialized(&self) {
        self.initialized.store(true, Ordering::Release);
    }

    /// True after `notifications/initialized`.
    pub fn is_initialized(&self) -> bool {
        self.initialized.load(Ordering::Acquire)
    }

    /// True while a stream to the client is open (stdio, or an HTTP GET stream).
    pub fn has_open_stream(&self) -> bool {
        lock(&self.general).as_ref().is_some_and(|g| !g.is_closed())
    }

    /// Replaces where unrelated messages go (a new HTTP GET stream).
    pub fn set_general(&self, outlet: Option<Outlet>) {
        *lock(&self.general) = outlet;
    }

    /// Sends a message to the client: on `related` when given and open, else the general outlet.
    /// Returns false when there was nowhere to send it.
    pub fn send(&self, msg: Message, related: Option<&Outlet>) -> bool {
        let msg = match related {
            Some(r) => match r.send(msg) {
                Ok(()) => return true,
                Err(m) => m,
            },
            None => msg,
        };
        match lock(&self.general).as_ref() {
            Some(g) => g.send(msg).is_ok(),
            None => false,
        }
    }

    /// Sends a request to the client and waits for its answer.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Box<RawValue>>,
        related: Option<&Outlet>,
        timeout: Duration,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let id =
            Id::String(format!("tether-{}", self.next_id.fetch_add(1, Ordering::Relaxed)).into());
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id.clone(), tx);
        let msg = Message::Request(Request {
            id: id.clone(),
            method: method.to_owned(),
            params,
        });
        if !self.send(msg, related) {
            lock(&self.pending).remove(&id);
            return Err(ErrorObject::new(
                code::INTERNAL_ERROR,
                format!("the client has no open stream to receive {method}"),
            ));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(ErrorObject::new(
                code::INTERNAL_ERROR,
                "the client went away",
            )),
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(ErrorObject::new(
                    code::INTERNAL_ERROR,
                    format!(
                        "the client did not answer {method} within {}s",
                        timeout.as_secs()
                    ),
                ))
            }
        }
    }

    /// Delivers the client's answer to a request the gateway sent; false if nobody waits.
    pub fn complete(&self, response: Response) -> bool {
        let Some(id) = response.id else { return false };
        match lock(&self.pending).remove(&id) {
            Some(tx) => tx.send(response.outcome).is_ok(),
            None => false,
        }
    }

    /// Registers a request about to run; `notifications/cancelled` for its id fires the token.
    pub fn track(&self, id: Id) -> CancellationToken {
        let token = CancellationToken::new();
        lock(&self.in_flight).insert(id, token.clone());
        token
    }

    /// Forgets a finished request.
    pub fn untrack(&self, id: &Id) {
        lock(&self.in_flight).remove(id);
    }

    /// Stops a running request (the upstream gets `notifications/cancelled`). True if it ran.
    pub fn cancel(&self, id: &Id) -> bool {
        match lock(&self.in_flight).remove(id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Ends everything in flight (the client left).
    pub fn close(&self) {
        for (_, token) in lock(&self.in_flight).drain() {
            token.cancel();
        }
        lock(&self.pending).clear();
        *lock(&self.general) = None;
    }
}

/// The registry of connected clients, and which of them is calling which upstream right now
/// (server→client requests from an upstream go to the client that caused them).
#[derive(Debug, Default)]
pub struct Registry {
    clients: Mutex<FastMap<u64, Arc<Downstream>>>,
    /// Per upstream server, the clients calling it now (latest last), with their answer streams.
    active: Mutex<FastMap<Arc<str>, Vec<Caller>>>,
}

/// A client with a call in flight, and the stream its answer goes out on (HTTP SSE).
type Caller = (u64, Option<Outlet>);

impl Registry {
    /// Adds a client.
    pub fn add(&self, ds: Arc<Downstream>) {
        lock(&self.clients).insert(ds.id, ds);
    }

    /// Removes a client.
    pub fn remove(&self, id: u64) -> Option<Arc<Downstream>> {
        lock(&self.clients).remove(&id)
    }

    /// A client by id.
    pub fn get(&self, id: u64) -> Option<Arc<Downstream>> {
        lock(&self.clients).get(&id).cloned()
    }

    /// Every client, in id order.
    pub fn all(&self) -> Vec<Arc<Downstream>> {
        let mut v: Vec<_> = lock(&self.clients).values().cloned().collect();
        v.sort_by_key(|d| d.id);
        v
    }

    /// How many clients are connected.
    pub fn len(&self) -> usize {
        lock(&self.clients).len()
    }

    /// True when no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Notes that `client` is calling `server`; the guard undoes it.
    pub fn begin_call(
        self: &Arc<Self>,
        server: &Arc<str>,
        client: u64,
        related: Option<Outlet>,
    ) -> CallGuard {
        lock(&self.active)
            .entry(server.clone())
            .or_default()
            .push((client, related));
        CallGuard {
            registry: self.clone(),
            server: server.clone(),
            client,
        }
    }

    /// The client to ask on behalf of `server` for `method`: the latest caller of that server
    /// that can answer, else any client that can.
    pub fn pick(&self, server: &str, method: &str) -> Option<(Arc<Downstream>, Option<Outlet>)> {
        let callers: Vec<Caller> = lock(&self.active)
            .get(server)
            .map(|v| v.iter().rev().cloned().collect())
            .unwrap_or_default();
        for (id, related) in callers {
            if let Some(ds) = self.get(id)
                && ds.caps().supports(method)
            {
                return Some((ds, related));
            }
        }
        self.all()
            .into_iter()
            .rev()
            .find(|ds| ds.caps().supports(method))
            .map(|ds| (ds, None))
    }
}

/// Removes one active-call entry when the call ends.
#[derive(Debug)]
pub struct CallGuard {
    registry: Arc<Registry>,
    server: Arc<str>,
    client: u64,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        let mut active = lock(&self.registry.active);
        if let Some(v) = active.get_mut(&self.server) {
            if let Some(pos) = v.iter().rposition(|(c, _)| *c == self.client) {
                v.remove(pos);
            }
            if v.is_empty() {
                active.remove(&self.server);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_to_the_client_are_answered_by_id() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ds = Arc::new(Downstream::new(1, Some(Outlet::Stream(tx))));
        let d2 = ds.clone();
        let answer = tokio::spawn(async move {
            d2.request("roots/list", None, None, Duration::from_secs(5))
                .await
        });
        let Some(Message::Request(req)) = rx.recv().await else {
            panic!("no request")
        };
        assert!(ds.complete(Response {
            id: Some(req.id),
            outcome: Ok(tether_proto::jsonrpc::empty_object()),
        }));
        assert_eq!(answer.await.unwrap().unwrap().get(), "{}");
    }

    #[test]
    fn the_latest_capable_caller_is_picked() {
        let reg = Arc::new(Registry::default());
        let a = Arc::new(Downstream::new(1, None));
        let b = Arc::new(Downstream::new(2, None));
        b.set_initialize(
            ClientCaps {
                sampling: true,
                ..Default::default()
            },
            "2025-11-25",
        );
        reg.add(a.clone());
        reg.add(b.clone());
        let _g1 = reg.begin_call(&Arc::from("s"), 1, None);
        assert_eq!(
            reg.pick("s", "sampling/createMessage").map(|(d, _)| d.id),
            Some(2)
        );
        assert!(reg.pick("s", "elicitation/create").is_none());
        drop(_g1);
        assert!(reg.active.lock().unwrap().is_empty());
    }
}
