//! R1 with session hosts, Jepsen-style: the server is killed with -9 at random moments
//! while a turn streams; after each kill a new server starts on the same data dir and
//! the viewport resumes from the last seq it saw. At the end: the viewport saw every
//! seq of the log exactly once (lost 0, dup 0), every frame matches the log, and every
//! turn completed with all its chunks and `end_turn`.
//!
//! `cargo test -p berth --test host_soak` (so `scripts/test`) runs 5 kills. The soak:
//! `BERTH_SOAK_KILLS=100 cargo test --release -p berth --test host_soak -- --nocapture`
//! (`BERTH_SOAK_SEED` replays a schedule).

mod support;

use std::time::{Duration, Instant};

use berth_protocol::{Event, Seq, StopReason};
use support::{Received, TestServer, Viewport, check_frames_against_log, epoch_of};

const HOSTS: &[&str] = &["--hosts", "true"];
const CHUNKS: usize = 1500;

/// xorshift64*: enough randomness for a kill schedule, and replayable from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Take event frames from `viewport` until `deadline`; `false` if the connection ended.
async fn read_until(
    viewport: &mut Viewport,
    frames: &mut Vec<Received>,
    deadline: Instant,
) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(frame) = tokio::time::timeout(left, viewport.next_frame()).await else {
            return true;
        };
        match frame {
            Some(frame) => frames.extend(Received::of(frame)),
            None => return false,
        }
    }
}

fn ended(frames: &[Received], turn_id: &str) -> bool {
    frames
        .iter()
        .any(|f| matches!(&f.event, Event::TurnEnded { turn_id: t, .. } if t == turn_id))
}

#[tokio::test]
async fn randomized_server_kills_mid_stream_lose_nothing_and_duplicate_nothing() {
    let kills = env("BERTH_SOAK_KILLS").unwrap_or(5);
    let seed = env("BERTH_SOAK_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1
    });
    println!("host soak: {kills} kills, BERTH_SOAK_SEED={seed}");
    let mut rng = Rng(seed);

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut server = TestServer::spawn(dir, 0, HOSTS).await;
    let sid = server.create_session().await.id;
    let mut viewport = server.viewport().await;
    let epoch = epoch_of(&viewport.hello);
    viewport.attach(&sid, 0).await;
    let mut frames: Vec<Received> = Vec::new();
    let mut turns = Vec::new();
    let mut done = 0;
    let started = Instant::now();
    while done < kills {
        let turn_id = server
            .send(&sid, &format!("/stream {CHUNKS} every=1"))
            .await;
        turns.push(turn_id.clone());
        while !ended(&frames, &turn_id) {
            let pause = Duration::from_millis(20 + rng.below(400));
            read_until(&mut viewport, &mut frames, Instant::now() + pause).await;
            if done == kills || ended(&frames, &turn_id) {
                continue;
            }
            server.kill9_keep();
            done += 1;
            // Whatever was on its way counts as seen.
            read_until(&mut viewport, &mut frames, Instant::now() + support::WAIT).await;
            server = TestServer::spawn(dir, 0, HOSTS).await;
            viewport = server.viewport().await;
            assert_eq!(
                epoch_of(&viewport.hello),
                epoch,
                "same epoch after kill {done}"
            );
            let seen = frames.last().map_or(0, |f| f.seq);
            viewport.attach_at(&sid, seen, Some(&epoch)).await;
        }
    }
    let (_, records) = server.event_records(&sid).await;
    let last: Seq = records.last().unwrap().seq;
    read_until(&mut viewport, &mut frames, Instant::now()).await;
    while frames.last().map_or(0, |f| f.seq) < last {
        assert!(
            read_until(
                &mut viewport,
                &mut frames,
                Instant::now() + Duration::from_secs(1)
            )
            .await
        );
    }

    // Lost 0, dup 0: the frames cover 1..=last contiguously (each starts right after the
    // one before), and each matches the log.
    let (mut lost, mut dup, mut next) = (0u64, 0u64, 1u64);
    for f in &frames {
        if f.first_seq < next {
            dup += next - f.first_seq;
        } else if f.first_seq > next {
            lost += f.first_seq - next;
        }
        next = f.seq + 1;
    }
    lost += (last + 1).saturating_sub(next);
    println!(
        "host soak: {done} kills over {} turns, {last} events, lost {lost}, dup {dup}, {:.1}s",
        turns.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!((lost, dup), (0, 0));
    check_frames_against_log(&frames, &records, 0);
    let seqs: Vec<Seq> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "dense seqs");
    for turn_id in &turns {
        let chunks = records
            .iter()
            .filter(
                |r| matches!(&r.event, Event::AgentMessageChunk { turn_id: t, .. } if t == turn_id),
            )
            .count();
        assert_eq!(chunks, CHUNKS, "turn {turn_id}: every chunk, once");
        let end = records.iter().find_map(|r| match &r.event {
            Event::TurnEnded {
                turn_id: t,
                stop_reason,
                error,
            } if t == turn_id => Some((*stop_reason, error.clone())),
            _ => None,
        });
        assert_eq!(
            end,
            Some((StopReason::EndTurn, None)),
            "turn {turn_id} completed"
        );
    }
    drop(server);
}
