//! Client-compatibility lint: what specific clients reject even when the JSON is valid.
//!
//! It reads the RAW tool list (the session's tolerant decoding drops malformed tools, which is
//! exactly what must be reported here) and the raw `tools/call` result. Findings are grouped by
//! rule, naming up to five offending tools, so a server with 500 tools gets a readable report.

use std::collections::BTreeMap;

use serde_json::Value;

use super::finding::{Finding, Severity, code};

/// Bytes of a tool description (and of server instructions) Claude Code keeps (2.1.84).
pub const DESCRIPTION_LIMIT: usize = 2048;

/// Tool names shown per finding.
const SHOWN: usize = 5;

/// Accumulates offending tool names per rule.
#[derive(Default)]
struct Offenders {
    by_rule: BTreeMap<Rule, Vec<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    NotAnObject,
    NameMissing,
    NameSpec,
    NameApi,
    Duplicate,
    SchemaMissing,
    SchemaNotObject,
    SchemaCombinator,
    SchemaType,
    OutputSchema,
    LongDescription,
}

impl Offenders {
    fn add(&mut self, rule: Rule, name: String) {
        self.by_rule.entry(rule).or_default().push(name);
    }
}

fn shown(names: &[String]) -> String {
    let mut list: Vec<String> = names.iter().take(SHOWN).cloned().collect();
    if names.len() > SHOWN {
        list.push(format!("and {} more", names.len() - SHOWN));
    }
    list.join(", ")
}

fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `^[A-Za-z0-9_-]{1,64}$`: the Anthropic Messages API's (and OpenAI's) tool-name rule.
pub fn api_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `[A-Za-z0-9_.-]{1,128}`: the MCP specification's tool-name rule (2025-11-25).
pub fn spec_name_ok(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// How a tool is called in findings: its name in backticks, or its position when it has none.
fn label(index: usize, tool: &Value) -> String {
    match tool.get("name") {
        Some(Value::String(s)) => format!("`{s}`"),
        Some(other) => format!("#{index} (name {other})"),
        None => format!("#{index}"),
    }
}

/// Lints a raw tool list (every page, concatenated).
pub fn tools(list: &[Value]) -> Vec<Finding> {
    let mut o = Offenders::default();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, tool) in list.iter().enumerate() {
        let Some(obj) = tool.as_object() else {
            o.add(Rule::NotAnObject, format!("#{i}"));
            continue;
        };
        let name = label(i, tool);
        match obj.get("name").and_then(Value::as_str) {
            None => o.add(Rule::NameMissing, name.clone()),
            Some(n) => {
                *seen.entry(n).or_default() += 1;
                if !spec_name_ok(n) {
                    o.add(Rule::NameSpec, name.clone());
                } else if !api_name_ok(n) {
                    o.add(Rule::NameApi, name.clone());
                }
            }
        }
        match obj.get("inputSchema") {
            None | Some(Value::Null) => o.add(Rule::SchemaMissing, name.clone()),
            Some(Value::Object(schema)) => {
                if ["anyOf", "oneOf", "allOf"]
                    .iter()
                    .any(|k| schema.contains_key(*k))
                {
                    o.add(Rule::SchemaCombinator, name.clone());
                } else if schema.get("type").and_then(Value::as_str) != Some("object") {
                    o.add(Rule::SchemaType, name.clone());
                }
            }
            Some(_) => o.add(Rule::SchemaNotObject, name.clone()),
        }
        if let Some(out) = obj.get("outputSchema").filter(|v| !v.is_null())
            && out.get("type").and_then(Value::as_str) != Some("object")
        {
            o.add(Rule::OutputSchema, name.clone());
        }
        if let Some(d) = obj.get("description").and_then(Value::as_str)
            && d.len() > DESCRIPTION_LIMIT
        {
            o.add(Rule::LongDescription, format!("{name} ({} B)", d.len()));
        }
    }
    for (name, n) in &seen {
        if *n > 1 {
            o.add(Rule::Duplicate, format!("`{name}` ×{n}"));
        }
    }
    o.by_rule
        .into_iter()
        .map(|(rule, names)| finding(rule, &names))
        .collect()
}

fn finding(rule: Rule, names: &[String]) -> Finding {
    let n = names.len();
    let list = shown(names);
    let tools = |what: &str| format!("{} {what}: {list}", count(n, "tool", "tools"));
    match rule {
        Rule::NotAnObject => Finding::new(
            code::INVALID_TOOL_SCHEMA,
            Severity::Error,
            format!(
                "{} in tools/list is not an object: {list}",
                count(n, "entry", "entries")
            ),
            "every entry of `tools` must be a tool object; clients that validate the list \
             (the TypeScript SDK, so Claude Desktop, Cursor and most hosts) reject the whole list",
        ),
        Rule::NameMissing => Finding::new(
            code::INVALID_TOOL_NAME,
            Severity::Error,
            tools("without a string `name`"),
            "give every tool a string name; Tether drops these tools and clients that validate \
             the list (TypeScript SDK based hosts) reject the whole list",
        ),
        Rule::NameSpec => Finding::new(
            code::INVALID_TOOL_NAME,
            Severity::Warning,
            tools(
                "named outside the MCP rule [A-Za-z0-9_.-]{1,128} (and the Anthropic/OpenAI rule ^[A-Za-z0-9_-]{1,64}$)",
            ),
            "rename them with letters, digits, `_` and `-` only, at most 64 characters: the \
             Anthropic and OpenAI APIs reject other names, so hosts drop or rename these tools",
        ),
        Rule::NameApi => Finding::new(
            code::INVALID_TOOL_NAME,
            Severity::Warning,
            tools(
                "named outside ^[A-Za-z0-9_-]{1,64}$ (the Anthropic and OpenAI API rule; valid for MCP)",
            ),
            "keep names to letters, digits, `_` and `-`, at most 64 characters (shorter still: \
             hosts prefix them, e.g. Claude Code's `mcp__<server>__<tool>`)",
        ),
        Rule::Duplicate => Finding::new(
            code::DUPLICATE_TOOL_NAME,
            Severity::Error,
            format!(
                "{} defined more than once: {list}",
                count(n, "tool name is", "tool names are")
            ),
            "tool names must be unique within a server: the Anthropic API rejects a request \
             whose tools share a name, and hosts keep one of the definitions at random",
        ),
        Rule::SchemaMissing => Finding::new(
            code::INVALID_TOOL_SCHEMA,
            Severity::Error,
            tools("without `inputSchema`"),
            "add `\"inputSchema\": {\"type\": \"object\"}` (required by MCP); Tether drops these \
             tools and TypeScript SDK based hosts (Claude Desktop, Cursor) reject the whole list",
        ),
        Rule::SchemaNotObject => Finding::new(
            code::INVALID_TOOL_SCHEMA,
            Severity::Error,
            tools("whose `inputSchema` is not a JSON object"),
            "`inputSchema` must be a JSON Schema object with `\"type\": \"object\"`; hosts drop \
             these tools or reject the whole list",
        ),
        Rule::SchemaCombinator => Finding::new(
            code::INVALID_TOOL_SCHEMA,
            Severity::Warning,
            tools("with a root-level anyOf/oneOf/allOf in `inputSchema`"),
            "use one `\"type\": \"object\"` schema at the root: the Anthropic and OpenAI APIs \
             reject root-level combinators; Claude Code flattens them (2.1.195+), other hosts \
             drop the tool or fail the request",
        ),
        Rule::SchemaType => Finding::new(
            code::INVALID_TOOL_SCHEMA,
            Severity::Warning,
            tools("whose `inputSchema` lacks `\"type\": \"object\"` at the root"),
            "add `\"type\": \"object\"`: MCP requires an object schema, the TypeScript SDK's \
             validation (Claude Desktop, Cursor) rejects the list without it, model APIs reject \
             non-object input schemas",
        ),
        Rule::OutputSchema => Finding::new(
            code::INVALID_TOOL_SCHEMA,
            Severity::Warning,
            tools("whose `outputSchema` root is not `\"type\": \"object\"`"),
            "MCP requires `outputSchema` to describe an object (`structuredContent` is always \
             an object); clients that validate the list reject it, wrap the value in an object",
        ),
        Rule::LongDescription => Finding::new(
            code::LONG_TOOL_DESCRIPTION,
            Severity::Warning,
            tools(&format!(
                "with a description over {DESCRIPTION_LIMIT} bytes"
            )),
            "Claude Code truncates tool descriptions at 2 KB (2.1.84+): the model never sees \
             the rest; put the essentials first and move details to the parameter descriptions",
        ),
    }
}

/// Lints server instructions (`initialize` result).
pub fn instructions(text: Option<&str>) -> Option<Finding> {
    let len = text?.len();
    (len > DESCRIPTION_LIMIT).then(|| {
        Finding::new(
            code::LONG_INSTRUCTIONS,
            Severity::Warning,
            format!(
                "server instructions are {len} bytes, over the {DESCRIPTION_LIMIT} bytes hosts keep"
            ),
            "Claude Code truncates server instructions at 2 KB (2.1.84+): put what the model \
             must know first",
        )
    })
}

/// Token limits for tool results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResultLimits {
    /// Claude Code warns at this many tokens.
    pub warn_tokens: u64,
    /// Claude Code's `MAX_MCP_OUTPUT_TOKENS` default: results over it are rejected.
    pub max_tokens: u64,
}

impl Default for ResultLimits {
    fn default() -> Self {
        ResultLimits {
            warn_tokens: 10_000,
            max_tokens: 25_000,
        }
    }
}

/// A rough token count: bytes / 4, rounded up (what model tokenizers average on English and
/// JSON; the doctor says it is an estimate).
pub fn estimate_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

/// Content types MCP defines for tool results (2025-11-25).
const CONTENT_TYPES: [&str; 5] = ["text", "image", "audio", "resource_link", "resource"];

/// Lints a raw `tools/call` result of `bytes` bytes.
pub fn call_result(tool: &str, result: &Value, bytes: usize, limits: ResultLimits) -> Vec<Finding> {
    let mut out = Vec::new();
    let content = result.get("content");
    match content {
        Some(Value::Array(items)) => {
            let unknown: Vec<String> = items
                .iter()
                .filter_map(|item| {
                    let t = item.get("type").and_then(Value::as_str).unwrap_or("(none)");
                    (!CONTENT_TYPES.contains(&t)).then(|| format!("`{t}`"))
                })
                .collect();
            if !unknown.is_empty() {
                out.push(Finding::new(
                    code::INVALID_TOOL_RESULT,
                    Severity::Warning,
                    format!(
                        "`{tool}` returned content of unknown type {}",
                        unknown.join(", ")
                    ),
                    "use the content types MCP defines (text, image, audio, resource_link, \
                     resource); clients drop unknown items or fail the call",
                ));
            }
        }
        _ => {
            let shape = if result.as_object().is_some_and(|o| o.is_empty()) {
                "`{}`".to_owned()
            } else {
                "a result without a `content` array".to_owned()
            };
            out.push(Finding::new(
                code::INVALID_TOOL_RESULT,
                Severity::Warning,
                format!("`{tool}` returned {shape}"),
                "a tool result must carry `content` (an array, possibly empty); strict clients \
                 (TypeScript SDK based hosts) reject the result, others show the model nothing",
            ));
        }
    }
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        let text = first_text(result).unwrap_or_default();
        out.push(Finding::new(
            code::TOOL_CALL_ERROR,
            Severity::Warning,
            format!(
                "`{tool}` reported a tool error (isError: true){}",
                if text.is_empty() {
                    String::new()
                } else {
                    format!(": {}", tether_proto::ndjson::preview(text.as_bytes()))
                }
            ),
            "the server works; the tool itself failed: check the arguments (`--args`) and \
             what the tool needs (credentials, files, network)",
        ));
    }
    let tokens = estimate_tokens(bytes);
    if tokens > limits.max_tokens {
        out.push(Finding::new(
            code::LARGE_TOOL_RESULT,
            Severity::Error,
            format!(
                "`{tool}` returned {bytes} bytes ≈ {tokens} tokens (bytes/4), over the \
                 {} tokens Claude Code accepts",
                limits.max_tokens
            ),
            "return less (paginate, summarise, or return a resource link); users can raise \
             Claude Code's limit with `MAX_MCP_OUTPUT_TOKENS`",
        ));
    } else if tokens > limits.warn_tokens {
        out.push(Finding::new(
            code::LARGE_TOOL_RESULT,
            Severity::Warning,
            format!(
                "`{tool}` returned {bytes} bytes ≈ {tokens} tokens (bytes/4); Claude Code warns \
                 above {} tokens",
                limits.warn_tokens
            ),
            "large results fill the model's context; consider paginating or summarising",
        ));
    }
    out
}

fn first_text(result: &Value) -> Option<&str> {
    result
        .get("content")?
        .as_array()?
        .iter()
        .find_map(|c| c.get("text").and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codes(findings: &[Finding]) -> Vec<(&'static str, Severity)> {
        findings.iter().map(|f| (f.code, f.severity)).collect()
    }

    #[test]
    fn name_rules() {
        for ok in ["a", "get_weather", "a-b", &"x".repeat(64)] {
            assert!(api_name_ok(ok) && spec_name_ok(ok), "{ok}");
        }
        assert!(!api_name_ok(&"x".repeat(65)) && spec_name_ok(&"x".repeat(65)));
        assert!(!api_name_ok("files.read") && spec_name_ok("files.read"));
        assert!(!spec_name_ok("with space") && !api_name_ok("with space"));
        assert!(!spec_name_ok("") && !spec_name_ok(&"x".repeat(129)));
        assert!(!spec_name_ok("é"));
    }

    #[test]
    fn a_clean_list_has_no_findings() {
        let list = vec![json!({"name": "echo", "description": "d",
            "inputSchema": {"type": "object", "properties": {}},
            "outputSchema": {"type": "object"}})];
        assert!(tools(&list).is_empty());
    }

    #[test]
    fn every_rule_fires_once_per_rule() {
        let list = vec![
            json!("not a tool"),
            json!({"name": 42, "inputSchema": {"type": "object"}}),
            json!({"name": "no_schema"}),
            json!({"name": "string_schema", "inputSchema": "object"}),
            json!({"name": "any_of", "inputSchema": {"anyOf": [{"type": "object"}]}}),
            json!({"name": "no_type", "inputSchema": {"properties": {}}}),
            json!({"name": "with space", "inputSchema": {"type": "object"}}),
            json!({"name": "files.read", "inputSchema": {"type": "object"}}),
            json!({"name": "dup", "inputSchema": {"type": "object"}}),
            json!({"name": "dup", "inputSchema": {"type": "object"}}),
            json!({"name": "out", "inputSchema": {"type": "object"}, "outputSchema": {"type": "string"}}),
            json!({"name": "long", "inputSchema": {"type": "object"}, "description": "x".repeat(3000)}),
        ];
        let found = tools(&list);
        assert_eq!(
            codes(&found),
            vec![
                (code::INVALID_TOOL_SCHEMA, Severity::Error),
                (code::INVALID_TOOL_NAME, Severity::Error),
                (code::INVALID_TOOL_NAME, Severity::Warning),
                (code::INVALID_TOOL_NAME, Severity::Warning),
                (code::DUPLICATE_TOOL_NAME, Severity::Error),
                (code::INVALID_TOOL_SCHEMA, Severity::Error),
                (code::INVALID_TOOL_SCHEMA, Severity::Error),
                (code::INVALID_TOOL_SCHEMA, Severity::Warning),
                (code::INVALID_TOOL_SCHEMA, Severity::Warning),
                (code::INVALID_TOOL_SCHEMA, Severity::Warning),
                (code::LONG_TOOL_DESCRIPTION, Severity::Warning),
            ]
        );
        let dup = &found[4];
        assert!(dup.message.contains("`dup` ×2"), "{}", dup.message);
        let long = &found[10];
        assert!(long.message.contains("`long` (3000 B)"), "{}", long.message);
        assert!(
            found[1].message.contains("#1 (name 42)"),
            "{}",
            found[1].message
        );
    }

    #[test]
    fn long_lists_name_five_tools() {
        let list: Vec<Value> = (0..8)
            .map(|i| json!({"name": format!("t {i}"), "inputSchema": {"type": "object"}}))
            .collect();
        let found = tools(&list);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].message.starts_with("8 tools named"),
            "{}",
            found[0].message
        );
        assert!(
            found[0].message.ends_with("and 3 more"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn call_results() {
        let limits = ResultLimits::default();
        let ok = json!({"content": [{"type": "text", "text": "hi"}]});
        assert!(call_result("t", &ok, 40, limits).is_empty());
        let empty = call_result("t", &json!({}), 2, limits);
        assert_eq!(
            codes(&empty),
            vec![(code::INVALID_TOOL_RESULT, Severity::Warning)]
        );
        assert!(empty[0].message.contains("`{}`"));
        let widget = json!({"content": [{"type": "widget"}]});
        assert!(
            call_result("t", &widget, 30, limits)[0]
                .message
                .contains("`widget`")
        );
        let failed =
            json!({"content": [{"type": "text", "text": "no such file"}], "isError": true});
        let f = call_result("t", &failed, 60, limits);
        assert_eq!(codes(&f), vec![(code::TOOL_CALL_ERROR, Severity::Warning)]);
        assert!(f[0].message.ends_with(": no such file"));
        assert_eq!(
            codes(&call_result("t", &ok, 40_004, limits)),
            vec![(code::LARGE_TOOL_RESULT, Severity::Warning)]
        );
        assert_eq!(
            codes(&call_result("t", &ok, 100_004, limits)),
            vec![(code::LARGE_TOOL_RESULT, Severity::Error)]
        );
        assert_eq!(estimate_tokens(5), 2);
    }

    #[test]
    fn instructions_over_2k_are_flagged() {
        assert!(instructions(None).is_none());
        assert!(instructions(Some("short")).is_none());
        assert_eq!(
            instructions(Some(&"x".repeat(2049))).map(|f| f.code),
            Some(code::LONG_INSTRUCTIONS)
        );
    }
}
