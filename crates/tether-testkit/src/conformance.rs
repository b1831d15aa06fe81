//! `--conformance`: everything the official MCP conformance suite's SERVER scenarios call
//! (`@modelcontextprotocol/conformance`), offered in addition to the chaos catalog.
//!
//! The suite calls fixed names: tools `test_*` (text, image, audio, embedded resource, mixed
//! content, logging, error, progress, sampling, elicitation with SEP-1034 defaults and SEP-1330
//! enums, SSE reconnection) and `json_schema_2020_12_tool`, resources `test://static-text`,
//! `test://static-binary`, `test://watched-resource` (subscribable) and the template
//! `test://template/{id}/data`, prompts `test_*`, `completion/complete`, and `logging/setLevel`
//! filtering `notifications/message`. Everything here is transport-independent except two HTTP
//! details that the transports ask this module about: the `Host` check against DNS rebinding
//! ([`check_host`]) and the `test_reconnection` call whose POST SSE stream is closed after its
//! priming event ([`closes_stream`]).
//!
//! Faults still apply: the conformance tools go through the same `tools/call` path (so
//! `crash-on-call`, `empty-result`, `slow:tools/call:MS`, ... affect them) and the lists are
//! paginated by `page-size`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Response, header};
use serde_json::{Map, Value, json};

use crate::behavior::Session;
use crate::canned;
use crate::http::lock;
use crate::message::{INVALID_PARAMS, RESOURCE_NOT_FOUND, RpcError};
use crate::tools::{ToolCtx, text_result};

/// A 1×1 red PNG, base64.
pub(crate) const PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP4z8DwHwAFAAH/VscvDQAAAABJRU5ErkJggg==";

/// A 60-byte WAV file (8 kHz, mono, 8-bit, 16 samples of silence), base64.
pub(crate) const WAV_BASE64: &str =
    "UklGRjQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YRAAAACAgICAgICAgICAgICAgICA";

/// Text of `test://static-text`.
pub(crate) const STATIC_TEXT: &str = "This is the content of the static text resource.";

/// The tool whose POST SSE stream is closed after its priming event (SEP-1699 polling).
pub(crate) const RECONNECTION_TOOL: &str = "test_reconnection";

/// Log levels of `logging/setLevel`, least severe first (RFC 5424 order).
const LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// Pause between the notifications of the logging and progress tools.
const STEP: Duration = Duration::from_millis(50);

/// How long `test_reconnection` works before answering (its stream is already closed by then).
const RECONNECTION_DELAY: Duration = Duration::from_millis(100);

const STATIC_TEXT_URI: &str = "test://static-text";
const STATIC_BINARY_URI: &str = "test://static-binary";
const WATCHED_URI: &str = "test://watched-resource";
const TEMPLATE: &str = "test://template/{id}/data";
const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

/// What a session remembers for the conformance behaviour.
#[derive(Debug, Default)]
pub(crate) struct ConformanceState {
    /// The `capabilities` the client sent in `initialize` (`None` before it did).
    client_capabilities: Mutex<Option<Value>>,
    /// Index into [`LEVELS`] of the minimum level set by `logging/setLevel` (`None`: send all).
    log_level: Mutex<Option<usize>>,
    /// URIs the client subscribed to.
    subscriptions: Mutex<BTreeSet<String>>,
}

impl ConformanceState {
    /// Whether the client declared capability `name` (true when it never said: try anyway).
    fn client_supports(&self, name: &str) -> bool {
        lock(&self.client_capabilities)
            .as_ref()
            .is_none_or(|caps| caps.get(name).is_some_and(|c| !c.is_null()))
    }

    fn wants_level(&self, level: &str) -> bool {
        let Some(min) = *lock(&self.log_level) else {
            return true;
        };
        LEVELS.iter().position(|l| *l == level).unwrap_or(0) >= min
    }

    /// Resources this session subscribed to (for tests).
    #[cfg(test)]
    fn subscribed(&self) -> Vec<String> {
        lock(&self.subscriptions).iter().cloned().collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Capabilities and catalog
// ---------------------------------------------------------------------------------------------

/// Adds what the conformance scenarios need to the `initialize` capabilities.
pub(crate) fn add_capabilities(capabilities: &mut Map<String, Value>) {
    capabilities.insert("resources".into(), json!({"subscribe": true}));
    capabilities.insert("completions".into(), json!({}));
    capabilities.insert("logging".into(), json!({}));
}

fn no_params() -> Value {
    json!({"type": "object", "properties": {}})
}

fn tool(name: &str, description: &str, input_schema: Value) -> Value {
    json!({"name": name, "description": description, "inputSchema": input_schema})
}

/// The conformance tools, in list order.
pub(crate) fn tools() -> Vec<Value> {
    vec![
        tool("test_simple_text", "Returns one text item.", no_params()),
        tool(
            "test_image_content",
            "Returns one image item (a 1x1 PNG).",
            no_params(),
        ),
        tool(
            "test_audio_content",
            "Returns one audio item (a short WAV).",
            no_params(),
        ),
        tool(
            "test_embedded_resource",
            "Returns one embedded text resource.",
            no_params(),
        ),
        tool(
            "test_multiple_content_types",
            "Returns a text, an image and an embedded resource item.",
            no_params(),
        ),
        tool(
            "test_tool_with_logging",
            "Sends three info-level notifications/message, 50 ms apart, then answers.",
            no_params(),
        ),
        tool(
            "test_error_handling",
            "Always returns a tool error (isError: true).",
            no_params(),
        ),
        tool(
            "test_tool_with_progress",
            "Sends notifications/progress 0, 50 and 100 of 100, 50 ms apart, when the request \
             carries _meta.progressToken.",
            no_params(),
        ),
        tool(
            "test_sampling",
            "Asks the client's model with sampling/createMessage and returns its answer.",
            json!({
                "type": "object",
                "properties": {"prompt": {"type": "string", "description": "The prompt to send"}},
                "required": ["prompt"],
            }),
        ),
        tool(
            "test_elicitation",
            "Asks the user for a username and an email with elicitation/create.",
            json!({
                "type": "object",
                "properties": {"message": {"type": "string", "description": "The message to show"}},
                "required": ["message"],
            }),
        ),
        tool(
            "test_elicitation_sep1034_defaults",
            "Elicitation whose schema has defaults for string, integer, number, enum and boolean \
             fields (SEP-1034).",
            no_params(),
        ),
        tool(
            "test_elicitation_sep1330_enums",
            "Elicitation whose schema has the five enum variants of SEP-1330.",
            no_params(),
        ),
        tool(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features ($schema, $defs, $ref, additionalProperties).",
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "type": "object",
                        "properties": {
                            "street": {"type": "string"},
                            "city": {"type": "string"},
                        },
                    },
                },
                "properties": {
                    "name": {"type": "string"},
                    "address": {"$ref": "#/$defs/address"},
                },
                "additionalProperties": false,
            }),
        ),
        tool(
            RECONNECTION_TOOL,
            "Over HTTP, closes its POST SSE stream after the priming event (retry: 500) and \
             answers on the stream resumed with GET + Last-Event-ID (SEP-1699).",
            no_params(),
        ),
    ]
}

/// The conformance resources (after the chaos ones).
fn resources() -> Vec<Value> {
    vec![
        json!({
            "uri": STATIC_TEXT_URI,
            "name": "static-text",
            "title": "Static text",
            "description": "A static text resource.",
            "mimeType": "text/plain",
        }),
        json!({
            "uri": STATIC_BINARY_URI,
            "name": "static-binary",
            "title": "Static binary",
            "description": "A static binary resource (a 1x1 PNG).",
            "mimeType": "image/png",
        }),
        json!({
            "uri": WATCHED_URI,
            "name": "watched-resource",
            "title": "Watched resource",
            "description": "A resource that accepts resources/subscribe.",
            "mimeType": "text/plain",
        }),
    ]
}

fn resource_templates() -> Vec<Value> {
    vec![json!({
        "uriTemplate": TEMPLATE,
        "name": "template-data",
        "title": "Templated data",
        "description": "JSON data for any {id}.",
        "mimeType": "application/json",
    })]
}

fn prompts() -> Vec<Value> {
    vec![
        json!({
            "name": "test_simple_prompt",
            "description": "A prompt without arguments.",
        }),
        json!({
            "name": "test_prompt_with_arguments",
            "description": "A prompt that substitutes arg1 and arg2.",
            "arguments": [
                {"name": "arg1", "description": "First argument", "required": true},
                {"name": "arg2", "description": "Second argument", "required": true},
            ],
        }),
        json!({
            "name": "test_prompt_with_embedded_resource",
            "description": "A prompt that embeds the resource resourceUri.",
            "arguments": [
                {"name": "resourceUri", "description": "URI of the embedded resource", "required": true},
            ],
        }),
        json!({
            "name": "test_prompt_with_image",
            "description": "A prompt with an image.",
        }),
    ]
}

/// The `{id}` of a `test://template/{id}/data` URI.
fn template_id(uri: &str) -> Option<&str> {
    let id = uri
        .strip_prefix(TEMPLATE_PREFIX)?
        .strip_suffix(TEMPLATE_SUFFIX)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// `resources/read` of a conformance resource; `None` for other URIs.
fn read_resource(uri: &str) -> Option<Value> {
    let content = match uri {
        STATIC_TEXT_URI => json!({"uri": uri, "mimeType": "text/plain", "text": STATIC_TEXT}),
        STATIC_BINARY_URI => json!({"uri": uri, "mimeType": "image/png", "blob": PNG_BASE64}),
        WATCHED_URI => {
            json!({"uri": uri, "mimeType": "text/plain", "text": "Watched resource content."})
        }
        _ => {
            let id = template_id(uri)?;
            let data =
                json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
            json!({"uri": uri, "mimeType": "application/json", "text": data.to_string()})
        }
    };
    Some(json!({"contents": [content]}))
}

fn known_resource(uri: &str) -> bool {
    uri == crate::catalog::README_URI || read_resource(uri).is_some()
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

fn str_param<'a>(params: Option<&'a Value>, name: &str) -> Option<&'a str> {
    params.and_then(|p| p.get(name)).and_then(Value::as_str)
}

/// Handles the methods conformance mode adds or extends. `None` lets the default dispatch
/// answer (for `initialize`, after noting the client's capabilities; for prompts and resources
/// that are not the conformance ones).
pub(crate) fn dispatch(
    session: &Arc<Session>,
    method: &str,
    params: Option<&Value>,
) -> Option<Result<Value, RpcError>> {
    let state = &session.conformance;
    let outcome = match method {
        "initialize" => {
            *lock(&state.client_capabilities) = Some(
                params
                    .and_then(|p| p.get("capabilities"))
                    .cloned()
                    .unwrap_or_else(|| json!({})),
            );
            return None;
        }
        "logging/setLevel" => set_level(state, params),
        "completion/complete" => complete(params),
        "prompts/list" => {
            let mut items = crate::catalog::prompts();
            items.extend(prompts());
            session.list(items, "prompts", params)
        }
        "prompts/get" => return get_prompt(params),
        "resources/list" => {
            let mut items = crate::catalog::resources();
            items.extend(resources());
            session.list(items, "resources", params)
        }
        "resources/templates/list" => {
            session.list(resource_templates(), "resourceTemplates", params)
        }
        "resources/read" => return read_resource(str_param(params, "uri")?).map(Ok),
        "resources/subscribe" | "resources/unsubscribe" => {
            let uri = str_param(params, "uri").unwrap_or_default();
            if !known_resource(uri) {
                Err(
                    RpcError::new(RESOURCE_NOT_FOUND, format!("Resource not found: {uri}"))
                        .with_data(json!({"uri": uri})),
                )
            } else {
                let mut subscriptions = lock(&state.subscriptions);
                if method == "resources/subscribe" {
                    subscriptions.insert(uri.to_owned());
                } else {
                    subscriptions.remove(uri);
                }
                Ok(json!({}))
            }
        }
        _ => return None,
    };
    Some(outcome)
}

fn set_level(state: &ConformanceState, params: Option<&Value>) -> Result<Value, RpcError> {
    let level = str_param(params, "level").unwrap_or_default();
    let Some(index) = LEVELS.iter().position(|l| *l == level) else {
        return Err(RpcError::new(
            INVALID_PARAMS,
            format!(
                "Invalid log level: {level:?} (expected one of {})",
                LEVELS.join(", ")
            ),
        ));
    };
    *lock(&state.log_level) = Some(index);
    Ok(json!({}))
}

fn get_prompt(params: Option<&Value>) -> Option<Result<Value, RpcError>> {
    let name = str_param(params, "name")?;
    let args = params.and_then(|p| p.get("arguments"));
    let arg = |key: &str| -> Result<&str, RpcError> {
        args.and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                RpcError::new(INVALID_PARAMS, format!("Missing required argument: {key}"))
            })
    };
    let user = |content: Value| json!({"role": "user", "content": content});
    let text = |t: String| json!({"type": "text", "text": t});
    let result = match name {
        "test_simple_prompt" => Ok(json!({
            "description": "A prompt without arguments.",
            "messages": [user(text("This is a simple prompt for testing.".into()))],
        })),
        "test_prompt_with_arguments" => arg("arg1").and_then(|arg1| {
            let arg2 = arg("arg2")?;
            Ok(json!({
                "description": "A prompt that substitutes arg1 and arg2.",
                "messages": [user(text(format!(
                    "Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
                )))],
            }))
        }),
        "test_prompt_with_embedded_resource" => arg("resourceUri").map(|uri| {
            json!({
                "description": "A prompt that embeds a resource.",
                "messages": [
                    user(json!({"type": "resource", "resource": {
                        "uri": uri,
                        "mimeType": "text/plain",
                        "text": "Embedded resource content for testing.",
                    }})),
                    user(text("Please process the embedded resource above.".into())),
                ],
            })
        }),
        "test_prompt_with_image" => Ok(json!({
            "description": "A prompt with an image.",
            "messages": [
                user(json!({"type": "image", "data": PNG_BASE64, "mimeType": "image/png"})),
                user(text("Please analyze the image above.".into())),
            ],
        })),
        _ => return None,
    };
    Some(result)
}

/// `completion/complete`: prefix matches (case-insensitive) among a few candidates per argument.
fn complete(params: Option<&Value>) -> Result<Value, RpcError> {
    let reference = params.and_then(|p| p.get("ref"));
    let kind = reference
        .and_then(|r| r.get("type"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let argument = params.and_then(|p| p.get("argument"));
    let arg_name = argument
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let value = argument
        .and_then(|a| a.get("value"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let candidates: &[&str] = match kind {
        "ref/prompt" => {
            let name = reference
                .and_then(|r| r.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let known = crate::catalog::prompts()
                .into_iter()
                .chain(prompts())
                .any(|p| p["name"] == name);
            if !known {
                return Err(RpcError::new(
                    INVALID_PARAMS,
                    format!("Unknown prompt: {name}"),
                ));
            }
            match (name, arg_name) {
                ("test_prompt_with_arguments", "arg1") => {
                    &["hello", "help", "paris", "park", "party", "testValue1"]
                }
                ("test_prompt_with_arguments", "arg2") => &["world", "word", "testValue2"],
                ("test_prompt_with_embedded_resource", "resourceUri") => {
                    &[STATIC_TEXT_URI, STATIC_BINARY_URI, WATCHED_URI]
                }
                _ => &[],
            }
        }
        "ref/resource" => {
            let uri = reference
                .and_then(|r| r.get("uri"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if uri != TEMPLATE {
                return Err(RpcError::new(
                    INVALID_PARAMS,
                    format!("Unknown resource template: {uri}"),
                ));
            }
            match arg_name {
                "id" => &["1", "2", "3", "42", "123"],
                _ => &[],
            }
        }
        other => {
            return Err(RpcError::new(
                INVALID_PARAMS,
                format!("Invalid completion reference type: {other:?}"),
            ));
        }
    };
    let wanted = value.to_lowercase();
    let values: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|c| c.to_lowercase().starts_with(&wanted))
        .collect();
    Ok(json!({"completion": {"values": values, "total": values.len(), "hasMore": false}}))
}

// ---------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------

fn error_result(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}], "isError": true})
}

fn image_item() -> Value {
    json!({"type": "image", "data": PNG_BASE64, "mimeType": "image/png"})
}

/// Runs conformance tool `name`; `None` when `name` is not one.
pub(crate) async fn call_tool(
    ctx: &ToolCtx<'_>,
    name: &str,
    args: &Map<String, Value>,
) -> Option<Value> {
    let result = match name {
        "test_simple_text" => text_result("This is a simple text response for testing."),
        "test_image_content" => json!({"content": [image_item()]}),
        "test_audio_content" => {
            json!({"content": [{"type": "audio", "data": WAV_BASE64, "mimeType": "audio/wav"}]})
        }
        "test_embedded_resource" => json!({"content": [{"type": "resource", "resource": {
            "uri": "test://embedded-resource",
            "mimeType": "text/plain",
            "text": "This is an embedded resource content.",
        }}]}),
        "test_multiple_content_types" => json!({"content": [
            {"type": "text", "text": "Multiple content types test:"},
            image_item(),
            {"type": "resource", "resource": {
                "uri": "test://mixed-content-resource",
                "mimeType": "application/json",
                "text": json!({"test": "data", "value": 123}).to_string(),
            }},
        ]}),
        "test_tool_with_logging" => with_logging(ctx).await,
        "test_error_handling" => {
            error_result("This tool intentionally returns an error for testing")
        }
        "test_tool_with_progress" => with_progress(ctx).await,
        "test_sampling" => sampling(ctx, args).await,
        "test_elicitation" => match args.get("message").and_then(Value::as_str) {
            Some(message) => {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"},
                    },
                    "required": ["username", "email"],
                });
                match elicit(ctx, message, schema).await {
                    Ok(answer) => text_result(format!("User response: {answer}")),
                    Err(error) => error,
                }
            }
            None => error_result("Invalid arguments: `message` must be a string"),
        },
        "test_elicitation_sep1034_defaults" => {
            let schema = json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "User name", "default": "John Doe"},
                    "age": {"type": "integer", "description": "User age", "default": 30},
                    "score": {"type": "number", "description": "User score", "default": 95.5},
                    "status": {
                        "type": "string",
                        "description": "User status",
                        "enum": ["active", "inactive", "pending"],
                        "default": "active",
                    },
                    "verified": {"type": "boolean", "description": "Verification status", "default": true},
                },
            });
            elicitation_completed(
                elicit(
                    ctx,
                    "Please review and update the form fields with defaults",
                    schema,
                )
                .await,
            )
        }
        "test_elicitation_sep1330_enums" => {
            let titled = |values: [(&str, &str); 3]| -> Vec<Value> {
                values
                    .iter()
                    .map(|(c, t)| json!({"const": c, "title": t}))
                    .collect()
            };
            let schema = json!({
                "type": "object",
                "properties": {
                    "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                    "titledSingle": {"type": "string", "oneOf": titled([
                        ("value1", "First Option"), ("value2", "Second Option"), ("value3", "Third Option"),
                    ])},
                    "legacyEnum": {
                        "type": "string",
                        "enum": ["opt1", "opt2", "opt3"],
                        "enumNames": ["Option One", "Option Two", "Option Three"],
                    },
                    "untitledMulti": {
                        "type": "array",
                        "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                    },
                    "titledMulti": {"type": "array", "items": {"anyOf": titled([
                        ("value1", "First Choice"), ("value2", "Second Choice"), ("value3", "Third Choice"),
                    ])}},
                },
            });
            elicitation_completed(elicit(ctx, "Please pick from the enum fields", schema).await)
        }
        "json_schema_2020_12_tool" => text_result(format!(
            "json_schema_2020_12_tool called with {}",
            Value::Object(args.clone())
        )),
        RECONNECTION_TOOL => {
            tokio::time::sleep(RECONNECTION_DELAY).await;
            text_result("Reconnection test completed successfully")
        }
        _ => return None,
    };
    Some(result)
}

/// Sends `notifications/message` related to the current request, unless below the level the
/// client set.
fn log(ctx: &ToolCtx<'_>, level: &str, data: &str) {
    if !ctx.session.conformance.wants_level(level) {
        return;
    }
    ctx.session.notify(
        ctx.sink,
        "notifications/message",
        json!({"level": level, "logger": "test_tool_with_logging", "data": data}),
    );
}

async fn with_logging(ctx: &ToolCtx<'_>) -> Value {
    log(ctx, "info", "Tool execution started");
    tokio::time::sleep(STEP).await;
    log(ctx, "info", "Tool processing data");
    tokio::time::sleep(STEP).await;
    log(ctx, "info", "Tool execution completed");
    text_result("Logging tool completed: sent 3 log notifications")
}

async fn with_progress(ctx: &ToolCtx<'_>) -> Value {
    for (i, progress) in [0, 50, 100].into_iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(STEP).await;
        }
        if let Some(token) = &ctx.progress {
            ctx.session.notify(
                ctx.sink,
                "notifications/progress",
                json!({
                    "progressToken": token,
                    "progress": progress,
                    "total": 100,
                    "message": format!("{progress}% done"),
                }),
            );
        }
    }
    text_result("Progress tool completed: reported 0, 50 and 100 of 100")
}

/// The text of a sampling answer's content (an item or, since 2025-11-25, an array of items).
fn sampled_text(answer: &Value) -> String {
    let item_text = |item: &Value| item.get("text").and_then(Value::as_str).map(str::to_owned);
    match answer.get("content") {
        Some(Value::Array(items)) => {
            let texts: Vec<String> = items.iter().filter_map(item_text).collect();
            if texts.is_empty() {
                Value::Array(items.clone()).to_string()
            } else {
                texts.join("\n")
            }
        }
        Some(item) => item_text(item).unwrap_or_else(|| item.to_string()),
        None => answer.to_string(),
    }
}

async fn sampling(ctx: &ToolCtx<'_>, args: &Map<String, Value>) -> Value {
    let Some(prompt) = args.get("prompt").and_then(Value::as_str) else {
        return error_result("Invalid arguments: `prompt` must be a string");
    };
    if !ctx.session.conformance.client_supports("sampling") {
        return error_result("The client does not support sampling (no `sampling` capability)");
    }
    let params = json!({
        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
        "maxTokens": 100,
    });
    match ctx
        .session
        .request(ctx.sink, "sampling/createMessage", Some(params))
        .await
    {
        Ok(answer) => text_result(format!("LLM response: {}", sampled_text(&answer))),
        Err(error) => error_result(format!("sampling/createMessage failed: {error}")),
    }
}

/// Sends `elicitation/create`; `Err` is the tool error result to return.
async fn elicit(ctx: &ToolCtx<'_>, message: &str, schema: Value) -> Result<Value, Value> {
    if !ctx.session.conformance.client_supports("elicitation") {
        return Err(error_result(
            "The client does not support elicitation (no `elicitation` capability)",
        ));
    }
    let params = json!({"message": message, "requestedSchema": schema});
    ctx.session
        .request(ctx.sink, "elicitation/create", Some(params))
        .await
        .map_err(|error| error_result(format!("elicitation/create failed: {error}")))
}

fn elicitation_completed(outcome: Result<Value, Value>) -> Value {
    match outcome {
        Ok(answer) => {
            let action = answer
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            let content = answer.get("content").cloned().unwrap_or(Value::Null);
            text_result(format!(
                "Elicitation completed: action={action}, content={content}"
            ))
        }
        Err(error) => error,
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP details
// ---------------------------------------------------------------------------------------------

/// Whether a request is a `tools/call` of [`RECONNECTION_TOOL`], whose POST SSE stream the
/// HTTP transport closes after the priming event.
pub(crate) fn closes_stream(method: &str, params: Option<&Value>) -> bool {
    method == "tools/call" && str_param(params, "name") == Some(RECONNECTION_TOOL)
}

/// Whether the host part of a `Host` header names the loopback interface.
fn host_is_loopback(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(v6) = host.strip_prefix('[') {
        match v6.split_once(']') {
            Some((inner, _)) => return inner == "::1",
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1"
}

/// DNS-rebinding protection: when the server listens on a loopback address, a request whose
/// `Host` header does not name this machine gets 403 (a page on another origin reached us
/// through a name that now resolves to 127.0.0.1). `None` when the request may proceed.
pub(crate) fn check_host(headers: &HeaderMap, local: SocketAddr) -> Option<Response<Body>> {
    if !local.ip().is_loopback() {
        return None;
    }
    let host = headers
        .get(header::HOST)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned());
    if host.as_deref().is_some_and(host_is_loopback) {
        return None;
    }
    let shown = host.as_deref().unwrap_or("(none)");
    Some(canned::rpc_error(
        403,
        -32000,
        &format!("Forbidden: invalid Host header: {shown}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_ids_are_single_segments() {
        assert_eq!(template_id("test://template/123/data"), Some("123"));
        assert_eq!(template_id("test://template//data"), None);
        assert_eq!(template_id("test://template/1/2/data"), None);
        assert_eq!(template_id("test://template/1/other"), None);
        let read = read_resource("test://template/123/data").expect("template");
        assert!(
            read["contents"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("123"))
        );
    }

    #[test]
    fn log_levels_filter_below_the_minimum() {
        let state = ConformanceState::default();
        assert!(state.wants_level("debug"), "everything before setLevel");
        assert!(set_level(&state, Some(&json!({"level": "warning"}))).is_ok());
        assert!(!state.wants_level("info"));
        assert!(state.wants_level("warning"));
        assert!(state.wants_level("emergency"));
        let err = set_level(&state, Some(&json!({"level": "loud"}))).expect_err("bad level");
        assert_eq!(err.code, INVALID_PARAMS);
    }

    #[test]
    fn completion_filters_by_prefix() {
        let done = complete(Some(&json!({
            "ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"},
            "argument": {"name": "arg1", "value": "par"},
        })))
        .expect("complete");
        assert_eq!(
            done["completion"]["values"],
            json!(["paris", "park", "party"])
        );
        let ids = complete(Some(&json!({
            "ref": {"type": "ref/resource", "uri": TEMPLATE},
            "argument": {"name": "id", "value": "1"},
        })))
        .expect("complete");
        assert_eq!(ids["completion"]["values"], json!(["1", "123"]));
        assert!(
            complete(Some(&json!({
                "ref": {"type": "ref/prompt", "name": "nope"},
                "argument": {"name": "x", "value": ""},
            })))
            .is_err()
        );
    }

    #[test]
    fn client_capabilities_gate_server_requests() {
        let state = ConformanceState::default();
        assert!(state.client_supports("sampling"), "unknown: try anyway");
        *lock(&state.client_capabilities) = Some(json!({"elicitation": {}}));
        assert!(state.client_supports("elicitation"));
        assert!(!state.client_supports("sampling"));
        assert!(state.subscribed().is_empty());
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for ok in [
            "localhost",
            "localhost:3000",
            "127.0.0.1:1",
            "[::1]:8080",
            "LOCALHOST",
        ] {
            assert!(host_is_loopback(ok), "{ok}");
        }
        for bad in [
            "evil.example.com",
            "evil.example.com:3000",
            "127.0.0.1.evil.example",
            "[::2]:1",
            "",
        ] {
            assert!(!host_is_loopback(bad), "{bad}");
        }
    }

    #[test]
    fn sampled_text_reads_items_and_arrays() {
        assert_eq!(
            sampled_text(&json!({"content": {"type": "text", "text": "hi"}})),
            "hi"
        );
        assert_eq!(
            sampled_text(
                &json!({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})
            ),
            "a\nb"
        );
    }
}
