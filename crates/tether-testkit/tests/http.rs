//! Streamable HTTP, legacy SSE and the HTTP faults, against `serve_http` on 127.0.0.1 (and the
//! real binary with `--http`), spoken to with a plain HTTP client.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn handshake_creates_a_session_that_later_requests_need() {
    let server = HttpServer::start(&[]).await;
    let client = client();
    let response = post(
        &client,
        &server.url,
        None,
        &initialize_request(json!(1), "2025-06-18"),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/json");
    let session = session_of(&response).expect("Mcp-Session-Id on initialize");
    assert!(session.len() >= 16 && session.bytes().all(|b| b.is_ascii_hexdigit()));
    let body = json_body(response).await;
    assert_eq!(body["result"]["protocolVersion"], "2025-06-18");

    let ack = post(
        &client,
        &server.url,
        Some(&session),
        &notification("notifications/initialized"),
    )
    .await;
    assert_eq!(ack.status(), 202);
    assert!(text_body(ack).await.is_empty());

    let tools = post(
        &client,
        &server.url,
        Some(&session),
        &request(2, "tools/list", json!({})),
    )
    .await;
    assert_eq!(tools.status(), 200);
    assert_eq!(
        json_body(tools).await["result"]["tools"]
            .as_array()
            .map(Vec::len),
        Some(12)
    );

    let echo = post(
        &client,
        &server.url,
        Some(&session),
        &call("e", "echo", json!({"text": "hey"})),
    )
    .await;
    assert_eq!(text(&json_body(echo).await), "hey");

    let missing = post(&client, &server.url, None, &request(3, "ping", json!({}))).await;
    assert_eq!(missing.status(), 400);

    let unknown = post(
        &client,
        &server.url,
        Some("deadbeef"),
        &request(4, "ping", json!({})),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        json_body(unknown).await,
        json!({"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}})
    );

    let delete = bounded(
        "DELETE",
        client
            .delete(&server.url)
            .header("mcp-session-id", &session)
            .send(),
    )
    .await
    .expect("DELETE");
    assert_eq!(delete.status(), 200);
    let after = post(
        &client,
        &server.url,
        Some(&session),
        &request(5, "ping", json!({})),
    )
    .await;
    assert_eq!(after.status(), 404, "a deleted session is gone");
}

#[tokio::test]
async fn transport_validation_errors() {
    let server = HttpServer::start(&[]).await;
    let client = client();
    let (session, _) = handshake(&client, &server.url).await;
    let session = session.expect("session");
    let ping = request(1, "ping", json!({})).to_string();

    let only_json = bounded(
        "POST",
        client
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("mcp-session-id", &session)
            .body(ping.clone())
            .send(),
    )
    .await
    .expect("sent");
    assert_eq!(only_json.status(), 406);
    assert!(text_body(only_json).await.contains(
        "Not Acceptable: Client must accept both application/json and text/event-stream"
    ));

    let text_plain = bounded(
        "POST",
        client
            .post(&server.url)
            .header("content-type", "text/plain")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .body(ping.clone())
            .send(),
    )
    .await
    .expect("sent");
    assert_eq!(text_plain.status(), 415);

    let garbage = bounded(
        "POST",
        client
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .body("{not json")
            .send(),
    )
    .await
    .expect("sent");
    assert_eq!(garbage.status(), 400);
    let body = json_body(garbage).await;
    assert_eq!(body["error"]["code"], -32700);
    assert_eq!(body["id"], Value::Null);

    let bad_version = bounded(
        "POST",
        client
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2099-01-01")
            .body(ping.clone())
            .send(),
    )
    .await
    .expect("sent");
    assert_eq!(bad_version.status(), 400);

    let evil = bounded(
        "POST",
        client
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .header("origin", "https://evil.example")
            .body(ping.clone())
            .send(),
    )
    .await
    .expect("sent");
    assert_eq!(evil.status(), 403);

    let local = bounded(
        "POST",
        client
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .header("origin", "http://localhost:5173")
            .body(ping)
            .send(),
    )
    .await
    .expect("sent");
    assert_eq!(local.status(), 200);
}

#[tokio::test]
async fn no_origin_check_accepts_any_origin() {
    let server = HttpServer::start(&["no-origin-check"]).await;
    let response = bounded(
        "POST",
        client()
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("origin", "https://evil.example")
            .body(initialize_request(json!(1), "2025-11-25").to_string())
            .send(),
    )
    .await
    .expect("sent");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn status_503_twice_then_ok_is_counted_in_stats() {
    let server = HttpServer::start(&["status:503@2"]).await;
    let client = client();
    for _ in 0..2 {
        let response = post(
            &client,
            &server.url,
            None,
            &initialize_request(json!(1), "2025-11-25"),
        )
        .await;
        assert_eq!(response.status(), 503);
        assert_eq!(header(&response, "retry-after"), "1");
        assert_eq!(text_body(response).await, "Service Unavailable");
    }
    let (session, _) = handshake(&client, &server.url).await;
    assert!(session.is_some());

    let stats = stats(&client, &server.base).await;
    assert_eq!(stats["starts"], 1);
    assert_eq!(stats["requests"]["initialize"], 3);
    assert_eq!(stats["requests"]["notifications/initialized"], 1);
    assert_eq!(stats["statuses"]["503"], 2);
    assert_eq!(stats["statuses"]["200"], 1);
    assert_eq!(stats["statuses"]["202"], 1);
    assert_eq!(stats["http"], json!({"post": 4, "get": 0, "delete": 0}));
    assert_eq!(stats["sessions_created"], 1);
    assert_eq!(stats["faults"]["status:503"], 2);
    assert_eq!(
        stats["last_headers"]["accept"],
        "application/json, text/event-stream"
    );
    assert!(
        stats["last_event_ids"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
}

#[tokio::test]
async fn status_codes_carry_realistic_bodies_and_headers() {
    let server = HttpServer::start(&[
        "status:401@1",
        "status:403@1",
        "status:404@1",
        "status:504@1",
        "status:502@1",
        "status:500@1",
        "status:429@1",
        "status:503:Retry-After=30:X-Upstream=http://10.0.0.1:8080/mcp@1",
    ])
    .await;
    let client = client();
    let init = initialize_request(json!(1), "2025-11-25");
    let mut responses = Vec::new();
    for _ in 0..8 {
        responses.push(post(&client, &server.url, None, &init).await);
    }
    let mut it = responses.into_iter();

    let r401 = it.next().expect("401");
    assert_eq!(r401.status(), 401);
    let challenge = header(&r401, "www-authenticate").to_owned();
    assert_eq!(
        challenge,
        format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            server.base
        )
    );
    assert_eq!(json_body(r401).await["error"], "invalid_token");

    let r403 = it.next().expect("403");
    assert_eq!(r403.status(), 403);
    assert!(json_body(r403).await["error"].is_string());

    let r404 = it.next().expect("404");
    assert_eq!(r404.status(), 404);
    assert!(header(&r404, "content-type").starts_with("text/html"));
    assert!(text_body(r404).await.contains("Cannot POST /mcp"));

    let r504 = it.next().expect("504");
    assert_eq!(r504.status(), 504);
    assert!(text_body(r504).await.contains("504 Gateway Time-out"));

    let r502 = it.next().expect("502");
    assert_eq!(r502.status(), 502);
    assert!(text_body(r502).await.contains("502 Bad Gateway"));

    let r500 = it.next().expect("500");
    assert_eq!(r500.status(), 500);
    assert_eq!(json_body(r500).await["error"]["code"], -32603);

    let r429 = it.next().expect("429");
    assert_eq!(r429.status(), 429);
    assert_eq!(header(&r429, "retry-after"), "1");

    let custom = it.next().expect("custom 503");
    assert_eq!(custom.status(), 503);
    assert_eq!(header(&custom, "retry-after"), "30");
    assert_eq!(header(&custom, "x-upstream"), "http://10.0.0.1:8080/mcp");

    let ok = post(&client, &server.url, None, &init).await;
    assert_eq!(ok.status(), 200, "every limited status used up");

    let metadata = bounded(
        "PRM",
        client
            .get(format!(
                "{}/.well-known/oauth-protected-resource",
                server.base
            ))
            .send(),
    )
    .await
    .expect("PRM");
    assert_eq!(metadata.status(), 200);
    assert_eq!(json_body(metadata).await["resource"], server.url);
}

#[tokio::test]
async fn nginx_504_page() {
    let server = HttpServer::start(&["status:504"]).await;
    let response = post(
        &client(),
        &server.url,
        None,
        &initialize_request(json!(1), "2025-11-25"),
    )
    .await;
    assert_eq!(response.status(), 504);
    assert!(header(&response, "content-type").starts_with("text/html"));
    let body = text_body(response).await;
    assert!(
        body.starts_with("<html>\r\n<head><title>504 Gateway Time-out</title></head>"),
        "{body}"
    );
    assert!(body.contains("nginx"));
}

#[tokio::test]
async fn html_200_and_wrong_content_type() {
    let server = HttpServer::start(&["html-200@1", "content-type:text/plain@1"]).await;
    let client = client();
    let init = initialize_request(json!(1), "2025-11-25");
    let html = post(&client, &server.url, None, &init).await;
    assert_eq!(html.status(), 200);
    assert!(header(&html, "content-type").starts_with("text/html"));
    assert!(text_body(html).await.contains("Sign in"));
    let plain = post(&client, &server.url, None, &init).await;
    assert_eq!(plain.status(), 200);
    assert_eq!(header(&plain, "content-type"), "text/plain");
    assert!(serde_json::from_str::<Value>(&text_body(plain).await).is_err());
}

#[tokio::test]
async fn session_expire_forgets_the_session_like_a_restart() {
    let server = HttpServer::start(&["session-expire:2@1"]).await;
    let client = client();
    let (session, _) = handshake(&client, &server.url).await;
    let session = session.expect("session");
    for id in 1..=2 {
        let ok = post(
            &client,
            &server.url,
            Some(&session),
            &request(id, "ping", json!({})),
        )
        .await;
        assert_eq!(ok.status(), 200);
    }
    let gone = post(
        &client,
        &server.url,
        Some(&session),
        &request(3, "ping", json!({})),
    )
    .await;
    assert_eq!(gone.status(), 404);
    assert_eq!(
        json_body(gone).await["error"]["message"],
        "Session not found"
    );

    let (fresh, _) = handshake(&client, &server.url).await;
    let fresh = fresh.expect("a new session");
    assert_ne!(fresh, session);
    for id in 4..=6 {
        let ok = post(
            &client,
            &server.url,
            Some(&fresh),
            &request(id, "ping", json!({})),
        )
        .await;
        assert_eq!(ok.status(), 200, "@1: only the first session expires");
    }
}

#[tokio::test]
async fn session_400_answers_unknown_sessions_with_400() {
    let server = HttpServer::start(&["session-400"]).await;
    let response = post(
        &client(),
        &server.url,
        Some("nope"),
        &request(1, "ping", json!({})),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        json_body(response).await,
        json!({"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: No valid session ID provided"}})
    );
}

#[tokio::test]
async fn stateless_never_issues_session_ids() {
    let server = HttpServer::start(&["stateless"]).await;
    let client = client();
    let (session, init) = handshake(&client, &server.url).await;
    assert_eq!(session, None);
    assert!(init["result"]["capabilities"].is_object());
    let tools = post(
        &client,
        &server.url,
        None,
        &request(2, "tools/list", json!({})),
    )
    .await;
    assert_eq!(tools.status(), 200);
    assert!(session_of(&tools).is_none());
}

#[tokio::test]
async fn sse_fault_answers_with_a_primed_event_stream() {
    let server = HttpServer::start(&["sse"]).await;
    let client = client();
    let init = post(
        &client,
        &server.url,
        None,
        &initialize_request(json!(1), "2025-11-25"),
    )
    .await;
    assert_eq!(init.status(), 200);
    assert_eq!(header(&init, "cache-control"), "no-cache");
    assert_eq!(header(&init, "x-accel-buffering"), "no");
    let session = session_of(&init).expect("session header on an SSE initialize");
    let mut events = Sse::new(init);
    let priming = events.next().await.expect("priming");
    assert!(priming.id.is_some());
    assert_eq!(priming.retry, Some(500));
    assert!(priming.data.is_empty());
    let answer = events.next().await.expect("answer");
    assert_eq!(answer.event.as_deref(), Some("message"));
    assert!(answer.id.is_some());
    assert_eq!(answer.json()["result"]["protocolVersion"], "2025-11-25");
    assert!(
        events.next().await.is_none(),
        "stream ends after the answer"
    );

    let tools = post(
        &client,
        &server.url,
        Some(&session),
        &request(2, "tools/list", json!({})),
    )
    .await;
    let mut events = Sse::new(tools);
    assert_eq!(events.next_message().await["id"], 2);
}

#[tokio::test]
async fn sse_drop_closes_the_stream_and_resumes_with_last_event_id() {
    let server = HttpServer::start(&["sse-drop:50"]).await;
    let client = client();
    let (session, _) = handshake(&client, &server.url).await;
    let session = session.expect("session");

    let call_response = post(
        &client,
        &server.url,
        Some(&session),
        &call(7, "echo", json!({"text": "later"})),
    )
    .await;
    let mut events = Sse::new(call_response);
    let priming = events.next().await.expect("priming");
    assert_eq!(priming.retry, Some(50));
    let last_id = priming.id.expect("priming id");
    assert!(events.next().await.is_none(), "closed before the answer");

    let resumed = bounded(
        "GET resume",
        client
            .get(&server.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session)
            .header("last-event-id", &last_id)
            .send(),
    )
    .await
    .expect("GET");
    assert_eq!(resumed.status(), 200);
    let mut events = Sse::new(resumed);
    let answer = events.next().await.expect("the answer, replayed");
    assert_eq!(answer.json()["id"], 7);
    assert_eq!(text(&answer.json()), "later");
    assert!(
        events.next().await.is_none(),
        "the resumed stream ends after the answer"
    );

    let stats = stats(&client, &server.base).await;
    assert_eq!(stats["last_event_ids"], json!([last_id]));
}

#[tokio::test]
async fn slow_drip_writes_the_stream_in_small_chunks() {
    let server = HttpServer::start(&["slow-drip:10"]).await;
    let client = client();
    let (session, init) = handshake(&client, &server.url).await;
    assert!(init["result"].is_object(), "initialize survives dripping");
    let mut response = post(
        &client,
        &server.url,
        session.as_deref(),
        &call(1, "echo", json!({"text": "drip drip drip"})),
    )
    .await;
    assert_eq!(header(&response, "content-type"), "text/event-stream");
    let mut body = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = bounded("a chunk", response.chunk()).await.expect("read") {
        chunks += 1;
        body.extend_from_slice(&chunk);
    }
    let body = String::from_utf8(body).expect("utf-8");
    assert!(body.contains("drip drip drip"), "{body}");
    assert!(body.len() > 100);
    assert!(chunks > 1, "{} bytes arrived in one chunk", body.len());
    let stats = stats(&client, &server.base).await;
    assert_eq!(
        stats["faults"]["slow-drip:10"], 2,
        "initialize and the call"
    );
}

#[tokio::test]
async fn progress_and_elicitation_turn_the_post_into_a_stream() {
    let server = HttpServer::start(&[]).await;
    let client = client();
    let (session, _) = handshake(&client, &server.url).await;
    let session = session.expect("session");

    let sleep = post(
        &client,
        &server.url,
        Some(&session),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "sleep", "arguments": {"ms": 150}, "_meta": {"progressToken": 9}}}),
    )
    .await;
    let mut events = Sse::new(sleep);
    let progress = events.next_message().await;
    assert_eq!(progress["method"], "notifications/progress");
    assert_eq!(progress["params"]["progressToken"], 9);
    assert_eq!(events.next_message().await["id"], 1);

    let elicit = post(
        &client,
        &server.url,
        Some(&session),
        &call(2, "elicit", json!({"message": "name?"})),
    )
    .await;
    let mut events = Sse::new(elicit);
    let ask = events.next_message().await;
    assert_eq!(ask["method"], "elicitation/create");
    let answer = json!({"action": "decline"});
    let posted = post(
        &client,
        &server.url,
        Some(&session),
        &json!({"jsonrpc": "2.0", "id": ask["id"], "result": answer}),
    )
    .await;
    assert_eq!(posted.status(), 202);
    let result = events.next_message().await;
    assert_eq!(result["id"], 2);
    assert_eq!(
        serde_json::from_str::<Value>(text(&result)).expect("JSON"),
        answer
    );
    assert_eq!(stats(&client, &server.base).await["responses"], 1);
}

#[tokio::test]
async fn get_stream_carries_list_changed_and_can_be_refused() {
    let server = HttpServer::start(&["list-changed:20"]).await;
    let client = client();
    let (session, _) = handshake(&client, &server.url).await;
    let stream = bounded(
        "GET",
        client
            .get(&server.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session.as_deref().expect("session"))
            .send(),
    )
    .await
    .expect("GET");
    assert_eq!(stream.status(), 200);
    let mut events = Sse::new(stream);
    let note = events.next_message().await;
    assert_eq!(note["method"], "notifications/tools/list_changed");

    for (fault, status) in [("no-get-stream", 405), ("get-stream-fail", 500)] {
        let server = HttpServer::start(&[fault]).await;
        let (session, _) = handshake(&client, &server.url).await;
        let refused = bounded(
            "GET",
            client
                .get(&server.url)
                .header("accept", "text/event-stream")
                .header("mcp-session-id", session.as_deref().expect("session"))
                .send(),
        )
        .await
        .expect("GET");
        assert_eq!(refused.status(), status, "{fault}");
    }
}

#[tokio::test]
async fn legacy_sse_speaks_only_the_2024_transport() {
    let server = HttpServer::start(&["legacy-sse"]).await;
    let client = client();
    let modern = post(
        &client,
        &server.url,
        None,
        &initialize_request(json!(1), "2024-11-05"),
    )
    .await;
    assert_eq!(modern.status(), 404);

    let stream = bounded(
        "GET /sse",
        client
            .get(format!("{}/sse", server.base))
            .header("accept", "text/event-stream")
            .send(),
    )
    .await
    .expect("GET /sse");
    assert_eq!(stream.status(), 200);
    let mut events = Sse::new(stream);
    let endpoint = events.next().await.expect("endpoint event");
    assert_eq!(endpoint.event.as_deref(), Some("endpoint"));
    assert!(endpoint.data.starts_with("/message?sessionId="));
    let post_url = format!("{}{}", server.base, endpoint.data);

    let accepted = bounded(
        "POST /message",
        client
            .post(&post_url)
            .header("content-type", "application/json")
            .body(initialize_request(json!(1), "2024-11-05").to_string())
            .send(),
    )
    .await
    .expect("POST");
    assert_eq!(accepted.status(), 202);
    let answer = events.next().await.expect("answer on the stream");
    assert_eq!(answer.event.as_deref(), Some("message"));
    assert_eq!(answer.json()["result"]["protocolVersion"], "2024-11-05");

    let tools = bounded(
        "POST /message",
        client
            .post(&post_url)
            .header("content-type", "application/json")
            .body(request(2, "tools/list", json!({})).to_string())
            .send(),
    )
    .await
    .expect("POST");
    assert_eq!(tools.status(), 202);
    assert_eq!(events.next().await.expect("tools").json()["id"], 2);

    let unknown = bounded(
        "POST /message",
        client
            .post(format!("{}/message?sessionId=nope", server.base))
            .body(request(3, "ping", json!({})).to_string())
            .send(),
    )
    .await
    .expect("POST");
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn require_auth_wants_the_bearer_token() {
    let server = HttpServer::start(&["require-auth:s3cret"]).await;
    let client = client();
    let init = initialize_request(json!(1), "2025-11-25").to_string();
    let send = |token: Option<&'static str>| {
        let mut req = client
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init.clone());
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.send()
    };
    let none = bounded("POST", send(None)).await.expect("sent");
    assert_eq!(none.status(), 401);
    assert!(header(&none, "www-authenticate").starts_with("Bearer resource_metadata="));
    let wrong = bounded("POST", send(Some("nope"))).await.expect("sent");
    assert_eq!(wrong.status(), 401);
    let right = bounded("POST", send(Some("s3cret"))).await.expect("sent");
    assert_eq!(right.status(), 200);
}

#[tokio::test]
async fn drop_connection_closes_without_a_response() {
    let server = HttpServer::start(&["drop-connection@1"]).await;
    let client = client();
    let init = initialize_request(json!(1), "2025-11-25");
    let dropped = client
        .post(&server.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(init.to_string())
        .send();
    let error = bounded("dropped POST", dropped)
        .await
        .expect_err("no response");
    assert!(!error.is_status());
    let ok = post(&client, &server.url, None, &init).await;
    assert_eq!(ok.status(), 200);
    let stats = stats(&client, &server.base).await;
    assert_eq!(stats["dropped_connections"], 1);
    assert_eq!(stats["requests"]["initialize"], 2);
}

#[tokio::test]
async fn crash_ends_an_in_process_server_without_ending_the_process() {
    let mut server = HttpServer::start(&[]).await;
    let client = client();
    let (session, _) = handshake(&client, &server.url).await;
    let url = server.url.clone();
    let crasher = common::client();
    let crash = tokio::spawn(async move {
        crasher
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", session.unwrap_or_default())
            .body(call(1, "crash", json!({})).to_string())
            .send()
            .await
    });
    let ended = bounded("serve_http to return", &mut server.task).await;
    assert!(
        matches!(ended, Ok(Ok(()))),
        "serve_http returns Ok after a crash: {ended:?}"
    );
    let outcome = bounded("crash response", crash).await.expect("join");
    assert!(outcome.is_err(), "the connection died with the server");
    let refused = client
        .get(format!("{}/_chaos/stats", server.base))
        .send()
        .await;
    assert!(refused.is_err(), "the listener is closed");
}

#[tokio::test]
async fn binary_serves_http_and_crash_on_call_exits_3() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut child = tokio::process::Command::new(BIN)
        .args(["--http", "127.0.0.1:0", "--fault", "crash-on-call"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = bounded("listening line", lines.next_line())
        .await
        .expect("read")
        .expect("a line");
    let url = line
        .strip_prefix("listening on ")
        .expect("prefix")
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{line}"
    );

    let client = client();
    let (session, init) = handshake(&client, &url).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "tether-chaos");
    let crashed = client
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session.unwrap_or_default())
        .body(call(1, "echo", json!({"text": "x"})).to_string())
        .send();
    assert!(bounded("crash", crashed).await.is_err());
    let status = bounded("exit", child.wait()).await.expect("wait");
    assert_eq!(status.code(), Some(3));
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = err.read_to_string(&mut stderr).await;
    }
    assert!(stderr.contains("crash-on-call"), "{stderr}");
    assert_eq!(bounded("EOF", lines.next_line()).await.expect("read"), None);
}
