//! The `Session` summary and its publication.
//!
//! Every change lands in a `watch` at once (REST reads it without asking the actor).
//! `session` frames go to every WebSocket connection through one [`SummaryBus`],
//! serialised once. Changes a sidebar must show at once (status, title, prompts, read
//! cursor, archived) are published immediately. Changes that only move the log's
//! progress (`last_seq`, `unread`, the preview) or the viewer count are published at most
//! once per interval per session, the latest always last (trailing edge): a 20k-event
//! stream is not 20k sidebar frames on every connection, and attaching V viewers is not
//! V²/2 frames (each attach once told every connection at once).
//!
//! The interval is the configured one (100 ms) or 1 ms per listening connection,
//! whichever is longer (at most 10 s): one session's throttled frames cost at most about
//! 1,000 frame writes per second in all, however many connections there are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use berth_protocol::{ServerFrame, Session};
use bytes::Bytes;
use tokio::sync::{Notify, broadcast, watch};
use tokio::time::Instant;

/// Each listening connection adds this much to the throttle interval.
const PER_CONNECTION: Duration = Duration::from_millis(1);
/// The throttle interval never grows past this.
const MAX_INTERVAL: Duration = Duration::from_secs(10);

/// `{"type":"session","summary":…}`
pub fn session_frame(summary: &Session) -> Bytes {
    let frame = ServerFrame::Session {
        summary: summary.clone(),
    };
    Bytes::from(serde_json::to_vec(&frame).expect("frames serialise"))
}

/// `{"type":"session_deleted","session":…}`
pub fn deleted_frame(session: &str) -> Bytes {
    let frame = ServerFrame::SessionDeleted {
        session: session.to_owned(),
    };
    Bytes::from(serde_json::to_vec(&frame).expect("frames serialise"))
}

/// The one way `session` and `session_deleted` frames reach connections. Cheap to clone.
#[derive(Clone)]
pub struct SummaryBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    bus: broadcast::Sender<Bytes>,
    interval: Duration,
    /// Sessions that published within their interval; those with a change held back.
    /// A std lock, never held across an await; frames are sent under it, so a held-back
    /// summary can never follow its session's `session_deleted`.
    recent: Mutex<HashMap<Arc<str>, Recent>>,
    /// Wakes the flusher: a change was held back, or the bus is gone.
    wake: Arc<Notify>,
}

struct Recent {
    published_at: Instant,
    held: Option<Session>,
}

impl SummaryBus {
    /// A bus of `capacity` frames whose throttled changes go out at most every
    /// `interval` per session (longer with many connections). Spawns its flusher task.
    pub fn new(capacity: usize, interval: Duration) -> SummaryBus {
        let (bus, _) = broadcast::channel(capacity.max(1));
        let wake = Arc::new(Notify::new());
        let inner = Arc::new(BusInner {
            bus,
            interval,
            recent: Mutex::new(HashMap::new()),
            wake: wake.clone(),
        });
        tokio::spawn(flusher(Arc::downgrade(&inner), wake));
        SummaryBus { inner }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Bytes> {
        self.inner.bus.subscribe()
    }

    /// Publish `summary`: now if `urgent` or its session published nothing within the
    /// interval, else as the held-back latest change that goes out when it ends.
    pub fn publish(&self, summary: &Session, urgent: bool) {
        let now = Instant::now();
        let interval = self.inner.interval();
        let mut recent = self.inner.lock();
        match recent.get_mut(summary.id.as_str()) {
            Some(entry) if !urgent && now < entry.published_at + interval => {
                // Only the latest change is kept; `flush_due` sends it.
                entry.held = Some(summary.clone());
                drop(recent);
                self.inner.wake.notify_one();
            }
            found => {
                // No receivers is fine: nobody is looking.
                let _ = self.inner.bus.send(session_frame(summary));
                let fresh = Recent {
                    published_at: now,
                    held: None,
                };
                match found {
                    Some(entry) => *entry = fresh,
                    None => {
                        recent.insert(summary.id.as_str().into(), fresh);
                    }
                }
            }
        }
    }

    /// The session is gone: drop what it held back and tell every connection.
    pub fn deleted(&self, id: &str) {
        let mut recent = self.inner.lock();
        recent.remove(id);
        let _ = self.inner.bus.send(deleted_frame(id));
    }
}

impl BusInner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Recent>> {
        // Never left half-changed: entries are replaced whole.
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn interval(&self) -> Duration {
        let connections = u32::try_from(self.bus.receiver_count()).unwrap_or(u32::MAX);
        self.interval
            .max(PER_CONNECTION.saturating_mul(connections))
            .min(MAX_INTERVAL)
    }

    /// Publish every held-back change whose interval is over and forget sessions that
    /// are quiet; the next moment something is due, if anything is held back.
    fn flush_due(&self, now: Instant) -> Option<Instant> {
        let interval = self.interval();
        let mut next: Option<Instant> = None;
        self.lock().retain(|_, entry| {
            let due = entry.published_at + interval;
            match &entry.held {
                Some(held) if due <= now => {
                    let _ = self.bus.send(session_frame(held));
                    entry.published_at = now;
                    entry.held = None;
                    true
                }
                Some(_) => {
                    next = Some(next.map_or(due, |n| n.min(due)));
                    true
                }
                None => now < due,
            }
        });
        next
    }
}

impl Drop for BusInner {
    fn drop(&mut self) {
        // The flusher ends at its next look.
        self.wake.notify_one();
    }
}

/// Sends held-back changes when their interval ends; ends with the bus.
async fn flusher(bus: Weak<BusInner>, wake: Arc<Notify>) {
    loop {
        let next = match bus.upgrade() {
            Some(bus) => bus.flush_due(Instant::now()),
            None => return,
        };
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

/// A session's summary: the watch REST reads, and the bus, told only of real changes.
pub(crate) struct SummaryPublisher {
    watch: watch::Sender<Session>,
    bus: SummaryBus,
    /// The last summary handed to the bus.
    published: Session,
}

impl SummaryPublisher {
    pub fn new(watch: watch::Sender<Session>, bus: SummaryBus) -> Self {
        let published = watch.borrow().clone();
        SummaryPublisher {
            watch,
            bus,
            published,
        }
    }

    pub fn current(&self) -> Session {
        self.watch.borrow().clone()
    }

    /// Record a new summary; the bus hears of it if it changed.
    pub fn update(&mut self, summary: Session) {
        self.watch.send_replace(summary.clone());
        if summary == self.published {
            return;
        }
        let urgent = !only_progress(&self.published, &summary);
        self.bus.publish(&summary, urgent);
        self.published = summary;
    }

    /// Publish the current summary at once even if unchanged (e.g. a new session).
    pub fn announce(&mut self) {
        let current = self.current();
        self.bus.publish(&current, true);
        self.published = current;
    }
}

/// True when only the log's progress or the viewer count moved (no field a sidebar must
/// show at once).
fn only_progress(old: &Session, new: &Session) -> bool {
    let mut a = old.clone();
    a.last_seq = new.last_seq;
    a.unread = new.unread;
    a.updated_at = new.updated_at;
    a.viewers = new.viewers;
    // A streamed reply changes the preview with every chunk: it rides with progress.
    a.preview = new.preview.clone();
    &a == new
}

#[cfg(test)]
mod tests {
    use berth_protocol::Status;

    use super::*;

    const INTERVAL: Duration = Duration::from_millis(100);

    fn summary(id: &str) -> Session {
        Session {
            id: id.into(),
            slug: id.into(),
            title: "t".into(),
            agent: "demo".into(),
            cwd: "/".into(),
            status: Status::Idle,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
            last_seq: 0,
            read_seq: 0,
            unread: 0,
            pending_prompts: 0,
            viewers: 0,
            agent_running: false,
            commands: Vec::new(),
            preview: None,
            archived: false,
            mode: None,
            usage: None,
            config: None,
            pending_config: Vec::new(),
            queued: Vec::new(),
        }
    }

    /// Every frame queued for `rx` now, as (type, session, viewers, last_seq).
    fn drain(rx: &mut broadcast::Receiver<Bytes>) -> Vec<(String, String, u64, u64)> {
        let mut frames = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            frames.push(match serde_json::from_slice(&frame).unwrap() {
                ServerFrame::Session { summary } => (
                    "session".into(),
                    summary.id,
                    summary.viewers.into(),
                    summary.last_seq,
                ),
                ServerFrame::SessionDeleted { session } => ("deleted".into(), session, 0, 0),
                other => panic!("{other:?}"),
            });
        }
        frames
    }

    /// Let the flusher run until the clock reaches `at` (paused time).
    async fn run_until(at: Instant) {
        tokio::time::sleep_until(at).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn progress_goes_at_most_once_per_interval_and_the_latest_goes_last() {
        let bus = SummaryBus::new(64, INTERVAL);
        let mut rx = bus.subscribe();
        let (watch, _) = watch::channel(summary("a"));
        let mut publisher = SummaryPublisher::new(watch, bus.clone());
        let start = Instant::now();
        for seq in 1..=50 {
            publisher.update(Session {
                last_seq: seq,
                ..summary("a")
            });
        }
        // The first change went at once; the other 49 are one held-back change.
        assert_eq!(drain(&mut rx), [("session".into(), "a".into(), 0, 1)]);
        run_until(start + INTERVAL / 2).await;
        assert!(drain(&mut rx).is_empty());
        run_until(start + INTERVAL).await;
        assert_eq!(drain(&mut rx), [("session".into(), "a".into(), 0, 50)]);
        // A change a sidebar must show at once is never held back.
        publisher.update(Session {
            last_seq: 51,
            ..summary("a")
        });
        publisher.update(Session {
            last_seq: 51,
            status: Status::Running,
            ..summary("a")
        });
        assert_eq!(drain(&mut rx), [("session".into(), "a".into(), 0, 51)]);
        run_until(start + 3 * INTERVAL).await;
        assert!(drain(&mut rx).is_empty(), "the held change was superseded");
    }

    #[tokio::test(start_paused = true)]
    async fn attaching_many_viewers_costs_frames_in_proportion_to_them() {
        let bus = SummaryBus::new(1024, INTERVAL);
        let (watch, _) = watch::channel(summary("a"));
        let mut publisher = SummaryPublisher::new(watch, bus.clone());
        let viewers = 1000u32;
        let mut connections = Vec::new();
        let start = Instant::now();
        // One viewer attaches every millisecond, each on a connection of its own.
        for v in 1..=viewers {
            connections.push(bus.subscribe());
            publisher.update(Session {
                viewers: v,
                ..summary("a")
            });
            run_until(start + Duration::from_millis(v.into())).await;
        }
        run_until(start + MAX_INTERVAL * 2).await;
        let mut frames = 0;
        for rx in &mut connections {
            let got = drain(rx);
            frames += got.len();
            // The trailing edge: every connection ends up with the real count.
            assert_eq!(got.last().map(|f| f.2), Some(u64::from(viewers)));
        }
        // Before: V²/2 = 500,000 frames. Now a few per connection at most.
        assert!(frames <= 4 * viewers as usize, "{frames} frames");
    }

    #[tokio::test(start_paused = true)]
    async fn many_connections_lengthen_the_interval() {
        let bus = SummaryBus::new(64, INTERVAL);
        let connections: Vec<_> = (0..500).map(|_| bus.subscribe()).collect();
        let mut rx = bus.subscribe();
        let start = Instant::now();
        bus.publish(&summary("a"), false);
        bus.publish(
            &Session {
                last_seq: 2,
                ..summary("a")
            },
            false,
        );
        assert_eq!(drain(&mut rx).len(), 1);
        run_until(start + INTERVAL * 4).await;
        assert!(drain(&mut rx).is_empty(), "501 connections: about 500 ms");
        run_until(start + Duration::from_millis(520)).await;
        assert_eq!(drain(&mut rx), [("session".into(), "a".into(), 0, 2)]);
        drop(connections);
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_change_never_follows_its_session_deleted() {
        let bus = SummaryBus::new(64, INTERVAL);
        let mut rx = bus.subscribe();
        let start = Instant::now();
        bus.publish(&summary("a"), false);
        bus.publish(
            &Session {
                last_seq: 9,
                ..summary("a")
            },
            false,
        );
        bus.deleted("a");
        run_until(start + INTERVAL * 3).await;
        assert_eq!(
            drain(&mut rx),
            [
                ("session".into(), "a".into(), 0, 0),
                ("deleted".into(), "a".into(), 0, 0)
            ]
        );
    }
}
