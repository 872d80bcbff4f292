//! Per-event cost and latency (issue 10): berth, driven only through its public API,
//! against **the floor** in the same run: a bare tokio-tungstenite broadcast server (this
//! bench run as `floor`, a process of its own) with one shared `Bytes` per frame,
//! per-viewer feed-then-flush and a 4 KiB read buffer. Every figure is printed with its
//! ratio berth / floor (or berth / SQLite for the store-bound ones).
//!
//! The agent is the demo agent, a real ACP process: `/stream N [rate=R] stamp` sends
//! chunk i as `chunk i at <µs since the epoch>\n`, so latency is agent emit → viewer
//! receipt. The floor's producer stamps its frames the same way.
//!
//! Figures:
//! - fan-out at max rate to V viewers, and paced at R events/s: chunks delivered per
//!   second (over all viewers), emit → receipt p50 / p99 / max, server CPU µs per
//!   delivered chunk (the server and its session hosts; the floor process), agent CPU
//!   and client (this process) CPU;
//! - resume after M missed events and attach from 0 to a log of L events: time to the
//!   last event, against reading the same rows from the SQLite file;
//! - idle memory: server RSS per open connection, then per attached viewer, and what is
//!   left once they close;
//! - durable append, 1 and S sessions streaming at once: events/s, against a plain
//!   SQLite insert loop of the same rows (`synchronous=FULL`, WAL, 1024 rows per
//!   transaction); and a small turn's `POST /turns` beside S sessions streaming.
//!
//! `cargo bench -p berth --bench viewports` runs the full table (minutes;
//! `BERTH_BENCH_ONLY=fanout|catch-up|append|memory` runs one part); under `cargo test` it
//! is a small smoke run of the same code.

#[path = "viewports/floor.rs"]
mod floor;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use support::{
    BERTH, Server, Viewport, attach, create_session, full_run, host_pids, last_seq, start_turn,
    status_kib, summary,
};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(300);

struct Scale {
    /// (viewers, events) at max rate.
    max_rate: Vec<(usize, usize)>,
    /// (viewers, events per second, seconds).
    paced: Vec<(usize, usize, usize)>,
    missed: usize,
    log: usize,
    connections: usize,
    /// (sessions, events each).
    append: Vec<(usize, usize)>,
}

fn scale() -> Scale {
    if full_run() {
        Scale {
            max_rate: vec![(1, 200_000), (100, 20_000), (1000, 2_000)],
            paced: vec![(1, 1000, 5), (1, 5000, 5), (100, 1000, 5), (100, 5000, 5)],
            missed: 10_000,
            log: 100_000,
            connections: 10_000,
            append: vec![(1, 100_000), (10, 20_000)],
        }
    } else {
        Scale {
            max_rate: vec![(1, 2_000), (10, 500)],
            paced: vec![(1, 2000, 1)],
            missed: 1_000,
            log: 3_000,
            connections: 20,
            append: vec![(1, 2_000), (2, 1_000)],
        }
    }
}

/// Whether section `name` runs: all do unless `BERTH_BENCH_ONLY` names one
/// (`fanout`, `catch-up`, `append`, `memory`).
fn only(name: &str) -> bool {
    std::env::var("BERTH_BENCH_ONLY").map_or(true, |only| only == name)
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("floor") {
        return floor::serve();
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

async fn run() {
    let scale = scale();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("viewports: berth {BERTH} against the floor, {cores} cores");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;

    if only("fanout") {
        let floor = floor::Floor::start();
        println!();
        println!("| figure | berth | floor | berth / floor |");
        println!("|---|---|---|---|");
        for &(viewers, events) in &scale.max_rate {
            let berth = berth_fanout(&server, dir.path(), viewers, events, None).await;
            let bare = floor.fanout(viewers, events, None).await;
            let what = format!("max rate, {viewers} viewer(s), {events} events");
            print_fanout(&what, &berth, &bare);
        }
        for &(viewers, rate, secs) in &scale.paced {
            let events = rate * secs;
            let berth = berth_fanout(&server, dir.path(), viewers, events, Some(rate)).await;
            let bare = floor.fanout(viewers, events, Some(rate)).await;
            print_fanout(
                &format!("{rate} events/s, {viewers} viewer(s)"),
                &berth,
                &bare,
            );
        }
    }

    if only("catch-up") || only("append") {
        println!();
        println!("| figure | berth | SQLite alone | berth / SQLite |");
        println!("|---|---|---|---|");
    }
    if only("catch-up") {
        let (resume, read) = resume(&server, dir.path(), scale.missed).await;
        print_ratio(
            &format!("resume after {} missed", scale.missed),
            resume,
            read,
        );
        let (from_zero, read) = attach_from_zero(&server, dir.path(), scale.log).await;
        print_ratio(
            &format!("attach from 0 to {} events", scale.log),
            from_zero,
            read,
        );
    }
    if only("append") {
        // Streams long enough to outlast the five small turns.
        let (streams, each) = scale.append.last().map_or((1, 1000), |&(s, e)| (s, 5 * e));
        let (alone, beside, worst) = small_turn_beside(&server, streams, each).await;
        println!(
            "| `POST /turns` of a small turn beside {streams} sessions streaming at max rate: \
             median / max | {:.1} / {:.1} ms | alone {:.1} ms | {:.1} |",
            beside.as_secs_f64() * 1000.0,
            worst.as_secs_f64() * 1000.0,
            alone.as_secs_f64() * 1000.0,
            beside.as_secs_f64() / alone.as_secs_f64().max(1e-9)
        );
        for &(sessions, events) in &scale.append {
            let (rate, sqlite_rate) = append(&server, sessions, events).await;
            println!(
                "| durable append, {sessions} session(s) × {events} events | {rate:.0} events/s | \
                 {sqlite_rate:.0} events/s | {:.2} |",
                rate / sqlite_rate
            );
        }
    }

    if only("memory") {
        println!();
        println!("| memory | berth | floor | berth / floor |");
        println!("|---|---|---|---|");
        memory(scale.connections).await;
    }
}

/// What one fan-out run measured.
struct Fanout {
    delivered: usize,
    wall: Duration,
    /// Emit → receipt, µs, sorted.
    latencies: Vec<u64>,
    server_cpu: Duration,
    agent_cpu: Duration,
    client_cpu: Duration,
}

impl Fanout {
    fn per_second(&self) -> f64 {
        self.delivered as f64 / self.wall.as_secs_f64()
    }

    fn at(&self, q: f64) -> f64 {
        let i = ((self.latencies.len().max(1) - 1) as f64 * q) as usize;
        self.latencies.get(i).copied().unwrap_or(0) as f64 / 1000.0
    }

    fn cpu_per_event_us(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.delivered.max(1) as f64
    }
}

fn print_fanout(what: &str, berth: &Fanout, floor: &Fanout) {
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    println!(
        "| {what}: delivered/s | {:.0} | {:.0} | {:.2} |",
        berth.per_second(),
        floor.per_second(),
        ratio(berth.per_second(), floor.per_second())
    );
    for (name, q) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
        println!(
            "| {what}: emit → receipt {name} | {:.2} ms | {:.2} ms | {:.1} |",
            berth.at(q),
            floor.at(q),
            ratio(berth.at(q), floor.at(q))
        );
    }
    println!(
        "| {what}: server CPU per delivered event | {:.2} µs | {:.2} µs | {:.1} |",
        berth.cpu_per_event_us(),
        floor.cpu_per_event_us(),
        ratio(berth.cpu_per_event_us(), floor.cpu_per_event_us())
    );
    println!(
        "| {what}: agent / client CPU | {:.2} s / {:.2} s | {:.2} s / {:.2} s | — |",
        berth.agent_cpu.as_secs_f64(),
        berth.client_cpu.as_secs_f64(),
        floor.agent_cpu.as_secs_f64(),
        floor.client_cpu.as_secs_f64()
    );
}

fn print_ratio(what: &str, berth: Duration, sqlite: Duration) {
    println!(
        "| {what} | {:.1} ms | {:.1} ms | {:.1} |",
        berth.as_secs_f64() * 1000.0,
        sqlite.as_secs_f64() * 1000.0,
        berth.as_secs_f64() / sqlite.as_secs_f64().max(1e-9)
    );
}

/// CPU time (user + system) of a process so far.
fn cpu(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the `(comm)`, which may hold spaces: utime and stime are 14 and 15.
    let after = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn self_cpu() -> Duration {
    cpu(std::process::id())
}

/// The server's CPU and its session hosts'.
fn berth_cpu(server: &Server, dir: &Path) -> Duration {
    cpu(server.child.id()) + host_pids(dir).into_iter().map(cpu).sum::<Duration>()
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// Read frames until the turn ends: each stamped chunk's emit → receipt (µs), and how
/// many chunks arrived.
async fn receive(ws: &mut Viewport) -> (Vec<u64>, usize) {
    let mut latencies = Vec::new();
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("frames keep coming")
            .expect("the connection stays open")
            .unwrap();
        let received = now_us();
        let Ok(text) = frame.to_text() else { continue };
        if text.contains(r#""kind":"agent_message_chunk""#) {
            // Coalesced frames hold several stamped lines.
            for (at, _) in text.match_indices(" at ") {
                let digits: String = text[at + 4..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(sent) = digits.parse::<u64>() {
                    latencies.push(received.saturating_sub(sent));
                }
            }
        } else if text.contains(r#""kind":"turn_ended""#) {
            let chunks = latencies.len();
            return (latencies, chunks);
        }
    }
}

/// The demo agent's pid in the session (from its last `agent_started`).
async fn agent_pid(server: &Server, id: &str) -> Option<u32> {
    let page: berth_protocol::rest::EventsPage = server
        .get(&format!("/api/v1/sessions/{id}/events?after=0&limit=5000"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    page.events.iter().rev().find_map(|r| match r.event {
        berth_protocol::Event::AgentStarted { pid, .. } => Some(pid),
        _ => None,
    })
}

/// A fresh session whose agent is up (one short turn), and its last seq.
async fn warm_session(server: &Server) -> (String, u64) {
    let id = create_session(server).await;
    let turn = start_turn(server, &id, "/stream 1").await;
    let mut ws = server.viewport().await;
    attach(&mut ws, &id, 0).await;
    support::until_turn_ended(&mut ws, &turn).await;
    let seq = last_seq(server, &id).await;
    (id, seq)
}

async fn berth_fanout(
    server: &Server,
    dir: &Path,
    viewers: usize,
    events: usize,
    rate: Option<usize>,
) -> Fanout {
    let (id, after) = warm_session(server).await;
    let mut connections = Vec::with_capacity(viewers);
    for _ in 0..viewers {
        let mut ws = server.viewport().await;
        attach(&mut ws, &id, after).await;
        connections.push(ws);
    }
    let agent = agent_pid(server, &id).await.unwrap_or(0);
    let text = match rate {
        Some(rate) => format!("/stream {events} rate={rate} stamp"),
        None => format!("/stream {events} stamp"),
    };
    let (server_before, agent_before, client_before) =
        (berth_cpu(server, dir), cpu(agent), self_cpu());
    let began = Instant::now();
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|mut ws| tokio::spawn(async move { receive(&mut ws).await }))
        .collect();
    start_turn(server, &id, &text).await;
    let fanout = collect(tasks, events, began).await;
    Fanout {
        server_cpu: berth_cpu(server, dir) - server_before,
        agent_cpu: cpu(agent) - agent_before,
        client_cpu: self_cpu() - client_before,
        ..fanout
    }
}

async fn collect(
    tasks: Vec<tokio::task::JoinHandle<(Vec<u64>, usize)>>,
    events: usize,
    began: Instant,
) -> Fanout {
    let mut latencies = Vec::new();
    let mut delivered = 0;
    for task in tasks {
        let (mut got, chunks) = task.await.unwrap();
        assert_eq!(chunks, events, "every viewer gets every chunk");
        delivered += chunks;
        latencies.append(&mut got);
    }
    let wall = began.elapsed();
    latencies.sort_unstable();
    Fanout {
        delivered,
        wall,
        latencies,
        server_cpu: Duration::ZERO,
        agent_cpu: Duration::ZERO,
        client_cpu: Duration::ZERO,
    }
}

/// Wait until a `/stream N` turn started after `after` has ended: its N chunks and
/// three more events (user message, turn start and end) are logged, and it is idle.
async fn wait_streamed(server: &Server, id: &str, after: u64, n: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let session = summary(server, id).await;
        if session.last_seq >= after + n as u64 + 3
            && session.status == berth_protocol::Status::Idle
        {
            return;
        }
        assert!(Instant::now() < deadline, "the turn ends");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Connect, attach after `after` and time the wait for the frame of seq `last`.
async fn time_catch_up(server: &Server, id: &str, after: u64, last: u64) -> Duration {
    let began = Instant::now();
    let mut ws = server.viewport().await;
    attach(&mut ws, id, after).await;
    let mark = format!(r#""seq":{last},"#);
    loop {
        let frame = ws.next().await.unwrap().unwrap();
        let text = frame.to_text().unwrap_or_default();
        if text.starts_with(r#"{"type":"event""#) && text.contains(&mark) {
            return began.elapsed();
        }
    }
}

/// Reading the rows after `after` of session `id` straight from berth's SQLite file.
fn sqlite_read(dir: &Path, id: &str, after: u64) -> Duration {
    let began = Instant::now();
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("berth.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut statement = conn
        .prepare("SELECT seq, ts, kind, data FROM events WHERE session_id = ?1 AND seq > ?2 ORDER BY seq")
        .unwrap();
    let mut rows = statement
        .query(rusqlite::params![id, after as i64])
        .unwrap();
    let mut bytes = 0;
    while let Some(row) = rows.next().unwrap() {
        bytes += row.get_ref(3).unwrap().as_str().unwrap().len();
    }
    assert!(bytes > 0);
    began.elapsed()
}

async fn resume(server: &Server, dir: &Path, missed: usize) -> (Duration, Duration) {
    let (id, after) = warm_session(server).await;
    start_turn(server, &id, &format!("/stream {missed}")).await;
    wait_streamed(server, &id, after, missed).await;
    let last = last_seq(server, &id).await;
    (
        time_catch_up(server, &id, after, last).await,
        sqlite_read(dir, &id, after),
    )
}

async fn attach_from_zero(server: &Server, dir: &Path, log: usize) -> (Duration, Duration) {
    let (id, after) = warm_session(server).await;
    start_turn(server, &id, &format!("/stream {log}")).await;
    wait_streamed(server, &id, after, log).await;
    let last = last_seq(server, &id).await;
    // The second of two: the first warms the page cache as a real log would be.
    time_catch_up(server, &id, 0, last).await;
    (
        time_catch_up(server, &id, 0, last).await,
        sqlite_read(dir, &id, 0),
    )
}

/// `sessions` sessions stream `events` each at once, nobody watching: events committed
/// per second, and a plain SQLite loop's rate for the same rows.
async fn append(server: &Server, sessions: usize, events: usize) -> (f64, f64) {
    let mut warm = Vec::new();
    for _ in 0..sessions {
        warm.push(warm_session(server).await);
    }
    let began = Instant::now();
    for (id, _) in &warm {
        start_turn(server, id, &format!("/stream {events}")).await;
    }
    for (id, after) in &warm {
        wait_streamed(server, id, *after, events).await;
    }
    let rate = (sessions * events) as f64 / began.elapsed().as_secs_f64();
    (rate, sqlite_append(sessions * events))
}

/// `POST /turns` of a small turn (202 once its `turn_started` is committed), 5 times:
/// alone, then while `streams` other sessions stream `each` events at max rate. The
/// median alone, and the median and worst beside them.
async fn small_turn_beside(
    server: &Server,
    streams: usize,
    each: usize,
) -> (Duration, Duration, Duration) {
    async fn five(server: &Server, id: &str) -> Vec<Duration> {
        let mut times = Vec::new();
        for _ in 0..5 {
            let after = last_seq(server, id).await;
            let began = Instant::now();
            start_turn(server, id, "/stream 1").await;
            times.push(began.elapsed());
            wait_streamed(server, id, after, 1).await;
        }
        times.sort();
        times
    }
    let (small, _) = warm_session(server).await;
    let alone = five(server, &small).await;
    let mut busy = Vec::new();
    for _ in 0..streams {
        busy.push(warm_session(server).await);
    }
    for (id, _) in &busy {
        start_turn(server, id, &format!("/stream {each}")).await;
    }
    let beside = five(server, &small).await;
    let running = busy.iter().map(|(id, _)| summary(server, id));
    let running = futures::future::join_all(running).await;
    eprintln!(
        "small turns {beside:?}; streams still running: {}",
        running
            .iter()
            .filter(|s| s.status == berth_protocol::Status::Running)
            .count()
    );
    for (id, after) in &busy {
        wait_streamed(server, id, *after, each).await;
    }
    (alone[2], beside[2], beside[4])
}

fn sqlite_append(rows: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = rusqlite::Connection::open(dir.path().join("plain.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch(
        "CREATE TABLE events (session_id TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL,
         kind TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (session_id, seq)) WITHOUT ROWID",
    )
    .unwrap();
    let ts = chrono::Utc::now().to_rfc3339();
    let began = Instant::now();
    for batch in (1..=rows).collect::<Vec<_>>().chunks(1024) {
        let tx = conn.transaction().unwrap();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events VALUES ('s', ?1, ?2, 'agent_message_chunk', ?3)",
                )
                .unwrap();
            for &seq in batch {
                let data = format!(
                    r#"{{"kind":"agent_message_chunk","turn_id":"0193f0c2-0000-7000-8000-000000000000","text":"chunk {seq}\n"}}"#
                );
                insert
                    .execute(rusqlite::params![seq as i64, ts, data])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    rows as f64 / began.elapsed().as_secs_f64()
}

/// RSS per open connection, per attached viewer, and after they all close, on a fresh
/// server and a fresh floor (memory an allocator kept from earlier runs would hide it).
async fn memory(connections: usize) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (id, after) = warm_session(&server).await;
    let rss = |pid: u32| status_kib(pid, "VmRSS:");
    let per = |now: u64, before: u64| now.saturating_sub(before) as f64 / connections as f64;
    let pid = server.child.id();
    let idle = rss(pid);
    let mut open = Vec::new();
    for _ in 0..connections {
        let mut ws = server.viewport().await;
        // Its hello has come: the server holds the connection's state.
        ws.next().await.unwrap().unwrap();
        open.push(ws);
    }
    let opened = rss(pid);
    for ws in &mut open {
        attach(ws, &id, after).await;
    }
    // Every attachment counted: the server has done its work for them.
    let deadline = Instant::now() + WAIT;
    while (summary(&server, &id).await.viewers as usize) < connections {
        assert!(Instant::now() < deadline, "the viewers are counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let attached = rss(pid);
    drop(open);
    while summary(&server, &id).await.viewers > 0 {
        assert!(Instant::now() < deadline, "the viewers leave");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The server hands free memory back a second after the last close (trim.rs).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let left = rss(pid);

    let floor = floor::Floor::start();
    let floor_idle = rss(floor.pid());
    let mut bare = Vec::new();
    for _ in 0..connections {
        let mut ws = floor.connect().await;
        ws.send(Message::Text("ping".into())).await.unwrap();
        bare.push(ws);
    }
    // Each connection has been served (its ping answered to all).
    for ws in &mut bare {
        while !matches!(ws.next().await, Some(Ok(Message::Text(t))) if t.as_str() == "pong") {}
    }
    let floor_open = rss(floor.pid());
    drop(bare);
    println!(
        "| RSS per open connection ({connections}) | {:.1} KiB | {:.1} KiB | {:.1} |",
        per(opened, idle),
        per(floor_open, floor_idle),
        per(opened, idle) / per(floor_open, floor_idle).max(0.1)
    );
    println!(
        "| RSS per attached viewer ({connections} on one session) | {:.1} KiB | — | — |",
        per(attached, idle)
    );
    println!(
        "| RSS idle → with them → after they left | {:.1} → {:.1} → {:.1} MiB | — | — |",
        idle as f64 / 1024.0,
        attached as f64 / 1024.0,
        left as f64 / 1024.0
    );
}
