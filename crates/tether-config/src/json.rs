//! An order-preserving JSON tree, and the text → tree step (strict JSON or JSONC).
//!
//! `serde_json::Value` sorts object keys unless the workspace-wide `preserve_order` feature is on,
//! and turning that on would change every other crate's output. Servers must be listed in the
//! order the user wrote them, so this module keeps its own small tree.

use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A parsed JSON value whose objects keep their keys in file order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    /// Keys are unique: a repeated key keeps its first position and its last value, as
    /// JavaScript's `JSON.parse` (and so Claude Code) does.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The value's kind with an article, for messages like "expected a string, found an array".
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// The member `key` of an object (`None` for other kinds or a missing key).
    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Like [`Json::get`], but an explicit `null` counts as absent: `"env": null` means "no env".
    pub(crate) fn get_present(&self, key: &str) -> Option<&Json> {
        self.get(key).filter(|v| !matches!(v, Json::Null))
    }
}

/// Parse `text`. With `jsonc`, `//` and `/* */` comments and trailing commas are accepted, as VS
/// Code and Cursor accept them in their `mcp.json`. Error positions refer to the original text.
pub(crate) fn parse(text: &str, jsonc: bool) -> Result<Json, serde_json::Error> {
    // Editors on Windows write a byte-order mark that JSON parsers reject.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if jsonc {
        serde_json::from_str(&strip_jsonc(text))
    } else {
        serde_json::from_str(text)
    }
}

/// Blank out comments and trailing commas, byte for byte, so that line and column numbers of any
/// later syntax error still point into the original text.
fn strip_jsonc(text: &str) -> String {
    let mut out = text.as_bytes().to_vec();
    blank_comments(&mut out);
    blank_trailing_commas(&mut out);
    // Only ASCII bytes were written and whole UTF-8 sequences were blanked, so this cannot fail;
    // fall back to the original text rather than panic if that reasoning is ever wrong.
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

fn blank_comments(bytes: &mut [u8]) {
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match (b, bytes.get(i + 1)) {
            (b'"', _) => {
                in_string = true;
                i += 1;
            }
            (b'/', Some(b'/')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    bytes[i] = b' ';
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                bytes[i] = b' ';
                bytes[i + 1] = b' ';
                i += 2;
                while i < bytes.len() {
                    if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        bytes[i] = b' ';
                        bytes[i + 1] = b' ';
                        i += 2;
                        break;
                    }
                    if bytes[i] != b'\n' && bytes[i] != b'\r' {
                        bytes[i] = b' ';
                    }
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
}

fn blank_trailing_commas(bytes: &mut [u8]) {
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b',' {
            let next = bytes[i + 1..]
                .iter()
                .find(|c| !c.is_ascii_whitespace())
                .copied();
            if matches!(next, Some(b'}') | Some(b']')) {
                bytes[i] = b' ';
            }
        }
        i += 1;
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        Json::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Json>()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        // An index keeps duplicate detection linear for very large objects.
        let mut index: HashMap<String, usize> = HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Json>()?;
            match index.get(&key) {
                Some(&at) => members[at].1 = value,
                None => {
                    index.insert(key.clone(), members.len());
                    members.push((key, value));
                }
            }
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(json: &Json) -> Vec<&str> {
        match json {
            Json::Object(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn objects_keep_file_order() {
        let json = parse(r#"{"zeta": 1, "alpha": 2, "mid": 3}"#, false).unwrap();
        assert_eq!(keys(&json), ["zeta", "alpha", "mid"]);
    }

    #[test]
    fn duplicate_keys_keep_first_position_and_last_value() {
        let json = parse(r#"{"a": 1, "b": 2, "a": 3}"#, false).unwrap();
        assert_eq!(keys(&json), ["a", "b"]);
        assert_eq!(json.get("a"), Some(&Json::Number(3.into())));
    }

    #[test]
    fn jsonc_accepts_comments_and_trailing_commas() {
        let text = "{\n  // servers\n  \"a\": [1, 2,], /* x */\n  \"b\": \"http://x//y\",\n}";
        let json = parse(text, true).unwrap();
        assert_eq!(keys(&json), ["a", "b"]);
        assert_eq!(json.get("b"), Some(&Json::String("http://x//y".into())));
        assert!(parse(text, false).is_err());
    }

    #[test]
    fn jsonc_keeps_error_positions() {
        let text = "{\n  /* é comment */ \"a\": 1,\n  \"b\" 2\n}";
        let err = parse(text, true).unwrap_err();
        assert_eq!((err.line(), err.column()), (3, 7));
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        assert!(parse("\u{feff}{}", false).is_ok());
    }

    #[test]
    fn unterminated_comment_does_not_panic() {
        assert!(parse("{} /* open", true).is_ok());
        assert!(parse("{\"a\": \"\\", true).is_err());
    }
}
