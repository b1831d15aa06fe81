//! Busy-polling for a moment after traffic, before the gateway's thread sleeps.
//!
//! On a virtual machine a sleeping CPU is halted, and waking it for the next message costs tens
//! of microseconds: as much as the whole hop through the gateway. So for a short window after
//! each request and each answer the gateway keeps polling for input instead of sleeping, as
//! Linux's `net.core.busy_poll` does for sockets. An idle gateway never spins; a busy one spins
//! at most one window per quiet gap, and hands its CPU to anything else runnable there while it
//! does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The window unless configured: about one round trip to a fast local server.
pub const DEFAULT_WINDOW: Duration = Duration::from_micros(100);

/// Keeps the gateway's thread polling for one window after traffic. Dropping it ends its task.
#[derive(Debug)]
pub struct BusyPoll {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    base: Instant,
    window_ns: u64,
    /// Nanoseconds after `base` until which to poll.
    until_ns: AtomicU64,
    wake: Notify,
    stopped: AtomicBool,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl BusyPoll {
    /// Starts the polling task on the current runtime; a zero window starts nothing.
    pub fn start(window: Duration) -> BusyPoll {
        let shared = Arc::new(Shared {
            base: Instant::now(),
            window_ns: u64::try_from(window.as_nanos()).unwrap_or(u64::MAX),
            until_ns: AtomicU64::new(0),
            wake: Notify::new(),
            stopped: AtomicBool::new(false),
        });
        if shared.window_ns > 0 {
            tokio::spawn(poll_loop(shared.clone()));
        }
        BusyPoll { shared }
    }

    /// Traffic happened: poll for the next message for one window.
    pub fn touch(&self) {
        let s = &self.shared;
        if s.window_ns == 0 {
            return;
        }
        let now = s.now_ns();
        let before = s
            .until_ns
            .swap(now.saturating_add(s.window_ns), Ordering::Relaxed);
        if before <= now {
            // The window had closed, so the task is waiting to be woken.
            s.wake.notify_one();
        }
    }
}

impl Drop for BusyPoll {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        self.shared.wake.notify_one();
    }
}

async fn poll_loop(s: Arc<Shared>) {
    loop {
        s.wake.notified().await;
        loop {
            if s.stopped.load(Ordering::Relaxed) {
                return;
            }
            if s.now_ns() >= s.until_ns.load(Ordering::Relaxed) {
                break;
            }
            // Whatever else is runnable on this CPU goes first. Then the runtime checks for
            // input without blocking: a yielding task is resumed only after a non-blocking poll.
            std::thread::yield_now();
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields until only the test holds `shared`, i.e. the polling task has ended.
    async fn task_ended(shared: &Arc<Shared>) {
        let ended = async {
            while Arc::strong_count(shared) > 1 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), ended)
            .await
            .expect("the polling task outlived its owner");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_task_ends_with_its_owner_even_mid_window() {
        let poll = BusyPoll::start(Duration::from_secs(3600));
        let shared = poll.shared.clone();
        assert_eq!(Arc::strong_count(&shared), 3, "the task holds one too");
        poll.touch();
        tokio::task::yield_now().await;
        drop(poll);
        task_ended(&shared).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_idle_owner_ends_the_task_too() {
        let poll = BusyPoll::start(DEFAULT_WINDOW);
        let shared = poll.shared.clone();
        drop(poll);
        task_ended(&shared).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_zero_window_starts_nothing() {
        let poll = BusyPoll::start(Duration::ZERO);
        poll.touch();
        assert_eq!(Arc::strong_count(&poll.shared), 1);
        assert_eq!(poll.shared.until_ns.load(Ordering::Relaxed), 0);
    }
}
