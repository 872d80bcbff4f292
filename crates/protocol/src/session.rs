//! The session summary that drives every sidebar.

use serde::{Deserialize, Serialize};

use crate::{AgentCommand, Seq, Timestamp};

/// A session's runtime status, owned by its actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The agent process is being launched for a turn.
    Starting,
    /// No turn running.
    Idle,
    /// A turn runs.
    Running,
    /// A turn runs and waits on at least one prompt.
    AwaitingInput,
    /// The last turn ended in error or the agent failed; prompts are still accepted.
    Error,
    /// The user stopped the agent process (`POST /stop`); a prompt starts it again.
    Stopped,
}

/// `Session`: the summary of one session, as REST returns it and `session` frames carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Session {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub agent: String,
    pub cwd: String,
    pub status: Status,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_seq: Seq,
    pub read_seq: Seq,
    pub unread: u64,
    pub pending_prompts: u32,
    pub viewers: u32,
    pub agent_running: bool,
    /// Extension: the agent's slash commands (its last `available_commands_update`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<AgentCommand>,
    /// Extension: the last line of the latest user message or agent reply (at most 120
    /// characters and an ellipsis), for sidebars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub preview: Option<String>,
    /// Extension: archived sessions are left out of `GET /sessions` unless asked for
    /// (`?archived=true`); their log and directory are kept.
    #[serde(default)]
    pub archived: bool,
    /// Extension: the agent's current mode id (its last `current_mode_update`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub mode: Option<String>,
    /// Extension: the agent's last `usage` report (tokens in its context, and the
    /// session's cost so far where the agent says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub usage: Option<Usage>,
    /// Extension: what the agent offered to choose when it last said (its last
    /// `config_changed`); kept while the agent is not running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub config: Option<crate::AgentConfig>,
    /// Extension: changes asked for while the agent was not running, applied when it
    /// next starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_config: Vec<crate::ConfigChange>,
    /// Extension: turns waiting behind the running one, in the order they will run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queued: Vec<QueuedTurn>,
}

/// A queued turn as the summary lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct QueuedTurn {
    pub turn_id: String,
    /// Its text's first 200 characters (and an ellipsis); the log has all of it.
    pub preview: String,
}

/// What an agent last reported of a session's usage (ACP `usage_update`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Usage {
    /// Tokens in the context now.
    pub used_tokens: u64,
    /// The context window, where the agent says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub context_size: Option<u64>,
    /// The session's cost so far, where the agent says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub cost: Option<Cost>,
}

/// An amount of money (ACP `Cost`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Cost {
    pub amount: f64,
    /// ISO 4217, e.g. `USD`.
    pub currency: String,
}

impl Usage {
    /// The summary's form of a `usage` event; `None` for any other event. A `cost` the
    /// agent shaped otherwise than ACP's `{amount, currency}` is left out (the event
    /// keeps it as sent).
    pub fn of_event(event: &crate::Event) -> Option<Usage> {
        let crate::Event::Usage {
            used_tokens,
            context_size,
            cost,
            ..
        } = event
        else {
            return None;
        };
        Some(Usage {
            used_tokens: *used_tokens,
            context_size: *context_size,
            cost: cost.as_ref().and_then(|cost| Cost::deserialize(cost).ok()),
        })
    }
}
