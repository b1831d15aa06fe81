//! The timers in effect for one server (CONTRACT §4), and where each value came from.
//!
//! Precedence: per-request option > per-server config > environment (`MCP_TIMEOUT`,
//! `MCP_TOOL_TIMEOUT`) > default. Tool timeouts under one second are ignored with a warning:
//! flooring them to one second would abort every call.

use std::time::Duration;

use serde::Serialize;

/// Shortest tool timeout honoured.
pub const MIN_TOOL_TIMEOUT: Duration = Duration::from_millis(1000);

/// Every timer that applies to one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timeouts {
    /// Connect + initialize + the first tools/list, per attempt.
    #[serde(serialize_with = "as_ms")]
    pub connect: Duration,
    /// Requests other than tool calls.
    #[serde(serialize_with = "as_ms")]
    pub request: Duration,
    /// Liveness and follow-up pings.
    #[serde(serialize_with = "as_ms")]
    pub ping: Duration,
    /// Tool call with no answer and no progress.
    #[serde(serialize_with = "as_ms")]
    pub tool_idle: Duration,
    /// Tool call wall clock.
    #[serde(serialize_with = "as_ms")]
    pub tool_wall: Duration,
    /// Grace periods of the stdio shutdown ladder.
    #[serde(serialize_with = "as_ms")]
    pub shutdown_grace: Duration,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl Timeouts {
    /// The defaults for a stdio (`local`) or remote server.
    pub fn defaults(local: bool) -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            request: Duration::from_secs(60),
            ping: Duration::from_secs(5),
            tool_idle: if local {
                Duration::from_secs(30 * 60)
            } else {
                Duration::from_secs(5 * 60)
            },
            tool_wall: Duration::from_secs(60 * 60),
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

/// What the configuration says about timers (all optional).
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeoutSettings {
    /// `tether.connect_timeout_ms`.
    pub connect: Option<Duration>,
    /// `timeout` / `tether.tool_timeout_ms` (already filtered by the config loader).
    pub tool: Option<Duration>,
    /// `tether.idle_timeout_ms`.
    pub idle: Option<Duration>,
}

/// Resolves the timers for a server; returns warnings about ignored values.
pub fn resolve(
    local: bool,
    settings: TimeoutSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Timeouts, Vec<String>) {
    let mut t = Timeouts::defaults(local);
    let mut warnings = Vec::new();
    let env_ms = |name: &str, warnings: &mut Vec<String>| -> Option<Duration> {
        let raw = env(name)?;
        match raw.trim().parse::<u64>() {
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => {
                warnings.push(format!(
                    "`{name}={raw}` is not a number of milliseconds; ignored"
                ));
                None
            }
        }
    };
    if let Some(d) = env_ms("MCP_TIMEOUT", &mut warnings) {
        if d.is_zero() {
            warnings.push("`MCP_TIMEOUT=0` ignored".into());
        } else {
            t.connect = d;
        }
    }
    if let Some(d) = env_ms("MCP_TOOL_TIMEOUT", &mut warnings) {
        if d < MIN_TOOL_TIMEOUT {
            warnings.push(format!(
                "`MCP_TOOL_TIMEOUT` of {}ms is under 1000ms; ignored",
                d.as_millis()
            ));
        } else {
            t.tool_wall = d;
        }
    }
    if let Some(d) = settings.connect.filter(|d| !d.is_zero()) {
        t.connect = d;
    }
    if let Some(d) = settings.tool {
        if d < MIN_TOOL_TIMEOUT {
            warnings.push(format!(
                "tool timeout of {}ms is under 1000ms; ignored",
                d.as_millis()
            ));
        } else {
            t.tool_wall = d;
        }
    }
    if let Some(d) = settings.idle.filter(|d| !d.is_zero()) {
        t.tool_idle = d;
    }
    // An idle timer longer than the wall clock would never fire first; keep it honest.
    t.tool_idle = t.tool_idle.min(t.tool_wall);
    (t, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn defaults_differ_for_local_and_remote_idle() {
        let (local, _) = resolve(true, TimeoutSettings::default(), &env_of(&[]));
        let (remote, _) = resolve(false, TimeoutSettings::default(), &env_of(&[]));
        assert_eq!(local.tool_idle, Duration::from_secs(1800));
        assert_eq!(remote.tool_idle, Duration::from_secs(300));
        assert_eq!(local.connect, Duration::from_secs(30));
        assert_eq!(local.tool_wall, Duration::from_secs(3600));
    }

    #[test]
    fn env_then_server_settings_take_precedence() {
        let env = env_of(&[("MCP_TIMEOUT", "3000"), ("MCP_TOOL_TIMEOUT", "120000")]);
        let (t, w) = resolve(false, TimeoutSettings::default(), &env);
        assert_eq!(
            (t.connect, t.tool_wall),
            (Duration::from_secs(3), Duration::from_secs(120))
        );
        assert!(w.is_empty());
        let settings = TimeoutSettings {
            connect: Some(Duration::from_secs(7)),
            tool: Some(Duration::from_secs(9)),
            idle: None,
        };
        let (t, _) = resolve(false, settings, &env);
        assert_eq!(
            (t.connect, t.tool_wall),
            (Duration::from_secs(7), Duration::from_secs(9))
        );
        assert_eq!(
            t.tool_idle,
            Duration::from_secs(9),
            "idle is capped by the wall clock"
        );
    }

    #[test]
    fn sub_second_tool_timeouts_are_ignored_with_a_warning() {
        let env = env_of(&[("MCP_TOOL_TIMEOUT", "500"), ("MCP_TIMEOUT", "abc")]);
        let settings = TimeoutSettings {
            tool: Some(Duration::from_millis(10)),
            ..Default::default()
        };
        let (t, w) = resolve(true, settings, &env);
        assert_eq!(t.tool_wall, Duration::from_secs(3600));
        assert_eq!(w.len(), 3, "{w:?}");
    }
}
