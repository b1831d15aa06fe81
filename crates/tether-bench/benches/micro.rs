//! Micro-benchmarks of the per-message and per-call pieces (`cargo bench -p tether-bench`):
//! the NDJSON and SSE decoders on a 64 KiB stream of typical messages, JSON-RPC decode and
//! encode of a typical `tools/call`, the gateway's `tools/call` parameter repair, the catalog
//! build for 100 servers × 20 tools, and the exposed-name function. Each bench is short; the
//! numbers are for spotting regressions, not for assertions.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use serde_json::json;
use tether_client::status::{ServerStatus, State};
use tether_client::timeouts::Timeouts;
use tether_gateway::catalog::{Catalog, Naming, expose};
use tether_proto::mcp::Tool;
use tether_proto::ndjson::{Frame, NdjsonDecoder};
use tether_proto::sse::{SseDecoder, SseItem};

const CALL: &str = r#"{"jsonrpc":"2.0","id":4711,"method":"tools/call","params":{"name":"echo__echo","arguments":{"text":"tether-bench echo payload 0123456789 abcdefghijklmnopqrstuvwxyz "},"_meta":{"progressToken":17}}}"#;
const RESULT: &str = r#"{"jsonrpc":"2.0","id":4711,"result":{"content":[{"type":"text","text":"tether-bench echo payload 0123456789 abcdefghijklmnopqrstuvwxyz "}],"isError":false}}"#;
const PROGRESS: &str = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":17,"progress":3,"total":10,"message":"working"}}"#;

/// About 64 KiB of messages as a server or client would write them, in a realistic mix.
fn typical_messages() -> Vec<&'static str> {
    let mut msgs = Vec::new();
    let mut size = 0;
    let mix = [CALL, RESULT, RESULT, PROGRESS];
    let mut i = 0;
    while size < 64 * 1024 {
        let m = mix[i % mix.len()];
        size += m.len() + 1;
        msgs.push(m);
        i += 1;
    }
    msgs
}

fn quick(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
}

fn codecs(c: &mut Criterion) {
    let msgs = typical_messages();
    let ndjson: Vec<u8> = msgs
        .iter()
        .flat_map(|m| m.bytes().chain(std::iter::once(b'\n')))
        .collect();
    let sse: Vec<u8> = msgs
        .iter()
        .enumerate()
        .flat_map(|(i, m)| format!("id: 0-{i}\nevent: message\ndata: {m}\n\n").into_bytes())
        .collect();

    let mut g = c.benchmark_group("codec");
    quick(&mut g);
    g.throughput(Throughput::Bytes(ndjson.len() as u64));
    g.bench_function("ndjson_decode_64KiB", |b| {
        b.iter(|| {
            let mut dec = NdjsonDecoder::default();
            let mut n = 0;
            for chunk in ndjson.chunks(8192) {
                dec.push(chunk);
                while let Some(f) = dec.next_frame() {
                    n += usize::from(matches!(f, Frame::Message(_)));
                }
            }
            black_box(n)
        });
    });
    g.throughput(Throughput::Bytes(sse.len() as u64));
    g.bench_function("sse_decode_64KiB", |b| {
        b.iter(|| {
            let mut dec = SseDecoder::default();
            let mut n = 0;
            for chunk in sse.chunks(8192) {
                dec.push(chunk);
                while let Some(item) = dec.next_item() {
                    n += usize::from(matches!(item, SseItem::Event(_)));
                }
            }
            black_box(n)
        });
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("jsonrpc_decode_tools_call", |b| {
        b.iter(|| black_box(tether_proto::jsonrpc::decode(black_box(CALL.as_bytes())).is_ok()));
    });
    let decoded = tether_proto::jsonrpc::decode(CALL.as_bytes()).map(|d| d.message);
    if let Ok(msg) = decoded {
        let mut buf = Vec::with_capacity(512);
        g.bench_function("jsonrpc_encode_into_tools_call", |b| {
            b.iter(|| {
                buf.clear();
                black_box(&msg).encode_into(&mut buf);
                black_box(buf.len())
            });
        });
    }
    g.finish();
}

fn status(server: usize, tools: usize) -> ServerStatus {
    let mut s = ServerStatus::new(
        &format!("server-{server}"),
        "bench",
        "stdio",
        "cmd",
        Timeouts::defaults(true),
    );
    s.state = State::Connected;
    s.tools = (0..tools)
        .filter_map(|t| {
            serde_json::from_value::<Tool>(json!({
                "name": format!("tool_{t}"),
                "description": "Does one thing well, with a description of typical length for a tool.",
                "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["path"]}
            }))
            .ok()
        })
        .collect();
    s
}

fn gateway(c: &mut Criterion) {
    let params = r#"{"name":"echo__echo","arguments":{"text":"tether-bench echo payload 0123456789 abcdefghijklmnopqrstuvwxyz "},"_meta":{"progressToken":17}}"#;
    let raw = serde_json::value::RawValue::from_string(params.to_owned()).ok();
    let missing =
        serde_json::value::RawValue::from_string(r#"{"name":"echo__echo"}"#.to_owned()).ok();
    let mut g = c.benchmark_group("gateway");
    quick(&mut g);
    g.bench_function("repair_call_params", |b| {
        b.iter(|| {
            black_box(tether_gateway::repair::call_params(black_box(raw.as_deref())).is_ok())
        });
    });
    g.bench_function("repair_call_params_missing_arguments", |b| {
        b.iter(|| {
            black_box(tether_gateway::repair::call_params(black_box(missing.as_deref())).is_ok())
        });
    });
    let statuses: Vec<ServerStatus> = (0..100).map(|i| status(i, 20)).collect();
    let filters = HashMap::new();
    g.bench_function("catalog_build_100x20", |b| {
        b.iter(|| {
            black_box(Catalog::build(black_box(&statuses), &filters, Naming::Prefixed).tool_count)
        });
    });
    g.bench_function("catalog_expose", |b| {
        b.iter(|| {
            black_box(expose(
                black_box("filesystem"),
                black_box("read_file"),
                Naming::Prefixed,
            ))
        });
    });
    g.bench_function("catalog_expose_long_name", |b| {
        let long =
            "a_really_long_tool_name_that_goes_on_and_on_past_the_sixty_four_character_limit";
        b.iter(|| {
            black_box(expose(
                black_box("my.server"),
                black_box(long),
                Naming::Prefixed,
            ))
        });
    });
    g.finish();
}

criterion_group!(benches, codecs, gateway);
criterion_main!(benches);
