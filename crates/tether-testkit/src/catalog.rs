//! What the server offers: tool, prompt and resource descriptions, the extra entries faults add,
//! and cursor pagination of every list.

use serde_json::{Value, json};

use crate::fault::Fault;
use crate::message::{INVALID_PARAMS, RpcError};
use crate::plan::FaultPlan;

/// The one resource.
pub(crate) const README_URI: &str = "chaos://readme";

/// Text of [`README_URI`].
pub(crate) const README_TEXT: &str = "tether chaos is a fault-injecting MCP server. \
Start it with --fault SPEC to reproduce the failures that break MCP clients; \
run `tether chaos --help` for the fault vocabulary.";

/// Name of the tool `list-changed` toggles in and out of the list.
pub(crate) const EPHEMERAL_TOOL: &str = "ephemeral";

/// The `nextCursor` that `repeat-cursor` returns on every page.
pub(crate) const REPEATED_CURSOR: &str = "chaos-repeat";

fn schema(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn no_params() -> Value {
    json!({"type": "object", "properties": {}, "additionalProperties": false})
}

fn tool(name: &str, description: &str, input_schema: Value) -> Value {
    json!({"name": name, "description": description, "inputSchema": input_schema})
}

/// The always-present tools, in list order.
pub(crate) fn base_tools() -> Vec<Value> {
    vec![
        tool(
            "echo",
            "Returns `text` unchanged.",
            schema(
                json!({"text": {"type": "string", "description": "Text to echo"}}),
                &["text"],
            ),
        ),
        tool(
            "add",
            "Returns the sum of `a` and `b` as text.",
            schema(
                json!({"a": {"type": "number"}, "b": {"type": "number"}}),
                &["a", "b"],
            ),
        ),
        tool(
            "sleep",
            "Sleeps `ms` milliseconds, sending notifications/progress every 100 ms when the \
             request carries _meta.progressToken.",
            schema(
                json!({"ms": {"type": "integer", "minimum": 0, "description": "Milliseconds"}}),
                &["ms"],
            ),
        ),
        tool(
            "fail",
            "Returns a tool error (isError: true) carrying `message`.",
            schema(json!({"message": {"type": "string"}}), &[]),
        ),
        tool(
            "crash",
            "Writes `chaos: crashing on purpose` to stderr and exits with code 3 without answering.",
            no_params(),
        ),
        tool(
            "elicit",
            "Asks the client for input with elicitation/create and returns its answer as JSON text.",
            schema(json!({"message": {"type": "string"}}), &[]),
        ),
        tool(
            "sample",
            "Asks the client's model with sampling/createMessage and returns the answer as JSON text.",
            schema(json!({"prompt": {"type": "string"}}), &["prompt"]),
        ),
        tool(
            "roots",
            "Asks the client for its roots with roots/list and returns the answer as JSON text.",
            no_params(),
        ),
        tool(
            "big",
            "Returns one text item of `bytes` bytes.",
            schema(
                json!({"bytes": {"type": "integer", "minimum": 0}}),
                &["bytes"],
            ),
        ),
        tool(
            "env",
            "Returns the value of the environment variable `name` (a tool error when unset).",
            schema(json!({"name": {"type": "string"}}), &["name"]),
        ),
        tool(
            "cwd",
            "Returns the server's current directory.",
            no_params(),
        ),
        tool("pid", "Returns the server's process id.", no_params()),
    ]
}

/// `tools:N` fillers.
fn filler_tools(count: u32) -> impl Iterator<Item = Value> {
    (0..count).map(|i| {
        tool(
            &format!("filler_{i}"),
            &format!("Filler tool {i} (tools fault); returns its own name."),
            json!({"type": "object"}),
        )
    })
}

/// `malformed-tool`: one tool without `inputSchema`, one whose name is a number.
fn malformed_tools() -> Vec<Value> {
    vec![
        json!({"name": "malformed_no_schema", "description": "A tool without inputSchema (malformed-tool fault)."}),
        json!({"name": 42, "description": "A tool whose name is a number (malformed-tool fault).", "inputSchema": {"type": "object"}}),
    ]
}

/// Long tool name used by `lint-bait` (80 characters).
fn long_name() -> String {
    format!("lint_bait_{}", "long_".repeat(14))
}

/// `lint-bait`: valid JSON that trips client lints.
fn lint_bait_tools() -> Vec<Value> {
    let object = json!({"type": "object"});
    vec![
        tool(
            "lint bait with spaces",
            "A name with spaces.",
            object.clone(),
        ),
        tool(&long_name(), "A name over 64 characters.", object.clone()),
        tool(
            "lint_duplicate",
            "First of two tools with this name.",
            object.clone(),
        ),
        tool(
            "lint_duplicate",
            "Second of two tools with this name.",
            object.clone(),
        ),
        tool(
            "lint_long_description",
            &"A 3000-character description. ".repeat(100),
            object.clone(),
        ),
        tool(
            "lint_any_of",
            "An inputSchema with a root-level anyOf.",
            json!({"anyOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"type": "object", "properties": {"b": {"type": "number"}}, "required": ["b"]},
            ]}),
        ),
        json!({
            "name": "lint_output_schema",
            "description": "An outputSchema whose root is not an object.",
            "inputSchema": object,
            "outputSchema": {"type": "string"},
        }),
    ]
}

/// The `tools/list` content for this request (each list-shaping fault counts one occurrence).
/// With `conformance`, the conformance suite's tools follow the base tools.
pub(crate) fn tool_list(plan: &FaultPlan, ephemeral: bool, conformance: bool) -> Vec<Value> {
    if plan.fires(|f| matches!(f, Fault::NoTools | Fault::NoToolsCapability)) {
        return Vec::new();
    }
    let mut tools = base_tools();
    if conformance {
        tools.extend(crate::conformance::tools());
    }
    if ephemeral {
        tools.push(tool(
            EPHEMERAL_TOOL,
            "Comes and goes with the list-changed fault.",
            no_params(),
        ));
    }
    if let Some(count) = plan.fire(|f| match f {
        Fault::Tools { count } => Some(*count),
        _ => None,
    }) {
        tools.extend(filler_tools(count));
    }
    if plan.fires(|f| matches!(f, Fault::MalformedTool)) {
        // Among the good ones, not at the end: a client must skip them, not stop at them.
        let at = tools.len().min(2);
        for (i, broken) in malformed_tools().into_iter().enumerate() {
            tools.insert(at + i, broken);
        }
    }
    if plan.fires(|f| matches!(f, Fault::LintBait)) {
        tools.extend(lint_bait_tools());
    }
    tools
}

/// Result text for a fault-added tool named `name`, if one is configured. Uses
/// [`FaultPlan::configured`] so a call does not depend on how often the list was fetched.
pub(crate) fn extra_tool_text(plan: &FaultPlan, name: &str, ephemeral: bool) -> Option<String> {
    if name == EPHEMERAL_TOOL && ephemeral {
        return Some("ephemeral tool called".into());
    }
    if let Some(i) = name.strip_prefix("filler_")
        && let Ok(i) = i.parse::<u32>()
        && plan
            .configured(|f| match f {
                Fault::Tools { count } => Some(*count),
                _ => None,
            })
            .is_some_and(|count| i < count)
    {
        return Some(name.to_owned());
    }
    if name == "malformed_no_schema" && plan.has(|f| matches!(f, Fault::MalformedTool)) {
        return Some("malformed tool called".into());
    }
    if plan.has(|f| matches!(f, Fault::LintBait))
        && lint_bait_tools()
            .iter()
            .any(|t| t.get("name").and_then(Value::as_str) == Some(name))
    {
        return Some(format!("lint-bait tool {name} called"));
    }
    None
}

/// The prompts.
pub(crate) fn prompts() -> Vec<Value> {
    vec![json!({
        "name": "greet",
        "title": "Greet",
        "description": "A prompt that greets someone by name.",
        "arguments": [{"name": "name", "description": "Who to greet", "required": true}],
    })]
}

/// `prompts/get greet`.
pub(crate) fn get_prompt(params: &Value) -> Result<Value, RpcError> {
    let name = params.get("name").and_then(Value::as_str).unwrap_or("");
    if name != "greet" {
        return Err(RpcError::new(
            INVALID_PARAMS,
            format!("Unknown prompt: {name}"),
        ));
    }
    let Some(who) = params
        .get("arguments")
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
    else {
        return Err(RpcError::new(
            INVALID_PARAMS,
            "Missing required argument: name",
        ));
    };
    Ok(json!({
        "description": "Greets someone by name.",
        "messages": [{"role": "user", "content": {"type": "text", "text": format!("Please greet {who}.")}}],
    }))
}

/// The resources.
pub(crate) fn resources() -> Vec<Value> {
    vec![json!({
        "uri": README_URI,
        "name": "readme",
        "title": "Chaos README",
        "description": "What this server is.",
        "mimeType": "text/plain",
    })]
}

/// Encodes a page offset. Opaque on purpose: clients must not construct cursors.
fn cursor_for(offset: usize) -> String {
    format!("chaos-page-{offset:x}")
}

fn offset_of(cursor: &str) -> Option<usize> {
    usize::from_str_radix(cursor.strip_prefix("chaos-page-")?, 16).ok()
}

/// The page of `items` that `cursor` (from the request params) designates.
pub(crate) fn page(
    items: Vec<Value>,
    params: Option<&Value>,
    page_size: Option<u32>,
) -> Result<(Vec<Value>, Option<String>), RpcError> {
    let cursor = params.and_then(|p| p.get("cursor"));
    let offset = match cursor {
        None | Some(Value::Null) => 0,
        Some(Value::String(c)) => offset_of(c)
            .filter(|o| *o <= items.len())
            .ok_or_else(|| RpcError::new(INVALID_PARAMS, format!("Invalid cursor: {c}")))?,
        Some(other) => {
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("Invalid cursor: {other}"),
            ));
        }
    };
    let Some(size) = page_size else {
        return Ok((items.into_iter().skip(offset).collect(), None));
    };
    let size = usize::try_from(size).unwrap_or(usize::MAX).max(1);
    let end = offset.saturating_add(size).min(items.len());
    let next = (end < items.len()).then(|| cursor_for(end));
    Ok((
        items.into_iter().skip(offset).take(end - offset).collect(),
        next,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!(i)).collect()
    }

    #[test]
    fn pages_walk_the_whole_list() {
        let mut cursor: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let params = cursor.as_ref().map(|c| json!({"cursor": c}));
            let (page, next) = page(items(7), params.as_ref(), Some(3)).expect("page");
            seen.extend(page);
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, items(7));
    }

    #[test]
    fn without_page_size_everything_comes_at_once() {
        let (page, next) = page(items(4), None, None).expect("page");
        assert_eq!(page.len(), 4);
        assert_eq!(next, None);
    }

    #[test]
    fn bad_cursor_is_invalid_params() {
        let err = page(items(3), Some(&json!({"cursor": "nope"})), Some(1)).expect_err("bad");
        assert_eq!(err.code, INVALID_PARAMS);
        let err = page(items(3), Some(&json!({"cursor": cursor_for(9)})), Some(1))
            .expect_err("past the end");
        assert_eq!(err.code, INVALID_PARAMS);
    }

    #[test]
    fn lint_bait_names_are_what_they_claim() {
        assert!(long_name().len() > 64);
        let tools = lint_bait_tools();
        let long = tools
            .iter()
            .find(|t| t["name"] == "lint_long_description")
            .expect("long description tool");
        assert_eq!(long["description"].as_str().map(str::len), Some(3000));
    }
}
