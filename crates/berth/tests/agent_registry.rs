//! The agent registry and the ACP client's session handling, with real processes: the
//! config file's `[agents.<id>]` tables, availability with reasons (`GET /agents`,
//! `berth agents`), the working-directory policy, continuing a conversation after the
//! agent process died (`session/resume`, else `session/load` without logging its replay
//! twice, else a new conversation with a notice), and an agent that demands a sign-in.
//! The demo agent's `--continues` and `--require-auth` flags stand in for real agents
//! here; the real ones are covered by `agent_<name>.rs`.

mod support;

use std::path::Path;

use berth_protocol::rest::{AgentList, CreateSession};
use berth_protocol::{Event, SessionOrigin, Status, StopReason};
use support::{TestServer, agent_pids, signal, status_json, turn_ended, wait_process_gone};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A config file in `dir` declaring demo-agent variants, plus `extra` TOML.
fn write_config(dir: &Path, extra: &str) -> String {
    let config = format!(
        r#"
[agents.claude]
command = "/nonexistent/bin/claude-agent-acp"

[agents.loader]
name = "Demo that loads"
command = "{BERTH}"
args = ["agent", "demo", "--continues", "load"]

[agents.late-loader]
name = "Demo that replays after answering the load"
command = "{BERTH}"
args = ["agent", "demo", "--continues", "load-late"]

[agents.resumer]
name = "Demo that resumes"
command = "{BERTH}"
args = ["agent", "demo", "--continues", "resume"]

[agents.forgetful]
name = "Demo that cannot continue"
command = "{BERTH}"
args = ["agent", "demo", "--continues", "none"]

[agents.locked]
name = "Demo that wants a sign-in"
command = "{BERTH}"
args = ["agent", "demo", "--require-auth"]

{extra}
"#
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, config).unwrap();
    path.to_string_lossy().into_owned()
}

async fn start(extra: &str) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), extra);
    let server = TestServer::start_with(&["--config", &config]).await;
    (server, dir)
}

async fn create(server: &TestServer, agent: &str, cwd: Option<&str>) -> (u16, serde_json::Value) {
    let body = CreateSession {
        agent: agent.into(),
        cwd: cwd.map(str::to_owned),
        title: Some(format!("{agent} test")),
    };
    status_json(server.post("/sessions").json(&body)).await
}

/// Run one prompt to `end_turn`, kill the agent with SIGKILL, run another: returns the
/// session's events after the second turn ended (which must have the agent's reply).
async fn prompt_kill_prompt(server: &TestServer, agent: &str) -> Vec<Event> {
    let (status, session) = create(server, agent, None).await;
    assert_eq!(status, 201, "{session}");
    let id = session["id"].as_str().unwrap();
    server.send_and_expect_end_turn(id, "hello").await;

    let pid = agent_pids(&server.events(id).await)[0];
    signal(pid, "KILL");
    wait_process_gone(pid).await;
    server
        .wait_event(id, |e| matches!(e, Event::AgentExited { .. }))
        .await;

    let second = server.send_and_expect_end_turn(id, "hello again").await;
    let events: Vec<Event> = server
        .events(id)
        .await
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let pids = agent_pids(&server.events(id).await);
    assert_eq!(pids.len(), 2, "a second agent process ran the second turn");
    assert_ne!(pids[0], pids[1]);
    let reply: String = events
        .iter()
        .filter_map(|e| match e {
            Event::AgentMessageChunk { turn_id, text } if *turn_id == second => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        reply.contains("hello again"),
        "the second turn's reply is logged: {reply:?}"
    );
    events
}

fn origins(events: &[Event]) -> Vec<Option<SessionOrigin>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::AgentStarted { session_origin, .. } => Some(*session_origin),
            _ => None,
        })
        .collect()
}

fn notices(events: &[Event]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Notice { message } => Some(message.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn agents_report_availability_with_a_reason_and_config_adds_agents() {
    let (server, _dir) = start("").await;
    let list: AgentList = server
        .get("/agents")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "demo",
            "claude",
            "codex",
            "gemini",
            "opencode",
            "forgetful",
            "late-loader",
            "loader",
            "locked",
            "resumer"
        ]
    );
    let claude = &list.agents[1];
    assert!(!claude.available);
    let reason = claude.reason.as_deref().unwrap();
    assert!(
        reason.contains("/nonexistent/bin/claude-agent-acp"),
        "{reason}"
    );
    assert!(
        reason.contains("npm install -g @agentclientprotocol/claude-agent-acp"),
        "{reason}"
    );
    assert!(
        list.agents
            .iter()
            .find(|a| a.id == "loader")
            .unwrap()
            .available
    );

    // An unavailable agent: 503 with the reason, and nothing is created.
    let (status, body) = create(&server, "claude", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("npm install")
    );
    assert!(server.sessions().await.is_empty());
}

#[tokio::test]
async fn berth_agents_prints_the_same_as_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let output = std::process::Command::new(BERTH)
        .args(["agents", "--json", "--config", &config])
        .env_remove("BERTH_CONFIG")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed: AgentList = serde_json::from_slice(&output.stdout).unwrap();
    let server = TestServer::start_with(&["--config", &config]).await;
    let served: AgentList = server
        .get("/agents")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(printed, served);

    let text = std::process::Command::new(BERTH)
        .args(["agents", "--config", &config])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("demo") && l.ends_with("available"))
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("claude") && l.contains("not available"))
    );
}

#[tokio::test]
async fn a_broken_config_file_stops_the_server_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "[sessions]\ncancel_grace = 3\n").unwrap();
    let output = std::process::Command::new(BERTH)
        .args(["serve", "--port", "0", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cancel_grace"), "{stderr}");
    assert!(stderr.contains("config.toml"), "{stderr}");
}

#[tokio::test]
async fn the_working_directory_policy_is_enforced() {
    let root = tempfile::tempdir().unwrap();
    let inside = root.path().join("project");
    std::fs::create_dir(&inside).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let extra = format!(
        "[agents.confined]\ncommand = \"{BERTH}\"\nargs = [\"agent\", \"demo\"]\ncwd = \"{}\"\ncwd_within = \"{}\"\n",
        inside.display(),
        root.path().display()
    );
    let (server, _dir) = start(&extra).await;

    let (status, body) = create(&server, "confined", outside.path().to_str()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outside"),
        "{body}"
    );

    // No cwd: the agent's configured default, which is inside.
    let (status, body) = create(&server, "confined", None).await;
    assert_eq!(status, 201, "{body}");
    let expected = inside.canonicalize().unwrap();
    assert_eq!(body["cwd"], expected.to_string_lossy().as_ref());
    let id = body["id"].as_str().unwrap();
    server.send_and_expect_end_turn(id, "hello").await;
}

#[tokio::test]
async fn an_agent_that_offers_resume_continues_its_conversation() {
    let (server, _dir) = start("").await;
    let events = prompt_kill_prompt(&server, "resumer").await;
    assert_eq!(
        origins(&events),
        [Some(SessionOrigin::New), Some(SessionOrigin::Resumed)]
    );
    assert!(notices(&events).is_empty(), "{:?}", notices(&events));
    let capabilities = events.iter().find_map(|e| match e {
        Event::AgentStarted { capabilities, .. } => capabilities.clone(),
        _ => None,
    });
    let capabilities = capabilities.expect("capabilities recorded");
    assert!(capabilities.resume && !capabilities.load_session);
    assert_eq!(capabilities.name.as_deref(), Some("berth-demo"));
}

#[tokio::test]
async fn an_agent_that_loads_replays_nothing_into_the_log() {
    let (server, _dir) = start("").await;
    let events = prompt_kill_prompt(&server, "loader").await;
    assert_eq!(
        origins(&events),
        [Some(SessionOrigin::New), Some(SessionOrigin::Loaded)]
    );
    let replayed = events.iter().any(|e| {
        serde_json::to_string(e)
            .unwrap()
            .contains(berth_agent::demo::REPLAYED_TEXT)
    });
    assert!(!replayed, "session/load's replay was logged: {events:#?}");
    // The log holds exactly the two user messages berth recorded itself.
    let users = events
        .iter()
        .filter(|e| matches!(e, Event::UserMessage { .. }))
        .count();
    assert_eq!(users, 2);
}

#[tokio::test]
async fn an_agent_that_replays_after_answering_the_load_replays_nothing_into_the_log() {
    let (server, _dir) = start("").await;
    let events = prompt_kill_prompt(&server, "late-loader").await;
    assert_eq!(
        origins(&events),
        [Some(SessionOrigin::New), Some(SessionOrigin::Loaded)]
    );
    let logged = serde_json::to_string(&events).unwrap();
    assert!(
        !logged.contains(berth_agent::demo::REPLAYED_TEXT),
        "a replay sent after the load's answer was logged: {events:#?}"
    );
}

#[tokio::test]
async fn an_agent_that_cannot_continue_starts_over_with_a_notice() {
    let (server, _dir) = start("").await;
    let events = prompt_kill_prompt(&server, "forgetful").await;
    assert_eq!(
        origins(&events),
        [Some(SessionOrigin::New), Some(SessionOrigin::New)]
    );
    let notices = notices(&events);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("could not continue"), "{notices:?}");
}

#[tokio::test]
async fn an_agent_that_wants_a_sign_in_says_what_to_do() {
    let (server, _dir) = start("").await;
    let (status, session) = create(&server, "locked", None).await;
    assert_eq!(status, 201, "{session}");
    let id = session["id"].as_str().unwrap();
    let turn = server.send(id, "hello").await;
    let (_, reason, error) = turn_ended(&server, id, &turn).await;
    assert_eq!(reason, StopReason::Error);
    let error = error.unwrap();
    assert!(error.contains("sign in"), "{error}");
    assert!(
        error.contains("Demo login"),
        "the agent's methods are named: {error}"
    );
    let logged = server
        .wait_event(
            id,
            |e| matches!(e, Event::Error { message } if message.contains("sign in")),
        )
        .await;
    assert!(matches!(logged.1, Event::Error { .. }));
    let summary = server
        .wait_summary(id, "status error", |s| s.status == Status::Error)
        .await;
    assert!(!summary.agent_running);
    // The session still takes prompts (and reports the same clearly again).
    let (status, body) = server.try_send(id, "again").await;
    assert_eq!(status, 202, "{body}");
}
