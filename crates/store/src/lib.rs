//! berth's event store: the durable log of every session.
//!
//! API contract (the session crate is written against exactly this):
//! - [`Store`] is cheap to clone (an `Arc` inside) and `Send + Sync`.
//! - Writes go to ONE writer thread that group-commits: it takes every write queued
//!   at that moment (up to a cap) into one transaction, commits, then completes each
//!   write's future. An awaited write is durable (WAL committed) when it returns.
//!   Writes are applied in the order they were submitted.
//! - Reads use separate read connections and never wait on the writer.
//! - `data` is the JSON text of a `berth_protocol::Event`, serialised once by the
//!   caller and stored verbatim; reads hand the same text back as `Arc<str>`.
//!
//! Modules:
//! - `schema`: opening connections (WAL, `synchronous`, `busy_timeout`), the
//!   versioned migrations kept in `meta`, and the epoch.
//! - `write`: the writes ([`Store::append`] and the session changes) and their SQL,
//!   including the density check that keeps every session's seqs 1, 2, 3, ….
//! - `writer`: the writer thread, its bounded command channel and the group commit
//!   (one transaction per batch, one savepoint per write).
//! - `read`: the pool of read-only connections and the read queries.
//! - `codec`: how timestamps and rows map to SQLite columns.

mod codec;
mod read;
mod schema;
mod write;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;

use berth_protocol::{
    AgentCommand, AgentConfig, ConfigChange, Seq, Status, StopReason, Timestamp, Usage,
};

use crate::read::ReadPool;
use crate::write::Write;
use crate::writer::Writer;
#[doc(hidden)]
pub use crate::writer::WriterStats;

/// How hard SQLite syncs on commit (`PRAGMA synchronous`). Default `Full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    Off,
    Normal,
    #[default]
    Full,
    Extra,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StoreConfig {
    /// The SQLite file (created with its parent directory if missing).
    pub path: PathBuf,
    pub synchronous: Synchronous,
    /// Most writes folded into one transaction.
    pub max_batch: usize,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: Seq,
    pub ts: Timestamp,
    /// The event's `kind` (column kept for filtering).
    pub kind: String,
    /// The event's JSON text.
    pub data: Arc<str>,
}

/// One row of `sessions`, plus `last_seq` computed from `events` on read.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub agent: String,
    pub cwd: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub read_seq: Seq,
    /// The agent's own session id (ACP `sessionId`), if any.
    pub agent_session_id: Option<String>,
    /// Left out of the default session list.
    pub archived: bool,
    /// The summary as the session's actor last wrote it; `None` if it never did.
    /// Ignored by `create_session`.
    pub summary: Option<SummaryColumns>,
    /// Ignored by `create_session`; filled by reads.
    pub last_seq: Seq,
}

/// The summary columns of a session: what a sidebar shows of a session that has no
/// actor. Written by the actor when it goes cold (and at shutdown); trusted on load
/// only when `at_seq` is the session's last seq.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryColumns {
    /// The last seq these columns describe.
    pub at_seq: Seq,
    pub status: Status,
    /// How the last closed turn ended.
    pub last_stop: Option<StopReason>,
    pub pending_prompts: u32,
    pub preview: Option<String>,
    pub mode: Option<String>,
    pub commands: Vec<AgentCommand>,
    pub usage: Option<Usage>,
    /// What the agent offered to choose, when it last said.
    pub config: Option<AgentConfig>,
    /// Changes waiting for the agent to start.
    pub pending_config: Vec<ConfigChange>,
}

/// A partial update of a session row; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionUpdate {
    pub title: Option<String>,
    /// Only ever moves forward: the store keeps `max(old, new)`.
    pub read_seq: Option<Seq>,
    pub updated_at: Option<Timestamp>,
    pub agent_session_id: Option<Option<String>>,
    pub archived: Option<bool>,
    pub summary: Option<SummaryColumns>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session {0} not found")]
    NotFound(String),
    #[error("seq {seq} of session {session} is already taken or not next")]
    SeqConflict { session: String, seq: Seq },
    #[error("the store is closed")]
    Closed,
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The SQLite event store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    epoch: String,
    config: StoreConfig,
    /// Declared before `writer` so idle readers close first: the write connection,
    /// closing last, can then checkpoint the WAL into the main file.
    reads: ReadPool,
    writer: Writer,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("epoch", &self.inner.epoch)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Open (creating schema and `meta(epoch)` on first use), start the writer thread.
    /// WAL mode, `busy_timeout`, `foreign_keys`; epoch is random hex, kept forever.
    pub fn open(config: StoreConfig) -> Result<Store> {
        let conn = schema::open_writer(&config.path, config.synchronous)?;
        let epoch = schema::epoch(&conn)?;
        let writer = Writer::start(conn, config.max_batch)?;
        Ok(Store {
            inner: Arc::new(Inner {
                epoch,
                reads: ReadPool::new(config.path.clone()),
                config,
                writer,
            }),
        })
    }

    /// How it was opened (a session host opens the same file the same way).
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// This store's incarnation id.
    pub fn epoch(&self) -> &str {
        &self.inner.epoch
    }

    /// Append events of one session (seqs must continue the session's log densely).
    pub async fn append(&self, session_id: &str, events: Vec<StoredEvent>) -> Result<()> {
        self.inner
            .writer
            .submit(Write::Append {
                session_id: session_id.to_owned(),
                events,
            })
            .await
    }

    pub async fn create_session(&self, row: SessionRow) -> Result<()> {
        self.inner
            .writer
            .submit(Write::CreateSession { row: Box::new(row) })
            .await
    }

    pub async fn update_session(&self, session_id: &str, update: SessionUpdate) -> Result<()> {
        self.inner
            .writer
            .submit(Write::UpdateSession {
                session_id: session_id.to_owned(),
                update: Box::new(update),
            })
            .await
    }

    /// Remove a session and its events.
    pub async fn delete_session(&self, session_id: &str) -> Result<()> {
        self.inner
            .writer
            .submit(Write::DeleteSession {
                session_id: session_id.to_owned(),
            })
            .await
    }

    /// Events with `seq > after`, ascending, at most `limit`.
    pub async fn read_events(
        &self,
        session_id: &str,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let session_id = session_id.to_owned();
        self.read(move |conn| read::events(conn, &session_id, after, limit))
            .await
    }

    /// The last `limit` events of a session, ascending.
    pub async fn read_last_events(
        &self,
        session_id: &str,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let session_id = session_id.to_owned();
        self.read(move |conn| read::last_events(conn, &session_id, limit))
            .await
    }

    /// Events with `seq > after` whose kind is one of `kinds`, ascending.
    pub async fn read_events_of_kinds(
        &self,
        session_id: &str,
        kinds: &[&str],
        after: Seq,
    ) -> Result<Vec<StoredEvent>> {
        let session_id = session_id.to_owned();
        let kinds: Vec<String> = kinds.iter().map(|&k| k.to_owned()).collect();
        self.read(move |conn| read::events_of_kinds(conn, &session_id, &kinds, after))
            .await
    }

    pub async fn get_session(&self, session_id: &str) -> Result<SessionRow> {
        let session_id = session_id.to_owned();
        self.read(move |conn| read::session(conn, &session_id))
            .await
    }

    /// Every session, newest `updated_at` first.
    pub async fn list_sessions(&self) -> Result<Vec<SessionRow>> {
        self.read(read::sessions).await
    }

    /// Resolves once every write submitted before it is committed.
    pub async fn flush(&self) -> Result<()> {
        self.inner.writer.flush().await
    }

    /// Flush, stop the writer thread and wait for it. Later writes fail with `Closed`.
    pub async fn close(&self) -> Result<()> {
        // Idle readers go first so the writer, closing last, can checkpoint the WAL.
        // Reads keep working afterwards on fresh connections.
        self.inner.reads.clear();
        self.inner.writer.close().await
    }

    /// Counters of the writer thread (transactions vs writes), for tests and benchmarks.
    #[doc(hidden)]
    pub fn stats(&self) -> WriterStats {
        self.inner.writer.stats()
    }

    /// Run a blocking query on a pooled read connection, off the async workers.
    async fn read<T, F>(&self, query: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        match tokio::task::spawn_blocking(move || inner.reads.with(query)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only when the runtime is shutting down.
            Err(_) => Err(StoreError::Closed),
        }
    }
}
