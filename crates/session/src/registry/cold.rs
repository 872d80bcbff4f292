//! A session's entry in the registry, the cold record, and the actor's side of
//! hibernating: how a live entry becomes cold without losing a request.

use std::collections::HashSet;
use std::sync::{Arc, Weak};

use berth_protocol::{AgentCommand, Session};
use tokio::sync::mpsc;

use super::RegistryRef;
use crate::SessionHandle;
use crate::handle::Message;
use crate::hub::Hub;

/// One session of the registry.
pub(super) enum Entry {
    /// An actor runs for it.
    Live(SessionHandle),
    /// No actor: its summary (from the summary columns, or as its actor left it).
    Cold(Box<ColdSession>),
}

pub(super) struct ColdSession {
    /// Its `commands` are kept in `commands` instead (empty here).
    pub(super) summary: Session,
    /// Shared by every cold session with the same list (sessions of one agent mostly
    /// have the same): a long command list per session would dominate its cost.
    commands: Arc<[AgentCommand]>,
    /// Viewports may watch a cold session; the hub exists while they do.
    pub(super) hub: Weak<Hub>,
}

impl ColdSession {
    pub(super) fn new(
        mut summary: Session,
        hub: Weak<Hub>,
        commands: &CommandLists,
    ) -> Box<ColdSession> {
        let list = commands.intern(std::mem::take(&mut summary.commands));
        Box::new(ColdSession {
            summary,
            commands: list,
            hub,
        })
    }

    pub(super) fn summary(&self) -> Session {
        let mut summary = self.summary.clone();
        summary.commands = self.commands.to_vec();
        summary
    }
}

/// The distinct command lists of cold sessions. Never shrinks: agents have few lists.
#[derive(Default)]
pub(super) struct CommandLists(std::sync::Mutex<HashSet<Arc<[AgentCommand]>>>);

impl CommandLists {
    fn intern(&self, list: Vec<AgentCommand>) -> Arc<[AgentCommand]> {
        let mut lists = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = lists.get(list.as_slice()) {
            return known.clone();
        }
        let list: Arc<[AgentCommand]> = list.into();
        lists.insert(list.clone());
        list
    }
}

impl Entry {
    pub(super) fn summary(&self) -> Session {
        match self {
            Entry::Live(handle) => handle.summary(),
            Entry::Cold(cold) => cold.summary(),
        }
    }

    /// `f` of the summary, without cloning it.
    pub(super) fn with_summary<T>(&self, f: impl FnOnce(&Session) -> T) -> T {
        match self {
            Entry::Live(handle) => f(&handle.summary.borrow()),
            Entry::Cold(cold) => f(&cold.summary),
        }
    }
}

/// What [`RegistryRef::hibernate`] did.
pub(crate) enum Hibernation {
    /// The entry is cold; the actor drains what was being sent and ends.
    Slept,
    /// Requests are queued: the actor stays.
    Busy,
    /// The session is no longer registered (deleted).
    Gone,
}

impl RegistryRef {
    /// Turn the live entry of `id` into a cold one, if nothing is queued for the actor.
    /// The channel is closed under the map lock: a request sent after that fails and is
    /// retried through the registry (which wakes a new actor); one being sent at that
    /// moment is still delivered, and the old actor forwards it (`forward`).
    pub(crate) fn hibernate(
        &self,
        id: &str,
        rx: &mut mpsc::Receiver<Message>,
        summary: Session,
    ) -> Hibernation {
        let Some(inner) = self.0.upgrade() else {
            return Hibernation::Gone;
        };
        let mut map = inner.sessions.write().expect("session map lock");
        let Some(Entry::Live(handle)) = map.get(id) else {
            return Hibernation::Gone;
        };
        if !rx.is_empty() {
            return Hibernation::Busy;
        }
        rx.close();
        // Read under the lock: a viewer that came or went since the actor looked told the
        // actor, which is going; from here on `viewers_changed` sees the cold entry.
        let summary = Session {
            viewers: handle.hub.viewers(),
            ..summary
        };
        let cold = ColdSession::new(summary, Arc::downgrade(&handle.hub), &inner.commands);
        map.insert(id.to_owned(), Entry::Cold(cold));
        Hibernation::Slept
    }

    /// A viewport came or went: republish the session's summary with the new count.
    pub(super) fn viewers_changed(&self, id: &str) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let mut map = inner.sessions.write().expect("session map lock");
        match map.get_mut(id) {
            // The actor publishes its own summary.
            Some(Entry::Live(handle)) => handle.hub.viewers_changed.notify_one(),
            Some(Entry::Cold(cold)) => {
                let viewers = cold.hub.upgrade().map_or(0, |hub| hub.viewers());
                if cold.summary.viewers != viewers {
                    cold.summary.viewers = viewers;
                    inner.bus.publish(&cold.summary(), false);
                }
            }
            None => {}
        }
    }
}
