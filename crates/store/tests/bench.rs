//! Append throughput, to quote in PERFORMANCE.md. Ignored by default:
//! `cargo test -p berth-store --release --test bench -- --ignored --nocapture`

use std::sync::Arc;
use std::time::Instant;

use berth_store::{SessionRow, Store, StoreConfig, StoredEvent, Synchronous};
use chrono::Utc;

const EVENTS: u64 = 100_000;

fn open(dir: &tempfile::TempDir, synchronous: Synchronous) -> Store {
    Store::open(StoreConfig {
        path: dir.path().join("bench.db"),
        synchronous,
        max_batch: 0,
    })
    .unwrap()
}

fn row(id: &str) -> SessionRow {
    let now = Utc::now();
    SessionRow {
        id: id.into(),
        slug: id.into(),
        title: "bench".into(),
        agent: "demo".into(),
        cwd: "/".into(),
        created_at: now,
        updated_at: now,
        read_seq: 0,
        agent_session_id: None,
        archived: false,
        summary: None,
        last_seq: 0,
    }
}

/// About the size of a streamed agent message chunk (~200 bytes of JSON).
fn event(seq: u64) -> StoredEvent {
    let data = format!(
        r#"{{"seq":{seq},"ts":"2026-11-21T10:00:00.000000000Z","kind":"agent_message_chunk","data":{{"text":"{}"}}}}"#,
        "lorem ipsum dolor sit amet ".repeat(5)
    );
    StoredEvent {
        seq,
        ts: Utc::now(),
        kind: "agent_message_chunk".into(),
        data: Arc::from(data),
    }
}

/// One session, `per_append` events per `append`, each awaited before the next.
async fn sequential(synchronous: Synchronous, per_append: u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, synchronous);
    store.create_session(row("s")).await.unwrap();
    let start = Instant::now();
    let mut seq = 1;
    while seq <= EVENTS {
        let events = (seq..seq + per_append).map(event).collect();
        store.append("s", events).await.unwrap();
        seq += per_append;
    }
    report(
        &format!("{synchronous:?}, 1 session, {per_append} events per append"),
        &store,
        start,
    );
}

/// `sessions` tasks each appending one event at a time: group commit at work.
async fn concurrent(synchronous: Synchronous, sessions: u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, synchronous);
    for s in 0..sessions {
        store.create_session(row(&format!("s{s}"))).await.unwrap();
    }
    let before = store.stats();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..sessions {
        let store = store.clone();
        tasks.spawn(async move {
            let id = format!("s{s}");
            for seq in 1..=EVENTS / sessions {
                store.append(&id, vec![event(seq)]).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let stats = store.stats();
    report(
        &format!("{synchronous:?}, {sessions} sessions, 1 event per append"),
        &store,
        start,
    );
    println!(
        "    {} appends in {} transactions",
        stats.writes - before.writes,
        stats.transactions - before.transactions
    );
}

fn report(what: &str, store: &Store, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    let stats = store.stats();
    println!(
        "{what}: {EVENTS} events in {secs:.2} s = {:.0} events/s ({} transactions in all)",
        EVENTS as f64 / secs,
        stats.transactions
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run with --release --ignored --nocapture"]
async fn append_throughput() {
    sequential(Synchronous::Full, 100).await;
    sequential(Synchronous::Full, 1000).await;
    concurrent(Synchronous::Full, 100).await;
    sequential(Synchronous::Normal, 100).await;
    concurrent(Synchronous::Normal, 100).await;
}
