//! The config file (`$XDG_CONFIG_HOME/berth/config.toml`, or `--config`): every default
//! of ARCHITECTURE.md §5 lives in the `Default` impls below, and nowhere else. Layers,
//! last wins: these defaults, the file, `BERTH_*` environment variables, flags (the last
//! two are applied by `serve` from clap, which reads both).
//!
//! The `[agents.<id>]` tables form the agent registry together with the built-in
//! entries of [`crate::agents`]: a table with a built-in id changes only the fields it
//! sets; any other id adds an agent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerSection,
    pub storage: StorageSection,
    pub sessions: SessionsSection,
    pub agent_env: AgentEnvSection,
    /// The agent registry's entries by id (merged over the built-in ones).
    pub agents: BTreeMap<String, AgentSection>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// Extra host names allowed in `Host`/`Origin` (a reverse proxy's public name).
    pub allowed_hosts: Vec<String>,
    /// Seconds a viewport's socket may accept nothing before it is disconnected.
    pub write_timeout_secs: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            host: "127.0.0.1".into(),
            port: 7878,
            allowed_hosts: Vec::new(),
            write_timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSection {
    /// Data directory; unset: `$XDG_DATA_HOME/berth` (`~/.local/share/berth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// SQLite `synchronous`: off, normal, full or extra.
    pub synchronous: String,
    /// Most events folded into one store commit.
    pub max_batch: usize,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            data_dir: None,
            synchronous: "full".into(),
            max_batch: 512,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsSection {
    /// Seconds after `cancel` before a slow agent's process group is killed.
    pub cancel_grace_secs: u64,
    /// Seconds between SIGTERM and SIGKILL when an agent is stopped.
    pub kill_grace_secs: u64,
    /// Seconds an agent may take to start (answer `initialize` and open its session);
    /// generous, as some launchers download the agent on first use.
    pub agent_start_timeout_secs: u64,
    /// Resolve prompts unanswered for this many seconds as cancelled; unset: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_timeout_secs: Option<u64>,
    /// Live events kept per session for viewports that fall a little behind.
    pub live_buffer: usize,
    /// Most agent processes running at once (0: no limit). Starting one more stops the
    /// least recently used idle agent (`agent_exited` with reason `limit`).
    pub max_live_agents: usize,
    /// Seconds an agent may sit with no turn before it is stopped (reason `idle`; the
    /// next prompt starts it again and continues the conversation). 0: never.
    pub agent_idle_secs: u64,
    /// Run each live session in a session host (`berth host`) that outlives the server:
    /// a restart, crash or upgrade of `berth serve` does not end its turn.
    pub hosts: bool,
    /// Largest file a user may upload to send with a prompt, in MiB (over it: `413`).
    pub upload_max_mib: u64,
}

impl Default for SessionsSection {
    fn default() -> Self {
        SessionsSection {
            cancel_grace_secs: 5,
            kill_grace_secs: 2,
            agent_start_timeout_secs: 120,
            prompt_timeout_secs: None,
            live_buffer: 512,
            max_live_agents: 8,
            agent_idle_secs: 900,
            hosts: true,
            upload_max_mib: berth_server::config::UPLOAD_MAX_MIB,
        }
    }
}

/// Which of the server's environment variables every agent inherits. Everything else is
/// withheld: the server's secrets stay out, and some launchers misbehave with a full
/// environment (claude-agent-acp did, run as root).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentEnvSection {
    pub allow: Vec<String>,
}

impl Default for AgentEnvSection {
    fn default() -> Self {
        let allow = [
            "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
            "TMPDIR", "TERM",
        ];
        AgentEnvSection {
            allow: allow.iter().map(|name| name.to_string()).collect(),
        }
    }
}

/// One `[agents.<id>]` table. Every field is optional so a table can adjust a built-in
/// entry (say, only its `env`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSection {
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Program: a name looked up on the agent's PATH, or a path. Never a shell string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Variables set for this agent only (they win over inherited ones).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Extra server variables this agent inherits (e.g. its API key).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_allow: Vec<String>,
    /// Working directory of new sessions that name none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// When set, sessions of this agent may only work inside this directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd_within: Option<PathBuf>,
    /// How to install the launcher (shown when it is missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
    /// `false` hides the agent (a built-in one included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

impl Config {
    /// The file at `explicit` (which must exist), else the default path if it exists,
    /// else the defaults.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => match default_path() {
                Some(path) if path.exists() => path,
                _ => return Ok(Config::default()),
            },
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the config file {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("in the config file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text)?;
        for (id, agent) in &config.agents {
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
            {
                anyhow::bail!("agent id `{id}` must be letters, digits, `-` or `_`");
            }
            match agent.command.as_deref() {
                Some(command) if command.trim().is_empty() => {
                    anyhow::bail!("agents.{id}.command is empty");
                }
                // A relative path would mean different files to berth and to the agent
                // (which runs in the session's directory).
                Some(command) if command.contains('/') && !Path::new(command).is_absolute() => {
                    anyhow::bail!(
                        "agents.{id}.command must be a name looked up on PATH or an absolute path, not `{command}`"
                    );
                }
                _ => {}
            }
            for (key, dir) in [("cwd", &agent.cwd), ("cwd_within", &agent.cwd_within)] {
                if let Some(dir) = dir
                    && !dir.is_absolute()
                {
                    anyhow::bail!(
                        "agents.{id}.{key} must be an absolute path, not `{}`",
                        dir.display()
                    );
                }
            }
        }
        Ok(config)
    }

    /// The effective configuration as TOML (`berth config`).
    pub fn to_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }
}

/// `$XDG_CONFIG_HOME/berth/config.toml`, else `~/.config/berth/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("berth/config.toml"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config/berth/config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_defaults() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.server.port, 7878);
        assert_eq!(config.server.host, "127.0.0.1");
        assert_eq!(config.storage.synchronous, "full");
        assert_eq!(config.sessions.cancel_grace_secs, 5);
        assert!(config.agent_env.allow.iter().any(|v| v == "PATH"));
        assert!(config.agents.is_empty());
    }

    #[test]
    fn agent_tables_parse() {
        let config = Config::parse(
            r#"
            [server]
            port = 9000
            [agents.claude]
            env = { ANTHROPIC_BASE_URL = "http://127.0.0.1:1234" }
            env_allow = ["ANTHROPIC_API_KEY"]
            [agents.mine]
            name = "My agent"
            command = "/opt/mine/bin/agent"
            args = ["--acp"]
            cwd_within = "/srv/work"
            "#,
        )
        .unwrap();
        assert_eq!(config.server.port, 9000);
        assert_eq!(
            config.server.write_timeout_secs, 30,
            "unset keys keep defaults"
        );
        let claude = &config.agents["claude"];
        assert_eq!(claude.env["ANTHROPIC_BASE_URL"], "http://127.0.0.1:1234");
        assert!(claude.command.is_none());
        let mine = &config.agents["mine"];
        assert_eq!(mine.args.as_deref(), Some(&["--acp".to_owned()][..]));
        assert_eq!(mine.cwd_within.as_deref(), Some(Path::new("/srv/work")));
    }

    #[test]
    fn mistakes_are_refused_with_the_key_named() {
        let typo = Config::parse("[server]\nprot = 1\n").unwrap_err();
        assert!(format!("{typo:#}").contains("prot"), "{typo:#}");
        let bad_id = Config::parse("[agents.\"a b\"]\ncommand = \"x\"\n").unwrap_err();
        assert!(format!("{bad_id:#}").contains("a b"), "{bad_id:#}");
        let empty = Config::parse("[agents.x]\ncommand = \" \"\n").unwrap_err();
        assert!(
            format!("{empty:#}").contains("agents.x.command"),
            "{empty:#}"
        );
        assert!(Config::parse("[server]\nport = \"many\"\n").is_err());
        let relative = Config::parse("[agents.x]\ncommand = \"bin/agent\"\n").unwrap_err();
        assert!(format!("{relative:#}").contains("absolute"), "{relative:#}");
        let relative = Config::parse("[agents.x]\ncwd = \"~/work\"\n").unwrap_err();
        assert!(
            format!("{relative:#}").contains("agents.x.cwd"),
            "{relative:#}"
        );
    }

    #[test]
    fn the_effective_config_round_trips() {
        let config = Config::parse("[agents.claude]\nenv_allow = [\"K\"]\n").unwrap();
        let again = Config::parse(&config.to_toml().unwrap()).unwrap();
        assert_eq!(again.agents["claude"].env_allow, vec!["K".to_owned()]);
        assert_eq!(again.server.port, config.server.port);
    }
}
