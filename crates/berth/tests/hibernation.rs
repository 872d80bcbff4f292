//! Issue 8 against the real binary: cold sessions, `max_live_agents`, the idle timeout,
//! hibernation and waking, `POST /stop`, archiving and paged lists. Agents are real
//! demo agent processes; they are counted in `/proc`, not only as the server reports.

mod support;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_protocol::rest::{Health, HealthSessions, SessionList};
use berth_protocol::{
    Event, EventRecord, ExitReason, Seq, ServerFrame, Session, SessionOrigin, Status, StopReason,
};
use futures::StreamExt;
use serde_json::{Value, json};
use support::{
    TestServer, Viewport, agent_pids, expect_end_turn, process_gone, status_json, turn_ended,
    wait_for, wait_process_gone,
};

// ----- counting agent processes ----------------------------------------------------

/// `berth agent demo` processes (not zombies) descended from process `root`.
fn demo_agents_of(root: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parent = HashMap::new();
    let mut demos = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) S ppid …`
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid = fields
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0);
        parent.insert(pid, ppid);
        if matches!(state, "Z" | "X") {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.len() >= 3 && args[1] == b"agent" && args[2] == b"demo" {
            demos.push(pid);
        }
    }
    demos.retain(|&pid| {
        let mut at = pid;
        // A chain is short; the bound only guards against a pid reused mid-scan.
        for _ in 0..64 {
            match parent.get(&at) {
                Some(&ppid) if ppid == root => return true,
                Some(&ppid) if ppid > 1 => at = ppid,
                _ => return false,
            }
        }
        false
    });
    demos
}

/// What a [`Census`] saw.
#[derive(Debug, Default)]
struct Seen {
    /// Most demo agents alive at once in `/proc`.
    max_procs: usize,
    /// Every demo agent pid seen alive.
    pids: BTreeSet<u32>,
    samples: usize,
    /// Most `health.sessions.agents` and `.live` reported.
    max_agents: usize,
    max_live: usize,
}

/// Samples, for as long as it runs, the demo agents under a server in `/proc` (a thread,
/// every few ms) and its `GET /health` (a task).
struct Census {
    stop: Arc<AtomicBool>,
    procs: std::thread::JoinHandle<(usize, BTreeSet<u32>, usize)>,
    health: tokio::task::JoinHandle<(usize, usize)>,
}

impl Census {
    fn start(server: &TestServer) -> Census {
        let stop = Arc::new(AtomicBool::new(false));
        let root = server.pid();
        let procs = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let (mut max, mut pids, mut samples) = (0, BTreeSet::new(), 0);
                while !stop.load(Ordering::Relaxed) {
                    let now = demo_agents_of(root);
                    max = max.max(now.len());
                    pids.extend(now);
                    samples += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                (max, pids, samples)
            }
        });
        let health = tokio::spawn({
            let stop = stop.clone();
            let http = server.http.clone();
            let url = server.url("/health");
            async move {
                let (mut agents, mut live) = (0, 0);
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(response) = http.get(&url).send().await
                        && let Ok(health) = response.json::<Health>().await
                        && let Some(sessions) = health.sessions
                    {
                        agents = agents.max(sessions.agents);
                        live = live.max(sessions.live);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                (agents, live)
            }
        });
        Census {
            stop,
            procs,
            health,
        }
    }

    async fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        let (max_agents, max_live) = self.health.await.unwrap();
        let (max_procs, pids, samples) = tokio::task::spawn_blocking(move || self.procs.join())
            .await
            .unwrap()
            .unwrap();
        Seen {
            max_procs,
            pids,
            samples,
            max_agents,
            max_live,
        }
    }
}

// ----- helpers ------------------------------------------------------------------------

async fn health(server: &TestServer) -> HealthSessions {
    let health: Health = server
        .get("/health")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(health.ok);
    health.sessions.expect("health reports sessions")
}

async fn wait_health(
    server: &TestServer,
    what: &str,
    pred: impl Fn(&HealthSessions) -> bool,
) -> HealthSessions {
    let last = std::sync::Mutex::new(None);
    let (last_ref, pred) = (&last, &pred);
    wait_for(what, move || async move {
        let now = health(server).await;
        *last_ref.lock().unwrap() = Some(now);
        pred(&now)
    })
    .await;
    last.into_inner().unwrap().unwrap()
}

async fn create_titled(server: &TestServer, title: &str) -> Session {
    let response = server
        .post("/sessions")
        .json(&json!({"agent": "demo", "title": title}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn list(server: &TestServer, query: &[(&str, &str)]) -> SessionList {
    let response = server.get("/sessions").query(query).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET /sessions {query:?}");
    response.json().await.unwrap()
}

/// The id of the session titled `title`.
fn format_id(sessions: &[Session], title: &str) -> String {
    sessions
        .iter()
        .find(|s| s.title == title)
        .map(|s| s.id.clone())
        .unwrap_or_else(|| panic!("no session titled {title}"))
}

fn ids(sessions: &[Session]) -> Vec<String> {
    sessions.iter().map(|s| s.id.clone()).collect()
}

async fn stop(server: &TestServer, id: &str) -> (u16, Value) {
    status_json(server.post(&format!("/sessions/{id}/stop"))).await
}

async fn patch(server: &TestServer, id: &str, body: Value) -> (u16, Value) {
    status_json(server.patch(&format!("/sessions/{id}")).json(&body)).await
}

/// Every `agent_started` of a log: `(seq, pid, origin)`.
fn starts(events: &[(Seq, Event)]) -> Vec<(Seq, u32, Option<SessionOrigin>)> {
    events
        .iter()
        .filter_map(|(seq, e)| match e {
            Event::AgentStarted {
                pid,
                session_origin,
                ..
            } => Some((*seq, *pid, *session_origin)),
            _ => None,
        })
        .collect()
}

/// Every `agent_exited` of a log: `(seq, reason)`.
fn exits(events: &[(Seq, Event)]) -> Vec<(Seq, Option<ExitReason>)> {
    events
        .iter()
        .filter_map(|(seq, e)| match e {
            Event::AgentExited { reason, .. } => Some((*seq, *reason)),
            _ => None,
        })
        .collect()
}

async fn wait_exit(server: &TestServer, id: &str, reason: ExitReason) -> Seq {
    server
        .wait_event(
            id,
            |e| matches!(e, Event::AgentExited { reason: Some(r), .. } if *r == reason),
        )
        .await
        .0
}

/// Wait until the session has no agent and shows `status`.
async fn wait_agentless(server: &TestServer, id: &str, status: Status) -> Session {
    server
        .wait_summary(id, &format!("{status:?} with no agent"), |s| {
            s.status == status && !s.agent_running
        })
        .await
}

fn record(records: &[EventRecord], seq: Seq) -> &EventRecord {
    records.iter().find(|r| r.seq == seq).expect("a record")
}

/// Read a viewport's frames of `session` until it has seen `last`; the seq ranges its
/// `event` frames covered, in order.
async fn viewport_until(viewport: &mut Viewport, session: &str, last: Seq) -> Vec<(Seq, Seq)> {
    let mut ranges = Vec::new();
    while ranges.last().is_none_or(|&(_, to)| to < last) {
        let frame = viewport
            .next_matching(
                "an event frame",
                |f| matches!(f, ServerFrame::Event { session: s, .. } if s == session),
            )
            .await;
        ranges.extend(support::covered(&frame));
    }
    ranges
}

/// Ranges are contiguous from `from` to `to`, without gap or overlap.
fn assert_contiguous(ranges: &[(Seq, Seq)], from: Seq, to: Seq) {
    let mut next = from;
    for &(first, last) in ranges {
        assert_eq!(first, next, "contiguous, no duplicates: {ranges:?}");
        next = last + 1;
    }
    assert_eq!(next - 1, to, "{ranges:?}");
}

fn error_of(body: &Value) -> (&str, &str) {
    (
        body["error"]["code"].as_str().unwrap_or_default(),
        body["error"]["message"].as_str().unwrap_or_default(),
    )
}

// ----- max_live_agents ----------------------------------------------------------------

#[tokio::test]
async fn two_agents_at_most_the_least_recently_used_idle_one_makes_room() {
    let started = Instant::now();
    let server = TestServer::start_with(&["--max-live-agents", "2"]).await;
    let census = Census::start(&server);
    let mut sessions = Vec::new();
    for i in 0..5 {
        sessions.push(create_titled(&server, &format!("limit {i}")).await.id);
    }
    for id in &sessions {
        server.send_and_expect_end_turn(id, "hello").await;
        assert!(health(&server).await.agents <= 2);
    }
    // Each new agent stopped the one idle longest: s0 for s2, s1 for s3, s2 for s4.
    let mut exited_at = Vec::new();
    for id in &sessions[..3] {
        let seq = wait_exit(&server, id, ExitReason::Limit).await;
        let (_, records) = server.event_records(id).await;
        exited_at.push(record(&records, seq).ts);
        let summary = wait_agentless(&server, id, Status::Idle).await;
        assert_eq!(summary.status, Status::Idle, "hibernation is not an error");
        let log = server.events(id).await;
        assert_eq!(exits(&log), vec![(seq, Some(ExitReason::Limit))]);
        wait_process_gone(agent_pids(&log)[0]).await;
    }
    assert!(
        exited_at.windows(2).all(|w| w[0] <= w[1]),
        "evicted oldest first: {exited_at:?}"
    );
    for id in &sessions[3..] {
        assert!(exits(&server.events(id).await).is_empty());
        assert!(server.session(id).await.agent_running);
    }
    assert_eq!(health(&server).await.agents, 2);

    // s3 is used again (its agent still runs: nothing started, nothing stopped), so s4
    // is now the least recently used and makes room for s0.
    server.send_and_expect_end_turn(&sessions[3], "again").await;
    assert_eq!(starts(&server.events(&sessions[3]).await).len(), 1);
    server
        .send_and_expect_end_turn(&sessions[0], "and you?")
        .await;
    wait_exit(&server, &sessions[4], ExitReason::Limit).await;
    assert!(exits(&server.events(&sessions[3]).await).is_empty());
    // s0's second agent continued its conversation.
    let log = server.events(&sessions[0]).await;
    let s0_starts = starts(&log);
    assert_eq!(s0_starts.len(), 2, "{s0_starts:?}");
    assert_eq!(s0_starts[0].2, Some(SessionOrigin::New));
    assert_eq!(s0_starts[1].2, Some(SessionOrigin::Resumed));
    let (exit_seq, _) = exits(&log)[0];
    assert!(exit_seq < s0_starts[1].0);

    let seen = census.finish().await;
    let mut logged = BTreeSet::new();
    for id in &sessions {
        logged.extend(agent_pids(&server.events(id).await));
    }
    assert_eq!(logged.len(), 6, "5 first agents and s0's second");
    assert!(seen.samples > 10, "{seen:?}");
    assert!(
        seen.max_procs <= 2,
        "never more than 2 demo agents alive: {seen:?}"
    );
    assert!(seen.max_agents <= 2, "health never reports more: {seen:?}");
    assert!(
        seen.pids.is_subset(&logged),
        "every agent seen is logged: {seen:?} vs {logged:?}"
    );
    assert!(seen.pids.len() >= 5, "the census saw the agents: {seen:?}");
    let alive: BTreeSet<u32> = demo_agents_of(server.pid()).into_iter().collect();
    assert_eq!(alive.len(), 2, "{alive:?}");
    eprintln!("limit test: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_busy_agent_is_never_evicted_the_new_turn_waits_starting() {
    let server = TestServer::start_with(&["--max-live-agents", "1"]).await;
    let census = Census::start(&server);
    let busy = create_titled(&server, "busy").await.id;
    let waiting = create_titled(&server, "waiting").await.id;
    let busy_turn = server.send(&busy, "/permission").await;
    let prompt_id = server.wait_pending_prompt(&busy).await;
    let waiting_turn = server.send(&waiting, "hello").await;
    server
        .wait_summary(&waiting, "the turn waits for a slot", |s| {
            s.status == Status::Starting
        })
        .await;
    // It keeps waiting while the other agent is busy (a bounded look, not a settle).
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    while tokio::time::Instant::now() < until {
        let s = server.session(&waiting).await;
        assert_eq!(s.status, Status::Starting, "{s:?}");
        assert!(starts(&server.events(&waiting).await).is_empty());
        assert_eq!(
            server.session(&busy).await.status,
            Status::AwaitingInput,
            "the busy agent is left alone"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(exits(&server.events(&busy).await).is_empty());

    // Its turn done, the busy agent is idle: it makes room, and the waiting turn runs.
    let (status, body) = server
        .answer_prompt(&busy, &prompt_id, &json!({"option_id": "allow"}))
        .await;
    assert_eq!(status, 200, "{body}");
    expect_end_turn(&server, &busy, &busy_turn).await;
    expect_end_turn(&server, &waiting, &waiting_turn).await;
    let busy_log = server.events(&busy).await;
    let (exit_seq, _) = exits(&busy_log)[0];
    assert_eq!(exits(&busy_log), vec![(exit_seq, Some(ExitReason::Limit))]);
    let (ended_seq, _, _) = turn_ended(&server, &busy, &busy_turn).await;
    assert!(ended_seq < exit_seq, "stopped only after its turn ended");
    wait_agentless(&server, &busy, Status::Idle).await;
    let seen = census.finish().await;
    assert!(seen.max_procs <= 1, "{seen:?}");
    assert!(seen.max_agents <= 1, "{seen:?}");
}

// ----- the idle timeout and hibernation -----------------------------------------------

#[tokio::test]
async fn an_idle_agent_is_stopped_the_actor_sleeps_and_the_next_prompt_resumes() {
    let started = Instant::now();
    let server = TestServer::start_with(&["--agent-idle", "1"]).await;
    let id = server.create_session().await.id;
    // A viewport watches throughout: across the hibernation and the next wake.
    let mut viewport = server.viewport().await;
    viewport.attach(&id, 0).await;
    viewport
        .next_matching("attached", |f| matches!(f, ServerFrame::Attached { .. }))
        .await;
    let turn = server.send_and_expect_end_turn(&id, "hello").await;
    let exit_seq = wait_exit(&server, &id, ExitReason::Idle).await;
    let log = server.events(&id).await;
    let pid = agent_pids(&log)[0];
    wait_process_gone(pid).await;
    let summary = wait_agentless(&server, &id, Status::Idle).await;
    assert_eq!(summary.status, Status::Idle);
    wait_health(&server, "no agent", |h| h.agents == 0).await;
    // The timeout counts from the end of the turn.
    let (_, records) = server.event_records(&id).await;
    let (ended_seq, _, _) = turn_ended(&server, &id, &turn).await;
    let idle_for = record(&records, exit_seq).ts - record(&records, ended_seq).ts;
    assert!(
        idle_for.num_milliseconds() >= 900,
        "stopped after {idle_for:?} idle"
    );

    // With no agent and nothing to do, the actor hibernates (`actor_linger`, 10 s).
    wait_health(&server, "the session to go cold", |h| h.live == 0).await;
    let cold = server.session(&id).await;
    assert_eq!(cold.status, Status::Idle);
    assert_eq!(cold.viewers, 1, "a cold session keeps its viewers");

    // A turn longer than the idle timeout is not cut short; the woken session's new
    // agent continues the conversation.
    let turn = server.send(&id, "/sleep 2").await;
    expect_end_turn(&server, &id, &turn).await;
    let log = server.events(&id).await;
    let all_starts = starts(&log);
    assert_eq!(all_starts.len(), 2, "{all_starts:?}");
    assert_eq!(all_starts[1].2, Some(SessionOrigin::Resumed));
    assert_ne!(all_starts[1].1, pid);
    assert_eq!(exits(&log).len(), 1, "not stopped during the long turn");
    // ...and it is stopped for idleness again afterwards.
    server
        .wait_events(&id, 2, |e| {
            matches!(
                e,
                Event::AgentExited {
                    reason: Some(ExitReason::Idle),
                    ..
                }
            )
        })
        .await;
    wait_process_gone(all_starts[1].1).await;
    let summary = wait_agentless(&server, &id, Status::Idle).await;
    // The viewport saw every event, live, before and after the wake.
    let ranges = viewport_until(&mut viewport, &id, summary.last_seq).await;
    assert_contiguous(&ranges, 1, summary.last_seq);
    eprintln!("idle test: {:?}", started.elapsed());
}

// ----- waking a cold session ----------------------------------------------------------

#[tokio::test]
async fn twenty_concurrent_prompts_wake_a_cold_session_once() {
    let started = Instant::now();
    let mut server = TestServer::start().await;
    let id = server.create_session().await.id;
    server.send_and_expect_end_turn(&id, "hello").await;
    let dir = server.stop();
    let server = TestServer::spawn(dir.path(), 0, &[]).await;
    let h = health(&server).await;
    assert_eq!(
        (h.total, h.live, h.agents),
        (1, 0, 0),
        "cold after a restart"
    );

    // Attaching a viewport does not wake it.
    let mut viewport = server.viewport().await;
    let last_seq = server.session(&id).await.last_seq;
    viewport.attach(&id, last_seq).await;
    viewport
        .next_matching("attached", |f| matches!(f, ServerFrame::Attached { .. }))
        .await;
    assert_eq!(health(&server).await.live, 0);

    let census = Census::start(&server);
    let answers: Vec<(u16, Value)> =
        futures::future::join_all((0..20).map(|_| server.try_send(&id, "/sleep 1"))).await;
    let accepted: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 202)
        .map(|(_, b)| b)
        .collect();
    let conflicts = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!(accepted.len(), 1, "{answers:?}");
    assert_eq!(conflicts, 19, "{answers:?}");
    for (status, body) in &answers {
        if *status == 409 {
            assert_eq!(error_of(body).0, "conflict", "{body}");
        }
    }
    let turn = accepted[0]["turn_id"].as_str().unwrap().to_owned();
    expect_end_turn(&server, &id, &turn).await;
    let h = health(&server).await;
    assert_eq!((h.live, h.agents), (1, 1));
    let seen = census.finish().await;

    let log = server.events(&id).await;
    let all_starts = starts(&log);
    assert_eq!(
        all_starts.len(),
        2,
        "one agent before the restart, one after"
    );
    assert_eq!(all_starts[1].2, Some(SessionOrigin::Resumed));
    let turns = log
        .iter()
        .filter(|(_, e)| matches!(e, Event::TurnStarted { .. }))
        .count();
    assert_eq!(turns, 2, "one turn before the restart, one after");
    assert_eq!(seen.max_procs, 1, "{seen:?}");
    assert_eq!(
        seen.pids,
        BTreeSet::from([all_starts[1].1]),
        "exactly one agent process"
    );
    assert_eq!(seen.max_live, 1, "one actor: {seen:?}");
    // The viewport got the woken session's events live.
    let now = server.session(&id).await.last_seq;
    let ranges = viewport_until(&mut viewport, &id, now).await;
    assert_contiguous(&ranges, last_seq + 1, now);
    eprintln!("concurrent wake test: {:?}", started.elapsed());
}

// ----- restart with many stored sessions ----------------------------------------------

#[tokio::test]
async fn a_restart_with_2000_sessions_lists_them_all_without_waking_any() {
    const N: usize = 2000;
    let started = Instant::now();
    let mut server = TestServer::start().await;
    let created = AtomicUsize::new(0);
    let mut all: Vec<String> = futures::stream::iter(0..N)
        .map(|i| {
            let server = &server;
            let created = &created;
            async move {
                let s = create_titled(server, &format!("bulk {i:04}")).await;
                created.fetch_add(1, Ordering::Relaxed);
                s.id
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert_eq!(created.into_inner(), N);
    all.sort();
    let create_time = started.elapsed();

    // Distinct states: a finished turn (unread events, a preview), a stopped agent, an
    // archived session, a session read to its end.
    let chat = all[10].clone();
    server.send_and_expect_end_turn(&chat, "hello").await;
    let stopped = all[20].clone();
    server.send_and_expect_end_turn(&stopped, "hello").await;
    assert_eq!(stop(&server, &stopped).await.0, 200);
    wait_agentless(&server, &stopped, Status::Stopped).await;
    let archived = all[30].clone();
    assert_eq!(
        patch(&server, &archived, json!({"archived": true})).await.0,
        200
    );
    let read = all[40].clone();
    server.send_and_expect_end_turn(&read, "hello").await;
    let last = server.session(&read).await.last_seq;
    let (status, _) = status_json(
        server
            .post(&format!("/sessions/{read}/read"))
            .json(&json!({"seq": last})),
    )
    .await;
    assert_eq!(status, 200);

    let chat_summary = server.session(&chat).await;
    assert!(chat_summary.unread > 1, "{chat_summary:?}");
    assert!(chat_summary.preview.is_some(), "{chat_summary:?}");
    assert_eq!(server.session(&read).await.unread, 0);
    let before = list(&server, &[]).await.sessions;
    let before_archived = list(&server, &[("archived", "true")]).await.sessions;
    assert_eq!(before.len(), N - 1);
    assert_eq!(ids(&before_archived), vec![archived.clone()]);

    let t = Instant::now();
    let dir = server.stop();
    let stop_time = t.elapsed();
    let t = Instant::now();
    let server = TestServer::spawn(dir.path(), 0, &[]).await;
    let restart_time = t.elapsed();
    let h = health(&server).await;
    assert_eq!((h.total, h.live, h.agents), (N, 0, 0), "nothing woken");

    let t = Instant::now();
    let after = list(&server, &[]).await.sessions;
    let list_time = t.elapsed();
    assert_eq!(after.len(), N - 1);
    assert_eq!(ids(&after), ids(&before), "same sessions, same order");
    let key = |s: &Session| {
        (
            s.id.clone(),
            s.status,
            s.preview.clone(),
            s.unread,
            s.last_seq,
            s.read_seq,
            s.title.clone(),
            s.updated_at,
            s.pending_prompts,
            s.archived,
            s.mode.clone(),
            s.commands.clone(),
        )
    };
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(key(b), key(a), "listed as before the restart");
        assert!(!a.agent_running);
    }
    let by_id: HashMap<&str, &Session> = after.iter().map(|s| (s.id.as_str(), s)).collect();
    assert_eq!(by_id[chat.as_str()].preview, chat_summary.preview);
    assert_eq!(by_id[chat.as_str()].unread, chat_summary.unread);
    assert_eq!(by_id[chat.as_str()].status, Status::Idle);
    assert_eq!(by_id[stopped.as_str()].status, Status::Stopped);
    assert_eq!(by_id[read.as_str()].unread, 0);
    assert!(!by_id.contains_key(archived.as_str()));
    let quiet = by_id[all[50].as_str()];
    assert_eq!((quiet.status, quiet.unread), (Status::Idle, 1), "{quiet:?}");
    // `limit` above the maximum is clamped to 1000; the pages make up the whole list.
    let first = list(&server, &[("limit", "5000")]).await;
    assert_eq!(first.sessions.len(), 1000);
    let second = list(
        &server,
        &[
            ("limit", "5000"),
            ("before", first.next.as_deref().unwrap()),
        ],
    )
    .await;
    assert_eq!(second.sessions.len(), N - 1 - 1000);
    assert!(second.next.is_none());
    let paged: Vec<String> = ids(&first.sessions)
        .into_iter()
        .chain(ids(&second.sessions))
        .collect();
    assert_eq!(paged, ids(&after));
    // A search by title finds one session among them.
    let found = list(&server, &[("q", "BULK 0040")]).await.sessions;
    assert_eq!(ids(&found), vec![format_id(&after, "bulk 0040")]);
    let after_archived = list(&server, &[("archived", "true")]).await.sessions;
    assert_eq!(ids(&after_archived), vec![archived.clone()]);
    assert_eq!(key(&after_archived[0]), key(&before_archived[0]));

    // Reading summaries and logs, paging, archiving, marking read, stopping an agentless
    // session: none wakes a cold session.
    server.session(&chat).await;
    server.events(&chat).await;
    list(&server, &[("limit", "7"), ("q", "bulk 19")]).await;
    assert_eq!(
        patch(&server, &archived, json!({"archived": false}))
            .await
            .0,
        200
    );
    assert_eq!(
        patch(&server, &all[60], json!({"archived": true})).await.0,
        200
    );
    let (status, body) = status_json(
        server
            .post(&format!("/sessions/{chat}/read"))
            .json(&json!({"seq": 1})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stop(&server, &stopped).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "stopped");
    let h = health(&server).await;
    assert_eq!((h.live, h.agents), (0, 0), "still nothing woken");
    let listed = list(&server, &[]).await.sessions;
    assert!(listed.iter().any(|s| s.id == archived));
    assert!(!listed.iter().any(|s| s.id == all[60]));
    assert_eq!(
        server.session(&chat).await.unread,
        chat_summary.last_seq - 1
    );

    // The stopped session, prompted, continues its conversation.
    server.send_and_expect_end_turn(&stopped, "back?").await;
    let origins = starts(&server.events(&stopped).await);
    assert_eq!(origins.last().unwrap().2, Some(SessionOrigin::Resumed));
    assert_eq!(health(&server).await.live, 1);
    eprintln!(
        "2000 sessions: created in {create_time:?}, stop {stop_time:?}, restart {restart_time:?}, \
         list {list_time:?}, total {:?}",
        started.elapsed()
    );
}

// ----- POST /stop -----------------------------------------------------------------------

#[tokio::test]
async fn stop_ends_the_turn_cancelled_and_the_agent_then_a_prompt_resumes() {
    let server = TestServer::start().await;
    let id = server.create_session().await.id;
    let turn = server.send(&id, "/stream 2000 every=5").await;
    server
        .wait_event(&id, |e| matches!(e, Event::AgentMessageChunk { .. }))
        .await;
    let pid = agent_pids(&server.events(&id).await)[0];

    let (status, body) = stop(&server, &id).await;
    assert_eq!(status, 200, "{body}");
    let answered: Session = serde_json::from_value(body).unwrap();
    assert_eq!(answered.id, id);
    // The turn is over and the session shows `stopped` when stop answers (its agent may
    // still be exiting: `agent_running` until the `agent_exited`).
    assert_eq!(answered.status, Status::Stopped, "{answered:?}");
    let (ended_seq, reason, _) = turn_ended(&server, &id, &turn).await;
    assert_eq!(reason, StopReason::Cancelled);
    assert!(ended_seq <= answered.last_seq, "ended before stop answered");
    let exit_seq = wait_exit(&server, &id, ExitReason::User).await;
    wait_process_gone(pid).await;
    let summary = wait_agentless(&server, &id, Status::Stopped).await;
    assert_eq!(summary.status, Status::Stopped);
    assert_eq!(health(&server).await.agents, 0);
    // A stopped agent's last words are not logged after its turn ended.
    let log = server.events(&id).await;
    assert!(
        log.iter()
            .filter(|(seq, _)| *seq > ended_seq)
            .all(|(_, e)| !matches!(e, Event::AgentMessageChunk { .. })),
        "{:?}",
        &log[log.len().saturating_sub(5)..]
    );
    assert_eq!(
        log.last().unwrap().0,
        exit_seq,
        "agent_exited is the last event"
    );

    // Again: nothing runs, a no-op.
    let (status, body) = stop(&server, &id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "stopped");
    assert_eq!(body["last_seq"], exit_seq);
    assert_eq!(server.events(&id).await.len(), log.len());

    // The next prompt starts an agent that continues the conversation.
    server.send_and_expect_end_turn(&id, "still there?").await;
    let all_starts = starts(&server.events(&id).await);
    assert_eq!(all_starts.len(), 2);
    assert_eq!(all_starts[1].2, Some(SessionOrigin::Resumed));
    let summary = server.wait_idle(&id).await;
    assert_eq!(summary.status, Status::Idle);
    assert!(summary.agent_running);

    // Stopping a turn that waits on a permission cancels the prompt too.
    let turn = server.send(&id, "/permission").await;
    let prompt_id = server.wait_pending_prompt(&id).await;
    assert_eq!(stop(&server, &id).await.0, 200);
    let (_, reason, _) = turn_ended(&server, &id, &turn).await;
    assert_eq!(reason, StopReason::Cancelled);
    server
        .wait_event(
            &id,
            |e| matches!(e, Event::PromptResolved { prompt_id: p, .. } if *p == prompt_id),
        )
        .await;
    let summary = wait_agentless(&server, &id, Status::Stopped).await;
    assert_eq!(summary.pending_prompts, 0);
    assert!(server.prompts().await.prompts.is_empty());
}

// ----- archive --------------------------------------------------------------------------

#[tokio::test]
async fn archived_sessions_leave_the_default_list_and_come_back() {
    let server = TestServer::start().await;
    let keep = create_titled(&server, "keep").await.id;
    let shelve = create_titled(&server, "shelve").await.id;
    // A live session with an agent can be archived; its agent is left alone.
    server.send_and_expect_end_turn(&shelve, "hello").await;
    let (status, body) = patch(&server, &shelve, json!({"archived": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["archived"], true);
    assert_eq!(body["id"], shelve.as_str());
    assert!(server.session(&shelve).await.archived);
    assert!(server.session(&shelve).await.agent_running);

    assert_eq!(ids(&list(&server, &[]).await.sessions), vec![keep.clone()]);
    assert_eq!(
        ids(&list(&server, &[("archived", "false")]).await.sessions),
        vec![keep.clone()]
    );
    let archived = list(&server, &[("archived", "true")]).await.sessions;
    assert_eq!(ids(&archived), vec![shelve.clone()]);
    assert!(archived[0].archived);
    // Paging and search see archived sessions only when asked.
    assert!(
        list(&server, &[("q", "shelve")]).await.sessions.is_empty(),
        "search hides archived sessions"
    );
    assert_eq!(
        ids(&list(
            &server,
            &[("q", "shelve"), ("archived", "true"), ("limit", "1")]
        )
        .await
        .sessions),
        vec![shelve.clone()]
    );
    // Archiving twice changes nothing.
    let (status, body) = patch(&server, &shelve, json!({"archived": true})).await;
    assert_eq!((status, &body["archived"]), (200, &json!(true)));

    // Title and archived at once.
    let (status, body) = patch(
        &server,
        &shelve,
        json!({"archived": false, "title": "back on the shelf"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["archived"], false);
    assert_eq!(body["title"], "back on the shelf");
    let listed = list(&server, &[]).await.sessions;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|s| s.id == shelve && !s.archived));
    assert!(
        list(&server, &[("archived", "true")])
            .await
            .sessions
            .is_empty()
    );
    // A refused title does not archive.
    let (status, _) = patch(&server, &keep, json!({"archived": true, "title": "  "})).await;
    assert_eq!(status, 400);
    assert!(!server.session(&keep).await.archived);
}

// ----- paging -------------------------------------------------------------------------

#[tokio::test]
async fn pages_of_ten_concatenate_to_the_whole_list_and_q_finds_by_title() {
    let server = TestServer::start().await;
    let mut created = Vec::new();
    for i in 0..25 {
        created.push(create_titled(&server, &format!("Page {i:02} fox")).await.id);
    }
    let whole = list(&server, &[]).await;
    assert!(whole.next.is_none(), "an unpaged list has no cursor");
    assert_eq!(whole.sessions.len(), 25);
    assert!(
        whole
            .sessions
            .windows(2)
            .all(|w| (w[0].updated_at, &w[0].id) > (w[1].updated_at, &w[1].id)),
        "newest activity first"
    );
    // Created one after the other: newest first is the reverse creation order.
    let mut reversed = created.clone();
    reversed.reverse();
    assert_eq!(ids(&whole.sessions), reversed);

    let mut paged = Vec::new();
    let mut sizes = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut query = vec![("limit", "10".to_owned())];
        if let Some(cursor) = &before {
            query.push(("before", cursor.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = list(&server, &query).await;
        sizes.push(page.sessions.len());
        paged.extend(page.sessions);
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
        assert!(sizes.len() < 10, "paging ends");
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(
        ids(&paged),
        ids(&whole.sessions),
        "same order, nothing missing"
    );
    let unique: HashSet<&str> = paged.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(unique.len(), 25, "no duplicates");
    // A page of exactly the rest has no `next`.
    let all_in_one = list(&server, &[("limit", "25")]).await;
    assert!(all_in_one.next.is_none());
    assert_eq!(ids(&all_in_one.sessions), ids(&whole.sessions));

    // q: case-insensitive, on the title.
    let found = list(&server, &[("q", "page 07")]).await.sessions;
    assert_eq!(ids(&found), vec![created[7].clone()]);
    assert_eq!(found[0].title, "Page 07 fox");
    let found = list(&server, &[("q", "FOX"), ("limit", "20")]).await;
    assert_eq!(found.sessions.len(), 20);
    let rest = list(
        &server,
        &[
            ("q", "FOX"),
            ("limit", "20"),
            ("before", &found.next.unwrap()),
        ],
    )
    .await;
    assert_eq!(rest.sessions.len(), 5);
    assert!(rest.next.is_none());
    assert!(
        list(&server, &[("q", "no such words")])
            .await
            .sessions
            .is_empty()
    );
    // An archived session leaves the pages.
    assert_eq!(
        patch(&server, &created[3], json!({"archived": true}))
            .await
            .0,
        200
    );
    let page = list(&server, &[("limit", "30")]).await.sessions;
    assert_eq!(page.len(), 24);
    assert!(!page.iter().any(|s| s.id == created[3]));
}

// ----- bad input ----------------------------------------------------------------------

#[tokio::test]
async fn bad_session_requests_are_refused_clearly() {
    let server = TestServer::start().await;
    let id = server.create_session().await.id;
    for unknown in ["nope", "00000000-0000-7000-8000-000000000000"] {
        let answers = [
            ("stop", stop(&server, unknown).await),
            (
                "patch",
                patch(&server, unknown, json!({"archived": true})).await,
            ),
            ("turns", server.try_send(unknown, "hello").await),
        ];
        for (what, (status, body)) in answers {
            assert_eq!(status, 404, "{what} {unknown}: {body}");
            assert_eq!(error_of(&body).0, "not_found", "{what}: {body}");
        }
    }
    let bad_queries = [
        ("limit", "0"),
        ("limit", "-1"),
        ("limit", "abc"),
        ("limit", ""),
        ("before", "garbage"),
        ("before", "123_"),
        ("before", "x_y"),
        ("archived", "maybe"),
        ("archived", "1"),
    ];
    for (name, value) in bad_queries {
        let response = server
            .get("/sessions")
            .query(&[(name, value)])
            .send()
            .await
            .unwrap();
        let (status, body) = support::status_and_json(response).await;
        assert_eq!(status, 400, "{name}={value}: {body}");
        let (code, message) = error_of(&body);
        assert_eq!(code, "bad_request", "{name}={value}: {body}");
        assert!(
            message.contains(&format!("`{name}`")),
            "{name}={value}: the message names the parameter: {message}"
        );
    }
    let (status, body) = patch(&server, &id, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).1.contains("archived"), "{body}");
    let (status, body) = patch(&server, &id, json!({"archived": "yes"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_of(&body).0, "bad_request");

    // Stop with no agent: 200, nothing changes.
    let before = server.session(&id).await;
    let (status, body) = stop(&server, &id).await;
    assert_eq!(status, 200, "{body}");
    let after: Session = serde_json::from_value(body).unwrap();
    assert_eq!(after.status, Status::Idle);
    assert_eq!(after.last_seq, before.last_seq);
    assert!(exits(&server.events(&id).await).is_empty());
    assert_eq!(server.session(&id).await.status, Status::Idle);
    assert!(!process_gone(server.pid()), "the server is still up");
}

#[tokio::test]
async fn stop_while_waiting_for_a_slot_cancels_the_turn_and_starts_nothing() {
    let server = TestServer::start_with(&["--max-live-agents", "1"]).await;
    let census = Census::start(&server);
    let busy = create_titled(&server, "busy").await.id;
    let waiting = create_titled(&server, "waiting").await.id;
    let busy_turn = server.send(&busy, "/permission").await;
    let prompt_id = server.wait_pending_prompt(&busy).await;
    let turn = server.send(&waiting, "hello").await;
    server
        .wait_summary(&waiting, "waiting for a slot", |s| {
            s.status == Status::Starting
        })
        .await;
    let (status, body) = stop(&server, &waiting).await;
    assert_eq!(status, 200, "{body}");
    let (_, reason, _) = turn_ended(&server, &waiting, &turn).await;
    assert_eq!(reason, StopReason::Cancelled);
    let summary = wait_agentless(&server, &waiting, Status::Stopped).await;
    assert_eq!(summary.status, Status::Stopped);
    assert!(starts(&server.events(&waiting).await).is_empty());
    assert_eq!(health(&server).await.agents, 1);

    // Nobody waits any more: the busy agent, once idle, is not stopped for nobody.
    let (status, body) = server
        .answer_prompt(&busy, &prompt_id, &json!({"option_id": "allow"}))
        .await;
    assert_eq!(status, 200, "{body}");
    expect_end_turn(&server, &busy, &busy_turn).await;
    // A prompt in `waiting` evicts it now, and runs.
    server.send_and_expect_end_turn(&waiting, "now?").await;
    assert_eq!(
        exits(&server.events(&busy).await)
            .into_iter()
            .map(|(_, r)| r)
            .collect::<Vec<_>>(),
        vec![Some(ExitReason::Limit)],
        "stopped once, for the second prompt"
    );
    let seen = census.finish().await;
    assert!(seen.max_procs <= 1, "{seen:?}");
    assert_eq!(seen.pids.len(), 2, "{seen:?}");
}

/// A clean restart keeps `stopped` (the summary columns say so, see the 2000-session
/// test); a crash before the session hibernated loses it: repair derives the status from
/// the last `turn_ended` only, though the log ends with `agent_exited {reason: "user"}`.
#[tokio::test]
async fn a_stopped_session_is_still_stopped_after_kill9() {
    let mut server = TestServer::start().await;
    let id = server.create_session().await.id;
    server.send_and_expect_end_turn(&id, "hello").await;
    assert_eq!(stop(&server, &id).await.0, 200);
    wait_agentless(&server, &id, Status::Stopped).await;
    let dir = server.kill9();
    let server = TestServer::spawn(dir.path(), 0, &[]).await;
    assert_eq!(server.session(&id).await.status, Status::Stopped);
}

#[tokio::test]
async fn six_sessions_prompted_at_once_share_two_agents_and_all_finish() {
    let started = Instant::now();
    let server = TestServer::start_with(&["--max-live-agents", "2"]).await;
    let census = Census::start(&server);
    let mut sessions = Vec::new();
    for i in 0..6 {
        sessions.push(create_titled(&server, &format!("crowd {i}")).await.id);
    }
    for round in 0..2 {
        let turns: Vec<String> = futures::future::join_all(
            sessions
                .iter()
                .map(|id| server.send(id, "/stream 10 every=20")),
        )
        .await;
        // Four wait for a slot; each gets one as an earlier turn ends.
        for (id, turn) in sessions.iter().zip(&turns) {
            expect_end_turn(&server, id, turn).await;
        }
        assert!(health(&server).await.agents <= 2, "round {round}");
    }
    let seen = census.finish().await;
    assert!(seen.max_procs <= 2, "{seen:?}");
    assert!(seen.max_agents <= 2, "{seen:?}");
    for id in &sessions {
        let log = server.events(id).await;
        for (_, reason) in exits(&log) {
            assert_eq!(reason, Some(ExitReason::Limit), "{id}");
        }
        // Every agent after the first continued the conversation.
        for (_, _, origin) in starts(&log).iter().skip(1) {
            assert_eq!(*origin, Some(SessionOrigin::Resumed), "{id}");
        }
        let chunks = log
            .iter()
            .filter(|(_, e)| matches!(e, Event::AgentMessageChunk { .. }))
            .count();
        assert_eq!(chunks, 20, "{id}: both turns streamed in full");
        assert_ne!(server.session(id).await.status, Status::Error);
    }
    eprintln!("crowd test: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_crashed_agent_gives_its_slot_back() {
    let server = TestServer::start_with(&["--max-live-agents", "1"]).await;
    let crashing = create_titled(&server, "crashing").await.id;
    let next = create_titled(&server, "next").await.id;
    let turn = server.send(&crashing, "/crash").await;
    let (_, reason, _) = turn_ended(&server, &crashing, &turn).await;
    assert_eq!(reason, StopReason::Error);
    wait_health(&server, "the slot freed", |h| h.agents == 0).await;
    server.send_and_expect_end_turn(&next, "hello").await;
    assert!(exits(&server.events(&next).await).is_empty());
    // And the crashed session gets a slot back in turn (evicting the idle one).
    server.send_and_expect_end_turn(&crashing, "hello").await;
    wait_exit(&server, &next, ExitReason::Limit).await;
}
