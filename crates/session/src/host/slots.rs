//! `max_live_agents` from inside a session host: the table stays the server's (it is
//! shared by every session), and the host's actor asks it over the connection.
//!
//! The host says `slot_wanted`, and starts its agent on `slot_granted`; it reports
//! `slot_idle` and `slot_released`; `evict` asks its idle agent to stop. With no server
//! there is nobody to share with: a host grants itself, and the next server that adopts
//! it puts that slot back in its table (from the welcome's `agent`), even above the
//! limit, since the agent already runs.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, mpsc};

use super::wire::{AgentSlotState, ToGateway};

#[derive(Debug, Default)]
pub(crate) struct RemoteSlots {
    state: Mutex<State>,
    /// Told when a grant arrives or the server goes.
    changed: Notify,
    evict: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Where slot frames go: the current server's connection (`None`: no server).
    server: Option<mpsc::UnboundedSender<ToGateway>>,
    wanted: bool,
    granted: bool,
    held: bool,
    idle: bool,
    evicting: bool,
    /// The server's table as last told (`slots`), for the "waiting for an agent" notice.
    all_busy: bool,
    max: usize,
}

impl State {
    fn tell(&mut self, frame: ToGateway) {
        if let Some(server) = &self.server
            && server.send(frame).is_err()
        {
            self.server = None;
        }
    }
}

impl RemoteSlots {
    pub(crate) async fn acquire(self: &Arc<Self>) -> RemoteGuard {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = self.lock();
                if state.granted || state.server.is_none() {
                    state.granted = false;
                    state.wanted = false;
                    state.held = true;
                    state.idle = false;
                    state.evicting = false;
                    return RemoteGuard {
                        slots: self.clone(),
                    };
                }
                if !state.wanted {
                    state.wanted = true;
                    state.tell(ToGateway::SlotWanted);
                }
            }
            changed.await;
        }
    }

    /// A server connected: slot frames go to it from now on. Returns what the welcome
    /// says of this host's agent; a slot still wanted is asked for again.
    pub(crate) fn connected(&self, server: mpsc::UnboundedSender<ToGateway>) -> AgentSlotState {
        let mut state = self.lock();
        state.server = Some(server);
        if state.wanted {
            state.tell(ToGateway::SlotWanted);
        }
        AgentSlotState {
            held: state.held,
            idle: state.idle,
        }
    }

    /// The server behind `server` went (unless another took its place already): a
    /// waiting start grants itself.
    pub(crate) fn disconnected(&self, server: &mpsc::UnboundedSender<ToGateway>) {
        let mut state = self.lock();
        if state
            .server
            .as_ref()
            .is_some_and(|current| current.same_channel(server))
        {
            state.server = None;
        }
        drop(state);
        self.changed.notify_waiters();
    }

    pub(crate) fn on_frame(&self, frame: SlotFrame) {
        let mut state = self.lock();
        match frame {
            SlotFrame::Granted => {
                if state.wanted {
                    state.granted = true;
                    drop(state);
                    self.changed.notify_waiters();
                }
            }
            SlotFrame::Evict => {
                if state.held && state.idle {
                    state.evicting = true;
                    drop(state);
                    self.evict.notify_one();
                }
            }
            SlotFrame::Table { all_busy, max } => {
                state.all_busy = all_busy;
                state.max = max;
            }
        }
    }

    pub(crate) fn all_busy(&self) -> bool {
        self.lock().all_busy
    }

    pub(crate) fn max(&self) -> usize {
        self.lock().max
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the server says of slots.
pub(crate) enum SlotFrame {
    Granted,
    Evict,
    Table { all_busy: bool, max: usize },
}

/// This host's agent's slot; dropping it (after the process exited) tells the server.
#[derive(Debug)]
pub(crate) struct RemoteGuard {
    slots: Arc<RemoteSlots>,
}

impl RemoteGuard {
    pub(crate) fn set_idle(&self, idle: bool) {
        let mut state = self.slots.lock();
        state.idle = idle;
        if !idle {
            state.evicting = false;
        }
        state.tell(ToGateway::SlotIdle { idle });
    }

    pub(crate) async fn eviction(&self) {
        self.slots.evict.notified().await
    }

    pub(crate) fn evicting(&self) -> bool {
        self.slots.lock().evicting
    }
}

impl Drop for RemoteGuard {
    fn drop(&mut self) {
        let mut state = self.slots.lock();
        state.held = false;
        state.idle = false;
        state.evicting = false;
        state.tell(ToGateway::SlotReleased);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn with_a_server_the_slot_waits_for_its_grant_without_one_it_is_taken() {
        let slots = Arc::new(RemoteSlots::default());
        let (tx, mut rx) = mpsc::unbounded_channel();
        assert_eq!(slots.connected(tx.clone()), AgentSlotState::default());
        let asking = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire().await }
        });
        assert_eq!(rx.recv().await, Some(ToGateway::SlotWanted));
        assert!(!asking.is_finished());
        slots.on_frame(SlotFrame::Granted);
        let guard = tokio::time::timeout(Duration::from_secs(5), asking)
            .await
            .expect("granted")
            .unwrap();
        guard.set_idle(true);
        assert_eq!(rx.recv().await, Some(ToGateway::SlotIdle { idle: true }));
        slots.on_frame(SlotFrame::Evict);
        tokio::time::timeout(Duration::from_secs(5), guard.eviction())
            .await
            .expect("asked to stop");
        assert!(guard.evicting());
        drop(guard);
        assert_eq!(rx.recv().await, Some(ToGateway::SlotReleased));

        // The server goes while a start waits: the host grants itself.
        let asking = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire().await }
        });
        assert_eq!(rx.recv().await, Some(ToGateway::SlotWanted));
        slots.disconnected(&tx);
        let guard = tokio::time::timeout(Duration::from_secs(5), asking)
            .await
            .expect("self-granted")
            .unwrap();
        // A new server learns of the running agent from the welcome.
        let (tx, _rx) = mpsc::unbounded_channel();
        assert_eq!(
            slots.connected(tx),
            AgentSlotState {
                held: true,
                idle: false
            }
        );
        drop(guard);
    }
}
