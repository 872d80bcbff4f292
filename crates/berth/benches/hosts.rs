//! Session hosts (issue 9), through the real binary and its public API:
//!
//! - the host hop's added latency: one session streaming `/stream N rate=5000` (the
//!   demo agent paces by deadline) to V attached viewers, emit → receipt per chunk
//!   (receipt time minus the event's `ts`, stamped by the actor when it emits), p50 /
//!   p99 / max over every viewer's chunks, with the session in a host and with
//!   `--hosts false` (the actor in the server), in the same run;
//! - re-adoption: N sessions each running `/sleep 600` in its host, the server killed
//!   with -9, a new one started: spawn → `GET /health` 200 with all N adopted; for
//!   comparison the same start with the hosts dead (every session repaired);
//! - host memory without its agent: RSS, PSS and private (USS) per host, N running.
//!
//! `cargo bench -p berth --bench hosts` runs V = 100, 25 000 events (5 s), N = 50
//! (`BERTH_BENCH_VIEWERS`, `BERTH_BENCH_EVENTS`, `BERTH_BENCH_HOSTS`). Under `cargo test`
//! it is a small smoke run of the same code.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use support::{
    BERTH, Server, Viewport, attach, create_session, env_usize, field, full_run, host_pids,
    last_seq, median, start_turn, until_turn_ended,
};

struct Scale {
    viewers: usize,
    events: usize,
    rate: usize,
    hosts: usize,
}

fn scale() -> Scale {
    if full_run() {
        Scale {
            viewers: env_usize("BERTH_BENCH_VIEWERS", 100),
            events: env_usize("BERTH_BENCH_EVENTS", 25_000),
            rate: 5_000,
            hosts: env_usize("BERTH_BENCH_HOSTS", 50),
        }
    } else {
        Scale {
            viewers: 4,
            events: 500,
            rate: 5_000,
            hosts: 4,
        }
    }
}

const WAIT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() {
    let scale = scale();
    println!(
        "session hosts: {} viewers, {} events at {}/s, {} hosts; binary {BERTH}",
        scale.viewers, scale.events, scale.rate, scale.hosts
    );
    let in_process = hop_latency(false, &scale).await;
    let hosted = hop_latency(true, &scale).await;
    let adoption = adoption(scale.hosts).await;

    println!();
    println!("| figure | in the server (`--hosts false`) | in a session host | target |");
    println!("|---|---|---|---|");
    println!(
        "| emit → receipt p50 / p99 / max, {} ev/s to {} viewers | {} | {} | added ≈ 0 |",
        scale.rate,
        scale.viewers,
        in_process.row(),
        hosted.row()
    );
    println!(
        "| chunks delivered (all viewers) / wall time | {} / {:.2} s | {} / {:.2} s | all |",
        in_process.delivered,
        in_process.wall.as_secs_f64(),
        hosted.delivered,
        hosted.wall.as_secs_f64()
    );
    println!();
    println!("| figure | measured | target |");
    println!("|---|---|---|");
    println!(
        "| server start → `/health` 200, {} live hosts adopted | {:.0} ms (median of {}) | ≤ 500 ms |",
        scale.hosts,
        median(&adoption.adopt).as_secs_f64() * 1000.0,
        adoption.adopt.len()
    );
    println!(
        "| … the same start with those hosts dead (each session repaired) | {:.0} ms | — |",
        adoption.repair.as_secs_f64() * 1000.0
    );
    println!(
        "| host RSS, median (min–max) | {} | ≤ 8 MiB |",
        adoption.rss.row()
    );
    println!(
        "| host PSS (its share of pages shared with the server and other hosts) | {} | — |",
        adoption.pss.row()
    );
    println!(
        "| host private memory (USS: what one more host costs) | {} | — |",
        adoption.uss.row()
    );
}

struct Latency {
    p50: Duration,
    p99: Duration,
    max: Duration,
    delivered: usize,
    wall: Duration,
}

impl Latency {
    fn row(&self) -> String {
        format!(
            "{:.2} / {:.2} / {:.1} ms",
            self.p50.as_secs_f64() * 1000.0,
            self.p99.as_secs_f64() * 1000.0,
            self.max.as_secs_f64() * 1000.0
        )
    }
}

/// Stream `scale.events` chunks at `scale.rate` to `scale.viewers` viewers.
async fn hop_latency(hosts: bool, scale: &Scale) -> Latency {
    let dir = tempfile::tempdir().unwrap();
    let flag = if hosts { "true" } else { "false" };
    let server = Server::start_with(dir.path(), &["--hosts", flag]).await;
    let id = create_session(&server).await;
    // Warm: the agent (and the host) up before anything is timed.
    let warm = start_turn(&server, &id, "/stream 3").await;
    let mut ws = server.viewport().await;
    attach(&mut ws, &id, 0).await;
    until_turn_ended(&mut ws, &warm).await;
    let after = last_seq(&server, &id).await;

    let mut viewers = tokio::task::JoinSet::new();
    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(scale.viewers);
    for _ in 0..scale.viewers {
        let mut ws = server.viewport().await;
        let (id, ready_tx) = (id.clone(), ready_tx.clone());
        viewers.spawn(async move {
            attach(&mut ws, &id, after).await;
            ready_tx.send(()).await.unwrap();
            receive_chunks(&mut ws).await
        });
    }
    for _ in 0..scale.viewers {
        ready.recv().await.unwrap();
    }
    let began = Instant::now();
    let text = format!("/stream {} rate={}", scale.events, scale.rate);
    start_turn(&server, &id, &text).await;
    let mut all = Vec::new();
    let mut delivered = 0;
    while let Some(done) = viewers.join_next().await {
        let (latencies, chunks) = done.unwrap();
        assert_eq!(chunks, scale.events, "every viewer gets every chunk");
        delivered += chunks;
        all.extend(latencies);
    }
    let wall = began.elapsed();
    all.sort();
    let at = |q: f64| all[((all.len() - 1) as f64 * q) as usize];
    Latency {
        p50: at(0.50),
        p99: at(0.99),
        max: *all.last().unwrap(),
        delivered,
        wall,
    }
}

/// Until the streamed turn ends: each chunk frame's emit → receipt time, and how many
/// chunks the frames covered (a lagging viewer may get coalesced ones).
async fn receive_chunks(ws: &mut Viewport) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::new();
    let mut chunks = 0;
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("frames keep coming")
            .unwrap()
            .unwrap();
        let received = chrono::Utc::now();
        let Ok(text) = frame.to_text() else { continue };
        if text.contains(r#""kind":"agent_message_chunk""#) {
            // Only the fields the figure needs, so 100 viewers on 2 cores can keep up.
            let ts = field(text, r#""ts":""#, '"');
            let ts = chrono::DateTime::parse_from_rfc3339(ts).unwrap();
            let seq: u64 = field(text, r#""seq":"#, ',').parse().unwrap();
            let first: u64 = if text.contains(r#""first_seq":"#) {
                field(text, r#""first_seq":"#, ',').parse().unwrap()
            } else {
                seq
            };
            chunks += (seq - first + 1) as usize;
            let waited = received.signed_duration_since(ts);
            latencies.push(waited.to_std().unwrap_or_default());
        } else if text.contains(r#""kind":"turn_ended""#) {
            return (latencies, chunks);
        }
    }
}

struct Adoption {
    adopt: Vec<Duration>,
    repair: Duration,
    rss: Kib,
    pss: Kib,
    uss: Kib,
}

/// Per-host figures in KiB, sorted.
struct Kib(Vec<u64>);

impl Kib {
    fn row(&self) -> String {
        let mib = |k: u64| k as f64 / 1024.0;
        format!(
            "{:.1} MiB ({:.1}–{:.1})",
            mib(self.0[self.0.len() / 2]),
            mib(self.0[0]),
            mib(*self.0.last().unwrap())
        )
    }
}

async fn adoption(hosts: usize) -> Adoption {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--max-live-agents", "0"]).await;
    for _ in 0..hosts {
        let id = create_session(&server).await;
        start_turn(&server, &id, "/sleep 600").await;
    }
    wait_agents(&server, hosts).await;
    let pids = host_pids(dir.path());
    assert_eq!(pids.len(), hosts);
    let memory = |field: &str| {
        let mut kib: Vec<u64> = pids.iter().map(|&p| rollup_kib(p, field)).collect();
        kib.sort();
        Kib(kib)
    };
    let (rss, pss) = (memory("Rss:"), memory("Pss:"));
    let mut uss: Vec<u64> = pids
        .iter()
        .map(|&p| rollup_kib(p, "Private_Clean:") + rollup_kib(p, "Private_Dirty:"))
        .collect();
    uss.sort();
    let mut server = server;
    let mut adopt = Vec::new();
    for _ in 0..3 {
        server.kill9();
        server = Server::start_with(dir.path(), &["--max-live-agents", "0"]).await;
        adopt.push(server.started_in);
        let live = server.health().await.sessions.map(|s| (s.live, s.agents));
        assert_eq!(live, Some((hosts, hosts)), "every host adopted");
    }
    server.kill9();
    for &pid in &pids {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    wait_until("the hosts gone", || host_pids(dir.path()).is_empty()).await;
    let server = Server::start_with(dir.path(), &["--max-live-agents", "0"]).await;
    let repair = server.started_in;
    drop(server);
    Adoption {
        adopt,
        repair,
        rss,
        pss,
        uss: Kib(uss),
    }
}

async fn wait_agents(server: &Server, n: usize) {
    let began = Instant::now();
    while server.health().await.sessions.map(|s| s.agents) != Some(n) {
        assert!(began.elapsed() < WAIT, "{n} agents running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let began = Instant::now();
    while !check() {
        assert!(began.elapsed() < WAIT, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `/proc/<pid>/smaps_rollup` figure in KiB.
fn rollup_kib(pid: u32, field: &str) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    rollup
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
