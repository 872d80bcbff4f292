//! Pure translation between ACP v1 messages and berth's types: session updates become
//! [`Event`]s, permission options and elicitation forms become prompts, and answers go
//! back the other way. No I/O here, so every mapping is unit-tested as plain JSON.

use std::collections::BTreeMap;

use agent_client_protocol::v1::schema as acp;
use berth_protocol::{
    AgentCapabilities, AgentCommand, AnswerValue, Event, PermissionOption, PermissionOptionKind,
    PlanEntry, Question, StopReason,
};
use serde::Serialize;
use serde_json::Value;

/// The berth event for one ACP `session/update`, stamped with `turn_id`; `None` only for
/// echoes of the user's own message (berth logs that itself). Kinds berth has no event
/// for are kept as `agent_update`.
pub(crate) fn update_to_event(update: acp::SessionUpdate, turn_id: &str) -> Option<Event> {
    let turn_id = turn_id.to_owned();
    match update {
        acp::SessionUpdate::AgentMessageChunk(chunk) => Some(Event::AgentMessageChunk {
            turn_id,
            text: content_text(&chunk.content),
        }),
        acp::SessionUpdate::AgentThoughtChunk(chunk) => Some(Event::AgentThoughtChunk {
            turn_id,
            text: content_text(&chunk.content),
        }),
        acp::SessionUpdate::ToolCall(call) => Some(Event::ToolCall {
            turn_id,
            tool_call_id: call.tool_call_id.0.to_string(),
            title: call.title,
            tool_kind: snake(&call.kind).unwrap_or_else(|| "other".to_owned()),
            status: snake(&call.status).unwrap_or_else(|| "pending".to_owned()),
            input: call.raw_input,
            content: non_empty_json(&call.content),
            locations: non_empty_json(&call.locations),
        }),
        acp::SessionUpdate::ToolCallUpdate(update) => {
            let fields = update.fields;
            Some(Event::ToolCallUpdate {
                turn_id,
                tool_call_id: update.tool_call_id.0.to_string(),
                status: fields.status.as_ref().and_then(snake),
                // An explicitly empty list is meaningful in an update (content cleared).
                content: fields.content.as_ref().and_then(to_json),
                title: fields.title,
                locations: fields.locations.as_ref().and_then(to_json),
                input: fields.raw_input,
            })
        }
        acp::SessionUpdate::Plan(plan) => Some(Event::Plan {
            turn_id,
            entries: plan
                .entries
                .iter()
                .map(|entry| PlanEntry {
                    content: entry.content.clone(),
                    status: snake(&entry.status).unwrap_or_else(|| "pending".to_owned()),
                    priority: snake(&entry.priority).unwrap_or_else(|| "medium".to_owned()),
                })
                .collect(),
        }),
        acp::SessionUpdate::UsageUpdate(usage) => Some(Event::Usage {
            turn_id: (!turn_id.is_empty()).then_some(turn_id),
            used_tokens: usage.used,
            context_size: Some(usage.size),
            cost: usage.cost.as_ref().and_then(to_json),
        }),
        acp::SessionUpdate::AvailableCommandsUpdate(update) => Some(Event::CommandsChanged {
            commands: update
                .available_commands
                .into_iter()
                .map(|command| AgentCommand {
                    name: command.name,
                    description: command.description,
                    hint: command.input.and_then(|input| match input {
                        acp::AvailableCommandInput::Unstructured(input) => Some(input.hint),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }),
                })
                .collect(),
        }),
        acp::SessionUpdate::CurrentModeUpdate(update) => Some(Event::ModeChanged {
            mode_id: update.current_mode_id.0.to_string(),
        }),
        // The options alone: the session actor keeps the modes it knows beside them.
        acp::SessionUpdate::ConfigOptionUpdate(update) => Some(Event::ConfigChanged {
            config: berth_protocol::AgentConfig {
                modes: Vec::new(),
                options: crate::offer::config_options(&update.config_options),
            },
        }),
        // The server records the user's message itself when it starts the turn.
        acp::SessionUpdate::UserMessageChunk(_) => None,
        other => match serde_json::to_value(&other) {
            Ok(update) => Some(unknown_update(update, &turn_id)),
            Err(error) => {
                tracing::warn!(%error, "could not serialise a session update");
                None
            }
        },
    }
}

/// A `tool_call` event for a call first heard of in a permission request (whose
/// `toolCall` is an update: every field optional).
pub(crate) fn tool_call_from_update(update: &acp::ToolCallUpdate, turn_id: &str) -> Event {
    let fields = &update.fields;
    Event::ToolCall {
        turn_id: turn_id.to_owned(),
        tool_call_id: update.tool_call_id.0.to_string(),
        title: fields
            .title
            .clone()
            .filter(|title| !title.trim().is_empty())
            .unwrap_or_else(|| "Tool call".to_owned()),
        tool_kind: fields
            .kind
            .as_ref()
            .and_then(snake)
            .unwrap_or_else(|| "other".to_owned()),
        status: fields
            .status
            .as_ref()
            .and_then(snake)
            .unwrap_or_else(|| "pending".to_owned()),
        input: fields.raw_input.clone(),
        content: fields.content.as_deref().and_then(non_empty_json),
        locations: fields.locations.as_deref().and_then(non_empty_json),
    }
}

/// An update berth has no event kind for, kept as the agent sent it.
pub(crate) fn unknown_update(update: Value, turn_id: &str) -> Event {
    Event::AgentUpdate {
        turn_id: (!turn_id.is_empty()).then(|| turn_id.to_owned()),
        update,
    }
}

/// Whether an update sent during `session/load` belongs to the replay (dropped): all
/// but the session's current state (commands, mode), which berth keeps.
pub(crate) fn is_replayed(update: &acp::SessionUpdate) -> bool {
    !matches!(
        update,
        acp::SessionUpdate::AvailableCommandsUpdate(_)
            | acp::SessionUpdate::CurrentModeUpdate(_)
            | acp::SessionUpdate::ConfigOptionUpdate(_)
    )
}

/// A `tool_call` for a call berth logged already (from its permission request): the
/// news in it, as a `tool_call_update`.
pub(crate) fn tool_call_as_update(call: acp::ToolCall, turn_id: &str) -> Event {
    Event::ToolCallUpdate {
        turn_id: turn_id.to_owned(),
        tool_call_id: call.tool_call_id.0.to_string(),
        status: snake(&call.status),
        content: non_empty_json(&call.content),
        title: Some(call.title).filter(|title| !title.trim().is_empty()),
        locations: non_empty_json(&call.locations),
        input: call.raw_input,
    }
}

/// What the agent declared in `initialize`, in berth's words.
pub(crate) fn capabilities(initialized: &acp::InitializeResponse) -> AgentCapabilities {
    let agent = &initialized.agent_capabilities;
    let prompt = &agent.prompt_capabilities;
    AgentCapabilities {
        name: initialized
            .agent_info
            .as_ref()
            .map(|info| info.name.clone()),
        version: initialized
            .agent_info
            .as_ref()
            .map(|info| info.version.clone()),
        load_session: agent.load_session,
        resume: agent.session_capabilities.resume.is_some(),
        image: prompt.image,
        audio: prompt.audio,
        embedded_context: prompt.embedded_context,
    }
}

/// Text of a content block; non-text blocks become a short placeholder so the transcript
/// still shows that something was there.
pub(crate) fn content_text(block: &acp::ContentBlock) -> String {
    match block {
        acp::ContentBlock::Text(text) => text.text.clone(),
        acp::ContentBlock::Image(_) => "[image]".to_owned(),
        acp::ContentBlock::Audio(_) => "[audio]".to_owned(),
        acp::ContentBlock::ResourceLink(link) => format!("[resource: {}]", link.uri),
        acp::ContentBlock::Resource(_) => "[resource]".to_owned(),
        _ => "[content]".to_owned(),
    }
}

/// berth's stop reason for ACP's. `max_turn_requests` (a per-turn request budget ran
/// out) is reported as `max_tokens`: both mean "a limit ended the turn", and berth's
/// wire format has no separate value for it.
pub(crate) fn stop_reason(reason: acp::StopReason) -> StopReason {
    match reason {
        acp::StopReason::EndTurn => StopReason::EndTurn,
        acp::StopReason::MaxTokens | acp::StopReason::MaxTurnRequests => StopReason::MaxTokens,
        acp::StopReason::Refusal => StopReason::Refusal,
        acp::StopReason::Cancelled => StopReason::Cancelled,
        other => {
            tracing::warn!(reason = ?other, "unknown ACP stop reason; treating it as end_turn");
            StopReason::EndTurn
        }
    }
}

/// The options of a `session/request_permission`, in berth's words.
pub(crate) fn permission_options(options: &[acp::PermissionOption]) -> Vec<PermissionOption> {
    options
        .iter()
        .map(|option| PermissionOption {
            option_id: option.option_id.0.to_string(),
            name: option.name.clone(),
            kind: match option.kind {
                acp::PermissionOptionKind::AllowOnce => PermissionOptionKind::AllowOnce,
                acp::PermissionOptionKind::AllowAlways => PermissionOptionKind::AllowAlways,
                acp::PermissionOptionKind::RejectOnce => PermissionOptionKind::RejectOnce,
                acp::PermissionOptionKind::RejectAlways => PermissionOptionKind::RejectAlways,
                // Unknown kinds are treated as the most conservative choice.
                _ => PermissionOptionKind::RejectOnce,
            },
        })
        .collect()
}

/// One question per top-level property of a form elicitation. The schema type keeps
/// properties in a sorted map, so questions come in property-name order. An array
/// property (a multi-select) is a `multiple` question.
pub(crate) fn questions(schema: &acp::ElicitationSchema) -> Vec<Question> {
    schema
        .properties
        .iter()
        .map(|(name, property)| {
            let (title, description, mut options) = describe_property(property);
            // A form listing an option twice would have it ticked twice (and refused as
            // chosen twice): each option once, in the order offered.
            if let Some(options) = &mut options {
                let mut seen = std::collections::HashSet::new();
                options.retain(|o| seen.insert(o.clone()));
            }
            Question {
                id: name.clone(),
                question: title.or(description).unwrap_or_else(|| name.clone()),
                free_text: options.is_none(),
                options,
                optional: !is_required(schema, name),
                multiple: matches!(property, acp::ElicitationPropertySchema::Array(_)),
            }
        })
        .collect()
}

/// JSON Schema: a property is required only when `required` lists it.
fn is_required(schema: &acp::ElicitationSchema, name: &str) -> bool {
    schema
        .required
        .as_ref()
        .is_some_and(|required| required.iter().any(|r| r == name))
}

/// `(title, description, fixed options)` of one form property.
fn describe_property(
    property: &acp::ElicitationPropertySchema,
) -> (Option<String>, Option<String>, Option<Vec<String>>) {
    use acp::ElicitationPropertySchema as P;
    match property {
        P::String(s) => {
            let options = s.enum_values.clone().or_else(|| {
                s.one_of
                    .as_ref()
                    .map(|one_of| one_of.iter().map(|o| o.value.clone()).collect())
            });
            (s.title.clone(), s.description.clone(), options)
        }
        P::Number(n) => (n.title.clone(), n.description.clone(), None),
        P::Integer(i) => (i.title.clone(), i.description.clone(), None),
        P::Boolean(b) => (
            b.title.clone(),
            b.description.clone(),
            Some(vec!["true".to_owned(), "false".to_owned()]),
        ),
        P::Array(m) => (m.title.clone(), m.description.clone(), array_options(m)),
        P::Other(other) => {
            let text = |key: &str| {
                other
                    .fields
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            (text("title"), text("description"), None)
        }
        _ => (None, None, None),
    }
}

/// The values a multi-select offers (`None` for item types berth does not know).
fn array_options(array: &acp::MultiSelectPropertySchema) -> Option<Vec<String>> {
    match &array.items {
        acp::MultiSelectItems::String(items) => Some(items.values.clone()),
        acp::MultiSelectItems::Titled(items) => {
            Some(items.options.iter().map(|o| o.value.clone()).collect())
        }
        _ => None,
    }
}

/// The `accept` content for berth's answers: each answer typed the way its property
/// asks (numbers, booleans, string lists for multi-selects), falling back to the string.
/// Answers to properties the form does not have are dropped.
///
/// A list goes to a multi-select as it is, never joined: options may hold commas. A
/// string answer to a multi-select is one choice when it is one of the property's
/// options (`"Yes, with tests"` stays whole); any other string is split on commas, as
/// berth did before answers could be lists (free text typed as `a, b`).
pub(crate) fn answers_to_content(
    schema: &acp::ElicitationSchema,
    answers: BTreeMap<String, AnswerValue>,
) -> BTreeMap<String, acp::ElicitationContentValue> {
    use acp::ElicitationContentValue as V;
    use acp::ElicitationPropertySchema as P;
    let mut content = BTreeMap::new();
    for (id, answer) in answers {
        let Some(property) = schema.properties.get(&id) else {
            tracing::debug!(question = %id, "dropping an answer to a question the form does not ask");
            continue;
        };
        // A form leaves an optional field it did not fill out of its content.
        if answer.is_empty() && !is_required(schema, &id) {
            continue;
        }
        let value = match (property, answer) {
            (P::Array(array), answer) => {
                V::StringArray(answer.choices(array_options(array).as_deref()))
            }
            (_, AnswerValue::One(answer)) => typed(property, answer),
            // Only multi-selects take lists (the session refuses others): one choice is
            // that string; more go as they are, for the agent to judge.
            (_, AnswerValue::Many(mut choices)) if choices.len() == 1 => {
                typed(property, choices.remove(0))
            }
            (_, AnswerValue::Many(choices)) => {
                tracing::warn!(question = %id, "a list answer to a field that takes one value");
                V::StringArray(choices)
            }
        };
        content.insert(id, value);
    }
    content
}

/// A single-valued answer typed the way its property asks, else the string.
fn typed(
    property: &acp::ElicitationPropertySchema,
    answer: String,
) -> acp::ElicitationContentValue {
    use acp::ElicitationContentValue as V;
    use acp::ElicitationPropertySchema as P;
    match property {
        P::Number(_) => answer.trim().parse().map(V::Number).ok(),
        P::Integer(_) => answer.trim().parse().map(V::Integer).ok(),
        P::Boolean(_) => answer.trim().parse().map(V::Boolean).ok(),
        _ => None,
    }
    .unwrap_or(V::String(answer))
}

/// The snake_case wire name of a unit enum value (`ToolKind::SwitchMode` → `"switch_mode"`).
fn snake<T: Serialize>(value: &T) -> Option<String> {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => Some(name),
        _ => None,
    }
}

fn to_json<T: Serialize>(value: &T) -> Option<Value> {
    serde_json::to_value(value).ok()
}

fn non_empty_json<T: Serialize>(items: &[T]) -> Option<Value> {
    if items.is_empty() {
        None
    } else {
        to_json(&items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Parse an ACP update from its wire form, translate it, and return the event's JSON.
    fn translate(update: Value) -> Option<Value> {
        let update: acp::SessionUpdate = serde_json::from_value(update).unwrap();
        update_to_event(update, "t1").map(|event| serde_json::to_value(event).unwrap())
    }

    #[test]
    fn message_and_thought_chunks() {
        assert_eq!(
            translate(
                json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "hi"}})
            ),
            Some(json!({"kind": "agent_message_chunk", "turn_id": "t1", "text": "hi"}))
        );
        assert_eq!(
            translate(
                json!({"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": "hmm"}})
            ),
            Some(json!({"kind": "agent_thought_chunk", "turn_id": "t1", "text": "hmm"}))
        );
        assert_eq!(
            translate(json!({"sessionUpdate": "agent_message_chunk",
                "content": {"type": "image", "data": "AAAA", "mimeType": "image/png"}})),
            Some(json!({"kind": "agent_message_chunk", "turn_id": "t1", "text": "[image]"}))
        );
    }

    #[test]
    fn tool_call_with_diff_and_locations() {
        let event = translate(json!({
            "sessionUpdate": "tool_call",
            "toolCallId": "c1",
            "title": "Edit main.rs",
            "kind": "edit",
            "status": "in_progress",
            "rawInput": {"path": "/w/main.rs"},
            "content": [{"type": "diff", "path": "/w/main.rs", "oldText": "a", "newText": "b"}],
            "locations": [{"path": "/w/main.rs", "line": 3}]
        }));
        assert_eq!(
            event,
            Some(json!({
                "kind": "tool_call", "turn_id": "t1", "tool_call_id": "c1", "title": "Edit main.rs",
                "tool_kind": "edit", "status": "in_progress", "input": {"path": "/w/main.rs"},
                "content": [{"type": "diff", "path": "/w/main.rs", "oldText": "a", "newText": "b"}],
                "locations": [{"path": "/w/main.rs", "line": 3}]
            }))
        );
    }

    #[test]
    fn tool_call_defaults() {
        assert_eq!(
            translate(json!({"sessionUpdate": "tool_call", "toolCallId": "c2", "title": "Think"})),
            Some(
                json!({"kind": "tool_call", "turn_id": "t1", "tool_call_id": "c2", "title": "Think",
                "tool_kind": "other", "status": "pending"})
            )
        );
    }

    #[test]
    fn tool_call_update_carries_only_present_fields() {
        assert_eq!(
            translate(
                json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "completed"})
            ),
            Some(
                json!({"kind": "tool_call_update", "turn_id": "t1", "tool_call_id": "c1", "status": "completed"})
            )
        );
        assert_eq!(
            translate(
                json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "title": "Renamed",
                "content": [{"type": "content", "content": {"type": "text", "text": "done"}}]})
            ),
            Some(
                json!({"kind": "tool_call_update", "turn_id": "t1", "tool_call_id": "c1", "title": "Renamed",
                "content": [{"type": "content", "content": {"type": "text", "text": "done"}}]})
            )
        );
    }

    #[test]
    fn plan_entries() {
        assert_eq!(
            translate(json!({"sessionUpdate": "plan", "entries": [
                {"content": "Read", "priority": "high", "status": "completed"},
                {"content": "Write", "priority": "low", "status": "in_progress"}
            ]})),
            Some(json!({"kind": "plan", "turn_id": "t1", "entries": [
                {"content": "Read", "status": "completed", "priority": "high"},
                {"content": "Write", "status": "in_progress", "priority": "low"}
            ]}))
        );
    }

    #[test]
    fn usage_update() {
        assert_eq!(
            translate(
                json!({"sessionUpdate": "usage_update", "used": 1200, "size": 200000,
                "cost": {"amount": 0.25, "currency": "USD"}})
            ),
            Some(
                json!({"kind": "usage", "turn_id": "t1", "used_tokens": 1200, "context_size": 200000,
                "cost": {"amount": 0.25, "currency": "USD"}})
            )
        );
    }

    #[test]
    fn user_message_echoes_are_skipped() {
        assert_eq!(
            translate(
                json!({"sessionUpdate": "user_message_chunk", "content": {"type": "text", "text": "hi"}})
            ),
            None
        );
    }

    #[test]
    fn commands_and_modes_become_summary_events() {
        assert_eq!(
            translate(json!({"sessionUpdate": "current_mode_update", "currentModeId": "code"})),
            Some(json!({"kind": "mode_changed", "mode_id": "code"}))
        );
        assert_eq!(
            translate(
                json!({"sessionUpdate": "available_commands_update", "availableCommands": [
                    {"name": "review", "description": "Review changes", "input": {"hint": "focus"}},
                    {"name": "init", "description": "Write AGENTS.md"}
                ]})
            ),
            Some(json!({"kind": "commands_changed", "commands": [
                {"name": "review", "description": "Review changes", "hint": "focus"},
                {"name": "init", "description": "Write AGENTS.md"}
            ]}))
        );
    }

    #[test]
    fn updates_without_an_event_kind_are_kept_whole() {
        let update = json!({"sessionUpdate": "session_info_update", "title": "Fixing login"});
        assert_eq!(
            translate(update.clone()),
            Some(json!({"kind": "agent_update", "turn_id": "t1", "update": update}))
        );
    }

    #[test]
    fn replayed_transcript_is_told_apart_from_state() {
        let parse = |value| serde_json::from_value::<acp::SessionUpdate>(value).unwrap();
        let chunk = json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "x"}});
        assert!(is_replayed(&parse(chunk)));
        let info = json!({"sessionUpdate": "session_info_update", "title": "x"});
        assert!(is_replayed(&parse(info)));
        let mode = json!({"sessionUpdate": "current_mode_update", "currentModeId": "code"});
        assert!(!is_replayed(&parse(mode)));
    }

    #[test]
    fn stop_reasons() {
        assert_eq!(stop_reason(acp::StopReason::EndTurn), StopReason::EndTurn);
        assert_eq!(
            stop_reason(acp::StopReason::Cancelled),
            StopReason::Cancelled
        );
        assert_eq!(
            stop_reason(acp::StopReason::MaxTurnRequests),
            StopReason::MaxTokens
        );
        assert_eq!(stop_reason(acp::StopReason::Refusal), StopReason::Refusal);
    }

    #[test]
    fn permission_option_kinds() {
        let options: Vec<acp::PermissionOption> = serde_json::from_value(json!([
            {"optionId": "a", "name": "Allow", "kind": "allow_once"},
            {"optionId": "aa", "name": "Always", "kind": "allow_always"},
            {"optionId": "r", "name": "Reject", "kind": "reject_once"},
            {"optionId": "rr", "name": "Never", "kind": "reject_always"}
        ]))
        .unwrap();
        assert_eq!(
            serde_json::to_value(permission_options(&options)).unwrap(),
            json!([
                {"option_id": "a", "name": "Allow", "kind": "allow_once"},
                {"option_id": "aa", "name": "Always", "kind": "allow_always"},
                {"option_id": "r", "name": "Reject", "kind": "reject_once"},
                {"option_id": "rr", "name": "Never", "kind": "reject_always"}
            ])
        );
    }

    fn form() -> acp::ElicitationSchema {
        serde_json::from_value(json!({
            "type": "object",
            "properties": {
                "color": {"type": "string", "title": "Pick a color", "enum": ["red", "green", "blue"]},
                "size": {"type": "string", "description": "Which size?",
                    "oneOf": [{"const": "s", "title": "Small"}, {"const": "l", "title": "Large"}]},
                "name": {"type": "string"},
                "count": {"type": "integer", "title": "How many?"},
                "ok": {"type": "boolean", "title": "Proceed?"},
                "tags": {"type": "array", "title": "Tags", "items": {"type": "string", "enum": ["x", "y"]}},
                "checks": {"type": "array", "title": "Checks", "items": {"anyOf": [
                    {"const": "lint", "title": "lint"},
                    {"const": "Yes, with tests", "title": "Yes, with tests", "description": "and docs"}
                ]}}
            },
            "required": ["color"]
        }))
        .unwrap()
    }

    #[test]
    fn form_questions() {
        assert_eq!(
            serde_json::to_value(questions(&form())).unwrap(),
            json!([
                {"id": "checks", "question": "Checks", "options": ["lint", "Yes, with tests"], "free_text": false, "optional": true, "multiple": true},
                {"id": "color", "question": "Pick a color", "options": ["red", "green", "blue"], "free_text": false},
                {"id": "count", "question": "How many?", "free_text": true, "optional": true},
                {"id": "name", "question": "name", "free_text": true, "optional": true},
                {"id": "ok", "question": "Proceed?", "options": ["true", "false"], "free_text": false, "optional": true},
                {"id": "size", "question": "Which size?", "options": ["s", "l"], "free_text": false, "optional": true},
                {"id": "tags", "question": "Tags", "options": ["x", "y"], "free_text": false, "optional": true, "multiple": true}
            ])
        );
    }

    fn answers(pairs: &[(&str, AnswerValue)]) -> BTreeMap<String, AnswerValue> {
        pairs
            .iter()
            .map(|(id, value)| ((*id).to_owned(), value.clone()))
            .collect()
    }

    fn list(choices: &[&str]) -> AnswerValue {
        AnswerValue::Many(choices.iter().map(|c| (*c).to_owned()).collect())
    }

    #[test]
    fn unfilled_optional_answers_stay_out_of_the_content() {
        let answers = answers(&[
            ("color", "red".into()),
            ("name", "".into()),
            ("tags", list(&[])),
        ]);
        assert_eq!(
            serde_json::to_value(answers_to_content(&form(), answers)).unwrap(),
            json!({"color": "red"})
        );
    }

    #[test]
    fn answers_are_typed_by_the_form() {
        let answers = answers(&[
            ("color", "red".into()),
            ("count", "3".into()),
            ("ok", "true".into()),
            ("tags", "x, y".into()),
            ("stray", "ignored".into()),
        ]);
        assert_eq!(
            serde_json::to_value(answers_to_content(&form(), answers)).unwrap(),
            json!({"color": "red", "count": 3, "ok": true, "tags": ["x", "y"]})
        );
    }

    #[test]
    fn list_answers_reach_a_multi_select_as_they_are() {
        let answers = answers(&[
            ("checks", list(&["lint", "Yes, with tests"])),
            ("tags", list(&["y"])),
        ]);
        assert_eq!(
            serde_json::to_value(answers_to_content(&form(), answers)).unwrap(),
            json!({"checks": ["lint", "Yes, with tests"], "tags": ["y"]})
        );
    }

    #[test]
    fn a_string_answer_to_a_multi_select_is_one_option_or_a_comma_list() {
        // An option is kept whole, commas and all.
        let one = answers(&[("checks", "Yes, with tests".into())]);
        assert_eq!(
            serde_json::to_value(answers_to_content(&form(), one)).unwrap(),
            json!({"checks": ["Yes, with tests"]})
        );
        // Anything else splits on commas, as before lists existed.
        let split = answers(&[("checks", "lint, docs ,".into())]);
        assert_eq!(
            serde_json::to_value(answers_to_content(&form(), split)).unwrap(),
            json!({"checks": ["lint", "docs"]})
        );
    }

    #[test]
    fn an_option_listed_twice_is_offered_once() {
        let schema: acp::ElicitationSchema = serde_json::from_value(json!({
            "type": "object",
            "properties": {
                "pick": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "a"]}}
            }
        }))
        .unwrap();
        assert_eq!(
            questions(&schema)[0].options.as_deref(),
            Some(&["a".to_owned(), "b".to_owned()][..])
        );
    }

    #[test]
    fn a_one_item_list_to_a_single_valued_field_is_its_value() {
        let answers = answers(&[("color", list(&["red"])), ("count", list(&["4"]))]);
        assert_eq!(
            serde_json::to_value(answers_to_content(&form(), answers)).unwrap(),
            json!({"color": "red", "count": 4})
        );
    }
}
