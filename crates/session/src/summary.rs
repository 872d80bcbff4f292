//! The `Session` summary and its publication.
//!
//! Every change lands in a `watch` at once (REST reads it without asking the actor).
//! `session` frames go to every WebSocket connection through one bus, serialised once.
//! Changes a sidebar must show at once (status, title, prompts, viewers, read cursor)
//! are published immediately; changes that only move `last_seq`/`unread` are published
//! at most once per `interval`, trailing edge guaranteed, so a 20k-event stream does not
//! become 20k sidebar frames on every connection.

use std::time::Duration;

use berth_protocol::{ServerFrame, Session};
use bytes::Bytes;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

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

pub(crate) struct SummaryPublisher {
    watch: watch::Sender<Session>,
    bus: broadcast::Sender<Bytes>,
    published: Session,
    published_at: Instant,
    interval: Duration,
    /// When a throttled change must go out.
    pub due: Option<Instant>,
}

impl SummaryPublisher {
    pub fn new(
        watch: watch::Sender<Session>,
        bus: broadcast::Sender<Bytes>,
        interval: Duration,
    ) -> Self {
        let published = watch.borrow().clone();
        SummaryPublisher {
            watch,
            bus,
            published,
            published_at: Instant::now(),
            interval,
            due: None,
        }
    }

    pub fn current(&self) -> Session {
        self.watch.borrow().clone()
    }

    /// Record a new summary; publish now, later, or not at all (unchanged).
    pub fn update(&mut self, summary: Session) {
        let now = Instant::now();
        self.watch.send_replace(summary.clone());
        if summary == self.published {
            self.due = None;
            return;
        }
        let next_slot = self.published_at + self.interval;
        if only_progress(&self.published, &summary) && now < next_slot {
            self.due = Some(next_slot);
            return;
        }
        self.publish(summary, now);
    }

    /// The throttle deadline passed: publish what is current.
    pub fn flush_due(&mut self) {
        self.due = None;
        let current = self.current();
        if current != self.published {
            self.publish(current, Instant::now());
        }
    }

    /// Publish the current summary even if unchanged (e.g. a new session).
    pub fn announce(&mut self) {
        let current = self.current();
        self.publish(current, Instant::now());
    }

    fn publish(&mut self, summary: Session, now: Instant) {
        // No receivers is fine: nobody is looking.
        let _ = self.bus.send(session_frame(&summary));
        self.published = summary;
        self.published_at = now;
        self.due = None;
    }
}

/// True when only the log's progress moved (no field a sidebar must show at once).
fn only_progress(old: &Session, new: &Session) -> bool {
    let mut a = old.clone();
    a.last_seq = new.last_seq;
    a.unread = new.unread;
    a.updated_at = new.updated_at;
    // A streamed reply changes the preview with every chunk: it rides with progress.
    a.preview = new.preview.clone();
    &a == new
}
