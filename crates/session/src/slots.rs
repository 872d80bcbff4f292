//! `sessions.max_live_agents`: how many agent processes may run at once, and which one
//! makes room when another session needs one.
//!
//! Every agent holds a [`SlotGuard`] from before it is launched until its process has
//! exited. Asking for a slot when all are held asks the least recently used *idle* agent
//! (no turn running) to stop, and waits until a slot is free. If every agent is busy,
//! the asker waits (its turn shows `starting`) until one finishes its turn and can be
//! stopped: a limit that could be exceeded would not be one.
//!
//! Eviction is a request, not a kill: the chosen actor checks, in its own task, that its
//! agent is still idle before stopping it (a prompt may have arrived meanwhile); a busy
//! agent clears the request, and the waiters look again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::host::slots::{RemoteGuard, RemoteSlots};

/// The slot table an actor asks: the server's own, or (in a session host) the server's
/// through the host's connection.
#[derive(Debug, Clone)]
pub(crate) enum Slots {
    Local(Arc<AgentSlots>),
    Remote(Arc<RemoteSlots>),
}

impl Slots {
    pub(crate) async fn acquire(&self, session: Arc<str>) -> Slot {
        match self {
            Slots::Local(slots) => Slot::Local(slots.acquire(session).await),
            Slots::Remote(slots) => Slot::Remote(slots.acquire().await),
        }
    }

    pub(crate) fn all_busy(&self) -> bool {
        match self {
            Slots::Local(slots) => slots.all_busy(),
            Slots::Remote(slots) => slots.all_busy(),
        }
    }

    pub(crate) fn max(&self) -> usize {
        match self {
            Slots::Local(slots) => slots.max(),
            Slots::Remote(slots) => slots.max(),
        }
    }
}

/// One agent's slot, from either table; dropping it frees the slot.
#[derive(Debug)]
pub(crate) enum Slot {
    Local(SlotGuard),
    Remote(RemoteGuard),
}

impl Slot {
    pub(crate) fn set_idle(&self, idle: bool) {
        match self {
            Slot::Local(slot) => slot.set_idle(idle),
            Slot::Remote(slot) => slot.set_idle(idle),
        }
    }

    pub(crate) async fn eviction(&self) {
        match self {
            Slot::Local(slot) => slot.eviction().await,
            Slot::Remote(slot) => slot.eviction().await,
        }
    }

    pub(crate) fn evicting(&self) -> bool {
        match self {
            Slot::Local(slot) => slot.evicting(),
            Slot::Remote(slot) => slot.evicting(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct AgentSlots {
    /// 0: no limit.
    max: usize,
    state: Mutex<State>,
    /// Told whenever a slot is freed or an agent becomes idle or busy.
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// Orders "became idle" moments (a clock could tie, paused time does).
    next_tick: u64,
    held: HashMap<u64, Held>,
}

#[derive(Debug)]
struct Held {
    session: Arc<str>,
    /// When (in `State::next_tick` order) its agent last became idle; `None`: starting
    /// or busy. The smallest is the least recently used.
    idle_since: Option<u64>,
    /// Asked to stop to make room.
    evicting: bool,
    evict: Arc<Notify>,
}

impl AgentSlots {
    pub(crate) fn new(max: usize) -> Arc<AgentSlots> {
        Arc::new(AgentSlots {
            max,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
        })
    }

    /// A slot for `session`'s next agent, once one is free.
    pub(crate) async fn acquire(self: &Arc<Self>, session: Arc<str>) -> SlotGuard {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so a change right after the look is not missed.
            changed.as_mut().enable();
            {
                let mut state = self.lock();
                if self.max == 0 || state.held.len() < self.max {
                    let id = state.next_id;
                    state.next_id += 1;
                    let evict = Arc::new(Notify::new());
                    state.held.insert(
                        id,
                        Held {
                            session: session.clone(),
                            idle_since: None,
                            evicting: false,
                            evict: evict.clone(),
                        },
                    );
                    return SlotGuard {
                        slots: self.clone(),
                        id,
                        evict,
                    };
                }
                let asked = state.held.values().any(|h| h.evicting);
                let victim = state
                    .held
                    .values_mut()
                    .filter(|h| h.idle_since.is_some() && !h.evicting)
                    .min_by_key(|h| h.idle_since);
                // One eviction at a time per free slot needed: a second waiter asks again
                // once the first eviction has freed its slot (and been taken).
                if let Some(victim) = victim.filter(|_| !asked) {
                    tracing::info!(session = %victim.session, for_session = %session, max = self.max, "asking the least recently used idle agent to stop");
                    victim.evicting = true;
                    victim.evict.notify_one();
                }
            }
            changed.await;
        }
    }

    /// A slot for an agent that is already running (a re-adopted session host's), held
    /// even above the limit: it cannot be un-started.
    pub(crate) fn adopt(self: &Arc<Self>, session: Arc<str>, idle: bool) -> SlotGuard {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        let tick = state.next_tick;
        state.next_tick += 1;
        let evict = Arc::new(Notify::new());
        state.held.insert(
            id,
            Held {
                session,
                idle_since: idle.then_some(tick),
                evicting: false,
                evict: evict.clone(),
            },
        );
        SlotGuard {
            slots: self.clone(),
            id,
            evict,
        }
    }

    /// Every slot is held and no agent is idle: a new agent would wait for a turn to end.
    pub(crate) fn all_busy(&self) -> bool {
        let state = self.lock();
        self.max != 0
            && state.held.len() >= self.max
            && state.held.values().all(|h| h.idle_since.is_none())
    }

    /// How many agents may run at once (0: no limit).
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Agents holding a slot now (running, starting or being stopped).
    pub(crate) fn held(&self) -> usize {
        self.lock().held.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Held only for map updates; a panic cannot leave the map half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One agent's slot; dropping it (after the process exited) frees the slot.
#[derive(Debug)]
pub(crate) struct SlotGuard {
    slots: Arc<AgentSlots>,
    id: u64,
    evict: Arc<Notify>,
}

impl SlotGuard {
    /// The agent has no turn (`true`, from now) or got one (`false`). Getting one
    /// withdraws an eviction request: a busy agent is never stopped to make room.
    pub(crate) fn set_idle(&self, idle: bool) {
        {
            let mut state = self.slots.lock();
            let tick = state.next_tick;
            state.next_tick += 1;
            if let Some(held) = state.held.get_mut(&self.id) {
                held.idle_since = if idle {
                    Some(held.idle_since.unwrap_or(tick))
                } else {
                    held.evicting = false;
                    None
                };
            }
        }
        self.slots.changed.notify_waiters();
    }

    /// Resolves when another session asked for this slot (see [`SlotGuard::evicting`]).
    pub(crate) async fn eviction(&self) {
        self.evict.notified().await
    }

    /// Whether an eviction request is standing (a stale wake-up is not one).
    pub(crate) fn evicting(&self) -> bool {
        self.slots
            .lock()
            .held
            .get(&self.id)
            .is_some_and(|held| held.evicting)
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.lock().held.remove(&self.id);
        self.slots.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_full_table_evicts_the_least_recently_used_idle_agent() {
        let slots = AgentSlots::new(2);
        let a = slots.acquire("a".into()).await;
        let b = slots.acquire("b".into()).await;
        a.set_idle(true);
        b.set_idle(true);
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire("c".into()).await }
        });
        // `a` has been idle longest: it is asked, `b` is not.
        tokio::time::timeout(Duration::from_secs(5), a.eviction())
            .await
            .expect("a is asked to stop");
        assert!(a.evicting());
        assert!(!b.evicting());
        assert!(!waiting.is_finished());
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("c gets the freed slot")
            .unwrap();
        assert_eq!(slots.held(), 2);
        drop((b, c));
        assert_eq!(slots.held(), 0);
    }

    #[tokio::test]
    async fn busy_agents_are_never_evicted_and_the_asker_waits() {
        let slots = AgentSlots::new(1);
        let a = slots.acquire("a".into()).await;
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire("b".into()).await }
        });
        tokio::task::yield_now().await;
        assert!(!a.evicting(), "a busy agent is not asked");
        // Idle now: asked; then busy again before stopping: the request is withdrawn.
        a.set_idle(true);
        tokio::time::timeout(Duration::from_secs(5), a.eviction())
            .await
            .unwrap();
        a.set_idle(false);
        assert!(!a.evicting());
        assert!(!waiting.is_finished());
        drop(a);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("b gets the slot once a's agent is gone")
            .unwrap();
    }

    #[tokio::test]
    async fn no_limit_never_waits() {
        let slots = AgentSlots::new(0);
        let guards: Vec<_> = acquire_all(slots.clone(), 20).await;
        assert_eq!(slots.held(), 20);
        drop(guards);
    }

    async fn acquire_all(slots: Arc<AgentSlots>, n: usize) -> Vec<SlotGuard> {
        let mut guards = Vec::new();
        for i in 0..n {
            guards.push(slots.acquire(format!("s{i}").into()).await);
        }
        guards
    }
}
