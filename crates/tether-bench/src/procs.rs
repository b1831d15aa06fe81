//! Process facts from `/proc`: a process tree, its CPU time and its resident memory, and killing
//! a whole tree by PID (never by name).
//!
//! CPU counts `utime + stime + cutime + cstime`, so children that were already reaped are still
//! charged to their parent. Memory is `VmRSS` (now) and `VmHWM` (peak), in KiB. Processes whose
//! command name is `tether-bench` are our own echo servers and are reported apart, so a proxy's
//! figures never include the server it forwards to.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Clock ticks per second in `/proc/*/stat` (`USER_HZ`, fixed at 100 by the Linux ABI).
pub const TICKS_PER_SEC: u64 = 100;

/// The command name (`comm`) of our echo servers.
const ECHO_COMM: &str = "tether-bench";

/// One line of `/proc/PID/stat`, the parts we use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    /// The process id.
    pub pid: u32,
    /// The parent's id.
    pub ppid: u32,
    /// The command name (at most 15 bytes).
    pub comm: String,
    /// The state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    /// `utime + stime + cutime + cstime`, in clock ticks.
    pub cpu_ticks: u64,
    /// Start time after boot, in clock ticks: tells a process from a later one with its PID.
    pub start: u64,
}

/// Parses the text of `/proc/PID/stat`.
pub fn parse_stat(pid: u32, text: &str) -> Option<ProcInfo> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = text.get(close + 2..)?.split(' ').collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let field = |n: usize| -> Option<u64> { rest.get(n - 3)?.parse().ok() };
    let state = rest.first()?.chars().next()?;
    let ppid = u32::try_from(field(4)?).ok()?;
    let cpu_ticks = field(14)? + field(15)? + field(16).unwrap_or(0) + field(17).unwrap_or(0);
    let start = field(22).unwrap_or(0);
    Some(ProcInfo {
        pid,
        ppid,
        comm,
        state,
        cpu_ticks,
        start,
    })
}

/// Reads one process, `None` when it is gone.
pub fn read(pid: u32) -> Option<ProcInfo> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &text)
}

/// Every process on the machine.
fn all() -> Vec<ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read)
        .collect()
}

/// `root` and all its descendants, root first (empty when `root` is gone).
pub fn tree(root: u32) -> Vec<ProcInfo> {
    let procs = all();
    let mut children: HashMap<u32, Vec<&ProcInfo>> = HashMap::new();
    for p in &procs {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut out = Vec::new();
    let Some(first) = procs.iter().find(|p| p.pid == root) else {
        return out;
    };
    let mut queue = vec![first];
    while let Some(p) = queue.pop() {
        out.push(p.clone());
        if let Some(kids) = children.get(&p.pid) {
            queue.extend(kids.iter().copied().filter(|k| k.pid != p.pid));
        }
    }
    out
}

/// Whether `pid` is `root` or one of its descendants.
pub fn in_tree(root: u32, pid: u32) -> bool {
    tree(root).iter().any(|p| p.pid == pid)
}

/// Resident memory of one process, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mem {
    /// `VmRSS`: resident now.
    pub rss_kb: u64,
    /// `VmHWM`: the peak so far.
    pub hwm_kb: u64,
}

/// Parses the text of `/proc/PID/status`.
pub fn parse_status_mem(text: &str) -> Mem {
    let mut m = Mem::default();
    for line in text.lines() {
        let value = || {
            line.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if line.starts_with("VmRSS:") {
            m.rss_kb = value();
        } else if line.starts_with("VmHWM:") {
            m.hwm_kb = value();
        }
    }
    m
}

/// Resident memory of one process (zero when it is gone).
pub fn mem(pid: u32) -> Mem {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|t| parse_status_mem(&t))
        .unwrap_or_default()
}

/// CPU time this process has used so far, in microseconds (10 ms resolution).
pub fn self_cpu_us() -> u64 {
    read(std::process::id()).map_or(0, |p| p.cpu_ticks * (1_000_000 / TICKS_PER_SEC))
}

/// True for our own echo servers.
pub fn is_echo(p: &ProcInfo) -> bool {
    p.comm == ECHO_COMM
}

/// CPU ticks of every process of a tree, to subtract two snapshots.
#[derive(Clone, Debug, Default)]
pub struct CpuSnap {
    ticks: HashMap<u32, (u64, bool)>,
}

/// Snapshot of the CPU used by `root`'s tree.
pub fn cpu_snap(root: u32) -> CpuSnap {
    CpuSnap {
        ticks: tree(root)
            .into_iter()
            .map(|p| (p.pid, (p.cpu_ticks, is_echo(&p))))
            .collect(),
    }
}

/// `(proxy_ms, echo_ms)` used between two snapshots; processes born in between count from zero.
pub fn cpu_delta_ms(before: &CpuSnap, after: &CpuSnap) -> (f64, f64) {
    let (mut proxy, mut echo) = (0u64, 0u64);
    for (pid, (t1, is_echo)) in &after.ticks {
        let t0 = before.ticks.get(pid).map_or(0, |x| x.0);
        let d = t1.saturating_sub(t0);
        if *is_echo {
            echo += d;
        } else {
            proxy += d;
        }
    }
    let ms = |t: u64| t as f64 * 1000.0 / TICKS_PER_SEC as f64;
    (ms(proxy), ms(echo))
}

/// Peak memory of a tree, split into proxy and echo-server processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeMem {
    /// `VmHWM` of the root process alone.
    pub root_hwm_kb: u64,
    /// `VmRSS` of the root process alone.
    pub root_rss_kb: u64,
    /// Sum of `VmHWM` over the tree's other (non-echo) processes, root included.
    pub proxy_hwm_kb: u64,
    /// Sum of `VmHWM` over echo-server processes.
    pub echo_hwm_kb: u64,
    /// How many non-echo processes.
    pub proxy_procs: usize,
    /// How many echo-server processes.
    pub echo_procs: usize,
}

/// Memory of `root`'s tree.
pub fn tree_mem(root: u32) -> TreeMem {
    let mut r = TreeMem::default();
    for p in tree(root) {
        let m = mem(p.pid);
        if p.pid == root {
            r.root_hwm_kb = m.hwm_kb;
            r.root_rss_kb = m.rss_kb;
        }
        if is_echo(&p) {
            r.echo_hwm_kb += m.hwm_kb;
            r.echo_procs += 1;
        } else {
            r.proxy_hwm_kb += m.hwm_kb;
            r.proxy_procs += 1;
        }
    }
    r
}

/// Whether a process we saw is still alive (same PID, same start time, not a zombie).
fn alive(p: &ProcInfo) -> bool {
    read(p.pid).is_some_and(|now| now.start == p.start && now.state != 'Z')
}

fn signal(p: &ProcInfo, sig: Signal) {
    let Ok(raw) = i32::try_from(p.pid) else {
        return;
    };
    // Checked just before: the PID still names the process we saw (same start time).
    if read(p.pid).is_some_and(|now| now.start == p.start) {
        let _ = kill(Pid::from_raw(raw), sig);
    }
}

/// Ends `root` and all its descendants: SIGTERM to every process of the tree, then SIGKILL to
/// whatever is still alive after `grace`. Descendants are collected first, so children that a
/// dying parent leaves behind (reparented to init) are still found. Returns how many needed
/// SIGKILL.
pub fn kill_tree(root: u32, grace: Duration) -> usize {
    let mut seen: Vec<ProcInfo> = tree(root);
    if seen.is_empty() {
        return 0;
    }
    for p in seen.iter().rev() {
        signal(p, Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    loop {
        // A shutting-down process may still spawn; keep collecting.
        for p in tree(root) {
            if !seen.iter().any(|s| s.pid == p.pid && s.start == p.start) {
                signal(&p, Signal::SIGTERM);
                seen.push(p);
            }
        }
        if !seen.iter().any(alive) || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut hard = 0;
    for p in seen.iter().filter(|p| alive(p)) {
        signal(p, Signal::SIGKILL);
        hard += 1;
    }
    hard
}

/// SIGKILL one process at once (a crash, for the soak run).
pub fn kill_now(pid: u32) -> bool {
    match read(pid) {
        Some(p) if p.state != 'Z' => {
            signal(&p, Signal::SIGKILL);
            true
        }
        _ => false,
    }
}

/// Whether `path` is an executable file.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_comm() {
        let text = "4242 (a b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 2 1 20 0 1 0 555 0 0";
        let p = parse_stat(4242, text).unwrap();
        assert_eq!(p.comm, "a b) c");
        assert_eq!(p.ppid, 1);
        assert_eq!(p.state, 'S');
        assert_eq!(p.cpu_ticks, 7 + 3 + 2 + 1);
        assert_eq!(p.start, 555);
    }

    #[test]
    fn parses_status_memory() {
        let m = parse_status_mem("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n");
        assert_eq!(
            m,
            Mem {
                rss_kb: 1024,
                hwm_kb: 2048
            }
        );
    }

    #[test]
    fn finds_itself() {
        let me = std::process::id();
        assert!(tree(me).first().is_some_and(|p| p.pid == me));
        assert!(mem(me).rss_kb > 0);
    }
}
