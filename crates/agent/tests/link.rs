//! `AgentLink` against real agent processes: the demo agent (`berth-demo-agent`, built
//! with this crate) and a few `/bin/sh` wrappers around it that misbehave on purpose.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use berth_agent::{AgentError, AgentEvent, AgentLink, AgentSpec, LinkConfig};
use berth_protocol::{
    AnswerValue, Event, Outcome, PermissionOption, PermissionOptionKind, Question, StopReason,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// Upper bound for any single wait; generous for loaded CI machines.
const WAIT: Duration = Duration::from_secs(30);

const DEMO: &str = env!("CARGO_BIN_EXE_berth-demo-agent");

struct Harness {
    link: AgentLink,
    events: mpsc::Receiver<AgentEvent>,
    cwd: PathBuf,
    stderr_log: PathBuf,
    _dir: tempfile::TempDir,
}

struct Turn {
    /// Everything but the usage report.
    updates: Vec<Event>,
    /// The usage reports (the demo agent sends one as a turn's last update).
    usage: Vec<Event>,
    result: Result<StopReason, String>,
}

impl Turn {
    fn text(&self) -> String {
        self.updates
            .iter()
            .filter_map(|event| match event {
                Event::AgentMessageChunk { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

fn demo() -> AgentSpec {
    AgentSpec {
        program: DEMO.to_owned(),
        args: vec![],
        env: vec![],
    }
}

/// `/bin/sh -c script demo-path`: the script sees the demo agent's path as `$0`.
fn shell(script: &str) -> AgentSpec {
    AgentSpec {
        program: "/bin/sh".to_owned(),
        args: vec!["-c".to_owned(), script.to_owned(), DEMO.to_owned()],
        env: vec![],
    }
}

async fn try_start(
    spec: AgentSpec,
) -> (
    Result<AgentLink, AgentError>,
    mpsc::Receiver<AgentEvent>,
    Dirs,
) {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("work");
    std::fs::create_dir(&cwd).unwrap();
    let stderr_log = dir.path().join("logs/agent.stderr");
    let (tx, rx) = mpsc::channel(64);
    let config = LinkConfig {
        spec,
        cwd: cwd.clone(),
        stderr_log: stderr_log.clone(),
        resume: None,
        handshake_timeout: Duration::from_secs(120),
    };
    let link = timeout(WAIT, AgentLink::start(config, tx))
        .await
        .expect("start timed out");
    (
        link,
        rx,
        Dirs {
            dir,
            cwd,
            stderr_log,
        },
    )
}

struct Dirs {
    dir: tempfile::TempDir,
    cwd: PathBuf,
    stderr_log: PathBuf,
}

async fn start(spec: AgentSpec) -> Harness {
    let (link, events, dirs) = try_start(spec).await;
    Harness {
        link: link.expect("agent failed to start"),
        events,
        cwd: dirs.cwd,
        stderr_log: dirs.stderr_log,
        _dir: dirs.dir,
    }
}

impl Harness {
    async fn next(&mut self) -> AgentEvent {
        timeout(WAIT, self.events.recv())
            .await
            .expect("timed out waiting for an agent event")
            .expect("event channel closed")
    }

    /// The next event, which must be an update.
    async fn update(&mut self) -> Event {
        match self.next().await {
            AgentEvent::Update(event) => event,
            other => panic!("expected an update, got {other:?}"),
        }
    }

    /// Updates until `turn_id`'s TurnDone; anything else is a test failure. A usage
    /// report must come after every other update.
    async fn finish(&mut self, turn_id: &str) -> Turn {
        let mut updates = Vec::new();
        let mut usage = Vec::new();
        loop {
            match self.next().await {
                AgentEvent::Update(event @ Event::Usage { .. }) => usage.push(event),
                AgentEvent::Update(event) => {
                    assert!(usage.is_empty(), "{event:?} after the usage report");
                    updates.push(event);
                }
                AgentEvent::TurnDone {
                    turn_id: done,
                    result,
                } => {
                    assert_eq!(done, turn_id);
                    return Turn {
                        updates,
                        usage,
                        result,
                    };
                }
                other => panic!("unexpected event during turn {turn_id}: {other:?}"),
            }
        }
    }

    async fn turn(&mut self, turn_id: &str, text: &str) -> Turn {
        self.link.prompt(turn_id, text).unwrap();
        self.finish(turn_id).await
    }

    /// Kill the agent and wait for its `Exited`, skipping whatever comes before it.
    async fn stop(mut self) {
        self.link.kill(Duration::from_secs(5)).await;
        loop {
            if let AgentEvent::Exited { .. } = self.next().await {
                return;
            }
        }
    }
}

fn chunk(turn_id: &str, text: &str) -> Event {
    Event::AgentMessageChunk {
        turn_id: turn_id.to_owned(),
        text: text.to_owned(),
    }
}

#[tokio::test]
async fn default_reply_streams_a_plan_a_tool_call_and_chunks() {
    let mut h = start(demo()).await;
    assert!(h.link.pid() > 1);
    assert!(!h.link.agent_session_id().is_empty());

    let turn = h.turn("t1", "hello there").await;
    assert_eq!(turn.result, Ok(StopReason::EndTurn));
    let kinds: Vec<&str> = turn.updates.iter().map(Event::kind).collect();
    assert_eq!(kinds[..3], ["plan", "tool_call", "tool_call_update"]);
    assert!(kinds[3..].len() >= 3 && kinds[3..].iter().all(|kind| *kind == "agent_message_chunk"));
    let Event::Plan { turn_id, entries } = &turn.updates[0] else {
        unreachable!()
    };
    assert_eq!(turn_id, "t1");
    assert!((2..=3).contains(&entries.len()));
    let Event::ToolCall {
        turn_id,
        tool_kind,
        input,
        ..
    } = &turn.updates[1]
    else {
        unreachable!()
    };
    assert_eq!((turn_id.as_str(), tool_kind.as_str()), ("t1", "read"));
    assert_eq!(input.as_ref().unwrap()["path"], h.cwd.to_str().unwrap());
    let Event::ToolCallUpdate { status, .. } = &turn.updates[2] else {
        unreachable!()
    };
    assert_eq!(status.as_deref(), Some("completed"));
    assert!(turn.text().contains("> hello there\n"));

    // A second turn is stamped with its own id.
    let turn = h.turn("t2", "again").await;
    assert_eq!(turn.result, Ok(StopReason::EndTurn));
    assert!(
        turn.updates
            .iter()
            .all(|event| serde_json::to_value(event).unwrap()["turn_id"] == "t2")
    );
    h.stop().await;
}

#[tokio::test]
async fn stream_delivers_exactly_n_chunks_in_order_before_turn_done() {
    let mut h = start(demo()).await;
    let turn = h.turn("s1", "/stream 500").await;
    assert_eq!(turn.result, Ok(StopReason::EndTurn));
    let expected: Vec<Event> = (1..=500)
        .map(|i| chunk("s1", &format!("chunk {i}\n")))
        .collect();
    assert_eq!(turn.updates, expected);

    // Then the session's usage so far: 100 tokens a turn plus the prompt's bytes / 4.
    let used = 100 + "/stream 500".len() as u64 / 4;
    assert_eq!(
        turn.usage,
        [Event::Usage {
            turn_id: Some("s1".into()),
            used_tokens: used,
            context_size: Some(200_000),
            cost: Some(serde_json::json!({"amount": used as f64 * 0.000_003, "currency": "USD"})),
        }]
    );

    let turn = h.turn("s2", "/stream 3 every=10").await;
    assert_eq!(
        turn.updates,
        (1..=3)
            .map(|i| chunk("s2", &format!("chunk {i}\n")))
            .collect::<Vec<_>>()
    );
    h.stop().await;
}

#[tokio::test]
async fn stream_of_twenty_thousand_chunks() {
    let mut h = start(demo()).await;
    let turn = h.turn("big", "/stream 20000").await;
    assert_eq!(turn.result, Ok(StopReason::EndTurn));
    assert_eq!(turn.updates.len(), 20000);
    assert_eq!(turn.updates[19999], chunk("big", "chunk 20000\n"));
    h.stop().await;
}

/// Runs `/permission` up to the request and returns its reply sender.
async fn permission_requested(
    h: &mut Harness,
    turn_id: &str,
) -> tokio::sync::oneshot::Sender<Outcome> {
    h.link.prompt(turn_id, "/permission").unwrap();
    let Event::ToolCall {
        tool_call_id,
        tool_kind,
        status,
        ..
    } = h.update().await
    else {
        panic!("expected the tool call first")
    };
    assert_eq!(
        (tool_call_id.as_str(), tool_kind.as_str(), status.as_str()),
        ("demo-permission-1", "edit", "pending")
    );
    match h.next().await {
        AgentEvent::Permission {
            tool_call_id,
            title,
            options,
            reply,
        } => {
            assert_eq!(tool_call_id.as_deref(), Some("demo-permission-1"));
            assert_eq!(title, "Write berth-demo.txt");
            assert_eq!(
                options,
                vec![
                    PermissionOption {
                        option_id: "allow".to_owned(),
                        name: "Allow once".to_owned(),
                        kind: PermissionOptionKind::AllowOnce
                    },
                    PermissionOption {
                        option_id: "reject".to_owned(),
                        name: "Reject".to_owned(),
                        kind: PermissionOptionKind::RejectOnce
                    },
                ]
            );
            reply
        }
        other => panic!("expected a permission request, got {other:?}"),
    }
}

#[tokio::test]
async fn permission_round_trip() {
    let mut h = start(demo()).await;
    let reply = permission_requested(&mut h, "p1").await;
    reply
        .send(Outcome::Selected {
            option_id: "allow".to_owned(),
        })
        .unwrap();
    let turn = h.finish("p1").await;
    assert_eq!(turn.result, Ok(StopReason::EndTurn));
    assert_eq!(turn.text(), "You chose: allow\n");
    assert!(
        matches!(&turn.updates[1], Event::ToolCallUpdate { status: Some(s), .. } if s == "completed")
    );
    h.stop().await;
}

/// Updates the agent sends right behind a request reach berth behind it: berth reads
/// updates ahead of the ACP crate's dispatch (`intake`), and a barrier keeps them from
/// overtaking the request the crate is still handling.
#[tokio::test]
async fn updates_sent_behind_a_permission_request_follow_it() {
    let mut h = start(demo()).await;
    for round in 1..=20 {
        let turn_id = format!("p{round}");
        h.link.prompt(&turn_id, "/permission chatty").unwrap();
        assert!(matches!(h.update().await, Event::ToolCall { .. }));
        let reply = match h.next().await {
            AgentEvent::Permission { reply, .. } => reply,
            other => {
                panic!("round {round}: expected the request before its chatter, got {other:?}")
            }
        };
        assert_eq!(h.update().await, chunk(&turn_id, "While you decide: 1\n"));
        assert_eq!(h.update().await, chunk(&turn_id, "While you decide: 2\n"));
        reply
            .send(Outcome::Selected {
                option_id: "allow".to_owned(),
            })
            .unwrap();
        let turn = h.finish(&turn_id).await;
        assert_eq!(turn.text(), "You chose: allow\n");
    }
    h.stop().await;
}

#[tokio::test]
async fn dropped_permission_reply_is_a_cancellation() {
    let mut h = start(demo()).await;
    drop(permission_requested(&mut h, "p1").await);
    let turn = h.finish("p1").await;
    assert_eq!(turn.result, Ok(StopReason::EndTurn));
    assert_eq!(turn.text(), "Permission cancelled\n");
    assert!(
        matches!(&turn.updates[1], Event::ToolCallUpdate { status: Some(s), .. } if s == "failed")
    );
    h.stop().await;
}

async fn question_asked(h: &mut Harness, turn_id: &str) -> tokio::sync::oneshot::Sender<Outcome> {
    h.link.prompt(turn_id, "/ask").unwrap();
    match h.next().await {
        AgentEvent::Question {
            message,
            questions,
            reply,
        } => {
            assert_eq!(message, "Which color do you like best?");
            assert_eq!(
                questions,
                vec![Question {
                    id: "color".to_owned(),
                    question: "Pick a color".to_owned(),
                    options: Some(vec![
                        "red".to_owned(),
                        "green".to_owned(),
                        "blue".to_owned()
                    ]),
                    free_text: false,
                    optional: false,
                    multiple: false,
                }]
            );
            reply
        }
        other => panic!("expected a question, got {other:?}"),
    }
}

#[tokio::test]
async fn question_round_trip() {
    let mut h = start(demo()).await;
    let reply = question_asked(&mut h, "q1").await;
    let answers = BTreeMap::from([("color".to_owned(), "green".into())]);
    reply.send(Outcome::Answered { answers }).unwrap();
    let turn = h.finish("q1").await;
    assert_eq!(turn.result, Ok(StopReason::EndTurn));
    assert_eq!(turn.text(), "You picked: green\n");

    let reply = question_asked(&mut h, "q2").await;
    reply.send(Outcome::cancelled()).unwrap();
    let turn = h.finish("q2").await;
    assert_eq!(turn.text(), "Question cancelled\n");
    h.stop().await;
}

/// A multi-select form field is a `multiple` question, and a list answer reaches the
/// agent as a string array, each choice whole (one holds a comma).
#[tokio::test]
async fn multiple_choice_round_trip() {
    let mut h = start(demo()).await;
    h.link.prompt("m1", "/ask-many").unwrap();
    let reply = match h.next().await {
        AgentEvent::Question {
            message,
            questions,
            reply,
        } => {
            assert_eq!(message, "Which checks should run?");
            assert_eq!(
                questions,
                vec![Question {
                    id: "checks".to_owned(),
                    question: "Pick any".to_owned(),
                    options: Some(vec![
                        "lint".to_owned(),
                        "unit tests".to_owned(),
                        "e2e, in Chromium".to_owned()
                    ]),
                    free_text: false,
                    optional: false,
                    multiple: true,
                }]
            );
            reply
        }
        other => panic!("expected a question, got {other:?}"),
    };
    let choices = AnswerValue::Many(vec!["lint".to_owned(), "e2e, in Chromium".to_owned()]);
    let answers = BTreeMap::from([("checks".to_owned(), choices)]);
    reply.send(Outcome::Answered { answers }).unwrap();
    let turn = h.finish("m1").await;
    assert_eq!(turn.result, Ok(StopReason::EndTurn));
    assert_eq!(
        turn.text(),
        "You picked: [\"lint\", \"e2e, in Chromium\"]\n"
    );
    h.stop().await;
}

#[tokio::test]
async fn cancel_ends_a_sleeping_turn_promptly() {
    let mut h = start(demo()).await;
    h.link.prompt("z1", "/sleep 30").unwrap();
    // The turn is running once its first chunk arrives.
    assert!(
        matches!(h.update().await, Event::AgentMessageChunk { text, .. } if text.starts_with("Sleeping"))
    );
    h.link.cancel().unwrap();
    // The turn would sleep 30 s: ending well before that proves the cancel.
    let turn = timeout(Duration::from_secs(20), h.finish("z1"))
        .await
        .expect("cancel was not prompt");
    assert_eq!(turn.result, Ok(StopReason::Cancelled));
    h.stop().await;
}

#[tokio::test]
async fn fail_is_an_error_result() {
    let mut h = start(demo()).await;
    let turn = h.turn("f1", "/fail").await;
    let error = turn.result.unwrap_err();
    assert!(error.contains("on purpose"), "{error}");
    // The link survives a failed turn.
    assert_eq!(
        h.turn("f2", "/stream 1").await.result,
        Ok(StopReason::EndTurn)
    );
    h.stop().await;
}

/// Collects events after a crash until both TurnDone and Exited have arrived.
async fn crash_outcome(
    h: &mut Harness,
    turn_id: &str,
) -> (
    Vec<Event>,
    Result<StopReason, String>,
    (Option<i32>, Option<i32>),
) {
    let mut updates = Vec::new();
    let (mut done, mut exited) = (None, None);
    while done.is_none() || exited.is_none() {
        match h.next().await {
            AgentEvent::Update(event) => {
                assert!(
                    done.is_none() && exited.is_none(),
                    "update after the end: {event:?}"
                );
                updates.push(event);
            }
            AgentEvent::TurnDone {
                turn_id: id,
                result,
            } => {
                assert_eq!(id, turn_id);
                assert!(done.replace(result).is_none(), "two TurnDone");
            }
            AgentEvent::Exited { code, signal } => {
                assert!(exited.replace((code, signal)).is_none(), "two Exited")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    (updates, done.unwrap(), exited.unwrap())
}

#[tokio::test]
async fn crash_mid_turn_yields_turn_done_error_and_exited() {
    let mut h = start(demo()).await;
    h.link.prompt("c1", "/crash").unwrap();
    let (updates, result, exit) = crash_outcome(&mut h, "c1").await;
    assert_eq!(updates, vec![chunk("c1", "Crashing now.\n")]);
    assert_eq!(result, Err("agent process exited".to_owned()));
    assert_eq!(exit, (Some(101), None));
    assert!(matches!(h.link.prompt("c2", "hi"), Err(AgentError::Gone)));
    assert!(matches!(h.link.cancel(), Err(AgentError::Gone)));
}

#[tokio::test]
async fn exited_arrives_even_when_a_descendant_keeps_stdout_open() {
    // The background sleep inherits the agent's stdout and outlives it.
    let mut h = start(shell("/bin/sleep 60 & exec \"$0\"")).await;
    h.link.prompt("c1", "/crash").unwrap();
    let (_, result, exit) = crash_outcome(&mut h, "c1").await;
    assert_eq!(result, Err("agent process exited".to_owned()));
    assert_eq!(exit, (Some(101), None));
    // Reap the straggler: the group outlives its leader.
    h.link.kill(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn garbage_on_stdout_is_skipped() {
    // Every line the demo writes is preceded by one that is not JSON.
    let noisy = "\"$0\" | while IFS= read -r line; do echo 'not json: starting up...'; echo '{oops'; printf '%s\\n' \"$line\"; done";
    let mut h = start(shell(noisy)).await;
    let turn = h.turn("g1", "/stream 50").await;
    assert_eq!(turn.result, Ok(StopReason::EndTurn));
    assert_eq!(turn.updates.len(), 50);
    assert_eq!(h.turn("g2", "hello").await.result, Ok(StopReason::EndTurn));
    h.stop().await;
}

#[tokio::test]
async fn kill_terminates_the_agent_and_exited_follows() {
    let mut h = start(demo()).await;
    h.link.prompt("k1", "/sleep 30").unwrap();
    h.update().await;
    h.link.kill(Duration::from_secs(5)).await;
    let (_, result, exit) = crash_outcome(&mut h, "k1").await;
    assert_eq!(result, Err("agent process exited".to_owned()));
    assert_eq!(exit, (None, Some(15)));
}

#[tokio::test]
async fn kill_escalates_to_sigkill_when_sigterm_is_ignored() {
    // An ignored signal stays ignored across exec.
    let mut h = start(shell("trap '' TERM; exec \"$0\"")).await;
    h.link.kill(Duration::from_millis(200)).await;
    match h.next().await {
        AgentEvent::Exited { code, signal } => assert_eq!((code, signal), (None, Some(9))),
        other => panic!("expected Exited, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let spec = AgentSpec {
        program: "/nonexistent/berth-agent".to_owned(),
        args: vec![],
        env: vec![],
    };
    let (result, _, _) = try_start(spec).await;
    assert!(
        matches!(result, Err(AgentError::Spawn { .. })),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn an_agent_that_dies_at_once_is_a_handshake_error() {
    let (result, mut events, dirs) = try_start(shell("echo 'no agent here' >&2; exit 3")).await;
    let Err(AgentError::Handshake(reason)) = result else {
        panic!(
            "expected a handshake error, got {:?}",
            result.map(|link| link.pid())
        )
    };
    assert!(reason.contains("exit code 3"), "{reason}");
    assert_eq!(log_once_written(&dirs.stderr_log).await, "no agent here\n");
    // A link that never started sends nothing.
    assert!(timeout(WAIT, events.recv()).await.unwrap().is_none());
}

#[tokio::test]
async fn stderr_is_appended_to_the_log() {
    let h = start(shell("echo 'hello from stderr' >&2; exec \"$0\"")).await;
    assert_eq!(log_once_written(&h.stderr_log).await, "hello from stderr\n");
    h.stop().await;
}

/// The stderr log once its copy task has written a whole line (it copies the pipe a
/// task hop behind the agent): waits on that condition, bounded.
async fn log_once_written(path: &std::path::Path) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.ends_with('\n') || std::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A hand-written ACP agent that makes `fs/*` (and one unsupported) requests during its
/// turn and appends each answer it gets to `responses` in its cwd.
const FS_AGENT: &str = r#"
reply() { printf '{"jsonrpc":"2.0","id":"%s","result":%s}\n' "$(printf '%s' "$1" | /bin/sed -n 's/.*"id":"\([^"]*\)".*/\1/p')" "$2"; }
ask() { printf '{"jsonrpc":"2.0","id":"%s","method":"%s","params":%s}\n' "$1" "$2" "$3"; read -r answer; printf '%s\n' "$answer" >> responses; }
read -r line; reply "$line" '{"protocolVersion":1,"agentCapabilities":{}}'
read -r line; reply "$line" '{"sessionId":"fake"}'
read -r prompt
dir=$(pwd)
ask 1 fs/read_text_file "{\"sessionId\":\"fake\",\"path\":\"$dir/inside.txt\",\"line\":2,\"limit\":1}"
ask 2 fs/read_text_file "{\"sessionId\":\"fake\",\"path\":\"$dir/../outside.txt\"}"
ask 3 fs/write_text_file "{\"sessionId\":\"fake\",\"path\":\"$dir/new/file.txt\",\"content\":\"written\"}"
ask 4 fs/write_text_file "{\"sessionId\":\"fake\",\"path\":\"$dir/../escaped.txt\",\"content\":\"nope\"}"
ask 5 terminal/create '{"sessionId":"fake","command":"ls"}'
reply "$prompt" '{"stopReason":"end_turn"}'
while read -r line; do :; done
"#;

#[tokio::test]
async fn fs_requests_are_confined_to_the_session_directory() {
    let mut h = start(shell(FS_AGENT)).await;
    std::fs::write(h.cwd.join("inside.txt"), "one\ntwo\nthree\n").unwrap();
    let outside = h.cwd.parent().unwrap().to_owned();
    std::fs::write(outside.join("outside.txt"), "secret").unwrap();

    assert_eq!(h.turn("fs1", "go").await.result, Ok(StopReason::EndTurn));
    let responses: Vec<serde_json::Value> = std::fs::read_to_string(h.cwd.join("responses"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(responses.len(), 5);
    assert_eq!(responses[0]["result"]["content"], "two\n");
    assert_eq!(responses[1]["error"]["code"], -32602, "{}", responses[1]);
    assert!(
        responses[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outside")
    );
    assert!(responses[2]["result"].is_object(), "{}", responses[2]);
    assert_eq!(
        std::fs::read_to_string(h.cwd.join("new/file.txt")).unwrap(),
        "written"
    );
    assert_eq!(responses[3]["error"]["code"], -32602, "{}", responses[3]);
    assert!(!outside.join("escaped.txt").exists());
    assert_eq!(responses[4]["error"]["code"], -32601, "{}", responses[4]);
    h.stop().await;
}
