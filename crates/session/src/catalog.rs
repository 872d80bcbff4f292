//! The agents this server can run. Built by the binary (which reads config and PATH);
//! the session layer only looks entries up.

use berth_agent::AgentSpec;
use berth_protocol::rest::AgentInfo;

/// One agent the server knows.
#[derive(Debug, Clone)]
pub struct AgentEntry {
    pub id: String,
    pub name: String,
    pub spec: AgentSpec,
    /// `Err(reason)` when the launcher cannot be used (e.g. not found on PATH).
    pub availability: Result<(), String>,
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
            .map(|e| AgentInfo {
                id: e.id.clone(),
                name: e.name.clone(),
                available: e.availability.is_ok(),
                reason: e.availability.clone().err(),
            })
            .collect()
    }
}
