//! Agents fail, hang and get cancelled; sessions survive it (ARCHITECTURE.md §2.4, §2.8):
//! a crash or a failed turn leaves the session in `error`, cancel ends a turn promptly
//! (killing an agent that does not listen), deleting a session stops its agent, and
//! the next prompt always works.

mod support;

use std::time::{Duration, Instant};

use berth_protocol::{Event, ServerFrame, Status, StopReason};
use serde_json::json;
use support::{TestServer, agent_pids, signal, status_json, turn_ended};

/// Wait until the turn `turn_id` is under way in the demo agent's `/sleep`.
async fn wait_sleeping(server: &TestServer, session: &str, turn_id: &str) {
    server
        .wait_event(session, |e| {
            matches!(e, Event::AgentMessageChunk { turn_id: t, text } if t == turn_id && text.starts_with("Sleeping"))
        })
        .await;
}

/// Send a default prompt and check it runs to `end_turn` on a fresh agent (a new
/// `agent_started` whose pid differs from every earlier one); the session ends idle.
async fn next_prompt_starts_a_fresh_agent(server: &TestServer, session: &str) {
    let before = agent_pids(&server.events(session).await);
    server
        .send_and_expect_end_turn(session, "hello again")
        .await;
    let after = agent_pids(&server.events(session).await);
    assert_eq!(
        after.len(),
        before.len() + 1,
        "a new agent_started: {before:?} → {after:?}"
    );
    let new = *after.last().unwrap();
    assert!(
        !before.contains(&new),
        "a different pid: {before:?} → {after:?}"
    );
    let summary = server.wait_idle(session).await;
    assert_eq!(summary.status, Status::Idle, "{summary:?}");
    assert!(summary.agent_running);
}

/// Makes sure a process we froze does not outlive a failed test.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if !support::process_gone(self.0) {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", self.0)).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains("agent") {
                signal(self.0, "KILL");
            }
        }
    }
}

#[tokio::test]
async fn a_crashed_agent_ends_the_turn_in_error_and_the_next_prompt_starts_a_new_one() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    let turn_id = server.send(sid, "/crash").await;
    let (_, reason, error) = turn_ended(&server, sid, &turn_id).await;
    assert_eq!(reason, StopReason::Error);
    assert!(error.as_deref().is_some_and(|e| !e.is_empty()), "{error:?}");
    let (_, exited) = server
        .wait_event(sid, |e| matches!(e, Event::AgentExited { .. }))
        .await;
    assert!(
        matches!(exited, Event::AgentExited { code: Some(code), .. } if code != 0),
        "{exited:?}"
    );
    let pid = agent_pids(&server.events(sid).await)[0];
    support::wait_process_gone(pid).await;
    let summary = server
        .wait_summary(sid, "status error, no agent", |s| {
            s.status == Status::Error && !s.agent_running
        })
        .await;
    assert_eq!(summary.pending_prompts, 0);
    // The chunk written before dying is kept.
    let text: String = server
        .events(sid)
        .await
        .iter()
        .filter_map(|(_, e)| match e {
            Event::AgentMessageChunk { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(text.contains("Crashing now"), "{text:?}");

    next_prompt_starts_a_fresh_agent(&server, sid).await;
}

#[tokio::test]
async fn a_failed_turn_ends_in_error_and_the_next_prompt_works() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    let turn_id = server.send(sid, "/fail").await;
    let (_, reason, error) = turn_ended(&server, sid, &turn_id).await;
    assert_eq!(reason, StopReason::Error);
    assert!(error.as_deref().is_some_and(|e| !e.is_empty()), "{error:?}");
    let summary = server
        .wait_summary(sid, "status error", |s| s.status == Status::Error)
        .await;
    assert!(
        summary.agent_running,
        "a failed turn does not kill the agent: {summary:?}"
    );

    server.send_and_expect_end_turn(sid, "hello").await;
    assert_eq!(server.wait_idle(sid).await.status, Status::Idle);
    assert_eq!(
        agent_pids(&server.events(sid).await).len(),
        1,
        "the same agent served both turns"
    );
}

#[tokio::test]
async fn cancel_ends_a_long_turn_promptly_and_a_second_turn_is_a_conflict() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    let turn_id = server.send(sid, "/sleep 60").await;

    // A turn runs from its turn_started: a second one is refused at once.
    let (status, body) = server.try_send(sid, "hello").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    wait_sleeping(&server, sid, &turn_id).await;
    let (status, body) = server.try_send(sid, "hello").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(server.session(sid).await.status, Status::Running);

    let started = Instant::now();
    let (status, body) = server.cancel_turn(sid).await;
    assert_eq!(status, 202, "{body}");
    let (_, reason, _) = turn_ended(&server, sid, &turn_id).await;
    let took = started.elapsed();
    assert_eq!(reason, StopReason::Cancelled);
    assert!(took < Duration::from_secs(30), "cancel took {took:?}");
    let summary = server.wait_idle(sid).await;
    assert_eq!(summary.status, Status::Idle, "{summary:?}");

    // The agent listened, so it is kept for the next turn.
    server.send_and_expect_end_turn(sid, "hello").await;
    assert_eq!(server.wait_idle(sid).await.status, Status::Idle);
    let users = server
        .events(sid)
        .await
        .iter()
        .filter(|(_, e)| matches!(e, Event::UserMessage { .. }))
        .count();
    assert_eq!(users, 2, "the refused turns left nothing in the log");
}

#[tokio::test]
async fn cancel_with_a_short_grace_ends_the_turn_and_the_session_carries_on() {
    let server = TestServer::start_with(&["--cancel-grace", "1"]).await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    let turn_id = server.send(sid, "/sleep 60").await;
    wait_sleeping(&server, sid, &turn_id).await;
    let (status, _) = server.cancel_turn(sid).await;
    assert_eq!(status, 202);
    let (_, reason, _) = turn_ended(&server, sid, &turn_id).await;
    assert_eq!(reason, StopReason::Cancelled);
    server.send_and_expect_end_turn(sid, "hello").await;
    assert_eq!(server.wait_idle(sid).await.status, Status::Idle);
}

/// An agent that ignores cancel (here: frozen with SIGSTOP, so it cannot answer) is
/// killed after the grace; the turn still ends `cancelled` and the next prompt gets a
/// fresh agent at once.
#[tokio::test]
async fn an_agent_that_ignores_cancel_is_killed_after_the_grace() {
    let server = TestServer::start_with(&["--cancel-grace", "1"]).await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    let turn_id = server.send(sid, "/sleep 60").await;
    wait_sleeping(&server, sid, &turn_id).await;
    let pid = agent_pids(&server.events(sid).await)[0];
    let _guard = KillOnDrop(pid);
    signal(pid, "STOP");

    let started = Instant::now();
    let (status, body) = server.cancel_turn(sid).await;
    assert_eq!(status, 202, "{body}");
    let (_, reason, _) = turn_ended(&server, sid, &turn_id).await;
    assert_eq!(reason, StopReason::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    support::wait_process_gone(pid).await;
    server
        .wait_event(sid, |e| matches!(e, Event::AgentExited { .. }))
        .await;
    let summary = server
        .wait_summary(sid, "no agent running", |s| !s.agent_running)
        .await;
    assert!(
        !matches!(
            summary.status,
            Status::Running | Status::AwaitingInput | Status::Starting
        ),
        "{summary:?}"
    );
    next_prompt_starts_a_fresh_agent(&server, sid).await;
}

/// Same, but the next prompt is sent the moment the cancelled turn has ended, while the
/// frozen agent is still being killed: it must go to a fresh agent, not the dying one.
#[tokio::test]
async fn a_prompt_right_after_a_cancel_kill_gets_a_fresh_agent() {
    let server = TestServer::start_with(&["--cancel-grace", "1"]).await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    let turn_id = server.send(sid, "/sleep 60").await;
    wait_sleeping(&server, sid, &turn_id).await;
    let pid = agent_pids(&server.events(sid).await)[0];
    let _guard = KillOnDrop(pid);
    signal(pid, "STOP");

    let (status, _) = server.cancel_turn(sid).await;
    assert_eq!(status, 202);
    let (_, reason, _) = turn_ended(&server, sid, &turn_id).await;
    assert_eq!(reason, StopReason::Cancelled);
    server
        .send_and_expect_end_turn(sid, "hello right away")
        .await;
    support::wait_process_gone(pid).await;
    let pids = agent_pids(&server.events(sid).await);
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert_ne!(pids[0], pids[1]);
    assert_eq!(server.wait_idle(sid).await.status, Status::Idle);
}

#[tokio::test]
async fn deleting_a_session_stops_its_agent_and_tells_viewports() {
    let server = TestServer::start().await;
    let keep = server.create_session().await;
    let session = server.create_session().await;
    let sid = session.id.clone();
    let mut viewport = server.viewport().await;
    viewport.attach(&sid, 0).await;
    viewport
        .next_matching("attached", |f| matches!(f, ServerFrame::Attached { .. }))
        .await;

    // Mid-turn, with a prompt pending: the hardest moment to go.
    let turn_id = server.send(&sid, "/permission").await;
    let prompt_id = server.wait_pending_prompt(&sid).await;
    let pid = agent_pids(&server.events(&sid).await)[0];
    assert!(!support::process_gone(pid));

    let response = server
        .delete(&format!("/sessions/{sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    viewport
        .next_matching(
            "session_deleted",
            |f| matches!(f, ServerFrame::SessionDeleted { session } if *session == sid),
        )
        .await;
    support::wait_process_gone(pid).await;

    let listed: Vec<String> = server.sessions().await.into_iter().map(|s| s.id).collect();
    assert_eq!(listed, vec![keep.id.clone()]);
    assert!(
        server.prompts().await.prompts.is_empty(),
        "its prompts go with it"
    );

    let not_found = |status: u16, body: &serde_json::Value| {
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["code"], "not_found", "{body}");
    };
    let (status, body) = status_json(server.get(&format!("/sessions/{sid}"))).await;
    not_found(status, &body);
    let (status, body) = status_json(server.get(&format!("/sessions/{sid}/events"))).await;
    not_found(status, &body);
    let (status, body) = server.try_send(&sid, "hello").await;
    not_found(status, &body);
    let (status, body) = server.cancel_turn(&sid).await;
    not_found(status, &body);
    let (status, body) = server
        .answer_prompt(&sid, &prompt_id, &json!({"option_id": "allow"}))
        .await;
    not_found(status, &body);
    let (status, body) = status_json(
        server
            .post(&format!("/sessions/{sid}/read"))
            .json(&json!({"seq": 1})),
    )
    .await;
    not_found(status, &body);
    let (status, body) = status_json(
        server
            .patch(&format!("/sessions/{sid}"))
            .json(&json!({"title": "x"})),
    )
    .await;
    not_found(status, &body);
    let (status, body) = status_json(server.delete(&format!("/sessions/{sid}"))).await;
    not_found(status, &body);

    viewport.attach(&sid, 0).await;
    match viewport
        .next_matching("an error", |f| {
            matches!(f, ServerFrame::Error { .. } | ServerFrame::Attached { .. })
        })
        .await
    {
        ServerFrame::Error { code, .. } => assert_eq!(code, berth_protocol::ErrorCode::NotFound),
        other => panic!("attached to a deleted session: {other:?}"),
    }

    // The other session is untouched and works.
    server.send_and_expect_end_turn(&keep.id, "hello").await;
    let _ = turn_id;
}

#[tokio::test]
async fn an_agent_dying_while_a_prompt_waits_cancels_the_prompt_and_ends_the_turn() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    let turn_id = server.send(sid, "/permission").await;
    let prompt_id = server.wait_pending_prompt(sid).await;
    let pid = agent_pids(&server.events(sid).await)[0];
    signal(pid, "KILL");

    let (_, reason, error) = turn_ended(&server, sid, &turn_id).await;
    assert_eq!(reason, StopReason::Error);
    assert!(error.as_deref().is_some_and(|e| !e.is_empty()), "{error:?}");
    let log = server.events(sid).await;
    let resolved: Vec<_> = log
        .iter()
        .filter(|(_, e)| matches!(e, Event::PromptResolved { prompt_id: p, .. } if *p == prompt_id))
        .collect();
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert!(matches!(
        &resolved[0].1,
        Event::PromptResolved {
            outcome: berth_protocol::Outcome::Cancelled { cancelled: true },
            ..
        }
    ));
    assert!(server.prompts().await.prompts.is_empty());
    let summary = server
        .wait_summary(sid, "status error, no agent", |s| {
            s.status == Status::Error && !s.agent_running
        })
        .await;
    assert_eq!(summary.pending_prompts, 0);
    let (status, body) = server
        .answer_prompt(sid, &prompt_id, &json!({"option_id": "allow"}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["resolution"]["outcome"],
        json!({"cancelled": true})
    );

    next_prompt_starts_a_fresh_agent(&server, sid).await;
}
