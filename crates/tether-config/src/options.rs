//! Tether's own per-server options: the `"tether": {…}` block of an entry, and tool timeouts.

use std::time::Duration;

use crate::check::{Checker, member, quoted};
use crate::entry::{DeclaredType, RestartPolicy};
use crate::filter::ToolFilter;
use crate::json::Json;
use crate::problem::code;
use crate::suggest::closest;
use crate::validate::{EntryContext, Fields};

/// Tool timeouts below this are ignored (CONTRACT §4, Claude Code since 2.1.162).
const MIN_TOOL_TIMEOUT_MS: f64 = 1000.0;

/// The keys of the `tether` block.
const TETHER_KEYS: &[&str] = &[
    "restart",
    "connect_timeout_ms",
    "tool_timeout_ms",
    "idle_timeout_ms",
    "ping_interval_ms",
    "fallback_urls",
    "tools",
];

impl Checker<'_> {
    /// A tool timeout (`timeout`, `tether.tool_timeout_ms`): under 1000 ms it is ignored with a
    /// warning, as Claude Code does.
    pub(crate) fn tool_timeout_ms(&mut self, field: &str, value: &Json) -> Option<Duration> {
        let ms = self.millis(field, value)?;
        if ms < MIN_TOOL_TIMEOUT_MS {
            self.warn(
                code::CONFIG_IGNORED_VALUE,
                field,
                "is under 1000 ms and is ignored",
                Some("the value is in milliseconds: 60000 is one minute".into()),
            );
            return None;
        }
        Some(duration_ms(ms))
    }

    fn positive_ms(&mut self, field: &str, value: &Json) -> Option<Duration> {
        let ms = self.millis(field, value)?;
        if ms < 1.0 {
            self.warn(
                code::CONFIG_IGNORED_VALUE,
                field,
                "is not a positive number of milliseconds and is ignored",
                None,
            );
            return None;
        }
        Some(duration_ms(ms))
    }

    /// Read `"tether": {…}` into `out.options` and `out.fallback_urls`.
    pub(crate) fn tether_block(
        &mut self,
        tether: &Json,
        ctx: &EntryContext<'_>,
        kind: DeclaredType,
        out: &mut Fields,
    ) {
        let Json::Object(members) = tether else {
            self.wrong_type("tether", "an object", tether, None);
            return;
        };
        for (key, value) in members {
            let field = member("tether", key);
            match key.as_str() {
                "restart" => match value {
                    Json::Null => {}
                    Json::String(s) if s == "on-failure" => {
                        out.options.restart = RestartPolicy::OnFailure
                    }
                    Json::String(s) if s == "never" => out.options.restart = RestartPolicy::Never,
                    Json::String(s) => self.error(
                        &field,
                        format!("unsupported value {}", quoted(s)),
                        Some(r#"use "on-failure" or "never""#.into()),
                    ),
                    other => self.wrong_type(
                        &field,
                        "a string",
                        other,
                        Some(r#"use "on-failure" or "never""#.into()),
                    ),
                },
                "connect_timeout_ms" => {
                    out.options.connect_timeout =
                        self.optional(value, |c| c.positive_ms(&field, value))
                }
                "tool_timeout_ms" => {
                    out.options.tool_timeout =
                        self.optional(value, |c| c.tool_timeout_ms(&field, value))
                }
                "idle_timeout_ms" => {
                    out.options.idle_timeout =
                        self.optional(value, |c| c.positive_ms(&field, value))
                }
                "ping_interval_ms" => {
                    out.options.ping_interval =
                        self.optional(value, |c| c.positive_ms(&field, value))
                }
                "fallback_urls" => {
                    if kind == DeclaredType::Stdio && !matches!(value, Json::Null) {
                        self.warn(
                            code::CONFIG_IGNORED_VALUE,
                            &field,
                            "applies to http and sse servers only and is ignored",
                            None,
                        );
                        continue;
                    }
                    for (i, raw) in self.string_list(&field, value) {
                        let item = format!("{field}[{i}]");
                        if let Some(url) = self.url(&item, &raw, ctx) {
                            out.fallback_urls.push(url);
                        }
                    }
                }
                "tools" => out.options.tools = self.tool_filter(value),
                other => {
                    let hint = closest(other, TETHER_KEYS.iter().copied())
                        .map(|s| format!("did you mean `{s}`?"));
                    self.warn(
                        code::CONFIG_IGNORED_VALUE,
                        &field,
                        "is not a Tether option and is ignored",
                        hint,
                    );
                }
            }
        }
    }

    fn optional<T>(&mut self, value: &Json, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        if matches!(value, Json::Null) {
            None
        } else {
            f(self)
        }
    }

    fn tool_filter(&mut self, value: &Json) -> ToolFilter {
        let mut filter = ToolFilter::default();
        let Json::Object(members) = value else {
            if !matches!(value, Json::Null) {
                self.wrong_type(
                    "tether.tools",
                    "an object",
                    value,
                    Some(r#"write "tools": {"allow": ["read_*"], "deny": []}"#.into()),
                );
            }
            return filter;
        };
        for (key, list) in members {
            let field = member("tether.tools", key);
            match key.as_str() {
                "allow" | "deny" if matches!(list, Json::Null) => {}
                "allow" | "deny" => {
                    let patterns: Vec<String> = self
                        .string_list(&field, list)
                        .into_iter()
                        .map(|(i, pattern)| {
                            if pattern.trim_end_matches('*').contains('*') {
                                self.warn(
                                    code::CONFIG_IGNORED_VALUE,
                                    &format!("{field}[{i}]"),
                                    "has a `*` before the end; only a trailing `*` is a wildcard",
                                    None,
                                );
                            }
                            pattern
                        })
                        .collect();
                    if key == "allow" {
                        filter.allow = Some(patterns);
                    } else {
                        filter.deny = patterns;
                    }
                }
                _ => self.warn(
                    code::CONFIG_IGNORED_VALUE,
                    &field,
                    "is not a tool filter key and is ignored",
                    Some("use \"allow\" and \"deny\"".into()),
                ),
            }
        }
        filter
    }
}

fn duration_ms(ms: f64) -> Duration {
    // `as` saturates: absurdly large values become u64::MAX ms instead of panicking.
    Duration::from_millis(ms as u64)
}
