//! Events: the immutable entries of a session's log.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Seq, Timestamp};

/// One log entry as served by REST (`GET …/events`): the event plus where it sits.
///
/// `first_seq`, when present, says the entry covers `first_seq..=seq` (coalesced chunks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub seq: Seq,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<Seq>,
    pub ts: Timestamp,
    pub event: Event,
}

/// The `event` object: what happened, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    SessionCreated {
        agent: String,
        cwd: String,
        title: String,
    },
    UserMessage {
        turn_id: String,
        text: String,
    },
    TurnStarted {
        turn_id: String,
    },
    AgentMessageChunk {
        turn_id: String,
        text: String,
    },
    AgentThoughtChunk {
        turn_id: String,
        text: String,
    },
    ToolCall {
        turn_id: String,
        tool_call_id: String,
        title: String,
        tool_kind: String,
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Value>,
        /// Extension: files the tool touches (`[{"path", "line"?}]`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        locations: Option<Value>,
    },
    ToolCallUpdate {
        turn_id: String,
        tool_call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Value>,
        /// Extension: a new title, when the agent renames the call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Extension: updated locations.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        locations: Option<Value>,
    },
    Plan {
        turn_id: String,
        entries: Vec<PlanEntry>,
    },
    PermissionRequested {
        turn_id: String,
        prompt_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_call_id: Option<String>,
        title: String,
        options: Vec<PermissionOption>,
    },
    QuestionAsked {
        turn_id: String,
        prompt_id: String,
        message: String,
        questions: Vec<Question>,
    },
    PromptResolved {
        prompt_id: String,
        outcome: crate::Outcome,
    },
    Usage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn_id: Option<String>,
        used_tokens: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context_size: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost: Option<Value>,
    },
    TurnEnded {
        turn_id: String,
        stop_reason: StopReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    AgentStarted {
        pid: u32,
    },
    AgentExited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    TitleChanged {
        title: String,
    },
    Error {
        message: String,
    },
}

impl Event {
    /// The wire name of this event's kind (the `kind` tag, also the store's `kind` column).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::SessionCreated { .. } => "session_created",
            Event::UserMessage { .. } => "user_message",
            Event::TurnStarted { .. } => "turn_started",
            Event::AgentMessageChunk { .. } => "agent_message_chunk",
            Event::AgentThoughtChunk { .. } => "agent_thought_chunk",
            Event::ToolCall { .. } => "tool_call",
            Event::ToolCallUpdate { .. } => "tool_call_update",
            Event::Plan { .. } => "plan",
            Event::PermissionRequested { .. } => "permission_requested",
            Event::QuestionAsked { .. } => "question_asked",
            Event::PromptResolved { .. } => "prompt_resolved",
            Event::Usage { .. } => "usage",
            Event::TurnEnded { .. } => "turn_ended",
            Event::AgentStarted { .. } => "agent_started",
            Event::AgentExited { .. } => "agent_exited",
            Event::TitleChanged { .. } => "title_changed",
            Event::Error { .. } => "error",
        }
    }

    /// For chunk events, `(is_thought, turn_id, text)`: the only events that may coalesce.
    pub fn as_chunk(&self) -> Option<(bool, &str, &str)> {
        match self {
            Event::AgentMessageChunk { turn_id, text } => Some((false, turn_id, text)),
            Event::AgentThoughtChunk { turn_id, text } => Some((true, turn_id, text)),
            _ => None,
        }
    }

    /// The prompt id if this event asks a human something.
    pub fn asked_prompt_id(&self) -> Option<&str> {
        match self {
            Event::PermissionRequested { prompt_id, .. }
            | Event::QuestionAsked { prompt_id, .. } => Some(prompt_id),
            _ => None,
        }
    }
}

/// Why a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    Cancelled,
    Error,
    MaxTokens,
    Refusal,
}

/// One entry of an agent's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEntry {
    pub content: String,
    pub status: String,
    pub priority: String,
}

/// One choice offered by a permission request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermissionOption {
    pub option_id: String,
    pub name: String,
    pub kind: PermissionOptionKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionOptionKind {
    AllowOnce,
    AllowAlways,
    RejectOnce,
    RejectAlways,
}

/// One question of a `question_asked` form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub question: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    #[serde(default)]
    pub free_text: bool,
}
