//! The agent catalog this server offers, and the environment agents get.

use berth_agent::AgentSpec;
use berth_session::{AgentCatalog, AgentEntry};

/// Variables an agent process inherits; everything else is withheld (secrets of the
/// server's environment stay out, and some launchers misbehave with a full one).
pub const ENV_ALLOWLIST: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
    "TERM",
];

/// The environment given to agent processes: the allow-listed part of ours.
pub fn agent_env() -> Vec<(String, String)> {
    ENV_ALLOWLIST
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// The built-in catalog: the demo agent, run as `<this binary> agent demo`.
pub fn catalog() -> anyhow::Result<AgentCatalog> {
    let exe = std::env::current_exe()?;
    let demo = AgentEntry {
        id: "demo".into(),
        name: "Demo agent (built in)".into(),
        spec: AgentSpec {
            program: exe.to_string_lossy().into_owned(),
            args: vec!["agent".into(), "demo".into()],
            env: agent_env(),
        },
        availability: Ok(()),
    };
    Ok(AgentCatalog::new(vec![demo]))
}
