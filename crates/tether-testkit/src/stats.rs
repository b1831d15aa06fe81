//! Counters behind `GET /_chaos/stats`, so tests assert attempt counts instead of guessing.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::{HeaderMap, Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

/// Last-Event-ID values kept.
const KEPT_EVENT_IDS: usize = 100;

#[derive(Debug, Default, Clone, Serialize)]
struct StatsData {
    starts: u64,
    /// JSON-RPC messages received per method (requests and notifications).
    requests: BTreeMap<String, u64>,
    /// JSON-RPC responses received (answers to our server→client requests).
    responses: u64,
    /// HTTP requests per verb (`post`, `get`, `delete`, `other`).
    http: BTreeMap<String, u64>,
    /// HTTP responses per status code.
    statuses: BTreeMap<String, u64>,
    sessions_created: u64,
    sessions_active: usize,
    dropped_connections: u64,
    /// `Last-Event-ID` headers received, oldest first.
    last_event_ids: Vec<String>,
    /// Lower-cased headers of the most recent POST.
    last_headers: BTreeMap<String, String>,
    /// Fired occurrences per fault.
    faults: BTreeMap<String, u64>,
}

/// Thread-safe HTTP statistics of one server.
#[derive(Debug)]
pub(crate) struct Stats {
    inner: Mutex<StatsData>,
}

impl Default for Stats {
    fn default() -> Self {
        let mut data = StatsData::default();
        for verb in ["post", "get", "delete"] {
            data.http.insert(verb.into(), 0);
        }
        Self {
            inner: Mutex::new(data),
        }
    }
}

impl Stats {
    fn lock(&self) -> MutexGuard<'_, StatsData> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn http_request(&self, method: &Method) {
        let verb = match *method {
            Method::POST => "post",
            Method::GET => "get",
            Method::DELETE => "delete",
            _ => "other",
        };
        *self.lock().http.entry(verb.into()).or_insert(0) += 1;
    }

    pub(crate) fn status(&self, status: StatusCode) {
        *self
            .lock()
            .statuses
            .entry(status.as_u16().to_string())
            .or_insert(0) += 1;
    }

    /// Records a POST's headers and the JSON-RPC methods in its body (best effort: an
    /// unparsable body counts nothing).
    pub(crate) fn post(&self, headers: &HeaderMap, body: &[u8]) {
        let mut data = self.lock();
        data.last_headers.clear();
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            data.last_headers
                .entry(name.as_str().to_ascii_lowercase())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let messages = match parsed {
            Value::Array(items) => items,
            single => vec![single],
        };
        for message in messages {
            match message.get("method").and_then(Value::as_str) {
                Some(method) => *data.requests.entry(method.into()).or_insert(0) += 1,
                None if message.get("result").is_some() || message.get("error").is_some() => {
                    data.responses += 1;
                }
                None => {}
            }
        }
    }

    pub(crate) fn session_created(&self) {
        self.lock().sessions_created += 1;
    }

    pub(crate) fn dropped_connection(&self) {
        self.lock().dropped_connections += 1;
    }

    pub(crate) fn last_event_id(&self, id: &str) {
        let mut data = self.lock();
        data.last_event_ids.push(id.to_owned());
        if data.last_event_ids.len() > KEPT_EVENT_IDS {
            data.last_event_ids.remove(0);
        }
    }

    /// The JSON document, with the live values filled in.
    pub(crate) fn snapshot(
        &self,
        starts: u64,
        sessions_active: usize,
        faults: BTreeMap<String, u64>,
    ) -> Value {
        let mut data = self.lock().clone();
        data.starts = starts;
        data.sessions_active = sessions_active;
        data.faults = faults;
        serde_json::to_value(data).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_methods_and_lowercases_headers() {
        let stats = Stats::default();
        let mut headers = HeaderMap::new();
        headers.insert("X-Custom", "one".parse().expect("value"));
        stats.post(
            &headers,
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#,
        );
        stats.post(&headers, br#"{"jsonrpc":"2.0","id":0,"result":{}}"#);
        stats.post(&headers, b"not json");
        let snap = stats.snapshot(1, 0, BTreeMap::new());
        assert_eq!(snap["requests"]["initialize"], 1);
        assert_eq!(snap["responses"], 1);
        assert_eq!(snap["last_headers"]["x-custom"], "one");
        assert_eq!(snap["http"]["post"], 0, "verbs are counted by http_request");
    }
}
