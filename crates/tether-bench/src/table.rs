//! Markdown rendering of a run: one row per path and concurrency, small tables for memory,
//! startup and `tether list`, and the goals with their ratios and verdicts.

use crate::load::Report;

/// One measured path at one concurrency.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was measured, e.g. `tether HTTP→stdio`.
    pub path: String,
    /// The load's report.
    pub report: Report,
}

/// A goal's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Met.
    Pass,
    /// Missed.
    Fail,
    /// Not measured in this run (or a row failed).
    NotMeasured,
}

impl Verdict {
    /// Pass when `ok`, else fail.
    pub fn of(ok: bool) -> Verdict {
        if ok { Verdict::Pass } else { Verdict::Fail }
    }

    fn mark(self) -> &'static str {
        match self {
            Verdict::Pass => "✔ pass",
            Verdict::Fail => "✘ FAIL",
            Verdict::NotMeasured => "– not measured",
        }
    }
}

/// One goal of the issue, as measured.
#[derive(Clone, Debug)]
pub struct Goal {
    /// `1a`, `1b`, `2a`, ...
    pub id: String,
    /// What it asks.
    pub goal: String,
    /// What this run measured (the ratio and the figures behind it).
    pub measured: String,
    /// Met or not.
    pub verdict: Verdict,
}

/// A number for a table: no decimals from 100 up, one below; `–` for none.
pub fn num(x: Option<f64>) -> String {
    match x {
        Some(x) if !x.is_finite() => "–".into(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "–".into(),
    }
}

/// KiB as MiB with one decimal.
pub fn mib(kb: Option<u64>) -> String {
    kb.map_or_else(|| "–".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The main table: one row per path and concurrency.
pub fn rows_table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| path | c | calls/s | p50 µs | p99 µs | proxy CPU µs/call | proxy peak RSS MiB | echo-server CPU µs/call | client CPU µs/call | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for row in rows {
        let r = &row.report;
        if let Some(e) = &r.error {
            s.push_str(&format!(
                "| {} | {} | – | – | – | – | – | – | – | failed: {} |\n",
                cell(&row.path),
                r.concurrency,
                cell(e)
            ));
            continue;
        }
        let shown = |on: bool, v: String| if on { v } else { "–".to_owned() };
        let proxy = r.proxy_procs.is_some_and(|n| n > 0);
        let echo = r.echo_procs.is_some_and(|n| n > 0);
        let errors = match (&r.first_error, r.errors) {
            (Some(e), n) if n > 0 => {
                let e: String = e.chars().take(80).collect();
                format!("{n} ({})", cell(&e))
            }
            (_, n) => n.to_string(),
        };
        let cells = [
            cell(&row.path),
            r.concurrency.to_string(),
            num(Some(r.calls_per_s)),
            r.lat_us.p50.to_string(),
            r.lat_us.p99.to_string(),
            shown(proxy, num(r.proxy_cpu_us_per_call)),
            shown(proxy, mib(r.proxy_peak_rss_kb)),
            shown(echo, num(r.echo_cpu_us_per_call)),
            num(Some(r.client_cpu_us_per_call)),
            errors,
        ];
        s.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    s
}

/// A two-or-more-column table with a header.
pub fn simple_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n", header.join(" | "));
    s.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        s.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    s
}

/// The goals with their verdicts.
pub fn goals_table(goals: &[Goal]) -> String {
    let rows: Vec<Vec<String>> = goals
        .iter()
        .map(|g| {
            vec![
                g.id.clone(),
                g.goal.clone(),
                g.measured.clone(),
                g.verdict.mark().to_owned(),
            ]
        })
        .collect();
    simple_table(&["#", "goal", "measured (this run)", "verdict"], &rows)
}

/// `a / b` when both are there and `b` is not zero.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Summary;

    fn report(label: &str, c: usize, cps: f64) -> Report {
        Report {
            label: label.into(),
            transport: "http".into(),
            concurrency: c,
            ok: true,
            calls: 1000,
            calls_per_s: cps,
            lat_us: Summary {
                n: 1000,
                min: 50,
                p50: 80,
                p90: 95,
                p99: 120,
                max: 300,
                mean: 82.5,
            },
            client_cpu_us_per_call: 12.34,
            proxy_cpu_us_per_call: Some(45.67),
            proxy_peak_rss_kb: Some(10 * 1024 + 512),
            proxy_procs: Some(1),
            ..Report::default()
        }
    }

    #[test]
    fn renders_rows() {
        let rows = vec![
            Row {
                path: "tether HTTP→stdio".into(),
                report: report("x", 16, 12345.67),
            },
            Row {
                path: "direct | stdio".into(),
                report: Report {
                    proxy_procs: Some(0),
                    echo_procs: Some(1),
                    echo_cpu_us_per_call: Some(1.54),
                    ..report("y", 1, 99.94)
                },
            },
            Row {
                path: "broken".into(),
                report: Report {
                    error: Some("connect refused".into()),
                    concurrency: 1,
                    ..Report::default()
                },
            },
        ];
        let t = rows_table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[2],
            "| tether HTTP→stdio | 16 | 12346 | 80 | 120 | 45.7 | 10.5 | – | 12.3 | 0 |"
        );
        assert_eq!(
            lines[3],
            "| direct \\| stdio | 1 | 99.9 | 80 | 120 | – | – | 1.5 | 12.3 | 0 |"
        );
        assert!(lines[4].contains("failed: connect refused"));
    }

    #[test]
    fn renders_goals_and_numbers() {
        let t = goals_table(&[
            Goal {
                id: "1a".into(),
                goal: "≥ 0.6 × direct".into(),
                measured: "0.71 ×".into(),
                verdict: Verdict::of(true),
            },
            Goal {
                id: "1b".into(),
                goal: "≥ 2 × rmcp".into(),
                measured: "not measured".into(),
                verdict: Verdict::NotMeasured,
            },
        ]);
        assert!(t.starts_with("| # | goal | measured (this run) | verdict |\n|---|---|---|---|\n"));
        assert!(t.contains("| 1a | ≥ 0.6 × direct | 0.71 × | ✔ pass |"));
        assert!(t.contains("– not measured"));
        assert_eq!(num(Some(1234.5)), "1234");
        assert_eq!(num(Some(12.345)), "12.3");
        assert_eq!(num(None), "–");
        assert_eq!(mib(Some(15 * 1024)), "15.0");
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
    }
}
