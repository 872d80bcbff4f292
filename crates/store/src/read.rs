//! Reads: a small pool of read-only connections and the queries run on them.
//!
//! In WAL mode a reader sees the last committed state and never waits for the
//! writer, so replay and listing stay fast while a batch is being committed.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use berth_protocol::Seq;
use rusqlite::{Connection, OptionalExtension, params};

use crate::codec::{EVENT_COLUMNS, SESSION_COLUMNS, event_from_row, session_from_row};
use crate::schema::open_reader;
use crate::{Result, SessionRow, StoreError, StoredEvent};

/// Idle connections kept for reuse; a burst beyond this opens extra connections
/// that are closed when done.
const MAX_IDLE: usize = 8;

#[derive(Debug)]
pub(crate) struct ReadPool {
    path: PathBuf,
    /// A std mutex: held only to push or pop, never across a query or an await.
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf) -> ReadPool {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Run `query` on a pooled connection. Blocking: call from `spawn_blocking`.
    pub(crate) fn with<T>(&self, query: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.lock().pop();
        let conn = match conn {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        let result = query(&conn);
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result
    }

    /// Close the idle connections.
    pub(crate) fn clear(&self) {
        drop(std::mem::take(&mut *self.lock()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // A panic while holding the lock cannot leave the Vec inconsistent.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn events(
    conn: &Connection,
    session_id: &str,
    after: Seq,
    limit: usize,
) -> Result<Vec<StoredEvent>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE session_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![session_id, after, limit], event_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn last_events(
    conn: &Connection,
    session_id: &str,
    limit: usize,
) -> Result<Vec<StoredEvent>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE session_id = ?1 ORDER BY seq DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![session_id, limit], event_from_row)?;
    let mut events = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    events.reverse();
    Ok(events)
}

pub(crate) fn events_of_kinds(
    conn: &Connection,
    session_id: &str,
    kinds: &[String],
    after: Seq,
) -> Result<Vec<StoredEvent>> {
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    // The kinds travel as one JSON array so a single cached statement serves any
    // number of them.
    let kinds = serde_json::to_string(kinds).expect("a list of strings serialises");
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE session_id = ?1 AND seq > ?2 AND kind IN (SELECT value FROM json_each(?3))
         ORDER BY seq"
    ))?;
    let rows = stmt.query_map(params![session_id, after, kinds], event_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn session(conn: &Connection, session_id: &str) -> Result<SessionRow> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = ?1"
    ))?
    .query_row([session_id], session_from_row)
    .optional()?
    .ok_or_else(|| StoreError::NotFound(session_id.to_owned()))
}

pub(crate) fn sessions(conn: &Connection) -> Result<Vec<SessionRow>> {
    // Ties broken by id: ids are UUID v7, so the later-created session comes first.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s ORDER BY s.updated_at DESC, s.id DESC"
    ))?;
    let rows = stmt.query_map([], session_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
