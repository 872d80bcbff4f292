//! The store against a real SQLite file in a temp dir.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_protocol::{AgentCommand, Status, StopReason};
use berth_store::{
    SessionRow, SessionUpdate, Store, StoreConfig, StoreError, StoredEvent, SummaryColumns,
    Synchronous,
};
use chrono::{TimeZone, Utc};

fn open(path: &Path) -> Store {
    Store::open(StoreConfig {
        path: path.to_owned(),
        synchronous: Synchronous::Full,
        max_batch: 0,
    })
    .unwrap()
}

fn row(id: &str, updated_secs: i64) -> SessionRow {
    let created = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
    SessionRow {
        id: id.into(),
        slug: format!("2026-11-21-{id}"),
        title: format!("title of {id}"),
        agent: "demo".into(),
        cwd: "/src".into(),
        created_at: created,
        updated_at: created + chrono::Duration::seconds(updated_secs),
        read_seq: 0,
        agent_session_id: None,
        archived: false,
        summary: None,
        last_seq: 0,
    }
}

fn event(seq: u64) -> StoredEvent {
    StoredEvent {
        seq,
        ts: Utc::now(),
        kind: if seq.is_multiple_of(2) { "even" } else { "odd" }.into(),
        data: Arc::from(format!(r#"{{"seq":{seq},"text":"hé ✓"}}"#)),
    }
}

fn events(seqs: std::ops::RangeInclusive<u64>) -> Vec<StoredEvent> {
    seqs.map(event).collect()
}

fn seqs(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

#[test]
fn store_is_clone_send_sync() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<Store>();
}

#[tokio::test]
async fn events_and_sessions_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("berth.db"));
    let mut session = row("s1", 5);
    session.agent_session_id = Some("acp-1".into());
    session.created_at += chrono::Duration::nanoseconds(123_456_789);
    store.create_session(session.clone()).await.unwrap();

    let written = events(1..=10);
    store.append("s1", written[..3].to_vec()).await.unwrap();
    store.append("s1", written[3..].to_vec()).await.unwrap();

    assert_eq!(store.read_events("s1", 0, 100).await.unwrap(), written);
    assert_eq!(store.read_events("s1", 3, 4).await.unwrap(), written[3..7]);
    assert!(store.read_events("s1", 10, 100).await.unwrap().is_empty());
    assert!(store.read_events("s1", 0, 0).await.unwrap().is_empty());
    assert!(store.read_events("other", 0, 10).await.unwrap().is_empty());

    let odd = store.read_events_of_kinds("s1", &["odd"], 4).await.unwrap();
    assert_eq!(seqs(&odd), [5, 7, 9]);
    let both = store
        .read_events_of_kinds("s1", &["odd", "even", "none"], 7)
        .await
        .unwrap();
    assert_eq!(both, written[7..]);
    assert!(
        store
            .read_events_of_kinds("s1", &[], 0)
            .await
            .unwrap()
            .is_empty()
    );

    let back = store.get_session("s1").await.unwrap();
    assert_eq!(
        back,
        SessionRow {
            last_seq: 10,
            ..session
        }
    );
    assert!(matches!(
        store.get_session("nope").await,
        Err(StoreError::NotFound(id)) if id == "nope"
    ));
    assert!(matches!(
        store.create_session(row("s1", 0)).await,
        Err(StoreError::Sqlite(_))
    ));
}

#[tokio::test]
async fn epoch_is_kept_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/berth.db");
    let store = open(&path);
    let epoch = store.epoch().to_owned();
    assert_eq!(epoch.len(), 32);
    assert!(epoch.bytes().all(|b| b.is_ascii_hexdigit()));
    store.close().await.unwrap();

    assert_eq!(open(&path).epoch(), epoch);
    let other = open(&dir.path().join("other.db"));
    assert_ne!(other.epoch(), epoch);
}

#[tokio::test]
async fn appends_must_continue_the_log_densely() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("berth.db"));
    store.create_session(row("s", 0)).await.unwrap();

    let conflict = |result: Result<(), StoreError>, expected: u64| match result {
        Err(StoreError::SeqConflict { session, seq }) => {
            assert_eq!((session.as_str(), seq), ("s", expected));
        }
        other => panic!("expected a conflict at {expected}, got {other:?}"),
    };
    // An empty log starts at 1.
    conflict(store.append("s", vec![event(0)]).await, 0);
    conflict(store.append("s", vec![event(2)]).await, 2);
    store.append("s", events(1..=3)).await.unwrap();
    // Taken, a gap, and a hole inside one append.
    conflict(store.append("s", vec![event(3)]).await, 3);
    conflict(store.append("s", vec![event(5)]).await, 5);
    conflict(store.append("s", vec![event(4), event(6)]).await, 6);
    conflict(store.append("s", vec![event(4), event(4)]).await, 4);
    // None of the refused appends left anything behind.
    assert_eq!(
        seqs(&store.read_events("s", 0, 100).await.unwrap()),
        [1, 2, 3]
    );
    store.append("s", events(4..=5)).await.unwrap();
    assert_eq!(store.get_session("s").await.unwrap().last_seq, 5);

    assert!(matches!(
        store.append("ghost", vec![event(1)]).await,
        Err(StoreError::NotFound(id)) if id == "ghost"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_does_not_poison_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("berth.db"));
    for id in ["a", "b"] {
        store.create_session(row(id, 0)).await.unwrap();
    }
    // Polled together, so all four are queued at once and most likely share a
    // transaction (the writer's unit tests pin the same-batch case exactly).
    let (a1, bad, b1, a2) = tokio::join!(
        store.append("a", events(1..=2)),
        store.append("b", events(2..=3)),
        store.append("b", events(1..=1)),
        store.append("a", events(3..=3)),
    );
    a1.unwrap();
    b1.unwrap();
    a2.unwrap();
    assert!(matches!(bad, Err(StoreError::SeqConflict { seq: 2, .. })));
    assert_eq!(store.get_session("a").await.unwrap().last_seq, 3);
    assert_eq!(store.get_session("b").await.unwrap().last_seq, 1);
}

#[tokio::test]
async fn session_updates() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("berth.db"));
    store.create_session(row("s", 0)).await.unwrap();

    let later = Utc::now();
    store
        .update_session(
            "s",
            SessionUpdate {
                title: Some("renamed".into()),
                read_seq: Some(7),
                updated_at: Some(later),
                agent_session_id: Some(Some("acp".into())),
                ..SessionUpdate::default()
            },
        )
        .await
        .unwrap();
    let s = store.get_session("s").await.unwrap();
    assert_eq!(
        (
            s.title.as_str(),
            s.read_seq,
            s.updated_at,
            s.agent_session_id.as_deref()
        ),
        ("renamed", 7, later, Some("acp"))
    );

    // read_seq never moves back; `None` fields stay as they are.
    let back = SessionUpdate {
        read_seq: Some(3),
        ..SessionUpdate::default()
    };
    store.update_session("s", back).await.unwrap();
    let s = store.get_session("s").await.unwrap();
    assert_eq!((s.read_seq, s.title.as_str()), (7, "renamed"));
    assert_eq!(s.agent_session_id.as_deref(), Some("acp"));

    let forward = SessionUpdate {
        read_seq: Some(9),
        agent_session_id: Some(None),
        ..SessionUpdate::default()
    };
    store.update_session("s", forward).await.unwrap();
    let s = store.get_session("s").await.unwrap();
    assert_eq!((s.read_seq, s.agent_session_id), (9, None));
    assert_eq!(s.updated_at, later);

    assert!(matches!(
        store
            .update_session("ghost", SessionUpdate::default())
            .await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn delete_removes_the_session_and_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("berth.db"));
    for id in ["gone", "kept"] {
        store.create_session(row(id, 0)).await.unwrap();
        store.append(id, events(1..=5)).await.unwrap();
    }
    store.delete_session("gone").await.unwrap();

    assert!(matches!(
        store.get_session("gone").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.read_events("gone", 0, 100).await.unwrap().is_empty());
    assert_eq!(store.read_events("kept", 0, 100).await.unwrap().len(), 5);
    assert!(matches!(
        store.delete_session("gone").await,
        Err(StoreError::NotFound(_))
    ));
    // The id is free again, with a fresh log.
    store.create_session(row("gone", 0)).await.unwrap();
    store.append("gone", events(1..=1)).await.unwrap();
}

#[tokio::test]
async fn sessions_are_listed_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("berth.db"));
    // Sub-second differences too: the timestamp text must sort like the time.
    let mut half = row("half", 0);
    half.updated_at += chrono::Duration::milliseconds(500);
    for session in [row("old", 0), row("new", 60), half, row("mid", 30)] {
        store.create_session(session).await.unwrap();
    }
    store.append("mid", events(1..=4)).await.unwrap();

    let list = store.list_sessions().await.unwrap();
    let ids: Vec<_> = list.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["new", "mid", "half", "old"]);
    let last: Vec<_> = list.iter().map(|s| s.last_seq).collect();
    assert_eq!(last, [0, 4, 0, 0]);

    let bump = SessionUpdate {
        updated_at: Some(row("new", 61).updated_at),
        ..SessionUpdate::default()
    };
    store.update_session("old", bump).await.unwrap();
    assert_eq!(store.list_sessions().await.unwrap()[0].id, "old");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_share_transactions() {
    const SESSIONS: u64 = 50;
    const APPENDS: u64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("berth.db"));
    let before = store.stats();

    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..SESSIONS {
        let store = store.clone();
        tasks.spawn(async move {
            let id = format!("s{s}");
            store.create_session(row(&id, 0)).await.unwrap();
            for seq in 1..=APPENDS {
                store.append(&id, vec![event(seq)]).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    for session in store.list_sessions().await.unwrap() {
        assert_eq!(session.last_seq, APPENDS, "{}", session.id);
    }
    let stats = store.stats();
    let writes = stats.writes - before.writes;
    let transactions = stats.transactions - before.transactions;
    assert_eq!(writes, SESSIONS * (APPENDS + 1));
    println!("{writes} writes in {transactions} transactions");
    assert!(transactions < writes, "{transactions} transactions");
}

#[tokio::test]
async fn flush_waits_for_earlier_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("berth.db"));
    store.create_session(row("s", 0)).await.unwrap();
    let mut append = Box::pin(store.append("s", events(1..=3)));
    // One poll queues the write; its answer is not awaited yet.
    assert!(futures::poll!(&mut append).is_pending());
    store.flush().await.unwrap();
    assert_eq!(store.read_events("s", 0, 10).await.unwrap().len(), 3);
    append.await.unwrap();
}

#[tokio::test]
async fn close_keeps_committed_data_and_refuses_later_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let store = open(&path);
    let clone = store.clone();
    let written = events(1..=100);
    store.create_session(row("s", 0)).await.unwrap();
    store.append("s", written.clone()).await.unwrap();
    store.close().await.unwrap();

    assert!(matches!(
        clone.append("s", events(101..=101)).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(clone.flush().await, Err(StoreError::Closed)));
    clone.close().await.unwrap();
    drop((store, clone));

    let reopened = open(&path);
    assert_eq!(reopened.read_events("s", 0, 1000).await.unwrap(), written);
    reopened.append("s", events(101..=101)).await.unwrap();
    assert_eq!(reopened.get_session("s").await.unwrap().last_seq, 101);
}

#[tokio::test]
async fn dropping_every_clone_lets_the_file_be_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let store = open(&path);
    store.create_session(row("s", 0)).await.unwrap();
    let clone = store.clone();
    drop(store);
    clone.append("s", events(1..=2)).await.unwrap();
    assert_eq!(clone.read_events("s", 0, 10).await.unwrap().len(), 2);
    drop(clone);
    // Drop joined the writer thread, so its connection is closed: the WAL was
    // checkpointed into the main file and nothing is left to recover.
    assert!(!path.with_extension("db-wal").exists());
    let reopened = open(&path);
    assert_eq!(reopened.get_session("s").await.unwrap().last_seq, 2);
}

/// Environment variable naming the database the `kill_child` test writes to.
const CHILD_DB: &str = "BERTH_STORE_KILL_CHILD_DB";

/// The victim of `awaited_appends_survive_kill_9`: appends one event at a time and
/// reports each one once its `append` has returned. Does nothing when run alone.
#[tokio::test]
#[ignore = "run by awaited_appends_survive_kill_9"]
async fn kill_child() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let store = open(Path::new(&path));
    store.create_session(row("s", 0)).await.unwrap();
    for seq in 1.. {
        store.append("s", vec![event(seq)]).await.unwrap();
        println!("committed {seq}");
    }
}

#[tokio::test]
async fn awaited_appends_survive_kill_9() {
    use std::io::BufRead;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_child", "--ignored", "--nocapture"])
        .env(CHILD_DB, &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut acknowledged = 0;
    for line in stdout.lines() {
        if let Some(seq) = line.unwrap().strip_prefix("committed ") {
            acknowledged = seq.parse().unwrap();
            if acknowledged >= 300 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no close, no checkpoint
    child.wait().unwrap();
    assert!(acknowledged >= 300, "the child stopped early");

    let store = open(&path);
    let last = store.get_session("s").await.unwrap().last_seq;
    assert!(
        last >= acknowledged,
        "acknowledged {acknowledged}, found {last}"
    );
    let log = store.read_events("s", 0, usize::MAX).await.unwrap();
    assert_eq!(seqs(&log), (1..=last).collect::<Vec<_>>());
}

#[tokio::test]
async fn reads_do_not_wait_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let store = open(&path);
    store.create_session(row("s", 0)).await.unwrap();
    store.append("s", events(1..=1000)).await.unwrap();

    // Another connection holds the write lock with an uncommitted row.
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch(
            "BEGIN IMMEDIATE;
             INSERT INTO events VALUES ('s', 1001, 'x', 'odd', '{}');",
        )
        .unwrap();
    // Overlapping reads also need more than one pooled connection.
    let reads = (0..32).map(|i| store.read_events("s", i * 10, 50));
    let reads = futures::future::join_all(reads);
    // Under BUSY_TIMEOUT (5 s): a read blocked by the writer would still be caught.
    let reads = tokio::time::timeout(Duration::from_secs(4), reads)
        .await
        .expect("reads waited for the writer");
    for (i, read) in reads.into_iter().enumerate() {
        assert_eq!(read.unwrap()[0].seq, i as u64 * 10 + 1);
    }
    assert_eq!(store.get_session("s").await.unwrap().last_seq, 1000);
    other.execute_batch("ROLLBACK").unwrap();
}

#[tokio::test]
async fn an_append_waits_for_another_writers_lock_and_then_lands() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let store = open(&path);
    store.create_session(row("s", 0)).await.unwrap();
    store.create_session(row("t", 0)).await.unwrap();

    // Another process's writer (a session host) holds the write lock.
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch(
            "BEGIN IMMEDIATE;
             INSERT INTO events VALUES ('t', 1, 'x', 'odd', '{}');",
        )
        .unwrap();
    // It keeps the lock for a while (as a big batch does), then commits. The append,
    // submitted meanwhile, must wait (not fail with SQLITE_BUSY) and then land.
    let holder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        other.execute_batch("COMMIT").unwrap();
    });
    tokio::time::timeout(Duration::from_secs(4), store.append("s", events(1..=3)))
        .await
        .expect("the append lands once the lock is free")
        .unwrap();
    holder.join().unwrap();
    let log = store.read_events("s", 0, usize::MAX).await.unwrap();
    assert_eq!(seqs(&log), vec![1, 2, 3]);
}

#[tokio::test]
async fn summary_columns_and_archived_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let store = open(&path);
    store.create_session(row("s", 0)).await.unwrap();
    store.append("s", events(1..=3)).await.unwrap();
    let s = store.get_session("s").await.unwrap();
    assert_eq!((s.summary, s.archived, s.last_seq), (None, false, 3));

    let summary = SummaryColumns {
        at_seq: 3,
        status: Status::Stopped,
        last_stop: Some(StopReason::EndTurn),
        pending_prompts: 0,
        preview: Some("the last line ✓".into()),
        mode: Some("code".into()),
        commands: vec![AgentCommand {
            name: "stream".into(),
            description: "stream chunks".into(),
            hint: None,
        }],
        usage: Some(berth_protocol::Usage {
            used_tokens: 1234,
            context_size: Some(200_000),
            cost: Some(berth_protocol::Cost {
                amount: 0.0125,
                currency: "USD".into(),
            }),
        }),
        config: Some(berth_protocol::AgentConfig {
            modes: vec![berth_protocol::ConfigChoice {
                id: "code".into(),
                name: "Code".into(),
                description: None,
                group: None,
            }],
            options: vec![],
        }),
        pending_config: vec![berth_protocol::ConfigChange::Option {
            option: "model".into(),
            value: berth_protocol::OptionValue::Id("demo-smart".into()),
        }],
    };
    let update = SessionUpdate {
        archived: Some(true),
        summary: Some(summary.clone()),
        ..SessionUpdate::default()
    };
    store.update_session("s", update).await.unwrap();
    store.close().await.unwrap();
    drop(store);

    // Survives a reopen, and a later update without them leaves them alone.
    let store = open(&path);
    let rename = SessionUpdate {
        title: Some("other".into()),
        ..SessionUpdate::default()
    };
    store.update_session("s", rename).await.unwrap();
    let s = store.get_session("s").await.unwrap();
    assert!(s.archived);
    assert_eq!(s.summary, Some(summary));
    let listed = store.list_sessions().await.unwrap();
    assert_eq!(listed[0].summary, s.summary);

    let unarchive = SessionUpdate {
        archived: Some(false),
        ..SessionUpdate::default()
    };
    store.update_session("s", unarchive).await.unwrap();
    assert!(!store.get_session("s").await.unwrap().archived);
}

#[tokio::test]
async fn a_version_1_database_migrates_with_no_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    {
        // The schema as version 1 left it, with one session and one event.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema_version', '1'), ('epoch', 'e1');
            CREATE TABLE sessions (
                id TEXT PRIMARY KEY NOT NULL, slug TEXT NOT NULL, title TEXT NOT NULL,
                agent TEXT NOT NULL, cwd TEXT NOT NULL, created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL, read_seq INTEGER NOT NULL DEFAULT 0,
                agent_session_id TEXT);
            CREATE TABLE events (
                session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                seq INTEGER NOT NULL, ts TEXT NOT NULL, kind TEXT NOT NULL,
                data TEXT NOT NULL, PRIMARY KEY (session_id, seq)) WITHOUT ROWID;
            INSERT INTO sessions VALUES ('old', 'slug', 'Old', 'demo', '/',
                '2026-11-21T10:00:00.000000000Z', '2026-11-21T10:00:00.000000000Z', 0, NULL);
            INSERT INTO events VALUES ('old', 1, '2026-11-21T10:00:00.000000000Z', 'x', '{}');",
        )
        .unwrap();
    }
    let store = open(&path);
    assert_eq!(store.epoch(), "e1");
    let s = store.get_session("old").await.unwrap();
    assert_eq!((s.last_seq, s.archived, s.summary), (1, false, None));
}
