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

use std::path::PathBuf;
use std::sync::Arc;

use berth_protocol::{Seq, Timestamp};

/// How hard SQLite syncs on commit (`PRAGMA synchronous`). Default `Full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    Off,
    Normal,
    #[default]
    Full,
    Extra,
}

#[derive(Debug, Clone)]
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
    /// Ignored by `create_session`; filled by reads.
    pub last_seq: Seq,
}

/// A partial update of a session row; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionUpdate {
    pub title: Option<String>,
    /// Only ever moves forward: the store keeps `max(old, new)`.
    pub read_seq: Option<Seq>,
    pub updated_at: Option<Timestamp>,
    pub agent_session_id: Option<Option<String>>,
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
pub struct Store {/* private */}

impl Store {
    /// Open (creating schema and `meta(epoch)` on first use), start the writer thread.
    /// WAL mode, `busy_timeout`, `foreign_keys`; epoch is random hex, kept forever.
    pub fn open(config: StoreConfig) -> Result<Store> {
        unimplemented!()
    }

    /// This store's incarnation id.
    pub fn epoch(&self) -> &str {
        unimplemented!()
    }

    /// Append events of one session (seqs must continue the session's log densely).
    pub async fn append(&self, session_id: &str, events: Vec<StoredEvent>) -> Result<()> {
        unimplemented!()
    }

    pub async fn create_session(&self, row: SessionRow) -> Result<()> {
        unimplemented!()
    }

    pub async fn update_session(&self, session_id: &str, update: SessionUpdate) -> Result<()> {
        unimplemented!()
    }

    /// Remove a session and its events.
    pub async fn delete_session(&self, session_id: &str) -> Result<()> {
        unimplemented!()
    }

    /// Events with `seq > after`, ascending, at most `limit`.
    pub async fn read_events(&self, session_id: &str, after: Seq, limit: usize) -> Result<Vec<StoredEvent>> {
        unimplemented!()
    }

    /// Events with `seq > after` whose kind is one of `kinds`, ascending.
    pub async fn read_events_of_kinds(&self, session_id: &str, kinds: &[&str], after: Seq) -> Result<Vec<StoredEvent>> {
        unimplemented!()
    }

    pub async fn get_session(&self, session_id: &str) -> Result<SessionRow> {
        unimplemented!()
    }

    /// Every session, newest `updated_at` first.
    pub async fn list_sessions(&self) -> Result<Vec<SessionRow>> {
        unimplemented!()
    }

    /// Resolves once every write submitted before it is committed.
    pub async fn flush(&self) -> Result<()> {
        unimplemented!()
    }

    /// Flush, stop the writer thread and wait for it. Later writes fail with `Closed`.
    pub async fn close(&self) -> Result<()> {
        unimplemented!()
    }
}
