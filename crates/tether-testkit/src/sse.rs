//! Server-sent events: event encoding, the per-session event log that makes streams resumable
//! with `Last-Event-ID`, and response bodies (with `slow-drip` chunking and keep-alives).
//!
//! Every SSE stream of a session (each POST answered with SSE, each standalone GET) gets a
//! stream number; event ids are `<stream>-<seq>`, so an id alone says which stream to replay.
//! The priming event is `seq` 0 with empty data.

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::{self, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;

/// Chunk size of `slow-drip`.
pub(crate) const DRIP_CHUNK: usize = 16;

/// Keep-alive comment period on long-lived streams (proxies close idle streams; research D.6).
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Finished streams kept for replay; older ones are forgotten.
const KEPT_FINISHED_STREAMS: usize = 32;

/// Events kept per stream (a standalone stream may live long).
const KEPT_EVENTS: usize = 1024;

/// `event: message` with an id.
pub(crate) fn message_event(id: &str, message: &Value) -> Bytes {
    Bytes::from(format!("event: message\nid: {id}\ndata: {message}\n\n"))
}

/// An event without an id (legacy transport).
pub(crate) fn plain_event(event: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// The priming event: an id and empty data, optionally with `retry`.
fn priming_event(id: &str, retry_ms: Option<u64>) -> Bytes {
    match retry_ms {
        Some(ms) => Bytes::from(format!("id: {id}\nretry: {ms}\ndata: \n\n")),
        None => Bytes::from(format!("id: {id}\ndata: \n\n")),
    }
}

#[derive(Debug, Default)]
struct StreamLog {
    events: VecDeque<(u64, Bytes)>,
    next_seq: u64,
    live: Option<mpsc::UnboundedSender<Bytes>>,
    finished: bool,
}

#[derive(Debug, Default)]
struct LogInner {
    next_stream: u64,
    streams: BTreeMap<u64, StreamLog>,
}

/// The SSE streams of one session.
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    inner: Mutex<LogInner>,
}

/// Parses `<stream>-<seq>`.
fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (stream, seq) = id.trim().split_once('-')?;
    Some((stream.parse().ok()?, seq.parse().ok()?))
}

impl EventLog {
    fn lock(&self) -> MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a stream with its priming event. With `live`, returns the receiver of the stream's
    /// bytes (priming event included); without, events are only logged until a client resumes.
    /// Returns the stream number and the priming event (for a body that sends only it).
    pub(crate) fn open(
        &self,
        retry_ms: Option<u64>,
        live: bool,
    ) -> (u64, Bytes, Option<mpsc::UnboundedReceiver<Bytes>>) {
        let mut inner = self.lock();
        let stream = inner.next_stream;
        inner.next_stream += 1;
        let priming = priming_event(&format!("{stream}-0"), retry_ms);
        let mut log = StreamLog {
            next_seq: 1,
            ..StreamLog::default()
        };
        log.events.push_back((0, priming.clone()));
        let rx = live.then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let _ = tx.send(priming.clone());
            log.live = Some(tx);
            rx
        });
        inner.streams.insert(stream, log);
        evict(&mut inner.streams);
        (stream, priming, rx)
    }

    /// Appends a message to `stream` and sends it to the live reader, if any.
    pub(crate) fn push(&self, stream: u64, message: &Value) {
        let mut inner = self.lock();
        let Some(log) = inner.streams.get_mut(&stream) else {
            return;
        };
        let seq = log.next_seq;
        log.next_seq += 1;
        let event = message_event(&format!("{stream}-{seq}"), message);
        log.events.push_back((seq, event.clone()));
        while log.events.len() > KEPT_EVENTS {
            log.events.pop_front();
        }
        if let Some(live) = &log.live
            && live.send(event).is_err()
        {
            log.live = None;
        }
    }

    /// Marks `stream` complete and closes its live reader.
    pub(crate) fn finish(&self, stream: u64) {
        let mut inner = self.lock();
        if let Some(log) = inner.streams.get_mut(&stream) {
            log.finished = true;
            log.live = None;
        }
    }

    /// Resumes after `last_event_id`: the receiver yields the stream's later events, then
    /// follows it live until it finishes. `None` when the id names no known stream.
    pub(crate) fn resume(&self, last_event_id: &str) -> Option<mpsc::UnboundedReceiver<Bytes>> {
        let (stream, after) = parse_event_id(last_event_id)?;
        let mut inner = self.lock();
        let log = inner.streams.get_mut(&stream)?;
        let (tx, rx) = mpsc::unbounded_channel();
        for (seq, event) in &log.events {
            if *seq > after {
                let _ = tx.send(event.clone());
            }
        }
        if !log.finished {
            // The newest reader takes over the stream (the old connection is presumed dead).
            log.live = Some(tx);
        }
        Some(rx)
    }

    /// Whether `stream` exists and has not finished.
    #[cfg(test)]
    pub(crate) fn is_open(&self, stream: u64) -> bool {
        self.lock()
            .streams
            .get(&stream)
            .is_some_and(|l| !l.finished)
    }
}

fn evict(streams: &mut BTreeMap<u64, StreamLog>) {
    let finished: Vec<u64> = streams
        .iter()
        .filter(|(_, l)| l.finished)
        .map(|(k, _)| *k)
        .collect();
    if finished.len() > KEPT_FINISHED_STREAMS {
        for key in &finished[..finished.len() - KEPT_FINISHED_STREAMS] {
            streams.remove(key);
        }
    }
}

/// How an SSE body is written.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BodyOptions {
    /// `slow-drip`: 16-byte chunks with this pause between them.
    pub(crate) drip: Option<Duration>,
    /// Send `: keep-alive` comments when idle this long.
    pub(crate) keep_alive: Option<Duration>,
}

/// A stream of bytes from a channel.
pub(crate) fn channel_stream<T: Send + 'static>(
    rx: mpsc::UnboundedReceiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

struct BodyState<S> {
    events: S,
    options: BodyOptions,
    pending: VecDeque<Bytes>,
    sent_any: bool,
    _guard: Option<Box<dyn Any + Send>>,
}

/// An SSE response body. `guard` is dropped when the body is (the client went away or the
/// stream ended), which lets callers clean up per-stream state.
pub(crate) fn body<S>(events: S, options: BodyOptions, guard: Option<Box<dyn Any + Send>>) -> Body
where
    S: Stream<Item = Bytes> + Send + Unpin + 'static,
{
    let state = BodyState {
        events,
        options,
        pending: VecDeque::new(),
        sent_any: false,
        _guard: guard,
    };
    let chunks = stream::unfold(state, |mut st| async move {
        loop {
            if let Some(chunk) = st.pending.pop_front() {
                if let Some(pause) = st.options.drip
                    && st.sent_any
                {
                    tokio::time::sleep(pause).await;
                }
                st.sent_any = true;
                return Some((Ok::<Bytes, Infallible>(chunk), st));
            }
            let next = match st.options.keep_alive {
                Some(period) => match tokio::time::timeout(period, st.events.next()).await {
                    Ok(next) => next,
                    Err(_) => Some(Bytes::from_static(b": keep-alive\n\n")),
                },
                None => st.events.next().await,
            }?;
            if st.options.drip.is_some() {
                st.pending
                    .extend(next.chunks(DRIP_CHUNK).map(Bytes::copy_from_slice));
            } else {
                st.sent_any = true;
                return Some((Ok(next), st));
            }
        }
    });
    Body::from_stream(chunks)
}

/// A `200 text/event-stream` response with the anti-buffering headers.
pub(crate) fn response(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn drain(rx: &mut mpsc::UnboundedReceiver<Bytes>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(b) = rx.try_recv() {
            out.push(String::from_utf8_lossy(&b).into_owned());
        }
        out
    }

    #[test]
    fn priming_event_has_an_id_and_empty_data() {
        let log = EventLog::default();
        let (stream, priming, _) = log.open(Some(500), false);
        assert_eq!(
            String::from_utf8_lossy(&priming),
            format!("id: {stream}-0\nretry: 500\ndata: \n\n")
        );
    }

    #[test]
    fn resume_replays_after_the_id_then_follows_live() {
        let log = EventLog::default();
        let (stream, _, live) = log.open(None, true);
        drop(live);
        log.push(stream, &json!({"n": 1}));
        log.push(stream, &json!({"n": 2}));
        let mut rx = log.resume(&format!("{stream}-1")).expect("known stream");
        let replayed = drain(&mut rx);
        assert_eq!(replayed.len(), 1);
        assert!(replayed[0].contains("\"n\":2"));
        log.push(stream, &json!({"n": 3}));
        assert!(drain(&mut rx)[0].contains(&format!("id: {stream}-3")));
        log.finish(stream);
        assert!(rx.try_recv().is_err());
        assert!(!log.is_open(stream));
    }

    #[test]
    fn resume_of_a_finished_stream_replays_and_ends() {
        let log = EventLog::default();
        let (stream, _, _) = log.open(Some(10), false);
        log.push(stream, &json!({"answer": true}));
        log.finish(stream);
        let mut rx = log.resume(&format!("{stream}-0")).expect("known");
        assert_eq!(drain(&mut rx).len(), 1);
        assert!(matches!(
            rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn unknown_event_ids_are_none() {
        let log = EventLog::default();
        assert!(log.resume("nope").is_none());
        assert!(log.resume("7-0").is_none());
    }
}
