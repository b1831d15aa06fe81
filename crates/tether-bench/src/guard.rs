//! Nothing left behind: every process this tool starts is registered here and ended with its
//! whole tree, by PID, when it is no longer needed, on every error path (on drop) and on Ctrl-C,
//! SIGTERM or SIGHUP.

use std::sync::Mutex;
use std::time::Duration;

use crate::procs;

/// Roots of the process trees we started and have not ended yet.
static ROOTS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Scratch directories to remove when interrupted.
static DIRS: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());

/// How long a tree gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(3);

fn roots() -> std::sync::MutexGuard<'static, Vec<u32>> {
    ROOTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Remembers a process we started.
pub fn register(pid: u32) {
    roots().push(pid);
}

/// Forgets a process (it was ended another way).
pub fn forget(pid: u32) {
    roots().retain(|p| *p != pid);
}

/// Remembers a scratch directory to remove if the run is interrupted.
pub fn register_dir(dir: &std::path::Path) {
    DIRS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(dir.to_path_buf());
}

/// Ends `pid`'s whole tree and forgets it.
pub fn end(pid: u32, grace: Duration) {
    procs::kill_tree(pid, grace);
    forget(pid);
}

/// Ends every registered tree.
pub fn end_all(grace: Duration) {
    let all: Vec<u32> = roots().clone();
    for pid in all.into_iter().rev() {
        end(pid, grace);
    }
}

/// Ends everything on SIGINT, SIGTERM or SIGHUP, then exits with 130. Call inside a runtime.
pub fn on_signals() {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async {
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        crate::note("interrupted: ending every process this run started");
        end_all(Duration::from_secs(1));
        for dir in DIRS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = std::fs::remove_dir_all(dir);
        }
        std::process::exit(130);
    });
}

/// A child process whose tree is ended when this is dropped.
#[derive(Debug)]
pub struct Spawned {
    /// Its PID (the root of the tree).
    pub pid: u32,
    /// The handle, kept so the child is reaped.
    pub child: Option<tokio::process::Child>,
}

impl Spawned {
    /// Takes over a freshly spawned child.
    pub fn new(child: tokio::process::Child) -> Result<Spawned, String> {
        let pid = child.id().ok_or("the child exited at once")?;
        register(pid);
        Ok(Spawned {
            pid,
            child: Some(child),
        })
    }

    /// Waits up to `wait` for the child to exit by itself (e.g. after its stdin closed), then
    /// ends whatever is left of its tree.
    pub async fn stop(mut self, wait: Duration) {
        // Descendants first: a parent that exits may leave them to init.
        let before = procs::tree(self.pid);
        if let Some(child) = self.child.as_mut() {
            let _ = tokio::time::timeout(wait, child.wait()).await;
        }
        procs::kill_tree(self.pid, GRACE);
        for p in before {
            let same =
                procs::read(p.pid).is_some_and(|now| now.start == p.start && now.state != 'Z');
            if p.pid != self.pid && same {
                // Orphans of the tree we started: reparented, but still ours.
                procs::kill_tree(p.pid, Duration::from_millis(500));
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
        }
        forget(self.pid);
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if self.child.is_some() {
            end(self.pid, GRACE);
        }
    }
}
