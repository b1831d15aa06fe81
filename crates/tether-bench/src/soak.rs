//! `tether-bench soak`: many calls through the gateway (HTTP front) while one upstream is
//! killed every few seconds and another answers slowly.
//!
//! Three upstreams: `fast` (our echo server, stdio), `flaky` (`tether chaos`, SIGKILLed by PID
//! every `--kill-every` s; its PID comes from its own `pid` tool and is checked to belong to
//! the gateway's process tree) and `slow` (`tether chaos --fault slow:tools/call:MS`). Callers,
//! one HTTP session each, are split over the three and call until `--calls` are made.
//!
//! Checked: every call answered exactly once (a result or a clear error; none lost to a client
//! timeout or a dropped connection, no duplicate or foreign answer), no answer later than the
//! gateway's own timeout, the fast upstream's p50/p99 in windows with a kill against windows
//! without, and the gateway's RSS sampled every second (flat).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::guard::Spawned;
use crate::load::{call_params, payload_text};
use crate::mcp::{self, CallError, Client, HttpSession, Url};
use crate::spawn::{Scratch, config, find_tether, start_announcing, stdio_server};
use crate::{SoakArgs, note, out, procs};

mod report;

use report::analyse;

const UPSTREAMS: [&str; 3] = ["fast", "flaky", "slow"];

/// Outcome codes of one call.
const OUTCOMES: [&str; 8] = [
    "ok",
    "tool-error",
    "json-rpc-error",
    "http-status",
    "bad-answer",
    "timeout",
    "transport",
    "duplicate-or-foreign",
];

fn outcome_code(e: &CallError) -> u8 {
    match e {
        CallError::Tool(_) => 1,
        CallError::Rpc(..) => 2,
        CallError::Http(..) => 3,
        CallError::Bad(_) => 4,
        CallError::Timeout => 5,
        CallError::Transport(_) => 6,
    }
}

/// One call, as recorded.
#[derive(Clone, Copy, Debug)]
struct Rec {
    /// When it started, ms since the start of the calls.
    t_ms: u32,
    /// How long it took.
    lat_us: u32,
    /// Index into `UPSTREAMS`.
    upstream: u8,
    /// Index into `OUTCOMES`.
    outcome: u8,
}

#[derive(Default)]
struct CallerOut {
    recs: Vec<Rec>,
    /// First message of each outcome kind.
    examples: BTreeMap<u8, String>,
}

/// Shared state of the run.
struct Shared {
    start: Instant,
    budget: AtomicU64,
    done: AtomicBool,
    made: AtomicU64,
    failed: AtomicU64,
}

/// A kill of the flaky upstream (or why it was skipped).
#[derive(Clone, Debug, serde::Serialize)]
struct Kill {
    t_ms: u64,
    pid: Option<u32>,
    skipped: Option<String>,
}

/// One sample of the gateway.
#[derive(Clone, Debug, serde::Serialize)]
struct Sample {
    t_ms: u64,
    rss_kb: u64,
    states: Vec<(String, String)>,
    restarts: u64,
}

/// Entry point.
pub async fn run(args: SoakArgs) -> i32 {
    match soak(args).await {
        Ok(pass) => i32::from(!pass),
        Err(e) => {
            note(&format!("tether-bench soak: {e}"));
            2
        }
    }
}

async fn status(url: &Url) -> Result<Value, String> {
    let body = HttpSession::get(url, "/status", Duration::from_secs(5))
        .await
        .map_err(|e| format!("GET /status: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("GET /status: {e}"))
}

fn states_of(v: &Value) -> Vec<(String, String)> {
    v["servers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap_or("?").to_owned(),
                        s["state"].as_str().unwrap_or("?").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn soak(args: SoakArgs) -> Result<bool, String> {
    let c = args.concurrency as usize;
    let (slow_n, flaky_n) = (args.slow_callers as usize, args.flaky_callers as usize);
    if slow_n + flaky_n >= c {
        return Err(format!(
            "--slow-callers {slow_n} + --flaky-callers {flaky_n} leave no caller for the fast upstream (-c {c})"
        ));
    }
    let tether = find_tether(args.tether.as_deref())?;
    let me = std::env::current_exe().map_err(|e| format!("cannot find my own binary: {e}"))?;
    let scratch = Scratch::new("soak")?;
    let timeout_ms = args.upstream_timeout_ms;
    let with_timeout = |mut v: Value| {
        v["timeout"] = json!(timeout_ms);
        v
    };
    let slow_fault = format!("slow:tools/call:{}", args.slow_ms);
    let cfg = scratch.write(
        "soak.json",
        &config(&[
            (
                "fast".into(),
                with_timeout(stdio_server(&me, &["echo-server", "--stdio"])),
            ),
            (
                "flaky".into(),
                with_timeout(stdio_server(&tether, &["chaos"])),
            ),
            (
                "slow".into(),
                with_timeout(stdio_server(&tether, &["chaos", "--fault", &slow_fault])),
            ),
        ]),
    )?;
    let (gateway, url) = start_announcing(
        &tether,
        &[
            "serve".into(),
            "--config".into(),
            cfg.to_string_lossy().into_owned(),
            "--http".into(),
            "127.0.0.1:0".into(),
            "--no-request-log".into(),
        ],
        "serving MCP on",
        scratch.dir.join("gateway.log"),
    )
    .await?;
    let result = drive(&args, &gateway, &url).await;
    gateway.stop(Duration::ZERO).await;
    result
}

async fn drive(args: &SoakArgs, gateway: &Spawned, url: &str) -> Result<bool, String> {
    let url = Url::parse(url)?;
    let gw_pid = gateway.pid;
    let c = args.concurrency as usize;

    // Wait until all three upstreams are connected.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let states = status(&url)
            .await
            .map(|v| states_of(&v))
            .unwrap_or_default();
        if states.len() == 3 && states.iter().all(|(_, s)| s == "connected") {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "upstreams not all connected after 60 s: {states:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let payload: Arc<str> = Arc::from(payload_text(args.payload as usize));
    let call_timeout = Duration::from_secs_f64(args.call_timeout);
    let shared = Arc::new(Shared {
        start: Instant::now(),
        budget: AtomicU64::new(args.calls),
        done: AtomicBool::new(false),
        made: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });

    // Sessions first (the handshake is not part of the soak).
    let mut sessions = Vec::with_capacity(c);
    for i in 0..c {
        let upstream: u8 = if i < args.slow_callers as usize {
            2
        } else if i < (args.slow_callers + args.flaky_callers) as usize {
            1
        } else {
            0
        };
        let mut client = Client::Http(HttpSession::new(url.clone()));
        let names = client
            .handshake(Duration::from_secs(30))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let tool = format!("{}__echo", UPSTREAMS[upstream as usize]);
        if !names.contains(&tool) {
            return Err(format!("`{tool}` is not listed: {names:?}"));
        }
        let Client::Http(session) = client else {
            return Err("internal: not an HTTP session".into());
        };
        sessions.push((upstream, session));
    }
    note(&format!(
        "tether-bench soak: {} calls, {c} in flight ({} fast, {} flaky, {} slow callers), flaky killed every {} s, slow = {} ms",
        args.calls,
        c - (args.slow_callers + args.flaky_callers) as usize,
        args.flaky_callers,
        args.slow_callers,
        args.kill_every,
        args.slow_ms
    ));

    let shared_start = shared.start;
    let mut callers = Vec::new();
    for (upstream, mut session) in sessions {
        let shared = shared.clone();
        let params = call_params(&format!("{}__echo", UPSTREAMS[upstream as usize]), &payload);
        let payload = payload.clone();
        callers.push(tokio::spawn(async move {
            let mut out = CallerOut::default();
            while shared
                .budget
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| x.checked_sub(1))
                .is_ok()
            {
                let t0 = Instant::now();
                let r = session
                    .request_full("tools/call", &params, call_timeout)
                    .await;
                let lat_us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
                let outcome = match r {
                    Ok(a) if a.copies != 1 || a.foreign != 0 => {
                        out.examples.entry(7).or_insert_with(|| {
                            format!("{} copies, {} foreign answers", a.copies, a.foreign)
                        });
                        7
                    }
                    Ok(a) => match mcp::check_echo(&a.msg, &payload) {
                        Ok(()) => 0,
                        Err(e) => {
                            let code = outcome_code(&e);
                            out.examples.entry(code).or_insert_with(|| e.to_string());
                            code
                        }
                    },
                    Err(e) => {
                        let code = outcome_code(&e);
                        out.examples.entry(code).or_insert_with(|| e.to_string());
                        code
                    }
                };
                shared.made.fetch_add(1, Ordering::Relaxed);
                if outcome != 0 {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                }
                out.recs.push(Rec {
                    t_ms: u32::try_from(t0.duration_since(shared_start).as_millis())
                        .unwrap_or(u32::MAX),
                    lat_us,
                    upstream,
                    outcome,
                });
            }
            session.delete().await;
            out
        }));
    }

    // The killer: SIGKILL the flaky upstream every `kill_every` seconds.
    let kills = Arc::new(Mutex::new(Vec::<Kill>::new()));
    let killer = {
        let (shared, kills, url) = (shared.clone(), kills.clone(), url.clone());
        let every = Duration::from_secs_f64(args.kill_every);
        tokio::spawn(async move {
            let mut session = Client::Http(HttpSession::new(url));
            let _ = session.handshake(Duration::from_secs(10)).await;
            let mut next = Instant::now() + every;
            loop {
                tokio::time::sleep_until(next.into()).await;
                next += every;
                if shared.done.load(Ordering::Relaxed) {
                    return;
                }
                let t_ms = shared.start.elapsed().as_millis() as u64;
                let found = match session
                    .request(
                        "tools/call",
                        r#"{"name":"flaky__pid","arguments":{}}"#,
                        Duration::from_secs(6),
                    )
                    .await
                {
                    Ok(msg) => mcp::tool_text(&msg).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let kill = match found.and_then(|t| {
                    t.trim()
                        .parse::<u32>()
                        .map_err(|_| format!("pid tool said {t:?}"))
                }) {
                    Ok(pid) if procs::in_tree(gw_pid, pid) && pid != gw_pid => {
                        if procs::kill_now(pid) {
                            Kill {
                                t_ms,
                                pid: Some(pid),
                                skipped: None,
                            }
                        } else {
                            Kill {
                                t_ms,
                                pid: Some(pid),
                                skipped: Some("already gone".into()),
                            }
                        }
                    }
                    Ok(pid) => Kill {
                        t_ms,
                        pid: Some(pid),
                        skipped: Some("not in the gateway's process tree: left alone".into()),
                    },
                    Err(e) => Kill {
                        t_ms,
                        pid: None,
                        skipped: Some(e),
                    },
                };
                kills.lock().await.push(kill);
            }
        })
    };

    // The sampler: RSS and upstream states every second, progress every 10 s.
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let sampler = {
        let (shared, samples, url) = (shared.clone(), samples.clone(), url.clone());
        let total = args.calls;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut n = 0u64;
            while !shared.done.load(Ordering::Relaxed) {
                tick.tick().await;
                let t_ms = shared.start.elapsed().as_millis() as u64;
                let rss_kb = procs::mem(gw_pid).rss_kb;
                let st = status(&url).await.unwrap_or(Value::Null);
                let restarts = st["servers"].as_array().map_or(0, |a| {
                    a.iter().map(|s| s["restarts"].as_u64().unwrap_or(0)).sum()
                });
                samples.lock().await.push(Sample {
                    t_ms,
                    rss_kb,
                    states: states_of(&st),
                    restarts,
                });
                n += 1;
                if n.is_multiple_of(10) {
                    let made = shared.made.load(Ordering::Relaxed);
                    note(&format!(
                        "# soak: {:>4} s  {made}/{total} calls ({:.0}/s)  failed {}  gateway RSS {:.1} MiB",
                        t_ms / 1000,
                        made as f64 / (t_ms as f64 / 1000.0).max(0.001),
                        shared.failed.load(Ordering::Relaxed),
                        rss_kb as f64 / 1024.0
                    ));
                }
            }
        })
    };

    let mut recs = Vec::with_capacity(args.calls as usize);
    let mut examples: BTreeMap<(u8, u8), String> = BTreeMap::new();
    for (i, caller) in callers.into_iter().enumerate() {
        match caller.await {
            Ok(o) => {
                let upstream = o.recs.first().map_or(0, |r| r.upstream);
                for (k, v) in o.examples {
                    examples.entry((upstream, k)).or_insert(v);
                }
                recs.extend(o.recs);
            }
            Err(e) => note(&format!("caller {i} failed: {e}")),
        }
    }
    let elapsed = shared.start.elapsed();
    shared.done.store(true, Ordering::Relaxed);
    killer.abort();
    let _ = sampler.await;
    let kills = kills.lock().await.clone();
    let samples = samples.lock().await.clone();

    let report = analyse(args, &recs, &examples, &kills, &samples, elapsed);
    out(&report.text);
    out(&report.json.to_string());
    Ok(report.pass)
}
