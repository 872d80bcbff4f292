//! Session hosts: each live session in a small process of its own (`berth host <id>`),
//! so a running turn, its pending prompts and its agent outlive a crash, restart or
//! upgrade of the server (after tmux: the part that holds the agents is small and
//! long-lived; the part users upgrade is not).
//!
//! - `serve`: the host side: lease, its own `Store` on the same SQLite file, the session
//!   actor and agent link unchanged, the socket a server drives it through;
//! - `proxy`: the server side: a task behind the session's `SessionHandle` that speaks
//!   to the host and turns its frames back into what an in-process actor gives (replies,
//!   committed events on the session's hub, summaries);
//! - `launch`: starting a host and connecting to one (the handshake);
//! - `slots`: `max_live_agents` asked of the server's table across the connection;
//! - `stop`: stopping the hosts no server drives (`berth stop --all`);
//! - [`lease`]: which hosts are alive (an `flock`, not a pid);
//! - [`wire`]: the versioned frames between the two and the compatibility rule.
//!
//! The shape, the files and what survives what are in docs/ARCHITECTURE.md ("Session
//! hosts").

pub(crate) mod launch;
pub mod lease;
pub(crate) mod proxy;
mod serve;
pub(crate) mod slots;
mod stop;
pub mod wire;

use std::path::PathBuf;

use berth_agent::AgentSpec;
use berth_protocol::Session;
use berth_store::StoreConfig;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::handle::Message;
use crate::registry::Hibernation;
use crate::{AgentEntry, SessionConfig};

pub use serve::serve;
pub use stop::stop_unserved;

/// Everything a host needs, sent by the server on the host's stdin as one JSON line and
/// never written to disk: the agent's environment may hold API keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostSpec {
    pub session_id: String,
    pub store: StoreConfig,
    pub config: SessionConfig,
    /// The session's agent as the server's catalog has it (`None`: not configured).
    pub agent: Option<HostAgent>,
}

/// An [`AgentEntry`] without its launcher: a host launches agents as OS processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostAgent {
    pub id: String,
    pub name: String,
    pub spec: AgentSpec,
    pub install: Option<String>,
    pub default_cwd: Option<PathBuf>,
    pub cwd_within: Option<PathBuf>,
}

impl HostAgent {
    pub(crate) fn of(entry: &AgentEntry) -> HostAgent {
        HostAgent {
            id: entry.id.clone(),
            name: entry.name.clone(),
            spec: entry.spec.clone(),
            install: entry.install.clone(),
            default_cwd: entry.default_cwd.clone(),
            cwd_within: entry.cwd_within.clone(),
        }
    }

    fn entry(self) -> AgentEntry {
        AgentEntry {
            install: self.install,
            default_cwd: self.default_cwd,
            cwd_within: self.cwd_within,
            ..AgentEntry::process(&self.id, &self.name, self.spec)
        }
    }
}

/// The socket of a host, in its session's directory.
pub(crate) const SOCKET: &str = "host.sock";

/// What a host's actor does when its session goes cold: stop taking requests and tell
/// the host (which says `bye` to its server and exits).
pub(crate) struct HostHome {
    pub(crate) bye: watch::Sender<Option<Session>>,
}

impl HostHome {
    pub(crate) fn hibernate(
        &self,
        rx: &mut mpsc::Receiver<Message>,
        summary: Session,
    ) -> Hibernation {
        if !rx.is_empty() {
            return Hibernation::Busy;
        }
        // Requests that race this are handed back unhandled (`not_sent`) and the server
        // sends them to the session's next host.
        rx.close();
        self.bye.send_replace(Some(summary));
        Hibernation::Slept
    }
}
