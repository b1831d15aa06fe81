//! The JSON-RPC 2.0 envelope: ids, requests, notifications and responses.
//!
//! `params` and `result` stay raw JSON ([`RawValue`]) until somebody needs them, so a gateway can
//! forward a message by rewriting only the envelope. Decoding is tolerant: what it had to repair
//! is reported in [`Repairs`] rather than rejected, because real servers omit `"jsonrpc"`.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// A request id: MCP allows strings and integers, never `null`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Id {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(Arc<str>),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Number(n) => write!(f, "{n}"),
            Id::String(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Id::Number(n)
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::String(Arc::from(s))
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Number(n) => s.serialize_i64(*n),
            Id::String(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or integer id")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                i64::try_from(v)
                    .map(Id::Number)
                    .map_err(|_| E::custom("id out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Id, E> {
                // Some JavaScript peers send `1.0`; an integral float is still that integer.
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(Id::Number(v as i64))
                } else {
                    Err(E::custom("id is a non-integral number"))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id::String(Arc::from(v)))
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The error code (integer).
    pub code: i64,
    /// A short description.
    #[serde(default)]
    pub message: String,
    /// Optional structured detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
}

impl ErrorObject {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }
}

/// Standard JSON-RPC error codes used by Tether.
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: i64 = -32603;
}

/// A request: expects exactly one response with the same id.
#[derive(Clone, Debug)]
pub struct Request {
    /// The request id.
    pub id: Id,
    /// The method name.
    pub method: String,
    /// Raw parameters, untouched.
    pub params: Option<Box<RawValue>>,
}

/// A notification: no id, never answered.
#[derive(Clone, Debug)]
pub struct Notification {
    /// The method name.
    pub method: String,
    /// Raw parameters, untouched.
    pub params: Option<Box<RawValue>>,
}

/// A response: a result or an error for the request with the same id.
#[derive(Clone, Debug)]
pub struct Response {
    /// `None` only for an error answering something whose id could not be read.
    pub id: Option<Id>,
    /// The raw result, or the error object.
    pub outcome: Result<Box<RawValue>, ErrorObject>,
}

/// Any JSON-RPC message.
#[derive(Clone, Debug)]
pub enum Message {
    /// See [`Request`].
    Request(Request),
    /// See [`Notification`].
    Notification(Notification),
    /// See [`Response`].
    Response(Response),
}

/// What tolerant decoding had to repair in one message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repairs {
    /// The `"jsonrpc"` member was absent.
    pub missing_jsonrpc: bool,
    /// The `"jsonrpc"` member was present but not `"2.0"`.
    pub wrong_jsonrpc: bool,
}

impl Repairs {
    /// True when nothing was repaired.
    pub fn is_empty(&self) -> bool {
        !self.missing_jsonrpc && !self.wrong_jsonrpc
    }
}

/// A decoded message and what decoding repaired.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// The message.
    pub message: Message,
    /// Repairs applied while decoding.
    pub repairs: Repairs,
}

/// Why bytes could not be decoded as a JSON-RPC message.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all (e.g. a log line on stdout).
    #[error("not JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    /// JSON, but an array (a batch) where one message was expected.
    #[error("a JSON array (batch) where one message was expected")]
    Batch,
    /// JSON, but not a JSON-RPC message (e.g. a structured log line).
    #[error("JSON but not a JSON-RPC message: {0}")]
    NotJsonRpc(&'static str),
}

/// Deserialises a present value (including `null`) into `Some`, so "absent" and "null" differ.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct Wire<'a> {
    /// Borrowed: only compared, never kept.
    #[serde(default, borrow)]
    jsonrpc: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Option<Id>>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default, deserialize_with = "present")]
    params: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "present")]
    error: Option<Option<ErrorObject>>,
}

/// Decodes one JSON-RPC message, repairing what can be repaired.
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'[') => {
            // Tell a batch apart from garbage that starts with '['.
            return match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => Err(DecodeError::Batch),
                Err(e) => Err(DecodeError::Syntax(e)),
            };
        }
        Some(b'{') => {}
        _ => {
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                    Ok(_) => DecodeError::NotJsonRpc("not an object"),
                    Err(e) => DecodeError::Syntax(e),
                },
            );
        }
    }
    // One UTF-8 check of the whole message is cheaper than serde_json's check of every string
    // in it; invalid UTF-8 goes the slow way, which reports where the bad byte is.
    let wire: Result<Wire<'_>, _> = match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    };
    let wire = wire.map_err(|e| {
        if e.is_data() {
            DecodeError::NotJsonRpc("a member has the wrong type")
        } else {
            DecodeError::Syntax(e)
        }
    })?;
    from_wire(wire)
}

/// Decodes a JSON array of messages (a 2025-03-26 batch) or a single message.
pub fn decode_many(bytes: &[u8]) -> Result<Vec<Decoded>, DecodeError> {
    match decode(bytes) {
        Ok(one) => Ok(vec![one]),
        Err(DecodeError::Batch) => {
            let items: Vec<&RawValue> =
                serde_json::from_slice(bytes).map_err(DecodeError::Syntax)?;
            items
                .iter()
                .map(|raw| decode(raw.get().as_bytes()))
                .collect()
        }
        Err(e) => Err(e),
    }
}

fn from_wire(w: Wire<'_>) -> Result<Decoded, DecodeError> {
    let repairs = Repairs {
        missing_jsonrpc: w.jsonrpc.is_none(),
        wrong_jsonrpc: w.jsonrpc.as_deref().is_some_and(|v| v != "2.0"),
    };
    let message = match (w.method, w.id) {
        (Some(method), Some(Some(id))) => Message::Request(Request {
            id,
            method,
            params: w.params,
        }),
        (Some(_), Some(None)) => return Err(DecodeError::NotJsonRpc("request with a null id")),
        (Some(method), None) => Message::Notification(Notification {
            method,
            params: w.params,
        }),
        (None, id) => {
            let outcome = match (w.result, w.error) {
                (Some(_), Some(Some(_))) => {
                    return Err(DecodeError::NotJsonRpc("both result and error"));
                }
                (Some(result), _) => Ok(result),
                (None, Some(Some(error))) => Err(error),
                (None, _) => {
                    return Err(DecodeError::NotJsonRpc("no method, result or error"));
                }
            };
            let id = match id {
                Some(id) => id,
                None => return Err(DecodeError::NotJsonRpc("response without an id")),
            };
            if id.is_none() && outcome.is_ok() {
                return Err(DecodeError::NotJsonRpc("result with a null id"));
            }
            Message::Response(Response { id, outcome })
        }
    };
    Ok(Decoded { message, repairs })
}

impl Message {
    /// Builds a request from typed parameters.
    pub fn request<P: Serialize>(id: Id, method: &str, params: &P) -> Message {
        Message::Request(Request {
            id,
            method: method.to_owned(),
            params: Some(to_raw(params)),
        })
    }

    /// Builds a notification from typed parameters.
    pub fn notification<P: Serialize>(method: &str, params: Option<&P>) -> Message {
        Message::Notification(Notification {
            method: method.to_owned(),
            params: params.map(to_raw),
        })
    }

    /// Builds a successful response.
    pub fn result<R: Serialize>(id: Id, result: &R) -> Message {
        Message::Response(Response {
            id: Some(id),
            outcome: Ok(to_raw(result)),
        })
    }

    /// Builds an error response.
    pub fn error(id: Option<Id>, error: ErrorObject) -> Message {
        Message::Response(Response {
            id,
            outcome: Err(error),
        })
    }

    /// The method name of a request or notification.
    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request(r) => Some(&r.method),
            Message::Notification(n) => Some(&n.method),
            Message::Response(_) => None,
        }
    }

    /// Encodes the message as compact JSON (no trailing newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// About the encoded size, so encoding grows its buffer once: the raw members plus room
    /// for the envelope.
    fn encoded_len_hint(&self) -> usize {
        let raw = |r: Option<&RawValue>| r.map_or(0, |r| r.get().len());
        let body = match self {
            Message::Request(r) => r.method.len() + raw(r.params.as_deref()),
            Message::Notification(n) => n.method.len() + raw(n.params.as_deref()),
            Message::Response(r) => match &r.outcome {
                Ok(result) => raw(Some(result)),
                Err(e) => e.message.len() + raw(e.data.as_deref()),
            },
        };
        body + 96
    }

    /// Appends the compact JSON encoding to `out`; raw members are copied verbatim.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len_hint());
        out.extend_from_slice(br#"{"jsonrpc":"2.0""#);
        match self {
            Message::Request(r) => {
                push_id(out, Some(&r.id));
                push_method(out, &r.method);
                push_raw(out, "params", r.params.as_deref());
            }
            Message::Notification(n) => {
                push_method(out, &n.method);
                push_raw(out, "params", n.params.as_deref());
            }
            Message::Response(r) => {
                push_id(out, r.id.as_ref());
                match &r.outcome {
                    Ok(result) => push_raw(out, "result", Some(result)),
                    Err(error) => {
                        out.extend_from_slice(br#","error":"#);
                        // An ErrorObject always serialises.
                        let _ = serde_json::to_writer(&mut *out, error);
                    }
                }
            }
        }
        out.push(b'}');
    }
}

fn push_id(out: &mut Vec<u8>, id: Option<&Id>) {
    out.extend_from_slice(br#","id":"#);
    match id {
        Some(Id::Number(n)) => {
            use std::io::Write as _;
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{n}");
        }
        Some(Id::String(s)) => push_json_string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn push_method(out: &mut Vec<u8>, method: &str) {
    out.extend_from_slice(br#","method":"#);
    push_json_string(out, method);
}

fn push_raw(out: &mut Vec<u8>, key: &str, raw: Option<&RawValue>) {
    if let Some(raw) = raw {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(raw.get().as_bytes());
    }
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Serialises a value into a raw JSON value.
pub fn to_raw<T: Serialize + ?Sized>(value: &T) -> Box<RawValue> {
    // Serialising our own types cannot fail: they have string keys and no fallible impls.
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| empty_object())
}

/// The raw value `{}`.
pub fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).expect("`{}` is valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decoded {
        decode(s.as_bytes()).unwrap()
    }

    #[test]
    fn decodes_the_three_kinds() {
        assert!(matches!(
            dec(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).message,
            Message::Request(Request {
                id: Id::Number(1),
                ..
            })
        ));
        assert!(matches!(
            dec(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).message,
            Message::Notification(_)
        ));
        assert!(matches!(
            dec(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#).message,
            Message::Response(Response {
                id: Some(Id::String(_)),
                outcome: Ok(_)
            })
        ));
    }

    #[test]
    fn missing_jsonrpc_is_repaired_and_reported() {
        let d = dec(r#"{"id":7,"result":{"x":1}}"#);
        assert!(d.repairs.missing_jsonrpc);
        let d = dec(r#"{"jsonrpc":"1.0","id":7,"result":{}}"#);
        assert!(d.repairs.wrong_jsonrpc);
        assert!(
            dec(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#)
                .repairs
                .is_empty()
        );
    }

    #[test]
    fn null_result_is_a_result_not_an_absence() {
        let d = dec(r#"{"jsonrpc":"2.0","id":1,"result":null}"#);
        match d.message {
            Message::Response(Response {
                outcome: Ok(raw), ..
            }) => assert_eq!(raw.get(), "null"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_with_null_id_is_accepted() {
        let d = dec(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse"}}"#);
        assert!(matches!(
            d.message,
            Message::Response(Response {
                id: None,
                outcome: Err(ErrorObject { code: -32700, .. })
            })
        ));
    }

    #[test]
    fn rejects_what_is_not_jsonrpc() {
        for bad in [
            r#"{"level":"info","msg":"hello"}"#,
            r#"{"id":1,"result":{},"error":{"code":1,"message":""}}"#,
            r#"{"id":null,"method":"x"}"#,
            r#"{"result":{}}"#,
            r#"{"id":null,"result":{}}"#,
            r#"{"id":1.5,"result":{}}"#,
            "42",
        ] {
            assert!(
                matches!(decode(bad.as_bytes()), Err(DecodeError::NotJsonRpc(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            decode(b"MCP Server running"),
            Err(DecodeError::Syntax(_))
        ));
        assert!(matches!(decode(b"[1,2]"), Err(DecodeError::Batch)));
        assert!(matches!(
            decode(b"[db] connecting"),
            Err(DecodeError::Syntax(_))
        ));
    }

    #[test]
    fn batches_decode_with_decode_many() {
        let many = decode_many(br#"[{"id":1,"result":{}},{"method":"x"}]"#).unwrap();
        assert_eq!(many.len(), 2);
    }

    #[test]
    fn encoding_keeps_raw_members_verbatim() {
        let d = dec(r#"{"id":"q","method":"tools/call","params":{"b":1,  "a":[2]}}"#);
        let out = String::from_utf8(d.message.to_bytes()).unwrap();
        assert_eq!(
            out,
            r#"{"jsonrpc":"2.0","id":"q","method":"tools/call","params":{"b":1,  "a":[2]}}"#
        );
        let e = Message::error(None, ErrorObject::new(-32700, "parse error"));
        assert_eq!(
            String::from_utf8(e.to_bytes()).unwrap(),
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#
        );
    }

    #[test]
    fn ids_roundtrip_exactly() {
        for raw in [r#""abc""#, "0", "-5", r#""server-discover-probe-1""#] {
            let id: Id = serde_json::from_str(raw).unwrap();
            assert_eq!(serde_json::to_string(&id).unwrap(), raw);
        }
    }
}
