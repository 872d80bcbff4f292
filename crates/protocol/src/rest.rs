//! Request and response bodies of the REST API (`/api/v1`).

use serde::{Deserialize, Serialize};

use crate::{EventRecord, Prompt, Resolution, Seq, Session};

/// `GET /health`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Health {
    pub ok: bool,
    pub version: String,
    /// Extension: sessions stored, sessions with an actor now (the rest are cold), and
    /// agent processes running (at most `sessions.max_live_agents`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub sessions: Option<HealthSessions>,
}

/// `Health.sessions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HealthSessions {
    pub total: usize,
    pub live: usize,
    pub agents: usize,
}

/// One entry of `GET /agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AgentInfo {
    pub id: String,
    pub name: String,
    pub available: bool,
    /// Extension: why the agent is not available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub reason: Option<String>,
    /// Extension: what this agent offered to choose in its most recently active
    /// session that said (for a new session's dialog).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub config: Option<crate::AgentConfig>,
    /// Extension: the mode that session was in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AgentList {
    pub agents: Vec<AgentInfo>,
}

/// `POST /sessions`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CreateSession {
    pub agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub title: Option<String>,
}

/// `GET /sessions`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionList {
    pub sessions: Vec<Session>,
    /// Extension: with `limit`, the `before` cursor of the next page; absent on the
    /// last page (and on unpaged calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub next: Option<String>,
}

/// Largest `limit` of `GET /sessions`; larger values are clamped to it.
pub const SESSIONS_MAX_LIMIT: usize = 1000;

/// Query of `GET /sessions` (every field optional; without `limit`, one unpaged list).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionsQuery {
    /// Page size (1 or more; clamped to [`SESSIONS_MAX_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page: sessions after it, newest activity first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub before: Option<String>,
    /// `true`: only archived sessions; default `false`: only sessions not archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub archived: Option<bool>,
    /// Only sessions whose title, slug, agent, preview or id contains this text
    /// (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub q: Option<String>,
}

/// `PATCH /sessions/{id}`: at least one field.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct PatchSession {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub title: Option<String>,
    /// Extension: archive (hide from the default list) or unarchive the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub archived: Option<bool>,
}

/// `POST /sessions/{id}/turns`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StartTurn {
    pub text: String,
    /// Extension: while a turn runs, queue this one to start when it ends (`202` with
    /// `queued: true`) instead of answering `409`. With no turn running it starts now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<bool>"))]
    pub queue: bool,
    /// Extension: upload ids of this session's files to send with the prompt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
}

/// `202` answer to `POST /sessions/{id}/turns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TurnAccepted {
    pub turn_id: String,
    /// Extension: the turn waits behind the running one (`turn_queued`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<bool>"))]
    pub queued: bool,
}

/// Default `limit` of `GET /sessions/{id}/events`.
pub const EVENTS_DEFAULT_LIMIT: usize = 1000;

/// Largest `limit` of `GET /sessions/{id}/events`; larger values are clamped to it.
pub const EVENTS_MAX_LIMIT: usize = 5000;

/// Query of `GET /sessions/{id}/events?after=N&limit=M` (both optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EventsQuery {
    /// Serve events with `seq > after` (default 0: from the start).
    #[serde(default)]
    pub after: Seq,
    /// How many events at most; see [`EventsQuery::effective_limit`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub limit: Option<usize>,
}

impl EventsQuery {
    /// `limit`, defaulting to [`EVENTS_DEFAULT_LIMIT`] and clamped to [`EVENTS_MAX_LIMIT`].
    pub fn effective_limit(&self) -> usize {
        self.limit
            .unwrap_or(EVENTS_DEFAULT_LIMIT)
            .min(EVENTS_MAX_LIMIT)
    }
}

/// `GET /sessions/{id}/events`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EventsPage {
    pub epoch: String,
    pub last_seq: Seq,
    pub events: Vec<EventRecord>,
}

/// `GET /prompts`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PromptList {
    pub prompts: Vec<Prompt>,
}

/// `200` answer to `POST /sessions/{id}/prompts/{prompt_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Resolved {
    pub resolved: Resolution,
}

/// `POST /sessions/{id}/read`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MarkRead {
    pub seq: Seq,
}

/// Extension: `PATCH /sessions/{id}/config`: `{"mode": "<id>"}` or
/// `{"option": "<id>", "value": "<value id>" | true | false}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct PatchConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub option: Option<String>,
    /// Read as given, so a value of the wrong type is named rather than refused as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<crate::OptionValue>"))]
    pub value: Option<serde_json::Value>,
}

impl PatchConfig {
    /// The change this body asks for, or what is wrong with it.
    pub fn change(self) -> Result<crate::ConfigChange, String> {
        use crate::{ConfigChange, OptionValue};
        match (self.mode, self.option, self.value) {
            (Some(mode), None, None) => Ok(ConfigChange::Mode { mode }),
            (None, Some(option), Some(value)) => {
                let value = match value {
                    serde_json::Value::Bool(flag) => OptionValue::Flag(flag),
                    serde_json::Value::String(id) => OptionValue::Id(id),
                    other => {
                        return Err(format!(
                            "`value` of option `{option}` must be a value id (a string) or \
                             true/false, not {other}"
                        ));
                    }
                };
                Ok(ConfigChange::Option { option, value })
            }
            (None, Some(option), None) => Err(format!("option `{option}` needs a `value`")),
            (None, None, _) => Err("give `mode`, or `option` with `value`".into()),
            (Some(_), _, _) => Err("give `mode`, or `option` with `value`, not both".into()),
        }
    }
}
