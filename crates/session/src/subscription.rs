//! Exact resume for one viewport of one session.
//!
//! The viewport subscribes to the session's live broadcast (its `Hub`) first, then reads
//! the store from `after + 1`: the actor commits before it broadcasts, so an event is in
//! the store or reaches the new receiver, or both. Afterwards it takes
//! live events, dropping any `seq <= last_sent`. Whenever the live stream cannot
//! continue contiguously (the receiver lagged, or a gap shows), it goes back to the
//! store from `last_sent + 1`. So batches are contiguous from `after + 1`, with no gap
//! and no duplicate, whatever races with the attach — and a slow viewport costs only
//! store reads, never memory or the agent's time.

use std::sync::Arc;

use berth_protocol::{Seq, Session};
use berth_store::Store;
use tokio::sync::broadcast;

use crate::SessionError;
use crate::committed::Committed;
use crate::hub::ViewerGuard;

/// What `attach` gives a viewport.
pub enum Attachment {
    /// The cursor cannot be honoured (other epoch, or `after` beyond the log).
    Reset { epoch: String },
    Attached {
        last_seq: Seq,
        summary: Box<Session>,
        subscription: Subscription,
    },
}

/// A contiguous stream of one session's committed events from `after + 1`.
pub struct Subscription {
    session_id: Arc<str>,
    store: Store,
    live: broadcast::Receiver<Arc<Committed>>,
    last_sent: Seq,
    catching_up: bool,
    replay_page: usize,
    live_batch: usize,
    _viewer: ViewerGuard,
}

impl Subscription {
    pub(crate) fn new(
        session_id: Arc<str>,
        store: Store,
        live: broadcast::Receiver<Arc<Committed>>,
        after: Seq,
        (replay_page, live_batch): (usize, usize),
        viewer: ViewerGuard,
    ) -> Subscription {
        Subscription {
            session_id,
            store,
            live,
            last_sent: after,
            catching_up: true,
            replay_page: replay_page.max(1),
            live_batch: live_batch.max(1),
            _viewer: viewer,
        }
    }

    /// The next non-empty batch of events, contiguous with the previous one.
    /// `Ok(None)`: the session is gone (deleted or shut down).
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Arc<Committed>>>, SessionError> {
        loop {
            if self.catching_up {
                let stored = self
                    .store
                    .read_events(&self.session_id, self.last_sent, self.replay_page)
                    .await?;
                if stored.len() < self.replay_page {
                    self.catching_up = false;
                }
                if let Some(last) = stored.last() {
                    self.last_sent = last.seq;
                    let batch = stored
                        .into_iter()
                        .map(|s| Arc::new(Committed::from_stored(&self.session_id, s)))
                        .collect();
                    return Ok(Some(batch));
                }
                continue;
            }
            let first = match self.live.recv().await {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.catching_up = true;
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(None),
            };
            let mut batch = Vec::new();
            let mut next = Some(first);
            while let Some(event) = next.take() {
                if event.seq <= self.last_sent {
                    // Already sent from the store.
                } else if event.seq == self.last_sent + 1 {
                    self.last_sent = event.seq;
                    batch.push(event);
                } else {
                    self.catching_up = true;
                    break;
                }
                if batch.len() >= self.live_batch {
                    break;
                }
                match self.live.try_recv() {
                    Ok(event) => next = Some(event),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => self.catching_up = true,
                    Err(_) => {}
                }
            }
            if !batch.is_empty() {
                return Ok(Some(batch));
            }
        }
    }
}
