//! Property tests for the codecs: any split of a byte stream decodes to the same frames, and
//! arbitrary bytes never panic a decoder or make it buffer without bound.

use proptest::prelude::*;
use tether_proto::ndjson::{Frame, NdjsonDecoder, SkipReason};
use tether_proto::sse::{SseDecoder, SseItem};

/// A frame reduced to what must not depend on chunking.
#[derive(Debug, PartialEq)]
enum Seen {
    Message(Vec<u8>),
    NotJson,
    NotJsonRpc,
    TooLong,
}

fn seen(frame: Frame) -> Seen {
    match frame {
        Frame::Message(m) => Seen::Message(m.message.to_bytes()),
        Frame::Skipped(s) => match s.reason {
            SkipReason::NotJson => Seen::NotJson,
            SkipReason::NotJsonRpc(_) => Seen::NotJsonRpc,
            SkipReason::TooLong(_) => Seen::TooLong,
        },
    }
}

fn ndjson_decode(chunks: &[&[u8]], max_line: usize) -> Vec<Seen> {
    let mut dec = NdjsonDecoder::new(max_line);
    let mut out = Vec::new();
    for chunk in chunks {
        dec.push(chunk);
        while let Some(f) = dec.next_frame() {
            out.push(seen(f));
        }
    }
    out.extend(dec.finish().map(seen));
    out
}

fn sse_decode(chunks: &[&[u8]], max_event: usize) -> (Vec<SseItem>, Option<String>) {
    let mut dec = SseDecoder::new(max_event);
    let mut out = Vec::new();
    for chunk in chunks {
        dec.push(chunk);
        while let Some(item) = dec.next_item() {
            out.push(item);
        }
    }
    (out, dec.last_event_id().map(str::to_owned))
}

fn split_at<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut chunks = Vec::new();
    let mut last = 0;
    for p in points {
        chunks.push(&bytes[last..p]);
        last = p;
    }
    chunks.push(&bytes[last..]);
    chunks
}

fn json_rpc_line() -> impl Strategy<Value = String> {
    let id = prop_oneof![
        any::<i32>().prop_map(|n| n.to_string()),
        "[a-z0-9-]{0,8}".prop_map(|s| format!("{s:?}"))
    ];
    let text = "[ -~&&[^\"\\\\]]{0,24}";
    prop_oneof![
        (id.clone(), text).prop_map(|(id, t)| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{t}"}}}}}}"#)),
        id.clone().prop_map(|id| format!(r#"{{"id":{id},"result":{{"content":[]}}}}"#)),
        Just(r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#.to_owned()),
        "[ -~]{0,40}",                          // log noise, sometimes JSON by accident
        Just(r#"{"level":"info","msg":"structured log"}"#.to_owned()),
        Just(String::new()),
        "x{30,60}",                             // over-long with a small cap
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ndjson_any_split_decodes_the_same(
        lines in prop::collection::vec(json_rpc_line(), 0..20),
        crlf in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let sep = if crlf { "\r\n" } else { "\n" };
        let stream = lines.join(sep);
        let whole = ndjson_decode(&[stream.as_bytes()], 48);
        let split = ndjson_decode(&split_at(stream.as_bytes(), &cuts), 48);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn sse_any_split_decodes_the_same(
        events in prop::collection::vec(
            (prop::option::of("[a-z0-9]{0,6}"), prop::option::of("[a-z]{1,8}"),
             prop::collection::vec("[ -~]{0,20}", 0..4), prop::option::of(0u32..5000), any::<bool>()),
            0..12),
        ending in 0usize..3,
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let eol = ["\n", "\r\n", "\r"][ending];
        let mut stream = String::new();
        for (id, event, data, retry, comment) in &events {
            if *comment { stream.push_str(": keep-alive"); stream.push_str(eol); }
            if let Some(id) = id { stream.push_str(&format!("id: {id}{eol}")); }
            if let Some(ev) = event { stream.push_str(&format!("event: {ev}{eol}")); }
            if let Some(r) = retry { stream.push_str(&format!("retry: {r}{eol}")); }
            for line in data { stream.push_str(&format!("data: {line}{eol}")); }
            stream.push_str(eol);
        }
        let whole = sse_decode(&[stream.as_bytes()], 64);
        let split = sse_decode(&split_at(stream.as_bytes(), &cuts), 64);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_grow_without_bound(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..40),
    ) {
        let cap = 256;
        let mut nd = NdjsonDecoder::new(cap);
        let mut sse = SseDecoder::new(cap);
        for chunk in &chunks {
            nd.push(chunk);
            while nd.next_frame().is_some() {}
            prop_assert!(nd.buffered() <= cap + chunk.len());
            sse.push(chunk);
            while sse.next_item().is_some() {}
            prop_assert!(sse.buffered() <= 2 * cap + chunk.len());
        }
        let _ = nd.finish();
        let _ = tether_proto::jsonrpc::decode_many(&chunks.concat());
    }
}

/// Every file in the saved corpus goes through both decoders and the envelope decoder whole and
/// byte by byte; each once crashed or confused a decoder somewhere.
#[test]
fn saved_corpus_decodes_without_panicking() {
    // At run time: the compile-time value is stale in a build cache shared by clones elsewhere.
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    );
    let dir = root.join("tests/corpus");
    let mut seen_files = 0;
    for entry in std::fs::read_dir(dir).expect("corpus dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        let whole = ndjson_decode(&[&bytes], 1024);
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(whole, ndjson_decode(&bytewise, 1024));
        assert_eq!(sse_decode(&[&bytes], 1024), sse_decode(&bytewise, 1024));
        let _ = tether_proto::jsonrpc::decode(&bytes);
        seen_files += 1;
    }
    assert!(seen_files >= 5, "corpus went missing");
}
