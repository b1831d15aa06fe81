//! The stdio transport: newline-delimited JSON-RPC on stdin/stdout, notes on stderr.
//!
//! One writer task owns stdout, so lines never interleave and each message is flushed on its
//! own. Injected exits go through the same task: everything already queued is written first,
//! then the process ends, which keeps "answer, then crash" orderings deterministic. At stdin
//! EOF, requests still running get a short grace to answer, then the process exits 0.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::behavior::{Session, noise_lines};
use crate::engine::{Control, Engine, Outgoing, Sink};
use crate::fault::Fault;
use crate::message::classify;

/// How long requests still running at stdin EOF may take to answer (clients wait about 2 s
/// after closing stdin before SIGTERM).
const EOF_GRACE: Duration = Duration::from_secs(1);

/// Writes one line to stderr (best effort: a closed stderr must not stop the server).
pub(crate) fn stderr_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// Serves stdin/stdout until stdin closes; returns the exit code (0).
pub(crate) async fn serve(
    engine: Arc<Engine>,
    control: mpsc::UnboundedReceiver<Control>,
) -> std::io::Result<i32> {
    let _cancel_tasks = engine.tasks.clone().drop_guard();
    let session = Session::new(Arc::clone(&engine));
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Outgoing>();
    let (finish_tx, finish_rx) = oneshot::channel::<()>();
    let writer = tokio::spawn(write_loop(out_rx, control, finish_rx));

    if let Some(lines) = engine.plan.fire(|f| match f {
        Fault::StdoutNoise { lines } => Some(*lines),
        _ => None,
    }) {
        for line in noise_lines(lines) {
            let _ = out_tx.send(Outgoing::Raw(line));
        }
    }
    forward_notifications(&engine, engine.subscribe(), out_tx.clone());

    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) => handle_line(&session, &line, &out_tx),
            Err(e) => {
                engine.note(format!("chaos: reading stdin failed: {e}"));
                break;
            }
        }
    }
    if engine.plan.fires(|f| matches!(f, Fault::IgnoreStdinEof)) {
        engine.note("chaos: stdin closed; staying alive (ignore-stdin-eof)");
        std::future::pending::<()>().await;
    }
    // `printf '...' | tether chaos` should still print its answers; a client that closed
    // stdin to stop us waits at most EOF_GRACE.
    session.wind_down(EOF_GRACE).await;
    let _ = finish_tx.send(());
    let _ = writer.await;
    Ok(0)
}

/// Sends `tools/list_changed` and friends to stdout.
fn forward_notifications(
    engine: &Engine,
    mut rx: broadcast::Receiver<serde_json::Value>,
    out: Sink,
) {
    engine.spawn(async move {
        loop {
            match rx.recv().await {
                Ok(message) => {
                    if out.send(Outgoing::Related(message)).is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

fn handle_line(session: &Arc<Session>, line: &[u8], out: &Sink) {
    let text = match std::str::from_utf8(line) {
        Ok(t) => t.trim(),
        Err(_) => {
            session
                .engine
                .note("chaos: skipping a stdin line that is not UTF-8");
            return;
        }
    };
    if text.is_empty() {
        return;
    }
    // Garbage is skipped, never answered: replying to noise can start an error storm.
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            session.engine.note(format!(
                "chaos: skipping a stdin line that is not JSON: {e}"
            ));
            return;
        }
    };
    if value.is_array() {
        session
            .engine
            .note("chaos: skipping a JSON-RPC batch (not supported)");
        return;
    }
    session.accept(classify(value), out);
}

/// Owns stdout: writes queued items, handles notes and exits, and drains on `finish`.
async fn write_loop(
    mut out: mpsc::UnboundedReceiver<Outgoing>,
    mut control: mpsc::UnboundedReceiver<Control>,
    mut finish: oneshot::Receiver<()>,
) {
    let mut stdout = tokio::io::stdout();
    let (mut out_open, mut control_open) = (true, true);
    loop {
        tokio::select! {
            // Queued output first: an exit requested after an answer must not swallow it.
            biased;
            item = out.recv(), if out_open => match item {
                Some(item) => write_item(&mut stdout, item).await,
                None => out_open = false,
            },
            event = control.recv(), if control_open => match event {
                Some(Control::Note(note)) => stderr_line(&note),
                Some(Control::Exit { code, message }) => {
                    drain(&mut out, &mut stdout).await;
                    stderr_line(&message);
                    std::process::exit(code);
                }
                None => control_open = false,
            },
            _ = &mut finish => {
                drain(&mut out, &mut stdout).await;
                while let Ok(event) = control.try_recv() {
                    if let Control::Note(note) = event {
                        stderr_line(&note);
                    }
                }
                return;
            }
        }
    }
}

async fn drain(out: &mut mpsc::UnboundedReceiver<Outgoing>, stdout: &mut tokio::io::Stdout) {
    while let Ok(item) = out.try_recv() {
        write_item(stdout, item).await;
    }
}

async fn write_item(stdout: &mut tokio::io::Stdout, item: Outgoing) {
    let line = match item {
        Outgoing::Raw(line) => line,
        Outgoing::Related(v) | Outgoing::Response(v) => v.to_string(),
    };
    let mut bytes = line.into_bytes();
    bytes.push(b'\n');
    // A closed stdout means the client went away; keep serving until stdin says so.
    if stdout.write_all(&bytes).await.is_ok() {
        let _ = stdout.flush().await;
    }
}
