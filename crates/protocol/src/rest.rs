//! Request and response bodies of the REST API (`/api/v1`).

use serde::{Deserialize, Serialize};

use crate::{EventRecord, Prompt, Resolution, Seq, Session};

/// `GET /health`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub ok: bool,
    pub version: String,
}

/// One entry of `GET /agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub id: String,
    pub name: String,
    pub available: bool,
    /// Extension: why the agent is not available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentList {
    pub agents: Vec<AgentInfo>,
}

/// `POST /sessions`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    pub agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// `GET /sessions`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionList {
    pub sessions: Vec<Session>,
}

/// `PATCH /sessions/{id}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchSession {
    pub title: String,
}

/// `POST /sessions/{id}/turns`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartTurn {
    pub text: String,
}

/// `202` answer to `POST /sessions/{id}/turns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnAccepted {
    pub turn_id: String,
}

/// `GET /sessions/{id}/events`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsPage {
    pub epoch: String,
    pub last_seq: Seq,
    pub events: Vec<EventRecord>,
}

/// `GET /prompts`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptList {
    pub prompts: Vec<Prompt>,
}

/// `200` answer to `POST /sessions/{id}/prompts/{prompt_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    pub resolved: Resolution,
}

/// `POST /sessions/{id}/read`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkRead {
    pub seq: Seq,
}
