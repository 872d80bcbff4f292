//! The agent registry: the built-in entries, merged with the config file's
//! `[agents.<id>]` tables, and the environment each agent gets.

use std::collections::BTreeMap;

use berth_agent::AgentSpec;
use berth_protocol::rest::AgentInfo;
use berth_session::{AgentCatalog, AgentEntry};

use crate::config::{AgentSection, Config};

/// One built-in registry entry.
struct Builtin {
    id: &'static str,
    name: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    /// Server variables this agent inherits besides the common allow-list: the ones its
    /// own docs name for credentials and endpoints.
    env_allow: &'static [&'static str],
    /// Variables set for this agent unless the config file sets them otherwise.
    env: &'static [(&'static str, &'static str)],
    install: &'static str,
}

/// The ACP launchers berth knows out of the box (`demo` is added separately: it is this
/// binary). `berth serve --help` and the README list the same install commands.
const BUILTINS: &[Builtin] = &[
    Builtin {
        id: "claude",
        name: "Claude Code",
        program: "claude-agent-acp",
        args: &[],
        env_allow: &[
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "ANTHROPIC_BASE_URL",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "CLAUDE_CONFIG_DIR",
        ],
        env: &[],
        install: "npm install -g @agentclientprotocol/claude-agent-acp",
    },
    Builtin {
        id: "codex",
        name: "Codex",
        program: "codex-acp",
        args: &[],
        env_allow: &["OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_HOME"],
        // Codex's default mode hands approvals to a model reviewer; berth exists for
        // live approvals by the user, so start in the mode that asks.
        env: &[("INITIAL_AGENT_MODE", "read-only")],
        install: "npm install -g @agentclientprotocol/codex-acp",
    },
    Builtin {
        id: "gemini",
        name: "Gemini CLI",
        program: "gemini",
        args: &["--acp"],
        env_allow: &[
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            "GOOGLE_CLOUD_PROJECT",
            "GOOGLE_CLOUD_LOCATION",
            "GOOGLE_GENAI_USE_VERTEXAI",
            "GOOGLE_APPLICATION_CREDENTIALS",
        ],
        // Otherwise it re-executes itself as a child node process, so the process berth
        // started is not the agent (signals and pids then miss the real one).
        env: &[("GEMINI_CLI_NO_RELAUNCH", "true")],
        install: "npm install -g @google/gemini-cli",
    },
    Builtin {
        id: "opencode",
        name: "opencode",
        program: "opencode",
        args: &["acp"],
        env_allow: &[
            "OPENCODE_CONFIG",
            "OPENCODE_CONFIG_CONTENT",
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
        ],
        env: &[],
        install: "npm install -g opencode-ai",
    },
];

/// How to install each launcher, for `berth serve --help`.
pub fn install_help() -> String {
    let mut help = String::from(
        "Agents (see `berth agents`): `demo` is built in. The others need their ACP launcher on PATH\n\
         (or a `command` path in the config file's [agents.<id>] table):\n",
    );
    for builtin in BUILTINS {
        help.push_str(&format!("  {:<9} {}\n", builtin.id, builtin.install));
    }
    help.push_str(
        "Config file: $XDG_CONFIG_HOME/berth/config.toml (or --config); `berth config` prints the\n\
         effective one.",
    );
    help
}

/// The registry for `config`: built-ins first (demo, then the launchers), then added
/// agents by id; disabled entries left out.
pub fn catalog(config: &Config) -> anyhow::Result<AgentCatalog> {
    // The demo agent is this very binary.
    let demo = AgentSection {
        name: Some("Demo agent (built in)".to_owned()),
        command: Some(std::env::current_exe()?.to_string_lossy().into_owned()),
        args: Some(vec!["agent".to_owned(), "demo".to_owned()]),
        ..AgentSection::default()
    };
    let builtins =
        std::iter::once(("demo", demo)).chain(BUILTINS.iter().map(|b| (b.id, b.section())));
    let mut entries = Vec::new();
    for (id, base) in builtins {
        entries.extend(entry(config, id, merge(base, config.agents.get(id))));
    }
    for (id, section) in &config.agents {
        if id == "demo" || BUILTINS.iter().any(|b| b.id == id) {
            continue;
        }
        if section.command.is_none() {
            anyhow::bail!("agents.{id} needs a `command` (it is not a built-in agent)");
        }
        entries.extend(entry(config, id, section.clone()));
    }
    Ok(AgentCatalog::new(entries))
}

impl Builtin {
    /// This entry as a config table, for the config file's tables to be merged over.
    fn section(&self) -> AgentSection {
        AgentSection {
            name: Some(self.name.to_owned()),
            command: Some(self.program.to_owned()),
            args: Some(self.args.iter().map(|a| a.to_string()).collect()),
            env_allow: self.env_allow.iter().map(|v| v.to_string()).collect(),
            env: self
                .env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            install: Some(self.install.to_owned()),
            ..AgentSection::default()
        }
    }
}

/// `over`'s fields replace `base`'s where set; `env` and `env_allow` add up.
fn merge(mut base: AgentSection, over: Option<&AgentSection>) -> AgentSection {
    let Some(over) = over else {
        return base;
    };
    let over = over.clone();
    base.name = over.name.or(base.name);
    base.command = over.command.or(base.command);
    base.args = over.args.or(base.args);
    base.env.extend(over.env);
    base.env_allow.extend(over.env_allow);
    base.cwd = over.cwd.or(base.cwd);
    base.cwd_within = over.cwd_within.or(base.cwd_within);
    base.install = over.install.or(base.install);
    base.enabled = over.enabled.or(base.enabled);
    base
}

fn entry(config: &Config, id: &str, section: AgentSection) -> Option<AgentEntry> {
    if section.enabled == Some(false) {
        return None;
    }
    Some(AgentEntry {
        id: id.to_owned(),
        name: section.name.clone().unwrap_or_else(|| id.to_owned()),
        spec: AgentSpec {
            program: section.command.clone().unwrap_or_default(),
            args: section.args.clone().unwrap_or_default(),
            env: agent_env(&config.agent_env.allow, &section),
        },
        install: section.install,
        default_cwd: section.cwd,
        cwd_within: section.cwd_within,
        launcher: std::sync::Arc::new(berth_agent::OsLauncher),
    })
}

/// The complete environment of one agent: the allow-listed part of ours, then the
/// agent's own `env` on top.
fn agent_env(allow: &[String], section: &AgentSection) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = allow
        .iter()
        .chain(&section.env_allow)
        .filter_map(|name| std::env::var(name).ok().map(|value| (name.clone(), value)))
        .collect();
    env.extend(section.env.clone());
    env.into_iter().collect()
}

/// `berth agents`: one line per agent, as `GET /agents` reports them.
pub fn print(infos: &[AgentInfo], json: bool) -> anyhow::Result<()> {
    if json {
        let list = berth_protocol::rest::AgentList {
            agents: infos.to_vec(),
        };
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for info in infos {
        let state = match &info.reason {
            None => "available".to_owned(),
            Some(reason) => format!("not available: {reason}"),
        };
        println!("{:<10} {:<24} {state}", info.id, info.name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(catalog: &AgentCatalog) -> Vec<String> {
        catalog.infos().into_iter().map(|info| info.id).collect()
    }

    #[test]
    fn built_ins_are_listed_in_order() {
        let catalog = catalog(&Config::default()).unwrap();
        assert_eq!(
            ids(&catalog),
            ["demo", "claude", "codex", "gemini", "opencode"]
        );
        let demo = catalog.get("demo").unwrap();
        assert!(demo.availability().is_ok(), "the demo agent is this binary");
        assert_eq!(demo.spec.args, ["agent", "demo"]);
        assert_eq!(catalog.get("gemini").unwrap().spec.args, ["--acp"]);
    }

    #[test]
    fn a_missing_launcher_says_how_to_install_it() {
        let config =
            Config::parse("[agents.claude]\ncommand = \"/nonexistent/claude-agent-acp\"\n")
                .unwrap();
        let catalog = catalog(&config).unwrap();
        let reason = catalog.get("claude").unwrap().availability().unwrap_err();
        assert!(reason.contains("does not exist"), "{reason}");
        assert!(
            reason.contains("npm install -g @agentclientprotocol/claude-agent-acp"),
            "{reason}"
        );
    }

    #[test]
    fn config_tables_adjust_built_ins_and_add_agents() {
        let config = Config::parse(
            r#"
            [agent_env]
            allow = ["PATH"]
            [agents.claude]
            env = { ANTHROPIC_BASE_URL = "http://127.0.0.1:9", PATH = "/opt/bin" }
            [agents.opencode]
            enabled = false
            [agents.mine]
            name = "Mine"
            command = "/bin/true"
            cwd_within = "/tmp"
            "#,
        )
        .unwrap();
        let catalog = catalog(&config).unwrap();
        assert_eq!(ids(&catalog), ["demo", "claude", "codex", "gemini", "mine"]);
        let claude = catalog.get("claude").unwrap();
        assert_eq!(
            claude.spec.program, "claude-agent-acp",
            "unset fields keep the built-in"
        );
        let env: BTreeMap<_, _> = claude.spec.env.iter().cloned().collect();
        assert_eq!(env["ANTHROPIC_BASE_URL"], "http://127.0.0.1:9");
        assert_eq!(env["PATH"], "/opt/bin", "the agent's own env wins");
        assert!(
            !env.contains_key("HOME"),
            "only the allow-list is inherited"
        );
        let mine = catalog.get("mine").unwrap();
        assert_eq!(mine.name, "Mine");
        assert!(mine.availability().is_ok());
        assert_eq!(
            mine.cwd_within.as_deref(),
            Some(std::path::Path::new("/tmp"))
        );
    }

    #[test]
    fn an_added_agent_needs_a_command() {
        let config = Config::parse("[agents.mine]\nname = \"Mine\"\n").unwrap();
        let error = catalog(&config).unwrap_err();
        assert!(error.to_string().contains("agents.mine"), "{error}");
    }
}
