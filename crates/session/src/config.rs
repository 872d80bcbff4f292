//! Tunables of the session layer. The binary fills them from config, env and flags.

use std::path::PathBuf;
use std::time::Duration;

/// Serialisable: a session host gets the server's copy on its stdin.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SessionConfig {
    /// Root of per-session artifact directories: `<data_dir>/sessions/<slug>/`.
    pub data_dir: PathBuf,
    /// Bounded request queue of each session actor.
    pub command_queue: usize,
    /// Bounded queue between an agent link and its actor.
    pub agent_queue: usize,
    /// Live broadcast ring per session (allocated up front, so kept small: every stored
    /// session has one). A viewport further behind falls back to the store.
    pub live_buffer: usize,
    /// Events read from the store per replay step.
    pub replay_page: usize,
    /// Most live events handed to a viewport in one batch.
    pub live_batch: usize,
    /// Most agent events folded into one commit by the actor.
    pub commit_batch: usize,
    /// After `cancel`, how long the agent has to end the turn before its process group is killed.
    pub cancel_grace: Duration,
    /// How long an agent may take to start (handshake answered).
    pub agent_start_timeout: Duration,
    /// Between SIGTERM and SIGKILL when stopping an agent.
    pub kill_grace: Duration,
    /// Opt-in: pending prompts older than this are resolved as cancelled. `None`: wait forever.
    pub prompt_timeout: Option<Duration>,
    /// Minimum spacing of summary frames that only move `last_seq`/`unread`.
    pub summary_interval: Duration,
    /// Most agent processes running at once (0: no limit); one more stops the least
    /// recently used idle agent.
    pub max_live_agents: usize,
    /// An agent with no turn for this long is stopped. `None`: never.
    pub agent_idle: Option<Duration>,
    /// An actor with no agent, no turn and no request for this long hibernates (its
    /// session goes cold).
    pub actor_linger: Duration,
    /// Where live sessions run: in this process, or each in a session host started
    /// from this program (`<program> host <id>`; see `host`).
    pub placement: Placement,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Actors run as tasks of the server: a server restart closes their turns.
    InProcess,
    /// Each live session runs in a `berth host` process started from `program`.
    Hosts { program: PathBuf },
}

impl SessionConfig {
    /// Defaults of ARCHITECTURE.md §5 for a given data directory.
    pub fn new(data_dir: PathBuf) -> Self {
        SessionConfig {
            data_dir,
            command_queue: 64,
            agent_queue: 1024,
            live_buffer: 512,
            replay_page: 1000,
            live_batch: 512,
            commit_batch: 1024,
            cancel_grace: Duration::from_secs(5),
            agent_start_timeout: Duration::from_secs(120),
            kill_grace: Duration::from_secs(2),
            prompt_timeout: None,
            summary_interval: Duration::from_millis(100),
            max_live_agents: 8,
            agent_idle: Some(Duration::from_secs(900)),
            actor_linger: Duration::from_secs(10),
            placement: Placement::InProcess,
        }
    }
}
