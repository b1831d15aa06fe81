//! Many servers at once: one supervisor task and one state machine per server (CONTRACT §2),
//! driven by the policy (CONTRACT §3), with every transition published as an event.
//!
//! Each supervisor owns its server's session. Everything else sees the server through a
//! `watch` of its [`ServerStatus`] and talks to the supervisor with commands, so no lock is ever
//! held across an await and one server's trouble never touches another's.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;
use serde_json::value::RawValue;
use tether_proto::mcp::{Prompt, Resource, ResourceTemplate, Tool, method};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{Error, ErrorClass, Timer, fmt_duration};
use crate::policy::{Decision, Phase, Policy};
use crate::session::{ListKind, RequestOptions, Session, SessionEvent, SessionOptions};
use crate::spec::{Restart, ServerSpec};
use crate::status::{ErrorSummary, ServerStatus, State};
use crate::sync::{lock, read, write};
use crate::transport::Target;

/// How the manager runs.
#[derive(Clone, Debug)]
pub struct ManagerOptions {
    /// The retry and reconnect policy.
    pub policy: Policy,
    /// Session template (client info, handler); the name is set per server.
    pub session: SessionOptions,
    /// Health-check mode (`list`, `get`): connect once with the initial-connect policy, no
    /// liveness pings, no reconnects, no background probes.
    pub one_shot: bool,
    /// Stdio servers starting at the same time.
    pub stdio_concurrency: usize,
    /// Remote servers connecting at the same time.
    pub remote_concurrency: usize,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            policy: Policy::default(),
            session: SessionOptions::new(""),
            one_shot: false,
            stdio_concurrency: 4,
            remote_concurrency: 20,
        }
    }
}

/// Something that happened to one server.
#[derive(Debug, Clone)]
pub struct ManagerEvent {
    /// The server.
    pub server: Arc<str>,
    /// Time since the manager started.
    pub at: Duration,
    /// What happened.
    pub kind: EventKind,
}

/// Kinds of manager events.
#[derive(Debug, Clone)]
pub enum EventKind {
    /// The state changed (JSON state name and the status text).
    State {
        /// `connected`, `pending`, ...
        state: &'static str,
        /// The `tether list` status text.
        text: String,
    },
    /// A lifecycle step, for `--debug`.
    Step(String),
    /// A line of the server's stderr.
    Stderr(String),
    /// The server's tools, prompts or resources (or their availability) changed.
    CatalogChanged,
    /// A notification from the server that is not about its lists (logging, resource updates).
    Notification(tether_proto::Notification),
}

/// Per-call options.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Overrides the tool wall clock.
    pub timeout: Option<Duration>,
    /// Wait this long for a connecting or reconnecting server before failing (at most the
    /// call's timeout; `Duration::MAX` means exactly that).
    pub wait_ready: Option<Duration>,
    /// Receives progress notifications.
    pub progress: Option<mpsc::UnboundedSender<tether_proto::mcp::ProgressParams>>,
    /// Filled with the id the call went out under upstream (for request logs).
    pub sent_id: Option<Arc<std::sync::OnceLock<tether_proto::Id>>>,
}

enum Command {
    Reconnect,
    Enable,
    Disable,
    /// A call timed out: ping now to tell a slow call from a dead server.
    CheckLiveness,
    Shutdown(oneshot::Sender<()>),
}

struct Handle {
    name: Arc<str>,
    status: watch::Receiver<ServerStatus>,
    commands: mpsc::UnboundedSender<Command>,
    session: Arc<Mutex<Option<Session>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// What every supervisor is started with.
struct Context {
    opts: ManagerOptions,
    stdio_permits: Arc<Semaphore>,
    remote_permits: Arc<Semaphore>,
    started: Instant,
}

/// Owns every configured server.
pub struct Manager {
    servers: RwLock<Vec<Arc<Handle>>>,
    events: broadcast::Sender<ManagerEvent>,
    ctx: Context,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("servers", &self.names())
            .finish_non_exhaustive()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        // Supervisors own the sessions; ending them ends the processes (no orphans).
        for h in read(&self.servers).iter() {
            if let Some(t) = lock(&h.task).take() {
                t.abort();
            }
        }
    }
}

impl Manager {
    /// Starts a supervisor per server; they connect concurrently (bounded).
    pub fn start(specs: Vec<ServerSpec>, opts: ManagerOptions) -> Manager {
        Self::start_observed(specs, opts).0
    }

    /// Like [`start`](Self::start), with an event receiver subscribed before anything runs, so
    /// no transition is missed.
    pub fn start_observed(
        specs: Vec<ServerSpec>,
        opts: ManagerOptions,
    ) -> (Manager, broadcast::Receiver<ManagerEvent>) {
        let (events, first_rx) = broadcast::channel(1024);
        let ctx = Context {
            stdio_permits: Arc::new(Semaphore::new(opts.stdio_concurrency.max(1))),
            remote_permits: Arc::new(Semaphore::new(opts.remote_concurrency.max(1))),
            started: Instant::now(),
            opts,
        };
        let manager = Manager {
            servers: RwLock::new(Vec::with_capacity(specs.len())),
            events,
            ctx,
        };
        for spec in specs {
            let handle = manager.spawn(spec);
            write(&manager.servers).push(handle);
        }
        (manager, first_rx)
    }

    fn spawn(&self, spec: ServerSpec) -> Arc<Handle> {
        let opts = &self.ctx.opts;
        let name: Arc<str> = Arc::from(spec.name.as_str());
        let status = ServerStatus::new(
            &spec.name,
            &spec.source,
            spec.transport,
            &spec.target_display,
            spec.timeouts,
        );
        let (status_tx, status_rx) = watch::channel(status);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let slot = Arc::new(Mutex::new(None));
        let mut session_opts = opts.session.clone();
        session_opts.name = spec.name.clone();
        session_opts.connect_timeout = spec.timeouts.connect;
        session_opts.shutdown_grace = spec.timeouts.shutdown_grace;
        let permits = if spec.is_local() {
            self.ctx.stdio_permits.clone()
        } else {
            self.ctx.remote_permits.clone()
        };
        let sup = Supervisor {
            name: name.clone(),
            spec,
            policy: opts.policy.clone(),
            session_opts,
            status: status_tx,
            slot: slot.clone(),
            commands: cmd_rx,
            events: self.events.clone(),
            started: self.ctx.started,
            one_shot: opts.one_shot,
            permits,
            active: 0,
            crashes: VecDeque::new(),
            ready_at: None,
        };
        let task = tokio::spawn(sup.run());
        Arc::new(Handle {
            name,
            status: status_rx,
            commands: cmd_tx,
            session: slot,
            task: Mutex::new(Some(task)),
        })
    }

    /// Adds a server (config reload); an existing name is an error.
    pub fn add(&self, spec: ServerSpec) -> Result<(), Error> {
        if self.handle(&spec.name).is_ok() {
            return Err(Error::Config(format!(
                "server `{}` already exists",
                spec.name
            )));
        }
        let handle = self.spawn(spec);
        write(&self.servers).push(handle);
        Ok(())
    }

    /// Stops and removes a server (config reload).
    pub async fn remove(&self, name: &str) -> Result<(), Error> {
        let handle = self.handle(name)?;
        stop(&handle).await;
        write(&self.servers).retain(|h| &*h.name != name);
        let _ = self.events.send(ManagerEvent {
            server: handle.name.clone(),
            at: self.ctx.started.elapsed(),
            kind: EventKind::CatalogChanged,
        });
        Ok(())
    }

    /// The configured names, in order.
    pub fn names(&self) -> Vec<String> {
        read(&self.servers)
            .iter()
            .map(|h| h.name.to_string())
            .collect()
    }

    fn handle(&self, name: &str) -> Result<Arc<Handle>, Error> {
        read(&self.servers)
            .iter()
            .find(|h| &*h.name == name)
            .cloned()
            .ok_or_else(|| Error::UnknownServer {
                name: name.to_owned(),
                suggestion: None,
            })
    }

    /// Every server's current status, in configuration order.
    pub fn statuses(&self) -> Vec<ServerStatus> {
        read(&self.servers)
            .iter()
            .map(|h| h.status.borrow().clone())
            .collect()
    }

    /// One server's status.
    pub fn status(&self, name: &str) -> Option<ServerStatus> {
        self.handle(name).ok().map(|h| h.status.borrow().clone())
    }

    /// The timers in effect for one server.
    pub fn timeouts(&self, name: &str) -> Option<crate::timeouts::Timeouts> {
        self.handle(name).ok().map(|h| h.status.borrow().timeouts)
    }

    /// A live view of one server's status.
    pub fn watch(&self, name: &str) -> Option<watch::Receiver<ServerStatus>> {
        self.handle(name).ok().map(|h| h.status.clone())
    }

    /// Subscribes to events of every server.
    pub fn subscribe(&self) -> broadcast::Receiver<ManagerEvent> {
        self.events.subscribe()
    }

    /// Resolves once every server has reached a settled state at least once.
    pub async fn settled(&self) {
        let watches: Vec<_> = read(&self.servers)
            .iter()
            .map(|h| h.status.clone())
            .collect();
        for mut rx in watches {
            let _ = rx.wait_for(|s| s.state.is_settled()).await;
        }
    }

    /// The live session of a usable server.
    pub fn session(&self, name: &str) -> Option<Session> {
        let h = self.handle(name).ok()?;
        if !h.status.borrow().state.is_usable() {
            return None;
        }
        lock(&h.session).clone()
    }

    /// A session to send requests on, waiting up to `wait` for a server that is connecting.
    pub async fn ready_session(
        &self,
        name: &str,
        wait: Option<Duration>,
    ) -> Result<Session, Error> {
        let h = self.handle(name)?;
        ready(&h, wait).await
    }

    /// Calls a tool on a server. A timed-out call never marks the server failed: it triggers a
    /// liveness ping, and only a failed ping counts as a lost connection.
    pub async fn call_tool(
        &self,
        server: &str,
        tool: &str,
        arguments: Option<Value>,
        call: CallOptions,
    ) -> Result<Box<RawValue>, Error> {
        let raw = arguments.map(|a| tether_proto::jsonrpc::to_raw(&a));
        self.call_tool_raw(server, tool, raw.as_deref(), None, call)
            .await
    }

    /// Calls a tool with raw arguments and `_meta`, forwarded untouched.
    pub async fn call_tool_raw(
        &self,
        server: &str,
        tool: &str,
        arguments: Option<&RawValue>,
        meta: Option<&RawValue>,
        call: CallOptions,
    ) -> Result<Box<RawValue>, Error> {
        let h = self.handle(server)?;
        let timeouts = h.status.borrow().timeouts;
        // Waiting for a connecting server never outlasts the call's own timeout.
        let wait = call.wait_ready.map(|w| w.min(timeouts.tool_wall));
        let session = ready(&h, wait).await?;
        let opts = RequestOptions {
            timeout: Some(call.timeout.unwrap_or(timeouts.tool_wall)),
            deadline: None,
            timer: Timer::WallClock,
            idle: Some(timeouts.tool_idle),
            progress: call.progress,
            sent_id: call.sent_id,
        };
        let result = session.call_tool_raw(tool, arguments, meta, opts).await;
        if let Err(Error::Timeout { .. }) = &result {
            let _ = h.commands.send(Command::CheckLiveness);
        }
        result
    }

    /// Sends any request other than `tools/call` with the request timer. These are idempotent,
    /// so one lost to a dropped connection is sent again once the server is back.
    pub async fn request(
        &self,
        server: &str,
        method: &str,
        params: Option<Box<RawValue>>,
        wait_ready: Option<Duration>,
    ) -> Result<Box<RawValue>, Error> {
        let h = self.handle(server)?;
        let timeouts = h.status.borrow().timeouts;
        let session = ready(&h, wait_ready).await?;
        let first = session
            .request(
                method,
                params.clone(),
                RequestOptions::timeout(timeouts.request),
            )
            .await;
        let replayable =
            method != method::TOOLS_CALL && matches!(first, Err(Error::ConnectionLost { .. }));
        if !replayable {
            return first;
        }
        // Wait for the supervisor to notice the loss and reconnect, then try once more.
        let mut rx = h.status.clone();
        let _ = tokio::time::timeout(timeouts.connect, rx.wait_for(|s| !s.state.is_usable())).await;
        let session = ready(&h, Some(timeouts.connect)).await?;
        session
            .request(method, params, RequestOptions::timeout(timeouts.request))
            .await
    }

    /// Reconnects a server now (also wakes a failed or needs-auth one).
    pub fn reconnect(&self, name: &str) -> Result<(), Error> {
        let _ = self.handle(name)?.commands.send(Command::Reconnect);
        Ok(())
    }

    /// Enables or disables a server.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), Error> {
        let cmd = if enabled {
            Command::Enable
        } else {
            Command::Disable
        };
        let _ = self.handle(name)?.commands.send(cmd);
        Ok(())
    }

    /// Shuts every server down gracefully, concurrently, and waits for them.
    pub async fn shutdown(&self) {
        let handles: Vec<Arc<Handle>> = read(&self.servers).clone();
        futures_util::future::join_all(handles.iter().map(|h| stop(h))).await;
    }
}

/// Asks a supervisor to stop and waits until it has.
async fn stop(h: &Handle) {
    let (tx, rx) = oneshot::channel();
    if h.commands.send(Command::Shutdown(tx)).is_ok() {
        let _ = rx.await;
    }
    let task = lock(&h.task).take();
    if let Some(t) = task {
        let _ = t.await;
    }
}

/// The session of a usable server, waiting up to `wait` while it connects.
async fn ready(h: &Handle, wait: Option<Duration>) -> Result<Session, Error> {
    let mut rx = h.status.clone();
    let pending = !rx.borrow().state.is_settled();
    if pending && let Some(wait) = wait {
        let _ = tokio::time::timeout(wait, rx.wait_for(|s| s.state.is_settled())).await;
    }
    // The hot path: look, do not copy the status (it holds the tool list).
    if rx.borrow().state.is_usable()
        && let Some(s) = lock(&h.session).clone()
    {
        return Ok(s);
    }
    Err(unavailable(&rx.borrow()))
}

fn unavailable(status: &ServerStatus) -> Error {
    let (reason, class) = match status.error() {
        Some(e) => (e.message.clone(), e.class),
        None => match &status.state {
            State::Disabled => (
                "disabled in the configuration".to_owned(),
                ErrorClass::Config,
            ),
            State::Misconfigured { problem } => (problem.clone(), ErrorClass::Config),
            State::Connecting { .. } | State::Reconnecting { .. } => {
                ("still connecting".to_owned(), ErrorClass::Network)
            }
            _ => ("not connected".to_owned(), ErrorClass::Network),
        },
    };
    Error::Unavailable {
        server: status.name.clone(),
        state: status.state.name().to_owned(),
        reason,
        class,
    }
}

/// How a connect cycle ended.
enum Cycle {
    Ready(Session),
    GaveUp(State),
    Interrupted(Interrupt),
}

/// A command that interrupted waiting or serving.
enum Interrupt {
    Reconnect,
    Disable,
    Shutdown(oneshot::Sender<()>),
}

/// How serving a connected session ended.
enum Served {
    Lost(Error),
    Interrupted(Interrupt),
}

struct Supervisor {
    name: Arc<str>,
    spec: ServerSpec,
    policy: Policy,
    session_opts: SessionOptions,
    status: watch::Sender<ServerStatus>,
    slot: Arc<Mutex<Option<Session>>>,
    commands: mpsc::UnboundedReceiver<Command>,
    events: broadcast::Sender<ManagerEvent>,
    started: Instant,
    one_shot: bool,
    permits: Arc<Semaphore>,
    /// Index of the target in use (0 = primary).
    active: usize,
    /// Exits shortly after becoming ready, for crash-loop detection.
    crashes: VecDeque<Instant>,
    ready_at: Option<Instant>,
}

impl Supervisor {
    fn emit(&self, kind: EventKind) {
        let _ = self.events.send(ManagerEvent {
            server: self.name.clone(),
            at: self.started.elapsed(),
            kind,
        });
    }

    fn step(&self, text: impl Into<String>) {
        let text = (self.spec.redact)(&text.into());
        tracing::debug!(server = %self.name, "{text}");
        self.emit(EventKind::Step(text));
    }

    fn summary(&self, e: &Error) -> ErrorSummary {
        ErrorSummary::of(e, &*self.spec.redact)
    }

    /// Applies `f` to the status and publishes it; announces state changes.
    fn update(&self, f: impl FnOnce(&mut ServerStatus)) {
        let mut before = "";
        let mut changed = false;
        self.status.send_modify(|s| {
            before = s.state.name();
            let old_state = s.state.clone();
            f(s);
            changed = s.state != old_state;
        });
        if changed {
            let s = self.status.borrow();
            let text = s.status_text(crate::status::Glyphs::Unicode);
            let state = s.state.name();
            drop(s);
            self.emit(EventKind::State { state, text });
            if before != state {
                self.emit(EventKind::CatalogChanged);
            }
        }
    }

    fn set_state(&self, state: State) {
        self.update(|s| s.state = state);
    }

    async fn run(mut self) {
        if let Some(problem) = self.spec.misconfigured.clone() {
            self.set_state(State::Misconfigured { problem });
            self.idle_until_shutdown().await;
            return;
        }
        if self.spec.disabled {
            self.set_state(State::Disabled);
            if !self.wait_enabled().await {
                return;
            }
        }
        let mut phase = Phase::Initial;
        loop {
            let interrupt = match self.connect_cycle(phase).await {
                Cycle::Ready(session) => match self.serve(session).await {
                    Served::Lost(error) => match self.after_loss(error) {
                        None => {
                            phase = Phase::MidSession;
                            continue;
                        }
                        Some(failed) => self.wait_failed(failed).await,
                    },
                    Served::Interrupted(i) => Some(i),
                },
                Cycle::GaveUp(state) => self.wait_failed(state).await,
                Cycle::Interrupted(i) => Some(i),
            };
            match interrupt {
                None | Some(Interrupt::Reconnect) => phase = Phase::Initial,
                Some(Interrupt::Disable) => {
                    self.set_state(State::Disabled);
                    if !self.wait_enabled().await {
                        return;
                    }
                    phase = Phase::Initial;
                }
                Some(Interrupt::Shutdown(ack)) => {
                    self.set_state(State::Stopped);
                    let _ = ack.send(());
                    return;
                }
            }
        }
    }

    /// Decides what a lost connection means: `Some(state)` to stop (failed), `None` to reconnect.
    fn after_loss(&mut self, error: Error) -> Option<State> {
        self.step(format!("connection lost: {error}"));
        let summary = self.summary(&error);
        self.update(|s| s.last_error = Some(summary.clone()));
        if self.one_shot {
            return Some(State::Failed { error: summary });
        }
        if self.spec.is_local() {
            if self.spec.restart == Restart::Never {
                return Some(State::Failed { error: summary });
            }
            if error.class() == ErrorClass::ProcessExited {
                let now = Instant::now();
                if self
                    .ready_at
                    .is_some_and(|r| now - r < self.policy.crash_loop_ready_within)
                {
                    self.crashes.push_back(now);
                }
                while self
                    .crashes
                    .front()
                    .is_some_and(|&t| now - t > self.policy.crash_loop_window)
                {
                    self.crashes.pop_front();
                }
                if self.crashes.len() >= self.policy.crash_loop_exits {
                    self.crashes.clear();
                    let mut looped = summary;
                    looped.message = format!(
                        "crash loop: exited {} times within {} of starting ({}); last: {}",
                        self.policy.crash_loop_exits,
                        fmt_duration(self.policy.crash_loop_ready_within),
                        fmt_duration(self.policy.crash_loop_window),
                        looped.message
                    );
                    looped.hint = Some(
                        "restarts paused; fix the server and run `tether` again or reconnect it"
                            .into(),
                    );
                    return Some(State::Failed { error: looped });
                }
            }
        }
        self.update(|s| s.restarts += 1);
        None
    }

    /// One connect cycle: attempts with the policy's delays, failing over across targets.
    async fn connect_cycle(&mut self, phase: Phase) -> Cycle {
        let mut phase = phase;
        let mut cycle_start = Instant::now();
        let mut attempt: u32 = 1;
        let max = self.policy.reconnect_attempts;
        if phase == Phase::MidSession {
            let delay = self.policy.first_reconnect_delay();
            self.set_state(State::Reconnecting {
                attempt: 1,
                max,
                next_in: Some(delay),
            });
            self.step(format!("reconnecting in {}", fmt_duration(delay)));
            if let Some(i) = self.sleep_interruptible(delay).await {
                return Cycle::Interrupted(i);
            }
        }
        loop {
            match phase {
                Phase::Initial => self.set_state(State::Connecting { attempt }),
                Phase::MidSession => self.set_state(State::Reconnecting {
                    attempt,
                    max,
                    next_in: None,
                }),
            }
            self.update(|s| s.attempts = attempt);
            let deadline = Instant::now() + self.spec.timeouts.connect;
            let error = match self.connect_once(deadline).await {
                Ok(session) => match self.finish_ready(session, cycle_start, attempt).await {
                    Ok(session) => return Cycle::Ready(session),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            let summary = self.summary(&error);
            self.update(|s| {
                s.last_error = Some(summary.clone());
                s.elapsed = cycle_start.elapsed();
            });
            if error.class() == ErrorClass::Unauthorized {
                self.step(format!(
                    "attempt {attempt} failed: {error}; not retrying (needs authentication)"
                ));
                return Cycle::GaveUp(State::NeedsAuth { error: summary });
            }
            let local_hang = self.spec.is_local()
                && phase == Phase::Initial
                && error.class() == ErrorClass::HandshakeTimeout;
            let decision = if local_hang {
                Decision::GiveUp
            } else {
                self.policy.decide(phase, attempt, &error)
            };
            match decision {
                Decision::Retry(delay) => {
                    self.step(format!(
                        "attempt {attempt} failed: {error}; retrying in {}",
                        fmt_duration(delay)
                    ));
                    let next = attempt + 1;
                    match phase {
                        Phase::Initial => self.set_state(State::Connecting { attempt: next }),
                        Phase::MidSession => self.set_state(State::Reconnecting {
                            attempt: next,
                            max,
                            next_in: Some(delay),
                        }),
                    }
                    if let Some(i) = self.sleep_interruptible(delay).await {
                        return Cycle::Interrupted(i);
                    }
                    attempt = next;
                }
                Decision::GiveUp if self.active + 1 < self.spec.targets.len() => {
                    let from = self.spec.target_labels[self.active].clone();
                    self.active += 1;
                    let to = self.spec.target_labels[self.active].clone();
                    let reason = format!("{from} failed: {}", summary.message);
                    self.step(format!("failing over to {to} ({reason})"));
                    self.update(|s| {
                        s.active_url = Some(to.clone());
                        s.url_reason = Some(reason.clone());
                    });
                    phase = Phase::Initial;
                    attempt = 1;
                    cycle_start = Instant::now();
                }
                Decision::GiveUp => {
                    self.step(format!("attempt {attempt} failed: {error}; giving up"));
                    if self.spec.targets.len() > 1 {
                        self.active = 0;
                        let primary = self.spec.target_labels[0].clone();
                        self.update(|s| {
                            s.active_url = Some(primary);
                            s.url_reason = Some("every URL failed".into());
                        });
                    }
                    return Cycle::GaveUp(State::Failed { error: summary });
                }
            }
        }
    }

    /// Opens a session to the active target within `deadline`.
    async fn connect_once(&mut self, deadline: Instant) -> Result<Session, Error> {
        let target = self.spec.targets[self.active].clone();
        let label = self.spec.target_labels[self.active].clone();
        // Bound how many servers start at once, but never hold a slot for long: a hung server
        // must not delay the others beyond its own budget.
        let permit = self.permits.clone().acquire_owned().await.ok();
        let (done_tx, done_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), done_rx).await;
            drop(permit);
        });
        match &target {
            Target::Stdio(_) => self.step(format!("spawning `{label}`")),
            _ => self.step(format!("connecting to {label}")),
        }
        let t0 = Instant::now();
        let result = Session::connect_until(&target, self.session_opts.clone(), deadline).await;
        let _ = done_tx.send(());
        match &result {
            Ok(s) => {
                let info = s.info().cloned();
                let (name, version) = info
                    .as_ref()
                    .map(|i| (i.server_info.name.clone(), i.server_info.version.clone()))
                    .unwrap_or_default();
                self.step(format!(
                    "initialized in {}: protocol {}, server {name} {version}",
                    fmt_duration(t0.elapsed()),
                    s.protocol_version()
                ));
            }
            Err(e) => self.step(format!(
                "connect failed after {}: {e}",
                fmt_duration(t0.elapsed())
            )),
        }
        result
    }

    /// Discovery after the handshake; a tools/list failure leaves the server connected with
    /// `tools-fetch-failed` (and the last good list), not failed.
    async fn finish_ready(
        &mut self,
        session: Session,
        cycle_start: Instant,
        attempt: u32,
    ) -> Result<Session, Error> {
        let info = session.info().cloned();
        let caps = info
            .as_ref()
            .map(|i| i.capabilities.clone())
            .unwrap_or_default();
        let tools_capability = caps.tools.is_some();
        let deadline =
            cycle_start.max(Instant::now() - Duration::from_millis(1)) + self.spec.timeouts.connect;
        let deadline = deadline.max(Instant::now() + Duration::from_millis(1));
        let pid = session.pid();
        self.update(|s| {
            s.protocol_version = info.as_ref().map(|i| i.protocol_version.clone());
            s.server_info = info.as_ref().map(|i| i.server_info.clone());
            s.capabilities = caps.names().into_iter().map(str::to_owned).collect();
            s.instructions_len = info
                .as_ref()
                .and_then(|i| i.instructions.as_ref())
                .map_or(0, String::len);
            s.tools_capability = tools_capability;
            s.pid = pid;
        });
        let tools_state = if tools_capability {
            match self.discover_tools(&session, Some(deadline)).await {
                Ok(()) => State::Connected,
                Err(e) => State::ToolsFetchFailed {
                    error: self.summary(&e),
                },
            }
        } else {
            self.update(|s| s.tools.clear());
            State::Connected
        };
        // Prompts and resources matter less than tools: bounded by what is left of the budget,
        // and their failure is only a note.
        if caps.prompts.is_some() {
            self.discover_prompts(&session, Some(deadline)).await;
        }
        if caps.resources.is_some() {
            self.discover_resources(&session, Some(deadline)).await;
        }
        let noise = session.stats().noise;
        self.ready_at = Some(Instant::now());
        if self.active == 0 && self.spec.targets.len() > 1 {
            let primary = self.spec.target_labels[0].clone();
            self.update(|s| {
                s.active_url = Some(primary);
                s.url_reason = Some("primary".into());
            });
        }
        *lock(&self.slot) = Some(session.clone());
        self.update(|s| {
            s.state = tools_state;
            s.attempts = attempt;
            s.elapsed = cycle_start.elapsed();
            s.stdout_noise = noise;
        });
        self.emit(EventKind::CatalogChanged);
        Ok(session)
    }

    async fn discover_tools(
        &self,
        session: &Session,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let mut attempt = 1;
        loop {
            let opts = self.list_opts(deadline);
            self.step("tools/list");
            let t0 = Instant::now();
            match session.list_all::<Tool>(method::TOOLS_LIST, opts).await {
                Ok(listed) => {
                    for issue in &listed.issues {
                        self.step(format!(
                            "dropped malformed tool #{} {}: {}",
                            issue.index,
                            issue.name.as_deref().unwrap_or("(no name)"),
                            issue.reason
                        ));
                    }
                    for w in &listed.warnings {
                        self.step(format!("tools/list: {w}"));
                    }
                    self.step(format!(
                        "tools/list: {} tools in {} ({} page{})",
                        listed.items.len(),
                        fmt_duration(t0.elapsed()),
                        listed.pages,
                        if listed.pages == 1 { "" } else { "s" }
                    ));
                    let dropped: Vec<String> = listed
                        .issues
                        .iter()
                        .map(|i| format!("{}: {}", i.name.as_deref().unwrap_or("?"), i.reason))
                        .collect();
                    self.update(|s| {
                        s.tools = listed.items;
                        s.dropped_tools = dropped;
                    });
                    return Ok(());
                }
                Err(e) => {
                    let out_of_budget = deadline.is_some_and(|d| Instant::now() >= d);
                    match self.policy.discovery(attempt, &e) {
                        Decision::Retry(delay)
                            if !out_of_budget && !matches!(e, Error::Timeout { .. }) =>
                        {
                            self.step(format!(
                                "tools/list failed: {e}; retrying in {}",
                                fmt_duration(delay)
                            ));
                            tokio::time::sleep(delay).await;
                            attempt += 1;
                        }
                        _ => {
                            self.step(format!("tools/list failed: {e}"));
                            return Err(e);
                        }
                    }
                }
            }
        }
    }

    fn list_opts(&self, deadline: Option<Instant>) -> RequestOptions {
        match deadline {
            Some(d) => RequestOptions::until(
                d.min(Instant::now() + self.spec.timeouts.request),
                Timer::Connect,
            ),
            None => RequestOptions::timeout(self.spec.timeouts.request),
        }
    }

    async fn discover_prompts(&self, session: &Session, deadline: Option<Instant>) {
        let opts = self.list_opts(deadline);
        match session.list_all::<Prompt>(method::PROMPTS_LIST, opts).await {
            Ok(listed) => self.update(|s| s.prompts = listed.items),
            Err(e) => self.step(format!("prompts/list failed: {e}")),
        }
    }

    async fn discover_resources(&self, session: &Session, deadline: Option<Instant>) {
        let opts = self.list_opts(deadline);
        match session
            .list_all::<Resource>(method::RESOURCES_LIST, opts.clone())
            .await
        {
            Ok(listed) => self.update(|s| s.resources = listed.items),
            Err(e) => self.step(format!("resources/list failed: {e}")),
        }
        match session
            .list_all::<ResourceTemplate>(method::RESOURCE_TEMPLATES_LIST, opts)
            .await
        {
            Ok(listed) => self.update(|s| s.resource_templates = listed.items),
            Err(e) => self.step(format!("resources/templates/list failed: {e}")),
        }
    }

    /// Runs a connected session: list refreshes, liveness pings, failback, commands.
    async fn serve(&mut self, session: Session) -> Served {
        let mut session = session;
        let mut events = session.subscribe();
        let mut refresh: Option<(Instant, HashSet<ListKind>)> = None;
        let ping_every = if self.one_shot {
            None
        } else {
            self.spec.ping_interval.or(self.policy.ping_interval)
        };
        let mut next_ping = ping_every.map(|d| Instant::now() + d);
        let mut next_failback = (self.active > 0 && !self.one_shot)
            .then(|| Instant::now() + self.policy.failback_interval);
        let served = loop {
            tokio::select! {
                error = session.closed() => break Served::Lost(error),
                event = events.recv() => match event {
                    Ok(SessionEvent::ListChanged(kind)) => {
                        let at = Instant::now() + self.policy.list_changed_debounce;
                        let kinds = refresh.take().map(|(_, k)| k).unwrap_or_default();
                        let mut kinds = kinds;
                        kinds.insert(kind);
                        refresh = Some((at, kinds));
                    }
                    Ok(SessionEvent::Stderr(line)) => self.emit(EventKind::Stderr((self.spec.redact)(&line))),
                    Ok(SessionEvent::Noise(skipped)) => {
                        self.update(|s| s.stdout_noise += 1);
                        self.step(format!("skipped non-JSON-RPC output: {}", skipped.preview));
                    }
                    Ok(SessionEvent::SessionRenewed) => self.step("session expired (HTTP 404); re-initialized"),
                    Ok(SessionEvent::Notification(n)) => self.emit(EventKind::Notification(n)),
                    Ok(SessionEvent::Closed(_)) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {}
                },
                _ = sleep_opt(refresh.as_ref().map(|(at, _)| *at)) => {
                    let kinds = refresh.take().map(|(_, k)| k).unwrap_or_default();
                    self.refresh(&session, &kinds).await;
                }
                _ = sleep_opt(next_ping) => {
                    next_ping = ping_every.map(|d| Instant::now() + d);
                    if let Some(lost) = self.check_liveness(&session).await {
                        break Served::Lost(lost);
                    }
                    if matches!(self.status.borrow().state, State::ToolsFetchFailed { .. }) {
                        let kinds = HashSet::from([ListKind::Tools]);
                        self.refresh(&session, &kinds).await;
                    }
                }
                _ = sleep_opt(next_failback) => {
                    next_failback = Some(Instant::now() + self.policy.failback_interval);
                    if let Some(primary) = self.try_primary().await {
                        let fallback = std::mem::replace(&mut session, primary);
                        *lock(&self.slot) = None;
                        fallback.shutdown().await;
                        self.active = 0;
                        match self.finish_ready(session.clone(), Instant::now(), 1).await {
                            Ok(_) => {
                                events = session.subscribe();
                                next_failback = None;
                            }
                            Err(e) => break Served::Lost(e),
                        }
                    }
                }
                cmd = self.commands.recv() => match cmd {
                    Some(Command::CheckLiveness) => {
                        if let Some(lost) = self.check_liveness(&session).await {
                            break Served::Lost(lost);
                        }
                    }
                    Some(Command::Enable) => {}
                    Some(Command::Reconnect) => break Served::Interrupted(Interrupt::Reconnect),
                    Some(Command::Disable) => break Served::Interrupted(Interrupt::Disable),
                    Some(Command::Shutdown(ack)) => break Served::Interrupted(Interrupt::Shutdown(ack)),
                    None => break Served::Interrupted(Interrupt::Shutdown(oneshot::channel().0)),
                },
            }
        };
        *lock(&self.slot) = None;
        match &served {
            Served::Interrupted(_) => session.shutdown().await,
            Served::Lost(_) => session.kill_now(),
        }
        served
    }

    /// Pings; a failed ping means the connection is gone (a stdio server is killed: it is hung).
    async fn check_liveness(&self, session: &Session) -> Option<Error> {
        match session.ping(self.spec.timeouts.ping).await {
            Ok(()) => None,
            Err(Error::Peer(e)) if e.code == tether_proto::jsonrpc::code::METHOD_NOT_FOUND => None,
            Err(Error::Peer(_)) => None,
            Err(e) => {
                if self.spec.is_local() {
                    self.step(format!(
                        "liveness ping failed ({e}): server is hung; killing its process group"
                    ));
                    session.kill_now();
                } else {
                    self.step(format!("liveness ping failed ({e}); reconnecting"));
                }
                Some(e)
            }
        }
    }

    async fn refresh(&self, session: &Session, kinds: &HashSet<ListKind>) {
        if kinds.contains(&ListKind::Tools) {
            match self.discover_tools(session, None).await {
                Ok(()) => {
                    if matches!(self.status.borrow().state, State::ToolsFetchFailed { .. }) {
                        self.set_state(State::Connected);
                    }
                }
                Err(e) => {
                    // Keep the last good list; say that the refresh failed.
                    let error = self.summary(&e);
                    self.set_state(State::ToolsFetchFailed { error });
                }
            }
        }
        if kinds.contains(&ListKind::Prompts) {
            self.discover_prompts(session, None).await;
        }
        if kinds.contains(&ListKind::Resources) {
            self.discover_resources(session, None).await;
        }
        self.emit(EventKind::CatalogChanged);
    }

    /// While a fallback serves: is the primary back?
    async fn try_primary(&self) -> Option<Session> {
        let target = &self.spec.targets[0];
        match Session::connect(target, self.session_opts.clone()).await {
            Ok(s) => {
                self.step(format!(
                    "primary {} recovered; failing back",
                    self.spec.target_labels[0]
                ));
                Some(s)
            }
            Err(e) => {
                self.step(format!("primary still failing: {e}"));
                None
            }
        }
    }

    /// Waits in a failed (or needs-auth) state: `None` to try again (probe or manual reconnect).
    async fn wait_failed(&mut self, state: State) -> Option<Interrupt> {
        let needs_auth = matches!(state, State::NeedsAuth { .. });
        self.set_state(state);
        let never_restart = self.spec.is_local() && self.spec.restart == Restart::Never;
        let probing = !(self.one_shot || needs_auth || never_restart);
        let mut probe = 0;
        loop {
            let wake = if probing {
                Some(Instant::now() + self.policy.probe_delay(probe))
            } else {
                None
            };
            tokio::select! {
                _ = sleep_opt(wake) => {
                    probe += 1;
                    self.step("background probe");
                    let deadline = Instant::now() + self.spec.timeouts.connect;
                    match self.connect_once(deadline).await {
                        Ok(session) => {
                            // Recovered: run the normal path from a fresh connect cycle.
                            session.shutdown().await;
                            return None;
                        }
                        Err(e) => {
                            let summary = self.summary(&e);
                            self.update(|s| {
                                s.last_error = Some(summary.clone());
                                if let State::Failed { error } = &mut s.state {
                                    *error = summary;
                                }
                            });
                        }
                    }
                }
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Reconnect) | Some(Command::Enable) => return None,
                    Some(Command::CheckLiveness) => {}
                    Some(Command::Disable) => return Some(Interrupt::Disable),
                    Some(Command::Shutdown(ack)) => return Some(Interrupt::Shutdown(ack)),
                    None => return Some(Interrupt::Shutdown(oneshot::channel().0)),
                },
            }
        }
    }

    /// Sleeps, unless a command interrupts.
    async fn sleep_interruptible(&mut self, d: Duration) -> Option<Interrupt> {
        let until = Instant::now() + d;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return None,
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Reconnect) => return Some(Interrupt::Reconnect),
                    Some(Command::Disable) => return Some(Interrupt::Disable),
                    Some(Command::Shutdown(ack)) => return Some(Interrupt::Shutdown(ack)),
                    Some(Command::Enable) | Some(Command::CheckLiveness) => {}
                    None => return Some(Interrupt::Shutdown(oneshot::channel().0)),
                },
            }
        }
    }

    async fn wait_enabled(&mut self) -> bool {
        loop {
            match self.commands.recv().await {
                Some(Command::Enable) | Some(Command::Reconnect) => return true,
                Some(Command::Shutdown(ack)) => {
                    let _ = ack.send(());
                    return false;
                }
                Some(_) => {}
                None => return false,
            }
        }
    }

    async fn idle_until_shutdown(&mut self) {
        while let Some(cmd) = self.commands.recv().await {
            if let Command::Shutdown(ack) = cmd {
                let _ = ack.send(());
                return;
            }
        }
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
