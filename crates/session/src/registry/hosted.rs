//! Sessions held by session hosts (`Placement::Hosts`): waking one starts its host,
//! a server start adopts every host still alive, and a host that ends is turned back
//! into a cold entry — with its open turn closed in the log if it crashed.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_store::SessionRow;

use super::cold::{ColdSession, Entry};
use super::{Registry, RegistryRef};
use crate::actor::{Actor, LeftOpenBy};
use crate::host::launch::{self, Connected};
use crate::host::{HostAgent, HostSpec, lease, proxy};
use crate::hub::Hub;
use crate::{SessionError, SessionHandle};

/// How long the server waits for a host whose connection broke to be gone (its lease
/// free) before it closes the session's turn for it.
const CRASH_WAIT: Duration = Duration::from_secs(10);

impl Registry {
    /// Start the host of `row`'s session and drive it. Called under the wake lock.
    pub(super) async fn wake_host(
        &self,
        program: &Path,
        row: SessionRow,
        hub: Arc<Hub>,
    ) -> Result<SessionHandle, SessionError> {
        let dir = self.artifacts_dir(&row.slug);
        let spec = HostSpec {
            session_id: row.id.clone(),
            store: self.inner.store.config().clone(),
            config: (*self.inner.config).clone(),
            agent: self.inner.catalog.get(&row.agent).map(HostAgent::of),
        };
        launch::spawn(program, &spec, &dir.join("logs").join("host.log")).await?;
        let connected = launch::connect(&dir)
            .await
            .map_err(SessionError::Unavailable)?;
        Ok(self.drive(connected, hub))
    }

    /// Register a welcomed host's session live, behind a proxy.
    fn drive(&self, connected: Connected, hub: Arc<Hub>) -> SessionHandle {
        let (proxy, handle) = proxy::start(
            connected,
            hub,
            self.inner.bus.clone(),
            self.inner.config.command_queue,
            self.inner.slots.clone(),
        );
        self.inner
            .sessions
            .write()
            .expect("session map lock")
            .insert(handle.id().to_owned(), Entry::Live(handle.clone()));
        tokio::spawn(proxy.run(RegistryRef(Arc::downgrade(&self.inner))));
        handle
    }

    /// At start: drive every host still alive (their leases say which), all at once.
    /// Returns the sessions held by a live host, adopted or not: those are never
    /// repaired here, since their host is writing their log.
    pub(super) async fn adopt_hosts(&self, rows: &[SessionRow]) -> HashSet<String> {
        let data_dir = &self.inner.config.data_dir;
        let mut held = HashSet::new();
        let mut connects = tokio::task::JoinSet::new();
        for id in lease::list(data_dir) {
            let path = lease::lease_path(data_dir, &id);
            if !lease::is_held(&path) {
                lease::remove_if_stale(&path);
                continue;
            }
            let Some(row) = rows.iter().find(|r| r.id == id) else {
                continue;
            };
            held.insert(id.clone());
            let dir = self.artifacts_dir(&row.slug);
            connects.spawn(async move { (id, launch::connect(&dir).await) });
        }
        let mut adopted = 0usize;
        while let Some(joined) = connects.join_next().await {
            let Ok((id, connected)) = joined else {
                continue;
            };
            match connected {
                Ok(connected) => {
                    let hub = Hub::new(self.inner.config.live_buffer);
                    self.drive(connected, hub);
                    adopted += 1;
                }
                // Left alone: it finishes its turn and exits once its session is cold;
                // the next wake then starts a host this server can drive.
                Err(reason) => {
                    tracing::warn!(session = %id, %reason, "a live session host is not driven")
                }
            }
        }
        if !held.is_empty() {
            tracing::info!(hosts = held.len(), adopted, "session hosts found");
        }
        held
    }
}

impl RegistryRef {
    /// The host of `id` said goodbye (its session went cold or was deleted).
    pub(crate) fn host_left(&self, id: &str, summary: berth_protocol::Session) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let mut map = inner.sessions.write().expect("session map lock");
        // Only the entry of the proxy that ended (its channel is closed), not a newer one.
        if let Some(Entry::Live(handle)) = map.get(id)
            && handle.tx.is_closed()
        {
            let cold = ColdSession::new(summary, Arc::downgrade(&handle.hub), &inner.commands);
            map.insert(id.to_owned(), Entry::Cold(cold));
        }
    }

    /// The connection to the host of `id` broke without a goodbye. Once the host is
    /// gone (its lease free), close what it left open, in the log, so viewports see the
    /// turn end; the entry goes cold and the next prompt starts a new host.
    pub(crate) async fn host_lost(&self, id: &str) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let registry = Registry { inner };
        let path = lease::lease_path(&registry.inner.config.data_dir, id);
        let deadline = tokio::time::Instant::now() + CRASH_WAIT;
        while lease::is_held(&path) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _waking = registry.inner.waking.lock().await;
        let (hub, last) = {
            let map = registry.inner.sessions.read().expect("session map lock");
            match map.get(id) {
                Some(Entry::Live(handle)) if handle.tx.is_closed() => {
                    (handle.hub.clone(), handle.summary())
                }
                _ => return,
            }
        };
        let summary = if lease::is_held(&path) {
            tracing::warn!(session = %id, "lost the session host's connection but it still runs; leaving it be");
            last
        } else {
            tracing::warn!(session = %id, "the session host exited; closing what it left open");
            match registry.repair_after_host(id, hub.clone()).await {
                Ok(summary) => summary,
                Err(error) => {
                    tracing::error!(session = %id, %error, "could not repair after the host exited");
                    last
                }
            }
        };
        let mut map = registry.inner.sessions.write().expect("session map lock");
        if let Some(Entry::Live(handle)) = map.get(id)
            && handle.tx.is_closed()
        {
            let summary = berth_protocol::Session {
                viewers: hub.viewers(),
                ..summary
            };
            let cold = ColdSession::new(summary, Arc::downgrade(&hub), &registry.inner.commands);
            map.insert(id.to_owned(), Entry::Cold(cold));
        }
    }
}

impl Registry {
    /// The repair of a crashed host's session, broadcast on its hub (viewports watch).
    async fn repair_after_host(
        &self,
        id: &str,
        hub: Arc<Hub>,
    ) -> Result<berth_protocol::Session, SessionError> {
        let row = self.inner.store.get_session(id).await?;
        let mut init = self.actor_init(row, hub, false);
        init.left_open_by = LeftOpenBy::Host;
        let (mut actor, _handle) = Actor::open(init).await?;
        actor.save_summary().await?;
        let summary = actor.summary_now();
        // Sidebars learn of the closed turn at once.
        self.inner.bus.publish(&summary, true);
        Ok(summary)
    }
}
