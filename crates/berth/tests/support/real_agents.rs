//! Real agents end to end: install the pinned launcher (cached outside the repo by
//! `scripts/install-agents`), run it fully offline against the [`FakeModel`] with an
//! isolated `HOME`, behind a real `berth serve --config <file>`, and drive it through
//! berth's public API only (REST + WebSocket, read as raw JSON so these tests judge the
//! wire, not our own types' reading of it).
//!
//! The scenarios (in `real_agents/scenarios.rs`) are shared by
//! `tests/agent_{claude,codex,gemini,opencode}.rs`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::fake_model::{self, FakeModel};
use super::{TestServer, Viewport, WAIT, status_json, wait_for};

mod scenarios;
// Not every test crate that includes `support` runs these.
#[allow(unused_imports)]
pub use scenarios::*;

/// The agents this module knows how to run offline.
pub const AGENTS: [&str; 4] = ["claude", "codex", "gemini", "opencode"];

/// Variables a developer's shell may hold that would point an agent (or the server) at
/// something other than the fake model; the test server runs without them.
const SCRUBBED_ENV: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CONFIG_DIR",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "CODEX_HOME",
    "GEMINI_API_KEY",
    "GEMINI_MODEL",
    "GOOGLE_API_KEY",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "OPENCODE_CONFIG",
    "OPENCODE_CONFIG_CONTENT",
];

// ----- Installing -----------------------------------------------------------------------

/// The repository's `scripts/install-agents`.
pub fn install_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-agents")
}

/// Install `agent`'s pinned launcher if it is not cached yet; returns its absolute path.
/// The script serialises installs of one agent with `flock`, so parallel tests (in one
/// binary or several) never install it twice.
pub fn ensure_installed(agent: &str) -> PathBuf {
    let output = Command::new("bash")
        .arg(install_script())
        .args(["--print", agent])
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/install-agents");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "scripts/install-agents {agent} failed ({}):\n{}\n{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let launcher = stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{agent} ")))
        .unwrap_or_else(|| panic!("no launcher for {agent} in {stdout:?}"));
    let launcher = PathBuf::from(launcher.trim());
    assert!(launcher.is_absolute() && launcher.exists(), "{launcher:?}");
    launcher
}

// ----- Configuring ----------------------------------------------------------------------

/// One `[agents.<id>]` entry of the test config, and where the agent keeps its state.
#[derive(Debug, Clone)]
pub struct AgentSetup {
    pub id: String,
    pub command: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// The agent's isolated `HOME` (its sessions, settings and caches live here).
    pub home: PathBuf,
}

/// How `agent` runs offline against `fake`, with `home` as its `HOME` (files it needs
/// there are written now).
pub fn agent_setup(agent: &str, command: PathBuf, fake: &FakeModel, home: &Path) -> AgentSetup {
    std::fs::create_dir_all(home).unwrap();
    let url = fake.url();
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        env.insert(k.to_owned(), v.to_owned());
    };
    set("HOME", home.to_str().unwrap());
    let args: Vec<String> = match agent {
        "claude" => {
            set("ANTHROPIC_BASE_URL", &url);
            set("ANTHROPIC_API_KEY", "sk-ant-fake-key");
            set("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
            set("DISABLE_AUTOUPDATER", "1");
            vec![]
        }
        "codex" => {
            let codex_home = home.join(".codex");
            std::fs::create_dir_all(&codex_home).unwrap();
            // A custom provider speaking the Responses API; every ChatGPT-backend and
            // plugin/update feature that would reach the internet is switched off (seen
            // with strace: DNS lookups of chatgpt.com and github.com otherwise).
            let config = format!(
                r#"model = "fake-model"
model_provider = "fake"
check_for_update_on_startup = false
chatgpt_base_url = "{url}/backend-api/"

[model_providers.fake]
name = "Fake"
base_url = "{url}/v1"
wire_api = "responses"
env_key = "FAKE_MODEL_API_KEY"

[analytics]
enabled = false

[features]
plugins = false
remote_plugin = false
plugin_discovery_prefetch = false
apps = false
tool_suggest = false
"#
            );
            std::fs::write(codex_home.join("config.toml"), config).unwrap();
            set("CODEX_HOME", codex_home.to_str().unwrap());
            set("FAKE_MODEL_API_KEY", "fake-key");
            // codex-acp's default mode ("agent", auto review) sends approvals to a model
            // reviewer; read-only asks the user (us) instead.
            set("INITIAL_AGENT_MODE", "read-only");
            vec![]
        }
        "gemini" => {
            let dir = home.join(".gemini");
            std::fs::create_dir_all(&dir).unwrap();
            let settings = json!({
                "security": {"auth": {"selectedType": "gemini-api-key"}},
                "privacy": {"usageStatisticsEnabled": false},
                "telemetry": {"enabled": false},
                "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
            });
            std::fs::write(dir.join("settings.json"), settings.to_string()).unwrap();
            set("GEMINI_API_KEY", "fake-key");
            set("GOOGLE_GEMINI_BASE_URL", &url);
            // A pinned model: "auto" would first ask a router model to choose.
            vec!["--acp".into(), "-m".into(), "gemini-2.5-flash".into()]
        }
        "opencode" => {
            let config = json!({
                "$schema": "https://opencode.ai/config.json",
                "provider": {"fake": {
                    "npm": "@ai-sdk/openai-compatible",
                    "name": "Fake",
                    "options": {"baseURL": format!("{url}/v1"), "apiKey": "fake-key"},
                    "models": {
                        // Takes images, so an attached one is passed on (opencode drops
                        // it for a text-only model).
                        "fake-model": {"name": "Fake Model", "tool_call": true, "attachment": true,
                            "modalities": {"input": ["text", "image"], "output": ["text"]}},
                        // A second one, so switching models is tested offline.
                        "fake-model-2": {"name": "Fake Model 2", "tool_call": true},
                    },
                }},
                "model": "fake/fake-model",
                "small_model": "fake/fake-model",
                // opencode allows everything by default; berth's test needs a question.
                "permission": {"bash": "ask", "edit": "ask"},
                "share": "disabled",
                "autoupdate": false,
            });
            set("OPENCODE_CONFIG_CONTENT", &config.to_string());
            for flag in [
                "OPENCODE_DISABLE_MODELS_FETCH",
                "OPENCODE_DISABLE_AUTOUPDATE",
                "OPENCODE_DISABLE_SHARE",
                "OPENCODE_DISABLE_LSP_DOWNLOAD",
                "OPENCODE_DISABLE_DEFAULT_PLUGINS",
            ] {
                set(flag, "1");
            }
            vec!["acp".into()]
        }
        other => panic!("no offline setup for agent {other:?}"),
    };
    AgentSetup {
        id: agent.to_owned(),
        command,
        args,
        env,
        home: home.to_path_buf(),
    }
}

/// A TOML basic string (JSON string escapes are valid TOML escapes).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// The `[agents.<id>]` tables for `agents`, in the config format of `berth serve --config`.
pub fn config_toml(agents: &[&AgentSetup]) -> String {
    let mut out = String::new();
    for a in agents {
        out.push_str(&format!("[agents.{}]\n", a.id));
        out.push_str(&format!(
            "command = {}\n",
            toml_str(a.command.to_str().unwrap())
        ));
        let args: Vec<String> = a.args.iter().map(|s| toml_str(s)).collect();
        out.push_str(&format!("args = [{}]\n", args.join(", ")));
        let env: Vec<String> = a
            .env
            .iter()
            .map(|(k, v)| format!("{k} = {}", toml_str(v)))
            .collect();
        out.push_str(&format!("env = {{ {} }}\n\n", env.join(", ")));
    }
    out
}

/// Start `berth serve --port 0 --data-dir <data_dir> --config <config>`, without the
/// developer's agent credentials or `BERTH_*` settings in its environment.
pub async fn spawn_server(data_dir: &Path, config: &Path) -> TestServer {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(data_dir)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info,berth=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for name in SCRUBBED_ENV {
        command.env_remove(name);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BERTH_") {
            command.env_remove(name);
        }
    }
    let mut child = command.spawn().expect("spawn berth serve");
    let stdout = child.stdout.take().expect("stdout");
    let url = tokio::task::spawn_blocking(move || super::startup_url(stdout))
        .await
        .unwrap();
    let (base, token) = url.split_once("/?token=").expect("token in URL");
    let server = TestServer {
        port: base.rsplit(':').next().unwrap().parse().unwrap(),
        child: Some(child),
        base: base.to_owned(),
        token: token.to_owned(),
        data_dir: data_dir.to_path_buf(),
        _tmp: None,
        http: reqwest::Client::new(),
    };
    wait_for("health", || async { server.health_ok().await }).await;
    server
}

// ----- One agent behind one server ------------------------------------------------------

/// A real agent behind a real berth server, talking to a fake model.
pub struct RealAgent {
    pub server: TestServer,
    pub fake: FakeModel,
    pub setup: AgentSetup,
    /// The sessions' working directory (where the tool call writes its file).
    pub workdir: PathBuf,
    /// Temp root holding the data dir, the agent's home, the config and the workdir.
    pub root: tempfile::TempDir,
}

impl RealAgent {
    /// Install (cached) and configure `agent`, start the fake model and the server.
    pub async fn start(agent: &str) -> RealAgent {
        let id = agent.to_owned();
        let command = tokio::task::spawn_blocking(move || ensure_installed(&id))
            .await
            .unwrap();
        let fake = FakeModel::start();
        let root = tempfile::tempdir().expect("temp dir");
        let setup = agent_setup(agent, command, &fake, &root.path().join("home"));
        let workdir = root.path().join("work");
        let data_dir = root.path().join("data");
        std::fs::create_dir_all(&workdir).unwrap();
        std::fs::create_dir_all(&data_dir).unwrap();
        let config = root.path().join("berth.toml");
        std::fs::write(&config, config_toml(&[&setup])).unwrap();
        let server = spawn_server(&data_dir, &config).await;
        RealAgent {
            server,
            fake,
            setup,
            workdir,
            root,
        }
    }

    /// `POST /sessions` for this agent in [`RealAgent::workdir`]; returns the session id.
    pub async fn create_session(&self) -> String {
        let (status, body) =
            status_json(self.server.post("/sessions").json(
                &json!({"agent": self.setup.id, "cwd": self.workdir, "title": "real agent"}),
            ))
            .await;
        assert_eq!(status, 201, "create session: {body}");
        body["id"].as_str().expect("session id").to_owned()
    }

    /// `POST /sessions/{id}/turns`; returns the turn id.
    pub async fn send(&self, session: &str, text: &str) -> String {
        let (status, body) = self.server.try_send(session, text).await;
        assert_eq!(status, 202, "start turn {text:?}: {body}");
        body["turn_id"].as_str().expect("turn_id").to_owned()
    }

    /// Every event object of the session's log, in order (REST, never coalesced).
    pub async fn events(&self, session: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0u64;
        loop {
            let (status, page) = status_json(self.server.get(&format!(
                "/sessions/{session}/events?after={after}&limit=5000"
            )))
            .await;
            assert_eq!(status, 200, "{page}");
            let records = page["events"].as_array().cloned().unwrap_or_default();
            if records.is_empty() {
                return all;
            }
            for record in records {
                after = record["seq"].as_u64().expect("seq");
                all.push(record["event"].clone());
            }
        }
    }

    /// Wait until the log holds an event matching `pred`; returns the first.
    pub async fn wait_event(
        &self,
        session: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let events = self.events(session).await;
            if let Some(found) = events.iter().find(|e| pred(e)) {
                return found.clone();
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "timed out waiting for {what}; the log:\n{}\nthe model saw:\n{}",
                    brief_log(&events),
                    self.fake.summary()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait for turn `turn_id` to end; returns its `turn_ended` event.
    pub async fn turn_ended(&self, session: &str, turn_id: &str) -> Value {
        self.wait_event(session, &format!("turn {turn_id} to end"), |e| {
            e["kind"] == "turn_ended" && e["turn_id"] == turn_id
        })
        .await
    }

    /// Wait for turn `turn_id` to end with `end_turn`; returns the agent's reply text.
    pub async fn finished_reply(&self, session: &str, turn_id: &str) -> String {
        let ended = self.turn_ended(session, turn_id).await;
        let events = self.events(session).await;
        assert_eq!(
            ended["stop_reason"],
            "end_turn",
            "turn {turn_id} ended {ended}; the log:\n{}\nthe model saw:\n{}",
            brief_log(&events),
            self.fake.summary()
        );
        reply_of(&events, turn_id)
    }

    /// The pids of every `agent_started` in the session's log, in order.
    pub async fn agent_pids(&self, session: &str) -> Vec<u32> {
        self.events(session)
            .await
            .iter()
            .filter(|e| e["kind"] == "agent_started")
            .filter_map(|e| e["pid"].as_u64())
            .map(|p| p as u32)
            .collect()
    }
}

/// The agent's reply in `turn_id`: its message chunks joined.
pub fn reply_of(events: &[Value], turn_id: &str) -> String {
    events
        .iter()
        .filter(|e| e["kind"] == "agent_message_chunk" && e["turn_id"] == turn_id)
        .filter_map(|e| e["text"].as_str())
        .collect()
}

/// The events of `turn_id` of one kind.
pub fn of_turn<'a>(events: &'a [Value], turn_id: &str, kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind && e["turn_id"] == turn_id)
        .collect()
}

/// One line per event (kind and a short excerpt), for failure messages.
pub fn brief_log(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| {
            let s = e.to_string();
            let short: String = s.chars().take(240).collect();
            format!("  {short}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ----- A viewport read as raw JSON ------------------------------------------------------

/// The next frame of `viewport` as JSON; panics on close or after `WAIT`.
pub async fn next_json(viewport: &mut Viewport) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, viewport.ws.next())
            .await
            .expect("a frame within the timeout");
        match message {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("bad frame {text}: {e}"));
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => panic!("viewport closed"),
            Some(Ok(_)) => continue,
        }
    }
}

/// Send `attach` for `session` from seq 0.
pub async fn attach_raw(viewport: &mut Viewport, session: &str) {
    viewport
        .ws
        .send(Message::Text(
            json!({"op": "attach", "session": session, "after": 0})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
}

/// Read `event` frames of `session` until one whose event matches `pred`; returns that
/// event and every event object seen on the way (coalesced frames count once).
pub async fn next_event_json(
    viewport: &mut Viewport,
    session: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> (Value, Vec<Value>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting on the viewport for {what}; saw:\n{}",
            brief_log(&seen)
        );
        let frame = next_json(viewport).await;
        if frame["type"] != "event" || frame["session"] != session {
            continue;
        }
        let event = frame["event"].clone();
        seen.push(event.clone());
        if pred(&event) {
            return (event, seen);
        }
    }
}

/// `kill -9 pid`.
pub fn kill9(pid: u32) {
    super::signal(pid, "KILL");
}
