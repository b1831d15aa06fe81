//! The tools' behaviour. Descriptions live in `catalog`; this module runs them.
//!
//! Input validation failures are tool execution errors (`isError: true`), as 2025-11-25 asks
//! (SEP-1303); only an unknown tool is a protocol error (-32602).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::behavior::Session;
use crate::catalog;
use crate::engine::Sink;
use crate::message::{INVALID_PARAMS, RpcError};

/// Largest text `big` and `big-result` produce (keeps a typo from exhausting memory).
const MAX_BIG_BYTES: u64 = 256 * 1024 * 1024;

/// Longest `sleep` (a day): long enough for any test, short enough to notice a typo.
const MAX_SLEEP_MS: u64 = 24 * 60 * 60 * 1000;

/// Progress period of `sleep`.
const PROGRESS_EVERY_MS: u64 = 100;

/// What a tool needs from its caller.
pub(crate) struct ToolCtx<'a> {
    pub(crate) session: &'a Arc<Session>,
    pub(crate) sink: &'a Sink,
    /// `_meta.progressToken` of the request.
    pub(crate) progress: Option<Value>,
}

/// A successful result with one text item.
pub(crate) fn text_result(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}]})
}

/// A tool execution error.
fn error_result(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}], "isError": true})
}

/// `bytes` bytes of readable ASCII.
pub(crate) fn filler_text(bytes: u64) -> String {
    let len = usize::try_from(bytes.min(MAX_BIG_BYTES)).unwrap_or(0);
    "abcdefghijklmnopqrstuvwxyz0123456789"
        .bytes()
        .cycle()
        .take(len)
        .map(char::from)
        .collect()
}

fn string_arg<'a>(args: &'a Map<String, Value>, name: &str) -> Result<&'a str, Value> {
    args.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| error_result(format!("Invalid arguments: `{name}` must be a string")))
}

fn u64_arg(args: &Map<String, Value>, name: &str) -> Result<u64, Value> {
    args.get(name).and_then(Value::as_u64).ok_or_else(|| {
        error_result(format!(
            "Invalid arguments: `{name}` must be a non-negative integer"
        ))
    })
}

/// Runs tool `name`.
pub(crate) async fn call(
    ctx: &ToolCtx<'_>,
    name: &str,
    args: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let engine = &ctx.session.engine;
    if engine.conformance
        && let Some(result) = crate::conformance::call_tool(ctx, name, args).await
    {
        return Ok(result);
    }
    let outcome: Result<Value, Value> = match name {
        "echo" => string_arg(args, "text").map(text_result),
        "add" => add(args),
        "sleep" => match u64_arg(args, "ms") {
            Ok(ms) if ms > MAX_SLEEP_MS => Err(error_result(format!(
                "Invalid arguments: `ms` must be at most {MAX_SLEEP_MS}"
            ))),
            Ok(ms) => Ok(sleep(ctx, ms).await),
            Err(e) => Err(e),
        },
        "fail" => Ok(error_result(
            args.get("message")
                .and_then(Value::as_str)
                .unwrap_or("chaos: the fail tool failed"),
        )),
        "crash" => {
            engine.exit(3, "chaos: crashing on purpose");
            std::future::pending::<()>().await;
            unreachable_result()
        }
        "elicit" => {
            let message = args
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("chaos: please fill in this form");
            Ok(ask(ctx, "elicitation/create", Some(elicitation_params(message))).await)
        }
        "sample" => match string_arg(args, "prompt") {
            Ok(prompt) => {
                Ok(ask(ctx, "sampling/createMessage", Some(sampling_params(prompt))).await)
            }
            Err(e) => Err(e),
        },
        "roots" => Ok(ask(ctx, "roots/list", None).await),
        "big" => match u64_arg(args, "bytes") {
            Ok(bytes) if bytes > MAX_BIG_BYTES => Err(error_result(format!(
                "Invalid arguments: `bytes` must be at most {MAX_BIG_BYTES}"
            ))),
            Ok(bytes) => Ok(text_result(filler_text(bytes))),
            Err(e) => Err(e),
        },
        "env" => match string_arg(args, "name") {
            Ok(var) => match std::env::var(var) {
                Ok(value) => Ok(text_result(value)),
                Err(std::env::VarError::NotPresent) => Err(error_result(format!(
                    "environment variable `{var}` is not set"
                ))),
                Err(std::env::VarError::NotUnicode(_)) => Err(error_result(format!(
                    "environment variable `{var}` is not valid UTF-8"
                ))),
            },
            Err(e) => Err(e),
        },
        "cwd" => match std::env::current_dir() {
            Ok(dir) => Ok(text_result(dir.display().to_string())),
            Err(e) => Err(error_result(format!(
                "cannot read the current directory: {e}"
            ))),
        },
        "pid" => Ok(text_result(std::process::id().to_string())),
        other => match catalog::extra_tool_text(&engine.plan, other, engine.ephemeral()) {
            Some(text) => Ok(text_result(text)),
            None => {
                return Err(RpcError::new(
                    INVALID_PARAMS,
                    format!("Unknown tool: {other}"),
                ));
            }
        },
    };
    Ok(outcome.unwrap_or_else(|error| error))
}

/// Type filler for the arm after a never-ending future.
fn unreachable_result() -> Result<Value, Value> {
    Err(error_result("chaos: the process should have exited"))
}

fn add(args: &Map<String, Value>) -> Result<Value, Value> {
    let (Some(a), Some(b)) = (args.get("a"), args.get("b")) else {
        return Err(error_result("Invalid arguments: `a` and `b` are required"));
    };
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64())
        && let Some(sum) = x.checked_add(y)
    {
        return Ok(text_result(sum.to_string()));
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => Ok(text_result((x + y).to_string())),
        _ => Err(error_result(
            "Invalid arguments: `a` and `b` must be numbers",
        )),
    }
}

/// Sleeps `ms`, with one progress notification per elapsed 100 ms when a token was given.
/// The count is fixed by `ms` (deadlines, not a ticking interval), so tests can rely on it.
async fn sleep(ctx: &ToolCtx<'_>, ms: u64) -> Value {
    let start = Instant::now();
    if let Some(token) = &ctx.progress {
        let mut k = 1;
        while k * PROGRESS_EVERY_MS < ms {
            let done = k * PROGRESS_EVERY_MS;
            tokio::time::sleep_until(start + Duration::from_millis(done)).await;
            ctx.session.notify(
                ctx.sink,
                "notifications/progress",
                json!({
                    "progressToken": token,
                    "progress": done,
                    "total": ms,
                    "message": format!("slept {done} of {ms} ms"),
                }),
            );
            k += 1;
        }
    }
    tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
    text_result(format!("slept {ms} ms"))
}

/// Sends a server→client request and turns the answer into a tool result.
async fn ask(ctx: &ToolCtx<'_>, method: &str, params: Option<Value>) -> Value {
    match ctx.session.request(ctx.sink, method, params).await {
        Ok(answer) => text_result(answer.to_string()),
        Err(error) => error_result(format!("{method} failed: {error}")),
    }
}

fn elicitation_params(message: &str) -> Value {
    json!({
        "message": message,
        "requestedSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "title": "Name", "description": "Your name", "default": "chaos"},
                "confirm": {"type": "boolean", "title": "Confirm", "default": true},
                "count": {"type": "integer", "title": "Count", "minimum": 0, "default": 1},
                "color": {"type": "string", "title": "Color", "enum": ["red", "green", "blue"], "default": "green"},
            },
            "required": ["name"],
        },
    })
}

fn sampling_params(prompt: &str) -> Value {
    json!({
        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
        "systemPrompt": "You are answering a test request from tether chaos.",
        "maxTokens": 256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_text_has_the_exact_length() {
        assert_eq!(filler_text(0).len(), 0);
        assert_eq!(filler_text(100_000).len(), 100_000);
    }

    #[test]
    fn add_keeps_integers_exact() {
        let args = |a: Value, b: Value| {
            let mut m = Map::new();
            m.insert("a".into(), a);
            m.insert("b".into(), b);
            m
        };
        let text = |v: Value| v["content"][0]["text"].as_str().map(str::to_owned);
        assert_eq!(
            text(add(&args(json!(2), json!(3))).expect("ok")),
            Some("5".into())
        );
        assert_eq!(
            text(add(&args(json!(2.5), json!(0.25))).expect("ok")),
            Some("2.75".into())
        );
        assert!(add(&args(json!("x"), json!(1))).is_err());
    }
}
