//! Queued follow-ups: prompts sent with `queue` while a turn runs wait here, in order,
//! and each starts when the turn before it ends — unless that turn is cancelled (or
//! stopped), which takes the queue behind it with it: a follow-up was written for what
//! the turn before it would have done. One queued after the cancel (the user already
//! moved on) runs once the cancelled turn has ended. Every change is in the log (`turn_queued`,
//! `turn_unqueued`; a queued turn that starts logs its `user_message` then).
//!
//! The queue is bounded ([`MAX_QUEUED`]) and only exists while a turn runs, so a
//! session that goes cold has none; one the log shows unfinished (the actor died
//! mid-turn) is cancelled by the repair, as the turn before it was.

use berth_protocol::{Attachment, Event, QueuedTurn, StopReason, UnqueueReason};

use super::{Actor, new_id};
use crate::SessionError;
use crate::request::Response;

/// How many turns may wait behind the running one.
pub(crate) const MAX_QUEUED: usize = 20;

/// How much of a queued turn's text the summary carries.
const PREVIEW_CHARS: usize = 200;

/// A turn waiting behind the running one.
pub(super) struct Queued {
    turn_id: String,
    text: String,
    attachments: Vec<Attachment>,
}

impl Actor {
    /// `Request::Prompt { queue: true }` while a turn runs.
    pub(super) fn queue_turn(
        &mut self,
        text: String,
        attachments: Vec<Attachment>,
    ) -> Result<Response, SessionError> {
        if self.queue.len() >= MAX_QUEUED {
            return Err(SessionError::Conflict(format!(
                "{MAX_QUEUED} turns are queued in this session already; wait for one to start \
                 or remove one"
            )));
        }
        let turn_id = new_id();
        self.emit(Event::TurnQueued {
            turn_id: turn_id.clone(),
            text: text.clone(),
        });
        self.queue.push_back(Queued {
            turn_id: turn_id.clone(),
            text,
            attachments,
        });
        Ok(Response::TurnQueued { turn_id })
    }

    /// `Request::Unqueue`.
    pub(super) fn unqueue(&mut self, turn_id: &str) -> Result<(), SessionError> {
        let Some(index) = self.queue.iter().position(|q| q.turn_id == turn_id) else {
            if self.turn.as_ref().is_some_and(|t| t.id == turn_id) {
                return Err(SessionError::Conflict(
                    "this turn has started; cancel it instead".into(),
                ));
            }
            return Err(SessionError::NotFound(format!(
                "no queued turn `{turn_id}` in this session"
            )));
        };
        let removed = self.queue.remove(index).expect("found above");
        self.emit(Event::TurnUnqueued {
            turn_id: removed.turn_id,
            reason: UnqueueReason::Removed,
        });
        Ok(())
    }

    /// A turn ended `reason`: the next queued turn starts. A cancel the user asked for
    /// took the queue behind it when asked (`cancel_requested`), so what waits now was
    /// queued after it; a turn that ended cancelled otherwise takes the queue now.
    pub(super) fn after_turn(&mut self, reason: StopReason, cancel_requested: bool) {
        if reason == StopReason::Cancelled && !cancel_requested {
            self.cancel_queue();
            return;
        }
        while let Some(next) = self.queue.pop_front() {
            let attachments = next.attachments.clone();
            match self.begin_turn(next.turn_id.clone(), next.text.clone(), attachments) {
                Ok(()) => return,
                // Shown as a turn that could not start, then the next one is tried.
                Err(error) => {
                    self.emit(Event::UserMessage {
                        turn_id: next.turn_id.clone(),
                        text: next.text,
                        attachments: next.attachments,
                    });
                    self.emit(Event::TurnStarted {
                        turn_id: next.turn_id.clone(),
                    });
                    self.emit(Event::TurnEnded {
                        turn_id: next.turn_id,
                        stop_reason: StopReason::Error,
                        error: Some(error.to_string()),
                    });
                }
            }
        }
    }

    /// Every queued turn leaves the queue, cancelled with the turn before it.
    pub(super) fn cancel_queue(&mut self) {
        for queued in std::mem::take(&mut self.queue) {
            self.emit(Event::TurnUnqueued {
                turn_id: queued.turn_id,
                reason: UnqueueReason::Cancelled,
            });
        }
    }

    pub(super) fn queued_summary(&self) -> Vec<QueuedTurn> {
        self.queue
            .iter()
            .map(|queued| QueuedTurn {
                turn_id: queued.turn_id.clone(),
                preview: preview(&queued.text),
            })
            .collect()
    }
}

fn preview(text: &str) -> String {
    match text.char_indices().nth(PREVIEW_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
