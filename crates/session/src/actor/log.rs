//! The actor's log tail: emit → commit → broadcast → tell the agent, with one commit in
//! flight while the actor goes on taking agent events.
//!
//! Why in flight: awaiting each group commit before reading more of the agent meant the
//! actor's parsing and the store's writing never overlapped. Now a commit is started
//! (`pump`) and the actor keeps folding the agent's events into the next batch while
//! the store writes this one; when it lands (`landed`) its events are broadcast and what
//! the agent was held back from hearing is released. The order of the four steps holds
//! per event, and batches land in seq order: only one is ever in flight.
//!
//! Requests still answer only after everything they caused is committed (`flush`), and
//! the summary follows the log: while a batch is in flight the summary published is the
//! one as of that batch's last event, when it lands.

use std::sync::Arc;
use std::time::Duration;

use berth_protocol::{Event, Seq, Session, Timestamp};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Actor, ToAgent};
use crate::SessionError;
use crate::committed::Committed;
use crate::fit;

/// A failed commit is tried again after this long (a full disk must not spin the actor).
const RETRY: Duration = Duration::from_millis(100);

/// An event emitted and not yet committed, with its JSON (serialised once, by `fit`).
pub(super) struct Emitted {
    pub(super) ts: Timestamp,
    pub(super) event: Event,
    json: Arc<str>,
}

/// The batch the store is writing.
pub(super) struct InFlight {
    /// Kept to be queued again, with the same seqs, if the append fails.
    events: Vec<Emitted>,
    committed: Vec<Arc<Committed>>,
    /// Released once these events are committed.
    to_agent: Vec<ToAgent>,
    /// The summary as of this batch's last event: published when it lands, so the
    /// summary never runs ahead of the log (a status that says a turn ended comes with
    /// the `last_seq` of its `turn_ended`).
    summary: Session,
    /// A task of its own, so the append reaches the store's writer at once, whatever
    /// the actor does meanwhile.
    append: JoinHandle<berth_store::Result<()>>,
}

impl InFlight {
    async fn land(&mut self) -> berth_store::Result<()> {
        (&mut self.append)
            .await
            .unwrap_or_else(|stopped| Err(std::io::Error::other(stopped).into()))
    }
}

/// Resolves when the commit in flight lands; pending while none is.
pub(super) async fn landed(in_flight: &mut Option<InFlight>) -> berth_store::Result<()> {
    match in_flight {
        Some(flight) => flight.land().await,
        None => std::future::pending().await,
    }
}

impl Actor {
    /// Queue an event for the next commit, fitted to what one event may hold (a long
    /// chunk becomes several); returns the seq its first part will get.
    pub(super) fn emit(&mut self, event: Event) -> Seq {
        let first = self.next_pending_seq() + self.pending.len() as Seq;
        let ts = chrono::Utc::now();
        for (event, json) in fit::fit(event) {
            self.preview.apply(&event);
            self.pending.push(Emitted { ts, event, json });
        }
        first
    }

    /// An event `emit` queued and no commit has taken yet, by its seq.
    pub(super) fn queued(&self, seq: Seq) -> Option<&Event> {
        let index = seq.checked_sub(self.next_pending_seq())?;
        self.pending.get(index as usize).map(|e| &e.event)
    }

    /// The seq of the first pending event: after those committed and those in flight.
    fn next_pending_seq(&self) -> Seq {
        let flying = self.in_flight.as_ref().map_or(0, |f| f.events.len());
        self.committed + flying as Seq + 1
    }

    /// Whether nothing emitted is waiting to be committed or released.
    pub(super) fn log_settled(&self) -> bool {
        self.in_flight.is_none() && self.pending.is_empty() && self.to_agent.is_empty()
    }

    /// Start the next commit if none is in flight, without waiting for it. What the
    /// agent is to hear with nothing left to commit is released at once.
    pub(super) fn pump(&mut self) {
        loop {
            if self.in_flight.is_some()
                || self.retry_commit_at.is_some_and(|at| Instant::now() < at)
            {
                return;
            }
            if !self.pending.is_empty() {
                self.start_commit();
                return;
            }
            if self.to_agent.is_empty() {
                return;
            }
            // Released messages may emit (a prompt that fails ends its turn): go round.
            let messages = std::mem::take(&mut self.to_agent);
            self.release(messages);
        }
    }

    /// Commit everything emitted and release what it held back; returns once done.
    /// Requests answer after this, so a caller learns of nothing that is not committed.
    pub(super) async fn flush(&mut self) -> Result<(), SessionError> {
        loop {
            if let Some(flight) = &mut self.in_flight {
                let result = flight.land().await;
                self.commit_landed(result)?;
            }
            // A flush does not wait out a retry delay: its caller is waiting.
            self.retry_commit_at = None;
            self.pump();
            if self.log_settled() {
                return Ok(());
            }
        }
    }

    /// The commit in flight ended: broadcast and release on success; on failure queue
    /// its events again, ahead of the newer ones and with the same seqs, and try again
    /// after `RETRY` (nothing decided is ever dropped).
    pub(super) fn commit_landed(
        &mut self,
        result: berth_store::Result<()>,
    ) -> Result<(), SessionError> {
        let flight = self.in_flight.take().expect("a commit was in flight");
        if let Err(error) = result {
            let mut events = flight.events;
            events.append(&mut self.pending);
            self.pending = events;
            let mut to_agent = flight.to_agent;
            to_agent.append(&mut self.to_agent);
            self.to_agent = to_agent;
            self.retry_commit_at = Some(Instant::now() + RETRY);
            return Err(error.into());
        }
        self.retry_commit_at = None;
        if let Some(last) = flight.committed.last() {
            self.committed = last.seq;
            self.row.updated_at = last.ts;
        }
        if !self.exit {
            self.summary.update(flight.summary);
        }
        if let Some(live) = &self.live {
            for event in flight.committed {
                // No receivers is fine: nobody is looking.
                let _ = live.send(event);
            }
        }
        self.release(flight.to_agent);
        Ok(())
    }

    /// The session is being deleted: drop what is not committed, and let the batch in
    /// flight land first (its rows go with the session's; a delete that overtook it
    /// would leave the append nothing to append to).
    pub(super) async fn abandon_log(&mut self) {
        self.pending.clear();
        self.to_agent.clear();
        if let Some(mut flight) = self.in_flight.take() {
            let _ = flight.land().await;
        }
    }

    fn start_commit(&mut self) {
        let events = std::mem::take(&mut self.pending);
        let mut committed = Vec::with_capacity(events.len());
        let mut stored = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let seq = self.committed + 1 + i as Seq;
            let c = Committed::with_json(&self.id, seq, e.ts, &e.event, e.json.clone());
            stored.push(c.to_stored(e.event.kind()));
            committed.push(Arc::new(c));
        }
        let (store, id) = (self.store.clone(), self.id.clone());
        // Everything emitted is in this batch: the actor's state is the state after it.
        let summary = match committed.last() {
            Some(last) => self.summary_as_of(last.seq, last.ts),
            None => self.summary_now(),
        };
        self.in_flight = Some(InFlight {
            events,
            committed,
            summary,
            to_agent: std::mem::take(&mut self.to_agent),
            append: tokio::spawn(async move { store.append(&id, stored).await }),
        });
    }

    fn release(&mut self, messages: Vec<ToAgent>) {
        for message in messages {
            match message {
                ToAgent::Answer(reply, outcome) => {
                    let _ = reply.send(outcome);
                }
                ToAgent::Prompt => self.send_prompt(),
                ToAgent::Configured(reply) => {
                    let answer = Ok(crate::request::Response::Configured {
                        summary: Box::new(self.summary_now()),
                        applied: true,
                    });
                    let _ = reply.send(crate::handle::Delivered::Answer(answer));
                }
            }
        }
    }
}
