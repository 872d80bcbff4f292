//! The session actor and registry in-process: a real store in a temp dir, the real demo
//! agent running in memory (`demo::InMemory`), and paused time, so idle timeouts and
//! hibernation take no wall-clock time.
//!
//! Paused time jumps to the next timer whenever every task waits, also while a store
//! write runs on its thread. A ticker (a 10 ms timer, always pending) keeps such jumps
//! small, so a 900 s timeout passes only when a test sleeps through it. The tests assert
//! on *tokio's* clock ("stopped no earlier than the timeout") and on order, never on how
//! long something took.

use std::sync::Arc;
use std::time::Duration;

use berth_agent::AgentSpec;
use berth_agent::demo::{DemoOptions, InMemory};
use berth_protocol::rest::{CreateSession, SessionsQuery};
use berth_protocol::{Event, ExitReason, SessionOrigin, Status, StopReason};
use berth_session::{AgentCatalog, AgentEntry, Attachment, Registry, SessionConfig, SessionError};
use berth_store::{Store, StoreConfig, Synchronous};
use tokio::time::Instant;

const LINGER: Duration = Duration::from_secs(10);
const IDLE: Duration = Duration::from_secs(900);

struct Setup {
    registry: Registry,
    agents: InMemory,
    _dir: tempfile::TempDir,
}

async fn setup(max_live_agents: usize) -> Setup {
    tokio::spawn(async {
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (registry, agents) = open(dir.path(), max_live_agents).await;
    Setup {
        registry,
        agents,
        _dir: dir,
    }
}

async fn open(dir: &std::path::Path, max_live_agents: usize) -> (Registry, InMemory) {
    let store = Store::open(StoreConfig {
        path: dir.join("berth.db"),
        synchronous: Synchronous::Normal,
        max_batch: 0,
    })
    .unwrap();
    let mut config = SessionConfig::new(dir.to_path_buf());
    config.max_live_agents = max_live_agents;
    config.agent_idle = Some(IDLE);
    config.actor_linger = LINGER;
    let agents = InMemory::new(DemoOptions::default());
    let spec = AgentSpec {
        program: "demo".into(),
        args: vec![],
        env: vec![],
    };
    let mut entry = AgentEntry::process("demo", "Demo", spec);
    entry.launcher = Arc::new(agents.clone());
    let registry = Registry::open(store, config, AgentCatalog::new(vec![entry]))
        .await
        .unwrap();
    (registry, agents)
}

impl Setup {
    async fn create(&self, title: &str) -> String {
        let request = CreateSession {
            agent: "demo".into(),
            cwd: None,
            title: Some(title.into()),
        };
        self.registry.create(request).await.unwrap().id
    }

    async fn events(&self, id: &str) -> Vec<Event> {
        let page = self.registry.events(id, 0, Some(5000)).await.unwrap();
        page.events.into_iter().map(|r| r.event).collect()
    }

    /// Wait (on tokio's clock, bounded) until `check` holds on the session's log.
    async fn wait_log(&self, id: &str, what: &str, check: impl Fn(&[Event]) -> bool) {
        for _ in 0..20_000 {
            if check(&self.events(id).await) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("timed out waiting for {what}: {:#?}", self.events(id).await);
    }

    async fn wait_until(&self, what: &str, check: impl Fn(&Registry) -> bool) {
        for _ in 0..20_000 {
            if check(&self.registry) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// Prompt and wait for the turn's `end_turn`.
    async fn turn(&self, id: &str, text: &str) {
        let turn = self.registry.prompt(id, text.into()).await.unwrap();
        self.wait_log(id, "the turn to end", |log| ended(log, &turn).is_some())
            .await;
        assert_eq!(
            ended(&self.events(id).await, &turn),
            Some(StopReason::EndTurn)
        );
    }

    async fn wait_cold(&self, id: &str) {
        self.wait_until("the session to go cold", |r| r.live_count() == 0)
            .await;
        assert_ne!(self.registry.summary(id).unwrap().status, Status::Running);
    }
}

fn ended(log: &[Event], turn: &str) -> Option<StopReason> {
    log.iter().find_map(|e| match e {
        Event::TurnEnded {
            turn_id,
            stop_reason,
            ..
        } if turn_id == turn => Some(*stop_reason),
        _ => None,
    })
}

fn exits(log: &[Event]) -> Vec<Option<ExitReason>> {
    log.iter()
        .filter_map(|e| match e {
            Event::AgentExited { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

fn origins(log: &[Event]) -> Vec<Option<SessionOrigin>> {
    log.iter()
        .filter_map(|e| match e {
            Event::AgentStarted { session_origin, .. } => Some(*session_origin),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_idle_agent_is_stopped_after_the_timeout_and_the_next_prompt_resumes() {
    let s = setup(8).await;
    let id = s.create("idle").await;
    // The agent's idle time counts from after this moment.
    let before = Instant::now();
    s.turn(&id, "hello").await;
    assert_eq!(s.agents.running(), 1);
    // Not a moment early (on tokio's clock): still there just before the timeout.
    tokio::time::sleep(IDLE - Duration::from_secs(1)).await;
    assert!(exits(&s.events(&id).await).is_empty());
    assert_eq!(s.agents.running(), 1);

    s.wait_log(&id, "the idle stop", |log| !exits(log).is_empty())
        .await;
    assert!(
        before.elapsed() >= IDLE,
        "stopped after {:?}, before the idle timeout",
        before.elapsed()
    );
    assert_eq!(exits(&s.events(&id).await), [Some(ExitReason::Idle)]);
    assert_eq!(s.agents.running(), 0);
    // The summary follows the log as the actor sees its batch land, a moment after the
    // rows are readable.
    s.wait_until("the summary of the idle stop", |registry| {
        registry
            .summary(&id)
            .is_ok_and(|summary| (summary.status, summary.agent_running) == (Status::Idle, false))
    })
    .await;

    // Then the actor hibernates too; the next prompt wakes it and continues.
    s.wait_cold(&id).await;
    s.turn(&id, "hello again").await;
    assert_eq!(
        origins(&s.events(&id).await),
        [Some(SessionOrigin::New), Some(SessionOrigin::Resumed)]
    );
    assert_eq!(s.agents.launched(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_least_recently_used_idle_agent_makes_room() {
    let s = setup(2).await;
    let a = s.create("a").await;
    let b = s.create("b").await;
    let c = s.create("c").await;
    s.turn(&a, "hello").await;
    s.turn(&b, "hello").await;
    assert_eq!(s.agents.running(), 2);

    // A third agent: `a` finished its turn first, so it goes.
    s.turn(&c, "hello").await;
    s.wait_log(&a, "a's agent to stop", |log| !exits(log).is_empty())
        .await;
    assert_eq!(exits(&s.events(&a).await), [Some(ExitReason::Limit)]);
    assert!(exits(&s.events(&b).await).is_empty());
    assert!(s.agents.running() <= 2);
    assert_eq!(s.registry.summary(&a).unwrap().status, Status::Idle);

    // `a` again: now `b` is the least recently used; `a` continues its conversation.
    s.turn(&a, "back").await;
    s.wait_log(&b, "b's agent to stop", |log| !exits(log).is_empty())
        .await;
    assert_eq!(exits(&s.events(&b).await), [Some(ExitReason::Limit)]);
    assert!(exits(&s.events(&c).await).is_empty());
    assert_eq!(
        origins(&s.events(&a).await),
        [Some(SessionOrigin::New), Some(SessionOrigin::Resumed)]
    );
    assert!(s.agents.running() <= 2);
    assert!(s.registry.agent_count() <= 2);
}

#[tokio::test(start_paused = true)]
async fn with_every_agent_busy_a_new_turn_waits_for_one_to_finish() {
    let s = setup(1).await;
    let busy = s.create("busy").await;
    let waiting = s.create("waiting").await;
    // Busy for as long as nobody answers: whatever the clock does.
    let asking = s
        .registry
        .prompt(&busy, "/permission".into())
        .await
        .unwrap();
    s.wait_until("the permission request", |r| {
        r.summary(&busy).unwrap().status == Status::AwaitingInput
    })
    .await;
    let next = s.registry.prompt(&waiting, "hello".into()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        s.registry.summary(&waiting).unwrap().status,
        Status::Starting
    );
    assert_eq!(s.agents.running(), 1, "a busy agent is never stopped");
    assert!(exits(&s.events(&busy).await).is_empty());
    let said = s.events(&waiting).await.into_iter().any(
        |e| matches!(e, Event::Notice { message } if message.starts_with("Waiting for an agent")),
    );
    assert!(said, "the waiting session says why it waits");

    let prompt = s.registry.prompts().await.unwrap().remove(0);
    let answer = berth_protocol::Answer::Select {
        option_id: "allow".into(),
    };
    let prompt_id = prompt.event.asked_prompt_id().unwrap().to_owned();
    s.registry.respond(&busy, prompt_id, answer).await.unwrap();
    s.wait_log(&waiting, "the waiting turn to end", |log| {
        ended(log, &next).is_some()
    })
    .await;
    let log = s.events(&busy).await;
    assert_eq!(ended(&log, &asking), Some(StopReason::EndTurn), "{log:#?}");
    assert_eq!(exits(&log), [Some(ExitReason::Limit)]);
    assert_eq!(
        ended(&s.events(&waiting).await, &next),
        Some(StopReason::EndTurn)
    );
    assert_eq!(s.agents.running(), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_prompts_at_a_cold_session_make_one_actor_one_agent_one_turn() {
    let s = setup(8).await;
    let id = s.create("race").await;
    s.wait_cold(&id).await;
    assert_eq!(s.agents.launched(), 0);

    let mut prompts = tokio::task::JoinSet::new();
    for i in 0..20 {
        let registry = s.registry.clone();
        let id = id.clone();
        prompts.spawn(async move { registry.prompt(&id, format!("hello {i}")).await });
    }
    let (mut accepted, mut refused) = (Vec::new(), 0);
    while let Some(result) = prompts.join_next().await {
        match result.unwrap() {
            Ok(turn) => accepted.push(turn),
            Err(SessionError::Conflict(_)) => refused += 1,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!((accepted.len(), refused), (1, 19));
    assert_eq!(s.registry.live_count(), 1);
    s.wait_log(&id, "the turn to end", |log| {
        ended(log, &accepted[0]).is_some()
    })
    .await;
    assert_eq!(s.agents.launched(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_viewport_on_a_cold_session_does_not_wake_it_and_sees_what_comes_later() {
    let s = setup(8).await;
    let id = s.create("watched").await;
    s.turn(&id, "hello").await;
    let stop = s.registry.stop(&id).await.unwrap();
    assert_eq!(stop.status, Status::Stopped);
    s.wait_cold(&id).await;
    let seen = s.registry.summary(&id).unwrap().last_seq;

    let Attachment::Attached {
        last_seq,
        mut subscription,
        summary,
    } = s.registry.attach(&id, 0, None).await.unwrap()
    else {
        panic!("reset")
    };
    assert_eq!((last_seq, summary.viewers), (seen, 1));
    let mut next = 1;
    while next <= seen {
        for event in subscription.next_batch().await.unwrap().unwrap() {
            assert_eq!(event.seq, next);
            next += 1;
        }
    }
    assert_eq!(s.registry.live_count(), 0, "watching does not wake");
    // The read cursor moves without waking either.
    s.registry.mark_read(&id, seen).await.unwrap();
    assert_eq!(s.registry.summary(&id).unwrap().unread, 0);
    assert_eq!(s.registry.live_count(), 0);

    // A prompt from elsewhere wakes it; the viewport gets its events, contiguous.
    let turn = s.registry.prompt(&id, "/stream 3".into()).await.unwrap();
    loop {
        let batch = tokio::time::timeout(Duration::from_secs(60), subscription.next_batch())
            .await
            .expect("live events reach the viewport")
            .unwrap()
            .unwrap();
        let mut done = false;
        for event in batch {
            assert_eq!(event.seq, next, "contiguous after the wake");
            next += 1;
            done |= event.data.contains("turn_ended") && event.data.contains(&turn);
        }
        if done {
            break;
        }
    }
    drop(subscription);
    s.wait_until("the viewer count to drop", |r| {
        r.summary(&id).unwrap().viewers == 0
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn stop_ends_the_turn_and_the_agent_and_then_does_nothing() {
    let s = setup(8).await;
    let id = s.create("stop").await;
    let turn = s
        .registry
        .prompt(&id, "/stream 100 every=1000".into())
        .await
        .unwrap();
    s.wait_until("the turn to run", |r| {
        r.summary(&id).unwrap().status == Status::Running
    })
    .await;
    let stopped = s.registry.stop(&id).await.unwrap();
    assert_eq!(stopped.status, Status::Stopped);
    s.wait_log(&id, "the agent to exit", |log| !exits(log).is_empty())
        .await;
    let log = s.events(&id).await;
    assert_eq!(ended(&log, &turn), Some(StopReason::Cancelled));
    assert_eq!(exits(&log), [Some(ExitReason::User)]);
    assert_eq!(s.agents.running(), 0);
    let summary = s.registry.summary(&id).unwrap();
    assert_eq!(
        (summary.status, summary.agent_running),
        (Status::Stopped, false)
    );

    // No agent: a no-op, nothing logged.
    let last = summary.last_seq;
    assert_eq!(s.registry.stop(&id).await.unwrap().last_seq, last);
    s.turn(&id, "again").await;
}

#[tokio::test(start_paused = true)]
async fn cold_sessions_list_archive_and_reopen_from_their_summary_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _agents) = open(dir.path(), 8).await;
    let s = Setup {
        registry,
        agents: InMemory::default(),
        _dir: tempfile::tempdir().unwrap(),
    };
    let talked = s.create("talked").await;
    let quiet = s.create("quiet").await;
    s.turn(&talked, "/stream 2").await;
    // Its agent stops once idle; then the actor sleeps.
    tokio::time::sleep(IDLE).await;
    s.wait_cold(&talked).await;
    let before = s.registry.summary(&talked).unwrap();
    assert_eq!(before.preview.as_deref(), Some("chunk 2"));
    assert!(before.unread > 0);

    let archived = s.registry.set_archived(&quiet, true).await.unwrap();
    assert!(archived.archived);
    assert_eq!(s.registry.live_count(), 0, "archiving does not wake");
    let listed: Vec<String> = s.registry.list().into_iter().map(|s| s.id).collect();
    assert_eq!(listed, std::slice::from_ref(&talked));
    let query = SessionsQuery {
        archived: Some(true),
        ..Default::default()
    };
    let (archived_list, next) = s.registry.page(&query).unwrap();
    assert_eq!((archived_list.len(), next), (1, None));

    // A new registry on the same store: everything cold, the same summaries.
    s.registry.shutdown().await;
    s.registry.store().close().await.unwrap();
    let (again, _agents) = open(dir.path(), 8).await;
    assert_eq!(again.live_count(), 0);
    let mut after = again.summary(&talked).unwrap();
    after.viewers = before.viewers;
    assert_eq!(after, before);
    assert!(again.summary(&quiet).unwrap().archived);
}

#[tokio::test(start_paused = true)]
async fn a_stopping_server_wakes_and_creates_nothing() {
    let s = setup(8).await;
    let id = s.create("before").await;
    s.wait_cold(&id).await;
    s.registry.shutdown().await;
    // A request that was in flight when shutdown began must not start an actor that
    // nobody would stop.
    let woken = s.registry.prompt(&id, "hello".into()).await;
    assert!(
        matches!(woken, Err(SessionError::Unavailable(_))),
        "{woken:?}"
    );
    let request = CreateSession {
        agent: "demo".into(),
        cwd: None,
        title: None,
    };
    let created = s.registry.create(request).await;
    assert!(
        matches!(created, Err(SessionError::Unavailable(_))),
        "{created:?}"
    );
    assert_eq!((s.registry.live_count(), s.agents.launched()), (0, 0));
}
