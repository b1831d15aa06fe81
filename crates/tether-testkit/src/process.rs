//! Process-level faults applied once at start: `exit-at-start`, `stderr-noise`,
//! `ignore-sigterm` and `spawn-child`. They only make sense for a real `tether chaos` process,
//! so the in-process [`serve_http`](crate::serve_http) applies none of them except
//! `exit-at-start`.

use std::io;
use std::process::Stdio;

use tokio::signal::unix::{SignalKind, signal};

use crate::engine::Engine;
use crate::fault::Fault;
use crate::plan::FaultPlan;
use crate::stdio::stderr_line;

/// Default message of `exit-at-start`.
const EXIT_AT_START_MESSAGE: &str = "chaos: exiting at start";

/// `exit-at-start`: the code and stderr line, if this start should fail.
pub(crate) fn exit_at_start(plan: &FaultPlan) -> Option<(i32, String)> {
    plan.fire(|f| match f {
        Fault::ExitAtStart { code, message } => Some((
            *code,
            message
                .clone()
                .unwrap_or_else(|| EXIT_AT_START_MESSAGE.to_owned()),
        )),
        _ => None,
    })
}

/// `stderr-noise:N`: informational lines a chatty server writes while starting.
pub(crate) fn stderr_noise(plan: &FaultPlan) {
    let Some(lines) = plan.fire(|f| match f {
        Fault::StderrNoise { lines } => Some(*lines),
        _ => None,
    }) else {
        return;
    };
    const LINES: [&str; 4] = [
        "INFO  chaos: loading configuration",
        "INFO  chaos: warming caches",
        "DEBUG chaos: registering handlers",
        "INFO  chaos: ready to serve",
    ];
    for i in 0..lines {
        stderr_line(&format!(
            "{} ({}/{lines})",
            LINES[i as usize % LINES.len()],
            i + 1
        ));
    }
}

/// `ignore-sigterm`: once a tokio handler is registered, SIGTERM no longer terminates the
/// process; this task just says so on stderr each time one arrives.
pub(crate) fn ignore_sigterm(engine: &Engine) -> io::Result<()> {
    if !engine.plan.fires(|f| matches!(f, Fault::IgnoreSigterm)) {
        return Ok(());
    }
    let mut terms = signal(SignalKind::terminate())?;
    engine.spawn(async move {
        while terms.recv().await.is_some() {
            stderr_line("chaos: ignoring SIGTERM (ignore-sigterm)");
        }
    });
    Ok(())
}

/// `spawn-child`: a grandchild in our process group that outlives us unless the client kills
/// the whole group. Its stdio is detached so it cannot hold the client's pipes open.
pub(crate) fn spawn_child(plan: &FaultPlan) -> io::Result<()> {
    if !plan.fires(|f| matches!(f, Fault::SpawnChild)) {
        return Ok(());
    }
    let child = tokio::process::Command::new("sleep")
        .arg("3600")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(false)
        .spawn()?;
    match child.id() {
        Some(pid) => stderr_line(&format!("chaos: child pid {pid}")),
        None => stderr_line("chaos: child exited at once"),
    }
    // Dropping the handle neither kills nor waits: the grandchild is deliberately left behind.
    drop(child);
    Ok(())
}
