//! Exact resume (ARCHITECTURE.md §2.2) and slow viewports (§2.3), end to end: a real
//! server, the real demo agent, viewports that come and go mid-stream. Every check is
//! on seqs: the `event` frames an attachment receives cover `after+1, after+2, …`
//! contiguously, without overlap, and what they carry is exactly the log.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use berth_protocol::{ClientOp, Event, Seq, ServerFrame};
use futures::SinkExt;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use support::{TestServer, Viewport, covered, wait_for};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

// ----- what an attachment received --------------------------------------------------

/// The `event` frames one attachment received, checked for contiguity as they arrive.
struct Cover {
    session: String,
    after: Seq,
    /// Last seq covered so far (`after` before any frame).
    last: Seq,
    /// `(first_seq, seq, event)` per frame, in arrival order.
    frames: Vec<(Seq, Seq, Event)>,
    /// Seqs covered by chunk frames.
    chunk_seqs: u64,
    /// Seq of the last `turn_ended` received, if any.
    ended: Option<Seq>,
    /// How many `turn_ended` were received.
    turns_ended: usize,
}

impl Cover {
    fn new(session: &str, after: Seq) -> Cover {
        Cover {
            session: session.to_owned(),
            after,
            last: after,
            frames: Vec::new(),
            chunk_seqs: 0,
            ended: None,
            turns_ended: 0,
        }
    }

    /// Take one frame of the connection; summaries are ignored, anything but an `event`
    /// of this session fails the test.
    fn take(&mut self, frame: ServerFrame) {
        let range = covered(&frame);
        match frame {
            ServerFrame::Event { session, event, .. } if session == self.session => {
                let (first, seq) = range.expect("event frames cover seqs");
                assert_eq!(
                    first,
                    self.last + 1,
                    "frame {first}..={seq} after {} (attached after {}): a gap or an overlap",
                    self.last,
                    self.after
                );
                assert!(seq >= first, "frame {first}..={seq} is empty");
                if seq > first {
                    assert!(
                        event.as_chunk().is_some(),
                        "only chunks coalesce: {event:?}"
                    );
                }
                if event.as_chunk().is_some() {
                    self.chunk_seqs += seq - first + 1;
                }
                if matches!(event, Event::TurnEnded { .. }) {
                    self.ended = Some(seq);
                    self.turns_ended += 1;
                }
                self.last = seq;
                self.frames.push((first, seq, event));
            }
            ServerFrame::Session { .. } => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }

    /// The chunk texts received, in order.
    fn text(&self) -> String {
        self.frames
            .iter()
            .filter_map(|(_, _, e)| e.as_chunk().map(|(_, _, text)| text))
            .collect()
    }
}

/// `attach` and wait for `attached`; returns its `last_seq`.
async fn attach(viewport: &mut Viewport, session: &str, after: Seq) -> Seq {
    viewport.attach(session, after).await;
    loop {
        match viewport
            .next_frame()
            .await
            .expect("the connection stays open")
        {
            ServerFrame::Attached {
                session: s,
                last_seq,
                ..
            } if s == session => return last_seq,
            ServerFrame::Session { .. } => {}
            other => panic!("expected `attached`, got {other:?}"),
        }
    }
}

/// Read frames into `cover` until `done` holds.
async fn read_until(viewport: &mut Viewport, cover: &mut Cover, done: impl Fn(&Cover) -> bool) {
    while !done(cover) {
        let frame = viewport
            .next_frame()
            .await
            .expect("the connection stays open");
        cover.take(frame);
    }
}

/// Read `frames` more event frames into `cover`, or until the turn ends.
async fn read_frames(viewport: &mut Viewport, cover: &mut Cover, frames: usize) {
    let target = cover.frames.len() + frames;
    read_until(viewport, cover, |c| {
        c.frames.len() >= target || c.ended.is_some()
    })
    .await;
}

fn ended(cover: &Cover) -> bool {
    cover.ended.is_some()
}

// ----- checks against the log ---------------------------------------------------------

/// The whole log, checked dense from 1; returns it and the seq of its last `turn_ended`.
async fn log_of(server: &TestServer, session: &str) -> (Vec<(Seq, Event)>, Seq) {
    let log = server.events(session).await;
    for (i, (seq, _)) in log.iter().enumerate() {
        assert_eq!(*seq, i as Seq + 1, "the log is dense");
    }
    let end = log
        .iter()
        .rfind(|(_, e)| matches!(e, Event::TurnEnded { .. }))
        .map(|(seq, _)| *seq)
        .expect("the turn ended");
    (log, end)
}

/// Every frame carries exactly the logged events it covers: equal when alone, the
/// joined texts of one run of chunks (same kind, same turn) when coalesced.
fn check_against_log(cover: &Cover, log: &[(Seq, Event)]) {
    for (first, seq, event) in &cover.frames {
        let logged = &log[(*first - 1) as usize..*seq as usize];
        if first == seq {
            assert_eq!(event, &logged[0].1, "frame {seq} differs from the log");
            continue;
        }
        let (thought, turn, text) = event.as_chunk().expect("only chunks coalesce");
        let joined: String = logged
            .iter()
            .map(|(s, e)| {
                let (t, tu, x) = e
                    .as_chunk()
                    .unwrap_or_else(|| panic!("seq {s} coalesced but is no chunk"));
                assert_eq!(
                    (t, tu),
                    (thought, turn),
                    "seq {s}: a run mixes kinds or turns"
                );
                x
            })
            .collect();
        assert_eq!(
            joined, text,
            "frame {first}..={seq}: text differs from the log"
        );
    }
}

/// The covers of one viewport's successive attachments, each resuming at the previous
/// one's cursor, cover exactly `from..=end`: no gap, no duplicate.
fn check_union(covers: &[&Cover], from: Seq, end: Seq) {
    let mut next = from;
    for cover in covers {
        assert_eq!(cover.after, next - 1, "resumed at the cursor");
        for (first, seq, _) in &cover.frames {
            assert_eq!(*first, next, "gap or duplicate at {first}..={seq}");
            next = seq + 1;
        }
    }
    assert_eq!(next - 1, end, "covers end at the turn's end");
}

/// The chunk texts logged after `after`.
fn logged_text(log: &[(Seq, Event)], after: Seq) -> String {
    log.iter()
        .filter(|(seq, _)| *seq > after)
        .filter_map(|(_, e)| e.as_chunk().map(|(_, _, text)| text))
        .collect()
}

/// What `/stream n` must produce: "chunk 1\n" … "chunk n\n", each once.
fn stream_text(n: u64) -> String {
    (1..=n).map(|i| format!("chunk {i}\n")).collect()
}

// ----- 1. disconnect mid-stream, resume on a new connection ---------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewport_that_disconnects_mid_stream_resumes_exactly_on_a_new_connection() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let id = session.id.as_str();

    let mut first_conn = server.viewport().await;
    attach(&mut first_conn, id, 0).await;
    let mut first = Cover::new(id, 0);
    server.send(id, "/stream 2000 every=1").await;
    read_until(&mut first_conn, &mut first, |c| c.chunk_seqs >= 300).await;
    assert!(first.ended.is_none());
    drop(first_conn);

    let mut second_conn = server.viewport().await;
    attach(&mut second_conn, id, first.last).await;
    let mut second = Cover::new(id, first.last);
    read_until(&mut second_conn, &mut second, ended).await;

    let (log, end) = log_of(&server, id).await;
    check_union(&[&first, &second], 1, end);
    check_against_log(&first, &log);
    check_against_log(&second, &log);
    assert_eq!(first.text() + &second.text(), stream_text(2000));
    println!(
        "disconnected at seq {} of {end}; frames: {} then {}",
        first.last,
        first.frames.len(),
        second.frames.len()
    );
}

// ----- 2. viewports attaching at different moments ------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewports_attaching_at_different_moments_each_get_a_contiguous_cover() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let id = session.id.as_str();

    // Before the turn.
    let mut early = server.viewport().await;
    attach(&mut early, id, 0).await;
    let mut early_cover = Cover::new(id, 0);
    server.send(id, "/stream 2000 every=1").await;
    read_until(&mut early, &mut early_cover, |c| c.chunk_seqs >= 300).await;

    // Mid-stream, from the start.
    let mut late = server.viewport().await;
    attach(&mut late, id, 0).await;
    let mut late_cover = Cover::new(id, 0);

    // Mid-stream, from inside the stream (likely inside a coalesced run of the store).
    let cursor = early_cover.last - 137;
    let mut resumed = server.viewport().await;
    attach(&mut resumed, id, cursor).await;
    let mut resumed_cover = Cover::new(id, cursor);

    tokio::join!(
        read_until(&mut early, &mut early_cover, ended),
        read_until(&mut late, &mut late_cover, ended),
        read_until(&mut resumed, &mut resumed_cover, ended),
    );

    let (log, end) = log_of(&server, id).await;
    for cover in [&early_cover, &late_cover, &resumed_cover] {
        check_union(&[cover], cover.after + 1, end);
        check_against_log(cover, &log);
        assert_eq!(cover.text(), logged_text(&log, cover.after));
    }
    assert_eq!(early_cover.text(), stream_text(2000));
    assert_eq!(late_cover.text(), stream_text(2000));
    assert!(resumed_cover.text().len() < late_cover.text().len());
}

// ----- 3. random attach/detach points (property) ---------------------------------------

/// How a viewport leaves before resuming.
#[derive(Debug, Clone, Copy)]
enum Leave {
    /// Drop the socket; resume on a new connection.
    Disconnect,
    /// `detach`, then `attach` again on the same connection. Frames of the old
    /// attachment may still arrive before the new `attached`; they are ignored.
    Detach,
}

async fn random_legs_case(server: &TestServer, legs: &[(usize, Leave)], every: u64) {
    let session = server.create_session().await;
    let id = session.id.as_str();
    let mut viewport = server.viewport().await;
    attach(&mut viewport, id, 0).await;
    let mut covers = vec![Cover::new(id, 0)];
    server
        .send(id, &format!("/stream 1500 every={every}"))
        .await;
    for &(frames, leave) in legs {
        let cover = covers.last_mut().unwrap();
        read_frames(&mut viewport, cover, frames).await;
        if cover.ended.is_some() {
            break;
        }
        let cursor = cover.last;
        match leave {
            Leave::Disconnect => {
                viewport = server.viewport().await;
                attach(&mut viewport, id, cursor).await;
            }
            Leave::Detach => {
                let detach = ClientOp::Detach {
                    id: None,
                    session: id.to_owned(),
                };
                viewport
                    .send_json(serde_json::to_value(&detach).unwrap())
                    .await;
                viewport.attach(id, cursor).await;
                // Until `attached`, frames are the old attachment's: skip them.
                loop {
                    match viewport
                        .next_frame()
                        .await
                        .expect("the connection stays open")
                    {
                        ServerFrame::Attached { session, .. } if session == id => break,
                        ServerFrame::Event { session, .. } => assert_eq!(session, id),
                        ServerFrame::Session { .. } => {}
                        other => panic!("unexpected frame {other:?}"),
                    }
                }
            }
        }
        covers.push(Cover::new(id, cursor));
    }
    read_until(&mut viewport, covers.last_mut().unwrap(), ended).await;

    let (log, end) = log_of(server, id).await;
    let refs: Vec<&Cover> = covers.iter().collect();
    check_union(&refs, 1, end);
    let mut text = String::new();
    for cover in &covers {
        check_against_log(cover, &log);
        text += &cover.text();
    }
    assert_eq!(text, stream_text(1500));
}

#[test]
fn any_sequence_of_detach_and_resume_covers_the_log_exactly_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(TestServer::start());
    let config = ProptestConfig {
        cases: 8,
        max_shrink_iters: 8,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let leave = prop_oneof![Just(Leave::Disconnect), Just(Leave::Detach)];
    let legs = proptest::collection::vec((1usize..40, leave), 1..6);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&(legs, 0u64..=1), |(legs, every)| {
        runtime.block_on(random_legs_case(&server, &legs, every));
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// Re-attach on the same connection after every frame of a fast stream, alternately
/// with and without `detach`: a replaced attachment's frames all come before the new
/// `attached`, never after it (they used to, when the old feeder was still running on
/// another worker while the new one started).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reattaching_on_the_same_connection_again_and_again_stays_exact() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let id = session.id.as_str();
    let mut viewport = server.viewport().await;
    attach(&mut viewport, id, 0).await;
    let mut covers = vec![Cover::new(id, 0)];
    server.send(id, "/stream 20000").await;
    loop {
        let cover = covers.last_mut().unwrap();
        read_frames(&mut viewport, cover, 1).await;
        if cover.ended.is_some() {
            break;
        }
        let cursor = cover.last;
        if covers.len() % 2 == 0 {
            let detach = ClientOp::Detach {
                id: None,
                session: id.to_owned(),
            };
            viewport
                .send_json(serde_json::to_value(&detach).unwrap())
                .await;
        }
        viewport.attach(id, cursor).await;
        loop {
            match viewport
                .next_frame()
                .await
                .expect("the connection stays open")
            {
                ServerFrame::Attached { session, .. } if session == id => break,
                ServerFrame::Event { session, .. } => assert_eq!(session, id),
                ServerFrame::Session { .. } => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
        covers.push(Cover::new(id, cursor));
    }
    let (log, end) = log_of(&server, id).await;
    let refs: Vec<&Cover> = covers.iter().collect();
    check_union(&refs, 1, end);
    let mut text = String::new();
    for cover in &covers {
        check_against_log(cover, &log);
        text += &cover.text();
    }
    assert_eq!(text, stream_text(20000));
    println!("{} attachments", covers.len());
}

// ----- 4. a stalled viewport -----------------------------------------------------------

/// A WebSocket whose client side has a tiny receive buffer, so a server writing to it
/// stalls soon once it is not read. Its `hello` is left unread.
async fn connect_small_buffer(server: &TestServer) -> Viewport {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket
        .connect(([127, 0, 0, 1], server.port).into())
        .await
        .expect("connects");
    let url = format!("ws://127.0.0.1:{}/api/v1/ws", server.port);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", server.token).parse().unwrap(),
    );
    let (ws, _) =
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .expect("websocket handshake");
    Viewport {
        ws,
        hello: ServerFrame::Pong { id: None },
    }
}

/// Samples a process's resident set size until dropped; `peak()` in KiB.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (stop, peak) = (stop.clone(), peak.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_kib(pid) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_viewport_is_disconnected_without_hurting_others_and_resumes_by_cursor() {
    let server = TestServer::start_with(&["--write-timeout", "3"]).await;
    let session = server.create_session().await;
    let id = session.id.as_str();
    let rss = RssSampler::start(server.pid());

    // S attaches and then reads nothing.
    let mut stalled = connect_small_buffer(&server).await;
    let op = ClientOp::Attach {
        id: None,
        session: id.to_owned(),
        after: 0,
        epoch: None,
    };
    stalled
        .ws
        .send(Message::Text(serde_json::to_string(&op).unwrap().into()))
        .await
        .unwrap();
    wait_for("S to be attached", || async {
        server.session(id).await.viewers == 1
    })
    .await;

    // A attaches and reads everything. One `/stream 20000` reaches S as a few hundred
    // KiB of coalesced frames, which the loopback socket buffers (about 4 MiB on the
    // server's side) absorb; so turns follow one another until S has been dropped.
    let mut active = server.viewport().await;
    attach(&mut active, id, 0).await;
    let mut active_cover = Cover::new(id, 0);
    let mut turns = 0;
    loop {
        server.send(id, "/stream 20000").await;
        turns += 1;
        read_until(&mut active, &mut active_cover, |c| c.turns_ended == turns).await;
        if server.session(id).await.viewers == 1 {
            break;
        }
        assert!(turns < 60, "the stalled viewport was never disconnected");
    }
    let peak = rss.peak();
    drop(rss);
    let end = active_cover.last;

    // What S can still read is contiguous from 1; then its socket ends.
    let mut stalled_cover = Cover::new(id, 0);
    while let Some(frame) = stalled.next_frame().await {
        match frame {
            ServerFrame::Hello { .. } | ServerFrame::Attached { .. } => {}
            frame => stalled_cover.take(frame),
        }
    }
    assert!(
        stalled_cover.last < end,
        "S was disconnected before it had everything"
    );

    // S resumes with its cursor on a new connection and gets exactly the rest.
    let mut resumed = server.viewport().await;
    attach(&mut resumed, id, stalled_cover.last).await;
    let mut resumed_cover = Cover::new(id, stalled_cover.last);
    read_until(&mut resumed, &mut resumed_cover, |c| c.last == end).await;

    let (log, logged_end) = log_of(&server, id).await;
    assert_eq!(logged_end, end);
    check_union(&[&active_cover], 1, end);
    check_union(&[&stalled_cover, &resumed_cover], 1, end);
    for cover in [&active_cover, &stalled_cover, &resumed_cover] {
        check_against_log(cover, &log);
    }
    let expected = stream_text(20000).repeat(turns);
    assert_eq!(active_cover.text(), expected);
    assert_eq!(stalled_cover.text() + &resumed_cover.text(), expected);
    println!(
        "server RSS peak {:.1} MiB over {turns} turns of /stream 20000; A: {} frames for {end} seqs; \
         S read up to seq {} before it was dropped",
        peak as f64 / 1024.0,
        active_cover.frames.len(),
        stalled_cover.last
    );
    assert!(peak > 0, "RSS was sampled");
    assert!(peak < 200 * 1024, "server RSS peaked at {peak} KiB");
}

// ----- 5. reset ------------------------------------------------------------------------

/// The next frame that is not a summary.
async fn next_non_summary(viewport: &mut Viewport) -> ServerFrame {
    viewport
        .next_non_summary()
        .await
        .expect("the connection stays open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_that_cannot_be_honoured_gets_reset_and_after_zero_works() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let id = session.id.as_str();
    server.send(id, "/stream 3").await;
    let (end, _) = server
        .wait_event(id, |e| matches!(e, Event::TurnEnded { .. }))
        .await;

    let mut viewport = server.viewport().await;
    let ServerFrame::Hello { epoch, .. } = viewport.hello.clone() else {
        panic!("hello first");
    };

    // Another epoch.
    viewport
        .send_json(
            serde_json::json!({"op": "attach", "session": id, "after": 2, "epoch": "not-this-one"}),
        )
        .await;
    assert_eq!(
        next_non_summary(&mut viewport).await,
        ServerFrame::Reset {
            session: id.to_owned(),
            epoch: epoch.clone()
        }
    );

    // Beyond the log.
    viewport
        .send_json(
            serde_json::json!({"op": "attach", "session": id, "after": end + 1, "epoch": epoch}),
        )
        .await;
    assert_eq!(
        next_non_summary(&mut viewport).await,
        ServerFrame::Reset {
            session: id.to_owned(),
            epoch: epoch.clone()
        }
    );
    viewport.attach(id, 1_000_000).await;
    assert!(matches!(
        next_non_summary(&mut viewport).await,
        ServerFrame::Reset { .. }
    ));

    // After the reset: from 0, the whole log.
    viewport
        .send_json(serde_json::json!({"op": "attach", "session": id, "after": 0, "epoch": epoch}))
        .await;
    match next_non_summary(&mut viewport).await {
        ServerFrame::Attached {
            last_seq, epoch: e, ..
        } => assert_eq!((last_seq, e.as_str()), (end, epoch.as_str())),
        other => panic!("expected `attached`, got {other:?}"),
    }
    let mut cover = Cover::new(id, 0);
    read_until(&mut viewport, &mut cover, ended).await;
    let (log, logged_end) = log_of(&server, id).await;
    assert_eq!(logged_end, end);
    check_union(&[&cover], 1, end);
    check_against_log(&cover, &log);
    assert_eq!(cover.text(), stream_text(3));

    // A cursor at the very end is honoured: nothing is replayed, the next event follows it.
    let mut at_end = server.viewport().await;
    assert_eq!(attach(&mut at_end, id, end).await, end);
    let mut cover = Cover::new(id, end);
    server.send(id, "/stream 2").await;
    read_until(&mut at_end, &mut cover, ended).await;
    assert_eq!(cover.frames[0].0, end + 1);
    assert_eq!(cover.text(), stream_text(2));
}

// ----- 6. throughput -------------------------------------------------------------------

/// `cargo test -p berth --release --test resume -- --ignored --nocapture bench`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark; run in release with --ignored --nocapture"]
async fn bench_events_per_second_through_one_session_to_one_viewport() {
    const N: u64 = 100_000;
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let id = session.id.as_str();
    let rss = RssSampler::start(server.pid());
    let mut viewport = server.viewport().await;
    attach(&mut viewport, id, 0).await;
    let mut cover = Cover::new(id, 0);
    server.send(id, &format!("/stream {N}")).await;
    read_until(&mut viewport, &mut cover, |c| c.chunk_seqs > 0).await;
    let started = std::time::Instant::now();
    let first_seq = cover.frames.last().unwrap().0;
    let frames_before = cover.frames.len();
    read_until(&mut viewport, &mut cover, ended).await;
    let elapsed = started.elapsed();
    let end = cover.ended.unwrap();
    let events = end - first_seq + 1;
    println!(
        "bench: {events} events in {:.3} s = {:.0} events/s; {} frames ({:.1} events/frame); server RSS peak {:.1} MiB",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        cover.frames.len() - frames_before + 1,
        events as f64 / (cover.frames.len() - frames_before + 1) as f64,
        rss.peak() as f64 / 1024.0
    );
    assert_eq!(cover.text(), stream_text(N));
    check_union(&[&cover], 1, end);
}
