//! Queued follow-ups (issue 11): `POST /turns` with `"queue": true` while a turn runs is
//! accepted and starts when the turn before it ends; queued turns are in the summary,
//! can be removed, and go with a cancelled turn (the log says so), or with a server
//! that died mid-turn.

mod support;

use berth_protocol::{Event, Session, StopReason, UnqueueReason};
use serde_json::json;
use support::{TestServer, expect_end_turn, status_json, turn_ended};

async fn queue(server: &TestServer, id: &str, text: &str) -> (u16, serde_json::Value) {
    status_json(
        server
            .post(&format!("/sessions/{id}/turns"))
            .json(&json!({"text": text, "queue": true})),
    )
    .await
}

async fn queued(server: &TestServer, id: &str, text: &str) -> String {
    let (status, body) = queue(server, id, text).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["queued"], true, "{body}");
    body["turn_id"].as_str().unwrap().to_owned()
}

fn unqueued(events: &[(u64, Event)], reason: UnqueueReason) -> Vec<String> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::TurnUnqueued { turn_id, reason: r } if *r == reason => Some(turn_id.clone()),
            _ => None,
        })
        .collect()
}

fn started(events: &[(u64, Event)]) -> Vec<String> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::TurnStarted { turn_id } => Some(turn_id.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn queued_turns_run_in_order_and_can_be_removed() {
    let server = TestServer::start().await;
    let id = server.create_session().await.id;
    // With no turn running, `queue` starts the turn at once.
    let (status, body) = queue(&server, &id, "/stream 40 every=25").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body.get("queued"), None, "started, not queued: {body}");
    let first = body["turn_id"].as_str().unwrap().to_owned();

    let second = queued(&server, &id, "/whoami").await;
    let third = queued(&server, &id, "and then this").await;
    let gone = queued(&server, &id, "never mind").await;
    let session = server.session(&id).await;
    let listed: Vec<(&str, &str)> = session
        .queued
        .iter()
        .map(|q| (q.turn_id.as_str(), q.preview.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            (second.as_str(), "/whoami"),
            (third.as_str(), "and then this"),
            (gone.as_str(), "never mind")
        ]
    );

    // Without `queue`, still the v1 answer; an empty text is refused either way.
    let (status, body) = server.try_send(&id, "not queued").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("queue"),
        "{body}"
    );
    let (status, _) = queue(&server, &id, "  ").await;
    assert_eq!(status, 400);

    // Removing: the queued one goes; again, or an unknown one, is a 404; the running one
    // is a 409 (cancel it instead).
    let path = |turn: &str| format!("/sessions/{id}/turns/{turn}");
    let (status, body) = status_json(server.delete(&path(&gone))).await;
    assert_eq!(status, 200, "{body}");
    let session: Session = serde_json::from_value(body).unwrap();
    assert_eq!(session.queued.len(), 2);
    let (status, _) = status_json(server.delete(&path(&gone))).await;
    assert_eq!(status, 404);
    let (status, body) = status_json(server.delete(&path(&first))).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = status_json(server.delete("/sessions/no-such/turns/x")).await;
    assert_eq!(status, 404);

    // Each starts when the one before it ends, in order.
    expect_end_turn(&server, &id, &first).await;
    expect_end_turn(&server, &id, &second).await;
    expect_end_turn(&server, &id, &third).await;
    let events = server.events(&id).await;
    assert_eq!(started(&events), [first, second.clone(), third]);
    assert_eq!(unqueued(&events, UnqueueReason::Removed), [gone]);
    let whoami: String = events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::AgentMessageChunk { turn_id, text } if *turn_id == second => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(whoami.starts_with("mode: code"), "{whoami}");
    let session = server.wait_idle(&id).await;
    assert!(session.queued.is_empty());
}

#[tokio::test]
async fn cancelling_a_turn_cancels_the_queue_behind_it() {
    let server = TestServer::start().await;
    let id = server.create_session().await.id;
    let running = server.send(&id, "/sleep 30").await;
    let mut waiting = Vec::new();
    for i in 0..20 {
        waiting.push(queued(&server, &id, &format!("follow-up {i}")).await);
    }
    // The queue is bounded.
    let (status, body) = queue(&server, &id, "one too many").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("20 turns"),
        "{body}"
    );

    let (status, _) = server.cancel_turn(&id).await;
    assert_eq!(status, 202);
    let (_, reason, _) = turn_ended(&server, &id, &running).await;
    assert_eq!(reason, StopReason::Cancelled);
    let session = server.wait_idle(&id).await;
    assert!(session.queued.is_empty());
    let events = server.events(&id).await;
    assert_eq!(unqueued(&events, UnqueueReason::Cancelled), waiting);
    assert_eq!(started(&events), [running], "no queued turn started");
}

#[tokio::test]
async fn the_queue_outlives_a_killed_server_in_its_session_host() {
    let mut server = TestServer::start().await;
    let id = server.create_session().await.id;
    let running = server.send(&id, "/stream 40 every=50").await;
    let waiting = queued(&server, &id, "after the stream").await;
    let dir = server.kill9();

    // The session's host kept the turn and its queue: the follow-up runs as if the
    // server had never gone.
    let server = TestServer::spawn(dir.path(), 0, &[]).await;
    expect_end_turn(&server, &id, &running).await;
    expect_end_turn(&server, &id, &waiting).await;
    let events = server.events(&id).await;
    assert_eq!(started(&events), [running, waiting]);
}

#[tokio::test]
async fn a_queue_whose_host_died_is_cancelled_with_its_turn() {
    let mut server = TestServer::start().await;
    let id = server.create_session().await.id;
    let running = server.send(&id, "/sleep 30").await;
    let waiting = queued(&server, &id, "after the sleep").await;
    let dir = server.kill9();
    let hosts = support::host_pids(dir.path());
    assert!(!hosts.is_empty(), "the session runs in a host");
    support::kill_hosts(dir.path());
    // Gone before the next server looks: a host still dying would be found alive.
    for pid in hosts {
        support::wait_process_gone(pid).await;
    }

    let server = TestServer::spawn(dir.path(), 0, &[]).await;
    let (_, reason, _) = turn_ended(&server, &id, &running).await;
    assert_eq!(reason, StopReason::Error);
    let events = server.events(&id).await;
    assert_eq!(unqueued(&events, UnqueueReason::Cancelled), [waiting]);
    assert_eq!(started(&events), [running], "the queued turn never started");
    assert!(server.session(&id).await.queued.is_empty());
}

#[tokio::test]
async fn a_turn_queued_after_a_cancel_runs_once_the_cancelled_turn_ends() {
    // The agent is frozen (SIGSTOP) so the cancel takes until the grace kill: the window
    // in which a user who pressed Cancel has already typed the next message.
    let server = TestServer::start_with(&["--cancel-grace", "1"]).await;
    let id = server.create_session().await.id;
    let running = server.send(&id, "/sleep 60").await;
    server
        .wait_event(&id, |e| {
            matches!(e, Event::AgentMessageChunk { turn_id, text } if *turn_id == running && text.starts_with("Sleeping"))
        })
        .await;
    let before = queued(&server, &id, "written before the cancel").await;
    let pid = *support::agent_pids(&server.events(&id).await)
        .last()
        .unwrap();
    support::signal(pid, "STOP");
    let (status, _) = server.cancel_turn(&id).await;
    assert_eq!(status, 202);
    // Taken with the cancel at once, while the turn is still ending.
    let session = server.session(&id).await;
    assert!(session.queued.is_empty(), "{:?}", session.queued);
    let after = queued(&server, &id, "/whoami").await;

    let (_, reason, _) = turn_ended(&server, &id, &running).await;
    assert_eq!(reason, StopReason::Cancelled);
    expect_end_turn(&server, &id, &after).await;
    let events = server.events(&id).await;
    assert_eq!(unqueued(&events, UnqueueReason::Cancelled), [before]);
    assert_eq!(started(&events), [running, after]);
    assert!(support::process_gone(pid), "the frozen agent was killed");
}
