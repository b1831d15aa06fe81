//! Starting and ending the processes a run measures: the `tether` binary, a scratch directory
//! for configurations and logs, Claude-Code-style configuration files, servers that announce
//! their address on stderr, and bounded runs of one-shot commands. Everything started here is
//! registered with the guard, so it ends with its whole tree.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::guard::Spawned;
use crate::{note, procs};

/// Quotes a word for `sh`.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The `tether` binary: the given one, else the one next to this binary.
pub fn find_tether(given: Option<&Path>) -> Result<PathBuf, String> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find my own binary: {e}"))?
            .with_file_name("tether"),
    };
    if procs::is_executable(&path) {
        Ok(path)
    } else {
        Err(format!(
            "no `tether` binary at {} (build it with `cargo build --release -p tether-cli -p tether-bench`, or pass --tether PATH)",
            path.display()
        ))
    }
}

/// A scratch directory for configurations and logs, removed at the end.
#[derive(Debug)]
pub struct Scratch {
    /// Its path.
    pub dir: PathBuf,
    /// Keep it (a row failed: its logs are there).
    pub keep: bool,
}

impl Scratch {
    /// Creates `$TMPDIR/tether-bench-<what>-<pid>`.
    pub fn new(what: &str) -> Result<Scratch, String> {
        let dir = std::env::temp_dir().join(format!("tether-bench-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        crate::guard::register_dir(&dir);
        Ok(Scratch { dir, keep: false })
    }

    /// Writes a file in it.
    pub fn write(&self, name: &str, text: &str) -> Result<PathBuf, String> {
        let p = self.dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        Ok(p)
    }

    /// A log file in it, for a child's stderr.
    pub fn log(&self, name: &str) -> Stdio {
        std::fs::File::create(self.dir.join(name)).map_or_else(|_| Stdio::null(), Stdio::from)
    }

    /// The last lines of a log file.
    pub fn tail(&self, name: &str, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join(" / ")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.keep {
            note(&format!("logs kept in {}", self.dir.display()));
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A server entry of a Claude-Code-style configuration.
pub fn stdio_server(command: &Path, args: &[&str]) -> Value {
    json!({"command": command.to_string_lossy(), "args": args})
}

/// A configuration file's text.
pub fn config(servers: &[(String, Value)]) -> String {
    let map: serde_json::Map<String, Value> = servers.iter().cloned().collect();
    json!({ "mcpServers": map }).to_string()
}

/// Reads a child's stderr until a line holds `marker`, returns the `http://…` URL on it, and
/// copies the rest of the stream to `log`.
async fn url_from_stderr(
    child: &mut tokio::process::Child,
    marker: &str,
    log: PathBuf,
    wait: Duration,
) -> Result<String, String> {
    let stderr = child.stderr.take().ok_or("no stderr pipe")?;
    let mut lines = BufReader::new(stderr);
    let mut seen = Vec::new();
    let found = tokio::time::timeout(wait, async {
        let mut line = String::new();
        loop {
            line.clear();
            match lines.read_line(&mut line).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            seen.push(line.trim_end().to_owned());
            if line.contains(marker) {
                let start = line.find("http://")?;
                let url: String = line[start..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                return Some(url);
            }
        }
    })
    .await;
    let _ = std::fs::write(&log, seen.join("\n") + "\n");
    tokio::spawn(async move {
        if let Ok(mut f) = tokio::fs::OpenOptions::new().append(true).open(&log).await {
            let _ = tokio::io::copy(&mut lines, &mut f).await;
        }
    });
    match found {
        Ok(Some(url)) => Ok(url),
        Ok(None) => Err(format!(
            "exited before announcing its address: {}",
            seen.join(" / ")
        )),
        Err(_) => Err(format!(
            "no `{marker}` line within {wait:?}: {}",
            seen.join(" / ")
        )),
    }
}

/// Starts a server that announces its URL on stderr.
pub async fn start_announcing(
    program: &Path,
    args: &[String],
    marker: &str,
    log: PathBuf,
) -> Result<(Spawned, String), String> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let url = url_from_stderr(&mut child, marker, log, Duration::from_secs(15)).await;
    let spawned = Spawned::new(child)?;
    match url {
        Ok(u) => Ok((spawned, u)),
        Err(e) => {
            spawned.stop(Duration::ZERO).await;
            Err(e)
        }
    }
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Waits until something accepts on 127.0.0.1:`port`.
pub async fn wait_port(port: u16, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Runs a command to completion (bounded), returning its wall time, exit code and stdout.
pub async fn run_capture(
    cmd: &mut tokio::process::Command,
    wait: Duration,
) -> Result<(Duration, Option<i32>, Vec<u8>), String> {
    let t0 = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let mut spawned = Spawned::new(child)?;
    let mut buf = Vec::new();
    let done = tokio::time::timeout(wait, async {
        let _ = stdout.read_to_end(&mut buf).await;
        match spawned.child.as_mut() {
            Some(c) => c.wait().await.ok(),
            None => None,
        }
    })
    .await;
    let elapsed = t0.elapsed();
    match done {
        Ok(status) => {
            spawned.stop(Duration::ZERO).await;
            Ok((elapsed, status.and_then(|s| s.code()), buf))
        }
        Err(_) => {
            spawned.stop(Duration::ZERO).await;
            Err(format!("did not finish within {wait:?}"))
        }
    }
}

/// The arguments of `tether serve` with a stdio front for `config`.
pub fn serve_argv(config: &Path) -> Vec<String> {
    vec![
        "serve".into(),
        "--config".into(),
        config.to_string_lossy().into_owned(),
        "--no-request-log".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_sh() {
        assert_eq!(sh_quote("/usr/bin/tether"), "/usr/bin/tether");
        assert_eq!(sh_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn writes_claude_code_configs() {
        let cfg = config(&[(
            "echo".into(),
            stdio_server(Path::new("/b/tether-bench"), &["echo-server", "--stdio"]),
        )]);
        let v: Value = serde_json::from_str(&cfg).unwrap();
        assert_eq!(v["mcpServers"]["echo"]["command"], "/b/tether-bench");
        assert_eq!(v["mcpServers"]["echo"]["args"][1], "--stdio");
    }
}
