//! The `tether-chaos` binary over real pipes: the default MCP behaviour, every tool, and the
//! stdio and protocol faults.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn handshake_echoes_a_supported_version_and_advertises_capabilities() {
    let mut server = StdioServer::spawn(&[]);
    let response = server.ask(initialize_request(json!(1), "2025-06-18")).await;
    assert_eq!(response["jsonrpc"], "2.0");
    assert_eq!(response["id"], 1);
    let result = &response["result"];
    assert_eq!(result["protocolVersion"], "2025-06-18");
    assert_eq!(
        result["capabilities"],
        json!({"tools": {"listChanged": true}, "prompts": {}, "resources": {}, "logging": {}})
    );
    assert_eq!(result["serverInfo"]["name"], "tether-chaos");
    assert_eq!(result["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(result["instructions"].is_string());

    let unknown = server
        .ask(initialize_request(json!("again"), "1999-01-01"))
        .await;
    assert_eq!(unknown["id"], "again");
    assert_eq!(unknown["result"]["protocolVersion"], "2025-11-25");

    server.close_stdin();
    assert_eq!(server.wait().await.code(), Some(0), "exit 0 on stdin EOF");
}

#[tokio::test]
async fn name_flag_sets_server_info() {
    let mut server = StdioServer::spawn(&["--name", "demo-db"]);
    let response = server.initialize().await;
    assert_eq!(response["result"]["serverInfo"]["name"], "demo-db");
}

#[tokio::test]
async fn lists_prompts_resources_and_tools() {
    let mut server = StdioServer::spawn(&[]);
    server.initialize().await;

    let tools = server.ask(request(2, "tools/list", json!({}))).await;
    let tools = tools["result"]["tools"].as_array().expect("tools").clone();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "echo", "add", "sleep", "fail", "crash", "elicit", "sample", "roots", "big", "env",
            "cwd", "pid"
        ]
    );
    for tool in &tools {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
    }

    let prompts = server.ask(request(3, "prompts/list", json!({}))).await;
    assert_eq!(prompts["result"]["prompts"][0]["name"], "greet");
    let prompt = server
        .ask(request(
            4,
            "prompts/get",
            json!({"name": "greet", "arguments": {"name": "Ada"}}),
        ))
        .await;
    assert_eq!(
        prompt["result"]["messages"][0]["content"]["text"],
        "Please greet Ada."
    );

    let resources = server.ask(request(5, "resources/list", json!({}))).await;
    assert_eq!(resources["result"]["resources"][0]["uri"], "chaos://readme");
    let read = server
        .ask(request(
            6,
            "resources/read",
            json!({"uri": "chaos://readme"}),
        ))
        .await;
    assert!(
        read["result"]["contents"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("fault-injecting"))
    );
    let missing = server
        .ask(request(7, "resources/read", json!({"uri": "chaos://nope"})))
        .await;
    assert_eq!(missing["error"]["code"], -32002);

    let templates = server
        .ask(request(8, "resources/templates/list", json!({})))
        .await;
    assert_eq!(templates["result"]["resourceTemplates"], json!([]));

    assert_eq!(
        server.ask(request(9, "ping", json!({}))).await["result"],
        json!({})
    );
    let set_level = server
        .ask(request(10, "logging/setLevel", json!({"level": "debug"})))
        .await;
    assert_eq!(set_level["result"], json!({}));
}

#[tokio::test]
async fn every_simple_tool_answers() {
    let dir = std::env::temp_dir();
    let mut server = StdioServer::spawn_with(&[], |cmd| {
        cmd.env("CHAOS_TEST_VALUE", "forty-two").current_dir(&dir);
    });
    server.initialize().await;

    let echo = server
        .ask(call(1, "echo", json!({"text": "hi there"})))
        .await;
    assert_eq!(text(&echo), "hi there");

    let add = server.ask(call(2, "add", json!({"a": 2, "b": 40}))).await;
    assert_eq!(text(&add), "42");

    let fail = server
        .ask(call(3, "fail", json!({"message": "nope"})))
        .await;
    assert_eq!(fail["result"]["isError"], true);
    assert_eq!(text(&fail), "nope");

    let big = server.ask(call(4, "big", json!({"bytes": 100000}))).await;
    assert_eq!(text(&big).len(), 100_000);

    let env = server
        .ask(call(5, "env", json!({"name": "CHAOS_TEST_VALUE"})))
        .await;
    assert_eq!(text(&env), "forty-two");
    let unset = server
        .ask(call(
            6,
            "env",
            json!({"name": "CHAOS_SURELY_UNSET_VARIABLE"}),
        ))
        .await;
    assert_eq!(unset["result"]["isError"], true);

    let cwd = server.ask(call(7, "cwd", json!({}))).await;
    let expected = dir.canonicalize().expect("canonical temp dir");
    assert_eq!(
        std::path::Path::new(text(&cwd))
            .canonicalize()
            .expect("canonical cwd"),
        expected
    );

    let pid = server.ask(call(8, "pid", json!({}))).await;
    assert_eq!(text(&pid), server.pid().to_string());

    let invalid = server.ask(call(9, "echo", json!({"text": 5}))).await;
    assert_eq!(
        invalid["result"]["isError"], true,
        "validation is a tool error"
    );

    let unknown = server.ask(call(10, "nope", json!({}))).await;
    assert_eq!(unknown["error"]["code"], -32602);
    assert_eq!(unknown["error"]["message"], "Unknown tool: nope");

    let method = server.ask(request(11, "no/such/method", json!({}))).await;
    assert_eq!(method["error"]["code"], -32601);
}

#[tokio::test]
async fn string_and_integer_ids_are_echoed_exactly() {
    let mut server = StdioServer::spawn(&[]);
    server.initialize().await;
    for id in [
        json!("1"),
        json!(1),
        json!("abc-δ"),
        json!(9_007_199_254_740_993_u64),
    ] {
        let response = server.ask(request(id.clone(), "ping", json!({}))).await;
        assert_eq!(response["id"], id);
    }
}

#[tokio::test]
async fn garbage_is_skipped_and_invalid_requests_get_32600() {
    let mut server = StdioServer::spawn(&[]);
    server.initialize().await;
    server.send_raw("this is not json").await;
    server.send_raw("[1, 2]").await;
    server.send(json!({"id": 5, "method": "ping"})).await;
    let invalid = server.recv().await;
    assert_eq!(invalid["id"], 5);
    assert_eq!(invalid["error"]["code"], -32600);
    let ping = server.ask(request(6, "ping", json!({}))).await;
    assert_eq!(ping["id"], 6, "garbage produced no line of its own");
    server.stderr_until("not JSON").await;
}

#[tokio::test]
async fn slow_tool_does_not_block_ping_and_reports_progress() {
    let mut server = StdioServer::spawn(&[]);
    server.initialize().await;
    server
        .send(json!({
            "jsonrpc": "2.0", "id": "slow", "method": "tools/call",
            "params": {"name": "sleep", "arguments": {"ms": 350}, "_meta": {"progressToken": "tok"}},
        }))
        .await;
    server.send(request("quick", "ping", json!({}))).await;
    assert_eq!(server.recv().await["id"], "quick");
    let mut progress = Vec::new();
    loop {
        let message = server.recv().await;
        if message["method"] == "notifications/progress" {
            assert_eq!(message["params"]["progressToken"], "tok");
            progress.push(message["params"]["progress"].as_u64().expect("progress"));
            continue;
        }
        assert_eq!(message["id"], "slow");
        assert_eq!(text(&message), "slept 350 ms");
        break;
    }
    assert_eq!(
        progress,
        [100, 200, 300],
        "one per elapsed 100 ms, increasing"
    );
}

#[tokio::test]
async fn cancelled_request_is_never_answered() {
    let mut server = StdioServer::spawn(&[]);
    server.initialize().await;
    server.send(call(1, "sleep", json!({"ms": 300}))).await;
    server
        .send(
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                     "params": {"requestId": 1, "reason": "test"}}),
        )
        .await;
    server.stderr_until("cancelled request 1").await;
    // Had request 1 survived, its answer (due at 300 ms) would come before this one.
    let next = server.ask(call(2, "sleep", json!({"ms": 600}))).await;
    assert_eq!(next["id"], 2);
}

#[tokio::test]
async fn requests_running_at_stdin_eof_still_answer() {
    let mut server = StdioServer::spawn(&[]);
    server.send(call(1, "sleep", json!({"ms": 10}))).await;
    server.send(call(2, "roots", json!({}))).await;
    server.close_stdin();
    let mut answers = Vec::new();
    while let Some(line) = server.line().await {
        let message: Value = serde_json::from_str(&line).expect("JSON");
        if message.get("method").is_none() {
            answers.push(message);
        }
    }
    answers.sort_by_key(|m| m["id"].as_u64());
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(text(&answers[0]), "slept 10 ms");
    assert_eq!(
        answers[1]["result"]["isError"], true,
        "nobody is left to answer roots/list"
    );
    assert_eq!(server.wait().await.code(), Some(0));
}

#[tokio::test]
async fn crash_tool_exits_3_without_answering() {
    let mut server = StdioServer::spawn(&[]);
    server.initialize().await;
    server.send(call(1, "crash", json!({}))).await;
    server.stderr_until("chaos: crashing on purpose").await;
    assert_eq!(server.wait().await.code(), Some(3));
    assert_eq!(server.line().await, None, "no answer before the crash");
}

#[tokio::test]
async fn elicit_sample_and_roots_round_trip_through_the_client() {
    let mut server = StdioServer::spawn(&[]);
    server.initialize().await;

    server
        .send(call("e", "elicit", json!({"message": "Who are you?"})))
        .await;
    let ask = server.recv().await;
    assert_eq!(ask["method"], "elicitation/create");
    assert_eq!(ask["id"], 0, "server request ids start at 0");
    assert_eq!(ask["params"]["message"], "Who are you?");
    let properties = ask["params"]["requestedSchema"]["properties"]
        .as_object()
        .expect("properties");
    assert!(properties.values().all(|p| p.get("default").is_some()));
    let answer = json!({"action": "accept", "content": {"name": "Ada"}});
    server
        .send(json!({"jsonrpc": "2.0", "id": 0, "result": answer}))
        .await;
    let result = server.recv().await;
    assert_eq!(result["id"], "e");
    let echoed: Value = serde_json::from_str(text(&result)).expect("JSON text");
    assert_eq!(echoed, answer);

    server
        .send(call("s", "sample", json!({"prompt": "2+2?"})))
        .await;
    let ask = server.recv().await;
    assert_eq!(ask["method"], "sampling/createMessage");
    assert_eq!(ask["id"], 1);
    assert_eq!(ask["params"]["messages"][0]["content"]["text"], "2+2?");
    server
        .send(json!({"jsonrpc": "2.0", "id": 1, "result":
            {"role": "assistant", "content": {"type": "text", "text": "4"}, "model": "m"}}))
        .await;
    let result = server.recv().await;
    assert!(text(&result).contains("\"4\""));

    server.send(call("r", "roots", json!({}))).await;
    let ask = server.recv().await;
    assert_eq!(ask["method"], "roots/list");
    server
        .send(json!({"jsonrpc": "2.0", "id": ask["id"], "error": {"code": -32601, "message": "no roots"}}))
        .await;
    let result = server.recv().await;
    assert_eq!(
        result["result"]["isError"], true,
        "a client error becomes a tool error"
    );
    assert!(text(&result).contains("no roots"));
}

// ---------------------------------------------------------------------------------------------
// Process / stdio faults

#[tokio::test]
async fn stdout_noise_pollutes_before_and_after_initialize() {
    let mut server = StdioServer::spawn(&["--fault", "stdout-noise:2"]);
    server
        .send(initialize_request(json!(1), "2025-11-25"))
        .await;
    let mut lines = Vec::new();
    for _ in 0..5 {
        lines.push(server.line().await.expect("line"));
    }
    assert_eq!(lines[0], "[db] Connecting to database...");
    assert!(serde_json::from_str::<Value>(&lines[0]).is_err());
    assert!(serde_json::from_str::<Value>(&lines[1]).is_err());
    let response: Value = serde_json::from_str(&lines[2]).expect("the answer is JSON");
    assert_eq!(response["id"], 1);
    assert!(serde_json::from_str::<Value>(&lines[3]).is_err());
    assert!(serde_json::from_str::<Value>(&lines[4]).is_err());
}

#[tokio::test]
async fn stderr_noise_writes_informational_lines() {
    let mut server = StdioServer::spawn(&["--fault", "stderr-noise:3"]);
    for i in 1..=3 {
        let line = server.stderr_line().await.expect("stderr line");
        assert!(line.ends_with(&format!("({i}/3)")), "{line}");
    }
    let response = server.initialize().await;
    assert_eq!(response["id"], 0, "noise does not disturb stdout");
}

#[tokio::test]
async fn exit_at_start_defaults_and_custom_code() {
    let mut server = StdioServer::spawn(&["--fault", "exit-at-start"]);
    assert_eq!(
        server.stderr_line().await.as_deref(),
        Some("chaos: exiting at start")
    );
    assert_eq!(server.wait().await.code(), Some(1));

    let mut server = StdioServer::spawn(&["--fault", "exit-at-start:42:boom: missing API_KEY"]);
    assert_eq!(
        server.stderr_line().await.as_deref(),
        Some("boom: missing API_KEY")
    );
    assert_eq!(server.wait().await.code(), Some(42));
}

#[tokio::test]
async fn exit_at_start_with_a_limit_crashes_only_the_first_starts() {
    let state = temp_file("exit-at-start.json");
    let state_arg = state.to_str().expect("utf-8 path");
    let args = ["--fault", "exit-at-start@1", "--state-file", state_arg];

    let mut first = StdioServer::spawn(&args);
    assert_eq!(first.wait().await.code(), Some(1), "first start crashes");

    let mut second = StdioServer::spawn(&args);
    let response = second.initialize().await;
    assert_eq!(response["result"]["protocolVersion"], "2025-11-25");
    second.close_stdin();
    assert_eq!(second.wait().await.code(), Some(0));

    let saved: Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state file")).expect("JSON");
    assert_eq!(saved["starts"], 2);
    assert_eq!(saved["faults"]["exit-at-start:1"], 1);
    let _ = std::fs::remove_file(&state);
}

#[tokio::test]
async fn exit_after_crashes_mid_session() {
    let mut server = StdioServer::spawn(&["--fault", "exit-after:50"]);
    server.initialize().await;
    server.stderr_until("exit-after").await;
    assert_eq!(server.wait().await.code(), Some(1));
}

#[tokio::test]
async fn crash_on_call_exits_3_before_answering() {
    let mut server = StdioServer::spawn(&["--fault", "crash-on-call"]);
    server.initialize().await;
    let tools = server.ask(request(1, "tools/list", json!({}))).await;
    assert!(
        tools["result"]["tools"].is_array(),
        "other methods still work"
    );
    server.send(call(2, "echo", json!({"text": "x"}))).await;
    server.stderr_until("crash-on-call").await;
    assert_eq!(server.wait().await.code(), Some(3));
    assert_eq!(server.line().await, None);
}

#[tokio::test]
async fn never_initialize_stays_alive_and_silent() {
    let mut server = StdioServer::spawn(&["--fault", "never-initialize"]);
    server
        .send(initialize_request(json!(1), "2025-11-25"))
        .await;
    server.stderr_until("never-initialize").await;
    let ping = server.ask(request(2, "ping", json!({}))).await;
    assert_eq!(ping["id"], 2, "alive, and initialize stays unanswered");
}

#[tokio::test]
async fn slow_delays_the_named_method() {
    let mut server = StdioServer::spawn(&["--fault", "slow:tools/list:50"]);
    server.initialize().await;
    let tools = server.ask(request(1, "tools/list", json!({}))).await;
    assert!(tools["result"]["tools"].is_array());
    server
        .stderr_until("slow: delaying tools/list by 50 ms")
        .await;
}

#[tokio::test]
async fn hang_after_answers_nothing_more_but_keeps_reading() {
    let mut server = StdioServer::spawn(&["--fault", "hang-after:2"]);
    server.initialize().await; // answer 1
    assert_eq!(server.ask(request(1, "ping", json!({}))).await["id"], 1); // answer 2
    server.send(request(2, "ping", json!({}))).await;
    server
        .stderr_until("hang-after: not answering ping (id 2)")
        .await;
    server.send(request(3, "tools/list", json!({}))).await;
    server
        .stderr_until("hang-after: not answering tools/list (id 3)")
        .await;
    server.close_stdin();
    assert_eq!(server.wait().await.code(), Some(0));
    assert_eq!(server.line().await, None, "nothing was answered");
}

#[tokio::test]
async fn ignore_stdin_eof_keeps_running() {
    let mut server = StdioServer::spawn(&["--fault", "ignore-stdin-eof"]);
    server.initialize().await;
    server.close_stdin();
    server
        .stderr_until("staying alive (ignore-stdin-eof)")
        .await;
    assert!(server.child.try_wait().expect("try_wait").is_none());
    server.child.start_kill().expect("kill");
    server.wait().await;
}

#[tokio::test]
async fn ignore_sigterm_survives_sigterm() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let mut server = StdioServer::spawn(&["--fault", "ignore-sigterm"]);
    server.initialize().await;
    kill(Pid::from_raw(server.pid()), Signal::SIGTERM).expect("SIGTERM");
    server.stderr_until("ignoring SIGTERM").await;
    let ping = server.ask(request(1, "ping", json!({}))).await;
    assert_eq!(ping["id"], 1, "still serving after SIGTERM");
    kill(Pid::from_raw(server.pid()), Signal::SIGKILL).expect("SIGKILL");
    assert!(server.wait().await.code().is_none(), "killed by a signal");
}

#[tokio::test]
async fn spawn_child_leaves_a_grandchild_in_the_process_group() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::{Pid, getpgid};

    // Its own group, as a careful client would start it.
    let mut server = StdioServer::spawn_with(&["--fault", "spawn-child"], |cmd| {
        cmd.process_group(0);
    });
    let line = server.stderr_until("chaos: child pid").await;
    let child: i32 = line
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("pid in the line");
    let child = Pid::from_raw(child);
    let group = getpgid(Some(child)).expect("grandchild is alive");
    assert_eq!(
        group,
        Pid::from_raw(server.pid()),
        "same group as the server"
    );
    server.close_stdin();
    assert_eq!(server.wait().await.code(), Some(0));
    assert!(
        getpgid(Some(child)).is_ok(),
        "the grandchild outlives the server"
    );
    kill(child, Signal::SIGKILL).expect("clean up the grandchild");
}

// ---------------------------------------------------------------------------------------------
// Protocol faults

#[tokio::test]
async fn missing_jsonrpc_omits_the_version_everywhere() {
    let mut server = StdioServer::spawn(&["--fault", "missing-jsonrpc"]);
    let init = server.initialize().await;
    assert!(init.get("jsonrpc").is_none());
    assert_eq!(init["id"], 0);
    let ping = server.ask(request(1, "ping", json!({}))).await;
    assert!(ping.get("jsonrpc").is_none());
}

#[tokio::test]
async fn require_arguments_rejects_a_call_without_arguments() {
    let mut server = StdioServer::spawn(&["--fault", "require-arguments"]);
    server.initialize().await;
    let bare = server
        .ask(request(1, "tools/call", json!({"name": "pid"})))
        .await;
    assert_eq!(bare["error"]["code"], -32602);
    assert_eq!(
        bare["error"]["message"],
        "Invalid arguments: expected object"
    );
    let with_args = server.ask(call(2, "pid", json!({}))).await;
    assert!(with_args["result"].is_object());

    let mut lenient = StdioServer::spawn(&[]);
    lenient.initialize().await;
    let bare = lenient
        .ask(request(1, "tools/call", json!({"name": "pid"})))
        .await;
    assert!(
        bare["result"].is_object(),
        "arguments are optional by default"
    );
}

#[tokio::test]
async fn error_with_a_limit_fails_n_times_then_succeeds() {
    let mut server = StdioServer::spawn(&["--fault", "error:tools/list@2"]);
    server.initialize().await;
    for id in 1..=2 {
        let failed = server.ask(request(id, "tools/list", json!({}))).await;
        assert_eq!(failed["error"]["code"], -32603);
        assert_eq!(failed["error"]["message"], "chaos: injected error");
    }
    let ok = server.ask(request(3, "tools/list", json!({}))).await;
    assert!(ok["result"]["tools"].is_array());
}

async fn tool_list(server: &mut StdioServer) -> Vec<Value> {
    let response = server.ask(request("list", "tools/list", json!({}))).await;
    response["result"]["tools"]
        .as_array()
        .expect("tools")
        .clone()
}

#[tokio::test]
async fn malformed_tool_hides_broken_tools_among_good_ones() {
    let mut server = StdioServer::spawn(&["--fault", "malformed-tool"]);
    server.initialize().await;
    let tools = tool_list(&mut server).await;
    assert_eq!(tools.len(), 14);
    assert!(tools.iter().any(|t| t.get("inputSchema").is_none()));
    assert!(tools.iter().any(|t| t["name"].is_number()));
    assert!(
        tools.last().is_some_and(|t| t["name"] == "pid"),
        "broken ones are not last"
    );
}

#[tokio::test]
async fn lint_bait_adds_valid_but_suspicious_tools() {
    let mut server = StdioServer::spawn(&["--fault", "lint-bait"]);
    server.initialize().await;
    let tools = tool_list(&mut server).await;
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.iter().any(|n| n.contains(' ')));
    assert!(names.iter().any(|n| n.len() > 64));
    assert_eq!(names.iter().filter(|n| **n == "lint_duplicate").count(), 2);
    assert!(
        tools
            .iter()
            .any(|t| t["description"].as_str().map(str::len) == Some(3000))
    );
    assert!(
        tools
            .iter()
            .any(|t| t["inputSchema"].get("anyOf").is_some())
    );
    assert!(tools.iter().any(|t| t["outputSchema"]["type"] == "string"));
    let called = server.ask(call(1, "lint_any_of", json!({"a": "x"}))).await;
    assert!(text(&called).contains("lint_any_of"));
}

#[tokio::test]
async fn no_tools_and_no_tools_capability() {
    let mut server = StdioServer::spawn(&["--fault", "no-tools"]);
    let init = server.initialize().await;
    assert!(init["result"]["capabilities"]["tools"].is_object());
    assert!(tool_list(&mut server).await.is_empty());

    let mut server = StdioServer::spawn(&["--fault", "no-tools-capability"]);
    let init = server.initialize().await;
    assert!(init["result"]["capabilities"].get("tools").is_none());
    assert!(tool_list(&mut server).await.is_empty());
}

#[tokio::test]
async fn fillers_are_paginated_with_opaque_cursors() {
    let mut server = StdioServer::spawn(&["--fault", "tools:10", "--fault", "page-size:5"]);
    server.initialize().await;
    let mut names = Vec::new();
    let mut cursor: Option<Value> = None;
    let mut pages = 0;
    loop {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let page = server.ask(request(pages, "tools/list", params)).await;
        pages += 1;
        let tools = page["result"]["tools"].as_array().expect("tools");
        assert!(tools.len() <= 5);
        names.extend(
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned)),
        );
        match page["result"].get("nextCursor") {
            Some(next) => cursor = Some(next.clone()),
            None => break,
        }
    }
    assert_eq!(pages, 5, "22 tools in pages of 5");
    assert_eq!(names.len(), 22);
    assert!(names.contains(&"filler_9".to_owned()));
    let filler = server.ask(call("f", "filler_3", json!({}))).await;
    assert_eq!(text(&filler), "filler_3");

    let prompts = server.ask(request("p", "prompts/list", json!({}))).await;
    assert_eq!(
        prompts["result"]["prompts"].as_array().map(Vec::len),
        Some(1)
    );
    let bad = server
        .ask(request("c", "tools/list", json!({"cursor": "forged"})))
        .await;
    assert_eq!(bad["error"]["code"], -32602);
}

#[tokio::test]
async fn repeat_cursor_returns_the_same_cursor_forever() {
    let mut server = StdioServer::spawn(&["--fault", "repeat-cursor", "--fault", "page-size:4"]);
    server.initialize().await;
    let first = server.ask(request(1, "tools/list", json!({}))).await;
    let cursor = first["result"]["nextCursor"].clone();
    assert!(cursor.is_string());
    let second = server
        .ask(request(2, "tools/list", json!({"cursor": cursor})))
        .await;
    assert_eq!(second["result"]["nextCursor"], cursor);
    assert_eq!(second["result"]["tools"], first["result"]["tools"]);
}

#[tokio::test]
async fn protocol_version_and_bad_initialize() {
    let mut server = StdioServer::spawn(&["--fault", "protocol-version:1999-01-01"]);
    let init = server.initialize().await;
    assert_eq!(init["result"]["protocolVersion"], "1999-01-01");

    let mut server = StdioServer::spawn(&["--fault", "bad-initialize"]);
    let init = server.initialize().await;
    assert!(init["result"].get("protocolVersion").is_none());
    assert!(init["result"].get("capabilities").is_none());
    assert!(init["result"]["serverInfo"].is_object());
}

#[tokio::test]
async fn list_changed_toggles_the_ephemeral_tool_and_notifies() {
    let mut server = StdioServer::spawn(&["--fault", "list-changed:20@1"]);
    server.initialize().await;
    let notification = server.recv().await;
    assert_eq!(notification["method"], "notifications/tools/list_changed");
    let tools = tool_list(&mut server).await;
    assert!(tools.iter().any(|t| t["name"] == "ephemeral"));
    let called = server.ask(call(1, "ephemeral", json!({}))).await;
    assert_eq!(text(&called), "ephemeral tool called");
}

#[tokio::test]
async fn result_shaping_faults() {
    let mut server = StdioServer::spawn(&[
        "--fault",
        "empty-result@1",
        "--fault",
        "unknown-content@1",
        "--fault",
        "big-result:5000@1",
    ]);
    server.initialize().await;
    let empty = server.ask(call(1, "echo", json!({"text": "x"}))).await;
    assert_eq!(empty["result"], json!({}));
    let widget = server.ask(call(2, "echo", json!({"text": "x"}))).await;
    assert_eq!(widget["result"]["content"][0]["type"], "widget");
    let big = server.ask(call(3, "echo", json!({"text": "x"}))).await;
    assert_eq!(text(&big).len(), 5000);
    let normal = server.ask(call(4, "echo", json!({"text": "x"}))).await;
    assert_eq!(
        text(&normal),
        "x",
        "each fault fired once, then normal results"
    );
}

#[tokio::test]
async fn bad_fault_spec_is_a_usage_error_naming_the_part() {
    let output = tokio::process::Command::new(BIN)
        .args(["--fault", "slow:tools/list:soon"])
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`soon`"), "{stderr}");
}
