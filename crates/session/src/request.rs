//! What a session actor is asked and what it answers.
//!
//! Requests and responses are plain serialisable data (commands in, committed events
//! out) so the actor can later live in a keeper process of its own; only `attach`,
//! which hands back a live receiver, is an in-process affair (see `SessionHandle::attach`).

use berth_protocol::{Answer, Attachment, ConfigChange, Prompt, Resolution, Seq, Session};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Start a turn with this user text; with `queue`, wait behind a running one.
    Prompt {
        text: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        queue: bool,
        /// The session's uploads to send with it (checked by the registry).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<Attachment>,
    },
    /// Take a queued turn out of the queue.
    Unqueue {
        turn_id: String,
    },
    /// Cancel the running turn.
    Cancel,
    /// Answer a pending prompt.
    Respond {
        prompt_id: String,
        answer: Answer,
    },
    /// Move the read cursor forward.
    MarkRead {
        seq: Seq,
    },
    Rename {
        title: String,
    },
    /// List pending prompts.
    PendingPrompts,
    /// Change a mode or config option: through the agent if it runs, else kept and
    /// applied when it next starts.
    Configure {
        change: ConfigChange,
    },
    /// Archive (hide from the default list) or unarchive.
    SetArchived {
        archived: bool,
    },
    /// Stop the agent (the running turn ends cancelled); the session shows `stopped`.
    Stop,
    /// Stop the agent and remove the session with its log.
    Delete,
    /// Close any running turn, stop the agent and end the actor (server shutdown).
    Shutdown,
    /// The server is stopping but the session's host stays: stop the agent if it is
    /// idle; a running turn and its pending prompts carry on without a server.
    Detach,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    TurnStarted {
        turn_id: String,
    },
    /// The turn waits behind the running one.
    TurnQueued {
        turn_id: String,
    },
    Done,
    Resolved {
        resolution: Resolution,
    },
    Summary {
        summary: Box<Session>,
    },
    Prompts {
        prompts: Vec<Prompt>,
    },
    /// `applied`: the agent agreed; otherwise the change waits for the agent to start.
    Configured {
        summary: Box<Session>,
        applied: bool,
    },
}
