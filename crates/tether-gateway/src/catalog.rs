//! The merged catalog: every upstream's tools, prompts and resources under one namespace.
//!
//! Tools and prompts are exposed as `<server>__<name>`, sanitised to `[A-Za-z0-9_-]` and at most
//! 64 characters (the Anthropic API's rule, stricter than the spec's), with a stable hash suffix
//! when cut; collisions get `_2`, `_3`… in configuration order. Order is deterministic (servers
//! in configuration order, items in the server's order), which keeps client caches valid.
//! Resources keep their URIs (a URI is an address, not a name) and are routed by URI.

use std::collections::{HashMap, HashSet};

use foldhash::HashMap as FastMap;
use std::sync::Arc;

use serde_json::value::RawValue;
use tether_client::status::ServerStatus;
use tether_config::ToolFilter;
use tether_proto::jsonrpc;
use tether_proto::mcp::{Prompt, Resource, ResourceTemplate};

/// Longest exposed name.
pub const MAX_NAME: usize = 64;
/// Separator between server and item names.
pub const SEPARATOR: &str = "__";

/// How exposed names are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `<server>__<name>`.
    Prefixed,
    /// The upstream's own names (only sensible with one upstream).
    Unprefixed,
}

/// Where an exposed tool or prompt really lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The upstream server.
    pub server: Arc<str>,
    /// The name on that server.
    pub name: String,
}

/// One build of the catalog.
#[derive(Debug, Default)]
pub struct Catalog {
    /// The `tools/list` result, serialised once per build.
    pub tools_result: Option<Box<RawValue>>,
    /// The `prompts/list` result.
    pub prompts_result: Option<Box<RawValue>>,
    /// The `resources/list` result.
    pub resources_result: Option<Box<RawValue>>,
    /// The `resources/templates/list` result.
    pub templates_result: Option<Box<RawValue>>,
    /// Exposed tool name → route, for every server that ever listed the tool (so a call to a
    /// failed server's tool can say why it is unavailable).
    pub tools: FastMap<String, Arc<Route>>,
    /// Exposed prompt name → route.
    pub prompts: FastMap<String, Arc<Route>>,
    /// Resource URI → server.
    pub resources: FastMap<String, Arc<str>>,
    /// `(uriTemplate prefix, server)`, for reads of templated resources.
    pub templates: Vec<(String, Arc<str>)>,
    /// What the listed tools look like, to tell whether a rebuild changed anything.
    pub tools_fingerprint: u64,
    /// Same for prompts.
    pub prompts_fingerprint: u64,
    /// Same for resources (and templates).
    pub resources_fingerprint: u64,
    /// Number of listed tools.
    pub tool_count: usize,
}

impl Catalog {
    /// Builds the catalog from the servers' statuses (in configuration order). Only usable
    /// servers are listed; every server's last good tools stay routable.
    pub fn build(
        statuses: &[ServerStatus],
        filters: &HashMap<String, ToolFilter>,
        naming: Naming,
    ) -> Catalog {
        let mut cat = Catalog::default();
        let mut taken = HashSet::new();
        let mut listed_tools = Vec::new();
        let mut listed_prompts = Vec::new();
        let mut listed_resources = Vec::new();
        let mut listed_templates = Vec::new();
        for status in statuses {
            let server: Arc<str> = Arc::from(status.name.as_str());
            let usable = status.state.is_usable();
            let filter = filters.get(&status.name);
            for tool in &status.tools {
                if filter.is_some_and(|f| !f.permits(&tool.name)) {
                    continue;
                }
                let exposed = unique(expose(&status.name, &tool.name, naming), &mut taken);
                cat.tools.insert(
                    exposed.clone(),
                    Arc::new(Route {
                        server: server.clone(),
                        name: tool.name.clone(),
                    }),
                );
                if usable {
                    listed_tools.push(tool.renamed(&exposed));
                }
            }
            for prompt in &status.prompts {
                let exposed = unique(expose(&status.name, &prompt.name, naming), &mut taken);
                cat.prompts.insert(
                    exposed.clone(),
                    Arc::new(Route {
                        server: server.clone(),
                        name: prompt.name.clone(),
                    }),
                );
                if usable {
                    let mut def = prompt.clone();
                    def.name = exposed;
                    listed_prompts.push(def);
                }
            }
            for resource in &status.resources {
                let Some(uri) = &resource.uri else { continue };
                // The first server to list a URI owns it: deterministic, like tool names.
                if cat.resources.contains_key(uri) {
                    continue;
                }
                cat.resources.insert(uri.clone(), server.clone());
                if usable {
                    listed_resources.push(resource.clone());
                }
            }
            for template in &status.resource_templates {
                let t = &template.uri_template;
                let prefix = t.split('{').next().unwrap_or(t).to_owned();
                cat.templates.push((prefix, server.clone()));
                if usable {
                    listed_templates.push(template.clone());
                }
            }
        }
        // Longest prefix first, so the most specific template wins.
        cat.templates.sort_by_key(|t| std::cmp::Reverse(t.0.len()));
        cat.tool_count = listed_tools.len();
        cat.tools_fingerprint = fingerprint(&listed_tools);
        cat.prompts_fingerprint = fingerprint(&listed_prompts);
        cat.resources_fingerprint =
            fingerprint(&listed_resources) ^ fingerprint(&listed_templates).rotate_left(1);
        cat.tools_result = Some(jsonrpc::to_raw(&ToolsResult {
            tools: &listed_tools,
        }));
        cat.prompts_result = Some(jsonrpc::to_raw(&PromptsResult {
            prompts: &listed_prompts,
        }));
        cat.resources_result = Some(jsonrpc::to_raw(&ResourcesResult {
            resources: &listed_resources,
        }));
        cat.templates_result = Some(jsonrpc::to_raw(&TemplatesResult {
            resource_templates: &listed_templates,
        }));
        cat
    }

    /// The server that serves a resource URI: an exact listing, else a template prefix.
    pub fn resource_server(&self, uri: &str) -> Option<Arc<str>> {
        if let Some(s) = self.resources.get(uri) {
            return Some(s.clone());
        }
        self.templates
            .iter()
            .find(|(prefix, _)| !prefix.is_empty() && uri.starts_with(prefix.as_str()))
            .map(|(_, s)| s.clone())
    }
}

#[derive(serde::Serialize)]
struct ToolsResult<'a> {
    tools: &'a [Box<RawValue>],
}

#[derive(serde::Serialize)]
struct PromptsResult<'a> {
    prompts: &'a [Prompt],
}

#[derive(serde::Serialize)]
struct ResourcesResult<'a> {
    resources: &'a [Resource],
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplatesResult<'a> {
    resource_templates: &'a [ResourceTemplate],
}

/// `server__name`, sanitised and cut to 64 characters.
pub fn expose(server: &str, name: &str, naming: Naming) -> String {
    let full = match naming {
        Naming::Prefixed => format!("{}{SEPARATOR}{}", sanitize(server), sanitize(name)),
        Naming::Unprefixed => sanitize(name),
    };
    shorten(&full, &format!("{server}/{name}"))
}

/// Replaces everything outside `[A-Za-z0-9_-]` with `_`.
pub fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() { "_".to_owned() } else { out }
}

/// Cuts a name to 64 characters, ending in a hash of `identity` so cut names stay distinct.
fn shorten(name: &str, identity: &str) -> String {
    if name.len() <= MAX_NAME {
        return name.to_owned();
    }
    let suffix = format!("_{:08x}", fnv1a(identity.as_bytes()));
    let keep = MAX_NAME - suffix.len();
    format!("{}{suffix}", &name[..keep])
}

/// The first free variant of `name`: `name`, `name_2`, `name_3`…
fn unique(name: String, taken: &mut HashSet<String>) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    for n in 2.. {
        let suffix = format!("_{n}");
        let base = if name.len() + suffix.len() > MAX_NAME {
            &name[..MAX_NAME - suffix.len()]
        } else {
            &name
        };
        let candidate = format!("{base}{suffix}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
    }
    unreachable!("an unbounded range always finds a free name")
}

/// FNV-1a: a tiny, stable hash (std's hasher is randomised per process).
fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn fingerprint<T: serde::Serialize>(items: &[T]) -> u64 {
    let text = serde_json::to_string(items).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in text.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_client::status::State;
    use tether_client::timeouts::Timeouts;

    fn tool(name: &str) -> tether_proto::mcp::Tool {
        let raw = serde_json::json!({"name": name, "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}});
        tether_proto::mcp::Tool::from_raw(tether_proto::jsonrpc::to_raw(&raw)).unwrap()
    }

    fn server(name: &str, tools: &[&str], state: State) -> ServerStatus {
        let mut s = ServerStatus::new(name, "x", "stdio", "x", Timeouts::defaults(true));
        s.state = state;
        s.tools = tools.iter().map(|t| tool(t)).collect();
        s
    }

    fn listed(cat: &Catalog) -> Vec<String> {
        use serde_json::Value;
        let v: Value = serde_json::from_str(cat.tools_result.as_ref().unwrap().get()).unwrap();
        v["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn names_are_prefixed_sanitised_and_ordered() {
        let s = [
            server("git hub", &["create.issue", "list"], State::Connected),
            server("db", &["query"], State::Connected),
        ];
        let cat = Catalog::build(&s, &HashMap::new(), Naming::Prefixed);
        assert_eq!(
            listed(&cat),
            ["git_hub__create_issue", "git_hub__list", "db__query"]
        );
        assert_eq!(
            *cat.tools["git_hub__create_issue"],
            Route {
                server: "git hub".into(),
                name: "create.issue".into()
            }
        );
    }

    #[test]
    fn long_names_are_cut_with_a_stable_hash_and_collisions_numbered() {
        let long = "a".repeat(80);
        let name = expose("srv", &long, Naming::Prefixed);
        assert_eq!(name.len(), MAX_NAME);
        assert_eq!(
            name,
            expose("srv", &long, Naming::Prefixed),
            "deterministic"
        );
        assert_ne!(name, expose("srv", &format!("{long}b"), Naming::Prefixed));
        let s = [
            server("a_b", &["c"], State::Connected),
            server("a b", &["c"], State::Connected),
        ];
        let cat = Catalog::build(&s, &HashMap::new(), Naming::Prefixed);
        assert_eq!(listed(&cat), ["a_b__c", "a_b__c_2"]);
    }

    #[test]
    fn failed_servers_are_not_listed_but_stay_routable() {
        let failed = State::Failed {
            error: tether_client::status::ErrorSummary::config("x"),
        };
        let s = [
            server("up", &["t"], State::Connected),
            server("down", &["t"], failed),
        ];
        let cat = Catalog::build(&s, &HashMap::new(), Naming::Prefixed);
        assert_eq!(listed(&cat), ["up__t"]);
        assert!(cat.tools.contains_key("down__t"));
    }

    #[test]
    fn filters_and_unprefixed_naming() {
        let s = [server(
            "one",
            &["keep", "drop_me", "also"],
            State::Connected,
        )];
        let mut filters = HashMap::new();
        filters.insert(
            "one".to_owned(),
            ToolFilter {
                allow: None,
                deny: vec!["drop_*".into()],
            },
        );
        let cat = Catalog::build(&s, &filters, Naming::Unprefixed);
        assert_eq!(listed(&cat), ["keep", "also"]);
    }

    #[test]
    fn fingerprints_change_only_with_the_listed_tools() {
        let a = [server("s", &["x"], State::Connected)];
        let b = [server("s", &["x", "y"], State::Connected)];
        let none = HashMap::new();
        let f = |s: &[ServerStatus]| Catalog::build(s, &none, Naming::Prefixed).tools_fingerprint;
        assert_eq!(f(&a), f(&a));
        assert_ne!(f(&a), f(&b));
    }
}
