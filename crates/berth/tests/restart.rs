//! Sessions outlive the server (ARCHITECTURE.md §2.1, §2.8): a clean restart brings
//! everything back under the same epoch; a `kill -9` loses nothing a viewport saw, and
//! whatever the dead server left open is closed, so no session shows a ghost status.
//!
//! These run sessions in the server's process (`--hosts false`): there a restart ends
//! a running turn. With session hosts (the default) it does not: see `hosts.rs`.

mod support;

use std::time::{Duration, Instant};

use berth_protocol::{Event, EventRecord, Outcome, Seq, ServerFrame, Session, Status, StopReason};
use serde_json::json;
use support::{
    Received, TestServer, agent_pids, check_frames_against_log, epoch_of, expect_end_turn,
    turn_ended,
};

/// Sessions in the server's own process, where a restart closes running turns.
const IN_PROCESS: &[&str] = &["--hosts", "false"];

/// No ghost: the summary shows no running turn and no agent.
fn assert_no_ghost(summary: &Session) {
    assert!(
        !matches!(
            summary.status,
            Status::Running | Status::AwaitingInput | Status::Starting
        ),
        "ghost status after restart: {summary:?}"
    );
    assert!(
        !summary.agent_running,
        "no agent runs after a restart: {summary:?}"
    );
    assert_eq!(summary.pending_prompts, 0, "{summary:?}");
}

#[tokio::test]
async fn a_clean_restart_brings_back_sessions_history_cursors_titles_and_the_epoch() {
    let mut server = TestServer::start_with(IN_PROCESS).await;
    let a = server.create_session().await;
    let b = server.create_session().await;
    let turn_a = server.send(&a.id, "hello from a").await;
    let turn_b = server.send(&b.id, "/ask").await;
    expect_end_turn(&server, &a.id, &turn_a).await;
    server
        .wait_summary(&b.id, "the question", |s| s.pending_prompts == 1)
        .await;
    let prompt_id = server.prompts().await.prompts[0]
        .prompt_id()
        .unwrap()
        .to_owned();
    let (status, _) = server
        .answer_prompt(&b.id, &prompt_id, &json!({"answers": {"color": "blue"}}))
        .await;
    assert_eq!(status, 200);
    expect_end_turn(&server, &b.id, &turn_b).await;

    let response = server
        .patch(&format!("/sessions/{}", a.id))
        .json(&json!({"title": "Renamed before restart"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let read: Session = server
        .post(&format!("/sessions/{}/read", a.id))
        .json(&json!({"seq": 3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read.read_seq, 3);
    // The log's own last seq (the summary may trail it by a beat).
    let b_last = server.events(&b.id).await.last().unwrap().0;
    let read: Session = server
        .post(&format!("/sessions/{}/read", b.id))
        .json(&json!({"seq": b_last}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read.unread, 0);

    let epoch = epoch_of(&server.viewport().await.hello);
    server.wait_idle(&a.id).await;
    server.wait_idle(&b.id).await;
    let before: Vec<Session> = server.sessions().await;
    let (page_epoch, log_a) = server.event_records(&a.id).await;
    let (_, log_b) = server.event_records(&b.id).await;
    assert_eq!(page_epoch, epoch);

    let dir = server.stop();
    let server = TestServer::spawn(dir.path(), 0, IN_PROCESS).await;

    // Same epoch on both faces.
    assert_eq!(
        epoch_of(&server.viewport().await.hello),
        epoch,
        "the epoch survives a restart"
    );
    let (page_epoch, after_a) = server.event_records(&a.id).await;
    assert_eq!(page_epoch, epoch);
    let (_, after_b) = server.event_records(&b.id).await;
    assert_eq!(after_a, log_a, "history of a is identical");
    assert_eq!(after_b, log_b, "history of b is identical");

    // Sessions, titles, read cursors, order.
    let after: Vec<Session> = server.sessions().await;
    let ids = |list: &[Session]| list.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&after), ids(&before), "same sessions, same order");
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(new.slug, old.slug);
        assert_eq!(new.title, old.title);
        assert_eq!(new.agent, old.agent);
        assert_eq!(new.cwd, old.cwd);
        assert_eq!(new.created_at, old.created_at);
        assert_eq!(new.updated_at, old.updated_at);
        assert_eq!(new.last_seq, old.last_seq);
        assert_eq!(new.read_seq, old.read_seq);
        assert_eq!(new.unread, old.unread);
        assert_eq!(new.status, Status::Idle, "{new:?}");
        assert_no_ghost(new);
    }
    let a_now = server.session(&a.id).await;
    assert_eq!(a_now.title, "Renamed before restart");
    assert_eq!(a_now.read_seq, 3);
    assert_eq!(server.session(&b.id).await.unread, 0);

    // The answered question stays answered.
    assert!(server.prompts().await.prompts.is_empty());
    let (status, body) = server
        .answer_prompt(&b.id, &prompt_id, &json!({"answers": {"color": "red"}}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "already_resolved");
    assert_eq!(
        body["error"]["resolution"]["outcome"],
        json!({"answers": {"color": "blue"}})
    );

    // An old cursor is still valid: exactly N+1.. follows, no reset.
    let last = log_a.last().unwrap().seq;
    let n = last / 2;
    let mut viewport = server.viewport().await;
    viewport.attach_at(&a.id, n, Some(&epoch)).await;
    match viewport.next_non_summary().await.expect("a frame") {
        ServerFrame::Attached {
            epoch: e, last_seq, ..
        } => {
            assert_eq!(e, epoch);
            assert_eq!(last_seq, last);
        }
        other => panic!("expected attached, got {other:?}"),
    }
    let mut frames = Vec::new();
    let mut seen = n;
    while seen < last {
        match viewport.next_non_summary().await.expect("a frame") {
            ServerFrame::Event {
                seq,
                first_seq,
                ts,
                event,
                ..
            } => {
                seen = seq;
                frames.push(Received {
                    first_seq: first_seq.unwrap_or(seq),
                    seq,
                    ts,
                    event,
                });
            }
            other => panic!("expected events, got {other:?}"),
        }
    }
    assert_eq!(seen, last);
    check_frames_against_log(&frames, &log_a, n);

    // A cursor from another epoch is reset.
    viewport.attach_at(&b.id, 1, Some("not-the-epoch")).await;
    match viewport.next_non_summary().await.expect("a frame") {
        ServerFrame::Reset { session, epoch: e } => {
            assert_eq!(session, b.id);
            assert_eq!(e, epoch);
        }
        other => panic!("expected reset, got {other:?}"),
    }

    // And the session carries on with a fresh agent, seqs continuing.
    server
        .send_and_expect_end_turn(&a.id, "after the restart")
        .await;
    let events = server.events(&a.id).await;
    let seqs: Vec<Seq> = events.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as Seq).collect::<Vec<_>>(),
        "dense seqs across the restart"
    );
    assert_eq!(
        agent_pids(&events).len(),
        2,
        "a new agent after the restart"
    );
    drop(dir);
}

#[tokio::test]
async fn kill9_mid_stream_loses_nothing_a_viewport_saw_and_closes_the_turn() {
    let mut server = TestServer::start_with(IN_PROCESS).await;
    let session = server.create_session().await;
    let sid = session.id.clone();
    let mut viewport = server.viewport().await;
    let epoch = epoch_of(&viewport.hello);
    viewport.attach(&sid, 0).await;
    let turn_id = server.send(&sid, "/stream 5000 every=1").await;

    // Record every event frame until a good part of the stream went by.
    let mut frames: Vec<Received> = Vec::new();
    let mut chunks = 0u64;
    while chunks < 200 {
        match viewport.next_non_summary().await.expect("the server is up") {
            ServerFrame::Event {
                seq,
                first_seq,
                ts,
                event,
                ..
            } => {
                let first_seq = first_seq.unwrap_or(seq);
                if matches!(event, Event::AgentMessageChunk { .. }) {
                    chunks += seq - first_seq + 1;
                }
                frames.push(Received {
                    first_seq,
                    seq,
                    ts,
                    event,
                });
            }
            ServerFrame::Attached { .. } => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
    let agent_pid = frames
        .iter()
        .find_map(|f| match f.event {
            Event::AgentStarted { pid, .. } => Some(pid),
            _ => None,
        })
        .expect("agent_started was shown");

    let dir = server.kill9();
    // Whatever was already on its way to the viewport counts as seen, too.
    while let Some(frame) = viewport.next_frame().await {
        frames.extend(Received::of(frame));
    }
    let seen_up_to = frames.last().unwrap().seq;

    let server = TestServer::spawn(dir.path(), 0, IN_PROCESS).await;
    let (page_epoch, records) = server.event_records(&sid).await;
    assert_eq!(page_epoch, epoch);
    check_frames_against_log(&frames, &records, 0);
    assert!(
        records.last().unwrap().seq > seen_up_to,
        "the repair appends after what was seen"
    );

    // The interrupted turn is closed, as the last event, by the repair.
    let last = records.last().unwrap();
    match &last.event {
        Event::TurnEnded {
            turn_id: t,
            stop_reason,
            error,
        } => {
            assert_eq!(*t, turn_id);
            assert_eq!(*stop_reason, StopReason::Error);
            let error = error.as_deref().expect("an error message");
            assert!(error.contains("restart"), "{error}");
        }
        other => panic!("the log should end with turn_ended, not {other:?}"),
    }
    let ends = records
        .iter()
        .filter(|r| matches!(r.event, Event::TurnEnded { .. }))
        .count();
    assert_eq!(ends, 1, "one turn_ended for the one turn");
    let seqs: Vec<Seq> = records.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as Seq).collect::<Vec<_>>(),
        "dense seqs"
    );

    let summary = server.session(&sid).await;
    assert_no_ghost(&summary);
    assert_eq!(summary.status, Status::Error, "{summary:?}");
    assert_eq!(summary.last_seq, last.seq);

    // The dead server's agent does not linger (it loses its stdio and exits).
    support::wait_process_gone(agent_pid).await;

    // The session works again.
    server.send_and_expect_end_turn(&sid, "/stream 3").await;
    assert_eq!(server.wait_idle(&sid).await.status, Status::Idle);
    drop(dir);
}

#[tokio::test]
async fn kill9_with_a_pending_permission_cancels_it_on_restart() {
    let mut server = TestServer::start_with(IN_PROCESS).await;
    let session = server.create_session().await;
    let sid = session.id.clone();
    let turn_id = server.send(&sid, "/permission").await;
    let prompt_id = server.wait_pending_prompt(&sid).await;
    let old_pid = agent_pids(&server.events(&sid).await)[0];

    let dir = server.kill9();
    let server = TestServer::spawn(dir.path(), 0, IN_PROCESS).await;

    let (_, records) = server.event_records(&sid).await;
    let resolved: Vec<&EventRecord> = records
        .iter()
        .filter(
            |r| matches!(&r.event, Event::PromptResolved { prompt_id: p, .. } if *p == prompt_id),
        )
        .collect();
    assert_eq!(resolved.len(), 1, "resolved exactly once");
    assert_eq!(
        resolved[0].event,
        Event::PromptResolved {
            prompt_id: prompt_id.clone(),
            outcome: Outcome::cancelled()
        }
    );
    let ended = records
        .iter()
        .find(|r| matches!(&r.event, Event::TurnEnded { turn_id: t, .. } if *t == turn_id))
        .expect("the turn is closed");
    assert!(
        resolved[0].seq < ended.seq,
        "prompt resolved before its turn ends"
    );
    match &ended.event {
        Event::TurnEnded {
            stop_reason, error, ..
        } => {
            assert_eq!(*stop_reason, StopReason::Error);
            assert!(
                error.as_deref().is_some_and(|e| e.contains("restart")),
                "{error:?}"
            );
        }
        _ => unreachable!(),
    }

    assert!(server.prompts().await.prompts.is_empty());
    let summary = server.session(&sid).await;
    assert_no_ghost(&summary);
    assert_ne!(summary.status, Status::AwaitingInput);

    // The repair is done once: another crash and restart finds nothing to close.
    let mut server = server;
    let dir2 = server.kill9_keep();
    assert_eq!(dir2, dir.path());
    let server = TestServer::spawn(dir.path(), 0, IN_PROCESS).await;
    assert_eq!(
        server.event_records(&sid).await.1,
        records,
        "a second restart adds nothing"
    );
    assert_eq!(server.session(&sid).await.status, summary.status);

    let (status, body) = server
        .answer_prompt(&sid, &prompt_id, &json!({"option_id": "allow"}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "already_resolved");
    let resolution = &body["error"]["resolution"];
    assert_eq!(resolution["prompt_id"], prompt_id.as_str());
    assert_eq!(resolution["outcome"], json!({"cancelled": true}));
    assert_eq!(
        resolution["resolved_at"],
        serde_json::to_value(resolved[0].ts).unwrap(),
        "the resolution is the logged one"
    );

    // The next prompt starts a fresh agent and works.
    let next = server.send(&sid, "/permission").await;
    server
        .wait_summary(&sid, "the new prompt", |s| s.pending_prompts == 1)
        .await;
    let new_prompt = server.prompts().await.prompts[0]
        .prompt_id()
        .unwrap()
        .to_owned();
    assert_ne!(new_prompt, prompt_id);
    let (status, body) = server
        .answer_prompt(&sid, &new_prompt, &json!({"option_id": "allow"}))
        .await;
    assert_eq!(status, 200, "{body}");
    expect_end_turn(&server, &sid, &next).await;
    let pids = agent_pids(&server.events(&sid).await);
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert_ne!(pids[0], pids[1]);
    assert_eq!(old_pid, pids[0]);
    assert_eq!(server.wait_idle(&sid).await.status, Status::Idle);
    drop(dir);
}

#[tokio::test]
async fn a_clean_stop_during_a_turn_is_prompt_and_closes_the_turn() {
    let mut server = TestServer::start_with(IN_PROCESS).await;
    let session = server.create_session().await;
    let sid = session.id.clone();
    let turn_id = server.send(&sid, "/sleep 30").await;
    server
        .wait_event(
            &sid,
            |e| matches!(e, Event::AgentMessageChunk { text, .. } if text.starts_with("Sleeping")),
        )
        .await;
    assert_eq!(server.session(&sid).await.status, Status::Running);
    let agent_pid = agent_pids(&server.events(&sid).await)[0];
    // A viewport stays attached: open WebSockets must not hold up the shutdown.
    let mut viewport = server.viewport().await;
    viewport.attach(&sid, 0).await;
    viewport
        .next_matching("attached", |f| matches!(f, ServerFrame::Attached { .. }))
        .await;
    // Nor may a client that never finishes its request (graceful HTTP shutdown would
    // wait for it forever).
    let mut half_open = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut half_open,
        b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    )
    .await
    .unwrap();

    let started = Instant::now();
    let dir = server.stop();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "SIGTERM took {took:?}");
    // The viewport's connection is closed.
    while viewport.next_frame().await.is_some() {}
    // A clean stop stops its agents.
    support::wait_process_gone(agent_pid).await;

    let server = TestServer::spawn(dir.path(), 0, IN_PROCESS).await;
    let summary = server.session(&sid).await;
    assert_no_ghost(&summary);
    assert_eq!(summary.status, Status::Error, "{summary:?}");
    let (_, reason, error) = turn_ended(&server, &sid, &turn_id).await;
    assert_eq!(reason, StopReason::Error);
    assert!(error.is_some_and(|e| !e.is_empty()));
    let events = server.events(&sid).await;
    let ends = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::TurnEnded { .. }))
        .count();
    assert_eq!(ends, 1, "closed once, not again by the repair");
    assert!(matches!(
        events.last().unwrap().1,
        Event::TurnEnded { .. } | Event::AgentExited { .. }
    ));

    server.send_and_expect_end_turn(&sid, "hello").await;
    drop(half_open);
    drop(dir);
}

#[tokio::test]
async fn a_clean_stop_with_a_pending_permission_cancels_it_once() {
    let mut server = TestServer::start_with(IN_PROCESS).await;
    let session = server.create_session().await;
    let sid = session.id.clone();
    let turn_id = server.send(&sid, "/permission").await;
    let prompt_id = server.wait_pending_prompt(&sid).await;

    let started = Instant::now();
    let dir = server.stop();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "SIGTERM took {:?}",
        started.elapsed()
    );
    let server = TestServer::spawn(dir.path(), 0, IN_PROCESS).await;

    let (_, records) = server.event_records(&sid).await;
    let outcomes: Vec<&Outcome> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::PromptResolved {
                prompt_id: p,
                outcome,
            } if *p == prompt_id => Some(outcome),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![&Outcome::cancelled()],
        "resolved once, as cancelled"
    );
    let ends: Vec<&Event> = records
        .iter()
        .map(|r| &r.event)
        .filter(|e| matches!(e, Event::TurnEnded { turn_id: t, .. } if *t == turn_id))
        .collect();
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert!(
        matches!(
            ends[0],
            Event::TurnEnded {
                stop_reason: StopReason::Error,
                ..
            }
        ),
        "{ends:?}"
    );
    assert!(server.prompts().await.prompts.is_empty());
    let summary = server.session(&sid).await;
    assert_no_ghost(&summary);
    let (status, body) = server
        .answer_prompt(&sid, &prompt_id, &json!({"option_id": "allow"}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["resolution"]["outcome"],
        json!({"cancelled": true})
    );
    drop(dir);
}

/// The sidebar's preview line follows the latest text, live and after a restart (where
/// it is rebuilt from the end of the log).
#[tokio::test]
async fn the_preview_line_follows_the_log_and_survives_a_restart() {
    let mut server = TestServer::start_with(IN_PROCESS).await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    assert_eq!(session.preview, None, "a new session has no text yet");

    let turn = server.send(sid, "/stream 3").await;
    turn_ended(&server, sid, &turn).await;
    let live = server
        .wait_summary(sid, "the preview shows the last chunk", |s| {
            s.preview.as_deref() == Some("chunk 3")
        })
        .await;
    assert_eq!(live.preview.as_deref(), Some("chunk 3"));

    let dir = server.stop();
    let server = TestServer::spawn(dir.path(), 0, IN_PROCESS).await;
    assert_eq!(
        server.session(sid).await.preview.as_deref(),
        Some("chunk 3")
    );
    let turn = server.send(sid, "a new question\non two lines").await;
    // The user's message is the preview until the reply starts.
    let (seq, _) = server
        .wait_event(
            sid,
            |e| matches!(e, Event::UserMessage { turn_id, .. } if *turn_id == turn),
        )
        .await;
    assert!(seq > 0);
    turn_ended(&server, sid, &turn).await;
    let after = server.session(sid).await;
    let preview = after.preview.expect("a preview");
    assert!(!preview.is_empty() && preview != "chunk 3", "{preview}");
}
