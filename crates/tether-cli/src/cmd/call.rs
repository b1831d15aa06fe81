//! `tether call NAME TOOL [ARGS_JSON]`: call one tool and print its result.

use serde_json::Value;
use tether_client::CallOptions;
use tether_client::error::Error;
use tether_proto::mcp::CallToolSummary;

use crate::args::{CallArgs, Cli};
use crate::out;
use crate::target;
use crate::ui::Failure;

/// Runs `tether call`; exit 1 when the call failed or the tool reported `isError: true`.
pub async fn run(cli: &Cli, args: &CallArgs) -> Result<u8, Failure> {
    let ad_hoc = args.target.is_ad_hoc();
    let (name, tool, raw_args) = match (ad_hoc, args.items.as_slice()) {
        (true, [tool]) => (None, tool, None),
        (true, [tool, a]) => (None, tool, Some(a)),
        (false, [name, tool]) => (Some(name.as_str()), tool, None),
        (false, [name, tool, a]) => (Some(name.as_str()), tool, Some(a)),
        (false, [_]) => {
            return Err(Failure::usage(
                "missing TOOL: `tether call NAME TOOL [ARGS_JSON]`",
            ));
        }
        _ => {
            return Err(Failure::usage(
                "too many arguments: `tether call NAME TOOL [ARGS_JSON]`",
            ));
        }
    };
    let arguments = match raw_args {
        None => None,
        Some(text) => Some(parse_args(text)?),
    };
    let timeout = args
        .timeout
        .map(|s| super::seconds(s, "--timeout"))
        .transpose()?;
    let spec = target::resolve(&cli.config, name, &args.target)?;
    let server = spec.name.clone();
    let redact = spec.redact.clone();
    let manager = super::start(vec![spec], cli.debug, args.elicit);
    manager.settled().await;
    let outcome = manager
        .call_tool(
            &server,
            tool,
            arguments,
            CallOptions {
                timeout,
                ..CallOptions::default()
            },
        )
        .await;
    manager.shutdown().await;
    let result = match outcome {
        Ok(r) => r,
        Err(e) => {
            let mut f = Failure::from_error(&e, &*redact);
            if let Error::Peer(obj) = &e
                && (obj.code == -32602 || obj.code == -32601)
            {
                let lister = name
                    .map(|n| format!("`tether tools {n}`"))
                    .unwrap_or("`tether tools`".into());
                f = f.hint(format!("{lister} lists the tools and their arguments"));
            }
            return Err(f);
        }
    };
    let summary = CallToolSummary::of(&result);
    if args.json {
        out!("{}", result.get());
    } else {
        print_result(&result, &summary);
    }
    if summary.is_error == Some(true) {
        return Err(
            Failure::failed(format!("tool `{tool}` reported an error (isError: true)"))
                .detail("class: tool-error")
                .hint("the message above comes from the server; it is meant for the model to read"),
        );
    }
    Ok(0)
}

/// ARGS_JSON must be a JSON object.
fn parse_args(text: &str) -> Result<Value, Failure> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Failure::usage(format!("ARGS_JSON is not valid JSON: {e}"))
            .hint(r#"quote it for the shell, e.g. '{"text":"hi"}'"#)
    })?;
    if !value.is_object() {
        return Err(
            Failure::usage("ARGS_JSON must be a JSON object").hint(r#"e.g. '{"a":1,"b":2}'"#)
        );
    }
    Ok(value)
}

/// Text items as text; other items summarised; structured content when there is no text.
fn print_result(raw: &serde_json::value::RawValue, summary: &CallToolSummary) {
    let items = summary.content.as_deref().unwrap_or_default();
    for item in items {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("?");
        match kind {
            "text" => out!("{}", item.get("text").and_then(Value::as_str).unwrap_or("")),
            "image" | "audio" => out!(
                "[{kind}: {}, {} bytes base64]",
                item.get("mimeType").and_then(Value::as_str).unwrap_or("?"),
                item.get("data").and_then(Value::as_str).map_or(0, str::len)
            ),
            "resource" => {
                let res = item.get("resource");
                out!(
                    "[resource: {}]",
                    res.and_then(|r| r.get("uri"))
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                );
                if let Some(text) = res.and_then(|r| r.get("text")).and_then(Value::as_str) {
                    out!("{text}");
                }
            }
            "resource_link" => out!(
                "[link: {}]",
                item.get("uri").and_then(Value::as_str).unwrap_or("?")
            ),
            _ => out!("[{kind}] {item}"),
        }
    }
    if items.is_empty() {
        match &summary.structured_content {
            Some(sc) => out!("{}", serde_json::to_string_pretty(sc).unwrap_or_default()),
            None => out!("{}", raw.get()),
        }
    }
}
