//! The fake model server itself (support/fake_model.rs): each wire format streams what
//! the script says, records what it got, and never panics on odd input.

mod support;

use serde_json::{Value, json};
use support::fake_model::{self, Api, FakeModel};

/// POST `body` to `path`; returns the status and the raw body text.
async fn post(fake: &FakeModel, path: &str, body: &Value) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", fake.url()))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The `data:` payloads of an SSE body, parsed (`[DONE]` skipped).
fn sse_data(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("bad data {d}: {e}")))
        .collect()
}

fn anthropic_request(messages: Value, tools: &[&str]) -> Value {
    let tools: Vec<Value> = tools
        .iter()
        .map(|t| json!({"name": t, "input_schema": {"type": "object"}}))
        .collect();
    json!({"model": "claude-test", "stream": true, "max_tokens": 100, "messages": messages, "tools": tools})
}

#[tokio::test]
async fn anthropic_streams_text_tool_uses_and_questions() {
    let fake = FakeModel::start();
    let (status, text) = post(
        &fake,
        "/v1/messages?beta=true",
        &anthropic_request(
            json!([{"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"}, {"type": "text", "text": "say hello"}]}]),
            &["Bash"],
        ),
    )
    .await;
    assert_eq!(status, 200);
    let events = sse_data(&text);
    assert_eq!(events[0]["type"], "message_start");
    let deltas: Vec<&str> = events
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert!(deltas.len() >= 2, "{deltas:?}");
    assert_eq!(deltas.concat(), fake_model::HELLO);
    assert_eq!(events.last().unwrap()["type"], "message_stop");

    // A tool call that needs permission, only when the request offers the tool.
    let (_, text) = post(
        &fake,
        "/v1/messages",
        &anthropic_request(
            json!([{"role": "user", "content": "please run tool"}]),
            &["Bash", "AskUserQuestion"],
        ),
    )
    .await;
    let events = sse_data(&text);
    let tool = events
        .iter()
        .find(|e| e["content_block"]["type"] == "tool_use")
        .expect("a tool_use block");
    assert_eq!(tool["content_block"]["name"], "Bash");
    let input: Value = serde_json::from_str(
        events
            .iter()
            .find_map(|e| e["delta"]["partial_json"].as_str())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(input["command"], fake_model::TOOL_COMMAND);
    assert!(
        events
            .iter()
            .any(|e| e["delta"]["stop_reason"] == "tool_use")
    );
    let (_, text) = post(
        &fake,
        "/v1/messages",
        &anthropic_request(
            json!([{"role": "user", "content": "Title for: run tool"}]),
            &[],
        ),
    )
    .await;
    assert!(!text.contains("tool_use"), "{text}");

    // The question.
    let (_, text) = post(
        &fake,
        "/v1/messages",
        &anthropic_request(
            json!([{"role": "user", "content": "ask me"}]),
            &["AskUserQuestion"],
        ),
    )
    .await;
    assert!(
        text.contains("AskUserQuestion") && text.contains("Which colour?"),
        "{text}"
    );

    // The multi-select question.
    let (_, text) = post(
        &fake,
        "/v1/messages",
        &anthropic_request(
            json!([{"role": "user", "content": "ask several"}]),
            &["AskUserQuestion"],
        ),
    )
    .await;
    let input: String = sse_data(&text)
        .iter()
        .filter_map(|e| e["delta"]["partial_json"].as_str().map(str::to_owned))
        .collect();
    let input: Value = serde_json::from_str(&input).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(input["questions"][0]["multiSelect"], true, "{input}");
    assert_eq!(
        input["questions"][0]["question"],
        fake_model::MULTI_QUESTION
    );

    // After a tool result: text quoting it.
    let (_, text) = post(
        &fake,
        "/v1/messages",
        &anthropic_request(
            json!([
                {"role": "user", "content": "run tool"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "it worked"}]},
            ]),
            &["Bash"],
        ),
    )
    .await;
    let said: String = sse_data(&text)
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(said, format!("{}it worked", fake_model::AFTER_TOOL));

    // Recorded, with the conversation read back.
    let requests = fake.model_requests();
    assert_eq!(requests.len(), 6);
    assert!(requests.iter().all(|r| r.api == Api::Anthropic));
    let last = requests[5].conversation();
    assert!(last.ends_with_tool_result);
    assert_eq!(last.tool_results, ["it worked"]);
    assert_eq!(last.user_texts, ["run tool"]);
    assert_eq!(requests[0].path, "/v1/messages?beta=true");
}

#[tokio::test]
async fn responses_stream_text_and_an_escalated_shell_call() {
    let fake = FakeModel::start();
    let request = |text: &str| {
        json!({"model": "m", "stream": true, "tools": [{"type": "function", "name": "exec_command"}],
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
        ]})
    };
    let (_, text) = post(&fake, "/v1/responses", &request("say hello")).await;
    let events = sse_data(&text);
    let said: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(said, fake_model::HELLO);
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    assert!(text.contains("event: response.completed\n"), "{text}");

    let (_, text) = post(&fake, "/v1/responses", &request("run tool")).await;
    let call = sse_data(&text)
        .into_iter()
        .find(|e| e["type"] == "response.output_item.done" && e["item"]["type"] == "function_call")
        .expect("a function call");
    assert_eq!(call["item"]["name"], "exec_command");
    let args: Value = serde_json::from_str(call["item"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["cmd"], fake_model::TOOL_COMMAND);
    assert_eq!(args["sandbox_permissions"], "require_escalated");
    assert_eq!(
        fake.requests()[0].conversation().user_texts,
        ["say hello"],
        "developer messages are not user texts"
    );
}

#[tokio::test]
async fn chat_completions_stream_text_and_a_bash_call() {
    let fake = FakeModel::start();
    let request = |text: &str| {
        json!({"model": "fake-model", "stream": true,
               "tools": [{"type": "function", "function": {"name": "bash"}}],
               "messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": text}]})
    };
    let (_, text) = post(&fake, "/v1/chat/completions", &request("say hello")).await;
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let said: String = sse_data(&text)
        .iter()
        .filter_map(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(said, fake_model::HELLO);

    let (_, text) = post(&fake, "/v1/chat/completions", &request("run tool")).await;
    let chunks = sse_data(&text);
    let call = chunks
        .iter()
        .find_map(|e| e["choices"][0]["delta"]["tool_calls"][0].as_object())
        .expect("a tool call");
    assert_eq!(call["function"]["name"], "bash");
    assert!(
        chunks
            .iter()
            .any(|e| e["choices"][0]["finish_reason"] == "tool_calls")
    );

    // Not streamed: one JSON answer.
    let mut plain = request("say hello");
    plain["stream"] = json!(false);
    let (status, text) = post(&fake, "/v1/chat/completions", &plain).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], fake_model::HELLO);
}

#[tokio::test]
async fn gemini_streams_text_and_a_function_call() {
    let fake = FakeModel::start();
    let request = |text: &str| {
        json!({"contents": [{"role": "user", "parts": [{"text": "<session_context>"}, {"text": text}]}],
               "tools": [{"functionDeclarations": [{"name": "run_shell_command"}]}]})
    };
    let path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
    let (_, text) = post(&fake, path, &request("say hello")).await;
    let chunks = sse_data(&text);
    let said: String = chunks
        .iter()
        .filter_map(|e| {
            e["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(said, fake_model::HELLO);
    assert_eq!(
        chunks.last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );

    let (_, text) = post(&fake, path, &request("run tool")).await;
    assert!(
        text.contains("\"functionCall\"") && text.contains("run_shell_command"),
        "{text}"
    );

    let (_, text) = post(
        &fake,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &json!({"contents": [{"role": "user", "parts": [{"text": "who speaks next?"}]}],
                "generationConfig": {"responseMimeType": "application/json"}}),
    )
    .await;
    let body: Value = serde_json::from_str(&text).unwrap();
    let answer = body["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap();
    assert!(serde_json::from_str::<Value>(answer).is_ok(), "{answer}");
}

#[tokio::test]
async fn odd_requests_get_answers_not_panics_and_are_recorded() {
    let fake = FakeModel::start();
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v1/messages", fake.url()))
        .body("not json at all")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client
        .get(format!("{}/nowhere", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = client
        .get(format!("{}/v1/models", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, text) = post(&fake, "/v1/messages/count_tokens", &json!({"messages": []})).await;
    assert_eq!((status, text.contains("input_tokens")), (200, true));

    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].body, Value::Null);
    let unknown = fake.unknown_requests();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].path, "/nowhere");
}

#[tokio::test]
async fn a_slow_stream_trickles_until_the_client_goes() {
    let fake = FakeModel::start();
    // Timed from before the request: the stream's chunks are 100 ms apart from its start,
    // so the third can never come sooner than 200 ms after this, however slow the test.
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", fake.url()))
        .json(&anthropic_request(
            json!([{"role": "user", "content": "slow please"}]),
            &["Bash"],
        ))
        .send()
        .await
        .unwrap();
    let mut response = response;
    let mut seen = String::new();
    while seen.matches(fake_model::SLOW_CHUNK).count() < 3 {
        let chunk = tokio::time::timeout(support::WAIT, response.chunk())
            .await
            .expect("a chunk in time")
            .unwrap()
            .expect("the stream goes on");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(150),
        "three slow chunks came at once"
    );
    assert!(!seen.contains("message_stop"));
    drop(response);
}
