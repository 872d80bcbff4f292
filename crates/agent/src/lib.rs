//! berth's agent link: spawns and supervises one agent process and speaks ACP to it;
//! plus the built-in demo agent (`berth agent demo`).
//!
//! API contract (the session crate is written against exactly this):
//! - [`AgentLink::start`] spawns the process (argv only, `env_clear` + the given
//!   environment, own process group, stdin/stdout piped, stderr appended to a log file),
//!   runs `initialize` (advertising `fs.readTextFile`, `fs.writeTextFile` and
//!   `elicitation.form`) and `session/new` with the cwd, and returns the link.
//! - Everything the agent does arrives, in order, as [`AgentEvent`]s on the channel
//!   given to `start`. A turn's completion ([`AgentEvent::TurnDone`]) arrives after
//!   every update the agent sent before answering `session/prompt`.
//! - Garbage on the agent's stdout is logged and skipped, never fatal to the server.

use std::path::PathBuf;

use berth_protocol::{Event, Outcome, PermissionOption, Question, StopReason};
use tokio::sync::{mpsc, oneshot};

pub mod demo;

/// How to launch one agent.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// Program path or name (resolved on PATH of `env`). Never a shell string.
    pub program: String,
    pub args: Vec<String>,
    /// The COMPLETE environment of the process (the caller applies its allow-list).
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub spec: AgentSpec,
    /// The session's working directory; `fs/*` requests are confined to it.
    pub cwd: PathBuf,
    /// The agent's stderr is appended here (parent directory created if missing).
    pub stderr_log: PathBuf,
}

/// What the agent did, in order.
#[derive(Debug)]
pub enum AgentEvent {
    /// A `session/update`, translated into a berth event stamped with the current turn id.
    Update(Event),
    /// `session/request_permission`. Answer through `reply` (dropping it = cancelled).
    Permission {
        tool_call_id: Option<String>,
        title: String,
        options: Vec<PermissionOption>,
        reply: oneshot::Sender<Outcome>,
    },
    /// `elicitation/create` in form mode. Answer through `reply` (dropping it = cancelled).
    Question {
        message: String,
        questions: Vec<Question>,
        reply: oneshot::Sender<Outcome>,
    },
    /// The answer to `session/prompt` for `turn_id`, or why there was none.
    TurnDone {
        turn_id: String,
        result: Result<StopReason, String>,
    },
    /// The process exited (after its stdout closed or it was killed).
    Exited { code: Option<i32>, signal: Option<i32> },
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("failed to start agent `{program}`: {reason}")]
    Spawn { program: String, reason: String },
    #[error("agent handshake failed: {0}")]
    Handshake(String),
    #[error("agent process is gone")]
    Gone,
}

/// A live agent process with one ACP session. Cheap to clone; dropping the last clone
/// does NOT kill the process: call [`AgentLink::kill`].
#[derive(Clone)]
pub struct AgentLink {/* private */}

impl AgentLink {
    pub async fn start(config: LinkConfig, events: mpsc::Sender<AgentEvent>) -> Result<AgentLink, AgentError> {
        unimplemented!()
    }

    pub fn pid(&self) -> u32 {
        unimplemented!()
    }

    /// The agent's own session id (ACP `sessionId`).
    pub fn agent_session_id(&self) -> String {
        unimplemented!()
    }

    /// Send `session/prompt`; returns at once. Completion arrives as `TurnDone`.
    pub fn prompt(&self, turn_id: &str, text: &str) -> Result<(), AgentError> {
        unimplemented!()
    }

    /// Send `session/cancel` (a notification).
    pub fn cancel(&self) -> Result<(), AgentError> {
        unimplemented!()
    }

    /// SIGTERM the process group, then SIGKILL after `grace`. `Exited` follows.
    pub async fn kill(&self, grace: std::time::Duration) {
        unimplemented!()
    }
}
