//! Issue 9 against the real binary: each live session runs in a session host, so a
//! running turn, its pending prompts and its agent outlive a kill -9, a SIGTERM or an
//! upgrade of the server; a host that dies takes only its own turn with it.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_protocol::{Event, Seq, ServerFrame, Status, StopReason};
use berth_session::host::wire::HOST_PROTOCOL;
use serde_json::json;
use support::{
    Received, TestServer, Viewport, agent_pids, check_frames_against_log, epoch_of,
    expect_end_turn, host_pids, process_gone, turn_ended, wait_for,
};

const HOSTS: &[&str] = &["--hosts", "true"];

/// The pid of the host of `session` (its lease names it), once it runs.
async fn host_pid(data_dir: &Path, session: &str) -> u32 {
    let lease = data_dir.join("hosts").join(format!("{session}.lock"));
    let mut pid = 0;
    wait_for("the session's host", || {
        let found = std::fs::read_to_string(&lease)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            .filter(|p| !process_gone(*p));
        if let Some(found) = found {
            pid = found;
        }
        async move { found.is_some() }
    })
    .await;
    pid
}

/// Every event frame a viewport gets until `until` holds for one of them.
async fn frames_until(
    viewport: &mut Viewport,
    until: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let mut frames = Vec::new();
    while !until(&frames) {
        match viewport.next_non_summary().await.expect("the server is up") {
            ServerFrame::Attached { .. } => {}
            frame => frames.push(Received::of(frame).expect("only event frames after attached")),
        }
    }
    frames
}

fn chunks(frames: &[Received]) -> u64 {
    frames
        .iter()
        .filter(|f| matches!(f.event, Event::AgentMessageChunk { .. }))
        .map(|f| f.seq - f.first_seq + 1)
        .sum()
}

/// The whole log is dense from 1, holds `/stream n`'s chunks exactly once and in
/// order, and the turn ended `end_turn` with no word of a restart.
fn check_stream_log(records: &[berth_protocol::EventRecord], turn_id: &str, n: usize) {
    let seqs: Vec<Seq> = records.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as Seq).collect::<Vec<_>>(),
        "dense seqs"
    );
    let texts: Vec<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::AgentMessageChunk { turn_id: t, text } if t == turn_id => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), n, "every chunk, once");
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(
            *text,
            format!("chunk {}\n", i + 1),
            "chunk {} in order",
            i + 1
        );
    }
    let ends: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::TurnEnded {
                turn_id: t,
                stop_reason,
                error,
            } if t == turn_id => Some((*stop_reason, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [(StopReason::EndTurn, None)], "one end, a normal one");
}

#[tokio::test]
async fn kill9_of_the_server_mid_stream_the_turn_runs_on_and_the_log_is_whole() {
    let mut server = TestServer::start_with(HOSTS).await;
    let sid = server.create_session().await.id;
    let mut viewport = server.viewport().await;
    let epoch = epoch_of(&viewport.hello);
    viewport.attach(&sid, 0).await;
    let turn_id = server.send(&sid, "/stream 3000 every=2").await;
    let host = host_pid(&server.data_dir, &sid).await;
    let mut frames = frames_until(&mut viewport, |f| chunks(f) >= 200).await;

    let dir = server.kill9();
    while let Some(frame) = viewport.next_frame().await {
        frames.extend(Received::of(frame));
    }
    assert!(!process_gone(host), "the host outlives its server");

    let server = TestServer::spawn(dir.path(), 0, HOSTS).await;
    // A viewport from 0 on the new server sees the whole turn, to its end.
    let mut viewport = server.viewport().await;
    assert_eq!(epoch_of(&viewport.hello), epoch, "same epoch");
    viewport.attach(&sid, 0).await;
    let again = frames_until(&mut viewport, |f| {
        f.iter()
            .any(|r| matches!(&r.event, Event::TurnEnded { turn_id: t, .. } if *t == turn_id))
    })
    .await;
    expect_end_turn(&server, &sid, &turn_id).await;
    let (page_epoch, records) = server.event_records(&sid).await;
    assert_eq!(page_epoch, epoch);
    check_stream_log(&records, &turn_id, 3000);
    check_frames_against_log(&frames, &records, 0);
    check_frames_against_log(&again, &records, 0);
    assert_eq!(chunks(&again), 3000);
    assert_eq!(
        agent_pids(&server.events(&sid).await).len(),
        1,
        "one agent for the whole turn"
    );
    assert_eq!(host_pid(dir.path(), &sid).await, host, "the same host");
    drop(server);
    drop(dir);
}

/// Start `/permission` and return (turn id, prompt id).
async fn pending_permission(server: &TestServer, sid: &str) -> (String, String) {
    let turn_id = server.send(sid, "/permission").await;
    let prompt_id = server.wait_pending_prompt(sid).await;
    (turn_id, prompt_id)
}

/// After a restart: the prompt is listed, one answer finishes the turn, a second is 409.
async fn answer_after_restart(server: &TestServer, sid: &str, turn_id: &str, prompt_id: &str) {
    let listed = server.prompts().await.prompts;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].prompt_id(), Some(prompt_id));
    assert_eq!(server.session(sid).await.status, Status::AwaitingInput);
    let (status, body) = server
        .answer_prompt(sid, prompt_id, &json!({"option_id": "allow"}))
        .await;
    assert_eq!(status, 200, "{body}");
    expect_end_turn(server, sid, turn_id).await;
    let (status, body) = server
        .answer_prompt(sid, prompt_id, &json!({"option_id": "reject"}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "already_resolved");
    assert_eq!(body["error"]["resolution"]["outcome"]["option_id"], "allow");
}

#[tokio::test]
async fn kill9_while_a_permission_waits_the_prompt_is_answered_after_the_restart() {
    let mut server = TestServer::start_with(HOSTS).await;
    let sid = server.create_session().await.id;
    let (turn_id, prompt_id) = pending_permission(&server, &sid).await;
    let dir = server.kill9();
    let server = TestServer::spawn(dir.path(), 0, HOSTS).await;
    answer_after_restart(&server, &sid, &turn_id, &prompt_id).await;
    drop(server);
    drop(dir);
}

/// A copy of the binary under test, in `dir`: the "installed" berth an upgrade replaces.
fn install_copy(dir: &Path) -> PathBuf {
    let path = dir.join("berth");
    std::fs::copy(env!("CARGO_BIN_EXE_berth"), &path).unwrap();
    path
}

/// Replace `installed` as a package manager does: a new file renamed over the old name
/// (the running hosts keep the old file's inode).
fn replace_binary(installed: &Path) {
    let new = installed.with_extension("new");
    std::fs::copy(env!("CARGO_BIN_EXE_berth"), &new).unwrap();
    std::fs::rename(&new, installed).unwrap();
}

#[tokio::test]
async fn sigterm_ten_seconds_without_a_server_and_an_upgrade_keep_turns_and_prompts() {
    let bin = tempfile::tempdir().unwrap();
    let installed = install_copy(bin.path());
    let data = tempfile::tempdir().unwrap();
    let mut server = TestServer::spawn_from(&installed, data.path(), 0, HOSTS).await;
    let streaming = server.create_session().await.id;
    let asking = server.create_session().await.id;
    let (ask_turn, prompt_id) = pending_permission(&server, &asking).await;
    let stream_turn = server.send(&streaming, "/stream 1500 every=10").await;
    let host = host_pid(data.path(), &streaming).await;
    server
        .wait_event(
            &streaming,
            |e| matches!(e, Event::AgentMessageChunk { text, .. } if text == "chunk 10\n"),
        )
        .await;

    server.stop_keep();
    assert!(!process_gone(host), "SIGTERM of the server leaves the host");
    // The scenario itself: ten seconds with no server while the turn runs.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        !process_gone(host),
        "a host with a running turn needs no server"
    );
    replace_binary(&installed);

    let server = TestServer::spawn_from(&installed, data.path(), 0, HOSTS).await;
    answer_after_restart(&server, &asking, &ask_turn, &prompt_id).await;
    expect_end_turn(&server, &streaming, &stream_turn).await;
    let (_, records) = server.event_records(&streaming).await;
    check_stream_log(&records, &stream_turn, 1500);
    assert_eq!(host_pid(data.path(), &streaming).await, host);
    // The next turn works, from the same (old) host, driven by the new server.
    server
        .send_and_expect_end_turn(&streaming, "/stream 3")
        .await;
    drop(server);
}

#[tokio::test]
async fn a_host_killed_with_9_closes_its_own_turn_and_nothing_else() {
    let server = TestServer::start_with(HOSTS).await;
    let doomed = server.create_session().await.id;
    let other = server.create_session().await.id;
    let (other_turn, other_prompt) = pending_permission(&server, &other).await;
    let turn_id = server.send(&doomed, "/sleep 120").await;
    let host = host_pid(&server.data_dir, &doomed).await;
    server
        .wait_summary(&doomed, "the turn running", |s| s.status == Status::Running)
        .await;

    support::signal(host, "KILL");
    let (_, reason, error) = turn_ended(&server, &doomed, &turn_id).await;
    assert_eq!(reason, StopReason::Error);
    let error = error.expect("a reason");
    assert!(error.contains("session host exited"), "{error}");
    let summary = server
        .wait_summary(&doomed, "the closed turn shown", |s| {
            s.status == Status::Error
        })
        .await;
    assert_eq!(summary.pending_prompts, 0);

    // The other session did not notice.
    let listed = server.prompts().await.prompts;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].prompt_id(), Some(other_prompt.as_str()));
    let (status, body) = server
        .answer_prompt(&other, &other_prompt, &json!({"option_id": "allow"}))
        .await;
    assert_eq!(status, 200, "{body}");
    expect_end_turn(&server, &other, &other_turn).await;

    // The next prompt starts a new host.
    server.send_and_expect_end_turn(&doomed, "/stream 3").await;
    let new_host = host_pid(&server.data_dir, &doomed).await;
    assert_ne!(new_host, host);
    assert_eq!(host_pids(&server.data_dir).len(), 2);
}

#[tokio::test]
async fn a_host_dead_before_the_server_starts_has_its_turn_closed_at_start() {
    let mut server = TestServer::start_with(HOSTS).await;
    let sid = server.create_session().await.id;
    let turn_id = server.send(&sid, "/sleep 120").await;
    let host = host_pid(&server.data_dir, &sid).await;
    let dir = server.kill9();
    support::signal(host, "KILL");
    support::wait_process_gone(host).await;

    let server = TestServer::spawn(dir.path(), 0, HOSTS).await;
    let (_, reason, error) = turn_ended(&server, &sid, &turn_id).await;
    assert_eq!(reason, StopReason::Error);
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("session host exited")),
        "{error:?}"
    );
    assert_eq!(server.session(&sid).await.status, Status::Error);
    assert!(
        !dir.path()
            .join("hosts")
            .join(format!("{sid}.lock"))
            .exists(),
        "the dead host's lease is cleared"
    );
    server.send_and_expect_end_turn(&sid, "/stream 3").await;
    drop(server);
    drop(dir);
}

/// A server with hosts, a session streaming in its host, and that host's socket.
async fn streaming_host() -> (TestServer, berth_protocol::Session, String, PathBuf) {
    let server = TestServer::start_with(HOSTS).await;
    let session = server.create_session().await;
    let turn_id = server.send(&session.id, "/stream 200 every=10").await;
    host_pid(&server.data_dir, &session.id).await;
    let socket = server
        .data_dir
        .join("sessions")
        .join(&session.slug)
        .join("host.sock");
    (server, session, turn_id, socket)
}

#[tokio::test]
async fn a_server_speaking_another_protocol_is_refused_and_cannot_take_the_host_over() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let (server, session, turn_id, socket) = streaming_host().await;
    let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    stream
        .write_all(b"{\"t\":\"hello\",\"protocol\":999,\"server_version\":\"9.9.9\"}\n")
        .await
        .unwrap();
    let mut line = String::new();
    BufReader::new(&mut stream)
        .read_line(&mut line)
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(answer["t"], "incompatible", "{answer}");
    let reason = answer["reason"].as_str().unwrap();
    let ours = format!("v{HOST_PROTOCOL}");
    assert!(
        reason.contains("v999") && reason.contains(&ours),
        "{reason}"
    );
    assert!(reason.contains("finishes its turn"), "{reason}");

    // The server that speaks its protocol still drives it, to the end of the turn.
    expect_end_turn(&server, &session.id, &turn_id).await;
    let (_, records) = server.event_records(&session.id).await;
    check_stream_log(&records, &turn_id, 200);
    server
        .send_and_expect_end_turn(&session.id, "/stream 2")
        .await;
}

/// `berth stop --all` against `server` (a URL nothing may answer at) and `data_dir`;
/// its stdout, once it succeeded.
async fn stop_all(server: &str, token: &str, data_dir: &Path) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["stop", "--all", "--server", server, "--token", token])
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("BERTH_URL")
        .env_remove("BERTH_TOKEN")
        .env("XDG_CONFIG_HOME", data_dir.join("no-config"))
        .env("RUST_LOG", "warn")
        .output();
    let out = tokio::time::timeout(support::WAIT, out)
        .await
        .expect("berth stop --all finishes")
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "berth stop --all failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Both turns ended cancelled by the user's stop (not by a lost host), the prompt with
/// them, and the sessions show as stopped.
async fn check_stopped(server: &TestServer, turns: &[(&str, &str)]) {
    for (sid, turn_id) in turns {
        let (_, reason, error) = turn_ended(server, sid, turn_id).await;
        assert_eq!(reason, StopReason::Cancelled, "{sid}");
        assert_eq!(
            error.as_deref(),
            Some("the agent was stopped by the user"),
            "{sid}"
        );
        let summary = server
            .wait_summary(sid, "stopped", |s| s.status == Status::Stopped)
            .await;
        assert_eq!(summary.pending_prompts, 0);
        assert!(!summary.agent_running);
    }
    assert!(server.prompts().await.prompts.is_empty());
}

#[tokio::test]
async fn stop_all_with_the_server_down_stops_every_host_and_its_agent() {
    let mut server = TestServer::start_with(HOSTS).await;
    let streaming = server.create_session().await.id;
    let asking = server.create_session().await.id;
    let idle = server.create_session().await.id;
    let (ask_turn, _) = pending_permission(&server, &asking).await;
    let stream_turn = server.send(&streaming, "/stream 100000 every=5").await;
    let hosts = [
        host_pid(&server.data_dir, &streaming).await,
        host_pid(&server.data_dir, &asking).await,
    ];
    let (_, started) = server
        .wait_event(&streaming, |e| matches!(e, Event::AgentStarted { .. }))
        .await;
    let Event::AgentStarted { pid: agent, .. } = started else {
        unreachable!()
    };
    let token = server.token.clone();
    let dir = server.kill9();

    let out = stop_all("http://127.0.0.1:1", &token, dir.path()).await;
    assert!(out.contains("no server is running"), "{out}");
    for sid in [&streaming, &asking] {
        assert!(out.contains(&format!("stopped {sid}")), "{out}");
    }
    assert!(!out.contains(&idle), "{out}");
    for pid in hosts.into_iter().chain([agent]) {
        support::wait_process_gone(pid).await;
    }
    assert!(host_pids(dir.path()).is_empty());

    let server = TestServer::spawn(dir.path(), 0, HOSTS).await;
    check_stopped(&server, &[(&streaming, &stream_turn), (&asking, &ask_turn)]).await;
    // A stopped session starts again on the next prompt.
    server
        .send_and_expect_end_turn(&streaming, "/stream 2")
        .await;
    drop(server);
    drop(dir);
}

#[tokio::test]
async fn stop_all_with_the_server_up_goes_through_it() {
    let server = TestServer::start_with(HOSTS).await;
    let streaming = server.create_session().await.id;
    let asking = server.create_session().await.id;
    let idle = server.create_session().await.id;
    let (ask_turn, _) = pending_permission(&server, &asking).await;
    let stream_turn = server.send(&streaming, "/stream 100000 every=5").await;
    host_pid(&server.data_dir, &streaming).await;

    let out = stop_all(&server.base, &server.token, &server.data_dir).await;
    assert!(!out.contains("no server is running"), "{out}");
    for sid in [&streaming, &asking] {
        assert!(
            out.contains(&format!("stopping the agent of {sid}")),
            "{out}"
        );
    }
    assert!(!out.contains(&idle), "{out}");
    check_stopped(&server, &[(&streaming, &stream_turn), (&asking, &ask_turn)]).await;
}

#[tokio::test]
async fn a_control_connection_does_not_take_the_host_from_its_server() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let (server, session, turn_id, socket) = streaming_host().await;
    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    let hello = format!(
        "{{\"t\":\"hello\",\"protocol\":{HOST_PROTOCOL},\"server_version\":\"x\",\"control\":true}}\n"
    );
    write.write_all(hello.as_bytes()).await.unwrap();
    let mut lines = BufReader::new(read).lines();
    let welcome: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(welcome["t"], "welcome", "{welcome}");
    write
        .write_all(b"{\"t\":\"request\",\"id\":7,\"request\":{\"request\":\"pending_prompts\"}}\n")
        .await
        .unwrap();
    let reply: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(
        reply["t"], "reply",
        "only replies on a control connection: {reply}"
    );
    assert_eq!(reply["id"], 7);

    // The server still drives the host: its viewports see the whole turn.
    expect_end_turn(&server, &session.id, &turn_id).await;
    let (_, records) = server.event_records(&session.id).await;
    check_stream_log(&records, &turn_id, 200);
    drop(write);
}
