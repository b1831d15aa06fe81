//! MCP payloads: lifecycle, tools, prompts, resources, progress, cancellation, list changes.
//!
//! Lists decode item by item: one malformed tool is dropped with a [`ListIssue`] and the rest are
//! kept (rmcp and Codex reject the whole list, which is how users end up with zero tools).
//! Unknown members are preserved in `extra` so a gateway can forward what it does not understand.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::jsonrpc::Id;

/// Method names.
pub mod method {
    #![allow(missing_docs)]
    pub const INITIALIZE: &str = "initialize";
    pub const INITIALIZED: &str = "notifications/initialized";
    pub const PING: &str = "ping";
    pub const TOOLS_LIST: &str = "tools/list";
    pub const TOOLS_CALL: &str = "tools/call";
    pub const PROMPTS_LIST: &str = "prompts/list";
    pub const PROMPTS_GET: &str = "prompts/get";
    pub const RESOURCES_LIST: &str = "resources/list";
    pub const RESOURCES_READ: &str = "resources/read";
    pub const RESOURCE_TEMPLATES_LIST: &str = "resources/templates/list";
    pub const RESOURCES_SUBSCRIBE: &str = "resources/subscribe";
    pub const RESOURCES_UNSUBSCRIBE: &str = "resources/unsubscribe";
    pub const COMPLETE: &str = "completion/complete";
    pub const SET_LEVEL: &str = "logging/setLevel";
    pub const PROGRESS: &str = "notifications/progress";
    pub const CANCELLED: &str = "notifications/cancelled";
    pub const MESSAGE: &str = "notifications/message";
    pub const TOOLS_LIST_CHANGED: &str = "notifications/tools/list_changed";
    pub const PROMPTS_LIST_CHANGED: &str = "notifications/prompts/list_changed";
    pub const RESOURCES_LIST_CHANGED: &str = "notifications/resources/list_changed";
    pub const RESOURCES_UPDATED: &str = "notifications/resources/updated";
    pub const ROOTS_LIST: &str = "roots/list";
    pub const ROOTS_LIST_CHANGED: &str = "notifications/roots/list_changed";
    pub const SAMPLING_CREATE: &str = "sampling/createMessage";
    pub const ELICITATION_CREATE: &str = "elicitation/create";
    pub const SERVER_DISCOVER: &str = "server/discover";
}

/// Name and version of a client or server.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Implementation {
    /// Programmatic name.
    #[serde(default)]
    pub name: String,
    /// Version string.
    #[serde(default)]
    pub version: String,
    /// Display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// `initialize` request parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    /// The version the client asks for.
    pub protocol_version: String,
    /// What the client can do.
    #[serde(default)]
    pub capabilities: Value,
    /// Who the client is.
    #[serde(default)]
    pub client_info: Implementation,
}

/// `initialize` result.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    /// The version the server chose.
    pub protocol_version: String,
    /// What the server offers.
    #[serde(default)]
    pub capabilities: ServerCapabilities,
    /// Who the server is (some servers omit it).
    #[serde(default)]
    pub server_info: Implementation,
    /// Free-text usage instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

/// Server capabilities; members Tether does not interpret stay in `extra`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServerCapabilities {
    /// Tools, with `listChanged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Value>,
    /// Prompts, with `listChanged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<Value>,
    /// Resources, with `subscribe` and `listChanged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Value>,
    /// Log messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Value>,
    /// Argument completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completions: Option<Value>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ServerCapabilities {
    /// Names of the advertised capabilities, in a stable order.
    pub fn names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        for (name, present) in [
            ("tools", self.tools.is_some()),
            ("prompts", self.prompts.is_some()),
            ("resources", self.resources.is_some()),
            ("logging", self.logging.is_some()),
            ("completions", self.completions.is_some()),
        ] {
            if present {
                names.push(name);
            }
        }
        names.extend(self.extra.keys().map(String::as_str));
        names
    }
}

/// A tool definition: its name and description, and the whole definition as the server sent it.
///
/// Kept as raw JSON rather than a tree of values: a gateway holds every upstream's tools, and
/// forwards them as they are (renamed), so parsing schemas would only cost memory.
#[derive(Clone, Debug)]
pub struct Tool {
    /// Unique name within its server.
    pub name: String,
    /// Description for the model.
    pub description: Option<String>,
    raw: Box<RawValue>,
}

impl PartialEq for Tool {
    fn eq(&self, other: &Self) -> bool {
        self.raw.get() == other.raw.get()
    }
}

impl Tool {
    /// Reads a tool definition; the error says what makes it unusable.
    pub fn from_raw(raw: Box<RawValue>) -> Result<Tool, String> {
        #[derive(Deserialize)]
        struct Head<'a> {
            name: String,
            #[serde(default)]
            description: Option<String>,
            #[serde(rename = "inputSchema", borrow)]
            input_schema: &'a RawValue,
        }
        let head: Head<'_> = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
        if head.name.is_empty() {
            return Err("empty name".to_owned());
        }
        if !head.input_schema.get().trim_start().starts_with('{') {
            return Err("`inputSchema` is not an object".to_owned());
        }
        Ok(Tool {
            name: head.name,
            description: head.description,
            raw,
        })
    }

    /// The definition exactly as the server sent it.
    pub fn raw(&self) -> &RawValue {
        &self.raw
    }

    /// The `inputSchema` (parsed on demand).
    pub fn input_schema(&self) -> Value {
        self.member("inputSchema").unwrap_or(Value::Null)
    }

    /// The `outputSchema`, if any (parsed on demand).
    pub fn output_schema(&self) -> Option<Value> {
        self.member("outputSchema")
    }

    fn member(&self, key: &str) -> Option<Value> {
        let map: std::collections::HashMap<&str, &RawValue> =
            serde_json::from_str(self.raw.get()).ok()?;
        serde_json::from_str(map.get(key)?.get()).ok()
    }

    /// The definition under another name (everything else untouched, member order kept).
    pub fn renamed(&self, name: &str) -> Box<RawValue> {
        let Ok(Members(members)) = serde_json::from_str::<Members<'_>>(self.raw.get()) else {
            return self.raw.clone();
        };
        let mut out = String::with_capacity(self.raw.get().len() + name.len());
        out.push('{');
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(key).unwrap_or_default());
            out.push(':');
            if key == "name" {
                out.push_str(&serde_json::to_string(name).unwrap_or_default());
            } else {
                out.push_str(value.get());
            }
        }
        out.push('}');
        RawValue::from_string(out).unwrap_or_else(|_| self.raw.clone())
    }
}

/// The members of a JSON object in their order, values left raw.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Serialize for Tool {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Tool {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Tool::from_raw(raw).map_err(serde::de::Error::custom)
    }
}

/// A prompt definition.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Prompt {
    /// Unique name within its server.
    pub name: String,
    /// Everything else, forwarded untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A resource (or resource template) definition.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// The resource URI (`uriTemplate` for templates is kept in `extra`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Everything else, forwarded untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Something wrong with one item of a list; the item was dropped, the list kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListIssue {
    /// Position in the page.
    pub index: usize,
    /// The item's name when it had a readable one.
    pub name: Option<String>,
    /// What was wrong.
    pub reason: String,
}

/// One page of a list, decoded tolerantly.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items that decoded.
    pub items: Vec<T>,
    /// Where the next page starts.
    pub next_cursor: Option<String>,
    /// Items that were dropped, and why.
    pub issues: Vec<ListIssue>,
}

/// An item kind that can appear in a paginated list.
pub trait ListItem: Sized + for<'de> Deserialize<'de> {
    /// The member of the result that holds the items (`tools`, `prompts`, ...).
    const KEY: &'static str;
    /// Extra checks beyond the shape.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

impl ListItem for Tool {
    const KEY: &'static str = "tools";
}

impl ListItem for Prompt {
    const KEY: &'static str = "prompts";
}

impl ListItem for Resource {
    const KEY: &'static str = "resources";
}

/// A resource template, listed under `resourceTemplates`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTemplate {
    /// The URI template.
    pub uri_template: String,
    /// Everything else, forwarded untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ListItem for ResourceTemplate {
    const KEY: &'static str = "resourceTemplates";
}

/// Why a list result could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The result is not an object with the expected array member.
    #[error("list result has no `{0}` array")]
    MissingKey(&'static str),
    /// The result is not JSON we can read.
    #[error("unreadable list result: {0}")]
    Json(#[from] serde_json::Error),
}

/// Decodes one page of a list result, dropping (and reporting) items that do not decode.
pub fn decode_page<T: ListItem>(result: &RawValue) -> Result<Page<T>, ListError> {
    let members: std::collections::HashMap<String, &RawValue> = serde_json::from_str(result.get())?;
    let items_raw = members.get(T::KEY).ok_or(ListError::MissingKey(T::KEY))?;
    let raw_items: Vec<&RawValue> =
        serde_json::from_str(items_raw.get()).map_err(|_| ListError::MissingKey(T::KEY))?;
    let mut items = Vec::with_capacity(raw_items.len());
    let mut issues = Vec::new();
    for (index, raw) in raw_items.into_iter().enumerate() {
        match serde_json::from_str::<T>(raw.get()) {
            Ok(item) => match item.check() {
                Ok(()) => items.push(item),
                Err(reason) => issues.push(ListIssue {
                    index,
                    name: name_of(raw),
                    reason,
                }),
            },
            Err(e) => issues.push(ListIssue {
                index,
                name: name_of(raw),
                reason: e.to_string(),
            }),
        }
    }
    // A `null` or non-string cursor means "no more pages".
    let next_cursor = members
        .get("nextCursor")
        .and_then(|c| serde_json::from_str::<String>(c.get()).ok());
    Ok(Page {
        items,
        next_cursor,
        issues,
    })
}

fn name_of(raw: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        name: Value,
    }
    let named: Named = serde_json::from_str(raw.get()).ok()?;
    Some(match named.name {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// Parameters for a paginated list request.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ListParams {
    /// Opaque cursor from the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `tools/call` parameters. `arguments` is always sent, `{}` when empty: many servers reject
/// its absence even though the spec makes it optional.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CallToolParams {
    /// The tool name.
    pub name: String,
    /// The arguments object.
    pub arguments: Value,
    /// Request metadata, e.g. `progressToken`.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

/// The parts of a `tools/call` result Tether looks at; the result itself is forwarded raw.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolSummary {
    /// True when the tool reported an execution error.
    #[serde(default)]
    pub is_error: Option<bool>,
    /// Content items.
    #[serde(default)]
    pub content: Option<Vec<Value>>,
    /// Structured output.
    #[serde(default)]
    pub structured_content: Option<Value>,
}

impl CallToolSummary {
    /// Reads the summary from a raw result; an unreadable result counts as empty.
    pub fn of(result: &RawValue) -> Self {
        serde_json::from_str(result.get()).unwrap_or_default()
    }

    /// The text of every text content item, joined by newlines.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .flatten()
            .filter(|item| item.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|item| item.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A progress token: string or integer, like an id.
pub type ProgressToken = Id;

/// `notifications/progress` parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressParams {
    /// The token from the request's `_meta.progressToken`.
    pub progress_token: ProgressToken,
    /// Increasing progress value.
    #[serde(default)]
    pub progress: f64,
    /// Total, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    /// Human-readable status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `notifications/cancelled` parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelledParams {
    /// The id of the request being cancelled.
    pub request_id: Id,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Reads `_meta.progressToken` from raw request parameters.
pub fn progress_token(params: Option<&RawValue>) -> Option<ProgressToken> {
    #[derive(Deserialize)]
    struct Meta {
        #[serde(rename = "progressToken")]
        progress_token: Option<Id>,
    }
    #[derive(Deserialize)]
    struct WithMeta {
        #[serde(rename = "_meta")]
        meta: Option<Meta>,
    }
    let with: WithMeta = serde_json::from_str(params?.get()).ok()?;
    with.meta?.progress_token
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn one_malformed_tool_is_dropped_the_rest_kept() {
        let page: Page<Tool> = decode_page(&raw(
            r#"{"tools":[
                {"name":"ok","inputSchema":{"type":"object"}},
                {"name":"no_schema"},
                {"name":42,"inputSchema":{}},
                {"name":"str_schema","inputSchema":"object"},
                {"name":"also_ok","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}}
            ],"nextCursor":"p2"}"#,
        ))
        .unwrap();
        let names: Vec<_> = page.items.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["ok", "also_ok"]);
        assert_eq!(page.next_cursor.as_deref(), Some("p2"));
        let dropped: Vec<_> = page
            .issues
            .iter()
            .map(|i| (i.index, i.name.clone()))
            .collect();
        assert_eq!(
            dropped,
            [
                (1, Some("no_schema".to_owned())),
                (2, Some("42".to_owned())),
                (3, Some("str_schema".to_owned()))
            ]
        );
        assert!(
            page.items[1].raw().get().contains("readOnlyHint"),
            "unknown members are kept"
        );
        let renamed = page.items[1].renamed("srv__also_ok");
        assert_eq!(
            renamed.get(),
            r#"{"name":"srv__also_ok","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}}"#
        );
    }

    #[test]
    fn a_result_without_the_list_is_an_error() {
        assert!(matches!(
            decode_page::<Tool>(&raw(r#"{"items":[]}"#)),
            Err(ListError::MissingKey("tools"))
        ));
        assert!(
            decode_page::<Tool>(&raw(r#"{"tools":[],"nextCursor":null}"#))
                .unwrap()
                .next_cursor
                .is_none()
        );
    }

    #[test]
    fn progress_token_is_read_from_meta() {
        let p = raw(r#"{"name":"x","_meta":{"progressToken":"t1"}}"#);
        assert_eq!(progress_token(Some(&p)), Some(Id::from("t1")));
        assert_eq!(progress_token(Some(&raw(r#"{"name":"x"}"#))), None);
    }

    #[test]
    fn call_summary_reads_is_error_and_text() {
        let s = CallToolSummary::of(&raw(
            r#"{"content":[{"type":"text","text":"a"},{"type":"image"},{"type":"text","text":"b"}],"isError":true}"#,
        ));
        assert_eq!(s.is_error, Some(true));
        assert_eq!(s.text(), "a\nb");
    }
}
