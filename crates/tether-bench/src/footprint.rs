//! What a gateway costs beyond throughput: idle memory with 1, 10 and 100 upstreams, the time
//! from spawn to the first `initialize` answer while upstreams are still starting, and
//! `tether list` over 20 servers against the slowest one alone.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::mcp::{self, Client};
use crate::procs;
use crate::spawn::{Scratch, config, run_capture, serve_argv, stdio_server};
use crate::stats::median;

/// What the measurements need: our binary, `tether`, and where to put files.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// `tether-bench` itself (the echo server).
    pub me: &'a Path,
    /// The `tether` binary.
    pub tether: &'a Path,
    /// Configurations and logs.
    pub scratch: &'a Scratch,
}

/// Idle RSS of `tether serve` with N upstreams.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Memory {
    pub upstreams: usize,
    pub connected: usize,
    pub ready_ms: f64,
    pub rss_kb: u64,
    pub hwm_kb: u64,
    pub error: Option<String>,
}

/// Spawn → `initialize` answered, several runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Startup {
    pub runs: Vec<f64>,
    pub median_ms: Option<f64>,
    pub echo_median_ms: Option<f64>,
    pub upstream_init_ms: u64,
    pub errors: Vec<String>,
}

/// `tether list` over 20 servers, and each alone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ListTiming {
    pub servers: usize,
    pub all_ms: Option<f64>,
    pub all_connected: usize,
    pub slowest_alone_ms: Option<f64>,
    pub each_max_ms: Option<f64>,
    pub each_sum_ms: f64,
    pub errors: Vec<String>,
}

/// Idle RSS of `tether serve` (stdio front) once `n` `tether chaos` upstreams are connected.
pub async fn memory(cx: &Ctx<'_>, n: usize) -> Memory {
    let mut m = Memory {
        upstreams: n,
        connected: 0,
        ready_ms: 0.0,
        rss_kb: 0,
        hwm_kb: 0,
        error: None,
    };
    let servers: Vec<(String, Value)> = (1..=n)
        .map(|i| (format!("c{i}"), stdio_server(cx.tether, &["chaos"])))
        .collect();
    let cfg = match cx
        .scratch
        .write(&format!("idle-{n}.json"), &config(&servers))
    {
        Ok(c) => c,
        Err(e) => {
            m.error = Some(e);
            return m;
        }
    };
    let log = format!("idle-{n}.log");
    let t0 = Instant::now();
    let (conn, sp) = match mcp::spawn_stdio_argv(
        &cx.tether.to_string_lossy(),
        &serve_argv(&cfg),
        cx.scratch.log(&log),
    ) {
        Ok(x) => x,
        Err(e) => {
            m.error = Some(e);
            return m;
        }
    };
    let mut client = Client::Stdio(conn);
    let timeout = Duration::from_secs(30);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut result = client.handshake(timeout).await.map(|_| ());
    while result.is_ok() {
        match client.tool_names(timeout).await {
            Ok(names) => {
                let mut servers: Vec<&str> = names
                    .iter()
                    .filter_map(|t| t.split_once("__").map(|x| x.0))
                    .collect();
                servers.sort_unstable();
                servers.dedup();
                m.connected = servers.len();
            }
            Err(e) => result = Err(e),
        }
        if m.connected >= n || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    m.ready_ms = (t0.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    if let Err(e) = result {
        m.error = Some(format!("{e}; log: {}", cx.scratch.tail(&log, 3)));
    } else if m.connected < n {
        m.error = Some(format!(
            "only {}/{n} upstreams connected after 120 s",
            m.connected
        ));
    }
    // Idle: no traffic for a while, then read.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mem = procs::mem(sp.pid);
    m.rss_kb = mem.rss_kb;
    m.hwm_kb = mem.hwm_kb;
    drop(client);
    sp.stop(Duration::from_secs(10)).await;
    m
}

/// Spawn of `tether serve` (stdio front) to its `initialize` answer, with slow upstreams.
pub async fn startup(cx: &Ctx<'_>, runs: u32) -> Startup {
    const SLOW_INIT_MS: u64 = 2000;
    let mut s = Startup {
        runs: Vec::new(),
        median_ms: None,
        echo_median_ms: None,
        upstream_init_ms: SLOW_INIT_MS,
        errors: Vec::new(),
    };
    let fault = format!("slow:initialize:{SLOW_INIT_MS}");
    let servers: Vec<(String, Value)> = (1..=3)
        .map(|i| {
            (
                format!("slow{i}"),
                stdio_server(cx.tether, &["chaos", "--fault", &fault]),
            )
        })
        .collect();
    let cfg = match cx.scratch.write("startup.json", &config(&servers)) {
        Ok(c) => c,
        Err(e) => {
            s.errors.push(e);
            return s;
        }
    };
    let init = format!(
        r#"{{"protocolVersion":"{}","capabilities":{{}},"clientInfo":{{"name":"tether-bench","version":"0"}}}}"#,
        mcp::PROTOCOL
    );
    let tether = cx.tether.to_string_lossy().into_owned();
    let serve = serve_argv(&cfg);
    let me = cx.me.to_string_lossy().into_owned();
    let echo = vec!["echo-server".to_owned(), "--stdio".to_owned()];
    let mut echo_runs = Vec::new();
    for i in 0..runs {
        for (program, argv, runs) in [(&tether, &serve, &mut s.runs), (&me, &echo, &mut echo_runs)]
        {
            let t0 = Instant::now();
            let spawned =
                mcp::spawn_stdio_argv(program, argv, cx.scratch.log(&format!("startup-{i}.log")));
            match spawned {
                Ok((conn, sp)) => {
                    match conn
                        .request("initialize", &init, Duration::from_secs(10))
                        .await
                    {
                        Ok(msg) if mcp::result_of(&msg).is_ok() => {
                            runs.push((t0.elapsed().as_secs_f64() * 10_000.0).round() / 10.0);
                        }
                        Ok(msg) => s
                            .errors
                            .push(format!("initialize: {}", String::from_utf8_lossy(&msg))),
                        Err(e) => s.errors.push(format!("initialize: {e}")),
                    }
                    drop(conn);
                    sp.stop(Duration::from_secs(3)).await;
                }
                Err(e) => s.errors.push(e),
            }
        }
    }
    s.median_ms = median(&s.runs);
    s.echo_median_ms = median(&echo_runs);
    s
}

/// `tether list` with 20 servers (one slow) against each server alone.
pub async fn list(cx: &Ctx<'_>) -> ListTiming {
    const SLOW_INIT_MS: &str = "slow:initialize:1500";
    let mut l = ListTiming {
        servers: 20,
        all_ms: None,
        all_connected: 0,
        slowest_alone_ms: None,
        each_max_ms: None,
        each_sum_ms: 0.0,
        errors: Vec::new(),
    };
    let servers: Vec<(String, Value)> = (1..=20)
        .map(|i| {
            let args: Vec<&str> = if i == 20 {
                vec!["chaos", "--fault", SLOW_INIT_MS]
            } else {
                vec!["chaos"]
            };
            (format!("s{i:02}"), stdio_server(cx.tether, &args))
        })
        .collect();
    let time_list = |cfg: PathBuf| {
        let tether = cx.tether;
        async move {
            let mut cmd = tokio::process::Command::new(tether);
            cmd.args(["list", "--json", "--config"])
                .arg(&cfg)
                .stderr(Stdio::null());
            let (elapsed, _code, stdout) = run_capture(&mut cmd, Duration::from_secs(120)).await?;
            let v: Value =
                serde_json::from_slice(&stdout).map_err(|e| format!("tether list --json: {e}"))?;
            let connected = v["servers"].as_array().map_or(0, |s| {
                s.iter().filter(|x| x["state"] == "connected").count()
            });
            Ok::<_, String>((elapsed.as_secs_f64() * 1000.0, connected))
        }
    };
    let all = match cx.scratch.write("list-20.json", &config(&servers)) {
        Ok(p) => p,
        Err(e) => {
            l.errors.push(e);
            return l;
        }
    };
    let mut all_runs = Vec::new();
    for _ in 0..3 {
        match time_list(all.clone()).await {
            Ok((ms, connected)) => {
                all_runs.push(ms);
                l.all_connected = connected;
            }
            Err(e) => l.errors.push(e),
        }
    }
    l.all_ms = median(&all_runs).map(|x| (x * 10.0).round() / 10.0);
    let mut each = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let Ok(cfg) = cx.scratch.write(
            &format!("list-one-{i}.json"),
            &config(std::slice::from_ref(server)),
        ) else {
            continue;
        };
        let reps = if i == servers.len() - 1 { 3 } else { 1 };
        let mut runs = Vec::new();
        for _ in 0..reps {
            match time_list(cfg.clone()).await {
                Ok((ms, 1)) => runs.push(ms),
                Ok((_, _)) => l.errors.push(format!("{} alone did not connect", server.0)),
                Err(e) => l.errors.push(e),
            }
        }
        if let Some(m) = median(&runs) {
            each.push(m);
            if i == servers.len() - 1 {
                l.slowest_alone_ms = Some((m * 10.0).round() / 10.0);
            }
        }
    }
    l.each_max_ms = each
        .iter()
        .copied()
        .reduce(f64::max)
        .map(|x| (x * 10.0).round() / 10.0);
    l.each_sum_ms = (each.iter().sum::<f64>() * 10.0).round() / 10.0;
    l
}
