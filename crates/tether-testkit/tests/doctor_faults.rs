//! The faults added for `tether doctor`'s broken-server corpus: `instructions:BYTES` and
//! `discover`.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn instructions_fault_sets_their_exact_length() {
    let server = HttpServer::start(&["instructions:3000"]).await;
    let response = post(
        &client(),
        &server.url,
        None,
        &initialize_request(json!(1), "2025-11-25"),
    )
    .await;
    let body = json_body(response).await;
    let text = body["result"]["instructions"]
        .as_str()
        .expect("instructions");
    assert_eq!(text.len(), 3000);
    assert!(text.starts_with("Long server instructions"));
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
}

#[tokio::test]
async fn discover_answers_without_a_session_and_only_when_armed() {
    let discover = json!({
        "jsonrpc": "2.0", "id": "d", "method": "server/discover",
        "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }},
    });
    let send = |url: String| {
        let discover = discover.clone();
        async move {
            client()
                .post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "server/discover")
                .body(discover.to_string())
                .send()
                .await
                .expect("POST")
        }
    };
    let armed = HttpServer::start(&["discover"]).await;
    let response = send(armed.url.clone()).await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["id"], "d");
    let versions = body["result"]["supportedVersions"]
        .as_array()
        .expect("supportedVersions");
    assert_eq!(versions[0], "2026-07-28");
    assert!(body["result"]["capabilities"]["tools"].is_object());
    assert!(body["result"]["ttlMs"].is_u64());

    let plain = HttpServer::start(&[]).await;
    let response = send(plain.url.clone()).await;
    assert_eq!(
        response.status(),
        400,
        "an unarmed server rejects the revision"
    );
}
