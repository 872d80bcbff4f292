//! The session registry: creates, finds, lists and deletes sessions, and is the bus
//! on which summary changes reach every connection.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use berth_protocol::rest::{CreateSession, EventsPage};
use berth_protocol::{EventRecord, Prompt, Seq, Session};
use berth_store::{SessionRow, Store};
use bytes::Bytes;
use tokio::sync::broadcast;
use tokio_util::task::TaskTracker;

use crate::actor::{Actor, ActorInit, validate_title};
use crate::summary::deleted_frame;
use crate::{AgentCatalog, SessionConfig, SessionError, SessionHandle};

/// Largest page `GET /events` serves, whatever `limit` asks.
pub const MAX_EVENTS_PAGE: usize = 5000;
/// Default page size of `GET /events`.
pub const DEFAULT_EVENTS_PAGE: usize = 1000;

#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: Arc<SessionConfig>,
    catalog: AgentCatalog,
    epoch: Arc<str>,
    /// A std lock: held only to clone or insert a handle, never across an await.
    sessions: RwLock<HashMap<String, SessionHandle>>,
    bus: broadcast::Sender<Bytes>,
    tasks: TaskTracker,
}

impl Registry {
    /// Load every stored session and repair what the previous run left open. Returns
    /// once every repair is committed, so a server may answer health checks after it.
    pub async fn open(
        store: Store,
        config: SessionConfig,
        catalog: AgentCatalog,
    ) -> Result<Registry, SessionError> {
        let (bus, _) = broadcast::channel(1024);
        let registry = Registry {
            inner: Arc::new(Inner {
                epoch: store.epoch().into(),
                store,
                config: Arc::new(config),
                catalog,
                sessions: RwLock::new(HashMap::new()),
                bus,
                tasks: TaskTracker::new(),
            }),
        };
        let rows = registry.inner.store.list_sessions().await?;
        for row in rows {
            registry.spawn(row, false).await?;
        }
        Ok(registry)
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

    pub fn get(&self, id: &str) -> Result<SessionHandle, SessionError> {
        self.inner
            .sessions
            .read()
            .expect("session map lock")
            .get(id)
            .cloned()
            .ok_or_else(|| SessionError::NotFound(format!("no session {id}")))
    }

    /// Every session, newest activity first.
    pub fn list(&self) -> Vec<Session> {
        let mut sessions: Vec<Session> = self
            .inner
            .sessions
            .read()
            .expect("session map lock")
            .values()
            .map(SessionHandle::summary)
            .collect();
        sessions.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        sessions
    }

    /// `session` and `session_deleted` frames, serialised once, for every connection.
    pub fn subscribe_summaries(&self) -> broadcast::Receiver<Bytes> {
        self.inner.bus.subscribe()
    }

    pub async fn create(&self, request: CreateSession) -> Result<Session, SessionError> {
        let catalog = &self.inner.catalog;
        let Some(entry) = catalog.get(&request.agent) else {
            let known: Vec<_> = catalog.infos().into_iter().map(|a| a.id).collect();
            return Err(SessionError::BadRequest(format!(
                "unknown agent `{}`; this server knows {known:?}",
                request.agent
            )));
        };
        if let Err(reason) = entry.availability() {
            return Err(SessionError::Unavailable(format!(
                "agent `{}` is not available: {reason}",
                entry.id
            )));
        }
        let title = match &request.title {
            Some(title) => validate_title(title)?,
            None => "New session".to_owned(),
        };
        // The request's cwd, else the agent's configured default, else (below) the
        // session's own `files/` directory.
        let requested = request.cwd.clone().or_else(|| {
            entry
                .default_cwd
                .as_ref()
                .map(|d| d.to_string_lossy().into_owned())
        });
        let cwd = match &requested {
            Some(cwd) => Some(validate_cwd(cwd)?),
            None => None,
        };
        if let (Some(cwd), Some(root)) = (&cwd, &entry.cwd_within) {
            check_within(Path::new(cwd), root)?;
        }
        let id = uuid::Uuid::now_v7();
        let now = chrono::Utc::now();
        let slug = make_slug(now, &title, &id);
        let artifacts = self.artifacts_dir(&slug);
        for dir in ["logs", "files", "exports"] {
            tokio::fs::create_dir_all(artifacts.join(dir)).await?;
        }
        let cwd = match cwd {
            Some(cwd) => cwd,
            None => artifacts.join("files").to_string_lossy().into_owned(),
        };
        let row = SessionRow {
            id: id.to_string(),
            slug,
            title,
            agent: entry.id.clone(),
            cwd,
            created_at: now,
            updated_at: now,
            read_seq: 0,
            agent_session_id: None,
            archived: false,
            summary: None,
            last_seq: 0,
        };
        self.inner.store.create_session(row.clone()).await?;
        let handle = self.spawn(row, true).await?;
        Ok(handle.summary())
    }

    pub async fn delete(&self, id: &str) -> Result<(), SessionError> {
        let handle = self.get(id)?;
        handle.request(crate::Request::Delete).await?;
        self.inner
            .sessions
            .write()
            .expect("session map lock")
            .remove(id);
        let _ = self.inner.bus.send(deleted_frame(id));
        Ok(())
    }

    /// Every pending prompt of every session, oldest first within a session.
    pub async fn prompts(&self) -> Result<Vec<Prompt>, SessionError> {
        let handles: Vec<SessionHandle> = self
            .inner
            .sessions
            .read()
            .expect("session map lock")
            .values()
            .filter(|h| h.summary().pending_prompts > 0)
            .cloned()
            .collect();
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
        let handle = self.get(id)?;
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
                Some(EventRecord {
                    seq: s.seq,
                    first_seq: None,
                    ts: s.ts,
                    event: serde_json::from_str(&s.data).ok()?,
                })
            })
            .collect();
        let last_seq = events
            .last()
            .map(|e| e.seq)
            .unwrap_or(0)
            .max(handle.summary().last_seq);
        Ok(EventsPage {
            epoch: self.inner.epoch.to_string(),
            last_seq,
            events,
        })
    }

    /// Close every running turn, stop every agent, end every actor, and wait for them.
    pub async fn shutdown(&self) {
        let handles: Vec<SessionHandle> = self
            .inner
            .sessions
            .read()
            .expect("session map lock")
            .values()
            .cloned()
            .collect();
        // All at once: each may wait up to `kill_grace` for its agent to exit.
        let mut stops = tokio::task::JoinSet::new();
        for handle in handles {
            stops.spawn(async move { handle.request(crate::Request::Shutdown).await });
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

    async fn spawn(&self, row: SessionRow, created: bool) -> Result<SessionHandle, SessionError> {
        let entry = self.inner.catalog.get(&row.agent).cloned();
        let init = ActorInit {
            artifacts: self.artifacts_dir(&row.slug),
            row,
            store: self.inner.store.clone(),
            config: self.inner.config.clone(),
            entry,
            bus: self.inner.bus.clone(),
            epoch: self.inner.epoch.clone(),
            created,
        };
        let (actor, handle) = Actor::open(init).await?;
        self.inner.tasks.spawn(actor.run());
        self.inner
            .sessions
            .write()
            .expect("session map lock")
            .insert(handle.id().to_owned(), handle.clone());
        Ok(handle)
    }
}

/// A working directory must be an absolute path to an existing directory.
fn validate_cwd(cwd: &str) -> Result<String, SessionError> {
    let path = Path::new(cwd);
    if !path.is_absolute() {
        return Err(SessionError::BadRequest(format!(
            "`cwd` must be an absolute path, got `{cwd}`"
        )));
    }
    let canonical = path
        .canonicalize()
        .map_err(|e| SessionError::BadRequest(format!("`cwd` `{cwd}` cannot be used: {e}")))?;
    if !canonical.is_dir() {
        return Err(SessionError::BadRequest(format!(
            "`cwd` `{cwd}` is not a directory"
        )));
    }
    Ok(canonical.to_string_lossy().into_owned())
}

/// The agent's working-directory policy: `cwd` (canonical) must lie inside `root`.
fn check_within(cwd: &Path, root: &Path) -> Result<(), SessionError> {
    let root = root.canonicalize().map_err(|e| {
        SessionError::Unavailable(format!(
            "the agent's allowed directory {} cannot be used: {e}",
            root.display()
        ))
    })?;
    if cwd.starts_with(&root) {
        Ok(())
    } else {
        Err(SessionError::BadRequest(format!(
            "`cwd` `{}` is outside {}, the directory this agent may work in",
            cwd.display(),
            root.display()
        )))
    }
}

/// `2026-11-21-fix-login-tests-1a2b3c4d`: date, title words, and the id's random tail.
fn make_slug(now: berth_protocol::Timestamp, title: &str, id: &uuid::Uuid) -> String {
    let mut words = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            words.push(c);
        } else if !words.ends_with('-') && !words.is_empty() {
            words.push('-');
        }
        if words.len() >= 40 {
            break;
        }
    }
    let words = words.trim_end_matches('-');
    let words = if words.is_empty() { "session" } else { words };
    let hex = id.simple().to_string();
    format!(
        "{}-{}-{}",
        now.format("%Y-%m-%d"),
        words,
        &hex[hex.len() - 8..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_readable_and_safe() {
        let id = uuid::Uuid::now_v7();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .to_utc();
        let slug = make_slug(now, "Fix: login tests / ../etc", &id);
        assert!(
            slug.starts_with("2026-11-21-fix-login-tests-etc-"),
            "{slug}"
        );
        assert!(slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert!(make_slug(now, "???", &id).starts_with("2026-11-21-session-"));
    }

    #[test]
    fn cwd_must_be_an_absolute_existing_directory() {
        assert!(validate_cwd("relative/path").is_err());
        assert!(validate_cwd("/definitely/not/here").is_err());
        assert!(validate_cwd("/").is_ok());
    }
}
