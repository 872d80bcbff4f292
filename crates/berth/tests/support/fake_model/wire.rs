//! The four wire formats (and the auxiliary endpoints) the fake model answers in.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::read::str_field;
use super::{Api, Conversation, Shared, Step, plan};

fn json_response(status: StatusCode, value: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(value.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

pub(super) fn auxiliary(method: &Method, path: &str) -> Response {
    if *method == Method::POST && path.ends_with("/messages/count_tokens") {
        return json_response(StatusCode::OK, &json!({"input_tokens": 10}));
    }
    if *method == Method::POST && path.contains(":countTokens") {
        return json_response(StatusCode::OK, &json!({"totalTokens": 10}));
    }
    if *method == Method::GET && path.ends_with("/models") {
        return json_response(
            StatusCode::OK,
            &json!({
                "object": "list",
                "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}],
                "models": [],
            }),
        );
    }
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": {"type": "not_found", "message": format!("the fake model has no {method} {path}")}}),
    )
}

/// One SSE frame, and whether the stream pauses after it.
struct Frame {
    bytes: Bytes,
    pause: bool,
}

fn sse(event: Option<&str>, data: &Value) -> Frame {
    let mut s = String::new();
    if let Some(event) = event {
        s.push_str("event: ");
        s.push_str(event);
        s.push('\n');
    }
    s.push_str("data: ");
    s.push_str(&data.to_string());
    s.push_str("\n\n");
    Frame {
        bytes: Bytes::from(s),
        pause: false,
    }
}

fn paused(mut frame: Frame) -> Frame {
    frame.pause = true;
    frame
}

/// Stream `frames`, pausing `pause` after the marked ones; stops early when the client
/// goes away.
fn stream(frames: Vec<Frame>, pause: Duration) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::convert::Infallible>>(16);
    tokio::spawn(async move {
        for frame in frames {
            if tx.send(Ok(frame.bytes)).await.is_err() {
                return;
            }
            if frame.pause && !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

pub(super) fn anthropic(shared: &Shared, body: &Value) -> Response {
    let conversation = Conversation::of(Api::Anthropic, body);
    let plan = plan(Api::Anthropic, &conversation);
    let model = body.get("model").cloned().unwrap_or(json!("fake-model"));
    let message_id = format!("msg_fake_{}", shared.next_id());
    let has_tool = plan.steps.iter().any(|s| matches!(s, Step::Tool { .. }));
    let stop_reason = if has_tool { "tool_use" } else { "end_turn" };
    let tool_ids: Vec<String> = plan
        .steps
        .iter()
        .map(|_| format!("toolu_fake_{}", shared.next_id()))
        .collect();
    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        let content: Vec<Value> = plan
            .steps
            .iter()
            .zip(&tool_ids)
            .map(|(step, id)| match step {
                Step::Text(chunks) => json!({"type": "text", "text": chunks.concat()}),
                Step::Tool { name, input } => {
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
                }
            })
            .collect();
        return json_response(
            StatusCode::OK,
            &json!({
                "id": message_id, "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": stop_reason, "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 5},
            }),
        );
    }
    let mut frames = vec![sse(
        Some("message_start"),
        &json!({"type": "message_start", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        }}),
    )];
    for (index, (step, id)) in plan.steps.iter().zip(&tool_ids).enumerate() {
        match step {
            Step::Text(chunks) => {
                frames.push(sse(
                    Some("content_block_start"),
                    &json!({"type": "content_block_start", "index": index,
                            "content_block": {"type": "text", "text": ""}}),
                ));
                for chunk in chunks {
                    frames.push(paused(sse(
                        Some("content_block_delta"),
                        &json!({"type": "content_block_delta", "index": index,
                                "delta": {"type": "text_delta", "text": chunk}}),
                    )));
                }
            }
            Step::Tool { name, input } => {
                frames.push(sse(
                    Some("content_block_start"),
                    &json!({"type": "content_block_start", "index": index,
                            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                ));
                frames.push(sse(
                    Some("content_block_delta"),
                    &json!({"type": "content_block_delta", "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
                ));
            }
        }
        frames.push(sse(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }
    frames.push(sse(
        Some("message_delta"),
        &json!({"type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                "usage": {"output_tokens": 5}}),
    ));
    frames.push(sse(Some("message_stop"), &json!({"type": "message_stop"})));
    stream(frames, plan.pause)
}

pub(super) fn responses(shared: &Shared, body: &Value) -> Response {
    let conversation = Conversation::of(Api::Responses, body);
    let plan = plan(Api::Responses, &conversation);
    let response_id = format!("resp_fake_{}", shared.next_id());
    let mut frames = vec![sse(
        Some("response.created"),
        &json!({"type": "response.created", "response": {"id": response_id}}),
    )];
    for (index, step) in plan.steps.iter().enumerate() {
        match step {
            Step::Text(chunks) => {
                let item_id = format!("msg_fake_{}", shared.next_id());
                frames.push(sse(
                    Some("response.output_item.added"),
                    &json!({"type": "response.output_item.added", "output_index": index,
                            "item": {"type": "message", "id": item_id, "role": "assistant", "content": []}}),
                ));
                for chunk in chunks {
                    frames.push(paused(sse(
                        Some("response.output_text.delta"),
                        &json!({"type": "response.output_text.delta", "item_id": item_id,
                                "output_index": index, "content_index": 0, "delta": chunk}),
                    )));
                }
                frames.push(sse(
                    Some("response.output_item.done"),
                    &json!({"type": "response.output_item.done", "output_index": index,
                            "item": {"type": "message", "id": item_id, "role": "assistant",
                                     "content": [{"type": "output_text", "text": chunks.concat(), "annotations": []}]}}),
                ));
            }
            Step::Tool { name, input } => {
                let n = shared.next_id();
                let item = json!({"type": "function_call", "id": format!("fc_fake_{n}"),
                                  "call_id": format!("call_fake_{n}"), "name": name,
                                  "arguments": input.to_string()});
                frames.push(sse(
                    Some("response.output_item.added"),
                    &json!({"type": "response.output_item.added", "output_index": index, "item": item}),
                ));
                frames.push(sse(
                    Some("response.output_item.done"),
                    &json!({"type": "response.output_item.done", "output_index": index, "item": item}),
                ));
            }
        }
    }
    frames.push(sse(
        Some("response.completed"),
        &json!({"type": "response.completed", "response": {"id": response_id, "usage": {
            "input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15,
        }}}),
    ));
    stream(frames, plan.pause)
}

pub(super) fn chat(shared: &Shared, body: &Value) -> Response {
    let conversation = Conversation::of(Api::Chat, body);
    let plan = plan(Api::Chat, &conversation);
    let id = format!("chatcmpl-fake-{}", shared.next_id());
    let model = body.get("model").cloned().unwrap_or(json!("fake-model"));
    let has_tool = plan.steps.iter().any(|s| matches!(s, Step::Tool { .. }));
    let finish = if has_tool { "tool_calls" } else { "stop" };
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15});
    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        let text: String = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Text(chunks) => Some(chunks.concat()),
                Step::Tool { .. } => None,
            })
            .collect();
        let tool_calls: Vec<Value> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Tool { name, input } => Some(json!({
                    "id": format!("call_fake_{}", shared.next_id()), "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                })),
                Step::Text(_) => None,
            })
            .collect();
        let mut message = json!({"role": "assistant", "content": text});
        if !tool_calls.is_empty() {
            message["tool_calls"] = json!(tool_calls);
        }
        return json_response(
            StatusCode::OK,
            &json!({"id": id, "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage}),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut frames = vec![sse(
        None,
        &chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    )];
    let mut tool_index = 0;
    for step in &plan.steps {
        match step {
            Step::Text(chunks) => {
                for text in chunks {
                    frames.push(paused(sse(
                        None,
                        &chunk(json!({"content": text}), Value::Null),
                    )));
                }
            }
            Step::Tool { name, input } => {
                frames.push(sse(
                    None,
                    &chunk(
                        json!({"tool_calls": [{"index": tool_index,
                            "id": format!("call_fake_{}", shared.next_id()), "type": "function",
                            "function": {"name": name, "arguments": input.to_string()}}]}),
                        Value::Null,
                    ),
                ));
                tool_index += 1;
            }
        }
    }
    frames.push(sse(None, &chunk(json!({}), json!(finish))));
    frames.push(sse(
        None,
        &json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [], "usage": usage}),
    ));
    frames.push(Frame {
        bytes: Bytes::from_static(b"data: [DONE]\n\n"),
        pause: false,
    });
    stream(frames, plan.pause)
}

pub(super) fn gemini(body: &Value, streaming: bool) -> Response {
    let conversation = Conversation::of(Api::Gemini, body);
    let plan = plan(Api::Gemini, &conversation);
    let usage = json!({"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15});
    let candidate = |parts: Value, finish: Option<&str>| {
        let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(finish) = finish {
            c["finishReason"] = json!(finish);
        }
        c
    };
    if !streaming {
        // Non-streamed calls are the CLI's helpers (e.g. "who speaks next"), which want
        // JSON when they ask for it.
        let config = body.get("generationConfig").unwrap_or(&Value::Null);
        let wants_json = str_field(config, "responseMimeType") == "application/json"
            || config.get("responseSchema").is_some()
            || config.get("responseJsonSchema").is_some();
        let text = if wants_json {
            json!({"reasoning": "fake", "next_speaker": "user"}).to_string()
        } else {
            plan.steps
                .iter()
                .filter_map(|s| match s {
                    Step::Text(chunks) => Some(chunks.concat()),
                    Step::Tool { .. } => None,
                })
                .collect()
        };
        return json_response(
            StatusCode::OK,
            &json!({"candidates": [candidate(json!([{"text": text}]), Some("STOP"))],
                    "usageMetadata": usage}),
        );
    }
    let mut frames = Vec::new();
    for step in &plan.steps {
        match step {
            Step::Text(chunks) => {
                for text in chunks {
                    frames.push(paused(sse(
                        None,
                        &json!({"candidates": [candidate(json!([{"text": text}]), None)]}),
                    )));
                }
            }
            Step::Tool { name, input } => frames.push(sse(
                None,
                &json!({"candidates": [candidate(
                    json!([{"functionCall": {"name": name, "args": input}}]), None)]}),
            )),
        }
    }
    frames.push(sse(
        None,
        &json!({"candidates": [candidate(json!([{"text": ""}]), Some("STOP"))],
                "usageMetadata": usage}),
    ));
    stream(frames, plan.pause)
}
