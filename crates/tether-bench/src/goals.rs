//! The goals as ratios of figures from the same run, with pass/fail verdicts.

use crate::footprint::{ListTiming, Memory, Startup};
use crate::load::Report;
use crate::table::{Goal, Row, Verdict, mib, num, ratio};

/// Path names, as they appear in the table.
pub const DIRECT_STDIO: &str = "direct stdio (echo-server)";
pub const DIRECT_HTTP: &str = "direct HTTP (echo-server)";
pub const T_HTTP_STDIO: &str = "tether HTTP→stdio";
/// The same gateway with `--busy-poll-us 0`: what busy-polling buys, and what it costs.
pub const T_HTTP_STDIO_NO_POLL: &str = "tether (busy-poll off) HTTP→stdio";
pub const T_STDIO_STDIO: &str = "tether stdio→stdio";
pub const T_STDIO_HTTP: &str = "tether stdio→HTTP";
pub const RMCP_HTTP_STDIO: &str = "rmcp-proxy HTTP→stdio";

/// The good row of `path` at concurrency `c`.
fn row<'a>(rows: &'a [Row], path: &str, c: usize) -> Option<&'a Report> {
    rows.iter().map(|r| &r.report).find(|r| {
        r.label.starts_with(path) && r.concurrency == c && r.error.is_none() && r.calls > 0
    })
}

/// The goals, computed from one run.
pub fn goals(
    rows: &[Row],
    memory: &[Memory],
    startup: Option<&Startup>,
    list: Option<&ListTiming>,
    rmcp: bool,
) -> Vec<Goal> {
    let mut g = Vec::new();
    let cps = |p: &str, c| row(rows, p, c).map(|r| r.calls_per_s);
    let throughput = |id: &str, goal: &str, p: &str, base: &str, c: usize, min: f64| {
        let (a, b) = (cps(p, c), cps(base, c));
        match ratio(a, b) {
            Some(x) => Goal {
                id: id.into(),
                goal: goal.into(),
                measured: format!("{x:.2} × ({} / {} calls/s)", num(a), num(b)),
                verdict: Verdict::of(x >= min),
            },
            None => not_measured(id, goal),
        }
    };
    g.push(throughput(
        "1a",
        "HTTP→stdio, c=16: ≥ 0.6 × direct HTTP calls/s",
        T_HTTP_STDIO,
        DIRECT_HTTP,
        16,
        0.6,
    ));
    g.push(if rmcp {
        throughput(
            "1b",
            "HTTP→stdio, c=16: ≥ 2 × rmcp pass-through calls/s",
            T_HTTP_STDIO,
            RMCP_HTTP_STDIO,
            16,
            2.0,
        )
    } else {
        not_measured(
            "1b",
            "HTTP→stdio, c=16: ≥ 2 × rmcp pass-through calls/s (pass --rmcp PATH)",
        )
    });
    let lat = |id: &str, goal: &str, pick: fn(&Report) -> u32, max: f64| {
        let (a, b) = (
            row(rows, T_HTTP_STDIO, 1).map(pick),
            row(rows, DIRECT_HTTP, 1).map(pick),
        );
        match ratio(a.map(f64::from), b.map(f64::from)) {
            Some(x) => Goal {
                id: id.into(),
                goal: goal.into(),
                measured: format!("{x:.2} × ({} / {} µs)", a.unwrap_or(0), b.unwrap_or(0)),
                verdict: Verdict::of(x <= max),
            },
            None => not_measured(id, goal),
        }
    };
    g.push(lat(
        "2a",
        "HTTP→stdio, c=1: p50 ≤ 1.3 × direct HTTP p50",
        |r| r.lat_us.p50,
        1.3,
    ));
    g.push(lat(
        "2b",
        "HTTP→stdio, c=1: p99 ≤ 2 × direct HTTP p99",
        |r| r.lat_us.p99,
        2.0,
    ));
    g.push(throughput(
        "3",
        "stdio→stdio, c=16: ≥ 0.5 × direct stdio calls/s",
        T_STDIO_STDIO,
        DIRECT_STDIO,
        16,
        0.5,
    ));
    g.push(throughput(
        "4",
        "stdio→HTTP, c=16: ≥ 0.4 × direct HTTP calls/s",
        T_STDIO_HTTP,
        DIRECT_HTTP,
        16,
        0.4,
    ));

    let idle = |n: usize| {
        memory
            .iter()
            .find(|m| m.upstreams == n && m.error.is_none())
            .map(|m| m.rss_kb)
    };
    g.push(match idle(10) {
        Some(kb) => Goal {
            id: "5a".into(),
            goal: "RSS with 10 idle upstreams ≤ 15 MiB".into(),
            measured: format!("{} MiB", mib(Some(kb))),
            verdict: Verdict::of(kb <= 15 * 1024),
        },
        None => not_measured("5a", "RSS with 10 idle upstreams ≤ 15 MiB"),
    });
    let loaded: Vec<(&str, u64)> = [T_HTTP_STDIO, T_STDIO_STDIO, T_STDIO_HTTP]
        .iter()
        .filter_map(|p| {
            row(rows, p, 16)
                .and_then(|r| r.proxy_peak_rss_kb)
                .map(|k| (*p, k))
        })
        .collect();
    g.push(match loaded.iter().max_by_key(|x| x.1) {
        Some((p, kb)) => Goal {
            id: "5b".into(),
            goal: "peak RSS under the 16-in-flight load ≤ 25 MiB".into(),
            measured: format!("{} MiB (max over Tether's c=16 rows: {p})", mib(Some(*kb))),
            verdict: Verdict::of(*kb <= 25 * 1024),
        },
        None => not_measured("5b", "peak RSS under the 16-in-flight load ≤ 25 MiB"),
    });
    g.push(match (idle(1), idle(10), idle(100)) {
        (one, Some(ten), Some(hundred)) => {
            let per = (hundred as f64 - ten as f64) / 90.0;
            let low = one
                .map(|o| format!("; 1→10: {:.0} KiB each", (ten as f64 - o as f64) / 9.0))
                .unwrap_or_default();
            Goal {
                id: "5c".into(),
                goal: "≤ 100 KiB more RSS per additional idle upstream".into(),
                measured: format!("10→100: {per:.0} KiB each{low}"),
                verdict: Verdict::of(per <= 100.0),
            }
        }
        _ => not_measured("5c", "≤ 100 KiB more RSS per additional idle upstream"),
    });
    g.push(match startup.and_then(|s| s.median_ms.map(|m| (m, s))) {
        Some((m, s)) => Goal {
            id: "6".into(),
            goal: "stdio front answers initialize ≤ 20 ms after spawn, before upstreams are ready"
                .into(),
            measured: format!(
                "{} ms median of {} (upstreams need {} ms; echo-server alone {} ms)",
                num(Some(m)),
                s.runs.len(),
                s.upstream_init_ms,
                num(s.echo_median_ms)
            ),
            verdict: Verdict::of(m <= 20.0),
        },
        None => not_measured("6", "stdio front answers initialize ≤ 20 ms after spawn"),
    });
    g.push(match list.and_then(|l| Some((l.all_ms?, l.slowest_alone_ms?, l))) {
        Some((all, slow, l)) => Goal {
            id: "7".into(),
            goal: "`tether list` with 20 servers ≈ the slowest server's time (≤ 1.25 ×), not the sum".into(),
            measured: format!(
                "{:.2} × ({} ms vs slowest alone {} ms; sum of each alone {} ms; {}/20 connected)",
                all / slow,
                num(Some(all)),
                num(Some(slow)),
                num(Some(l.each_sum_ms)),
                l.all_connected
            ),
            verdict: Verdict::of(all <= 1.25 * slow && l.all_connected == l.servers),
        },
        None => not_measured("7", "`tether list` with 20 servers ≈ the slowest server's time"),
    });
    g
}

fn not_measured(id: &str, goal: &str) -> Goal {
    Goal {
        id: id.into(),
        goal: goal.into(),
        measured: "not measured".into(),
        verdict: Verdict::NotMeasured,
    }
}
