//! The Streamable HTTP and legacy SSE transports and the session over them.

use std::time::Duration;

use serde_json::json;
use tether_client::error::{Error, ErrorClass};
use tether_client::session::{RequestOptions, Session, SessionEvent};
use tether_client::transport::{HttpParams, Target};
use tether_proto::mcp::{CallToolSummary, Tool, method};

use crate::support::{HttpChaos, closed_port_url, session_opts};

fn opts() -> RequestOptions {
    RequestOptions::timeout(Duration::from_secs(10))
}

async fn connect(server: &HttpChaos) -> Session {
    Session::connect(&server.target(), session_opts(Duration::from_secs(10)))
        .await
        .expect("connect")
}

async fn connect_err(target: Target) -> Error {
    Session::connect(&target, session_opts(Duration::from_secs(10)))
        .await
        .expect_err("must fail")
}

fn http_target(url: url::Url, headers: &[(&str, &str)]) -> Target {
    Target::Http(HttpParams {
        url,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    })
}

#[tokio::test]
async fn json_responses_work_and_carry_the_contract_headers() {
    let server = HttpChaos::start(&[]).await;
    let s = connect(&server).await;
    let r = s
        .call_tool("add", Some(json!({"a": 20, "b": 22})), opts())
        .await
        .expect("call");
    assert_eq!(CallToolSummary::of(&r).text(), "42");
    let stats = server.stats().await;
    let headers = &stats["last_headers"];
    assert_eq!(headers["accept"], "application/json, text/event-stream");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["mcp-protocol-version"], "2025-11-25");
    assert!(headers["mcp-session-id"].is_string(), "{headers}");
}

#[tokio::test]
async fn sse_responses_with_priming_events_work() {
    let server = HttpChaos::start(&["sse"]).await;
    let s = connect(&server).await;
    let tools = s
        .list_all::<Tool>(method::TOOLS_LIST, opts())
        .await
        .expect("tools");
    assert!(!tools.items.is_empty());
    let r = s
        .call_tool("echo", Some(json!({"text": "over sse"})), opts())
        .await
        .expect("call");
    assert_eq!(CallToolSummary::of(&r).text(), "over sse");
}

#[tokio::test]
async fn a_dropped_sse_answer_is_resumed_with_last_event_id() {
    let server = HttpChaos::start(&["sse-drop:50"]).await;
    let s = connect(&server).await;
    let r = s
        .call_tool("echo", Some(json!({"text": "resumed"})), opts())
        .await
        .expect("call");
    assert_eq!(CallToolSummary::of(&r).text(), "resumed");
    let stats = server.stats().await;
    assert!(
        stats["last_event_ids"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "the resume GET carried Last-Event-ID: {stats}"
    );
}

#[tokio::test]
async fn an_expired_session_is_reinitialized_once_and_the_request_resent() {
    let server = HttpChaos::start(&["session-expire:3"]).await;
    let s = connect(&server).await;
    let mut events = s.subscribe();
    for i in 0..4 {
        let r = s
            .call_tool("echo", Some(json!({"text": format!("n{i}")})), opts())
            .await
            .expect("call");
        assert_eq!(CallToolSummary::of(&r).text(), format!("n{i}"));
    }
    assert!(s.stats().session_renewals >= 1);
    assert!(server.count("initialize").await >= 2);
    let mut renewed = false;
    while let Ok(ev) = events.try_recv() {
        renewed |= matches!(ev, SessionEvent::SessionRenewed);
    }
    assert!(renewed, "the renewal was announced");
}

#[tokio::test]
async fn a_server_answering_400_for_unknown_sessions_is_recovered_too() {
    let server = HttpChaos::start(&["session-expire:2", "session-400"]).await;
    let s = connect(&server).await;
    for _ in 0..3 {
        s.call_tool("echo", Some(json!({"text": "x"})), opts())
            .await
            .expect("call");
    }
    assert!(s.stats().session_renewals >= 1);
}

#[tokio::test]
async fn the_get_stream_failing_never_fails_the_server() {
    let server = HttpChaos::start(&["get-stream-fail"]).await;
    let s = connect(&server).await;
    s.call_tool("echo", Some(json!({"text": "fine"})), opts())
        .await
        .expect("call");
    assert!(s.closed_reason().is_none());
}

#[tokio::test]
async fn list_changed_arrives_over_the_get_stream() {
    let server = HttpChaos::start(&["list-changed:100"]).await;
    let s = connect(&server).await;
    let mut events = s.subscribe();
    let changed = tokio::time::timeout(crate::support::LIMIT, async {
        loop {
            if let Ok(SessionEvent::ListChanged(_)) = events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(changed.is_ok(), "no list_changed over the GET stream");
}

#[tokio::test]
async fn shutdown_deletes_the_session() {
    let server = HttpChaos::start(&[]).await;
    let s = connect(&server).await;
    s.shutdown().await;
    assert_eq!(server.stats().await["http"]["delete"], 1);
}

#[tokio::test]
async fn status_codes_are_classified_with_their_details() {
    let server = HttpChaos::start(&["status:503:X-Request-Id=req-42"]).await;
    let err = connect_err(server.target()).await;
    assert_eq!(err.class(), ErrorClass::HttpTransient);
    let http = err.http().expect("http details");
    assert_eq!(http.status, 503);
    assert_eq!(http.request_id.as_deref(), Some("req-42"));
    assert_eq!(http.retry_after, Some(Duration::from_secs(1)));

    let server = HttpChaos::start(&["status:401"]).await;
    let err = connect_err(server.target()).await;
    assert_eq!(err.class(), ErrorClass::Unauthorized);
    assert!(
        err.http()
            .and_then(|h| h.www_authenticate.clone())
            .is_some()
    );

    let server = HttpChaos::start(&["status:504"]).await;
    let err = connect_err(server.target()).await;
    assert_eq!(err.class(), ErrorClass::HttpTransient);
    assert!(err.to_string().contains("HTML page"), "{err}");
}

#[tokio::test]
async fn a_wrong_path_is_endpoint_not_found_naming_only_the_origin() {
    let server = HttpChaos::start(&[]).await;
    let mut url = server.url.clone();
    url.set_path("/wrong");
    url.set_query(Some("token=secret"));
    let err = connect_err(http_target(url, &[])).await;
    assert_eq!(err.class(), ErrorClass::EndpointNotFound);
    let text = err.to_string();
    assert!(
        text.starts_with("HTTP 404: MCP endpoint not found at http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        !text.contains("secret") && !text.contains("/wrong"),
        "{text}"
    );
}

#[tokio::test]
async fn an_html_login_page_is_a_protocol_error_with_a_preview() {
    let server = HttpChaos::start(&["html-200"]).await;
    let err = connect_err(server.target()).await;
    assert_eq!(err.class(), ErrorClass::Protocol);
    assert_eq!(err.code(), "http_unexpected_content_type");
    let http = err.http().expect("details");
    assert_eq!(http.content_type.as_deref(), Some("text/html"));
    assert!(
        http.body_preview
            .as_deref()
            .is_some_and(|b| b.contains('<'))
    );
}

#[tokio::test]
async fn refused_connections_are_network_errors() {
    let err = connect_err(http_target(closed_port_url().await, &[])).await;
    assert_eq!(err.class(), ErrorClass::Network);
    assert_eq!(err.code(), "connection_refused");
}

#[tokio::test]
async fn tls_to_a_plain_http_port_is_a_tls_error() {
    let server = HttpChaos::start(&[]).await;
    let url: url::Url = format!("https://{}/mcp", server.addr())
        .parse()
        .expect("url");
    let err = connect_err(http_target(url, &[])).await;
    assert_eq!(err.class(), ErrorClass::Tls, "{err:?}");
}

#[tokio::test]
async fn configured_headers_are_sent() {
    let server = HttpChaos::start(&["require-auth:s3cret"]).await;
    let err = connect_err(server.target()).await;
    assert_eq!(err.class(), ErrorClass::Unauthorized);
    let target = http_target(server.url.clone(), &[("Authorization", "Bearer s3cret")]);
    let s = Session::connect(&target, session_opts(Duration::from_secs(10)))
        .await
        .expect("authorized");
    s.ping(Duration::from_secs(5)).await.expect("ping");
}

#[tokio::test]
async fn a_reset_connection_fails_the_request_not_the_process() {
    let server = HttpChaos::start(&["drop-connection@1"]).await;
    let err = connect_err(server.target()).await;
    assert_eq!(err.class(), ErrorClass::Network, "{err:?}");
    // The next attempt works: nothing was left in a bad state.
    connect(&server).await;
}

#[tokio::test]
async fn legacy_sse_transport_works() {
    let server = HttpChaos::start(&["legacy-sse"]).await;
    let mut url = server.url.clone();
    url.set_path("/sse");
    let target = Target::Sse(HttpParams {
        url,
        headers: Vec::new(),
    });
    let s = Session::connect(&target, session_opts(Duration::from_secs(10)))
        .await
        .expect("connect");
    let r = s
        .call_tool("add", Some(json!({"a": 1, "b": 1})), opts())
        .await
        .expect("call");
    assert_eq!(CallToolSummary::of(&r).text(), "2");
}

#[tokio::test]
async fn a_legacy_server_configured_as_http_fails_clearly() {
    let server = HttpChaos::start(&["legacy-sse"]).await;
    let err = connect_err(server.target()).await;
    assert!(
        matches!(
            err.class(),
            ErrorClass::EndpointNotFound | ErrorClass::Protocol
        ),
        "{err:?}"
    );
}
