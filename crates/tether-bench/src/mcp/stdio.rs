//! MCP over stdio to a spawned server: many requests in flight on one connection, matched by
//! id; requests from the server are answered, notifications and log lines skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, oneshot};

use super::{CallError, Head, id_of, next_id, notification_json, request_json};
use crate::guard::Spawned;

/// One stdio connection to a spawned server; many requests in flight, matched by id.
#[derive(Debug)]
pub struct StdioConn {
    pending: Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    /// Answers whose id nobody waited for.
    pub foreign: AtomicU64,
}

impl StdioConn {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Vec<u8>>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a request and waits for its answer (the raw message).
    pub async fn request(
        &self,
        method: &str,
        params_json: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, CallError> {
        let id = next_id();
        let (tx, rx) = oneshot::channel();
        self.pending().insert(id, tx);
        let mut line = request_json(id, method, params_json).into_bytes();
        line.push(b'\n');
        if self.tx.send(line).is_err() {
            self.pending().remove(&id);
            return Err(CallError::Transport("stdin closed".into()));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(msg)) => Ok(msg),
            Ok(Err(_)) => Err(CallError::Transport("the server closed stdout".into())),
            Err(_) => {
                self.pending().remove(&id);
                Err(CallError::Timeout)
            }
        }
    }

    /// Sends a notification.
    pub fn notify(&self, method: &str) -> Result<(), CallError> {
        let mut line = notification_json(method).into_bytes();
        line.push(b'\n');
        self.tx
            .send(line)
            .map_err(|_| CallError::Transport("stdin closed".into()))
    }

    fn deliver(&self, line: &[u8], reply: &mpsc::WeakUnboundedSender<Vec<u8>>) {
        let Ok(head) = serde_json::from_slice::<Head<'_>>(line) else {
            return; // not JSON-RPC: a log line
        };
        if let Some(method) = head.method.as_deref() {
            if let (Some(id), Some(tx)) = (head.id, reply.upgrade()) {
                let mut answer = answer_server_request(id, method);
                answer.push(b'\n');
                let _ = tx.send(answer);
            }
            return;
        }
        let waiter = id_of(head.id).and_then(|id| self.pending().remove(&id));
        match waiter {
            Some(w) => {
                let _ = w.send(line.to_vec());
            }
            None => {
                self.foreign.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Spawns `sh -c "exec CMD"` with piped stdin/stdout (stderr goes where `stderr` says) and
/// connects to it.
pub fn spawn_stdio(
    cmd: &str,
    stderr: std::process::Stdio,
) -> Result<(Arc<StdioConn>, Spawned), String> {
    spawn_stdio_argv("sh", &["-c".to_owned(), format!("exec {cmd}")], stderr)
}

/// Spawns `program ARGS…` directly (no shell) and connects to it on stdio.
pub fn spawn_stdio_argv(
    program: &str,
    args: &[String],
    stderr: std::process::Stdio,
) -> Result<(Arc<StdioConn>, Spawned), String> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin pipe")?;
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let spawned = Spawned::new(child)?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let conn = Arc::new(StdioConn {
        pending: Mutex::new(HashMap::new()),
        tx,
        foreign: AtomicU64::new(0),
    });
    tokio::spawn(async move {
        let mut w = BufWriter::with_capacity(1 << 16, stdin);
        while let Some(buf) = rx.recv().await {
            if w.write_all(&buf).await.is_err() {
                return;
            }
            while let Ok(more) = rx.try_recv() {
                if w.write_all(&more).await.is_err() {
                    return;
                }
            }
            if w.flush().await.is_err() {
                return;
            }
        }
        let _ = w.shutdown().await;
    });
    // Weak: the reader must not keep the child's stdin open once every user is gone.
    let reply = conn.tx.downgrade();
    let weak = Arc::downgrade(&conn);
    tokio::spawn(async move {
        let mut r = BufReader::with_capacity(1 << 16, stdout);
        let mut line = Vec::with_capacity(4096);
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let Some(conn) = weak.upgrade() else { break };
            conn.deliver(&line, &reply);
        }
        if let Some(conn) = weak.upgrade() {
            conn.pending().clear();
        }
    });
    Ok((conn, spawned))
}

/// The answer to a server→client request (we declare no capabilities, but answer politely).
fn answer_server_request(id: &RawValue, method: &str) -> Vec<u8> {
    let body = match method {
        "ping" => r#""result":{}"#.to_owned(),
        "roots/list" => r#""result":{"roots":[]}"#.to_owned(),
        _ => r#""error":{"code":-32601,"message":"not supported by tether-bench"}"#.to_owned(),
    };
    format!(r#"{{"jsonrpc":"2.0","id":{},{body}}}"#, id.get()).into_bytes()
}
