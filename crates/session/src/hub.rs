//! A session's live side that outlives its actor: the broadcast of committed events and
//! the count of viewports watching.
//!
//! Why apart from the actor: a viewport may watch a cold session (one with no actor);
//! the actor that a later prompt wakes must broadcast to that viewport on the same
//! channel it already listens to. So the registry entry keeps a `Weak<Hub>`, and the
//! actor and each viewport hold an `Arc`: the hub (and its ring of live events) exists
//! exactly while something uses it, and a cold session nobody watches costs nothing.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::{Notify, broadcast};

use crate::committed::Committed;

pub(crate) struct Hub {
    /// `None` once the session is deleted (or the server stops): subscriptions then end.
    live: Mutex<Option<broadcast::Sender<Arc<Committed>>>>,
    viewers: AtomicU32,
    /// Told when `viewers` changes, so the actor (if any) republishes its summary.
    pub(crate) viewers_changed: Notify,
}

impl Hub {
    pub(crate) fn new(ring: usize) -> Arc<Hub> {
        let (live, _) = broadcast::channel(ring.max(16));
        Arc::new(Hub {
            live: Mutex::new(Some(live)),
            viewers: AtomicU32::new(0),
            viewers_changed: Notify::new(),
        })
    }

    /// The hub behind `weak`, or a new one stored there.
    pub(crate) fn get_or_create(weak: &mut Weak<Hub>, ring: usize) -> Arc<Hub> {
        if let Some(hub) = weak.upgrade() {
            return hub;
        }
        let hub = Hub::new(ring);
        *weak = Arc::downgrade(&hub);
        hub
    }

    /// The sender the actor broadcasts committed events with; `None` once closed.
    pub(crate) fn sender(&self) -> Option<broadcast::Sender<Arc<Committed>>> {
        self.lock().clone()
    }

    pub(crate) fn subscribe(&self) -> Option<broadcast::Receiver<Arc<Committed>>> {
        self.lock().as_ref().map(broadcast::Sender::subscribe)
    }

    /// End every subscription (the session is deleted or the server stops). The actor's
    /// own sender clone goes when the actor ends.
    pub(crate) fn close(&self) {
        self.lock().take();
    }

    pub(crate) fn viewers(&self) -> u32 {
        self.viewers.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<broadcast::Sender<Arc<Committed>>>> {
        // Held only to clone or take the sender; a panic cannot leave it half-changed.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts one viewport while it lives; on drop, `on_change` republishes the summary.
pub(crate) struct ViewerGuard {
    hub: Arc<Hub>,
    on_change: Box<dyn Fn() + Send + Sync>,
}

impl ViewerGuard {
    pub(crate) fn new(hub: Arc<Hub>, on_change: Box<dyn Fn() + Send + Sync>) -> ViewerGuard {
        hub.viewers.fetch_add(1, Ordering::SeqCst);
        on_change();
        ViewerGuard { hub, on_change }
    }
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        self.hub.viewers.fetch_sub(1, Ordering::SeqCst);
        (self.on_change)();
    }
}
