//! Shared test plumbing: real chaos servers (stdio processes and HTTP processes on 127.0.0.1),
//! fast policies, and event-driven waits. No fixed sleeps: every wait is for an event, bounded
//! by a generous safety limit that only fires when something is broken.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tether_client::manager::{EventKind, ManagerEvent};
use tether_client::policy::Policy;
use tether_client::session::SessionOptions;
use tether_client::spec::ServerSpec;
use tether_client::transport::{HttpParams, StdioParams, Target};
use tether_client::{Manager, ManagerOptions};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::broadcast;

/// The limit for any single wait in a test; reaching it means the test failed.
pub const LIMIT: Duration = Duration::from_secs(30);

/// The package directory as cargo reports it when it runs the test (the compile-time value
/// would be stale in a build cache shared by clones at other paths).
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

/// What a finished `tether` command left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tether ARGS` in `cwd` with stdin closed and none of the caller's colour, timeout or log
/// settings; `adjust` changes the command first (its environment, say).
pub async fn run_tether<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    cwd: &std::path::Path,
    adjust: impl FnOnce(&mut Command),
) -> Run {
    let mut cmd = Command::new(tether());
    cmd.args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "")
        .env_remove("MCP_TIMEOUT")
        .env_remove("MCP_TOOL_TIMEOUT")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    adjust(&mut cmd);
    let out = cmd.output().await.expect("run tether");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The `tether` binary under test.
pub fn tether() -> &'static str {
    env!("CARGO_BIN_EXE_tether")
}

/// A stdio chaos server with these faults.
pub fn stdio(faults: &[&str]) -> Target {
    let mut args = vec!["chaos".to_owned()];
    for f in faults {
        args.push("--fault".into());
        args.push((*f).to_owned());
    }
    Target::Stdio(StdioParams {
        command: tether().into(),
        args,
        env: Vec::new(),
        cwd: None,
    })
}

/// A stdio chaos server with extra raw arguments after `chaos`.
pub fn stdio_args(args: &[&str]) -> Target {
    let mut all = vec!["chaos".to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    Target::Stdio(StdioParams {
        command: tether().into(),
        args: all,
        env: Vec::new(),
        cwd: None,
    })
}

/// A `tether chaos --http` process on 127.0.0.1; killed on drop.
pub struct HttpChaos {
    child: Child,
    /// `http://127.0.0.1:PORT/mcp`.
    pub url: url::Url,
}

impl HttpChaos {
    /// Starts one with these faults and waits for its `listening on` line.
    pub async fn start(faults: &[&str]) -> HttpChaos {
        Self::start_on("127.0.0.1:0", faults).await
    }

    /// Starts one on a given address (to restart a server on the same port).
    pub async fn start_on(addr: &str, faults: &[&str]) -> HttpChaos {
        let mut cmd = Command::new(tether());
        cmd.args(["chaos", "--http", addr]);
        for f in faults {
            cmd.args(["--fault", f]);
        }
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn tether chaos --http");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(LIMIT, lines.next_line())
            .await
            .expect("chaos server announced itself")
            .expect("read")
            .expect("a line");
        let url = line
            .strip_prefix("listening on ")
            .expect("listening line")
            .to_owned();
        HttpChaos {
            child,
            url: url.parse().expect("url"),
        }
    }

    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.url.port().expect("port"))
    }

    /// The target for this server.
    pub fn target(&self) -> Target {
        Target::Http(HttpParams {
            url: self.url.clone(),
            headers: Vec::new(),
        })
    }

    /// The server's counters (`GET /_chaos/stats`).
    pub async fn stats(&self) -> Value {
        let mut url = self.url.clone();
        url.set_path("/_chaos/stats");
        let body = reqwest::get(url)
            .await
            .expect("stats")
            .bytes()
            .await
            .expect("stats body");
        serde_json::from_slice(&body).expect("stats json")
    }

    /// How many requests of `method` the server saw.
    pub async fn count(&self, method: &str) -> u64 {
        self.stats().await["requests"][method].as_u64().unwrap_or(0)
    }

    /// Kills the server now (a crash, from the client's point of view).
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A URL nothing listens on.
pub async fn closed_port_url() -> url::Url {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}/mcp").parse().expect("url")
}

/// A policy with every delay shrunk to a few milliseconds.
pub fn fast() -> Policy {
    let mut p = Policy::fast(Duration::from_millis(5));
    p.ping_interval = None;
    p
}

/// A spec with short timers for tests.
pub fn spec(name: &str, target: Target) -> ServerSpec {
    let mut s = ServerSpec::simple(name, target);
    s.timeouts.connect = Duration::from_secs(10);
    s.timeouts.shutdown_grace = Duration::from_millis(500);
    s
}

/// Manager options for long-running (gateway-like) tests.
pub fn options(policy: Policy) -> ManagerOptions {
    ManagerOptions {
        policy,
        session: SessionOptions::new(""),
        one_shot: false,
        ..ManagerOptions::default()
    }
}

/// Starts a manager with one server and an event receiver that saw everything.
pub fn start(spec: ServerSpec, policy: Policy) -> (Manager, Events) {
    let (m, rx) = Manager::start_observed(vec![spec], options(policy));
    (
        m,
        Events {
            rx,
            seen: Vec::new(),
        },
    )
}

/// The events of a manager, as they happen.
pub struct Events {
    rx: broadcast::Receiver<ManagerEvent>,
    /// Every event received so far.
    pub seen: Vec<ManagerEvent>,
}

impl Events {
    /// Waits until a state event satisfies `pred`; returns its state name.
    pub async fn until_state(&mut self, pred: impl Fn(&str, &str) -> bool) -> String {
        let wait = async {
            loop {
                let ev = self.rx.recv().await.expect("events");
                self.seen.push(ev.clone());
                if let EventKind::State { state, text } = &ev.kind
                    && pred(state, text)
                {
                    return text.clone();
                }
            }
        };
        tokio::time::timeout(LIMIT, wait)
            .await
            .unwrap_or_else(|_| panic!("state never reached; saw {:?}", self.states()))
    }

    /// Waits for a state name.
    pub async fn until(&mut self, state: &str) -> String {
        let want = state.to_owned();
        self.until_state(move |s, _| s == want).await
    }

    /// Waits for a step whose text contains `needle`.
    pub async fn until_step(&mut self, needle: &str) -> String {
        let wait = async {
            loop {
                let ev = self.rx.recv().await.expect("events");
                self.seen.push(ev.clone());
                if let EventKind::Step(text) = &ev.kind
                    && text.contains(needle)
                {
                    return text.clone();
                }
            }
        };
        tokio::time::timeout(LIMIT, wait)
            .await
            .unwrap_or_else(|_| panic!("step {needle:?} never came; saw {:?}", self.steps()))
    }

    /// The state names seen so far, consecutive duplicates folded.
    pub fn states(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for ev in &self.seen {
            if let EventKind::State { state, .. } = &ev.kind
                && out.last() != Some(state)
            {
                out.push(state);
            }
        }
        out
    }

    /// The status texts seen so far.
    pub fn texts(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|ev| match &ev.kind {
                EventKind::State { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    /// The lifecycle steps seen so far.
    pub fn steps(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|ev| match &ev.kind {
                EventKind::Step(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }
}

/// True while a process with this pid exists.
pub fn alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

/// Waits (bounded) until a process is gone.
pub async fn wait_gone(pid: u32) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} is still alive"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A session options value with the given connect budget.
pub fn session_opts(connect: Duration) -> SessionOptions {
    let mut o = SessionOptions::new("test");
    o.connect_timeout = connect;
    o.shutdown_grace = Duration::from_millis(500);
    o
}

/// Escapes text for use in an insta filter (a regex).
pub fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
