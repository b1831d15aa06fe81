//! Occurrence counters behind `@N` limits and the `starts` count, optionally persisted.
//!
//! With `--state-file PATH` the counters survive restarts, so `exit-at-start@2` crashes the first
//! two starts of a server that a client keeps respawning and then behaves. The file is a small
//! JSON object written atomically (temporary file in the same directory, then rename), so a crash
//! mid-write never leaves a torn file for the next start.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

/// What the state file holds.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Snapshot {
    /// Process starts seen (this one included).
    #[serde(default)]
    starts: u64,
    /// Fired occurrences per fault, keyed by the fault's canonical spec (without `@N`).
    #[serde(default)]
    faults: BTreeMap<String, u64>,
}

/// Shared, thread-safe counters.
#[derive(Debug)]
pub(crate) struct Counters {
    path: Option<PathBuf>,
    inner: Mutex<Snapshot>,
}

impl Counters {
    /// Loads the counters from `path` (a missing file starts from zero), or in-memory ones.
    pub(crate) fn open(path: Option<PathBuf>) -> io::Result<Self> {
        let snapshot = match &path {
            Some(p) => load(p)?,
            None => Snapshot::default(),
        };
        Ok(Self {
            path,
            inner: Mutex::new(snapshot),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        // A panic elsewhere must not turn every later fault check into a panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts this process start and persists it. Returns the number of starts so far.
    pub(crate) fn record_start(&self) -> io::Result<u64> {
        let mut s = self.lock();
        s.starts += 1;
        let starts = s.starts;
        self.persist(&s)?;
        Ok(starts)
    }

    /// Process starts so far.
    pub(crate) fn starts(&self) -> u64 {
        self.lock().starts
    }

    /// One occurrence of the fault `key`: returns whether it fires. A fault with a `limit` fires
    /// for its first `limit` occurrences; later ones are not counted, so the file stays small
    /// and stable once a limit is used up.
    pub(crate) fn take(&self, key: &str, limit: Option<u64>) -> bool {
        let mut s = self.lock();
        let count = s.faults.entry(key.to_owned()).or_insert(0);
        match limit {
            Some(limit) if *count >= limit => false,
            Some(_) => {
                *count += 1;
                if let Err(e) = self.persist(&s) {
                    tracing::warn!(error = %e, "could not write the chaos state file");
                }
                true
            }
            None => {
                *count = count.saturating_add(1);
                true
            }
        }
    }

    /// Fired occurrences per fault.
    pub(crate) fn hits(&self) -> BTreeMap<String, u64> {
        self.lock().faults.clone()
    }

    fn persist(&self, snapshot: &Snapshot) -> io::Result<()> {
        match &self.path {
            Some(path) => write_atomically(path, snapshot),
            None => Ok(()),
        }
    }
}

fn load(path: &Path) -> io::Result<Snapshot> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Snapshot::default()),
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("state file `{}` is not valid JSON: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Snapshot::default()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot read state file `{}`: {e}", path.display()),
        )),
    }
}

fn write_atomically(path: &Path, snapshot: &Snapshot) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(snapshot).map_err(io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "tether-testkit-state-{}-{name}.json",
            std::process::id()
        ))
    }

    #[test]
    fn limited_fault_fires_n_times_then_stops() {
        let c = Counters::open(None).expect("in-memory");
        let fired: Vec<bool> = (0..4).map(|_| c.take("error:ping", Some(2))).collect();
        assert_eq!(fired, [true, true, false, false]);
        assert_eq!(c.hits().get("error:ping"), Some(&2));
    }

    #[test]
    fn unlimited_fault_always_fires_and_counts() {
        let c = Counters::open(None).expect("in-memory");
        assert!((0..3).all(|_| c.take("sse", None)));
        assert_eq!(c.hits().get("sse"), Some(&3));
    }

    #[test]
    fn counters_survive_a_restart_through_the_state_file() {
        let path = temp_path("restart");
        let _ = std::fs::remove_file(&path);
        {
            let c = Counters::open(Some(path.clone())).expect("open");
            assert_eq!(c.record_start().expect("start"), 1);
            assert!(c.take("exit-at-start:1", Some(1)));
        }
        let c = Counters::open(Some(path.clone())).expect("reopen");
        assert_eq!(c.record_start().expect("start"), 2);
        assert!(!c.take("exit-at-start:1", Some(1)));
        assert_eq!(c.starts(), 2);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn corrupt_state_file_is_an_error_naming_the_path() {
        let path = temp_path("corrupt");
        std::fs::write(&path, b"{not json").expect("write");
        let err = Counters::open(Some(path.clone())).expect_err("corrupt");
        assert!(err.to_string().contains(&path.display().to_string()));
        let _ = std::fs::remove_file(&path);
    }
}
