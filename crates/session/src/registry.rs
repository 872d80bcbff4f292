//! The session registry: creates, finds, lists and deletes sessions, wakes and
//! hibernates their actors, and is the bus on which summary changes reach every
//! connection.
//!
//! Each session is `Live(handle)` (an actor runs) or `Cold(summary)` (no actor: a
//! stored session with no agent, no turn and nothing to do costs its summary). What
//! needs the log or the agent wakes it ([`Registry::get_or_wake`]); listing, reading,
//! attaching a viewport, the read cursor, archiving and deleting do not.
//!
//! - `cold`: the entry, the cold record, and hibernation (live → cold, no lost request);
//! - `page`: `GET /sessions` paging, filters and search;
//! - `new`: creating a session (title, working directory policy, slug, directories).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};

use berth_protocol::rest::{AgentInfo, EventsPage, SessionsQuery};
use berth_protocol::{Answer, ConfigChange, EventRecord, Prompt, Resolution, Seq, Session, Status};

use crate::uploads::UploadWriter;

use berth_store::{SessionRow, SessionUpdate, Store};
use bytes::Bytes;
use tokio::sync::broadcast;
use tokio_util::task::TaskTracker;

use crate::actor::{Actor, ActorInit, Home, LeftOpenBy, placeholder_summary};
use crate::handle::NotSent;
use crate::hub::{Hub, ViewerGuard};
use crate::slots::{AgentSlots, Slots};
use crate::subscription::{Attachment, Subscription};
use crate::summary::SummaryBus;
use crate::{
    AgentCatalog, Placement, Request, Response, SessionConfig, SessionError, SessionHandle,
};

mod cold;
mod hosted;
mod new;
mod page;

pub(crate) use cold::Hibernation;
use cold::{ColdSession, CommandLists, Entry};

/// Largest page `GET /events` serves, whatever `limit` asks.
pub const MAX_EVENTS_PAGE: usize = 5000;
/// Default page size of `GET /events`.
pub const DEFAULT_EVENTS_PAGE: usize = 1000;

#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

/// What an actor keeps of its registry: enough to hibernate, never enough to keep the
/// registry alive.
#[derive(Clone)]
pub(crate) struct RegistryRef(Weak<Inner>);

pub(crate) struct Inner {
    store: Store,
    config: Arc<SessionConfig>,
    catalog: AgentCatalog,
    epoch: Arc<str>,
    /// A std lock: held only to read or swap entries, never across an await.
    sessions: RwLock<HashMap<String, Entry>>,
    /// Held while a session is woken (and by the cold paths that change a session
    /// without waking it), so N concurrent wakes make one actor. `true` once the server
    /// is stopping: nothing is woken or created after `shutdown` took its list.
    waking: tokio::sync::Mutex<bool>,
    bus: SummaryBus,
    tasks: TaskTracker,
    slots: Arc<AgentSlots>,
    commands: CommandLists,
}

impl Registry {
    /// Load every stored session. A session whose summary columns describe its whole
    /// log is listed from them (cold, no actor). Any other (the previous server died
    /// while it was live, or it predates the columns) is loaded once to repair it:
    /// what that server left open is closed in the log, and its columns are written.
    /// Returns once every repair is committed, so a server may answer health checks
    /// after it.
    pub async fn open(
        store: Store,
        config: SessionConfig,
        catalog: AgentCatalog,
    ) -> Result<Registry, SessionError> {
        let bus = SummaryBus::new(1024, config.summary_interval);
        let registry = Registry {
            inner: Arc::new(Inner {
                epoch: store.epoch().into(),
                store,
                slots: AgentSlots::new(config.max_live_agents),
                config: Arc::new(config),
                catalog,
                sessions: RwLock::new(HashMap::new()),
                waking: tokio::sync::Mutex::new(false),
                bus,
                tasks: TaskTracker::new(),
                commands: CommandLists::default(),
            }),
        };
        let rows = registry.inner.store.list_sessions().await?;
        // Hosts first: a session a live host holds is its host's to write, never ours.
        let held = match &registry.inner.config.placement {
            Placement::Hosts { .. } => registry.adopt_hosts(&rows).await,
            Placement::InProcess => Default::default(),
        };
        let mut repaired = 0usize;
        let mut sessions = HashMap::with_capacity(rows.len());
        for row in rows {
            if held.contains(&row.id) {
                if !registry.is_registered(&row.id) {
                    let cold = ColdSession::new(
                        placeholder_summary(&row),
                        Weak::new(),
                        &registry.inner.commands,
                    );
                    sessions.insert(row.id.clone(), Entry::Cold(cold));
                }
                continue;
            }
            let fresh = row
                .summary
                .as_ref()
                .is_some_and(|c| c.at_seq == row.last_seq);
            let summary = if fresh {
                placeholder_summary(&row)
            } else {
                repaired += 1;
                registry.repair(row).await?
            };
            let cold = ColdSession::new(summary, Weak::new(), &registry.inner.commands);
            sessions.insert(cold.summary.id.clone(), Entry::Cold(cold));
        }
        let mut map = registry.inner.sessions.write().expect("session map lock");
        map.extend(sessions);
        let total = map.len();
        drop(map);
        tracing::info!(sessions = total, repaired, "sessions loaded");
        Ok(registry)
    }

    /// Load a session's actor to rebuild its state from the log, close what was left
    /// open, write its summary columns; the actor is not run.
    async fn repair(&self, row: SessionRow) -> Result<Session, SessionError> {
        let init = self.actor_init(row, Hub::new(16), false);
        let (mut actor, _handle) = Actor::open(init).await?;
        actor.save_summary().await?;
        Ok(actor.summary_now())
    }

    pub fn epoch(&self) -> &str {
        &self.inner.epoch
    }

    pub fn catalog(&self) -> &AgentCatalog {
        &self.inner.catalog
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The latest summary of a session (live or cold; may trail the log by ms).
    pub fn summary(&self, id: &str) -> Result<Session, SessionError> {
        self.inner
            .sessions
            .read()
            .expect("session map lock")
            .get(id)
            .map(Entry::summary)
            .ok_or_else(|| not_found(id))
    }

    /// Sessions stored.
    pub fn count(&self) -> usize {
        self.inner.sessions.read().expect("session map lock").len()
    }

    /// Sessions with an actor now (the others are cold).
    pub fn live_count(&self) -> usize {
        let map = self.inner.sessions.read().expect("session map lock");
        map.values().filter(|e| matches!(e, Entry::Live(_))).count()
    }

    /// Agent processes holding a slot now (running, starting or being stopped).
    pub fn agent_count(&self) -> usize {
        self.inner.slots.held()
    }

    /// Every session that is not archived, newest activity first (unpaged).
    pub fn list(&self) -> Vec<Session> {
        self.page(&SessionsQuery::default())
            .map(|(sessions, _)| sessions)
            .unwrap_or_default()
    }

    /// `session` and `session_deleted` frames, serialised once, for every connection.
    pub fn subscribe_summaries(&self) -> broadcast::Receiver<Bytes> {
        self.inner.bus.subscribe()
    }

    /// The live actor of a session, waking it (from the store) if it is cold. Race-free:
    /// concurrent wakes of one session make one actor.
    pub async fn get_or_wake(&self, id: &str) -> Result<SessionHandle, SessionError> {
        if let Some(handle) = self.live_handle(id)? {
            return Ok(handle);
        }
        let stopping = self.inner.waking.lock().await;
        if let Some(handle) = self.live_handle(id)? {
            return Ok(handle);
        }
        if *stopping {
            return Err(stopping_error());
        }
        let hub = self.hub_of(id)?;
        let row = self.inner.store.get_session(id).await?;
        tracing::debug!(session = %id, "waking");
        match &self.inner.config.placement {
            Placement::Hosts { program } => self.wake_host(program, row, hub).await,
            Placement::InProcess => self.run(self.actor_init(row, hub, false)).await,
        }
    }

    fn is_registered(&self, id: &str) -> bool {
        self.inner
            .sessions
            .read()
            .expect("session map lock")
            .contains_key(id)
    }

    /// `Some` if live, `None` if cold, `NotFound` if unknown.
    fn live_handle(&self, id: &str) -> Result<Option<SessionHandle>, SessionError> {
        match self
            .inner
            .sessions
            .read()
            .expect("session map lock")
            .get(id)
        {
            Some(Entry::Live(handle)) => Ok(Some(handle.clone())),
            Some(Entry::Cold(_)) => Ok(None),
            None => Err(not_found(id)),
        }
    }

    /// The session's hub, made if nothing holds one.
    fn hub_of(&self, id: &str) -> Result<Arc<Hub>, SessionError> {
        let ring = self.inner.config.live_buffer;
        let mut map = self.inner.sessions.write().expect("session map lock");
        match map.get_mut(id) {
            Some(Entry::Live(handle)) => Ok(handle.hub.clone()),
            Some(Entry::Cold(cold)) => Ok(Hub::get_or_create(&mut cold.hub, ring)),
            None => Err(not_found(id)),
        }
    }

    /// An actor for `row` that does not run (a repair) until `run` gives it a home.
    fn actor_init(&self, row: SessionRow, hub: Arc<Hub>, created: bool) -> ActorInit {
        ActorInit {
            artifacts: self.artifacts_dir(&row.slug),
            entry: self.inner.catalog.get(&row.agent).cloned(),
            row,
            store: self.inner.store.clone(),
            config: self.inner.config.clone(),
            bus: self.inner.bus.clone(),
            created,
            hub,
            slots: Slots::Local(self.inner.slots.clone()),
            home: Home::Repair,
            left_open_by: match self.inner.config.placement {
                Placement::InProcess => LeftOpenBy::Server,
                Placement::Hosts { .. } => LeftOpenBy::Host,
            },
        }
    }

    /// Open an actor, run it, and register it live.
    async fn run(&self, mut init: ActorInit) -> Result<SessionHandle, SessionError> {
        init.home = Home::Registry(RegistryRef(Arc::downgrade(&self.inner)));
        let (actor, handle) = Actor::open(init).await?;
        // Registered before it runs: an actor that tried to hibernate before its entry
        // existed would find none and end, leaving a dead handle behind.
        self.inner
            .sessions
            .write()
            .expect("session map lock")
            .insert(handle.id().to_owned(), Entry::Live(handle.clone()));
        self.inner.tasks.spawn(actor.run());
        Ok(handle)
    }

    /// Send `request` to the session's actor, waking it; a request that meets an actor
    /// just gone to sleep is sent again to the next one.
    async fn request(&self, id: &str, mut request: Request) -> Result<Response, SessionError> {
        // Each retry follows a hibernation, which takes `actor_linger`: a handful of
        // tries is already far more than can happen.
        for _ in 0..16 {
            let handle = self.get_or_wake(id).await?;
            match handle.send(request).await {
                Ok(answer) => return answer,
                Err(NotSent(returned)) => {
                    request = returned;
                    self.forget_dead(id, &handle);
                }
            }
        }
        Err(SessionError::Gone)
    }

    /// A live entry whose actor no longer takes requests, outside a hibernation (which
    /// swaps the entry under the lock it closes its channel in): that actor ended (it
    /// panicked, or the server is stopping). The entry goes cold, so the next request
    /// wakes a new actor instead of failing forever.
    fn forget_dead(&self, id: &str, dead: &SessionHandle) {
        let mut map = self.inner.sessions.write().expect("session map lock");
        let Some(Entry::Live(handle)) = map.get(id) else {
            return;
        };
        if !handle.tx.same_channel(&dead.tx) || !handle.tx.is_closed() {
            return;
        }
        tracing::warn!(session = %id, "its actor ended without going cold; marking it cold");
        let cold = ColdSession::new(
            handle.summary(),
            Arc::downgrade(&handle.hub),
            &self.inner.commands,
        );
        map.insert(id.to_owned(), Entry::Cold(cold));
    }

    async fn request_summary(&self, id: &str, request: Request) -> Result<Session, SessionError> {
        match self.request(id, request).await? {
            Response::Summary { summary } => Ok(*summary),
            other => Err(unexpected(other)),
        }
    }

    /// Start a turn; returns its id once `user_message` and `turn_started` are committed.
    pub async fn prompt(&self, id: &str, text: String) -> Result<String, SessionError> {
        match self.prompt_or_queue(id, text, false, &[]).await? {
            (turn_id, false) => Ok(turn_id),
            (_, true) => unreachable!("a turn not asked to queue is never queued"),
        }
    }

    /// Start a turn, or with `queue` and a turn running, queue it to start when the
    /// turns before it end: `(turn_id, queued)`. `attachments` are upload ids of this
    /// session's (`400` naming one that is not).
    pub async fn prompt_or_queue(
        &self,
        id: &str,
        text: String,
        queue: bool,
        attachments: &[String],
    ) -> Result<(String, bool), SessionError> {
        let attachments = if attachments.is_empty() {
            Vec::new()
        } else {
            let artifacts = self.artifacts_dir(&self.summary(id)?.slug);
            crate::uploads::find(&artifacts, attachments).await?
        };
        let prompt = Request::Prompt {
            text,
            queue,
            attachments,
        };
        match self.request(id, prompt).await? {
            Response::TurnStarted { turn_id } => Ok((turn_id, false)),
            Response::TurnQueued { turn_id } => Ok((turn_id, true)),
            other => Err(unexpected(other)),
        }
    }

    /// Start an upload of a file into session `id`'s directory (at most `limit` bytes).
    pub async fn begin_upload(
        &self,
        id: &str,
        name: &str,
        mime_type: &str,
        limit: u64,
    ) -> Result<UploadWriter, SessionError> {
        let artifacts = self.artifacts_dir(&self.summary(id)?.slug);
        UploadWriter::begin(&artifacts, name, mime_type, limit).await
    }

    /// Upload `upload_id` of session `id`, and where its file is.
    pub async fn upload(
        &self,
        id: &str,
        upload_id: &str,
    ) -> Result<(berth_protocol::Attachment, PathBuf), SessionError> {
        let artifacts = self.artifacts_dir(&self.summary(id)?.slug);
        let found = crate::uploads::find(&artifacts, &[upload_id.to_owned()])
            .await
            .map_err(|error| match error {
                SessionError::BadRequest(message) => SessionError::NotFound(message),
                other => other,
            })?;
        let attachment = found.into_iter().next().expect("one id, one upload");
        let path = crate::uploads::path(&artifacts, &attachment);
        Ok((attachment, path))
    }

    /// Take a queued turn out of its session's queue (`DELETE …/turns/{turn_id}`).
    pub async fn unqueue(&self, id: &str, turn_id: String) -> Result<Session, SessionError> {
        // A cold session runs no turn, so it has no queue.
        if self.live_handle(id)?.is_none() {
            return Err(SessionError::NotFound(format!(
                "no queued turn `{turn_id}` in this session"
            )));
        }
        self.request_summary(id, Request::Unqueue { turn_id }).await
    }

    pub async fn cancel(&self, id: &str) -> Result<(), SessionError> {
        // A cold session has no turn: nothing to wake it for.
        if self.live_handle(id)?.is_none() {
            return Err(SessionError::Conflict(
                "no turn is running in this session".into(),
            ));
        }
        self.request(id, Request::Cancel).await.map(|_| ())
    }

    pub async fn respond(
        &self,
        id: &str,
        prompt_id: String,
        answer: Answer,
    ) -> Result<Resolution, SessionError> {
        match self
            .request(id, Request::Respond { prompt_id, answer })
            .await?
        {
            Response::Resolved { resolution } => Ok(resolution),
            other => Err(unexpected(other)),
        }
    }

    /// Change a mode or config option (`PATCH /sessions/{id}/config`). `Ok((summary,
    /// applied))`: `applied` once the agent agreed; otherwise the change waits for the
    /// agent to start.
    pub async fn configure(
        &self,
        id: &str,
        change: ConfigChange,
    ) -> Result<(Session, bool), SessionError> {
        match self.request(id, Request::Configure { change }).await? {
            Response::Configured { summary, applied } => Ok((*summary, applied)),
            other => Err(unexpected(other)),
        }
    }

    /// `GET /agents`: the catalog, each agent with what it offered to choose in its most
    /// recently active session that said (for a new session's dialog).
    pub fn agents(&self) -> Vec<AgentInfo> {
        let sessions = self.list();
        let mut infos = self.catalog().infos();
        for info in &mut infos {
            let last = sessions
                .iter()
                .filter(|s| s.agent == info.id && s.config.is_some())
                .max_by_key(|s| s.updated_at);
            if let Some(last) = last {
                info.config = last.config.clone();
                info.mode = last.mode.clone();
            }
        }
        infos
    }

    pub async fn rename(&self, id: &str, title: String) -> Result<Session, SessionError> {
        self.request_summary(id, Request::Rename { title }).await
    }

    /// Stop the session's agent (`POST /stop`). A session with no agent (cold ones
    /// included) is left as it is.
    pub async fn stop(&self, id: &str) -> Result<Session, SessionError> {
        if self.live_handle(id)?.is_none() {
            return self.summary(id);
        }
        self.request_summary(id, Request::Stop).await
    }

    /// Move the read cursor forward. A cold session stays cold.
    pub async fn mark_read(&self, id: &str, seq: Seq) -> Result<Session, SessionError> {
        let change = |s: &mut Session| {
            let seq = seq.min(s.last_seq);
            (seq > s.read_seq).then(|| {
                s.read_seq = seq;
                s.unread = s.last_seq - seq;
                SessionUpdate {
                    read_seq: Some(seq),
                    ..Default::default()
                }
            })
        };
        self.change(id, change, Request::MarkRead { seq }).await
    }

    /// Archive or unarchive. A cold session stays cold.
    pub async fn set_archived(&self, id: &str, archived: bool) -> Result<Session, SessionError> {
        let change = |s: &mut Session| {
            (s.archived != archived).then(|| {
                s.archived = archived;
                SessionUpdate {
                    archived: Some(archived),
                    ..Default::default()
                }
            })
        };
        self.change(id, change, Request::SetArchived { archived })
            .await
    }

    /// A change that needs no actor: applied to a cold session by `change_cold`, sent to
    /// a live one's actor as `request`.
    async fn change(
        &self,
        id: &str,
        change: impl FnOnce(&mut Session) -> Option<SessionUpdate>,
        request: Request,
    ) -> Result<Session, SessionError> {
        match self.change_cold(id, change).await? {
            Some(summary) => Ok(summary),
            None => self.request_summary(id, request).await,
        }
    }

    /// Apply `change` to a cold session's summary and store (no wake): `None` if the
    /// session is live. `change` returns the row update, or `None` for no change. Holds
    /// the wake lock, so no actor is made from a row this is about to change.
    async fn change_cold(
        &self,
        id: &str,
        change: impl FnOnce(&mut Session) -> Option<SessionUpdate>,
    ) -> Result<Option<Session>, SessionError> {
        let _waking = self.inner.waking.lock().await;
        let Some(mut summary) = self.cold_summary(id)? else {
            return Ok(None);
        };
        let Some(update) = change(&mut summary) else {
            return Ok(Some(summary));
        };
        self.inner.store.update_session(id, update).await?;
        let mut map = self.inner.sessions.write().expect("session map lock");
        if let Some(Entry::Cold(cold)) = map.get_mut(id) {
            // Viewports may have come or gone during the write: keep the entry's count.
            let commands = std::mem::take(&mut cold.summary.commands);
            let viewers = cold.summary.viewers;
            cold.summary = Session {
                commands,
                viewers,
                ..summary
            };
            summary = cold.summary();
        }
        self.inner.bus.publish(&summary, true);
        Ok(Some(summary))
    }

    fn cold_summary(&self, id: &str) -> Result<Option<Session>, SessionError> {
        match self
            .inner
            .sessions
            .read()
            .expect("session map lock")
            .get(id)
        {
            Some(Entry::Live(_)) => Ok(None),
            Some(Entry::Cold(cold)) => Ok(Some(cold.summary())),
            None => Err(not_found(id)),
        }
    }

    pub async fn delete(&self, id: &str) -> Result<(), SessionError> {
        let waking = self.inner.waking.lock().await;
        let hub = match self.cold_summary(id)? {
            // No actor: the registry deletes it itself (no wake for a goodbye).
            Some(summary) => {
                self.inner.store.delete_session(id).await?;
                let hub = self.remove(id);
                // Out of the registry now: other sessions need not wait for the files.
                drop(waking);
                remove_artifacts(id, &self.artifacts_dir(&summary.slug)).await;
                hub
            }
            None => {
                drop(waking);
                self.request(id, Request::Delete).await?;
                self.remove(id)
            }
        };
        // Viewports of the session end (their `session_deleted` frame tells them why).
        if let Some(hub) = hub {
            hub.close();
        }
        self.inner.bus.deleted(id);
        Ok(())
    }

    /// Take a session out of the registry; its hub, if one exists.
    fn remove(&self, id: &str) -> Option<Arc<Hub>> {
        let entry = self
            .inner
            .sessions
            .write()
            .expect("session map lock")
            .remove(id)?;
        match entry {
            Entry::Live(handle) => Some(handle.hub),
            Entry::Cold(cold) => cold.hub.upgrade(),
        }
    }

    /// Attach a viewport with cursor `(epoch, after)`. Never wakes the session: the
    /// viewport reads the store, then takes live events from the session's hub, which a
    /// later actor broadcasts on.
    pub async fn attach(
        &self,
        id: &str,
        after: Seq,
        epoch: Option<String>,
    ) -> Result<Attachment, SessionError> {
        let reset = || Attachment::Reset {
            epoch: self.inner.epoch.to_string(),
        };
        if epoch.as_deref().is_some_and(|e| e != &*self.inner.epoch) {
            return Ok(reset());
        }
        let hub = self.hub_of(id)?;
        // Subscribed before the store is read: every event committed from here on is
        // broadcast to this receiver (the actor commits, then broadcasts).
        let live = hub.subscribe().ok_or(SessionError::Gone)?;
        let last_seq = self.inner.store.get_session(id).await?.last_seq;
        if after > last_seq {
            return Ok(reset());
        }
        let registry = RegistryRef(Arc::downgrade(&self.inner));
        let session: Arc<str> = id.into();
        let on_change = {
            let session = session.clone();
            Box::new(move || registry.viewers_changed(&session))
        };
        let guard = ViewerGuard::new(hub.clone(), on_change);
        let mut summary = self.summary(id)?;
        summary.viewers = hub.viewers();
        let subscription = Subscription::new(
            session,
            self.inner.store.clone(),
            live,
            after,
            (self.inner.config.replay_page, self.inner.config.live_batch),
            guard,
        );
        Ok(Attachment::Attached {
            last_seq,
            summary: Box::new(summary),
            subscription,
        })
    }

    /// Every pending prompt of every session, oldest first within a session. Only
    /// sessions with a turn can have one, and those are live. Every live session is
    /// asked: its summary may trail its log (a host's summary crosses the hop after the
    /// `permission_requested` a client may already have read).
    pub async fn prompts(&self) -> Result<Vec<Prompt>, SessionError> {
        let handles: Vec<SessionHandle> = {
            let map = self.inner.sessions.read().expect("session map lock");
            map.values()
                .filter_map(|entry| match entry {
                    Entry::Live(handle) => Some(handle.clone()),
                    Entry::Cold(_) => None,
                })
                .collect()
        };
        let mut prompts = Vec::new();
        for handle in handles {
            match handle.pending_prompts().await {
                Ok(mut list) => prompts.append(&mut list),
                Err(SessionError::Gone) => {}
                Err(error) => return Err(error),
            }
        }
        prompts.sort_by(|a, b| a.event.asked_prompt_id().cmp(&b.event.asked_prompt_id()));
        Ok(prompts)
    }

    /// A page of a session's log: `after + 1 …`, at most `limit` (clamped) events.
    pub async fn events(
        &self,
        id: &str,
        after: Seq,
        limit: Option<usize>,
    ) -> Result<EventsPage, SessionError> {
        let summary = self.summary(id)?;
        let limit = limit
            .unwrap_or(DEFAULT_EVENTS_PAGE)
            .clamp(1, MAX_EVENTS_PAGE);
        // Seqs are SQLite integers: nothing lies beyond i64::MAX, so an empty page.
        let after = after.min(i64::MAX as Seq);
        let stored = self.inner.store.read_events(id, after, limit).await?;
        // REST serves one record per seq: parse the stored JSON, nothing else (no frame,
        // no coalescing).
        let events: Vec<EventRecord> = stored
            .into_iter()
            .filter_map(|s| {
                let fitted = crate::fit::fit_stored(&s.data);
                Some(EventRecord {
                    seq: s.seq,
                    first_seq: None,
                    ts: s.ts,
                    event: serde_json::from_str(fitted.as_deref().unwrap_or(&s.data)).ok()?,
                })
            })
            .collect();
        let last_seq = events
            .last()
            .map(|e| e.seq)
            .unwrap_or(0)
            .max(summary.last_seq);
        Ok(EventsPage {
            epoch: self.inner.epoch.to_string(),
            last_seq,
            events,
        })
    }

    /// Session `id` exported as `format` (its whole log), with the name of the copy
    /// written to its `exports/` directory.
    pub async fn export(
        &self,
        id: &str,
        format: crate::export::Format,
    ) -> Result<(String, String), SessionError> {
        let summary = self.summary(id)?;
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let page = self.events(id, after, Some(MAX_EVENTS_PAGE)).await?;
            let Some(last) = page.events.last() else {
                break;
            };
            after = last.seq;
            events.extend(page.events);
        }
        let text = crate::export::render(&summary, &events, format);
        let at = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let path =
            crate::export::copy_path(&self.artifacts_dir(&summary.slug), &summary, format, &at);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::write(&path, &text).await?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok((text, name))
    }

    /// Close every running turn, stop every agent, end every actor (each writes its
    /// summary columns), and wait for them.
    pub async fn shutdown(&self) {
        // From here on no actor is woken or created, so the list below is every actor.
        *self.inner.waking.lock().await = true;
        let handles: Vec<SessionHandle> = {
            let map = self.inner.sessions.read().expect("session map lock");
            map.values()
                .filter_map(|entry| match entry {
                    Entry::Live(handle) => Some(handle.clone()),
                    Entry::Cold(_) => None,
                })
                .collect()
        };
        // Sessions in hosts carry on: each stops an idle agent, a running turn goes on.
        let request = match self.inner.config.placement {
            Placement::InProcess => Request::Shutdown,
            Placement::Hosts { .. } => Request::Detach,
        };
        let grace = self.inner.config.kill_grace + std::time::Duration::from_secs(2);
        // All at once: each may wait up to `kill_grace` for its agent to exit.
        let mut stops = tokio::task::JoinSet::new();
        for handle in handles {
            let request = request.clone();
            stops.spawn(async move {
                let idle = !matches!(
                    handle.summary().status,
                    Status::Starting | Status::Running | Status::AwaitingInput
                );
                let result = handle.request(request.clone()).await;
                // A detached host with no turn goes cold and exits: waited for (its proxy
                // ends), so the next server finds only hosts that have work.
                if request == Request::Detach && idle {
                    let _ = tokio::time::timeout(grace, handle.tx.closed()).await;
                }
                result
            });
        }
        while let Some(result) = stops.join_next().await {
            match result {
                Ok(Ok(_)) | Ok(Err(SessionError::Gone)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "session did not shut down cleanly"),
                Err(error) => tracing::warn!(%error, "session shutdown task failed"),
            }
        }
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    fn artifacts_dir(&self, slug: &str) -> PathBuf {
        self.inner.config.data_dir.join("sessions").join(slug)
    }
}

fn stopping_error() -> SessionError {
    SessionError::Unavailable("the server is stopping; try again once it is back".into())
}

fn not_found(id: &str) -> SessionError {
    SessionError::NotFound(format!("no session {id}"))
}

fn unexpected(response: Response) -> SessionError {
    SessionError::Io(std::io::Error::other(format!(
        "unexpected actor response {response:?}"
    )))
}

/// Remove a session's artifact directory; a missing one is fine.
pub(crate) async fn remove_artifacts(id: &str, dir: &Path) {
    if let Err(error) = tokio::fs::remove_dir_all(dir).await
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(session = %id, %error, "could not remove artifact directory");
    }
}
