//! The stdio transport: a child process speaking newline-delimited JSON-RPC.
//!
//! The child runs in its own process group so shutdown reaches everything it started. Its stdout
//! is decoded as NDJSON (noise skipped and counted), its stderr kept in a 64 KiB ring and never
//! taken as an error, and its exit noticed at once: every pending request then fails with the
//! exit status and the stderr tail instead of hanging.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tether_proto::ndjson::{Frame, NdjsonDecoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot, watch};

use super::Sink;
use crate::error::{Error, ExitInfo};
use crate::sync::lock;

/// How much stderr is kept per server.
pub const STDERR_RING_BYTES: usize = 64 * 1024;
/// The longest stderr line kept whole.
const STDERR_LINE_MAX: usize = 8 * 1024;
/// How long to wait for the pipes to drain after the process exited.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(250);
/// Lines of stderr attached to errors.
pub const STDERR_TAIL_LINES: usize = 20;

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct StdioParams {
    /// The program (a path, or a name looked up on PATH).
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables merged over the inherited environment.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
}

/// The last 64 KiB of a server's stderr, by line.
#[derive(Debug, Default)]
pub struct StderrRing {
    lines: VecDeque<String>,
    bytes: usize,
}

impl StderrRing {
    fn push(&mut self, line: String) {
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.bytes > STDERR_RING_BYTES {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.len(),
                None => break,
            }
        }
    }

    /// The last `n` lines.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let skip = self.lines.len().saturating_sub(n);
        self.lines.iter().skip(skip).cloned().collect()
    }
}

enum WriterCmd {
    Send(Vec<u8>),
    Close,
}

/// Kills the whole process group when the last owner lets go without a graceful shutdown.
#[derive(Debug)]
struct GroupGuard {
    pgid: i32,
    exited: watch::Receiver<Option<ExitInfo>>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        // After an exit the supervisor already cleared the group; only a live one needs killing
        // (checking first avoids signalling a reused process group id much later).
        if self.exited.borrow().is_none() {
            let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        }
    }
}

/// A running stdio server.
#[derive(Debug)]
pub struct StdioTransport {
    writer: mpsc::UnboundedSender<WriterCmd>,
    guard: GroupGuard,
    stderr: Arc<Mutex<StderrRing>>,
    started: Instant,
}

impl std::fmt::Debug for WriterCmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriterCmd::Send(b) => write!(f, "Send({} bytes)", b.len()),
            WriterCmd::Close => f.write_str("Close"),
        }
    }
}

impl StdioTransport {
    /// Spawns the server and starts its reader, writer and supervisor tasks.
    pub(crate) fn spawn(params: &StdioParams, sink: Weak<dyn Sink>) -> Result<Self, Error> {
        let mut cmd = Command::new(&params.command);
        cmd.args(&params.args)
            .envs(params.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(cwd) = &params.cwd {
            cmd.current_dir(cwd);
        }
        let mut child = cmd.spawn().map_err(|source| spawn_error(params, source))?;
        let pid = child.id().unwrap_or(0) as i32;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(Error::Protocol("child pipes were not set up".into()));
        };
        let started = Instant::now();
        let (exit_tx, exit_rx) = watch::channel(None);
        let (writer_tx, writer_rx) = mpsc::unbounded_channel();
        let ring = Arc::new(Mutex::new(StderrRing::default()));

        tokio::spawn(write_loop(stdin, writer_rx));
        let (eof_tx, stdout_eof) = oneshot::channel();
        let stdout_done = tokio::spawn(read_stdout(stdout, sink.clone(), eof_tx));
        let stderr_done = tokio::spawn(read_stderr(stderr, ring.clone(), sink.clone()));
        tokio::spawn(supervise(
            child,
            Supervised {
                pgid: pid,
                started,
                exit_tx,
                ring: ring.clone(),
                sink,
                stdout_eof,
                stdout_done,
                stderr_done,
            },
        ));
        Ok(StdioTransport {
            writer: writer_tx,
            guard: GroupGuard {
                pgid: pid,
                exited: exit_rx,
            },
            stderr: ring,
            started,
        })
    }

    /// Queues one encoded message (a newline is appended).
    pub(crate) fn send(&self, mut bytes: Vec<u8>) -> Result<(), Error> {
        bytes.push(b'\n');
        self.writer
            .send(WriterCmd::Send(bytes))
            .map_err(|_| Error::Closed)
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.guard.pgid as u32
    }

    /// True while the process has not exited.
    pub fn is_running(&self) -> bool {
        self.guard.exited.borrow().is_none()
    }

    /// The last `n` lines of stderr.
    pub fn stderr_tail(&self, n: usize) -> Vec<String> {
        lock(&self.stderr).tail(n)
    }

    /// Time since spawn.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ends the server: close stdin → `grace` → SIGTERM to the group → `grace` → SIGKILL.
    pub(crate) async fn shutdown(&self, grace: Duration) {
        let _ = self.writer.send(WriterCmd::Close);
        let mut exited = self.guard.exited.clone();
        let pgid = Pid::from_raw(self.guard.pgid);
        if wait_exit(&mut exited, grace).await {
            let _ = killpg(pgid, Signal::SIGKILL);
            return;
        }
        tracing::debug!(
            pid = self.guard.pgid,
            "no exit after stdin closed; sending SIGTERM"
        );
        let _ = killpg(pgid, Signal::SIGTERM);
        if wait_exit(&mut exited, grace).await {
            let _ = killpg(pgid, Signal::SIGKILL);
            return;
        }
        tracing::debug!(
            pid = self.guard.pgid,
            "no exit after SIGTERM; sending SIGKILL"
        );
        let _ = killpg(pgid, Signal::SIGKILL);
        wait_exit(&mut exited, grace).await;
    }

    /// Kills the process group at once (a wedged server).
    pub(crate) fn kill(&self) {
        let _ = killpg(Pid::from_raw(self.guard.pgid), Signal::SIGKILL);
    }
}

async fn wait_exit(exited: &mut watch::Receiver<Option<ExitInfo>>, limit: Duration) -> bool {
    tokio::time::timeout(limit, exited.wait_for(Option::is_some))
        .await
        .is_ok_and(|r| r.is_ok())
}

async fn write_loop(mut stdin: ChildStdin, mut rx: mpsc::UnboundedReceiver<WriterCmd>) {
    // Grows with use; an idle server should not hold a big buffer.
    let mut batch = Vec::new();
    while let Some(cmd) = rx.recv().await {
        let mut close = false;
        match cmd {
            WriterCmd::Send(bytes) => batch.extend_from_slice(&bytes),
            WriterCmd::Close => close = true,
        }
        // Coalesce whatever else is queued into one write: one syscall under load.
        while !close && batch.len() < 1024 * 1024 {
            match rx.try_recv() {
                Ok(WriterCmd::Send(bytes)) => batch.extend_from_slice(&bytes),
                Ok(WriterCmd::Close) => close = true,
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            if let Err(e) = stdin.write_all(&batch).await {
                tracing::debug!(error = %e, "stdin write failed; the supervisor reports the exit");
                return;
            }
            batch.clear();
            if batch.capacity() > 256 * 1024 {
                batch.shrink_to(16 * 1024);
            }
        }
        if close {
            let _ = stdin.shutdown().await;
            return;
        }
    }
}

async fn read_stdout(
    mut stdout: impl AsyncRead + Unpin,
    sink: Weak<dyn Sink>,
    eof: oneshot::Sender<()>,
) {
    let mut decoder = NdjsonDecoder::default();
    // Small while the server is quiet (every idle server pays for it), doubled whenever a read
    // fills it, so a busy or chatty server is read in large chunks.
    let mut buf = vec![0u8; 4 * 1024];
    loop {
        let n = match stdout.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        if n == buf.len() && buf.len() < 256 * 1024 {
            buf.resize(buf.len() * 2, 0);
        }
        let Some(sink) = sink.upgrade() else { return };
        while let Some(frame) = decoder.next_frame() {
            deliver(&*sink, frame);
        }
    }
    if let (Some(frame), Some(sink)) = (decoder.finish(), sink.upgrade()) {
        deliver(&*sink, frame);
    }
    let _ = eof.send(());
}

fn deliver(sink: &dyn Sink, frame: Frame) {
    match frame {
        Frame::Message(m) => sink.on_message(m, None),
        Frame::Skipped(s) => sink.on_noise(s),
    }
}

async fn read_stderr(
    mut stderr: impl AsyncRead + Unpin,
    ring: Arc<Mutex<StderrRing>>,
    sink: Weak<dyn Sink>,
) {
    let mut buf = vec![0u8; 4 * 1024];
    let mut line = Vec::new();
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                emit_stderr(&mut line, &ring, &sink);
            } else if line.len() < STDERR_LINE_MAX {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        emit_stderr(&mut line, &ring, &sink);
    }
}

fn emit_stderr(line: &mut Vec<u8>, ring: &Mutex<StderrRing>, sink: &Weak<dyn Sink>) {
    let text = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned();
    line.clear();
    if let Some(sink) = sink.upgrade() {
        sink.on_stderr(&text);
    }
    lock(ring).push(text);
}

struct Supervised {
    pgid: i32,
    started: Instant,
    exit_tx: watch::Sender<Option<ExitInfo>>,
    ring: Arc<Mutex<StderrRing>>,
    sink: Weak<dyn Sink>,
    stdout_eof: oneshot::Receiver<()>,
    stdout_done: tokio::task::JoinHandle<()>,
    stderr_done: tokio::task::JoinHandle<()>,
}

async fn supervise(mut child: Child, s: Supervised) {
    let status = tokio::select! {
        status = child.wait() => status.ok(),
        _ = s.stdout_eof => {
            // stdout closed first: give the process a moment to exit on its own.
            match tokio::time::timeout(Duration::from_secs(1), child.wait()).await {
                Ok(status) => status.ok(),
                Err(_) => None,
            }
        }
    };
    let exit = status.map(|st| {
        use std::os::unix::process::ExitStatusExt;
        ExitInfo {
            code: st.code(),
            signal: st.signal(),
        }
    });
    if exit.is_none() {
        // Still running with stdout closed: it cannot talk to us any more.
        let _ = killpg(Pid::from_raw(s.pgid), Signal::SIGKILL);
        let _ = child.wait().await;
    }
    // Let the pipes drain so the last response and stderr lines are not lost.
    let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, async {
        let _ = s.stdout_done.await;
        let _ = s.stderr_done.await;
    })
    .await;
    // No orphans: whatever the server left running in its group goes with it.
    let _ = killpg(Pid::from_raw(s.pgid), Signal::SIGKILL);
    let real_exit = exit.unwrap_or(ExitInfo {
        code: None,
        signal: Some(Signal::SIGKILL as i32),
    });
    let _ = s.exit_tx.send(Some(real_exit));
    let error = Error::ProcessExited {
        exit,
        during_init: false,
        uptime: s.started.elapsed(),
        stderr_tail: lock(&s.ring).tail(STDERR_TAIL_LINES),
    };
    tracing::debug!(pid = s.pgid, %error, "stdio server ended");
    if let Some(sink) = s.sink.upgrade() {
        sink.on_closed(error);
    }
}

/// Builds the spawn error, with the path that was searched.
fn spawn_error(params: &StdioParams, source: std::io::Error) -> Error {
    let path_var = params
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    let reason = match source.kind() {
        std::io::ErrorKind::NotFound if params.command.contains('/') => {
            match params.cwd.as_deref() {
                Some(cwd) if Path::new(&params.command).is_relative() => {
                    format!("no such file (relative to {})", cwd.display())
                }
                _ => "no such file".to_owned(),
            }
        }
        std::io::ErrorKind::NotFound => match &params.cwd {
            Some(cwd) if !cwd.is_dir() => {
                format!("working directory {} does not exist", cwd.display())
            }
            _ => "not found on PATH".to_owned(),
        },
        std::io::ErrorKind::PermissionDenied => "permission denied (not executable?)".to_owned(),
        _ => source.to_string(),
    };
    Error::Spawn {
        command: params.command.clone(),
        reason,
        path_var,
        source: Arc::new(source),
    }
}

/// Where a command resolves on PATH, for diagnostics.
pub fn resolve_command(command: &str, path_var: &str, cwd: Option<&Path>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if command.contains('/') {
        let p = match cwd {
            Some(cwd) => cwd.join(command),
            None => PathBuf::from(command),
        };
        return executable(&p).then_some(p);
    }
    std::env::split_paths(path_var)
        .map(|dir| dir.join(command))
        .find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_ring_keeps_the_last_64k() {
        let mut ring = StderrRing::default();
        for i in 0..20_000 {
            ring.push(format!("line {i:05}"));
        }
        assert!(ring.bytes <= STDERR_RING_BYTES);
        assert_eq!(ring.tail(2), ["line 19998", "line 19999"]);
    }

    #[test]
    fn resolves_commands_on_path() {
        assert!(resolve_command("sh", "/usr/bin:/bin", None).is_some());
        assert!(resolve_command("definitely-not-a-command-xyz", "/usr/bin:/bin", None).is_none());
        assert!(resolve_command("/bin/sh", "", None).is_some());
    }
}
