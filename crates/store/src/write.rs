//! The writes the store accepts and the SQL each runs. The writer thread calls
//! [`Write::apply`] inside its batch transaction, one savepoint per write.

use rusqlite::{Connection, OptionalExtension, params};

use crate::codec::{name_to_text, ts_to_text};
use crate::{Result, SessionRow, SessionUpdate, StoreError, StoredEvent, SummaryColumns};

/// One mutation, as submitted by a [`crate::Store`] method.
#[derive(Debug)]
pub(crate) enum Write {
    Append {
        session_id: String,
        events: Vec<StoredEvent>,
    },
    CreateSession {
        /// Boxed, like `update` below: rare writes should not make every write large.
        row: Box<SessionRow>,
    },
    UpdateSession {
        session_id: String,
        /// Boxed: with its summary columns it would make every queued write large.
        update: Box<SessionUpdate>,
    },
    DeleteSession {
        session_id: String,
    },
}

impl Write {
    pub(crate) fn apply(&self, conn: &Connection) -> Result<()> {
        match self {
            Write::Append { session_id, events } => append(conn, session_id, events),
            Write::CreateSession { row } => create_session(conn, row),
            Write::UpdateSession { session_id, update } => update_session(conn, session_id, update),
            Write::DeleteSession { session_id } => delete_session(conn, session_id),
        }
    }
}

fn append(conn: &Connection, session_id: &str, events: &[StoredEvent]) -> Result<()> {
    let last: Option<u64> = conn
        .prepare_cached(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?1)
             FROM sessions WHERE id = ?1",
        )?
        .query_row([session_id], |row| row.get(0))
        .optional()?;
    let Some(last) = last else {
        return Err(StoreError::NotFound(session_id.to_owned()));
    };
    // The log must stay dense (1, 2, 3, …): a viewport resuming "after N" relies on
    // N+1 being the very next event, so a gap or a reused seq is refused outright.
    for (i, event) in events.iter().enumerate() {
        if Some(event.seq) != last.checked_add(1 + i as u64) {
            return Err(StoreError::SeqConflict {
                session: session_id.to_owned(),
                seq: event.seq,
            });
        }
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO events (session_id, seq, ts, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for event in events {
        insert.execute(params![
            session_id,
            event.seq,
            ts_to_text(&event.ts),
            event.kind,
            &*event.data
        ])?;
    }
    Ok(())
}

fn create_session(conn: &Connection, row: &SessionRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sessions
            (id, slug, title, agent, cwd, created_at, updated_at, read_seq, agent_session_id,
             archived)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        row.id,
        row.slug,
        row.title,
        row.agent,
        row.cwd,
        ts_to_text(&row.created_at),
        ts_to_text(&row.updated_at),
        row.read_seq,
        row.agent_session_id,
        row.archived,
    ])?;
    Ok(())
}

fn update_session(conn: &Connection, session_id: &str, update: &SessionUpdate) -> Result<()> {
    // NULL parameters mean "leave as is"; `agent_session_id` needs a separate flag
    // because setting it to NULL is itself a meaningful update.
    let changed = conn
        .prepare_cached(
            "UPDATE sessions SET
                title            = COALESCE(?2, title),
                read_seq         = MAX(read_seq, COALESCE(?3, read_seq)),
                updated_at       = COALESCE(?4, updated_at),
                agent_session_id = CASE WHEN ?5 THEN ?6 ELSE agent_session_id END,
                archived         = COALESCE(?7, archived)
             WHERE id = ?1",
        )?
        .execute(params![
            session_id,
            update.title,
            update.read_seq,
            update.updated_at.as_ref().map(ts_to_text),
            update.agent_session_id.is_some(),
            update.agent_session_id.as_ref().and_then(Option::as_deref),
            update.archived,
        ])?;
    if changed == 0 {
        return Err(StoreError::NotFound(session_id.to_owned()));
    }
    if let Some(summary) = &update.summary {
        write_summary(conn, session_id, summary)?;
    }
    Ok(())
}

fn write_summary(conn: &Connection, session_id: &str, summary: &SummaryColumns) -> Result<()> {
    let commands = if summary.commands.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&summary.commands).expect("commands serialise"))
    };
    conn.prepare_cached(
        "UPDATE sessions SET summary_seq = ?2, status = ?3, last_stop = ?4,
            pending_prompts = ?5, preview = ?6, mode = ?7, commands = ?8, usage = ?9,
            config = ?10, pending_config = ?11
         WHERE id = ?1",
    )?
    .execute(params![
        session_id,
        summary.at_seq,
        name_to_text(&summary.status),
        summary.last_stop.as_ref().map(name_to_text),
        summary.pending_prompts,
        summary.preview,
        summary.mode,
        commands,
        summary
            .usage
            .as_ref()
            .map(|usage| serde_json::to_string(usage).expect("usage serialises")),
        summary
            .config
            .as_ref()
            .map(|config| serde_json::to_string(config).expect("config serialises")),
        (!summary.pending_config.is_empty()).then(|| {
            serde_json::to_string(&summary.pending_config).expect("changes serialise")
        }),
    ])?;
    Ok(())
}

fn delete_session(conn: &Connection, session_id: &str) -> Result<()> {
    // Explicit rather than relying on ON DELETE CASCADE alone, so the events go even
    // if a connection ever runs without `foreign_keys`.
    conn.prepare_cached("DELETE FROM events WHERE session_id = ?1")?
        .execute([session_id])?;
    let deleted = conn
        .prepare_cached("DELETE FROM sessions WHERE id = ?1")?
        .execute([session_id])?;
    if deleted == 0 {
        return Err(StoreError::NotFound(session_id.to_owned()));
    }
    Ok(())
}
