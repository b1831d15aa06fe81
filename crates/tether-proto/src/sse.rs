//! Server-Sent Events parsing (the WHATWG event-stream format) and encoding.
//!
//! Handles `id`, `event`, multi-line `data`, `retry`, comments and all three line endings, split
//! anywhere. Events with empty data (the priming events servers send so a client can resume) only
//! update the last event id; they are not yielded. One event is capped (16 MiB by default): a
//! larger one is dropped and reported, never buffered whole.

use std::time::Duration;

/// The default cap on one event's data: 16 MiB.
pub const DEFAULT_MAX_EVENT: usize = 16 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The last event id in effect when this event was dispatched.
    pub id: Option<String>,
    /// The event type (`message` when the stream gave none).
    pub event: String,
    /// The data lines joined with `\n`.
    pub data: String,
}

/// What the decoder yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A complete event with data.
    Event(SseEvent),
    /// An event that exceeded the cap and was dropped; how many bytes it had reached.
    TooLarge(usize),
}

/// Incremental SSE decoder.
#[derive(Debug)]
pub struct SseDecoder {
    buf: Vec<u8>,
    start: usize,
    scanned: usize,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
    seen_first_line: bool,
    max_event: usize,
    data: String,
    has_data: bool,
    event: Option<String>,
    last_id: Option<String>,
    retry: Option<Duration>,
    /// Set while the rest of an oversized event is being skipped.
    oversized: Option<usize>,
    /// Set when a partial line was dropped: its tail must not be read as a line of its own.
    skip_line_tail: bool,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT)
    }
}

impl SseDecoder {
    /// A decoder with the given cap on one event.
    pub fn new(max_event: usize) -> Self {
        SseDecoder {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            after_cr: false,
            seen_first_line: false,
            max_event,
            data: String::new(),
            has_data: false,
            event: None,
            last_id: None,
            retry: None,
            oversized: None,
            skip_line_tail: false,
        }
    }

    /// The last event id seen (priming events included): what to send as `Last-Event-ID`.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// The reconnection delay the server asked for with `retry:`.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Gives back a large buffer once everything in it was consumed: a server that once sent a
    /// big message should not keep that much memory while idle.
    fn release_if_idle(&mut self) {
        const KEEP: usize = 16 * 1024;
        if self.start == self.buf.len() && self.buf.capacity() > 4 * KEEP {
            self.buf = Vec::with_capacity(KEEP);
            self.start = 0;
            self.scanned = 0;
        }
    }

    /// Bytes currently buffered (bounded by the cap plus one pushed chunk).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start + self.data.len()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.release_if_idle();
        if bytes.is_empty() {
            return;
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        let bytes = if self.after_cr && self.buf.len() == self.start {
            self.after_cr = false;
            bytes.strip_prefix(b"\n").unwrap_or(bytes)
        } else {
            bytes
        };
        self.buf.extend_from_slice(bytes);
    }

    /// The next item, if one is complete.
    pub fn next_item(&mut self) -> Option<SseItem> {
        loop {
            let Some((line_end, next)) = self.find_line_end() else {
                return self.check_line_overflow();
            };
            let line_start = self.start;
            self.start = next;
            self.scanned = next;
            if std::mem::take(&mut self.skip_line_tail) {
                continue;
            }
            // Borrow the buffer out so the line can be read while the state is updated.
            let buf = std::mem::take(&mut self.buf);
            let item = self.process_line(&buf[line_start..line_end]);
            self.buf = buf;
            if let Some(item) = item {
                return Some(item);
            }
        }
    }

    /// Finds the end of the next line: `(end of content, start of the following line)`.
    fn find_line_end(&mut self) -> Option<(usize, usize)> {
        let hay = &self.buf[self.scanned..];
        let pos = memchr::memchr2(b'\n', b'\r', hay)?;
        let at = self.scanned + pos;
        if self.buf[at] == b'\n' {
            return Some((at, at + 1));
        }
        // A `\r`: if it is the last byte we cannot know yet whether `\n` follows.
        if at + 1 < self.buf.len() {
            let next = if self.buf[at + 1] == b'\n' {
                at + 2
            } else {
                at + 1
            };
            return Some((at, next));
        }
        self.after_cr = true;
        Some((at, at + 1))
    }

    /// A line with no end yet that is already longer than an event may be.
    fn check_line_overflow(&mut self) -> Option<SseItem> {
        self.scanned = self.buf.len();
        let pending = self.buf.len() - self.start + self.data.len();
        if pending <= self.max_event {
            return None;
        }
        // Drop what we have and the rest of this line; ignore the rest of this event.
        let first_report = self.oversized.is_none();
        let total = self.oversized.unwrap_or(0) + pending;
        self.oversized = Some(total);
        self.start = self.buf.len();
        self.scanned = self.start;
        self.data.clear();
        self.skip_line_tail = true;
        first_report.then_some(SseItem::TooLarge(total))
    }

    fn process_line(&mut self, line: &[u8]) -> Option<SseItem> {
        let line = if !self.seen_first_line {
            self.seen_first_line = true;
            line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line)
        } else {
            line
        };
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None; // comment / keep-alive
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.oversized.is_some() {
                    return None;
                }
                if self.data.len() + value.len() + 1 > self.max_event {
                    let total = self.data.len() + value.len();
                    self.data.clear();
                    self.oversized = Some(total);
                    return Some(SseItem::TooLarge(total));
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // All ASCII digits, so valid UTF-8; only an overflow can fail the parse.
                if let Ok(ms) = String::from_utf8_lossy(value).parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {} // unknown fields are ignored, per the format
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseItem> {
        let event = self.event.take();
        let had_data = std::mem::take(&mut self.has_data);
        let data = std::mem::take(&mut self.data);
        if self.oversized.take().is_some() {
            return None;
        }
        if !had_data || data.is_empty() {
            return None; // priming event or bare id/retry update
        }
        Some(SseItem::Event(SseEvent {
            id: self.last_id.clone(),
            event: event
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "message".to_owned()),
            data,
        }))
    }
}

/// Encodes one event. Multi-line data becomes several `data:` lines.
pub fn encode_event(id: Option<&str>, event: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(event) = event {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(input: &[u8]) -> Vec<SseItem> {
        let mut d = SseDecoder::default();
        d.push(input);
        std::iter::from_fn(|| d.next_item()).collect()
    }

    fn ev(id: Option<&str>, event: &str, data: &str) -> SseItem {
        SseItem::Event(SseEvent {
            id: id.map(str::to_owned),
            event: event.to_owned(),
            data: data.to_owned(),
        })
    }

    #[test]
    fn parses_fields_and_line_endings() {
        let got = events(b": keep-alive\r\nid: 1\r\nevent: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nretry: 500\rdata:x\r\r");
        assert_eq!(
            got,
            vec![
                ev(Some("1"), "message", "{\"a\":\n1}"),
                ev(Some("1"), "message", "x")
            ]
        );
    }

    #[test]
    fn priming_events_only_update_the_id_and_retry() {
        let mut d = SseDecoder::default();
        d.push(b"id: prime-0\nretry: 750\ndata:\n\n");
        assert_eq!(d.next_item(), None);
        assert_eq!(d.last_event_id(), Some("prime-0"));
        assert_eq!(d.retry(), Some(Duration::from_millis(750)));
    }

    #[test]
    fn cr_split_from_lf_across_chunks_is_one_line_end() {
        let mut d = SseDecoder::default();
        d.push(b"data: a\r");
        assert_eq!(d.next_item(), None);
        d.push(b"\n\r\n");
        assert_eq!(d.next_item(), Some(ev(None, "message", "a")));
    }

    #[test]
    fn oversized_events_are_dropped_and_reported_once() {
        let mut d = SseDecoder::new(8);
        d.push(b"data: 0123456789\n\ndata: ok\n\n");
        assert_eq!(d.next_item(), Some(SseItem::TooLarge(10)));
        assert_eq!(d.next_item(), Some(ev(None, "message", "ok")));
        let mut d = SseDecoder::new(8);
        d.push(b"data: 01");
        assert_eq!(d.next_item(), None);
        d.push(b"23456789abcdef");
        assert!(matches!(d.next_item(), Some(SseItem::TooLarge(_))));
        d.push(b"more\ndata: still the same event\n\ndata: next\n\n");
        assert_eq!(d.next_item(), Some(ev(None, "message", "next")));
    }

    #[test]
    fn bom_and_unknown_fields_are_ignored() {
        assert_eq!(
            events("\u{feff}data: x\nfoo: bar\n\n".as_bytes()),
            vec![ev(None, "message", "x")]
        );
    }

    #[test]
    fn encode_roundtrips() {
        let text = encode_event(Some("7"), Some("message"), "a\nb");
        assert_eq!(
            events(text.as_bytes()),
            vec![ev(Some("7"), "message", "a\nb")]
        );
    }
}
