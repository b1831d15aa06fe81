//! Physical floors: a raw ping-pong of a small message, one in flight, over loopback TCP
//! (TCP_NODELAY, an echo thread) and over a pair of pipes to a child process (`raw-echo`).
//! No MCP, no JSON: what one round trip between two processes costs on this machine, the lower
//! bound of every c=1 latency in the table.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::load::Report;
use crate::stats::Summary;

fn ping_pong(
    w: &mut impl Write,
    r: &mut impl Read,
    size: usize,
    warmup: Duration,
    duration: Duration,
) -> std::io::Result<Vec<u32>> {
    let msg = vec![b'x'; size];
    let mut back = vec![0u8; size];
    let start = Instant::now();
    let mut lats = Vec::with_capacity(1 << 16);
    while start.elapsed() < warmup + duration {
        let t0 = Instant::now();
        w.write_all(&msg)?;
        w.flush()?;
        r.read_exact(&mut back)?;
        if start.elapsed() > warmup {
            lats.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    Ok(lats)
}

fn report(
    label: &str,
    transport: &str,
    result: std::io::Result<Vec<u32>>,
    duration: Duration,
) -> Report {
    let mut r = Report {
        label: label.into(),
        transport: transport.into(),
        concurrency: 1,
        ..Report::default()
    };
    match result {
        Ok(mut lats) => {
            r.calls = lats.len() as u64;
            r.ok = r.calls > 0;
            r.elapsed_s = duration.as_secs_f64();
            r.calls_per_s = (r.calls as f64 / duration.as_secs_f64() * 10.0).round() / 10.0;
            r.lat_us = Summary::of(&mut lats);
        }
        Err(e) => r.error = Some(e.to_string()),
    }
    r
}

/// Loopback TCP ping-pong against an echo thread.
pub fn tcp(size: usize, warmup: Duration, duration: Duration) -> Report {
    let run = || -> std::io::Result<Vec<u32>> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let _ = s.set_nodelay(true);
                let mut buf = [0u8; 65536];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        });
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        let mut r = s.try_clone()?;
        ping_pong(&mut s, &mut r, size, warmup, duration)
    };
    report(
        &format!("floor: raw TCP loopback {size} B"),
        "tcp",
        run(),
        duration,
    )
}

/// Pipe ping-pong against `tether-bench raw-echo`.
pub fn pipe(exe: &std::path::Path, size: usize, warmup: Duration, duration: Duration) -> Report {
    let run = || -> std::io::Result<Vec<u32>> {
        let mut child = Command::new(exe)
            .arg("raw-echo")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        crate::guard::register(child.id());
        let result = match (child.stdin.take(), child.stdout.take()) {
            (Some(mut w), Some(mut r)) => ping_pong(&mut w, &mut r, size, warmup, duration),
            _ => Err(std::io::Error::other("no pipes to the child")),
        };
        crate::guard::end(child.id(), Duration::from_secs(1));
        let _ = child.wait();
        result
    };
    report(
        &format!("floor: raw pipes {size} B"),
        "pipe",
        run(),
        duration,
    )
}

/// Copies stdin to stdout as it comes (the far end of the pipe floor).
pub fn raw_echo() -> std::io::Result<()> {
    let mut i = std::io::stdin().lock();
    let mut o = std::io::stdout().lock();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = i.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        o.write_all(&buf[..n])?;
        o.flush()?;
    }
}
