//! Cold sessions at scale, through the real binary and its public API:
//!
//! - server memory per cold session (RSS with N sessions minus RSS with none, over N);
//! - cold start: spawn `berth serve` on a store of N sessions / N × E events until
//!   `GET /health` answers 200;
//! - `GET /sessions?limit=50` (first page) and the unpaged list, median over runs;
//! - waking a cold session and starting a turn with the demo agent: `POST /turns` until
//!   its `202` (sent once `turn_started` is committed), and until the agent's first
//!   chunk reaches a viewport.
//!
//! `cargo bench -p berth --bench cold` runs it at 10 000 sessions / 1 M events (override
//! with `BERTH_BENCH_SESSIONS`, `BERTH_BENCH_EVENTS`). Run by `cargo test` (no `--bench`
//! argument) it is a small smoke run of the same code, so it cannot rot.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_protocol::rest::{SessionList, TurnAccepted};
use berth_protocol::{AgentCommand, Event, Status, StopReason};
use berth_store::{
    SessionRow, SessionUpdate, Store, StoreConfig, StoredEvent, SummaryColumns, Synchronous,
};
use futures::{SinkExt, StreamExt};

use support::{BERTH, Server, env_usize, full_run, join_ms, median};

struct Scale {
    sessions: usize,
    events_per_session: usize,
    wakes: usize,
    list_runs: usize,
}

fn scale() -> Scale {
    if full_run() {
        let sessions = env_usize("BERTH_BENCH_SESSIONS", 10_000);
        let events = env_usize("BERTH_BENCH_EVENTS", 1_000_000);
        Scale {
            sessions,
            events_per_session: (events / sessions.max(1)).max(4),
            wakes: 20,
            list_runs: 50,
        }
    } else {
        Scale {
            sessions: 200,
            events_per_session: 20,
            wakes: 3,
            list_runs: 5,
        }
    }
}

#[tokio::main]
async fn main() {
    let scale = scale();
    println!(
        "cold sessions: {} sessions, {} events each ({} events), binary {BERTH}",
        scale.sessions,
        scale.events_per_session,
        scale.sessions * scale.events_per_session
    );

    let empty = tempfile::tempdir().unwrap();
    let baseline = Server::start(empty.path()).await;
    // Warm the allocator the way a real start does: list once.
    baseline.list("").await;
    let base_rss = baseline.rss_kib();
    drop(baseline);

    let dir = tempfile::tempdir().unwrap();
    let seeded = Instant::now();
    let ids = seed(dir.path(), &scale).await;
    println!("seeded in {:.1} s", seeded.elapsed().as_secs_f64());

    let mut starts = Vec::new();
    for _ in 0..3 {
        let server = Server::start(dir.path()).await;
        starts.push(server.started_in);
    }
    let server = Server::start(dir.path()).await;
    let health = server.health().await;
    let live = health.sessions.map(|s| s.live);
    assert_eq!(live, Some(0), "no actor at start: {health:?}");

    let first = server.list("?limit=50").await;
    assert_eq!(first.sessions.len(), 50.min(scale.sessions));
    let rss = server.rss_kib();
    let per_session = (rss.saturating_sub(base_rss)) as f64 * 1024.0 / scale.sessions as f64;

    let page = median(&server.time_list("?limit=50", scale.list_runs).await);
    let unpaged = median(&server.time_list("", scale.list_runs.min(10)).await);

    let mut to_202 = Vec::new();
    let mut to_chunk = Vec::new();
    for id in ids.iter().take(scale.wakes) {
        let (accepted, chunk) = server.wake_and_prompt(id).await;
        to_202.push(accepted);
        to_chunk.push(chunk);
    }
    let health = server.health().await;

    println!();
    println!("| figure | measured | target |");
    println!("|---|---|---|");
    println!(
        "| server memory per cold session | {:.2} KiB (RSS {} → {} KiB) | ≤ 4 KiB |",
        per_session / 1024.0,
        base_rss,
        rss
    );
    println!(
        "| cold start to `/health` 200 | {:.0} ms (median of 3: {}) | ≤ 300 ms |",
        median(&starts).as_secs_f64() * 1000.0,
        join_ms(&starts)
    );
    println!(
        "| `GET /sessions?limit=50` | {:.2} ms (median of {}) | ≤ 10 ms |",
        page.as_secs_f64() * 1000.0,
        scale.list_runs
    );
    println!(
        "| `GET /sessions` unpaged ({} sessions) | {:.1} ms | — |",
        scale.sessions,
        unpaged.as_secs_f64() * 1000.0
    );
    println!(
        "| wake a cold session + turn: `POST /turns` → 202 (`turn_started` committed) | {:.1} ms (median of {}) | ≤ 50 ms |",
        median(&to_202).as_secs_f64() * 1000.0,
        to_202.len()
    );
    println!(
        "| … → first agent chunk at a viewport (agent process started) | {:.1} ms | — |",
        median(&to_chunk).as_secs_f64() * 1000.0
    );
    println!(
        "| after the wakes: live sessions / agents | {:?} | — |",
        health.sessions
    );
}

/// Write `scale.sessions` sessions of `events_per_session` events each, as a cleanly
/// stopped berth leaves them (summary columns written at their last seq).
async fn seed(dir: &std::path::Path, scale: &Scale) -> Vec<String> {
    let store = Store::open(StoreConfig {
        path: dir.join("berth.db"),
        synchronous: Synchronous::Off,
        max_batch: 0,
    })
    .unwrap();
    let commands: Vec<AgentCommand> = (0..10)
        .map(|i| AgentCommand {
            name: format!("command-{i}"),
            description: format!("what command {i} does, in a sentence of some length"),
            hint: None,
        })
        .collect();
    let started = chrono::Utc::now() - chrono::Duration::days(30);
    let mut ids = Vec::with_capacity(scale.sessions);
    let mut writes = tokio::task::JoinSet::new();
    for n in 0..scale.sessions {
        let id = uuid_like(n);
        let slug = format!("2026-11-01-bench-session-{n}-{}", &id[id.len() - 8..]);
        let files = dir.join("sessions").join(&slug).join("files");
        // Only the sessions the bench wakes need a working directory.
        if n < scale.wakes {
            std::fs::create_dir_all(&files).unwrap();
        }
        let ts = started + chrono::Duration::seconds(n as i64);
        let row = SessionRow {
            id: id.clone(),
            slug,
            title: format!("Bench session {n}"),
            agent: "demo".into(),
            cwd: files.to_string_lossy().into_owned(),
            created_at: ts,
            updated_at: ts,
            read_seq: 0,
            agent_session_id: None,
            archived: false,
            summary: None,
            last_seq: 0,
        };
        store.create_session(row).await.unwrap();
        let events = session_events(scale.events_per_session, ts);
        let last_seq = events.len() as u64;
        let summary = SummaryColumns {
            at_seq: last_seq,
            status: Status::Idle,
            last_stop: Some(StopReason::EndTurn),
            pending_prompts: 0,
            preview: Some(format!("chunk {}", scale.events_per_session - 3)),
            mode: None,
            commands: commands.clone(),
            usage: None,
            config: None,
            pending_config: Vec::new(),
        };
        let store = store.clone();
        let write_id = id.clone();
        writes.spawn(async move {
            store.append(&write_id, events).await.unwrap();
            let update = SessionUpdate {
                summary: Some(summary),
                ..Default::default()
            };
            store.update_session(&write_id, update).await.unwrap();
        });
        // Bounded: a few hundred appends in flight keep the writer's batches full.
        while writes.len() > 256 {
            writes.join_next().await.unwrap().unwrap();
        }
        ids.push(id);
    }
    while let Some(done) = writes.join_next().await {
        done.unwrap();
    }
    store.close().await.unwrap();
    ids
}

fn uuid_like(n: usize) -> String {
    format!("01900000-0000-7000-8000-{n:012x}")
}

/// One finished turn: user message, turn start, chunks, turn end.
fn session_events(count: usize, ts: berth_protocol::Timestamp) -> Vec<StoredEvent> {
    let turn = "t1".to_owned();
    let mut events = vec![
        Event::UserMessage {
            turn_id: turn.clone(),
            text: "stream something".into(),
            attachments: Vec::new(),
        },
        Event::TurnStarted {
            turn_id: turn.clone(),
        },
    ];
    for i in 1..=count.saturating_sub(3) {
        events.push(Event::AgentMessageChunk {
            turn_id: turn.clone(),
            text: format!("chunk {i}\n"),
        });
    }
    events.push(Event::TurnEnded {
        turn_id: turn,
        stop_reason: StopReason::EndTurn,
        error: None,
    });
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| StoredEvent {
            seq: i as u64 + 1,
            ts,
            kind: event.kind().into(),
            data: Arc::from(serde_json::to_string(&event).unwrap()),
        })
        .collect()
}

impl Server {
    async fn list(&self, query: &str) -> SessionList {
        let response = self
            .get(&format!("/api/v1/sessions{query}"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        response.json().await.unwrap()
    }

    /// How long `GET /api/v1/sessions{query}` takes, `runs` times.
    async fn time_list(&self, query: &str, runs: usize) -> Vec<Duration> {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let began = Instant::now();
            self.list(query).await;
            times.push(began.elapsed());
        }
        times
    }

    /// `(to the 202, to the first chunk at an attached viewport)` for a cold session.
    async fn wake_and_prompt(&self, id: &str) -> (Duration, Duration) {
        let mut ws = self.viewport().await;
        let last = support::last_seq(self, id).await;
        let attach = serde_json::json!({"op": "attach", "session": id, "after": last});
        ws.send(attach.to_string().into()).await.unwrap();
        loop {
            let frame = ws.next().await.unwrap().unwrap();
            if frame.to_text().unwrap_or_default().contains("\"attached\"") {
                break;
            }
        }
        let began = Instant::now();
        let response = self
            .post(&format!("/api/v1/sessions/{id}/turns"))
            .json(&serde_json::json!({"text": "hello"}))
            .send()
            .await
            .unwrap();
        let accepted = began.elapsed();
        assert_eq!(response.status().as_u16(), 202);
        let _: TurnAccepted = response.json().await.unwrap();
        loop {
            let frame = ws.next().await.unwrap().unwrap();
            if frame
                .to_text()
                .unwrap_or_default()
                .contains("agent_message_chunk")
            {
                break;
            }
        }
        (accepted, began.elapsed())
    }
}
