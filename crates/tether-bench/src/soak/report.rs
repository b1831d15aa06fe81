//! The soak run's summary: outcomes by upstream, the fast upstream's latency by window (with
//! and without a kill), the kills and the flaky upstream's states, the gateway's RSS over time,
//! and the verdict, as markdown and as one JSON line.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Kill, OUTCOMES, Rec, Sample, UPSTREAMS};
use crate::SoakArgs;
use crate::stats::{Summary, median};

/// How long after a kill the fast upstream's calls count as "near the kill".
const NEAR_KILL_MS: u64 = 2000;

/// The rendered summary.
pub(super) struct SoakReport {
    pub(super) text: String,
    pub(super) json: Value,
    pub(super) pass: bool,
}

/// Reads the records, kills and samples of a run.
pub(super) fn analyse(
    args: &SoakArgs,
    recs: &[Rec],
    examples: &BTreeMap<(u8, u8), String>,
    kills: &[Kill],
    samples: &[Sample],
    elapsed: Duration,
) -> SoakReport {
    let mut text = String::new();
    let total = recs.len() as u64;
    let mut by_outcome = [0u64; OUTCOMES.len()];
    for r in recs {
        by_outcome[r.outcome as usize] += 1;
    }
    let lost = by_outcome[5] + by_outcome[6];
    let dup = by_outcome[7];
    let limit_us = (args.upstream_timeout_ms + 1000) * 1000;
    let late = recs
        .iter()
        .filter(|r| r.outcome != 5 && r.outcome != 6 && u64::from(r.lat_us) > limit_us)
        .count() as u64;
    let missing = args.calls.saturating_sub(total);

    text.push_str(&format!(
        "## tether-bench soak\n\n{total} calls in {:.1} s ({:.0}/s), {} in flight; flaky upstream killed every {} s; slow upstream {} ms; gateway timeout {} ms per call, client timeout {} s.\n\n",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64().max(0.001),
        args.concurrency,
        args.kill_every,
        args.slow_ms,
        args.upstream_timeout_ms,
        args.call_timeout
    ));

    // Outcomes by upstream.
    text.push_str("### Calls by upstream and outcome\n\n| upstream | calls | ok | clear errors | lost | dup/foreign | late | p50 µs | p99 µs | max µs | first error |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    let mut per_upstream = Vec::new();
    for (u, name) in UPSTREAMS.iter().enumerate() {
        let mine: Vec<&Rec> = recs.iter().filter(|r| r.upstream as usize == u).collect();
        let count = |f: &dyn Fn(&Rec) -> bool| mine.iter().filter(|r| f(r)).count();
        let ok = count(&|r| r.outcome == 0);
        let clear = count(&|r| (1..=4).contains(&r.outcome));
        let lost_u = count(&|r| r.outcome == 5 || r.outcome == 6);
        let dup_u = count(&|r| r.outcome == 7);
        let late_u = count(&|r| r.outcome != 5 && r.outcome != 6 && u64::from(r.lat_us) > limit_us);
        let mut lats: Vec<u32> = mine
            .iter()
            .filter(|r| r.outcome == 0)
            .map(|r| r.lat_us)
            .collect();
        let s = Summary::of(&mut lats);
        let first = (1u8..8)
            .find_map(|k| {
                examples
                    .get(&(u as u8, k))
                    .map(|e| format!("{}: {e}", OUTCOMES[k as usize]))
            })
            .unwrap_or_default();
        let first: String = first.chars().take(160).collect();
        text.push_str(&format!(
            "| {name} | {} | {ok} | {clear} | {lost_u} | {dup_u} | {late_u} | {} | {} | {} | {} |\n",
            mine.len(),
            s.p50,
            s.p99,
            s.max,
            first.replace('|', "\\|").replace('\n', " ")
        ));
        per_upstream.push(json!({"upstream": name, "calls": mine.len(), "ok": ok, "clear_errors": clear,
            "lost": lost_u, "duplicate_or_foreign": dup_u, "late": late_u, "lat_us": s, "first_error": first}));
    }
    let kinds: Vec<String> = OUTCOMES
        .iter()
        .zip(by_outcome)
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    text.push_str(&format!("\nOutcomes: {}.\n\n", kinds.join(", ")));

    // Fast upstream latency: by window over time, and right after kills against the rest.
    let window_ms = (args.window * 1000.0).max(1.0) as u64;
    let windows = (elapsed.as_millis() as u64).div_ceil(window_ms).max(1) as usize;
    let kill_times: Vec<u64> = kills
        .iter()
        .filter(|k| k.skipped.is_none())
        .map(|k| k.t_ms)
        .collect();
    let near_kill = |t: u64| {
        let i = kill_times.partition_point(|&k| k <= t);
        i > 0 && t < kill_times[i - 1] + NEAR_KILL_MS
    };
    let mut buckets: Vec<(usize, usize, Vec<u32>)> = vec![(0, 0, Vec::new()); windows];
    let (mut near, mut away) = (Vec::new(), Vec::new());
    for r in recs.iter().filter(|r| r.upstream == 0) {
        let t = u64::from(r.t_ms);
        let b = &mut buckets[((t / window_ms) as usize).min(windows - 1)];
        b.0 += 1;
        if r.outcome != 0 {
            b.1 += 1;
            continue;
        }
        b.2.push(r.lat_us);
        if near_kill(t) {
            near.push(r.lat_us);
        } else {
            away.push(r.lat_us);
        }
    }
    text.push_str(&format!(
        "### Fast upstream by {} s window (✱ = the flaky upstream was killed in it)\n\n| window | kill | calls | errors | p50 µs | p99 µs | max µs |\n|---|---|---:|---:|---:|---:|---:|\n",
        args.window
    ));
    let mut window_json = Vec::new();
    for (w, (calls, errors, lats)) in buckets.iter_mut().enumerate() {
        let (lo, hi) = (w as u64 * window_ms, (w as u64 + 1) * window_ms);
        let killed = kill_times.iter().any(|&k| k >= lo && k < hi);
        let s = Summary::of(lats);
        text.push_str(&format!(
            "| {}–{} s | {} | {calls} | {errors} | {} | {} | {} |\n",
            lo / 1000,
            hi / 1000,
            if killed { "✱" } else { "" },
            s.p50,
            s.p99,
            s.max
        ));
        window_json.push(json!({"from_s": lo / 1000, "kill": killed, "calls": calls, "errors": errors, "lat_us": s}));
    }
    let (near, away) = (Summary::of(&mut near), Summary::of(&mut away));
    let p99_ratio =
        (near.n >= 100 && away.p99 > 0).then(|| f64::from(near.p99) / f64::from(away.p99));
    let fast_errors = recs
        .iter()
        .filter(|r| r.upstream == 0 && r.outcome != 0)
        .count();
    text.push_str(&format!(
        "\nFast upstream in the {} s after each kill: {} calls, p50 {} µs, p99 {} µs; the rest of the run: {} calls, p50 {} µs, p99 {} µs ({}); fast-upstream errors: {fast_errors}.\n\n",
        NEAR_KILL_MS / 1000,
        near.n,
        near.p50,
        near.p99,
        away.n,
        away.p50,
        away.p99,
        p99_ratio.map_or("too few calls near a kill to compare".to_owned(), |r| format!("p99 ratio {r:.2}"))
    ));

    // Kills and the flaky upstream's states.
    let done: Vec<&Kill> = kills.iter().filter(|k| k.skipped.is_none()).collect();
    let skipped: Vec<String> = kills
        .iter()
        .filter_map(|k| {
            k.skipped.as_ref().map(|s| {
                let s: String = s.chars().take(120).collect();
                format!("{} s: {}", k.t_ms / 1000, s.replace('\n', " "))
            })
        })
        .collect();
    let mut state_counts: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples {
        if let Some((_, st)) = s.states.iter().find(|(n, _)| n == "flaky") {
            *state_counts.entry(st.clone()).or_default() += 1;
        }
    }
    let n_states: usize = state_counts.values().sum();
    let states: Vec<String> = state_counts
        .iter()
        .map(|(k, v)| format!("{k} {:.0} %", *v as f64 * 100.0 / n_states.max(1) as f64))
        .collect();
    let others_ok = samples.iter().all(|s| {
        s.states
            .iter()
            .filter(|(n, _)| n != "flaky")
            .all(|(_, st)| st == "connected")
    });
    text.push_str(&format!(
        "### Kills\n\n{} kills of the flaky upstream, {} skipped{}. Flaky upstream's state over the run (sampled each second): {}. Restarts reported by the gateway at the end: {}. The other upstreams stayed connected in every sample: {}.\n\n",
        done.len(),
        skipped.len(),
        if skipped.is_empty() { String::new() } else { format!(" ({})", skipped.iter().take(5).cloned().collect::<Vec<_>>().join("; ")) },
        if states.is_empty() { "not sampled".to_owned() } else { states.join(", ") },
        samples.last().map_or(0, |s| s.restarts),
        if others_ok { "yes" } else { "no" }
    ));

    // RSS.
    let rss: Vec<(u64, u64)> = samples
        .iter()
        .filter(|s| s.rss_kb > 0)
        .map(|s| (s.t_ms, s.rss_kb))
        .collect();
    let quarter = |q: usize| -> Option<f64> {
        let n = rss.len();
        if n < 4 {
            return None;
        }
        let part: Vec<f64> = rss[n * q / 4..n * (q + 1) / 4]
            .iter()
            .map(|x| x.1 as f64)
            .collect();
        median(&part)
    };
    let (q2, q4) = (quarter(1), quarter(3));
    let growth = match (q2, q4) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a - 1.0),
        _ => None,
    };
    let flat = growth.is_none_or(|g| g <= 0.10);
    let min = rss.iter().map(|x| x.1).min().unwrap_or(0);
    let max = rss.iter().map(|x| x.1).max().unwrap_or(0);
    let last = rss.last().map_or(0, |x| x.1);
    let series: Vec<String> = rss
        .iter()
        .step_by((rss.len() / 12).max(1))
        .map(|(t, k)| format!("{}s:{:.1}", t / 1000, *k as f64 / 1024.0))
        .collect();
    text.push_str(&format!(
        "### Gateway RSS (sampled each second)\n\nmin {:.1} MiB, max {:.1} MiB, last {:.1} MiB; median of the 2nd quarter {} MiB vs the last quarter {} MiB ({}). Series (MiB): {}.\n\n",
        min as f64 / 1024.0,
        max as f64 / 1024.0,
        last as f64 / 1024.0,
        q2.map_or("–".into(), |v| format!("{:.1}", v / 1024.0)),
        q4.map_or("–".into(), |v| format!("{:.1}", v / 1024.0)),
        growth.map_or("too short to tell".into(), |g| format!("{:+.1} %", g * 100.0)),
        series.join(" ")
    ));

    let latency_ok = p99_ratio.is_none_or(|r| r <= 1.5);
    let checks = [
        (
            "the flaky upstream was killed at least once (else: more --calls or a shorter --kill-every)",
            !done.is_empty(),
        ),
        ("every call answered (none lost)", lost == 0 && missing == 0),
        ("none duplicated or foreign", dup == 0),
        ("none later than the gateway's timeout + 1 s", late == 0),
        ("fast upstream: no errors", fast_errors == 0),
        (
            "fast upstream p99 in the 2 s after a kill ≤ 1.5 × the rest of the run",
            latency_ok,
        ),
        ("RSS flat (last quarter ≤ 1.10 × second quarter)", flat),
    ];
    text.push_str("### Verdict\n\n");
    for (what, ok) in checks {
        text.push_str(&format!("- {} {what}\n", if ok { "✔" } else { "✘" }));
    }
    let pass = checks.iter().all(|c| c.1);
    text.push_str(&format!("\n{}\n", if pass { "PASS" } else { "FAIL" }));

    let json = json!({
        "soak": {
            "calls": total, "elapsed_s": elapsed.as_secs_f64(), "concurrency": args.concurrency,
            "outcomes": OUTCOMES.iter().zip(by_outcome).map(|(k, n)| ((*k).to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "lost": lost, "missing": missing, "duplicate_or_foreign": dup, "late": late,
            "per_upstream": per_upstream, "fast_windows": window_json,
            "fast_near_kill": near, "fast_away": away, "fast_p99_near_kill_vs_rest": p99_ratio,
            "kills": done.len(), "kills_skipped": skipped.len(), "flaky_states": state_counts,
            "rss_kb": {"min": min, "max": max, "last": last, "growth": growth},
            "pass": pass,
        }
    });
    SoakReport { text, json, pass }
}
