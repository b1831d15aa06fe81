//! `--conformance`: every tool, resource, prompt and method the MCP conformance suite's server
//! scenarios use answers with the shape the suite checks, over stdio (the real binary) and over
//! Streamable HTTP (in-process and the real binary). The suite itself (Node) is not needed here.

mod common;

use common::*;
use serde_json::{Value, json};

/// Tools the suite calls, in list order (after the chaos tools).
const CONFORMANCE_TOOLS: [&str; 14] = [
    "test_simple_text",
    "test_image_content",
    "test_audio_content",
    "test_embedded_resource",
    "test_multiple_content_types",
    "test_tool_with_logging",
    "test_error_handling",
    "test_tool_with_progress",
    "test_sampling",
    "test_elicitation",
    "test_elicitation_sep1034_defaults",
    "test_elicitation_sep1330_enums",
    "json_schema_2020_12_tool",
    "test_reconnection",
];

/// Base64 of the PNG signature, and of `RIFF`.
const PNG_PREFIX: &str = "iVBORw0KGgo";
const WAV_PREFIX: &str = "UklGR";

/// One request/answer exchange with a server, whatever the transport.
trait Peer {
    /// Sends a request and returns its response (ignoring any notification before it).
    async fn ask(&mut self, message: Value) -> Value;
}

impl Peer for StdioServer {
    async fn ask(&mut self, message: Value) -> Value {
        self.send(message).await;
        loop {
            let next = self.recv().await;
            if next.get("id").is_some() {
                return next;
            }
        }
    }
}

struct HttpPeer {
    client: reqwest::Client,
    url: String,
    session: Option<String>,
}

impl HttpPeer {
    async fn connect(url: &str) -> (Self, Value) {
        let client = client();
        let (session, init) = handshake(&client, url).await;
        assert!(session.is_some(), "a session id");
        let peer = Self {
            client,
            url: url.to_owned(),
            session,
        };
        (peer, init)
    }

    async fn post(&self, message: &Value) -> reqwest::Response {
        post(&self.client, &self.url, self.session.as_deref(), message).await
    }
}

impl Peer for HttpPeer {
    async fn ask(&mut self, message: Value) -> Value {
        let response = self.post(&message).await;
        assert_eq!(response.status(), 200, "{message}");
        if header(&response, "content-type") != "text/event-stream" {
            return json_body(response).await;
        }
        let mut events = Sse::new(response);
        loop {
            let next = events.next_message().await;
            if next.get("id").is_some() {
                return next;
            }
        }
    }
}

fn conformance_config() -> tether_testkit::ChaosConfig {
    tether_testkit::ChaosConfig {
        conformance: true,
        ..tether_testkit::ChaosConfig::default()
    }
}

fn assert_capabilities(init: &Value) {
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["resources"]["subscribe"], true, "{caps}");
    assert!(caps["completions"].is_object(), "{caps}");
    assert!(caps["logging"].is_object(), "{caps}");
    assert!(caps["prompts"].is_object(), "{caps}");
    assert!(caps["tools"].is_object(), "{caps}");
}

fn content(response: &Value) -> &Vec<Value> {
    response["result"]["content"]
        .as_array()
        .unwrap_or_else(|| panic!("no content in {response}"))
}

fn of_type<'a>(items: &'a [Value], kind: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} item in {items:?}"))
}

/// Everything that is a plain request/answer, checked the way the suite checks it.
async fn assert_catalog(peer: &mut impl Peer) {
    // tools-list, json-schema-2020-12
    let listed = peer.ask(request(10, "tools/list", json!({}))).await;
    let tools = listed["result"]["tools"].as_array().expect("tools").clone();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    for wanted in CONFORMANCE_TOOLS {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
    assert!(names.contains(&"echo"), "the chaos tools stay: {names:?}");
    for tool in &tools {
        assert!(tool["name"].is_string(), "{tool}");
        assert!(
            tool["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{tool}"
        );
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
    }
    let schema = &tools
        .iter()
        .find(|t| t["name"] == "json_schema_2020_12_tool")
        .expect("json_schema_2020_12_tool")["inputSchema"];
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(schema["$defs"]["address"].is_object(), "{schema}");
    assert_eq!(schema["properties"]["address"]["$ref"], "#/$defs/address");
    assert_eq!(schema["additionalProperties"], false);

    // tools-call-*
    let simple = peer.ask(call(11, "test_simple_text", json!({}))).await;
    assert_eq!(text(&simple), "This is a simple text response for testing.");
    let simple_without_arguments = peer
        .ask(request(
            12,
            "tools/call",
            json!({"name": "test_simple_text"}),
        ))
        .await;
    assert!(simple_without_arguments["result"]["content"].is_array());

    let image = peer.ask(call(13, "test_image_content", json!({}))).await;
    let item = of_type(content(&image), "image");
    assert_eq!(item["mimeType"], "image/png");
    assert!(
        item["data"]
            .as_str()
            .is_some_and(|d| d.starts_with(PNG_PREFIX))
    );

    let audio = peer.ask(call(14, "test_audio_content", json!({}))).await;
    let item = of_type(content(&audio), "audio");
    assert_eq!(item["mimeType"], "audio/wav");
    assert!(
        item["data"]
            .as_str()
            .is_some_and(|d| d.starts_with(WAV_PREFIX))
    );

    let embedded = peer
        .ask(call(15, "test_embedded_resource", json!({})))
        .await;
    let resource = &of_type(content(&embedded), "resource")["resource"];
    assert_eq!(resource["uri"], "test://embedded-resource");
    assert_eq!(resource["mimeType"], "text/plain");
    assert!(resource["text"].is_string());

    let mixed = peer
        .ask(call(16, "test_multiple_content_types", json!({})))
        .await;
    let items = content(&mixed);
    assert_eq!(items.len(), 3);
    for kind in ["text", "image", "resource"] {
        of_type(items, kind);
    }

    let error = peer.ask(call(17, "test_error_handling", json!({}))).await;
    assert_eq!(error["result"]["isError"], true);
    assert!(!text(&error).is_empty());

    let schema_tool = peer
        .ask(call(
            18,
            "json_schema_2020_12_tool",
            json!({"name": "Ada", "address": {"city": "London"}}),
        ))
        .await;
    assert!(text(&schema_tool).contains("London"));

    // resources-*
    let resources = peer.ask(request(20, "resources/list", json!({}))).await;
    let resources = resources["result"]["resources"]
        .as_array()
        .expect("resources")
        .clone();
    for resource in &resources {
        assert!(resource["uri"].is_string() && resource["name"].is_string());
    }
    let uris: Vec<&str> = resources.iter().filter_map(|r| r["uri"].as_str()).collect();
    for wanted in [
        "test://static-text",
        "test://static-binary",
        "test://watched-resource",
    ] {
        assert!(uris.contains(&wanted), "{wanted} missing from {uris:?}");
    }
    let templates = peer
        .ask(request(21, "resources/templates/list", json!({})))
        .await;
    assert_eq!(
        templates["result"]["resourceTemplates"][0]["uriTemplate"],
        "test://template/{id}/data"
    );

    let read = peer
        .ask(request(
            22,
            "resources/read",
            json!({"uri": "test://static-text"}),
        ))
        .await;
    let first = &read["result"]["contents"][0];
    assert_eq!(first["uri"], "test://static-text");
    assert_eq!(first["mimeType"], "text/plain");
    assert_eq!(
        first["text"],
        "This is the content of the static text resource."
    );

    let read = peer
        .ask(request(
            23,
            "resources/read",
            json!({"uri": "test://static-binary"}),
        ))
        .await;
    let first = &read["result"]["contents"][0];
    assert_eq!(first["mimeType"], "image/png");
    assert!(
        first["blob"]
            .as_str()
            .is_some_and(|b| b.starts_with(PNG_PREFIX))
    );

    let read = peer
        .ask(request(
            24,
            "resources/read",
            json!({"uri": "test://template/123/data"}),
        ))
        .await;
    let first = &read["result"]["contents"][0];
    assert_eq!(first["uri"], "test://template/123/data");
    assert_eq!(first["mimeType"], "application/json");
    let data: Value = serde_json::from_str(first["text"].as_str().expect("text")).expect("JSON");
    assert_eq!(data["id"], "123");

    let readme = peer
        .ask(request(
            25,
            "resources/read",
            json!({"uri": "chaos://readme"}),
        ))
        .await;
    assert!(readme["result"]["contents"][0]["text"].is_string());
    let missing = peer
        .ask(request(
            26,
            "resources/read",
            json!({"uri": "test://template/1/2/data"}),
        ))
        .await;
    assert_eq!(missing["error"]["code"], -32002);

    for method in ["resources/subscribe", "resources/unsubscribe"] {
        let done = peer
            .ask(request(
                27,
                method,
                json!({"uri": "test://watched-resource"}),
            ))
            .await;
        assert_eq!(done["result"], json!({}), "{method}");
    }
    let unknown = peer
        .ask(request(
            28,
            "resources/subscribe",
            json!({"uri": "test://nope"}),
        ))
        .await;
    assert_eq!(unknown["error"]["code"], -32002);

    // prompts-*
    let prompts = peer.ask(request(30, "prompts/list", json!({}))).await;
    let prompts = prompts["result"]["prompts"]
        .as_array()
        .expect("prompts")
        .clone();
    for prompt in &prompts {
        assert!(prompt["name"].is_string() && prompt["description"].is_string());
    }
    let names: Vec<&str> = prompts.iter().filter_map(|p| p["name"].as_str()).collect();
    for wanted in [
        "greet",
        "test_simple_prompt",
        "test_prompt_with_arguments",
        "test_prompt_with_embedded_resource",
        "test_prompt_with_image",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }

    let simple = peer
        .ask(request(
            31,
            "prompts/get",
            json!({"name": "test_simple_prompt"}),
        ))
        .await;
    let message = &simple["result"]["messages"][0];
    assert_eq!(message["role"], "user");
    assert_eq!(
        message["content"]["text"],
        "This is a simple prompt for testing."
    );

    let with_args = peer
        .ask(request(
            32,
            "prompts/get",
            json!({"name": "test_prompt_with_arguments",
                   "arguments": {"arg1": "testValue1", "arg2": "testValue2"}}),
        ))
        .await;
    assert_eq!(
        with_args["result"]["messages"][0]["content"]["text"],
        "Prompt with arguments: arg1='testValue1', arg2='testValue2'"
    );
    let missing_arg = peer
        .ask(request(
            33,
            "prompts/get",
            json!({"name": "test_prompt_with_arguments", "arguments": {"arg1": "x"}}),
        ))
        .await;
    assert_eq!(missing_arg["error"]["code"], -32602);

    let embedded = peer
        .ask(request(
            34,
            "prompts/get",
            json!({"name": "test_prompt_with_embedded_resource",
                   "arguments": {"resourceUri": "test://example-resource"}}),
        ))
        .await;
    let messages = embedded["result"]["messages"].as_array().expect("messages");
    let resource = messages
        .iter()
        .find(|m| m["content"]["type"] == "resource")
        .expect("a resource message");
    assert_eq!(
        resource["content"]["resource"]["uri"],
        "test://example-resource"
    );

    let image = peer
        .ask(request(
            35,
            "prompts/get",
            json!({"name": "test_prompt_with_image"}),
        ))
        .await;
    let messages = image["result"]["messages"].as_array().expect("messages");
    let image = messages
        .iter()
        .find(|m| m["content"]["type"] == "image")
        .expect("an image message");
    assert_eq!(image["content"]["mimeType"], "image/png");
    assert!(image["content"]["data"].is_string());

    let greet = peer
        .ask(request(
            36,
            "prompts/get",
            json!({"name": "greet", "arguments": {"name": "Ada"}}),
        ))
        .await;
    assert_eq!(
        greet["result"]["messages"][0]["content"]["text"],
        "Please greet Ada."
    );

    // completion-complete, logging-set-level, ping
    let completed = peer
        .ask(request(
            40,
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"},
                   "argument": {"name": "arg1", "value": "par"}}),
        ))
        .await;
    assert_eq!(
        completed["result"]["completion"]["values"],
        json!(["paris", "park", "party"])
    );
    let suite_style = peer
        .ask(request(
            41,
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"},
                   "argument": {"name": "arg1", "value": "test"}}),
        ))
        .await;
    assert!(suite_style["result"]["completion"]["values"].is_array());
    let ids = peer
        .ask(request(
            42,
            "completion/complete",
            json!({"ref": {"type": "ref/resource", "uri": "test://template/{id}/data"},
                   "argument": {"name": "id", "value": "12"}}),
        ))
        .await;
    assert_eq!(ids["result"]["completion"]["values"], json!(["123"]));

    let level = peer
        .ask(request(43, "logging/setLevel", json!({"level": "info"})))
        .await;
    assert_eq!(level["result"], json!({}));
    let bad_level = peer
        .ask(request(44, "logging/setLevel", json!({"level": "loud"})))
        .await;
    assert_eq!(bad_level["error"]["code"], -32602);
    assert_eq!(
        peer.ask(request(45, "ping", json!({}))).await["result"],
        json!({})
    );
}

// ----------------------------------------------------------------------------------------------
// stdio
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn stdio_catalog_has_the_shapes_the_suite_checks() {
    let mut server = StdioServer::spawn(&["--conformance"]);
    let init = server.initialize().await;
    assert_capabilities(&init);
    assert_catalog(&mut server).await;
    server.close_stdin();
    assert_eq!(server.wait().await.code(), Some(0));
}

#[tokio::test]
async fn stdio_logging_respects_set_level() {
    let mut server = StdioServer::spawn(&["--conformance"]);
    server.initialize().await;
    let level = server
        .ask(request(1, "logging/setLevel", json!({"level": "debug"})))
        .await;
    assert_eq!(level["result"], json!({}));

    server
        .send(call(2, "test_tool_with_logging", json!({})))
        .await;
    let mut logs = Vec::new();
    let result = loop {
        let next = server.recv().await;
        if next["id"] == 2 {
            break next;
        }
        assert_eq!(next["method"], "notifications/message", "{next}");
        assert_eq!(next["params"]["level"], "info");
        logs.push(next["params"]["data"].clone());
    };
    assert_eq!(
        logs,
        [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed"
        ]
    );
    assert!(result["result"]["content"].is_array());

    // Above info: the same call sends nothing before its answer.
    server
        .ask(request(3, "logging/setLevel", json!({"level": "error"})))
        .await;
    let quiet = server
        .ask(call(4, "test_tool_with_logging", json!({})))
        .await;
    assert_eq!(quiet["id"], 4, "no log notification before the answer");
}

#[tokio::test]
async fn stdio_progress_is_reported_in_increasing_steps() {
    let mut server = StdioServer::spawn(&["--conformance"]);
    server.initialize().await;
    server
        .send(request(
            1,
            "tools/call",
            json!({"name": "test_tool_with_progress", "arguments": {},
                   "_meta": {"progressToken": "progress-test-1"}}),
        ))
        .await;
    let mut progress = Vec::new();
    let result = loop {
        let next = server.recv().await;
        if next["id"] == 1 {
            break next;
        }
        assert_eq!(next["method"], "notifications/progress", "{next}");
        assert_eq!(next["params"]["progressToken"], "progress-test-1");
        assert_eq!(next["params"]["total"], 100);
        progress.push(next["params"]["progress"].as_u64().expect("number"));
    };
    assert_eq!(progress, [0, 50, 100]);
    assert!(result["result"]["content"].is_array());

    let without_token = server
        .ask(call(2, "test_tool_with_progress", json!({})))
        .await;
    assert_eq!(without_token["id"], 2, "no progress without a token");
}

#[tokio::test]
async fn stdio_sampling_and_elicitation_round_trip() {
    let mut server = StdioServer::spawn(&["--conformance"]);
    server.initialize().await;

    server
        .send(call(
            1,
            "test_sampling",
            json!({"prompt": "Test prompt for sampling"}),
        ))
        .await;
    let ask = server.recv().await;
    assert_eq!(ask["method"], "sampling/createMessage");
    assert_eq!(ask["params"]["maxTokens"], 100);
    assert_eq!(
        ask["params"]["messages"][0],
        json!({"role": "user", "content": {"type": "text", "text": "Test prompt for sampling"}})
    );
    server
        .send(json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
            "role": "assistant", "model": "test-model", "stopReason": "endTurn",
            "content": {"type": "text", "text": "This is a test response from the client"}}}))
        .await;
    let result = server.recv().await;
    assert_eq!(result["id"], 1);
    assert_eq!(
        text(&result),
        "LLM response: This is a test response from the client"
    );

    server
        .send(call(
            2,
            "test_elicitation",
            json!({"message": "Please provide your information"}),
        ))
        .await;
    let ask = server.recv().await;
    assert_eq!(ask["method"], "elicitation/create");
    assert_eq!(ask["params"]["message"], "Please provide your information");
    let schema = &ask["params"]["requestedSchema"];
    assert_eq!(schema["required"], json!(["username", "email"]));
    assert_eq!(schema["properties"]["email"]["type"], "string");
    server
        .send(json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
            "action": "accept", "content": {"username": "testuser", "email": "test@example.com"}}}))
        .await;
    let result = server.recv().await;
    assert_eq!(result["id"], 2);
    assert!(text(&result).starts_with("User response: "));
    assert!(text(&result).contains("testuser"));

    server
        .send(call(3, "test_elicitation_sep1034_defaults", json!({})))
        .await;
    let ask = server.recv().await;
    let properties = &ask["params"]["requestedSchema"]["properties"];
    assert_eq!(properties["name"]["type"], "string");
    assert_eq!(properties["name"]["default"], "John Doe");
    assert_eq!(properties["age"]["type"], "integer");
    assert_eq!(properties["age"]["default"], 30);
    assert_eq!(properties["score"]["type"], "number");
    assert_eq!(properties["score"]["default"], 95.5);
    assert_eq!(
        properties["status"]["enum"],
        json!(["active", "inactive", "pending"])
    );
    assert_eq!(properties["status"]["default"], "active");
    assert_eq!(properties["verified"]["type"], "boolean");
    assert_eq!(properties["verified"]["default"], true);
    server
        .send(json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "decline"}}))
        .await;
    let result = server.recv().await;
    assert_eq!(result["id"], 3);
    assert_eq!(
        text(&result),
        "Elicitation completed: action=decline, content=null"
    );

    server
        .send(call(4, "test_elicitation_sep1330_enums", json!({})))
        .await;
    let ask = server.recv().await;
    let p = &ask["params"]["requestedSchema"]["properties"];
    assert_eq!(p["untitledSingle"]["type"], "string");
    assert!(p["untitledSingle"]["enum"].is_array());
    assert!(p["untitledSingle"].get("oneOf").is_none());
    assert_eq!(p["titledSingle"]["type"], "string");
    assert!(p["titledSingle"].get("enum").is_none());
    for option in p["titledSingle"]["oneOf"].as_array().expect("oneOf") {
        assert!(option["const"].is_string() && option["title"].is_string());
    }
    assert_eq!(
        p["legacyEnum"]["enum"].as_array().map(Vec::len),
        p["legacyEnum"]["enumNames"].as_array().map(Vec::len)
    );
    assert_eq!(p["untitledMulti"]["type"], "array");
    assert_eq!(p["untitledMulti"]["items"]["type"], "string");
    assert!(p["untitledMulti"]["items"]["enum"].is_array());
    assert_eq!(p["titledMulti"]["type"], "array");
    for option in p["titledMulti"]["items"]["anyOf"]
        .as_array()
        .expect("anyOf")
    {
        assert!(option["const"].is_string() && option["title"].is_string());
    }
    let content = json!({"untitledSingle": "option1", "titledSingle": "value1",
        "legacyEnum": "opt1", "untitledMulti": ["option1"], "titledMulti": ["value2"]});
    server
        .send(json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": content}}))
        .await;
    let result = server.recv().await;
    assert_eq!(result["id"], 4);
    assert_eq!(
        text(&result),
        format!("Elicitation completed: action=accept, content={content}")
    );
}

#[tokio::test]
async fn stdio_server_requests_need_the_client_capability() {
    let mut server = StdioServer::spawn(&["--conformance"]);
    let init = server
        .ask(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "no-capabilities", "version": "0"}}}),
        )
        .await;
    assert_capabilities(&init);
    server.send(notification("notifications/initialized")).await;
    let sampling = server
        .ask(call(1, "test_sampling", json!({"prompt": "hi"})))
        .await;
    assert_eq!(sampling["result"]["isError"], true, "{sampling}");
    let elicitation = server
        .ask(call(2, "test_elicitation", json!({"message": "hi"})))
        .await;
    assert_eq!(elicitation["result"]["isError"], true, "{elicitation}");
}

#[tokio::test]
async fn stdio_reconnection_tool_simply_answers() {
    let mut server = StdioServer::spawn(&["--conformance"]);
    server.initialize().await;
    let result = server.ask(call(1, "test_reconnection", json!({}))).await;
    assert_eq!(text(&result), "Reconnection test completed successfully");
}

#[tokio::test]
async fn without_the_flag_there_is_no_conformance_catalog() {
    let mut server = StdioServer::spawn(&[]);
    let init = server.initialize().await;
    assert!(init["result"]["capabilities"].get("completions").is_none());
    let unknown = server.ask(call(1, "test_simple_text", json!({}))).await;
    assert_eq!(unknown["error"]["code"], -32602);
    let complete = server
        .ask(request(2, "completion/complete", json!({})))
        .await;
    assert_eq!(complete["error"]["code"], -32601);
}

#[tokio::test]
async fn faults_still_apply_in_conformance_mode() {
    let mut server = StdioServer::spawn(&["--conformance", "--fault", "empty-result@1"]);
    server.initialize().await;
    let empty = server.ask(call(1, "test_simple_text", json!({}))).await;
    assert_eq!(empty["result"], json!({}));
    let normal = server.ask(call(2, "test_simple_text", json!({}))).await;
    assert!(normal["result"]["content"].is_array());
}

// ----------------------------------------------------------------------------------------------
// HTTP
// ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn http_catalog_has_the_shapes_the_suite_checks() {
    let server = HttpServer::start_with(conformance_config()).await;
    let (mut peer, init) = HttpPeer::connect(&server.url).await;
    assert_capabilities(&init);
    assert_catalog(&mut peer).await;
}

#[tokio::test]
async fn http_logging_and_progress_stream_on_the_post() {
    let server = HttpServer::start_with(conformance_config()).await;
    let (mut peer, _) = HttpPeer::connect(&server.url).await;
    peer.ask(request(1, "logging/setLevel", json!({"level": "debug"})))
        .await;

    let response = peer
        .post(&call(2, "test_tool_with_logging", json!({})))
        .await;
    let mut events = Sse::new(response);
    for _ in 0..3 {
        assert_eq!(
            events.next_message().await["method"],
            "notifications/message"
        );
    }
    assert_eq!(events.next_message().await["id"], 2);

    let response = peer
        .post(
            &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "test_tool_with_progress", "arguments": {},
            "_meta": {"progressToken": "progress-test-1"}}}),
        )
        .await;
    let mut events = Sse::new(response);
    let mut progress = Vec::new();
    for _ in 0..3 {
        let next = events.next_message().await;
        assert_eq!(next["method"], "notifications/progress");
        progress.push(next["params"]["progress"].clone());
    }
    assert_eq!(progress, [0, 50, 100]);
    assert_eq!(events.next_message().await["id"], 3);
}

#[tokio::test]
async fn http_sampling_asks_the_client_on_the_post_stream() {
    let server = HttpServer::start_with(conformance_config()).await;
    let (peer, _) = HttpPeer::connect(&server.url).await;
    let response = peer
        .post(&call(1, "test_sampling", json!({"prompt": "Test prompt"})))
        .await;
    let mut events = Sse::new(response);
    let ask = events.next_message().await;
    assert_eq!(ask["method"], "sampling/createMessage");
    let answered = peer
        .post(&json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
            "role": "assistant", "model": "m",
            "content": {"type": "text", "text": "sampled"}}}))
        .await;
    assert_eq!(answered.status(), 202);
    let result = events.next_message().await;
    assert_eq!(result["id"], 1);
    assert_eq!(text(&result), "LLM response: sampled");
}

#[tokio::test]
async fn http_reconnection_closes_the_post_stream_and_answers_on_resume() {
    let server = HttpServer::start_with(conformance_config()).await;
    let (peer, _) = HttpPeer::connect(&server.url).await;
    let session = peer.session.clone().expect("session");

    // What the suite's server-sse-polling scenario sends.
    let response = peer
        .client
        .post(&server.url)
        .header("content-type", "application/json")
        .header("accept", "text/event-stream, application/json")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-03-26")
        .body(call(1, "test_reconnection", json!({})).to_string())
        .send();
    let response = bounded("POST", response).await.expect("POST");
    assert_eq!(response.status(), 200);
    let mut events = Sse::new(response);
    let priming = events.next().await.expect("priming event");
    assert_eq!(priming.data, "", "the priming event comes first");
    assert_eq!(priming.retry, Some(500));
    let last_id = priming.id.expect("priming id");
    assert!(events.next().await.is_none(), "closed before the answer");

    let resumed = bounded(
        "GET resume",
        peer.client
            .get(&server.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-03-26")
            .header("last-event-id", &last_id)
            .send(),
    )
    .await
    .expect("GET");
    assert_eq!(resumed.status(), 200);
    let answer = Sse::new(resumed).next_message().await;
    assert_eq!(answer["id"], 1);
    assert_eq!(text(&answer), "Reconnection test completed successfully");
    assert!(answer["result"].get("isError").is_none());

    // Other tools keep answering on their POST.
    let other = peer.post(&call(2, "test_simple_text", json!({}))).await;
    assert_eq!(message_body(other).await["id"], 2);
}

/// The suite's dns-rebinding-protection scenario: initialize with `Host`/`Origin`.
async fn initialize_with_host(client: &reqwest::Client, url: &str, host: &str) -> u16 {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("host", host)
        .header("origin", format!("http://{host}"))
        .body(initialize_request(json!(1), "2025-11-25").to_string())
        .send();
    bounded("POST", response)
        .await
        .expect("POST")
        .status()
        .as_u16()
}

#[tokio::test]
async fn http_rejects_foreign_hosts_and_accepts_localhost() {
    let server = HttpServer::start_with(conformance_config()).await;
    let client = client();
    let port = server.base.rsplit(':').next().expect("port").to_owned();
    assert_eq!(
        initialize_with_host(&client, &server.url, "evil.example.com").await,
        403
    );
    for local in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        assert_eq!(
            initialize_with_host(&client, &server.url, &local).await,
            200,
            "{local}"
        );
    }
    // A foreign Host with a local Origin is still refused (Host alone can be rebound).
    let response = client
        .post(&server.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("host", "evil.example.com:80")
        .body(initialize_request(json!(1), "2025-11-25").to_string())
        .send();
    let response = bounded("POST", response).await.expect("POST");
    assert_eq!(response.status(), 403);
    assert!(text_body(response).await.contains("Host"));

    // Without --conformance only Origin is checked.
    let plain = HttpServer::start(&[]).await;
    let response = client
        .post(&plain.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("host", "evil.example.com")
        .body(initialize_request(json!(1), "2025-11-25").to_string())
        .send();
    assert_eq!(bounded("POST", response).await.expect("POST").status(), 200);
}

#[tokio::test]
async fn binary_serves_conformance_over_http() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut child = tokio::process::Command::new(BIN)
        .args(["--http", "127.0.0.1:0", "--conformance"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
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
    let (mut peer, init) = HttpPeer::connect(&url).await;
    assert_capabilities(&init);
    let image = peer.ask(call(1, "test_image_content", json!({}))).await;
    assert_eq!(of_type(content(&image), "image")["mimeType"], "image/png");
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "--conformance no longer exits"
    );
    child.kill().await.expect("kill");
}

#[tokio::test]
async fn help_documents_the_flag() {
    let output = tokio::process::Command::new(BIN)
        .arg("--help")
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--conformance"), "{help}");
    assert!(help.contains("conformance suite"), "{help}");
}
