//! Newline-delimited JSON-RPC framing, as spoken over stdio.
//!
//! Lines that are not JSON-RPC (a server logging to stdout) are skipped and reported, never
//! answered: answering garbage causes error storms. A line longer than the cap is discarded as it
//! streams in, so a server writing megabytes without a newline cannot grow our memory.

use crate::jsonrpc::{self, DecodeError, Decoded};

/// The default longest line accepted: 16 MiB.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024 * 1024;

/// How many bytes of a skipped line are kept for diagnostics.
pub const PREVIEW_BYTES: usize = 200;

/// One item read from the stream.
#[derive(Debug)]
pub enum Frame {
    /// A JSON-RPC message.
    Message(Decoded),
    /// A line that was skipped.
    Skipped(Skipped),
}

/// A skipped line and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Why it was skipped.
    pub reason: SkipReason,
    /// The first bytes of the line, lossily decoded.
    pub preview: String,
}

/// Why a line was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Not JSON (typically a log line).
    NotJson,
    /// JSON, but not a single JSON-RPC message.
    NotJsonRpc(String),
    /// Longer than the line cap; its length so far.
    TooLong(usize),
}

/// Incremental NDJSON decoder. Feed bytes with [`push`](Self::push), take frames with
/// [`next_frame`](Self::next_frame), and call [`finish`](Self::finish) at end of stream.
#[derive(Debug)]
pub struct NdjsonDecoder {
    buf: Vec<u8>,
    /// Start of the unconsumed part of `buf`.
    start: usize,
    /// Where to resume the newline search (everything in `start..scanned` has no newline).
    scanned: usize,
    max_line: usize,
    /// Set while the rest of an over-long line is being thrown away.
    discarding: Option<usize>,
}

impl Default for NdjsonDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE)
    }
}

impl NdjsonDecoder {
    /// A decoder accepting lines up to `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        NdjsonDecoder {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_line,
            discarding: None,
        }
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

    /// Bytes currently buffered (bounded by the line cap plus one pushed chunk).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.release_if_idle();
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if one is buffered.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let found = memchr::memchr(b'\n', &self.buf[self.scanned..]);
            let Some(offset) = found else {
                self.scanned = self.buf.len();
                return self.check_overflow();
            };
            let end = self.scanned + offset;
            let line_start = self.start;
            self.start = end + 1;
            self.scanned = self.start;
            if let Some(len) = self.discarding.take() {
                // The tail of an over-long line: already reported.
                let _ = len;
                continue;
            }
            if end - line_start > self.max_line {
                let preview = preview(&self.buf[line_start..end]);
                return Some(Frame::Skipped(Skipped {
                    reason: SkipReason::TooLong(end - line_start),
                    preview,
                }));
            }
            if let Some(frame) = decode_line(&self.buf[line_start..end]) {
                return Some(frame);
            }
        }
    }

    /// Reports (once) and starts discarding a line that outgrew the cap without a newline.
    fn check_overflow(&mut self) -> Option<Frame> {
        let pending = self.buf.len() - self.start;
        if let Some(len) = self.discarding.as_mut() {
            *len += pending;
            self.start = self.buf.len();
            self.scanned = self.start;
            return None;
        }
        if pending <= self.max_line {
            return None;
        }
        let preview = preview(&self.buf[self.start..]);
        self.discarding = Some(pending);
        self.start = self.buf.len();
        self.scanned = self.start;
        Some(Frame::Skipped(Skipped {
            reason: SkipReason::TooLong(pending),
            preview,
        }))
    }

    /// Decodes a final line that had no trailing newline, at end of stream.
    pub fn finish(&mut self) -> Option<Frame> {
        let rest_start = self.start;
        self.start = self.buf.len();
        self.scanned = self.start;
        if self.discarding.take().is_some() {
            return None;
        }
        let line = &self.buf[rest_start..];
        if line.len() > self.max_line {
            return Some(Frame::Skipped(Skipped {
                reason: SkipReason::TooLong(line.len()),
                preview: preview(line),
            }));
        }
        decode_line(line)
    }
}

/// Decodes one line; `None` for blank lines, which are not worth reporting.
fn decode_line(line: &[u8]) -> Option<Frame> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(match jsonrpc::decode(line) {
        Ok(decoded) => Frame::Message(decoded),
        Err(DecodeError::Syntax(_)) => Frame::Skipped(Skipped {
            reason: SkipReason::NotJson,
            preview: preview(line),
        }),
        Err(e) => Frame::Skipped(Skipped {
            reason: SkipReason::NotJsonRpc(e.to_string()),
            preview: preview(line),
        }),
    })
}

/// The first [`PREVIEW_BYTES`] of a line, lossily decoded, on a char boundary.
pub fn preview(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(PREVIEW_BYTES)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > PREVIEW_BYTES {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonrpc::Message;

    fn all(dec: &mut NdjsonDecoder) -> Vec<Frame> {
        std::iter::from_fn(|| dec.next_frame()).collect()
    }

    #[test]
    fn splits_lines_and_skips_noise() {
        let mut d = NdjsonDecoder::default();
        d.push(b"[db] Connecting...\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n\n{\"level\":\"info\"}\n{\"id\"");
        let frames = all(&mut d);
        assert_eq!(frames.len(), 3);
        assert!(
            matches!(&frames[0], Frame::Skipped(Skipped { reason: SkipReason::NotJson, preview }) if preview == "[db] Connecting...")
        );
        assert!(
            matches!(&frames[1], Frame::Message(m) if matches!(m.message, Message::Response(_)))
        );
        assert!(matches!(
            &frames[2],
            Frame::Skipped(Skipped {
                reason: SkipReason::NotJsonRpc(_),
                ..
            })
        ));
        d.push(b":2,\"method\":\"ping\"}");
        assert!(d.next_frame().is_none());
        assert!(matches!(d.finish(), Some(Frame::Message(_))));
    }

    #[test]
    fn over_long_lines_are_reported_once_and_discarded() {
        let mut d = NdjsonDecoder::new(16);
        d.push(b"0123456789");
        assert!(d.next_frame().is_none());
        d.push(b"0123456789");
        let f = d.next_frame();
        assert!(matches!(
            f,
            Some(Frame::Skipped(Skipped {
                reason: SkipReason::TooLong(20),
                ..
            }))
        ));
        d.push(b"more garbage");
        assert!(d.next_frame().is_none());
        assert!(d.buffered() == 0);
        d.push(b"tail\n{\"method\":\"x\"}\n");
        assert!(matches!(d.next_frame(), Some(Frame::Message(_))));
        assert!(d.next_frame().is_none());
    }

    #[test]
    fn over_long_complete_line_in_one_chunk() {
        let mut d = NdjsonDecoder::new(4);
        d.push(b"{\"method\":\"x\"}\n{}\n");
        assert!(matches!(
            d.next_frame(),
            Some(Frame::Skipped(Skipped {
                reason: SkipReason::TooLong(14),
                ..
            }))
        ));
        assert!(matches!(
            d.next_frame(),
            Some(Frame::Skipped(Skipped {
                reason: SkipReason::NotJsonRpc(_),
                ..
            }))
        ));
    }
}
