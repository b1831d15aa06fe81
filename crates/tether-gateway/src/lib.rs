//! `tether serve`: many MCP servers behind one endpoint that stays up when they do not.
//!
//! ```text
//!  client ─► front (stdio | HTTP) ─► router ─► manager ─► upstream sessions (stdio/HTTP/SSE)
//!               ▲                      │          │
//!               └── notifications ◄── catalog ◄──┘ events (state, tools, stderr, logs)
//! ```
//!
//! The manager keeps every upstream healthy (CONTRACT §2/§3); the catalog merges their tools
//! under `<server>__<tool>` names and is rebuilt whenever one changes, failing or recovering,
//! which clients learn through a debounced `list_changed`.

pub mod busy_poll;
pub mod catalog;
pub mod downstream;
pub mod front;
pub mod metrics;
pub mod repair;
pub mod router;
pub mod status;
pub mod upstream;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tether_client::manager::EventKind;
use tether_client::policy::Policy;
use tether_client::session::SessionOptions;
use tether_client::spec::{Redact, ServerSpec};
use tether_client::{Manager, ManagerOptions};
use tether_config::ToolFilter;
use tether_proto::Message;
use tether_proto::mcp::method;
use tokio::sync::watch;

use crate::catalog::{Catalog, Naming};
use crate::downstream::{Downstream, Outlet, Registry};
use crate::metrics::Metrics;
use crate::repair::RepairCounters;

/// Lines of each upstream's stderr kept for the status page.
const STDERR_KEEP: usize = 20;

/// How the gateway behaves.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Exposed names: prefixed, or the upstream's own (one upstream).
    pub naming: Naming,
    /// How long a list request made during startup waits for servers still connecting.
    pub list_wait: Duration,
    /// Debounce of `list_changed` notifications to clients.
    pub list_changed_debounce: Duration,
    /// Log every forwarded call (target `tether::request`, level info).
    pub request_log: bool,
    /// The manager's retry and reconnect policy.
    pub policy: Policy,
    /// How long to keep polling for input after each request and answer before sleeping
    /// (zero: never); see [`busy_poll`].
    pub busy_poll: Duration,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            naming: Naming::Prefixed,
            list_wait: Duration::from_secs(5),
            list_changed_debounce: Duration::from_millis(300),
            request_log: true,
            policy: Policy::default(),
            busy_poll: busy_poll::DEFAULT_WINDOW,
        }
    }
}

/// One upstream as the gateway runs it.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// How to run it.
    pub spec: ServerSpec,
    /// Which of its tools are exposed.
    pub filter: ToolFilter,
    /// A fingerprint of its configuration, to tell on reload whether it changed.
    pub fingerprint: String,
}

pub(crate) struct Inner {
    pub(crate) manager: Manager,
    pub(crate) registry: Arc<Registry>,
    catalog: RwLock<Arc<Catalog>>,
    filters: RwLock<HashMap<String, ToolFilter>>,
    fingerprints: Mutex<HashMap<String, String>>,
    redactors: RwLock<HashMap<String, Redact>>,
    pub(crate) metrics: Metrics,
    pub(crate) repairs: RepairCounters,
    pub(crate) opts: GatewayOptions,
    pub(crate) busy_poll: busy_poll::BusyPoll,
    started: Instant,
    startup_done: watch::Sender<bool>,
    stderr: Mutex<HashMap<String, VecDeque<String>>>,
    next_client: AtomicU64,
    shutting_down: AtomicBool,
}

/// A running gateway. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("servers", &self.inner.manager.names())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

impl Gateway {
    /// Starts the manager for `upstreams` and the background work that keeps the catalog and
    /// the clients up to date. Upstreams connect in the background: fronts can answer at once.
    pub fn start(upstreams: Vec<Upstream>, opts: GatewayOptions) -> Gateway {
        let registry = Arc::new(Registry::default());
        let mut session = SessionOptions::new("");
        session.handler = Arc::new(upstream::UpstreamHandler::new(registry.clone()));
        let filters = upstreams
            .iter()
            .map(|u| (u.spec.name.clone(), u.filter.clone()))
            .collect();
        let fingerprints = upstreams
            .iter()
            .map(|u| (u.spec.name.clone(), u.fingerprint.clone()))
            .collect();
        let redactors = upstreams
            .iter()
            .map(|u| (u.spec.name.clone(), u.spec.redact.clone()))
            .collect();
        let specs = upstreams.into_iter().map(|u| u.spec).collect();
        let (manager, events) = Manager::start_observed(
            specs,
            ManagerOptions {
                policy: opts.policy.clone(),
                session,
                one_shot: false,
                ..ManagerOptions::default()
            },
        );
        let gw = Gateway {
            inner: Arc::new(Inner {
                manager,
                registry,
                catalog: RwLock::new(Arc::new(Catalog::default())),
                filters: RwLock::new(filters),
                fingerprints: Mutex::new(fingerprints),
                redactors: RwLock::new(redactors),
                metrics: Metrics::default(),
                repairs: RepairCounters::default(),
                busy_poll: busy_poll::BusyPoll::start(opts.busy_poll),
                opts,
                started: Instant::now(),
                startup_done: watch::channel(false).0,
                stderr: Mutex::new(HashMap::new()),
                next_client: AtomicU64::new(1),
                shutting_down: AtomicBool::new(false),
            }),
        };
        gw.rebuild_catalog();
        tokio::spawn(maintain(Arc::downgrade(&gw.inner), events));
        let weak = Arc::downgrade(&gw.inner);
        tokio::spawn(async move {
            let Some(inner) = weak.upgrade() else { return };
            let settled = async { inner.manager.settled().await };
            let _ = tokio::time::timeout(inner.opts.list_wait, settled).await;
            let gw = Gateway { inner };
            gw.rebuild_catalog();
            gw.inner.startup_done.send_replace(true);
        });
        gw
    }

    /// The manager of the upstreams.
    pub fn manager(&self) -> &Manager {
        &self.inner.manager
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        read(&self.inner.catalog).clone()
    }

    /// Repairs made so far, by kind.
    pub fn repairs(&self) -> Vec<(&'static str, u64)> {
        repair::Repair::ALL
            .iter()
            .map(|r| (r.label(), self.inner.repairs.get(*r)))
            .collect()
    }

    /// Rebuilds the catalog from the manager's statuses; true when a list changed.
    pub fn rebuild_catalog(&self) -> (bool, bool, bool) {
        let statuses = self.inner.manager.statuses();
        let new = Catalog::build(
            &statuses,
            &read(&self.inner.filters),
            self.inner.opts.naming,
        );
        let mut slot = write(&self.inner.catalog);
        let changed = (
            new.tools_fingerprint != slot.tools_fingerprint,
            new.prompts_fingerprint != slot.prompts_fingerprint,
            new.resources_fingerprint != slot.resources_fingerprint,
        );
        *slot = Arc::new(new);
        changed
    }

    pub(crate) fn startup_done(&self) -> bool {
        *self.inner.startup_done.borrow()
    }

    /// During startup, waits (bounded by `list_wait`) until every upstream has settled.
    pub(crate) async fn wait_for_startup(&self) {
        if self.startup_done() {
            return;
        }
        let mut rx = self.inner.startup_done.subscribe();
        let left = self
            .inner
            .opts
            .list_wait
            .saturating_sub(self.inner.started.elapsed());
        let _ = tokio::time::timeout(left, rx.wait_for(|done| *done)).await;
    }

    /// The redaction function of one upstream.
    pub(crate) fn redact(&self, server: &str) -> Redact {
        read(&self.inner.redactors)
            .get(server)
            .cloned()
            .unwrap_or_else(|| Arc::new(|s: &str| s.to_owned()))
    }

    /// Registers a new client whose unrelated messages go to `general`.
    pub fn connect_client(&self, general: Option<Outlet>) -> Arc<Downstream> {
        let id = self.inner.next_client.fetch_add(1, Ordering::Relaxed);
        let ds = Arc::new(Downstream::new(id, general));
        self.inner.registry.add(ds.clone());
        ds
    }

    /// A client by id.
    pub fn client(&self, id: u64) -> Option<Arc<Downstream>> {
        self.inner.registry.get(id)
    }

    /// Ends a client's session.
    pub fn disconnect_client(&self, id: u64) {
        if let Some(ds) = self.inner.registry.remove(id) {
            ds.close();
        }
    }

    /// Connected clients.
    pub fn client_count(&self) -> usize {
        self.inner.registry.len()
    }

    /// The last stderr lines of one upstream.
    pub fn stderr_tail(&self, server: &str) -> Vec<String> {
        lock(&self.inner.stderr)
            .get(server)
            .map(|v| v.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Time since start.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Applies a new configuration: adds, removes and restarts only what changed.
    pub async fn reload(&self, upstreams: Vec<Upstream>) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let old: HashMap<String, String> = lock(&self.inner.fingerprints).clone();
        let new_names: Vec<String> = upstreams.iter().map(|u| u.spec.name.clone()).collect();
        for name in old.keys() {
            if !new_names.contains(name) {
                let _ = self.inner.manager.remove(name).await;
                summary.removed.push(name.clone());
            }
        }
        for u in upstreams {
            let name = u.spec.name.clone();
            write(&self.inner.filters).insert(name.clone(), u.filter.clone());
            write(&self.inner.redactors).insert(name.clone(), u.spec.redact.clone());
            match old.get(&name) {
                Some(fp) if *fp == u.fingerprint => continue,
                Some(_) => {
                    let _ = self.inner.manager.remove(&name).await;
                    summary.restarted.push(name.clone());
                }
                None => summary.added.push(name.clone()),
            }
            lock(&self.inner.fingerprints).insert(name, u.fingerprint.clone());
            let _ = self.inner.manager.add(u.spec);
        }
        lock(&self.inner.fingerprints).retain(|k, _| new_names.contains(k));
        let changed = self.rebuild_catalog();
        self.announce(changed);
        summary
    }

    /// Stops every upstream and forgets every client.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        for ds in self.inner.registry.all() {
            self.disconnect_client(ds.id);
        }
        self.inner.manager.shutdown().await;
    }

    /// Sends `list_changed` notifications for the lists that changed.
    fn announce(&self, (tools, prompts, resources): (bool, bool, bool)) {
        let methods = [
            (tools, method::TOOLS_LIST_CHANGED),
            (prompts, method::PROMPTS_LIST_CHANGED),
            (resources, method::RESOURCES_LIST_CHANGED),
        ];
        for (changed, m) in methods {
            if changed {
                self.broadcast(Message::notification::<()>(m, None));
            }
        }
    }

    /// Sends a message to every initialized client's general outlet.
    fn broadcast(&self, msg: Message) {
        for ds in self.inner.registry.all() {
            if ds.is_initialized() {
                ds.send(msg.clone(), None);
            }
        }
    }
}

/// What a reload did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadSummary {
    /// New servers.
    pub added: Vec<String>,
    /// Servers no longer configured.
    pub removed: Vec<String>,
    /// Servers whose configuration changed.
    pub restarted: Vec<String>,
}

/// Keeps the catalog current and tells clients: rebuilds after catalog-relevant events
/// (coalesced: a burst of events, say a hundred servers starting, costs one rebuild), debounces
/// `list_changed`, forwards upstream notifications, keeps stderr tails.
async fn maintain(
    weak: std::sync::Weak<Inner>,
    mut events: tokio::sync::broadcast::Receiver<tether_client::ManagerEvent>,
) {
    const COALESCE: Duration = Duration::from_millis(20);
    let mut rebuild_at: Option<tokio::time::Instant> = None;
    let mut pending: Option<(tokio::time::Instant, (bool, bool, bool))> = None;
    loop {
        enum Wake {
            Event(Result<tether_client::ManagerEvent, tokio::sync::broadcast::error::RecvError>),
            Rebuild,
            Announce,
        }
        let wake = tokio::select! {
            ev = events.recv() => Wake::Event(ev),
            _ = sleep_opt(rebuild_at) => Wake::Rebuild,
            _ = sleep_opt(pending.map(|(at, _)| at)) => Wake::Announce,
        };
        let Some(inner) = weak.upgrade() else { return };
        let gw = Gateway { inner };
        let mut schedule = || {
            rebuild_at.get_or_insert_with(|| tokio::time::Instant::now() + COALESCE);
        };
        match wake {
            Wake::Rebuild => {
                rebuild_at = None;
                let changed = gw.rebuild_catalog();
                pending = merge(pending, changed, gw.inner.opts.list_changed_debounce);
            }
            Wake::Announce => {
                if let Some((_, changed)) = pending.take() {
                    gw.announce(changed);
                }
            }
            Wake::Event(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return,
            Wake::Event(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => schedule(),
            Wake::Event(Ok(ev)) => match ev.kind {
                EventKind::CatalogChanged | EventKind::State { .. } => schedule(),
                EventKind::Stderr(line) => {
                    let mut map = lock(&gw.inner.stderr);
                    let tail = map.entry(ev.server.to_string()).or_default();
                    tail.push_back(line);
                    while tail.len() > STDERR_KEEP {
                        tail.pop_front();
                    }
                }
                EventKind::Notification(n) => {
                    if n.method != method::PROGRESS {
                        gw.broadcast(Message::Notification(n));
                    }
                }
                EventKind::Step(_) => {}
            },
        }
    }
}

/// Adds changes to a pending announcement, starting the debounce when there was none.
fn merge(
    pending: Option<(tokio::time::Instant, (bool, bool, bool))>,
    changed: (bool, bool, bool),
    debounce: Duration,
) -> Option<(tokio::time::Instant, (bool, bool, bool))> {
    if !(changed.0 || changed.1 || changed.2) {
        return pending;
    }
    match pending {
        Some((at, c)) => Some((at, (c.0 || changed.0, c.1 || changed.1, c.2 || changed.2))),
        None => Some((tokio::time::Instant::now() + debounce, changed)),
    }
}

async fn sleep_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
