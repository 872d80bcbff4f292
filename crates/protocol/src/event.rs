//! Events: the immutable entries of a session's log.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Seq, Timestamp};

/// One log entry as served by REST (`GET …/events`): the event plus where it sits.
///
/// `first_seq`, when present, says the entry covers `first_seq..=seq` (coalesced chunks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EventRecord {
    pub seq: Seq,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub first_seq: Option<Seq>,
    pub ts: Timestamp,
    pub event: Event,
}

/// The `event` object: what happened, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
        /// Extension: the files sent with the prompt (`POST …/uploads`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<Attachment>,
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
        #[cfg_attr(feature = "ts", ts(optional))]
        input: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        content: Option<Value>,
        /// Extension: files the tool touches (`[{"path", "line"?}]`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        locations: Option<Value>,
    },
    ToolCallUpdate {
        turn_id: String,
        tool_call_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        status: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        content: Option<Value>,
        /// Extension: a new title, when the agent renames the call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        title: Option<String>,
        /// Extension: the tool's input, when the agent sends it only now.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        input: Option<Value>,
        /// Extension: updated locations.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
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
        #[cfg_attr(feature = "ts", ts(optional))]
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
        #[cfg_attr(feature = "ts", ts(optional))]
        turn_id: Option<String>,
        used_tokens: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        context_size: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        cost: Option<Value>,
    },
    TurnEnded {
        turn_id: String,
        stop_reason: StopReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        error: Option<String>,
    },
    AgentStarted {
        pid: u32,
        /// Extension: how the agent's conversation was obtained (`new`, `resumed`, `loaded`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        session_origin: Option<SessionOrigin>,
        /// Extension: what the agent said about itself in `initialize`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        capabilities: Option<AgentCapabilities>,
    },
    AgentExited {
        code: Option<i32>,
        signal: Option<i32>,
        /// Extension: why berth stopped the agent (absent: it exited on its own).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        reason: Option<ExitReason>,
    },
    TitleChanged {
        title: String,
    },
    Error {
        message: String,
    },
    /// Extension: something the user should know that is not an error (e.g. the agent
    /// could not resume its conversation and started a new one).
    Notice {
        message: String,
    },
    /// Extension: the agent's slash commands changed (ACP `available_commands_update`).
    CommandsChanged {
        commands: Vec<AgentCommand>,
    },
    /// Extension: the agent's mode changed (ACP `current_mode_update`).
    ModeChanged {
        mode_id: String,
    },
    /// Extension: what the agent offers to choose (its modes and config options, each
    /// with its current value), whenever that changes.
    ConfigChanged {
        config: crate::AgentConfig,
    },
    /// Extension: the changes a user asked for while the agent was not running, applied
    /// when it next starts (the whole list each time; empty once applied).
    ConfigPending {
        pending: Vec<crate::ConfigChange>,
    },
    /// Extension: a prompt sent with `queue` while a turn ran; it starts (with its
    /// `user_message` and `turn_started`, same `turn_id`) when the turns before it end.
    TurnQueued {
        turn_id: String,
        text: String,
    },
    /// Extension: a queued turn left the queue without starting.
    TurnUnqueued {
        turn_id: String,
        reason: UnqueueReason,
    },
    /// Extension: a `session/update` berth has no event kind for, kept as the agent
    /// sent it (`update` holds the ACP object, `sessionUpdate` included).
    AgentUpdate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        turn_id: Option<String>,
        update: Value,
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
            Event::Notice { .. } => "notice",
            Event::CommandsChanged { .. } => "commands_changed",
            Event::ModeChanged { .. } => "mode_changed",
            Event::ConfigChanged { .. } => "config_changed",
            Event::ConfigPending { .. } => "config_pending",
            Event::TurnQueued { .. } => "turn_queued",
            Event::TurnUnqueued { .. } => "turn_unqueued",
            Event::AgentUpdate { .. } => "agent_update",
        }
    }

    /// A message chunk, or a thought chunk if `thought`: the inverse of `as_chunk`.
    pub fn chunk(thought: bool, turn_id: String, text: String) -> Event {
        if thought {
            Event::AgentThoughtChunk { turn_id, text }
        } else {
            Event::AgentMessageChunk { turn_id, text }
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
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    Cancelled,
    Error,
    MaxTokens,
    Refusal,
}

/// A file a user uploaded to a session to send with a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Attachment {
    /// The upload id (`POST /sessions/{id}/uploads` answers it).
    pub id: String,
    /// The file name as stored (the given name, made safe for a file system).
    pub name: String,
    pub mime_type: String,
    pub size: u64,
}

/// Why a queued turn never started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum UnqueueReason {
    /// A user removed it (`DELETE /sessions/{id}/turns/{turn_id}`).
    Removed,
    /// The turn before it was cancelled or stopped (or never finished: the server or
    /// session host went away mid-turn), and the queue with it.
    Cancelled,
}

/// Why berth stopped an agent process (`agent_exited.reason`). A session whose agent
/// was stopped for `idle` or `limit` stays `idle`; `user` leaves it `stopped`. The next
/// prompt starts the agent again and continues the same conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// No turn ran for `sessions.agent_idle_secs`.
    Idle,
    /// Another session needed an agent while `sessions.max_live_agents` were running:
    /// the least recently used idle one was stopped.
    Limit,
    /// `POST /sessions/{id}/stop` (or `berth stop`).
    User,
}

/// How an agent process came by its conversation when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SessionOrigin {
    /// A new conversation (`session/new`): the first start, or nothing to resume.
    New,
    /// The previous conversation continued (`session/resume`).
    Resumed,
    /// The previous conversation reloaded (`session/load`; its replay is not logged twice).
    Loaded,
}

/// What an agent declared in `initialize`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AgentCapabilities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub version: Option<String>,
    /// `loadSession`: the agent can replay an earlier conversation.
    #[serde(default)]
    pub load_session: bool,
    /// `sessionCapabilities.resume`: the agent can continue one without replay.
    #[serde(default)]
    pub resume: bool,
    /// Prompt capabilities: content beyond text the agent accepts.
    #[serde(default)]
    pub image: bool,
    #[serde(default)]
    pub audio: bool,
    #[serde(default)]
    pub embedded_context: bool,
}

/// One slash command an agent offers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AgentCommand {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// What to type after the command, when it takes input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub hint: Option<String>,
}

/// One entry of an agent's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PlanEntry {
    pub content: String,
    pub status: String,
    pub priority: String,
}

/// One choice offered by a permission request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PermissionOption {
    pub option_id: String,
    pub name: String,
    pub kind: PermissionOptionKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PermissionOptionKind {
    AllowOnce,
    AllowAlways,
    RejectOnce,
    RejectAlways,
}

/// One question of a `question_asked` form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Question {
    pub id: String,
    pub question: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub options: Option<Vec<String>>,
    #[serde(default)]
    pub free_text: bool,
    /// Extension: the question may be left unanswered (the form does not require it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub optional: bool,
    /// Extension: several choices may be given (a multi-select field); its answer is a
    /// list of strings (a single string counts as one choice).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub multiple: bool,
}
