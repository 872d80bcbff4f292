//! The agents this server can run. Built by the binary (which reads the config file);
//! the session layer only looks entries up.

use std::path::PathBuf;
use std::sync::Arc;

use berth_agent::{AgentSpec, Launcher, OsLauncher};
use berth_protocol::rest::AgentInfo;

/// One agent the server knows.
#[derive(Debug, Clone)]
pub struct AgentEntry {
    pub id: String,
    pub name: String,
    pub spec: AgentSpec,
    /// How to install the launcher, appended to "not found" reasons.
    pub install: Option<String>,
    /// Working directory of new sessions that name none (default: the session's own
    /// `files/` directory).
    pub default_cwd: Option<PathBuf>,
    /// When set, a session's working directory must lie inside this directory.
    pub cwd_within: Option<PathBuf>,
    /// How its agents are started: [`OsLauncher`] (the spec as a process), or an
    /// in-memory agent in tests.
    pub launcher: Arc<dyn Launcher>,
}

impl AgentEntry {
    /// An entry whose agents are OS processes launched from `spec`.
    pub fn process(id: &str, name: &str, spec: AgentSpec) -> AgentEntry {
        AgentEntry {
            id: id.to_owned(),
            name: name.to_owned(),
            spec,
            install: None,
            default_cwd: None,
            cwd_within: None,
            launcher: Arc::new(OsLauncher),
        }
    }
}

impl AgentEntry {
    /// Whether the launcher can be started now. Checked on every use (not cached), so
    /// installing a launcher while berth runs makes the agent available at once.
    pub fn availability(&self) -> Result<(), String> {
        self.launcher
            .available(&self.spec)
            .map_err(|reason| match &self.install {
                Some(install) => format!("{reason}; install it with `{install}`"),
                None => reason,
            })
    }
}

#[derive(Debug, Clone, Default)]
pub struct AgentCatalog {
    entries: Vec<AgentEntry>,
}

impl AgentCatalog {
    pub fn new(entries: Vec<AgentEntry>) -> Self {
        AgentCatalog { entries }
    }

    pub fn get(&self, id: &str) -> Option<&AgentEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// `GET /agents`: every entry with its availability.
    pub fn infos(&self) -> Vec<AgentInfo> {
        self.entries
            .iter()
            .map(|e| {
                let availability = e.availability();
                AgentInfo {
                    id: e.id.clone(),
                    name: e.name.clone(),
                    available: availability.is_ok(),
                    reason: availability.err(),
                    config: None,
                    mode: None,
                }
            })
            .collect()
    }
}
