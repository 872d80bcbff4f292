//! Reading a model request's conversation, the same way for the four wire formats.

use serde_json::Value;

use super::Conversation;

/// Text of a content value: a string, or a list of blocks with `text` fields.
pub(super) fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| match b {
                Value::String(s) => Some(s.as_str()),
                _ => b.get("text").and_then(Value::as_str),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(super) fn array<'a>(body: &'a Value, key: &str) -> &'a [Value] {
    body.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(super) fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

pub(super) fn anthropic_conversation(body: &Value) -> Conversation {
    let mut c = Conversation {
        tools: array(body, "tools")
            .iter()
            .map(|t| str_field(t, "name").to_owned())
            .collect(),
        ..Conversation::default()
    };
    let messages = array(body, "messages");
    for (i, m) in messages.iter().enumerate() {
        if str_field(m, "role") != "user" {
            continue;
        }
        let content = m.get("content").unwrap_or(&Value::Null);
        let blocks = content.as_array().map(Vec::as_slice).unwrap_or(&[]);
        let results: Vec<String> = blocks
            .iter()
            .filter(|b| str_field(b, "type") == "tool_result")
            .map(|b| text_of(b.get("content").unwrap_or(&Value::Null)))
            .collect();
        if !results.is_empty() {
            c.tool_results.extend(results);
            if i + 1 == messages.len() {
                c.ends_with_tool_result = true;
            }
        }
        let text = match content {
            Value::String(s) => s.clone(),
            _ => blocks
                .iter()
                .filter(|b| str_field(b, "type") == "text")
                .map(|b| str_field(b, "text"))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        if !text.trim().is_empty() {
            c.user_texts.push(text);
        }
    }
    c
}

pub(super) fn responses_conversation(body: &Value) -> Conversation {
    let mut c = Conversation {
        tools: array(body, "tools")
            .iter()
            .map(|t| match t.get("name").and_then(Value::as_str) {
                Some(name) => name.to_owned(),
                None => str_field(t, "type").to_owned(),
            })
            .collect(),
        ..Conversation::default()
    };
    let input = match body.get("input") {
        Some(Value::String(s)) => {
            c.user_texts.push(s.clone());
            return c;
        }
        _ => array(body, "input"),
    };
    for (i, item) in input.iter().enumerate() {
        match str_field(item, "type") {
            "function_call_output" | "custom_tool_call_output" => {
                c.tool_results
                    .push(text_of(item.get("output").unwrap_or(&Value::Null)));
                if i + 1 == input.len() {
                    c.ends_with_tool_result = true;
                }
            }
            "message" | "" if str_field(item, "role") == "user" => {
                let text = text_of(item.get("content").unwrap_or(&Value::Null));
                if !text.trim().is_empty() {
                    c.user_texts.push(text);
                }
            }
            _ => {}
        }
    }
    c
}

pub(super) fn chat_conversation(body: &Value) -> Conversation {
    let mut c = Conversation {
        tools: array(body, "tools")
            .iter()
            .map(|t| str_field(t.get("function").unwrap_or(&Value::Null), "name").to_owned())
            .collect(),
        ..Conversation::default()
    };
    let messages = array(body, "messages");
    for (i, m) in messages.iter().enumerate() {
        match str_field(m, "role") {
            "tool" => {
                c.tool_results
                    .push(text_of(m.get("content").unwrap_or(&Value::Null)));
                if i + 1 == messages.len() {
                    c.ends_with_tool_result = true;
                }
            }
            "user" => {
                let text = text_of(m.get("content").unwrap_or(&Value::Null));
                if !text.trim().is_empty() {
                    c.user_texts.push(text);
                }
            }
            _ => {}
        }
    }
    c
}

pub(super) fn gemini_conversation(body: &Value) -> Conversation {
    let mut c = Conversation {
        tools: array(body, "tools")
            .iter()
            .flat_map(|t| array(t, "functionDeclarations"))
            .map(|f| str_field(f, "name").to_owned())
            .collect(),
        ..Conversation::default()
    };
    let contents = array(body, "contents");
    for (i, content) in contents.iter().enumerate() {
        let parts = array(content, "parts");
        let responses: Vec<String> = parts
            .iter()
            .filter_map(|p| p.get("functionResponse"))
            .map(Value::to_string)
            .collect();
        if !responses.is_empty() {
            c.tool_results.extend(responses);
            if i + 1 == contents.len() {
                c.ends_with_tool_result = true;
            }
        }
        if str_field(content, "role") == "user" {
            let text = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n");
            if !text.trim().is_empty() {
                c.user_texts.push(text);
            }
        }
    }
    c
}
