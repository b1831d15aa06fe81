//! `tether-bench run`: the whole table in one run, so every ratio compares figures measured
//! minutes apart on the same machine.
//!
//! 1. floors: raw TCP and pipe round trips (no MCP);
//! 2. paths, at each concurrency: direct stdio, direct HTTP, Tether HTTP→stdio, stdio→stdio,
//!    stdio→HTTP (and the rmcp pass-through when given). Each proxy is started fresh, loaded by a
//!    `tether-bench load` child process, and ended by PID with its whole tree;
//! 3. memory: RSS of an idle `tether serve` (stdio front) with 1, 10 and 100 `tether chaos`
//!    upstreams, once all are connected;
//! 4. startup: spawn of `tether serve` to its `initialize` answer while its upstreams take 2 s to
//!    initialize (median of several runs);
//! 5. `tether list` with 20 servers (one slow) against the slowest server alone;
//!
//! then the markdown tables and the goals, computed from this run, with verdicts.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::footprint::{self, ListTiming, Memory, Startup};
use crate::goals::{
    self, DIRECT_HTTP, DIRECT_STDIO, RMCP_HTTP_STDIO, T_HTTP_STDIO, T_HTTP_STDIO_NO_POLL,
    T_STDIO_HTTP, T_STDIO_STDIO,
};
use crate::guard::Spawned;
use crate::load::Report;
use crate::spawn::{
    Scratch, config, find_tether, free_port, run_capture, sh_quote, start_announcing, stdio_server,
    wait_port,
};
use crate::table::{self, Row, mib, num};
use crate::{RunArgs, floor, note, out, procs};

struct Runner {
    args: RunArgs,
    me: PathBuf,
    tether: PathBuf,
    scratch: Scratch,
    conc: Vec<usize>,
    rows: Vec<Row>,
    floors: Vec<Report>,
    memory: Vec<Memory>,
    startup: Option<Startup>,
    list: Option<ListTiming>,
    json: Vec<Value>,
}

/// Entry point.
pub async fn run(args: RunArgs) -> i32 {
    match setup(args) {
        Ok(mut r) => r.go().await,
        Err(e) => {
            note(&format!("tether-bench run: {e}"));
            2
        }
    }
}

fn setup(args: RunArgs) -> Result<Runner, String> {
    let tether = find_tether(args.tether.as_deref())?;
    let me = std::env::current_exe().map_err(|e| format!("cannot find my own binary: {e}"))?;
    let conc: Vec<usize> = args
        .conc
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().ok().filter(|c| (1..=4096).contains(c)))
        .collect::<Option<Vec<_>>>()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            format!(
                "--conc {:?}: expected numbers from 1 to 4096, e.g. \"1 16\"",
                args.conc
            )
        })?;
    if let Some(rp) = args.rmcp.as_ref().filter(|rp| !procs::is_executable(rp)) {
        return Err(format!("--rmcp {}: not an executable file", rp.display()));
    }
    for s in &args.skip {
        if !["floors", "paths", "memory", "startup", "list"].contains(&s.as_str()) {
            return Err(format!(
                "--skip {s}: expected floors, paths, memory, startup or list"
            ));
        }
    }
    Ok(Runner {
        scratch: Scratch::new("run")?,
        args,
        me,
        tether,
        conc,
        rows: Vec::new(),
        floors: Vec::new(),
        memory: Vec::new(),
        startup: None,
        list: None,
        json: Vec::new(),
    })
}

impl Runner {
    fn skip(&self, section: &str) -> bool {
        self.args.skip.iter().any(|s| s == section)
    }

    async fn go(&mut self) -> i32 {
        let t0 = Instant::now();
        note(&format!(
            "tether-bench run: tether = {}, {} s per row after {} s warm-up, c = {:?}",
            self.tether.display(),
            self.args.duration,
            self.args.warmup,
            self.conc
        ));
        if !self.skip("floors") {
            self.floors().await;
        }
        if !self.skip("paths") {
            let conc = self.conc.clone();
            for c in conc {
                self.paths(c).await;
            }
        }
        if !self.skip("memory") {
            for n in [1, 10, 100] {
                let m = footprint::memory(&self.ctx(), n).await;
                note(&format!(
                    "# memory: {n} idle upstreams: RSS {} MiB (peak {} MiB), {}/{n} connected in {:.0} ms{}",
                    mib(Some(m.rss_kb)),
                    mib(Some(m.hwm_kb)),
                    m.connected,
                    m.ready_ms,
                    m.error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ));
                self.json.push(json!({"section": "memory", "result": m}));
                self.memory.push(m);
            }
        }
        if !self.skip("startup") {
            let s = footprint::startup(&self.ctx(), self.args.startup_runs).await;
            note(&format!(
                "# startup: initialize answered after {} ms (median of {}; echo-server alone {} ms)",
                num(s.median_ms),
                s.runs.len(),
                num(s.echo_median_ms)
            ));
            self.json.push(json!({"section": "startup", "result": s}));
            self.startup = Some(s);
        }
        if !self.skip("list") {
            let l = footprint::list(&self.ctx()).await;
            note(&format!(
                "# tether list: {} servers in {} ms; the slowest alone {} ms; each alone: max {} ms, sum {} ms",
                l.servers,
                num(l.all_ms),
                num(l.slowest_alone_ms),
                num(l.each_max_ms),
                num(Some(l.each_sum_ms))
            ));
            self.json.push(json!({"section": "list", "result": l}));
            self.list = Some(l);
        }
        let report = self.render(t0.elapsed());
        out(&report);
        if let Some(path) = &self.args.json_out {
            let text: String = self.json.iter().map(|v| format!("{v}\n")).collect();
            if let Err(e) = std::fs::write(path, text) {
                note(&format!("cannot write {}: {e}", path.display()));
            }
        }
        let failed = self.rows.iter().any(|r| r.report.error.is_some())
            || self.memory.iter().any(|m| m.error.is_some());
        self.scratch.keep = failed;
        i32::from(failed)
    }

    async fn floors(&mut self) {
        let me = self.me.clone();
        let (w, d) = (Duration::from_millis(300), Duration::from_secs(1));
        let tcp = tokio::task::spawn_blocking(move || floor::tcp(200, w, d)).await;
        let pipe = tokio::task::spawn_blocking(move || floor::pipe(&me, 200, w, d)).await;
        for r in [tcp, pipe].into_iter().flatten() {
            note(&r.human());
            self.json.push(json!({"section": "floor", "result": r}));
            self.floors.push(r);
        }
    }

    fn me_q(&self) -> String {
        sh_quote(&self.me.to_string_lossy())
    }

    fn tether_q(&self) -> String {
        sh_quote(&self.tether.to_string_lossy())
    }

    /// Runs `tether-bench load` as a child process and reads its JSON line.
    async fn load(&mut self, path: &str, c: usize, target: &[String], extra: &[String]) {
        let log = format!("load-{}-c{c}.log", slug(path));
        let mut args: Vec<String> = vec!["load".into()];
        args.extend_from_slice(target);
        args.extend_from_slice(extra);
        args.extend([
            "-c".into(),
            c.to_string(),
            "--duration".into(),
            self.args.duration.to_string(),
            "--warmup".into(),
            self.args.warmup.to_string(),
            "--call-timeout".into(),
            "10".into(),
            "--label".into(),
            path.into(),
        ]);
        let wait = Duration::from_secs_f64(self.args.duration + self.args.warmup + 90.0);
        let mut cmd = tokio::process::Command::new(&self.me);
        cmd.args(&args).stderr(self.scratch.log(&log));
        let report = match run_capture(&mut cmd, wait).await {
            Ok((_, _, stdout)) => String::from_utf8_lossy(&stdout)
                .lines()
                .find_map(|l| serde_json::from_str::<Report>(l).ok())
                .unwrap_or_else(|| {
                    failed(
                        path,
                        c,
                        format!("no report; log: {}", self.scratch.tail(&log, 5)),
                    )
                }),
            Err(e) => failed(
                path,
                c,
                format!("load: {e}; log: {}", self.scratch.tail(&log, 5)),
            ),
        };
        let mut report = report;
        if report.error.is_some() || report.errors > 0 {
            let tail = self.scratch.tail(&log, 3);
            if !tail.is_empty() {
                report.first_error = Some(format!(
                    "{} [log: {tail}]",
                    report.first_error.unwrap_or_default()
                ));
            }
        }
        note(&report.human());
        self.json
            .push(json!({"section": "path", "path": path, "result": report}));
        self.rows.push(Row {
            path: path.into(),
            report,
        });
    }

    async fn echo_http(&self, log: &str) -> Result<(Spawned, String), String> {
        start_announcing(
            &self.me,
            &["echo-server".into(), "--http".into(), "0".into()],
            "listening on",
            self.scratch.dir.join(log),
        )
        .await
    }

    async fn tether_http(
        &self,
        config: &Path,
        log: &str,
        extra: &[&str],
    ) -> Result<(Spawned, String), String> {
        let mut args = vec![
            "serve".into(),
            "--config".into(),
            config.to_string_lossy().into_owned(),
            "--http".into(),
            "127.0.0.1:0".into(),
            "--no-request-log".into(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        start_announcing(
            &self.tether,
            &args,
            "serving MCP on",
            self.scratch.dir.join(log),
        )
        .await
    }

    fn echo_entry(&self) -> Value {
        stdio_server(&self.me, &["echo-server", "--stdio"])
    }

    async fn paths(&mut self, c: usize) {
        let s = |x: &str| x.to_owned();
        // direct stdio
        let cmd = format!("{} echo-server --stdio", self.me_q());
        self.load(DIRECT_STDIO, c, &[s("--stdio-cmd"), cmd], &[])
            .await;

        // direct HTTP
        match self.echo_http(&format!("echo-http-c{c}.log")).await {
            Ok((sp, url)) => {
                let pid = sp.pid.to_string();
                self.load(
                    DIRECT_HTTP,
                    c,
                    &[s("--http"), url],
                    &[s("--watch-pid"), pid],
                )
                .await;
                sp.stop(Duration::ZERO).await;
            }
            Err(e) => self.push_failed(DIRECT_HTTP, c, e),
        }

        // tether HTTP front → stdio upstream, as configured by default and without busy-polling
        let stdio_cfg = self.scratch.write(
            "echo-stdio.json",
            &config(&[(s("echo"), self.echo_entry())]),
        );
        for (label, log, flags) in [
            (T_HTTP_STDIO, "tether-http", &[][..]),
            (
                T_HTTP_STDIO_NO_POLL,
                "tether-http-no-poll",
                &["--busy-poll-us", "0"][..],
            ),
        ] {
            let cfg = match &stdio_cfg {
                Ok(cfg) => cfg,
                Err(e) => {
                    self.push_failed(label, c, e.clone());
                    continue;
                }
            };
            match self
                .tether_http(cfg, &format!("{log}-c{c}.log"), flags)
                .await
            {
                Ok((sp, url)) => {
                    let pid = sp.pid.to_string();
                    let extra = [
                        s("--tool"),
                        s("echo__echo"),
                        s("--watch-pid"),
                        pid,
                        s("--connect-wait"),
                        s("10"),
                    ];
                    self.load(label, c, &[s("--http"), url], &extra).await;
                    sp.stop(Duration::ZERO).await;
                }
                Err(e) => self.push_failed(label, c, e),
            }
        }

        // tether stdio front → stdio upstream
        match &stdio_cfg {
            Ok(cfg) => {
                let cmd = format!(
                    "{} serve --config {} --no-request-log",
                    self.tether_q(),
                    sh_quote(&cfg.to_string_lossy())
                );
                self.load(
                    T_STDIO_STDIO,
                    c,
                    &[s("--stdio-cmd"), cmd],
                    &[s("--tool"), s("echo__echo")],
                )
                .await;
            }
            Err(e) => self.push_failed(T_STDIO_STDIO, c, e.clone()),
        }

        // tether stdio front → HTTP upstream
        match self.echo_http(&format!("echo-upstream-c{c}.log")).await {
            Ok((up, url)) => {
                let entry = json!({"type": "http", "url": url});
                match self.scratch.write(
                    &format!("echo-http-c{c}.json"),
                    &config(&[(s("echo"), entry)]),
                ) {
                    Ok(cfg) => {
                        let cmd = format!(
                            "{} serve --config {} --no-request-log",
                            self.tether_q(),
                            sh_quote(&cfg.to_string_lossy())
                        );
                        self.load(
                            T_STDIO_HTTP,
                            c,
                            &[s("--stdio-cmd"), cmd],
                            &[s("--tool"), s("echo__echo")],
                        )
                        .await;
                    }
                    Err(e) => self.push_failed(T_STDIO_HTTP, c, e),
                }
                up.stop(Duration::ZERO).await;
            }
            Err(e) => self.push_failed(T_STDIO_HTTP, c, e),
        }

        // rmcp pass-through (HTTP front → stdio upstream), when given
        if let Some(rp) = self.args.rmcp.clone() {
            let r = async {
                let port = free_port()?;
                let mut args: Vec<String> = self
                    .args
                    .rmcp_flags
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
                args.extend([
                    s("--http"),
                    format!("127.0.0.1:{port}"),
                    s("--"),
                    self.me.to_string_lossy().into_owned(),
                    s("echo-server"),
                    s("--stdio"),
                ]);
                let child = tokio::process::Command::new(&rp)
                    .args(&args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(self.scratch.log(&format!("rmcp-c{c}.log")))
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| format!("cannot start {}: {e}", rp.display()))?;
                let sp = Spawned::new(child)?;
                if !wait_port(port, Duration::from_secs(15)).await {
                    sp.stop(Duration::ZERO).await;
                    return Err("rmcp-proxy did not listen within 15 s".to_owned());
                }
                Ok((sp, format!("http://127.0.0.1:{port}/mcp")))
            }
            .await;
            let label = format!("{RMCP_HTTP_STDIO} ({})", self.args.rmcp_flags.trim());
            match r {
                Ok((sp, url)) => {
                    let pid = sp.pid.to_string();
                    self.load(
                        &label,
                        c,
                        &[s("--http"), url],
                        &[s("--watch-pid"), pid, s("--connect-wait"), s("10")],
                    )
                    .await;
                    sp.stop(Duration::ZERO).await;
                }
                Err(e) => self.push_failed(&label, c, e),
            }
        }
    }

    fn push_failed(&mut self, path: &str, c: usize, e: String) {
        let report = failed(path, c, e);
        note(&report.human());
        self.json
            .push(json!({"section": "path", "path": path, "result": report}));
        self.rows.push(Row {
            path: path.into(),
            report,
        });
    }

    fn ctx(&self) -> footprint::Ctx<'_> {
        footprint::Ctx {
            me: &self.me,
            tether: &self.tether,
            scratch: &self.scratch,
        }
    }

    fn render(&self, took: Duration) -> String {
        let mut s = String::new();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        s.push_str(&format!(
            "## tether-bench run\n\n{cpus} CPUs, Linux {}, unix time {stamp}; tether: `{}`; {} s per row after {} s warm-up; the whole run took {:.0} s.\n\n",
            kernel.trim(),
            self.tether.display(),
            self.args.duration,
            self.args.warmup,
            took.as_secs_f64()
        ));
        if !self.floors.is_empty() {
            s.push_str("### Floors (raw round trip, one in flight, no MCP)\n\n");
            let rows: Vec<Vec<String>> = self
                .floors
                .iter()
                .map(|r| {
                    vec![
                        r.label.clone(),
                        num(Some(r.calls_per_s)),
                        r.lat_us.p50.to_string(),
                        r.lat_us.p99.to_string(),
                    ]
                })
                .collect();
            s.push_str(&table::simple_table(
                &["floor", "round trips/s", "p50 µs", "p99 µs"],
                &rows,
            ));
            s.push('\n');
        }
        if !self.rows.is_empty() {
            s.push_str("### Paths (closed loop, tools/call echo with 64 B of text)\n\n");
            s.push_str(&table::rows_table(&self.rows));
            s.push('\n');
        }
        if !self.memory.is_empty() {
            s.push_str("### Memory: `tether serve` (stdio front), idle, N `tether chaos` upstreams connected\n\n");
            let rows: Vec<Vec<String>> = self
                .memory
                .iter()
                .map(|m| {
                    vec![
                        m.upstreams.to_string(),
                        format!("{}/{}", m.connected, m.upstreams),
                        num(Some(m.ready_ms)),
                        mib(Some(m.rss_kb)),
                        mib(Some(m.hwm_kb)),
                        m.error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            s.push_str(&table::simple_table(
                &[
                    "upstreams",
                    "connected",
                    "all listed after ms",
                    "RSS MiB",
                    "peak RSS MiB",
                    "note",
                ],
                &rows,
            ));
            let loaded: Vec<String> = [T_HTTP_STDIO, T_STDIO_STDIO, T_STDIO_HTTP]
                .iter()
                .filter_map(|p| {
                    let r = self
                        .rows
                        .iter()
                        .map(|r| &r.report)
                        .find(|r| r.label == *p && r.concurrency == 16 && r.error.is_none())?;
                    Some(format!("{p} {} MiB", mib(r.proxy_peak_rss_kb)))
                })
                .collect();
            if !loaded.is_empty() {
                s.push_str(&format!(
                    "\nUnder the 16-in-flight load (peak RSS of the gateway in the path rows): {}.\n",
                    loaded.join(", ")
                ));
            }
            s.push('\n');
        }
        if let Some(st) = &self.startup {
            s.push_str("### Startup: spawn → `initialize` answered (stdio front, 3 upstreams that take 2 s to initialize)\n\n");
            let runs: Vec<String> = st.runs.iter().map(|r| format!("{r:.1}")).collect();
            let rows = vec![vec![
                num(st.median_ms),
                runs.join(", "),
                num(st.echo_median_ms),
                st.errors.first().cloned().unwrap_or_default(),
            ]];
            s.push_str(&table::simple_table(
                &["median ms", "runs ms", "echo-server alone ms", "errors"],
                &rows,
            ));
            s.push('\n');
        }
        if let Some(l) = &self.list {
            s.push_str(
                "### `tether list` (19 quick `tether chaos` + 1 with `slow:initialize:1500`)\n\n",
            );
            let rows = vec![vec![
                num(l.all_ms),
                format!("{}/{}", l.all_connected, l.servers),
                num(l.slowest_alone_ms),
                num(l.each_max_ms),
                num(Some(l.each_sum_ms)),
                l.errors.first().cloned().unwrap_or_default(),
            ]];
            s.push_str(&table::simple_table(
                &[
                    "all 20, ms (median of 3)",
                    "connected",
                    "slowest alone, ms",
                    "max of each alone, ms",
                    "sum of each alone, ms",
                    "errors",
                ],
                &rows,
            ));
            s.push('\n');
        }
        s.push_str("### Goals (ratios from this run)\n\n");
        s.push_str(&table::goals_table(&goals::goals(
            &self.rows,
            &self.memory,
            self.startup.as_ref(),
            self.list.as_ref(),
            self.args.rmcp.is_some(),
        )));
        s
    }
}

fn failed(path: &str, c: usize, error: String) -> Report {
    Report {
        label: path.into(),
        concurrency: c,
        error: Some(error),
        ..Report::default()
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}
