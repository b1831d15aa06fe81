//! `tether-bench load`: closed-loop `tools/call` load against one MCP endpoint.
//!
//! The handshake (`initialize`, `notifications/initialized`, `tools/list`, checking the tool is
//! listed), a warm-up, then `c` callers that each send the next call as soon as the previous one
//! is answered, for a duration or a number of calls. Every answer is checked to carry the echoed
//! text. stdio: the `c` calls share one connection, matched by id. HTTP: `c` keep-alive
//! connections, one session each, one call in flight on each.
//!
//! The report gives calls/s, latency percentiles, the client's CPU per call, and for the watched
//! process tree (the spawned stdio child, or `--watch-pid`) its CPU per call and peak RSS, with
//! our own echo-server processes counted apart. It is one JSON line and one human line (`# …`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::guard::Spawned;
use crate::mcp::{self, Client, HttpSession, Url};
use crate::procs;
use crate::stats::Summary;

/// What to load.
#[derive(Clone, Debug)]
pub enum Target {
    /// A command speaking MCP on stdio, started by the load generator.
    Stdio(String),
    /// A Streamable HTTP endpoint.
    Http(String),
}

/// The load's settings.
#[derive(Clone, Debug)]
pub struct LoadOpts {
    /// What to load.
    pub target: Target,
    /// Calls in flight.
    pub concurrency: usize,
    /// Measured seconds (when `count` is not given).
    pub duration: f64,
    /// Measure exactly this many calls instead.
    pub count: Option<u64>,
    /// Warm-up seconds before measuring.
    pub warmup: f64,
    /// The tool to call.
    pub tool: String,
    /// Bytes of the echoed text.
    pub payload: usize,
    /// The process tree to watch (stdio: the spawned child by default).
    pub watch_pid: Option<u32>,
    /// Per-call timeout.
    pub call_timeout: Duration,
    /// How long to retry connecting and the handshake (an HTTP proxy may still be starting).
    pub connect_wait: Duration,
    /// The name of the report line.
    pub label: String,
    /// Also append the JSON line to this file.
    pub json_out: Option<PathBuf>,
}

/// One load run's result: the JSON line.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// The row's name.
    pub label: String,
    /// `stdio` or `http`.
    pub transport: String,
    /// Calls in flight.
    pub concurrency: usize,
    /// True when calls were made and none failed.
    pub ok: bool,
    /// Why nothing could be measured (connect or handshake failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Calls answered correctly in the measured phase.
    pub calls: u64,
    /// Calls that failed in the measured phase.
    pub errors: u64,
    /// The first failure, for the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Length of the measured phase.
    pub elapsed_s: f64,
    /// Good calls per second.
    pub calls_per_s: f64,
    /// Latency of the good calls.
    pub lat_us: Summary,
    /// Spawn (stdio) or connect (HTTP) until the handshake was done.
    pub connect_ms: f64,
    /// Tools listed.
    pub tools: usize,
    /// The load generator's own CPU per call.
    pub client_cpu_us_per_call: f64,
    /// The watched tree's root.
    pub watched_pid: Option<u32>,
    /// CPU per call of the watched tree, echo servers excluded.
    pub proxy_cpu_us_per_call: Option<f64>,
    /// CPU per call of the echo servers in the watched tree.
    pub echo_cpu_us_per_call: Option<f64>,
    /// Peak RSS (VmHWM) summed over the watched tree, echo servers excluded.
    pub proxy_peak_rss_kb: Option<u64>,
    /// Processes of the watched tree, echo servers excluded.
    pub proxy_procs: Option<usize>,
    /// Peak RSS summed over echo servers in the watched tree.
    pub echo_peak_rss_kb: Option<u64>,
    /// Echo-server processes in the watched tree.
    pub echo_procs: Option<usize>,
    /// Answers nobody asked for (ids of no pending call).
    pub foreign: u64,
}

impl Report {
    /// The human line.
    pub fn human(&self) -> String {
        if let Some(e) = &self.error {
            return format!(
                "# {:<28} {:<5} c={:<3} FAILED: {e}",
                self.label, self.transport, self.concurrency
            );
        }
        let l = &self.lat_us;
        let mut s = format!(
            "# {:<28} {:<5} c={:<3} calls={:<7} err={:<3} {:>9.1}/s p50={} p90={} p99={} max={} µs client={:.1}µs/call",
            self.label,
            self.transport,
            self.concurrency,
            self.calls,
            self.errors,
            self.calls_per_s,
            l.p50,
            l.p90,
            l.p99,
            l.max,
            self.client_cpu_us_per_call
        );
        if let Some(p) = self
            .proxy_cpu_us_per_call
            .filter(|_| self.proxy_procs > Some(0))
        {
            s.push_str(&format!(" proxy={p:.1}µs/call"));
        }
        if let Some(r) = self
            .proxy_peak_rss_kb
            .filter(|_| self.proxy_procs > Some(0))
        {
            s.push_str(&format!(" proxy_rss={:.1}MiB", r as f64 / 1024.0));
        }
        if let (Some(r), Some(n @ 1..)) = (self.echo_peak_rss_kb, self.echo_procs) {
            s.push_str(&format!(" echo_rss={:.1}MiB/{n}", r as f64 / 1024.0));
        }
        if self.foreign > 0 {
            s.push_str(&format!(" foreign={}", self.foreign));
        }
        if let Some(e) = &self.first_error {
            s.push_str(&format!(" first_error={e:?}"));
        }
        s
    }
}

/// The text of `bytes` bytes that every call sends and expects back.
pub fn payload_text(bytes: usize) -> String {
    "tether-bench echo payload 0123456789 abcdefghijklmnopqrstuvwxyz "
        .chars()
        .cycle()
        .take(bytes)
        .collect()
}

/// The `tools/call` params for an echo of `text` through `tool`.
pub fn call_params(tool: &str, text: &str) -> String {
    serde_json::json!({"name": tool, "arguments": {"text": text}}).to_string()
}

#[derive(Default)]
struct PhaseOut {
    lats: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

/// Runs every client closed-loop until `until` or until `budget` is used up.
async fn phase(
    clients: Vec<Client>,
    until: Option<Instant>,
    budget: Option<Arc<AtomicU64>>,
    params: Arc<str>,
    payload: Arc<str>,
    timeout: Duration,
) -> (Vec<Client>, PhaseOut) {
    let mut tasks = Vec::new();
    for mut client in clients {
        let (params, payload, budget) = (params.clone(), payload.clone(), budget.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = PhaseOut {
                lats: Vec::with_capacity(1 << 14),
                ..PhaseOut::default()
            };
            loop {
                if until.is_some_and(|u| Instant::now() >= u) {
                    break;
                }
                if let Some(b) = &budget {
                    let took =
                        b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| x.checked_sub(1));
                    if took.is_err() {
                        break;
                    }
                }
                let t0 = Instant::now();
                let r = client.request("tools/call", &params, timeout).await;
                let us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
                match r.and_then(|m| mcp::check_echo(&m, &payload)) {
                    Ok(()) => out.lats.push(us),
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| e.to_string());
                        if out.errors > 1000 && out.lats.is_empty() {
                            break; // nothing works: stop rather than spin
                        }
                    }
                }
            }
            (client, out)
        }));
    }
    let mut clients = Vec::new();
    let mut total = PhaseOut::default();
    for t in tasks {
        match t.await {
            Ok((c, o)) => {
                clients.push(c);
                total.lats.extend(o.lats);
                total.errors += o.errors;
                if total.first_error.is_none() {
                    total.first_error = o.first_error;
                }
            }
            Err(e) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert_with(|| format!("worker failed: {e}"));
            }
        }
    }
    (clients, total)
}

/// Connects `c` clients and does the handshake on each; checks `tool` is listed.
async fn connect(
    opts: &LoadOpts,
    child: &mut Option<Spawned>,
    stdio: &mut Option<Arc<mcp::StdioConn>>,
) -> Result<(Vec<Client>, usize), String> {
    let c = opts.concurrency.max(1);
    let timeout = opts.call_timeout.max(Duration::from_secs(10));
    let check = |names: Vec<String>| -> Result<usize, String> {
        if names.contains(&opts.tool) {
            Ok(names.len())
        } else {
            let shown: Vec<&String> = names.iter().take(20).collect();
            Err(format!(
                "tool `{}` is not listed; tools/list gave {shown:?}",
                opts.tool
            ))
        }
    };
    match &opts.target {
        Target::Stdio(cmd) => {
            let (conn, spawned) = mcp::spawn_stdio(cmd, std::process::Stdio::inherit())?;
            *child = Some(spawned);
            *stdio = Some(conn.clone());
            let mut first = Client::Stdio(conn.clone());
            let names = first
                .handshake(timeout)
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            let n = check(names)?;
            Ok(((0..c).map(|_| Client::Stdio(conn.clone())).collect(), n))
        }
        Target::Http(url) => {
            let url = Url::parse(url)?;
            let mut clients = Vec::with_capacity(c);
            let mut n = 0;
            for _ in 0..c {
                let mut client = Client::Http(HttpSession::new(url.clone()));
                let names = client
                    .handshake(timeout)
                    .await
                    .map_err(|e| format!("handshake: {e}"))?;
                n = check(names)?;
                clients.push(client);
            }
            Ok((clients, n))
        }
    }
}

/// Runs the load and prints the report; the exit code is 0 when every call succeeded.
pub async fn run(opts: LoadOpts) -> i32 {
    let report = measure(&opts).await;
    let line = serde_json::to_string(&report).unwrap_or_default();
    crate::out(&line);
    crate::out(&report.human());
    if let Some(path) = &opts.json_out {
        use std::io::Write as _;
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = appended {
            crate::note(&format!("cannot append to {}: {e}", path.display()));
        }
    }
    i32::from(!report.ok)
}

/// Runs the load and returns the report (never panics on a bad endpoint: the report says why).
pub async fn measure(opts: &LoadOpts) -> Report {
    let payload: Arc<str> = Arc::from(payload_text(opts.payload));
    let params: Arc<str> = Arc::from(call_params(&opts.tool, &payload));
    let mut report = Report {
        label: opts.label.clone(),
        transport: match opts.target {
            Target::Stdio(_) => "stdio",
            Target::Http(_) => "http",
        }
        .to_owned(),
        concurrency: opts.concurrency.max(1),
        ..Report::default()
    };

    let t_connect = Instant::now();
    let mut child: Option<Spawned> = None;
    let mut stdio_conn = None;
    let connected = loop {
        let r = connect(opts, &mut child, &mut stdio_conn).await;
        let retry = matches!(opts.target, Target::Http(_))
            && r.is_err()
            && t_connect.elapsed() < opts.connect_wait;
        if !retry {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    report.connect_ms = (t_connect.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    let (clients, tools) = match connected {
        Ok(x) => x,
        Err(e) => {
            report.error = Some(e);
            if let Some(c) = child {
                c.stop(Duration::from_millis(500)).await;
            }
            return report;
        }
    };
    report.tools = tools;
    let watch = opts.watch_pid.or(child.as_ref().map(|c| c.pid));
    report.watched_pid = watch;

    let mut clients = clients;
    if opts.warmup > 0.0 {
        let until = Instant::now() + Duration::from_secs_f64(opts.warmup);
        let (c, _) = phase(
            clients,
            Some(until),
            None,
            params.clone(),
            payload.clone(),
            opts.call_timeout,
        )
        .await;
        clients = c;
    }

    let cpu0 = watch.map(procs::cpu_snap);
    let self0 = procs::self_cpu_us();
    let t0 = Instant::now();
    let (until, budget) = match opts.count {
        Some(n) => (None, Some(Arc::new(AtomicU64::new(n)))),
        None => (
            Some(t0 + Duration::from_secs_f64(opts.duration.max(0.1))),
            None,
        ),
    };
    let (mut clients, mut out) =
        phase(clients, until, budget, params, payload, opts.call_timeout).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let self_us = procs::self_cpu_us().saturating_sub(self0);
    let cpu1 = watch.map(procs::cpu_snap);
    let mem = watch.map(procs::tree_mem);

    let calls = out.lats.len() as u64;
    let per_call = |us: f64| {
        if calls > 0 {
            (us / calls as f64 * 10.0).round() / 10.0
        } else {
            0.0
        }
    };
    report.calls = calls;
    report.errors = out.errors;
    report.first_error = out.first_error.take();
    report.ok = calls > 0 && out.errors == 0;
    report.elapsed_s = (elapsed * 1000.0).round() / 1000.0;
    report.calls_per_s = if elapsed > 0.0 {
        (calls as f64 / elapsed * 10.0).round() / 10.0
    } else {
        0.0
    };
    report.lat_us = Summary::of(&mut out.lats);
    report.client_cpu_us_per_call = per_call(self_us as f64);
    if let (Some(a), Some(b)) = (&cpu0, &cpu1) {
        let (proxy_ms, echo_ms) = procs::cpu_delta_ms(a, b);
        report.proxy_cpu_us_per_call = Some(per_call(proxy_ms * 1000.0));
        report.echo_cpu_us_per_call = Some(per_call(echo_ms * 1000.0));
    }
    if let Some(m) = mem {
        report.proxy_peak_rss_kb = Some(m.proxy_hwm_kb);
        report.proxy_procs = Some(m.proxy_procs);
        report.echo_peak_rss_kb = Some(m.echo_hwm_kb);
        report.echo_procs = Some(m.echo_procs);
    }
    report.foreign = stdio_conn
        .as_ref()
        .map_or(0, |c| c.foreign.load(Ordering::Relaxed));

    for c in clients.iter_mut() {
        if let Client::Http(h) = c {
            h.delete().await;
        }
    }
    // Closing stdin (the last handle to the connection) lets a well-behaved child exit.
    drop(clients);
    drop(stdio_conn);
    if let Some(c) = child {
        c.stop(Duration::from_secs(2)).await;
    }
    report
}
