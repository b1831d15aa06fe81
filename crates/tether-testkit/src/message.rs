//! JSON-RPC 2.0 as this server reads it: classifying what a client sent, and error values.
//!
//! Deliberately independent of `tether-proto`: this crate checks Tether's client, so it must not
//! share its parser. Reading is strict where the MCP spec is (ids are strings or integers, never
//! null; `"jsonrpc":"2.0"` is required), because a lenient test server would hide client bugs.

use serde_json::{Map, Value, json};

/// Invalid JSON.
pub(crate) const PARSE_ERROR: i64 = -32700;
/// Valid JSON that is not a JSON-RPC message.
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// Unknown method.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
/// Bad params, unknown tool, bad cursor.
pub(crate) const INVALID_PARAMS: i64 = -32602;
/// Server-side failure (and the injected `error:METHOD`).
pub(crate) const INTERNAL_ERROR: i64 = -32603;
/// Unknown resource (MCP ≤ 2025-11-25).
pub(crate) const RESOURCE_NOT_FOUND: i64 = -32002;

/// One message from the client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Incoming {
    /// A request to answer.
    Request {
        id: Value,
        method: String,
        params: Option<Value>,
    },
    /// A notification (never answered).
    Notification {
        method: String,
        params: Option<Value>,
    },
    /// The client's answer to one of our server→client requests.
    Response {
        id: Value,
        outcome: Result<Value, Value>,
    },
    /// Well-formed JSON that is not a valid message; `id` when one could be read.
    Invalid { id: Option<Value>, reason: String },
}

impl Incoming {
    /// The method, for requests and notifications.
    pub(crate) fn method(&self) -> Option<&str> {
        match self {
            Incoming::Request { method, .. } | Incoming::Notification { method, .. } => {
                Some(method)
            }
            _ => None,
        }
    }
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub(crate) code: i64,
    pub(crate) message: String,
    pub(crate) data: Option<Value>,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub(crate) fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub(crate) fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("code".into(), self.code.into());
        obj.insert("message".into(), self.message.clone().into());
        if let Some(data) = &self.data {
            obj.insert("data".into(), data.clone());
        }
        Value::Object(obj)
    }
}

/// A complete error message with `id` (null when unknown), for HTTP error bodies.
pub(crate) fn error_body(id: Option<&Value>, code: i64, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id.cloned().unwrap_or(Value::Null),
        "error": {"code": code, "message": message},
    })
}

/// Whether `id` is an id MCP allows: a string or an integer.
fn valid_id(id: &Value) -> bool {
    match id {
        Value::String(_) => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

/// A stable map key for an id: `1` and `"1"` are different ids and get different keys.
pub(crate) fn id_key(id: &Value) -> String {
    id.to_string()
}

/// Classifies one parsed JSON value.
pub(crate) fn classify(value: Value) -> Incoming {
    let Value::Object(mut obj) = value else {
        return Incoming::Invalid {
            id: None,
            reason: "message is not a JSON object".into(),
        };
    };
    let id = obj.remove("id");
    let usable_id = id.clone().filter(valid_id);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Incoming::Invalid {
            id: usable_id,
            reason: "missing or invalid \"jsonrpc\": \"2.0\"".into(),
        };
    }
    let params = obj.remove("params");
    if let Some(p) = &params
        && !(p.is_object() || p.is_array())
    {
        return Incoming::Invalid {
            id: usable_id,
            reason: "\"params\" must be an object".into(),
        };
    }
    match obj.remove("method") {
        Some(Value::String(method)) => match id {
            None => Incoming::Notification { method, params },
            Some(id) if valid_id(&id) => Incoming::Request { id, method, params },
            Some(_) => Incoming::Invalid {
                id: None,
                reason: "\"id\" must be a string or an integer".into(),
            },
        },
        Some(_) => Incoming::Invalid {
            id: usable_id,
            reason: "\"method\" must be a string".into(),
        },
        None => {
            let Some(id) = usable_id else {
                return Incoming::Invalid {
                    id: None,
                    reason: "neither a request, a notification nor a response".into(),
                };
            };
            match (obj.remove("result"), obj.remove("error")) {
                (Some(result), None) => Incoming::Response {
                    id,
                    outcome: Ok(result),
                },
                (None, Some(error)) => Incoming::Response {
                    id,
                    outcome: Err(error),
                },
                _ => Incoming::Invalid {
                    id: Some(id),
                    reason: "a response needs exactly one of \"result\" and \"error\"".into(),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_each_kind() {
        assert_eq!(
            classify(json!({"jsonrpc":"2.0","id":"a","method":"ping"})),
            Incoming::Request {
                id: json!("a"),
                method: "ping".into(),
                params: None
            }
        );
        assert_eq!(
            classify(json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
            Incoming::Notification {
                method: "notifications/initialized".into(),
                params: None
            }
        );
        assert_eq!(
            classify(json!({"jsonrpc":"2.0","id":0,"result":{}})),
            Incoming::Response {
                id: json!(0),
                outcome: Ok(json!({}))
            }
        );
        assert!(matches!(
            classify(json!({"jsonrpc":"2.0","id":3,"error":{"code":1}})),
            Incoming::Response {
                outcome: Err(_),
                ..
            }
        ));
    }

    #[test]
    fn rejects_what_mcp_forbids() {
        let invalid = |v: Value| matches!(classify(v), Incoming::Invalid { .. });
        assert!(invalid(json!([1])));
        assert!(invalid(json!({"id":1,"method":"ping"})), "missing jsonrpc");
        assert!(invalid(json!({"jsonrpc":"2.0","id":null,"method":"ping"})));
        assert!(invalid(json!({"jsonrpc":"2.0","id":1.5,"method":"ping"})));
        assert!(invalid(json!({"jsonrpc":"2.0","id":1,"method":7})));
        assert!(invalid(json!({"jsonrpc":"2.0","id":1})));
        assert!(invalid(
            json!({"jsonrpc":"2.0","id":1,"method":"x","params":3})
        ));
    }

    #[test]
    fn invalid_messages_keep_a_usable_id() {
        match classify(json!({"id":7,"method":"ping"})) {
            Incoming::Invalid { id, .. } => assert_eq!(id, Some(json!(7))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn id_keys_distinguish_strings_from_numbers() {
        assert_ne!(id_key(&json!(1)), id_key(&json!("1")));
    }
}
