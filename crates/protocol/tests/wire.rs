//! The wire format of every type, pinned by snapshots (`tests/snapshots/`) and checked
//! against `docs/PROTOCOL.md`: one snapshot per event kind, server frame, client op and
//! REST body, plus round trips and the inputs that must be refused.

use std::collections::BTreeMap;
use std::fmt::Debug;

use berth_protocol::rest::{
    AgentInfo, AgentList, CreateSession, EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT, EventsPage,
    EventsQuery, Health, HealthSessions, MarkRead, PatchSession, PromptList, Resolved, SessionList,
    StartTurn, TurnAccepted,
};
use berth_protocol::{
    AgentCapabilities, AgentCommand, AgentConfig, Answer, AnswerValue, Attachment, ClientOp,
    ConfigChange, ConfigChoice, ConfigOption, ErrorBody, ErrorCode, ErrorDetail, Event,
    EventRecord, ExitReason, OptionKind, OptionSource, OptionValue, Outcome, PermissionOption,
    PermissionOptionKind, PlanEntry, Prompt, Question, Resolution, ServerFrame, Session,
    SessionOrigin, Status, StopReason, Timestamp, UnqueueReason,
};
use insta::assert_snapshot;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Helpers

/// A fixed timestamp, so snapshots are deterministic.
fn ts(rfc3339: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn t0() -> Timestamp {
    ts("2026-11-21T10:00:00Z")
}

fn t1() -> Timestamp {
    ts("2026-11-21T10:05:30.250Z")
}

/// Serialises `value`, checks that it reads back equal (compact and pretty), and returns
/// the pretty JSON for the snapshot.
fn wire<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) -> String {
    let compact = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&compact).unwrap();
    assert_eq!(&back, value, "round trip through {compact}");
    let pretty = serde_json::to_string_pretty(value).unwrap();
    let back: T = serde_json::from_str(&pretty).unwrap();
    assert_eq!(&back, value, "round trip through pretty JSON");
    pretty
}

/// Parses `value` as `T`.
fn parse<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

/// Asserts `value` does not parse as `T`.
fn refuse<T: DeserializeOwned + Debug>(value: Value) {
    let text = value.to_string();
    let result = serde_json::from_str::<T>(&text);
    assert!(result.is_err(), "{text} parsed as {:?}", result.unwrap());
}

fn session() -> Session {
    Session {
        id: "0193a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b".into(),
        slug: "2026-11-21-fix-login-1a2b3c4d".into(),
        title: "Fix login".into(),
        agent: "demo".into(),
        cwd: "/home/me/project".into(),
        status: Status::Idle,
        created_at: t0(),
        updated_at: t1(),
        last_seq: 42,
        read_seq: 40,
        unread: 2,
        pending_prompts: 0,
        viewers: 1,
        agent_running: true,
        commands: Vec::new(),
        mode: None,
        usage: None,
        config: None,
        pending_config: vec![],
        queued: vec![],
        preview: None,
        archived: false,
    }
}

fn permission_requested() -> Event {
    Event::PermissionRequested {
        turn_id: "t1".into(),
        prompt_id: "p1".into(),
        tool_call_id: Some("tc1".into()),
        title: "Write src/main.rs".into(),
        options: vec![
            PermissionOption {
                option_id: "allow".into(),
                name: "Allow once".into(),
                kind: PermissionOptionKind::AllowOnce,
            },
            PermissionOption {
                option_id: "always".into(),
                name: "Always allow".into(),
                kind: PermissionOptionKind::AllowAlways,
            },
            PermissionOption {
                option_id: "reject".into(),
                name: "Reject".into(),
                kind: PermissionOptionKind::RejectOnce,
            },
            PermissionOption {
                option_id: "never".into(),
                name: "Always reject".into(),
                kind: PermissionOptionKind::RejectAlways,
            },
        ],
    }
}

fn question_asked() -> Event {
    Event::QuestionAsked {
        turn_id: "t1".into(),
        prompt_id: "p2".into(),
        message: "A few questions".into(),
        questions: vec![
            Question {
                id: "color".into(),
                question: "Which color?".into(),
                options: Some(vec!["red".into(), "green".into(), "blue".into()]),
                free_text: false,
                optional: false,
                multiple: false,
            },
            Question {
                id: "name".into(),
                question: "Which name?".into(),
                options: None,
                free_text: true,
                optional: true,
                multiple: false,
            },
        ],
    }
}

fn answers() -> BTreeMap<String, AnswerValue> {
    BTreeMap::from([
        ("color".to_owned(), "green".into()),
        ("name".to_owned(), "berth".into()),
    ])
}

/// A multi-select question (extension `multiple`) beside a free-text one.
fn question_asked_multiple() -> Event {
    Event::QuestionAsked {
        turn_id: "t1".into(),
        prompt_id: "p3".into(),
        message: "Which checks?".into(),
        questions: vec![
            Question {
                id: "checks".into(),
                question: "Pick any".into(),
                options: Some(vec!["lint".into(), "Yes, with tests".into(), "docs".into()]),
                free_text: false,
                optional: true,
                multiple: true,
            },
            Question {
                id: "note".into(),
                question: "Anything else?".into(),
                options: None,
                free_text: true,
                optional: true,
                multiple: false,
            },
        ],
    }
}

/// Answers with a list (extension): choices may hold commas, and stay apart.
fn answers_with_a_list() -> BTreeMap<String, AnswerValue> {
    BTreeMap::from([
        (
            "checks".to_owned(),
            vec!["lint".to_owned(), "Yes, with tests".to_owned()].into(),
        ),
        ("note".to_owned(), "".into()),
    ])
}

fn resolution() -> Resolution {
    Resolution {
        prompt_id: "p1".into(),
        outcome: Outcome::Selected {
            option_id: "allow".into(),
        },
        resolved_at: t1(),
    }
}

/// The serialised `kind` tag of `event`.
fn tag(event: &Event) -> String {
    serde_json::to_value(event).unwrap()["kind"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Snapshots one event, checks its round trip and that `Event::kind` matches its tag.
macro_rules! event_snapshot {
    ($name:ident, $event:expr) => {
        #[test]
        fn $name() {
            let event: Event = $event;
            assert_eq!(event.kind(), tag(&event));
            assert_snapshot!(wire(&event));
        }
    };
}

// ---------------------------------------------------------------------------------------
// Events: one per kind (and per optional-field shape)

event_snapshot!(
    event_session_created,
    Event::SessionCreated {
        agent: "demo".into(),
        cwd: "/home/me/project".into(),
        title: "Fix login".into(),
    }
);

event_snapshot!(
    event_user_message,
    Event::UserMessage {
        turn_id: "t1".into(),
        text: "Fix the login tests".into(),
        attachments: vec![],
    }
);

event_snapshot!(
    event_user_message_with_attachments,
    Event::UserMessage {
        turn_id: "t1".into(),
        text: "What is in this picture?".into(),
        attachments: vec![Attachment {
            id: "0193a".into(),
            name: "screen.png".into(),
            mime_type: "image/png".into(),
            size: 48213,
        }],
    }
);

event_snapshot!(
    event_turn_started,
    Event::TurnStarted {
        turn_id: "t1".into()
    }
);

event_snapshot!(
    event_agent_message_chunk,
    Event::AgentMessageChunk {
        turn_id: "t1".into(),
        text: "chunk 1\n".into(),
    }
);

event_snapshot!(
    event_agent_thought_chunk,
    Event::AgentThoughtChunk {
        turn_id: "t1".into(),
        text: "Thinking…".into(),
    }
);

// JSON values below list keys alphabetically: serde_json's `preserve_order` is on in
// workspace builds (the ACP schema crate enables it) and off in `-p berth-protocol`
// builds, and only sorted literals serialise the same way under both.
event_snapshot!(
    event_tool_call_full,
    Event::ToolCall {
        turn_id: "t1".into(),
        tool_call_id: "tc1".into(),
        title: "Read src/main.rs".into(),
        tool_kind: "read".into(),
        status: "pending".into(),
        input: Some(json!({"path": "/home/me/project/src/main.rs"})),
        content: Some(
            json!([{"content": {"text": "fn main() {}", "type": "text"}, "type": "content"}])
        ),
        locations: Some(json!([{"line": 1, "path": "/home/me/project/src/main.rs"}])),
    }
);

event_snapshot!(
    event_tool_call_minimal,
    Event::ToolCall {
        turn_id: "t1".into(),
        tool_call_id: "tc1".into(),
        title: "Run tests".into(),
        tool_kind: "execute".into(),
        status: "in_progress".into(),
        input: None,
        content: None,
        locations: None,
    }
);

event_snapshot!(
    event_tool_call_update_full,
    Event::ToolCallUpdate {
        turn_id: "t1".into(),
        tool_call_id: "tc1".into(),
        status: Some("completed".into()),
        content: Some(json!([{"content": {"text": "ok", "type": "text"}, "type": "content"}])),
        title: Some("Read src/lib.rs".into()),
        locations: Some(json!([{"path": "/home/me/project/src/lib.rs"}])),
        input: Some(json!({"path": "src/lib.rs"})),
    }
);

event_snapshot!(
    event_tool_call_update_minimal,
    Event::ToolCallUpdate {
        turn_id: "t1".into(),
        tool_call_id: "tc1".into(),
        status: None,
        content: None,
        title: None,
        locations: None,
        input: None,
    }
);

event_snapshot!(
    event_plan,
    Event::Plan {
        turn_id: "t1".into(),
        entries: vec![
            PlanEntry {
                content: "Read the failing test".into(),
                status: "completed".into(),
                priority: "high".into(),
            },
            PlanEntry {
                content: "Fix the bug".into(),
                status: "in_progress".into(),
                priority: "medium".into(),
            },
        ],
    }
);

event_snapshot!(event_permission_requested, permission_requested());

event_snapshot!(
    event_permission_requested_without_tool_call,
    Event::PermissionRequested {
        turn_id: "t1".into(),
        prompt_id: "p1".into(),
        tool_call_id: None,
        title: "Allow network access?".into(),
        options: vec![PermissionOption {
            option_id: "reject".into(),
            name: "Reject".into(),
            kind: PermissionOptionKind::RejectOnce,
        }],
    }
);

event_snapshot!(event_question_asked, question_asked());

event_snapshot!(event_question_asked_multiple, question_asked_multiple());

event_snapshot!(
    event_prompt_resolved_selected,
    Event::PromptResolved {
        prompt_id: "p1".into(),
        outcome: Outcome::Selected {
            option_id: "allow".into()
        },
    }
);

event_snapshot!(
    event_prompt_resolved_answered,
    Event::PromptResolved {
        prompt_id: "p2".into(),
        outcome: Outcome::Answered { answers: answers() },
    }
);

event_snapshot!(
    event_prompt_resolved_answered_with_a_list,
    Event::PromptResolved {
        prompt_id: "p3".into(),
        outcome: Outcome::Answered {
            answers: answers_with_a_list()
        },
    }
);

event_snapshot!(
    event_prompt_resolved_cancelled,
    Event::PromptResolved {
        prompt_id: "p1".into(),
        outcome: Outcome::cancelled(),
    }
);

event_snapshot!(
    event_usage_full,
    Event::Usage {
        turn_id: Some("t1".into()),
        used_tokens: 12345,
        context_size: Some(200000),
        cost: Some(json!({"amount": 0.42, "currency": "USD"})),
    }
);

event_snapshot!(
    event_usage_minimal,
    Event::Usage {
        turn_id: None,
        used_tokens: 100,
        context_size: None,
        cost: None,
    }
);

event_snapshot!(
    event_turn_ended,
    Event::TurnEnded {
        turn_id: "t1".into(),
        stop_reason: StopReason::EndTurn,
        error: None,
    }
);

event_snapshot!(
    event_turn_ended_error,
    Event::TurnEnded {
        turn_id: "t1".into(),
        stop_reason: StopReason::Error,
        error: Some("server restarted".into()),
    }
);

event_snapshot!(
    event_agent_started,
    Event::AgentStarted {
        pid: 4242,
        session_origin: None,
        capabilities: None,
    }
);

event_snapshot!(
    event_agent_started_resumed,
    Event::AgentStarted {
        pid: 4242,
        session_origin: Some(SessionOrigin::Resumed),
        capabilities: Some(AgentCapabilities {
            name: Some("claude-agent-acp".into()),
            version: Some("0.9.0".into()),
            load_session: true,
            resume: true,
            image: true,
            audio: false,
            embedded_context: true,
        }),
    }
);

event_snapshot!(
    event_notice,
    Event::Notice {
        message: "The agent started a new conversation.".into(),
    }
);

event_snapshot!(
    event_commands_changed,
    Event::CommandsChanged {
        commands: vec![
            AgentCommand {
                name: "review".into(),
                description: "Review the diff".into(),
                hint: Some("what to focus on".into()),
            },
            AgentCommand {
                name: "compact".into(),
                description: String::new(),
                hint: None,
            },
        ],
    }
);

event_snapshot!(
    event_mode_changed,
    Event::ModeChanged {
        mode_id: "plan".into(),
    }
);

event_snapshot!(
    event_config_changed,
    Event::ConfigChanged {
        config: AgentConfig {
            modes: vec![ConfigChoice {
                id: "code".into(),
                name: "Code".into(),
                description: Some("Edits files".into()),
                group: None,
            }],
            options: vec![
                ConfigOption {
                    id: "model".into(),
                    name: "Model".into(),
                    description: None,
                    category: Some("model".into()),
                    kind: OptionKind::Select,
                    value: OptionValue::Id("demo-fast".into()),
                    values: vec![ConfigChoice {
                        id: "demo-fast".into(),
                        name: "Demo fast".into(),
                        description: None,
                        group: Some("Demo".into()),
                    }],
                    source: OptionSource::ModelList,
                },
                ConfigOption {
                    id: "think".into(),
                    name: "Think harder".into(),
                    description: None,
                    category: Some("thought_level".into()),
                    kind: OptionKind::Boolean,
                    value: OptionValue::Flag(true),
                    values: vec![],
                    source: OptionSource::ConfigOption,
                },
            ],
        },
    }
);

event_snapshot!(
    event_config_pending,
    Event::ConfigPending {
        pending: vec![
            ConfigChange::Mode { mode: "ask".into() },
            ConfigChange::Option {
                option: "model".into(),
                value: OptionValue::Id("demo-smart".into()),
            },
        ],
    }
);

event_snapshot!(
    event_turn_queued,
    Event::TurnQueued {
        turn_id: "t2".into(),
        text: "Then run the tests".into(),
    }
);

event_snapshot!(
    event_turn_unqueued,
    Event::TurnUnqueued {
        turn_id: "t2".into(),
        reason: UnqueueReason::Cancelled,
    }
);

event_snapshot!(
    event_agent_update,
    Event::AgentUpdate {
        turn_id: Some("t1".into()),
        update: json!({"sessionUpdate": "session_info_update", "title": "Fixing login"}),
    }
);

#[test]
fn session_with_agent_state() {
    let plain = serde_json::to_value(session()).unwrap();
    let mut session = session();
    session.commands = vec![AgentCommand {
        name: "review".into(),
        description: "Review the diff".into(),
        hint: None,
    }];
    session.mode = Some("plan".into());
    session.preview = Some("Done.".into());
    let value = serde_json::to_value(&session).unwrap();
    assert_eq!(value["mode"], "plan");
    assert_eq!(value["preview"], "Done.");
    assert_eq!(value["commands"][0]["name"], "review");
    let back: Session = serde_json::from_value(value).unwrap();
    assert_eq!(back, session);
    // Without agent state the fields stay off the wire (v1 shape unchanged).
    for field in ["commands", "mode", "preview"] {
        assert!(plain.get(field).is_none(), "{field} is omitted when empty");
    }
}

event_snapshot!(
    event_agent_exited_code,
    Event::AgentExited {
        code: Some(0),
        signal: None,
        reason: None,
    }
);

event_snapshot!(
    event_agent_exited_idle,
    Event::AgentExited {
        code: None,
        signal: Some(15),
        reason: Some(ExitReason::Idle),
    }
);

event_snapshot!(
    event_agent_exited_signal,
    Event::AgentExited {
        code: None,
        signal: Some(9),
        reason: None,
    }
);

event_snapshot!(
    event_title_changed,
    Event::TitleChanged {
        title: "Fix login tests".into(),
    }
);

event_snapshot!(
    event_error,
    Event::Error {
        message: "agent failed to start".into(),
    }
);

#[test]
fn stop_reasons_wire_names() {
    let all = [
        (StopReason::EndTurn, "end_turn"),
        (StopReason::Cancelled, "cancelled"),
        (StopReason::Error, "error"),
        (StopReason::MaxTokens, "max_tokens"),
        (StopReason::Refusal, "refusal"),
    ];
    for (reason, name) in all {
        assert_eq!(serde_json::to_value(reason).unwrap(), json!(name));
        assert_eq!(parse::<StopReason>(json!(name)), reason);
    }
    refuse::<StopReason>(json!("timeout"));
}

#[test]
fn event_parses_documented_shapes() {
    // Optional fields may be absent; unknown fields are ignored.
    assert_eq!(
        parse::<Event>(json!({
            "kind": "tool_call", "turn_id": "t1", "tool_call_id": "tc1", "title": "Run",
            "tool_kind": "execute", "status": "pending", "future_field": 1
        })),
        Event::ToolCall {
            turn_id: "t1".into(),
            tool_call_id: "tc1".into(),
            title: "Run".into(),
            tool_kind: "execute".into(),
            status: "pending".into(),
            input: None,
            content: None,
            locations: None,
        }
    );
    assert_eq!(
        parse::<Event>(json!({"kind": "agent_exited", "code": null, "signal": 15})),
        Event::AgentExited {
            code: None,
            signal: Some(15),
            reason: None,
        }
    );
    assert_eq!(
        parse::<Event>(json!({"kind": "usage", "used_tokens": 7})),
        Event::Usage {
            turn_id: None,
            used_tokens: 7,
            context_size: None,
            cost: None
        }
    );
    // `free_text` defaults to false when a sender leaves it out.
    let Event::QuestionAsked { questions, .. } = parse::<Event>(json!({
        "kind": "question_asked", "turn_id": "t1", "prompt_id": "p2", "message": "?",
        "questions": [{"id": "color", "question": "Which color?"}]
    })) else {
        panic!("not a question_asked")
    };
    assert!(!questions[0].free_text);
    assert_eq!(questions[0].options, None);
}

#[test]
fn event_refuses_bad_input() {
    refuse::<Event>(json!({"kind": "no_such_kind"}));
    refuse::<Event>(json!({"turn_id": "t1", "text": "no kind"}));
    refuse::<Event>(json!({"kind": "user_message", "turn_id": "t1"}));
    refuse::<Event>(json!({"kind": "turn_ended", "turn_id": "t1"}));
    refuse::<Event>(json!({"kind": "turn_ended", "turn_id": "t1", "stop_reason": "bored"}));
    refuse::<Event>(json!({
        "kind": "permission_requested", "turn_id": "t1", "prompt_id": "p1", "title": "x",
        "options": [{"option_id": "a", "name": "A", "kind": "allow_sometimes"}]
    }));
    refuse::<Event>(json!({"kind": "plan", "turn_id": "t1", "entries": [{"content": "x"}]}));
}

#[test]
fn event_helpers() {
    let chunk = Event::AgentThoughtChunk {
        turn_id: "t1".into(),
        text: "hm".into(),
    };
    assert_eq!(chunk.as_chunk(), Some((true, "t1", "hm")));
    assert_eq!(
        Event::TurnStarted {
            turn_id: "t1".into()
        }
        .as_chunk(),
        None
    );
    assert_eq!(permission_requested().asked_prompt_id(), Some("p1"));
    assert_eq!(question_asked().asked_prompt_id(), Some("p2"));
    assert_eq!(
        Event::TitleChanged { title: "x".into() }.asked_prompt_id(),
        None
    );
}

// ---------------------------------------------------------------------------------------
// EventRecord (REST `Event`)

#[test]
fn event_record() {
    assert_snapshot!(wire(&EventRecord {
        seq: 7,
        first_seq: None,
        ts: t0(),
        event: Event::TurnStarted {
            turn_id: "t1".into()
        },
    }));
}

#[test]
fn event_record_coalesced() {
    assert_snapshot!(wire(&EventRecord {
        seq: 12,
        first_seq: Some(8),
        ts: t1(),
        event: Event::AgentMessageChunk {
            turn_id: "t1".into(),
            text: "chunk 1\nchunk 2\nchunk 3\nchunk 4\nchunk 5\n".into(),
        },
    }));
}

#[test]
fn event_record_refuses_bad_input() {
    let event = json!({"kind": "turn_started", "turn_id": "t1"});
    refuse::<EventRecord>(json!({"ts": "2026-11-21T10:00:00Z", "event": event}));
    refuse::<EventRecord>(json!({"seq": 1, "event": event}));
    refuse::<EventRecord>(json!({"seq": 1, "ts": "yesterday", "event": event}));
    refuse::<EventRecord>(json!({"seq": -1, "ts": "2026-11-21T10:00:00Z", "event": event}));
    refuse::<EventRecord>(json!({"seq": 1, "ts": "2026-11-21T10:00:00Z"}));
}

#[test]
fn timestamps_are_rfc3339_utc() {
    assert_eq!(
        serde_json::to_value(t0()).unwrap(),
        json!("2026-11-21T10:00:00Z")
    );
    assert_eq!(
        serde_json::to_value(t1()).unwrap(),
        json!("2026-11-21T10:05:30.250Z")
    );
    // Any RFC 3339 offset is accepted and normalised to UTC.
    assert_eq!(parse::<Timestamp>(json!("2026-11-21T12:00:00+02:00")), t0());
}

// ---------------------------------------------------------------------------------------
// Session

#[test]
fn session_summary() {
    assert_snapshot!(wire(&session()));
}

#[test]
fn session_statuses_wire_names() {
    let all = [
        (Status::Starting, "starting"),
        (Status::Idle, "idle"),
        (Status::Running, "running"),
        (Status::AwaitingInput, "awaiting_input"),
        (Status::Error, "error"),
        (Status::Stopped, "stopped"),
    ];
    for (status, name) in all {
        assert_eq!(serde_json::to_value(status).unwrap(), json!(name));
        assert_eq!(parse::<Status>(json!(name)), status);
    }
    refuse::<Status>(json!("sleeping"));
}

#[test]
fn session_ignores_unknown_fields_and_refuses_missing_ones() {
    let mut value = serde_json::to_value(session()).unwrap();
    value["future_field"] = json!({"x": 1});
    assert_eq!(parse::<Session>(value.clone()), session());
    value.as_object_mut().unwrap().remove("agent_running");
    refuse::<Session>(value);
}

// ---------------------------------------------------------------------------------------
// Prompts, outcomes, answers, resolutions

#[test]
fn prompt_permission_flattened() {
    let prompt = Prompt::new("0193a5b2", 17, permission_requested()).unwrap();
    assert_eq!(prompt.prompt_id(), Some("p1"));
    assert_snapshot!(wire(&prompt));
}

#[test]
fn prompt_question_flattened() {
    let prompt = Prompt::new("0193a5b2", 23, question_asked()).unwrap();
    assert_eq!(prompt.prompt_id(), Some("p2"));
    assert_snapshot!(wire(&prompt));
}

#[test]
fn prompt_parses_documented_shape() {
    let prompt: Prompt = parse(json!({
        "session": "0193a5b2", "seq": 17, "kind": "permission_requested", "prompt_id": "p1",
        "turn_id": "t1", "title": "Write",
        "options": [{"option_id": "allow", "name": "Allow", "kind": "allow_once"}]
    }));
    assert_eq!(prompt.session, "0193a5b2");
    assert_eq!(prompt.seq, 17);
    assert_eq!(
        prompt.event,
        Event::PermissionRequested {
            turn_id: "t1".into(),
            prompt_id: "p1".into(),
            tool_call_id: None,
            title: "Write".into(),
            options: vec![PermissionOption {
                option_id: "allow".into(),
                name: "Allow".into(),
                kind: PermissionOptionKind::AllowOnce,
            }],
        }
    );
    // The flattened fields sit at the top level, beside `session` and `seq`.
    let value = serde_json::to_value(&prompt).unwrap();
    assert_eq!(value["kind"], "permission_requested");
    assert_eq!(value["prompt_id"], "p1");
    assert!(value.get("event").is_none());
}

#[test]
fn prompt_refuses_other_kinds_and_missing_fields() {
    assert_eq!(
        Prompt::new(
            "s",
            1,
            Event::TurnStarted {
                turn_id: "t1".into()
            }
        ),
        None
    );
    refuse::<Prompt>(json!({"session": "s", "seq": 3, "kind": "turn_started", "turn_id": "t1"}));
    refuse::<Prompt>(json!({
        "seq": 17, "kind": "question_asked", "prompt_id": "p2", "turn_id": "t1",
        "message": "?", "questions": []
    }));
    refuse::<Prompt>(json!({
        "session": "s", "kind": "question_asked", "prompt_id": "p2", "turn_id": "t1",
        "message": "?", "questions": []
    }));
    refuse::<Prompt>(json!({"session": "s", "seq": 17, "kind": "question_asked", "turn_id": "t1"}));
}

#[test]
fn outcome_selected() {
    let outcome = Outcome::Selected {
        option_id: "allow".into(),
    };
    assert_snapshot!(wire(&outcome));
}

#[test]
fn outcome_answered() {
    assert_snapshot!(wire(&Outcome::Answered { answers: answers() }));
}

#[test]
fn outcome_answered_with_a_list() {
    assert_snapshot!(wire(&Outcome::Answered {
        answers: answers_with_a_list()
    }));
}

#[test]
fn outcome_cancelled() {
    assert_snapshot!(wire(&Outcome::cancelled()));
}

#[test]
fn outcome_parses_untagged_shapes() {
    assert_eq!(
        parse::<Outcome>(json!({"option_id": "a"})),
        Outcome::Selected {
            option_id: "a".into()
        }
    );
    assert_eq!(
        parse::<Outcome>(json!({"answers": {"color": "red"}})),
        Outcome::Answered {
            answers: BTreeMap::from([("color".to_owned(), "red".into())])
        }
    );
    assert_eq!(
        parse::<Outcome>(json!({"answers": {"checks": ["a, b", "c"], "none": []}})),
        Outcome::Answered {
            answers: BTreeMap::from([
                (
                    "checks".to_owned(),
                    AnswerValue::Many(vec!["a, b".into(), "c".into()])
                ),
                ("none".to_owned(), AnswerValue::Many(vec![])),
            ])
        }
    );
    assert_eq!(
        parse::<Outcome>(json!({"cancelled": true})),
        Outcome::cancelled()
    );
    refuse::<Outcome>(json!({"cancelled": false}));
    refuse::<Outcome>(json!({}));
    refuse::<Outcome>(json!({"answers": {"color": 1}}));
    refuse::<Outcome>(json!({"answers": {"color": ["red", 1]}}));
    refuse::<Outcome>(json!({"answers": {"color": [["red"]]}}));
    refuse::<Outcome>(json!({"answers": {"color": null}}));
}

#[test]
fn answer_select() {
    let answer = Answer::Select {
        option_id: "allow".into(),
    };
    assert_snapshot!(wire(&answer));
}

#[test]
fn answer_answers() {
    assert_snapshot!(wire(&Answer::Answers { answers: answers() }));
}

#[test]
fn answer_answers_with_a_list() {
    assert_snapshot!(wire(&Answer::Answers {
        answers: answers_with_a_list()
    }));
}

#[test]
fn answer_cancel() {
    assert_snapshot!(wire(&Answer::cancel()));
}

#[test]
fn answer_parses_untagged_shapes() {
    assert_eq!(
        parse::<Answer>(json!({"option_id": "a"})),
        Answer::Select {
            option_id: "a".into()
        }
    );
    assert_eq!(
        parse::<Answer>(json!({"answers": {"color": "blue"}})),
        Answer::Answers {
            answers: BTreeMap::from([("color".to_owned(), "blue".into())])
        }
    );
    assert_eq!(
        parse::<Answer>(json!({"answers": {"checks": ["lint", "Yes, with tests"]}})),
        Answer::Answers {
            answers: BTreeMap::from([(
                "checks".to_owned(),
                AnswerValue::Many(vec!["lint".into(), "Yes, with tests".into()])
            )])
        }
    );
    assert_eq!(
        parse::<Answer>(json!({"cancel": true})),
        Answer::Cancel { cancel: true }
    );
    // Unknown fields are ignored.
    assert_eq!(
        parse::<Answer>(json!({"option_id": "a", "note": "x"})),
        Answer::Select {
            option_id: "a".into()
        }
    );
    refuse::<Answer>(json!({"cancel": false}));
    refuse::<Answer>(json!({}));
    refuse::<Answer>(json!({"option_id": 3}));
    refuse::<Answer>(json!({"cancelled": true}));
    refuse::<Answer>(json!({"answers": {"checks": [1, 2]}}));
    refuse::<Answer>(json!({"answers": {"checks": {"a": true}}}));
}

#[test]
fn answer_values_keep_the_v1_string_shape() {
    // A plain string is exactly the v1 wire value; only a list is new.
    assert_eq!(
        serde_json::to_value(AnswerValue::from("red")).unwrap(),
        json!("red")
    );
    assert_eq!(
        serde_json::to_value(AnswerValue::from(vec!["a, b".to_owned()])).unwrap(),
        json!(["a, b"])
    );
    assert!(AnswerValue::from("").is_empty());
    assert!(AnswerValue::Many(vec![]).is_empty());
}

#[test]
fn an_answer_gives_a_multiple_question_its_choices() {
    let options = ["lint".to_owned(), "Yes, with tests".to_owned()];
    let choices = |answer: AnswerValue| answer.choices(Some(&options));
    // A list as it is, commas inside a choice kept.
    assert_eq!(
        choices(vec!["Yes, with tests".to_owned(), "lint".to_owned()].into()),
        ["Yes, with tests", "lint"]
    );
    // A string that is an option is that one choice.
    assert_eq!(choices("Yes, with tests".into()), ["Yes, with tests"]);
    // Any other string is split on commas, blanks dropped.
    assert_eq!(choices("lint, docs".into()), ["lint", "docs"]);
    assert_eq!(choices(" , ".into()), Vec::<String>::new());
    assert_eq!(
        AnswerValue::from("a, b").choices(None),
        ["a".to_owned(), "b".to_owned()]
    );
}

#[test]
fn answer_into_outcome() {
    assert_eq!(
        Answer::Select {
            option_id: "a".into()
        }
        .into_outcome(),
        Outcome::Selected {
            option_id: "a".into()
        }
    );
    assert_eq!(
        Answer::Answers { answers: answers() }.into_outcome(),
        Outcome::Answered { answers: answers() }
    );
    assert_eq!(Answer::cancel().into_outcome(), Outcome::cancelled());
}

#[test]
fn resolution_body() {
    assert_snapshot!(wire(&resolution()));
}

// ---------------------------------------------------------------------------------------
// Errors

#[test]
fn error_body() {
    let body = ErrorBody::new(ErrorCode::NotFound, "no session 0193a5b2");
    assert_eq!(body.error.resolution, None);
    assert_snapshot!(wire(&body));
}

#[test]
fn error_body_already_resolved() {
    let body = ErrorBody {
        error: ErrorDetail {
            code: ErrorCode::AlreadyResolved,
            message: "prompt p1 is already resolved".into(),
            resolution: Some(resolution()),
        },
    };
    assert_snapshot!(wire(&body));
}

#[test]
fn error_codes_wire_names_and_statuses() {
    let all = [
        (ErrorCode::BadRequest, "bad_request", 400),
        (ErrorCode::Unauthorized, "unauthorized", 401),
        (ErrorCode::Forbidden, "forbidden", 403),
        (ErrorCode::NotFound, "not_found", 404),
        (ErrorCode::Conflict, "conflict", 409),
        (ErrorCode::AlreadyResolved, "already_resolved", 409),
        (ErrorCode::PayloadTooLarge, "payload_too_large", 413),
        (ErrorCode::Unavailable, "unavailable", 503),
        (ErrorCode::Internal, "internal", 500),
    ];
    for (code, name, status) in all {
        assert_eq!(serde_json::to_value(code).unwrap(), json!(name));
        assert_eq!(parse::<ErrorCode>(json!(name)), code);
        assert_eq!(code.http_status(), status);
    }
}

#[test]
fn error_body_refuses_bad_input() {
    refuse::<ErrorBody>(json!({"code": "internal", "message": "not wrapped"}));
    refuse::<ErrorBody>(json!({"error": {"message": "no code"}}));
    refuse::<ErrorBody>(json!({"error": {"code": "internal"}}));
}

// ---------------------------------------------------------------------------------------
// REST bodies

#[test]
fn rest_health() {
    assert_snapshot!(wire(&Health {
        ok: true,
        version: "0.1.0".into(),
        sessions: None,
    }));
    assert_snapshot!(
        "rest_health_sessions",
        wire(&Health {
            ok: true,
            version: "0.1.0".into(),
            sessions: Some(HealthSessions {
                total: 2000,
                live: 1,
                agents: 1,
            }),
        })
    );
}

#[test]
fn rest_agent_list() {
    assert_snapshot!(wire(&AgentList {
        agents: vec![
            AgentInfo {
                id: "demo".into(),
                name: "Demo agent".into(),
                available: true,
                reason: None,
                config: None,
                mode: None,
            },
            AgentInfo {
                id: "claude".into(),
                name: "Claude Code".into(),
                available: false,
                reason: Some("claude-code-acp not found on PATH".into()),
                config: None,
                mode: None,
            },
        ],
    }));
}

#[test]
fn rest_create_session() {
    assert_snapshot!(wire(&CreateSession {
        agent: "demo".into(),
        cwd: Some("/home/me/project".into()),
        title: Some("Fix login".into()),
    }));
}

#[test]
fn rest_create_session_minimal() {
    assert_snapshot!(wire(&CreateSession {
        agent: "demo".into(),
        cwd: None,
        title: None,
    }));
}

#[test]
fn rest_create_session_ignores_unknown_fields_and_needs_agent() {
    assert_eq!(
        parse::<CreateSession>(json!({"agent": "demo", "model": "future"})),
        CreateSession {
            agent: "demo".into(),
            cwd: None,
            title: None,
        }
    );
    refuse::<CreateSession>(json!({"cwd": "/abs"}));
}

#[test]
fn rest_session_list() {
    let mut older = session();
    older.id = "0193a5b2-0000-7000-8000-000000000000".into();
    older.slug = "2026-11-20-older-00000000".into();
    older.status = Status::Stopped;
    older.agent_running = false;
    older.unread = 0;
    older.read_seq = 42;
    let mut newer = session();
    newer.status = Status::AwaitingInput;
    newer.pending_prompts = 1;
    assert_snapshot!(wire(&SessionList {
        sessions: vec![newer, older],
        next: Some("1764680000123456-0193a5b2-0000-7000-8000-000000000000".into()),
    }));
}

#[test]
fn rest_patch_session() {
    assert_snapshot!(wire(&PatchSession {
        title: Some("New title".into()),
        archived: None,
    }));
    assert_snapshot!(
        "rest_patch_session_archive",
        wire(&PatchSession {
            title: None,
            archived: Some(true),
        })
    );
    // Empty is valid JSON for the type; the server refuses it (nothing to change).
    assert_eq!(parse::<PatchSession>(json!({})), PatchSession::default());
    refuse::<PatchSession>(json!({"title": 5}));
    refuse::<PatchSession>(json!({"archive": true}));
}

#[test]
fn rest_start_turn() {
    assert_snapshot!(wire(&StartTurn {
        text: "Fix the login tests".into(),
        queue: false,
        attachments: vec![],
    }));
    let queued: StartTurn =
        serde_json::from_value(json!({"text": "then this", "queue": true})).unwrap();
    assert!(queued.queue);
    refuse::<StartTurn>(json!({}));
    refuse::<StartTurn>(json!({"text": 5}));
}

#[test]
fn rest_turn_accepted() {
    assert_snapshot!(wire(&TurnAccepted {
        turn_id: "t1".into(),
        queued: false,
    }));
}

#[test]
fn rest_events_page() {
    assert_snapshot!(wire(&EventsPage {
        epoch: "e-7f3a".into(),
        last_seq: 4,
        events: vec![
            EventRecord {
                seq: 1,
                first_seq: None,
                ts: t0(),
                event: Event::SessionCreated {
                    agent: "demo".into(),
                    cwd: "/home/me/project".into(),
                    title: "Fix login".into(),
                },
            },
            EventRecord {
                seq: 2,
                first_seq: None,
                ts: t0(),
                event: Event::UserMessage {
                    turn_id: "t1".into(),
                    text: "hi".into(),
                    attachments: vec![],
                },
            },
            EventRecord {
                seq: 4,
                first_seq: Some(3),
                ts: t1(),
                event: Event::AgentMessageChunk {
                    turn_id: "t1".into(),
                    text: "Hello there".into(),
                },
            },
        ],
    }));
}

#[test]
fn rest_events_query() {
    assert_eq!(parse::<EventsQuery>(json!({})), EventsQuery::default());
    assert_eq!(EventsQuery::default().after, 0);
    assert_eq!(
        EventsQuery::default().effective_limit(),
        EVENTS_DEFAULT_LIMIT
    );
    assert_eq!(EVENTS_DEFAULT_LIMIT, 1000);
    assert_eq!(EVENTS_MAX_LIMIT, 5000);
    let q: EventsQuery = parse(json!({"after": 10, "limit": 20}));
    assert_eq!((q.after, q.effective_limit()), (10, 20));
    let q: EventsQuery = parse(json!({"limit": 1_000_000}));
    assert_eq!(q.effective_limit(), EVENTS_MAX_LIMIT);
    refuse::<EventsQuery>(json!({"after": -1}));
}

#[test]
fn rest_prompt_list() {
    assert_snapshot!(wire(&PromptList {
        prompts: vec![
            Prompt::new("0193a5b2", 17, permission_requested()).unwrap(),
            Prompt::new("0193a5b3", 23, question_asked()).unwrap(),
        ],
    }));
}

#[test]
fn rest_prompt_list_empty() {
    assert_snapshot!(wire(&PromptList { prompts: vec![] }));
}

#[test]
fn rest_resolved() {
    assert_snapshot!(wire(&Resolved {
        resolved: resolution(),
    }));
}

#[test]
fn rest_resolved_answers() {
    assert_snapshot!(wire(&Resolved {
        resolved: Resolution {
            prompt_id: "p2".into(),
            outcome: Outcome::Answered { answers: answers() },
            resolved_at: t1(),
        },
    }));
}

#[test]
fn rest_mark_read() {
    assert_snapshot!(wire(&MarkRead { seq: 40 }));
    refuse::<MarkRead>(json!({}));
    refuse::<MarkRead>(json!({"seq": "40"}));
}

// ---------------------------------------------------------------------------------------
// WebSocket: client ops

#[test]
fn op_attach() {
    assert_snapshot!(wire(&ClientOp::Attach {
        id: Some(json!(1)),
        session: "0193a5b2".into(),
        after: 40,
        epoch: Some("e-7f3a".into()),
    }));
}

#[test]
fn op_attach_defaults() {
    let op: ClientOp = serde_json::from_str(r#"{"op":"attach","session":"x"}"#).unwrap();
    assert_eq!(
        op,
        ClientOp::Attach {
            id: None,
            session: "x".into(),
            after: 0,
            epoch: None,
        }
    );
    assert_snapshot!(wire(&op));
}

#[test]
fn op_detach() {
    assert_snapshot!(wire(&ClientOp::Detach {
        id: None,
        session: "0193a5b2".into(),
    }));
}

#[test]
fn op_detach_with_id() {
    assert_snapshot!(wire(&ClientOp::Detach {
        id: Some(json!("d-1")),
        session: "0193a5b2".into(),
    }));
}

#[test]
fn op_ping() {
    let op: ClientOp = parse(json!({"op": "ping"}));
    assert_eq!(op, ClientOp::Ping { id: None });
    assert_snapshot!(wire(&op));
}

#[test]
fn op_ping_with_id() {
    assert_snapshot!(wire(&ClientOp::Ping {
        id: Some(json!("p-9")),
    }));
}

#[test]
fn op_ignores_unknown_fields() {
    assert_eq!(
        parse::<ClientOp>(json!({"op": "detach", "session": "x", "future": true})),
        ClientOp::Detach {
            id: None,
            session: "x".into(),
        }
    );
}

#[test]
fn op_refuses_bad_input() {
    refuse::<ClientOp>(json!({"op": "subscribe", "session": "x"}));
    refuse::<ClientOp>(json!({"op": "Attach", "session": "x"}));
    refuse::<ClientOp>(json!({"session": "x"}));
    refuse::<ClientOp>(json!({"op": "attach"}));
    refuse::<ClientOp>(json!({"op": "attach", "session": "x", "after": -1}));
    refuse::<ClientOp>(json!({"op": "attach", "session": "x", "after": "3"}));
    refuse::<ClientOp>(json!({"op": "detach"}));
    refuse::<ClientOp>(json!(["op", "ping"]));
    assert!(serde_json::from_str::<ClientOp>("not json").is_err());
}

// ---------------------------------------------------------------------------------------
// WebSocket: server frames

#[test]
fn frame_hello() {
    assert_snapshot!(wire(&ServerFrame::Hello {
        epoch: "e-7f3a".into(),
        server_version: "0.1.0".into(),
    }));
}

#[test]
fn frame_attached() {
    assert_snapshot!(wire(&ServerFrame::Attached {
        id: None,
        session: "0193a5b2".into(),
        epoch: "e-7f3a".into(),
        last_seq: 42,
        summary: session(),
    }));
}

#[test]
fn frame_attached_with_id() {
    assert_snapshot!(wire(&ServerFrame::Attached {
        id: Some(json!(1)),
        session: "0193a5b2".into(),
        epoch: "e-7f3a".into(),
        last_seq: 42,
        summary: session(),
    }));
}

#[test]
fn frame_event() {
    assert_snapshot!(wire(&ServerFrame::Event {
        session: "0193a5b2".into(),
        seq: 41,
        first_seq: None,
        ts: t0(),
        event: Event::TurnEnded {
            turn_id: "t1".into(),
            stop_reason: StopReason::Cancelled,
            error: None,
        },
    }));
}

#[test]
fn frame_event_coalesced() {
    let record = EventRecord {
        seq: 12,
        first_seq: Some(8),
        ts: t1(),
        event: Event::AgentMessageChunk {
            turn_id: "t1".into(),
            text: "chunk 1\nchunk 2\nchunk 3\nchunk 4\nchunk 5\n".into(),
        },
    };
    let frame = ServerFrame::event("0193a5b2", record);
    assert_snapshot!(wire(&frame));
}

#[test]
fn frame_reset() {
    assert_snapshot!(wire(&ServerFrame::Reset {
        session: "0193a5b2".into(),
        epoch: "e-7f3a".into(),
    }));
}

#[test]
fn frame_session() {
    assert_snapshot!(wire(&ServerFrame::Session { summary: session() }));
}

#[test]
fn frame_session_deleted() {
    assert_snapshot!(wire(&ServerFrame::SessionDeleted {
        session: "0193a5b2".into(),
    }));
}

#[test]
fn frame_error() {
    assert_snapshot!(wire(&ServerFrame::Error {
        code: ErrorCode::BadRequest,
        message: "unknown op \"subscribe\"".into(),
        id: None,
    }));
}

#[test]
fn frame_error_with_id() {
    assert_snapshot!(wire(&ServerFrame::Error {
        code: ErrorCode::NotFound,
        message: "no session 0193a5b2".into(),
        id: Some(json!(1)),
    }));
}

#[test]
fn frame_pong() {
    assert_snapshot!(wire(&ServerFrame::Pong { id: None }));
}

#[test]
fn frame_pong_with_id() {
    assert_snapshot!(wire(&ServerFrame::Pong {
        id: Some(json!("p-9")),
    }));
}

#[test]
fn frame_refuses_bad_input() {
    refuse::<ServerFrame>(json!({"type": "welcome"}));
    refuse::<ServerFrame>(json!({"epoch": "e", "server_version": "0.1.0"}));
    refuse::<ServerFrame>(json!({"type": "hello", "epoch": "e"}));
    refuse::<ServerFrame>(json!({"type": "reset", "session": "s"}));
    refuse::<ServerFrame>(json!({"type": "error", "code": "oops", "message": "m"}));
}
