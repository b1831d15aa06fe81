//! Repairs of malformed downstream traffic (CONTRACT §7), each counted.
//!
//! Hosts and models send `tools/call` without `arguments`, with `null`, or with the object
//! serialised into a string; many servers reject all three. The gateway fixes them before
//! forwarding and never touches arguments that are already an object.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use serde_json::value::RawValue;

/// What was repaired in one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// `arguments` was absent: sent as `{}`.
    MissingArguments,
    /// `arguments` was `null`: sent as `{}`.
    NullArguments,
    /// `arguments` was a JSON string holding an object: sent as that object.
    StringArguments,
    /// The message had no `"jsonrpc"` member.
    MissingJsonrpc,
}

impl Repair {
    /// The counter's label.
    pub fn label(self) -> &'static str {
        match self {
            Repair::MissingArguments => "missing_arguments",
            Repair::NullArguments => "null_arguments",
            Repair::StringArguments => "string_arguments",
            Repair::MissingJsonrpc => "missing_jsonrpc",
        }
    }

    /// Every kind, for reporting.
    pub const ALL: [Repair; 4] = [
        Repair::MissingArguments,
        Repair::NullArguments,
        Repair::StringArguments,
        Repair::MissingJsonrpc,
    ];
}

/// How many repairs of each kind were made.
#[derive(Debug, Default)]
pub struct RepairCounters([AtomicU64; 4]);

impl RepairCounters {
    /// Counts one repair.
    pub fn count(&self, r: Repair) {
        self.0[r as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The count of one kind.
    pub fn get(&self, r: Repair) -> u64 {
        self.0[r as usize].load(Ordering::Relaxed)
    }
}

/// A `tools/call` as the router needs it: the name, and raw arguments and `_meta`.
#[derive(Debug)]
pub struct CallParams {
    /// The exposed tool name.
    pub name: String,
    /// The arguments (an object, after repairs).
    pub arguments: Box<RawValue>,
    /// `_meta`, forwarded (minus the progress token, which the client session owns).
    pub meta: Option<Box<RawValue>>,
    /// The downstream's progress token, if it asked for progress.
    pub progress_token: Option<tether_proto::Id>,
    /// What was repaired.
    pub repair: Option<Repair>,
}

#[derive(Deserialize)]
struct Wire<'a> {
    name: String,
    #[serde(default, borrow, deserialize_with = "present")]
    arguments: Option<&'a RawValue>,
    #[serde(rename = "_meta", default, borrow)]
    meta: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Reads `tools/call` parameters, repairing `arguments`; the error says what is wrong.
pub fn call_params(params: Option<&RawValue>) -> Result<CallParams, String> {
    let Some(params) = params else {
        return Err("tools/call needs params with a `name`".into());
    };
    let wire: Wire<'_> = serde_json::from_str(params.get())
        .map_err(|e| format!("invalid tools/call params: {e}"))?;
    let (arguments, repair) = match wire.arguments {
        None => (
            tether_proto::jsonrpc::empty_object(),
            Some(Repair::MissingArguments),
        ),
        Some(raw) if raw.get().trim() == "null" => (
            tether_proto::jsonrpc::empty_object(),
            Some(Repair::NullArguments),
        ),
        Some(raw) if raw.get().trim_start().starts_with('"') => match string_object(raw) {
            Some(obj) => (obj, Some(Repair::StringArguments)),
            None => (raw.to_owned(), None),
        },
        Some(raw) => (raw.to_owned(), None),
    };
    let (meta, progress_token) = split_meta(wire.meta);
    Ok(CallParams {
        name: wire.name,
        arguments,
        meta,
        progress_token,
        repair,
    })
}

/// `"{\"a\":1}"` → `{"a":1}` when the string holds a JSON object.
fn string_object(raw: &RawValue) -> Option<Box<RawValue>> {
    let text: String = serde_json::from_str(raw.get()).ok()?;
    let inner: Box<RawValue> = serde_json::from_str(&text).ok()?;
    inner.get().trim_start().starts_with('{').then_some(inner)
}

/// Takes the progress token out of `_meta`; the rest is forwarded.
fn split_meta(meta: Option<&RawValue>) -> (Option<Box<RawValue>>, Option<tether_proto::Id>) {
    let Some(meta) = meta else {
        return (None, None);
    };
    let Ok(mut map) =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(meta.get())
    else {
        return (None, None);
    };
    let token = map
        .remove("progressToken")
        .and_then(|t| serde_json::from_value::<tether_proto::Id>(t).ok());
    let rest = (!map.is_empty()).then(|| tether_proto::jsonrpc::to_raw(&map));
    (rest, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> CallParams {
        let raw = RawValue::from_string(s.to_owned()).unwrap();
        call_params(Some(&raw)).unwrap()
    }

    #[test]
    fn repairs_missing_null_and_string_arguments() {
        let p = parse(r#"{"name":"t"}"#);
        assert_eq!(
            (p.arguments.get(), p.repair),
            ("{}", Some(Repair::MissingArguments))
        );
        let p = parse(r#"{"name":"t","arguments":null}"#);
        assert_eq!(
            (p.arguments.get(), p.repair),
            ("{}", Some(Repair::NullArguments))
        );
        let p = parse(r#"{"name":"t","arguments":"{\"a\": 1}"}"#);
        assert_eq!(
            (p.arguments.get(), p.repair),
            (r#"{"a": 1}"#, Some(Repair::StringArguments))
        );
        let p = parse(r#"{"name":"t","arguments":"just text"}"#);
        assert_eq!(
            (p.arguments.get(), p.repair),
            (r#""just text""#, None),
            "not an object: left alone"
        );
    }

    #[test]
    fn good_arguments_are_forwarded_byte_for_byte() {
        let p = parse(r#"{"name":"t","arguments":{"b": 2,  "a":[1]}}"#);
        assert_eq!(p.arguments.get(), r#"{"b": 2,  "a":[1]}"#);
        assert_eq!(p.repair, None);
    }

    #[test]
    fn progress_token_is_split_from_meta() {
        let p = parse(r#"{"name":"t","arguments":{},"_meta":{"progressToken":"pt","other":1}}"#);
        assert_eq!(p.progress_token, Some(tether_proto::Id::from("pt")));
        assert_eq!(p.meta.unwrap().get(), r#"{"other":1}"#);
        let p = parse(r#"{"name":"t","_meta":{"progressToken":7}}"#);
        assert_eq!(p.progress_token, Some(tether_proto::Id::Number(7)));
        assert!(p.meta.is_none());
    }

    #[test]
    fn missing_name_is_an_error() {
        let raw = RawValue::from_string(r#"{"arguments":{}}"#.into()).unwrap();
        assert!(call_params(Some(&raw)).is_err());
        assert!(call_params(None).is_err());
    }
}
