//! The retry and reconnect policy (CONTRACT §3): which failures are retried, when, how often.
//!
//! Decisions are plain functions of the error class and the attempt number, so every row of the
//! table is unit-tested here. Every delay is configurable; tests shrink them.

use std::time::Duration;

use crate::error::{Error, ErrorClass};

/// All the knobs of the policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Delays before each retry of a failed first connect (transient classes only).
    pub initial_retries: Vec<Duration>,
    /// Reconnect attempts after a connection is lost mid-session.
    pub reconnect_attempts: u32,
    /// First reconnect delay; doubles each attempt.
    pub reconnect_base: Duration,
    /// Cap on any backoff delay.
    pub backoff_cap: Duration,
    /// Jitter as a fraction of the delay (0.2 = ±20 %).
    pub jitter: f64,
    /// Delays of discovery retries after transient errors.
    pub discovery_transient: Vec<Duration>,
    /// Delay of the single discovery retry after any other failure.
    pub discovery_other: Duration,
    /// Attempts for an endpoint that answers 404 mid-session (a proxy route flapping).
    pub not_found_attempts: u32,
    /// Crash loop: this many exits...
    pub crash_loop_exits: usize,
    /// ...each within this long of becoming ready...
    pub crash_loop_ready_within: Duration,
    /// ...inside this window.
    pub crash_loop_window: Duration,
    /// First background probe of a failed server; doubles up to `probe_max`.
    pub probe_first: Duration,
    /// Longest interval between background probes.
    pub probe_max: Duration,
    /// How often a connected server is pinged (`None`: never).
    pub ping_interval: Option<Duration>,
    /// Debounce of `list_changed` refreshes.
    pub list_changed_debounce: Duration,
    /// How often the primary URL is tried while a fallback serves.
    pub failback_interval: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            initial_retries: vec![secs(1), secs(2), secs(4)],
            reconnect_attempts: 5,
            reconnect_base: secs(1),
            backoff_cap: secs(30),
            jitter: 0.2,
            discovery_transient: vec![ms(250), ms(500), ms(1000)],
            discovery_other: ms(250),
            not_found_attempts: 3,
            crash_loop_exits: 3,
            crash_loop_ready_within: secs(10),
            crash_loop_window: secs(600),
            probe_first: secs(60),
            probe_max: secs(600),
            ping_interval: Some(secs(30)),
            list_changed_debounce: ms(300),
            failback_interval: secs(30),
        }
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this delay.
    Retry(Duration),
    /// Stop trying.
    GiveUp,
}

/// Where the server is when the failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The first connect (and the first connect after a manual reconnect or a probe).
    Initial,
    /// Reconnecting after the connection was lost.
    MidSession,
}

impl Policy {
    /// A policy with every delay shrunk to `unit` steps, for tests and demos.
    pub fn fast(unit: Duration) -> Self {
        Policy {
            initial_retries: vec![unit, unit * 2, unit * 4],
            reconnect_base: unit,
            backoff_cap: unit * 30,
            jitter: 0.0,
            discovery_transient: vec![unit, unit, unit],
            discovery_other: unit,
            crash_loop_ready_within: unit * 100,
            crash_loop_window: unit * 6000,
            probe_first: unit * 60,
            probe_max: unit * 600,
            list_changed_debounce: unit,
            failback_interval: unit * 30,
            ..Policy::default()
        }
    }

    /// Whether and when to retry after `error` on attempt `attempt` (1-based) in `phase`.
    pub fn decide(&self, phase: Phase, attempt: u32, error: &Error) -> Decision {
        let class = error.class();
        let retry_after = error.http().and_then(|h| h.retry_after);
        match phase {
            Phase::Initial => match initial_rule(class) {
                Rule::Never => Decision::GiveUp,
                Rule::Transient => match self.initial_retries.get(attempt as usize - 1) {
                    Some(&d) => Decision::Retry(self.honour(self.jittered(d), retry_after)),
                    None => Decision::GiveUp,
                },
            },
            Phase::MidSession => {
                let max = match class {
                    ErrorClass::EndpointNotFound => self.not_found_attempts,
                    _ => self.reconnect_attempts,
                };
                if attempt >= max || mid_session_rule(class) == Rule::Never {
                    return Decision::GiveUp;
                }
                Decision::Retry(self.honour(self.reconnect_delay(attempt + 1), retry_after))
            }
        }
    }

    /// The delay before reconnect attempt `attempt`: base × 2^(attempt-1), jittered, capped.
    pub fn reconnect_delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.jittered(self.reconnect_base * factor)
    }

    /// The delay before reconnect attempt 1 (right after the loss).
    pub fn first_reconnect_delay(&self) -> Duration {
        self.reconnect_delay(1)
    }

    /// The n-th background probe interval (0-based): doubling from `probe_first` to `probe_max`.
    pub fn probe_delay(&self, n: u32) -> Duration {
        let factor = 1u32 << n.min(16);
        (self.probe_first * factor).min(self.probe_max)
    }

    /// Whether a discovery (`*/list`) failure is retried, and after how long.
    pub fn discovery(&self, attempt: u32, error: &Error) -> Decision {
        match error.class() {
            ErrorClass::Unauthorized => Decision::GiveUp,
            ErrorClass::Network | ErrorClass::HttpTransient => {
                match self.discovery_transient.get(attempt as usize - 1) {
                    Some(&d) => Decision::Retry(d),
                    None => Decision::GiveUp,
                }
            }
            _ if attempt == 1 => Decision::Retry(self.discovery_other),
            _ => Decision::GiveUp,
        }
    }

    fn jittered(&self, d: Duration) -> Duration {
        let d = d.min(self.backoff_cap);
        if self.jitter <= 0.0 {
            return d;
        }
        let spread = rand::random::<f64>() * 2.0 - 1.0; // -1..1
        let factor = (1.0 + spread * self.jitter).max(0.0);
        d.mul_f64(factor).min(self.backoff_cap)
    }

    fn honour(&self, d: Duration, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(ra) => d.max(ra.min(self.backoff_cap)),
            None => d,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Never,
    Transient,
}

/// CONTRACT §3, column "initial connect".
fn initial_rule(class: ErrorClass) -> Rule {
    match class {
        ErrorClass::Network | ErrorClass::HttpTransient => Rule::Transient,
        // A remote handshake timeout is retried as transient; a stdio one kills the process and
        // the caller never asks (it maps to ProcessExited/HandshakeTimeout with a live process).
        ErrorClass::HandshakeTimeout => Rule::Transient,
        ErrorClass::Config
        | ErrorClass::Spawn
        | ErrorClass::ProcessExited
        | ErrorClass::Dns
        | ErrorClass::Tls
        | ErrorClass::Unauthorized
        | ErrorClass::EndpointNotFound
        | ErrorClass::SessionExpired
        | ErrorClass::Protocol
        | ErrorClass::RequestTimeout
        | ErrorClass::PeerError => Rule::Never,
    }
}

/// CONTRACT §3, column "mid-session".
fn mid_session_rule(class: ErrorClass) -> Rule {
    match class {
        ErrorClass::Network
        | ErrorClass::HttpTransient
        | ErrorClass::Dns
        | ErrorClass::Tls
        | ErrorClass::ProcessExited
        | ErrorClass::HandshakeTimeout
        | ErrorClass::EndpointNotFound
        | ErrorClass::SessionExpired
        | ErrorClass::RequestTimeout => Rule::Transient,
        ErrorClass::Config
        | ErrorClass::Spawn
        | ErrorClass::Unauthorized
        | ErrorClass::Protocol
        | ErrorClass::PeerError => Rule::Never,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{HttpFailure, NetworkKind};

    fn http(status: u16, retry_after: Option<u64>) -> Error {
        Error::Http(Box::new(HttpFailure {
            status,
            origin: "http://x".into(),
            retry_after: retry_after.map(Duration::from_secs),
            ..Default::default()
        }))
    }

    fn refused() -> Error {
        Error::Network {
            kind: NetworkKind::Refused,
            origin: "http://x".into(),
            detail: String::new(),
        }
    }

    fn exact() -> Policy {
        Policy {
            jitter: 0.0,
            ..Policy::default()
        }
    }

    #[test]
    fn initial_connect_retries_transient_classes_1_2_4() {
        let p = exact();
        let got: Vec<Decision> = (1..=4)
            .map(|a| p.decide(Phase::Initial, a, &refused()))
            .collect();
        assert_eq!(
            got,
            [
                Decision::Retry(secs(1)),
                Decision::Retry(secs(2)),
                Decision::Retry(secs(4)),
                Decision::GiveUp
            ]
        );
        assert_eq!(
            p.decide(Phase::Initial, 1, &http(503, None)),
            Decision::Retry(secs(1))
        );
        assert_eq!(
            p.decide(Phase::Initial, 1, &http(503, Some(3))),
            Decision::Retry(secs(3)),
            "Retry-After honoured"
        );
    }

    #[test]
    fn initial_connect_never_retries_the_rest() {
        let p = exact();
        for e in [
            http(401, None),
            http(403, None),
            http(404, None),
            http(406, None),
            Error::Dns {
                host: "x".into(),
                detail: String::new(),
            },
            Error::Protocol("bad".into()),
            Error::ProcessExited {
                exit: None,
                during_init: true,
                uptime: Duration::ZERO,
                stderr_tail: vec![],
            },
        ] {
            assert_eq!(p.decide(Phase::Initial, 1, &e), Decision::GiveUp, "{e}");
        }
    }

    #[test]
    fn mid_session_reconnect_is_5_attempts_doubling() {
        let p = exact();
        let got: Vec<Decision> = (1..=5)
            .map(|a| p.decide(Phase::MidSession, a, &refused()))
            .collect();
        assert_eq!(
            got,
            [
                Decision::Retry(secs(2)),
                Decision::Retry(secs(4)),
                Decision::Retry(secs(8)),
                Decision::Retry(secs(16)),
                Decision::GiveUp
            ]
        );
        assert_eq!(p.first_reconnect_delay(), secs(1));
        assert_eq!(
            p.decide(Phase::MidSession, 1, &http(401, None)),
            Decision::GiveUp
        );
        assert_eq!(
            p.decide(Phase::MidSession, 3, &http(404, None)),
            Decision::GiveUp,
            "404 gets 3 attempts"
        );
        assert_eq!(
            p.decide(Phase::MidSession, 2, &http(404, None)),
            Decision::Retry(secs(4))
        );
    }

    #[test]
    fn backoff_is_capped_and_jitter_stays_within_20_percent() {
        let p = Policy::default();
        for attempt in 1..=10 {
            let d = p.reconnect_delay(attempt);
            assert!(d <= secs(30), "{d:?}");
            let nominal = secs(1 << (attempt - 1).min(5)).min(secs(30));
            assert!(
                d >= nominal.mul_f64(0.8) && d <= nominal.mul_f64(1.2).min(secs(30)),
                "{attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn discovery_retries_transient_three_times_others_once_auth_never() {
        let p = exact();
        assert_eq!(p.discovery(1, &http(503, None)), Decision::Retry(ms(250)));
        assert_eq!(p.discovery(3, &refused()), Decision::Retry(ms(1000)));
        assert_eq!(p.discovery(4, &refused()), Decision::GiveUp);
        let peer = Error::Peer(tether_proto::ErrorObject::new(-32603, "boom"));
        assert_eq!(p.discovery(1, &peer), Decision::Retry(ms(250)));
        assert_eq!(p.discovery(2, &peer), Decision::GiveUp);
        assert_eq!(p.discovery(1, &http(401, None)), Decision::GiveUp);
    }

    #[test]
    fn probes_double_from_a_minute_to_ten() {
        let p = exact();
        let got: Vec<u64> = (0..6).map(|n| p.probe_delay(n).as_secs()).collect();
        assert_eq!(got, [60, 120, 240, 480, 600, 600]);
    }
}
