//! Opening connections, the schema and its migrations, and the store's epoch.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, ffi};

use crate::{Result, StoreError, Synchronous};

/// How long a connection waits on a lock held by another connection (a checkpoint,
/// another process) before giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The write lock is another process's (a session host's commit): try again soon.
/// SQLite's own handler sleeps 1, 2, 5 … up to 100 ms between tries, so a small commit
/// beside busy sessions waited 150–550 ms for a lock each holder keeps a few ms. Steps
/// of 0.1 ms, then 1 ms, give up after about `BUSY_TIMEOUT` like the reader connections.
fn wait_for_write_lock(attempt: i32) -> bool {
    const FINE: i32 = 100;
    const FINE_STEP: Duration = Duration::from_micros(100);
    const STEP: Duration = Duration::from_millis(1);
    let waited = FINE_STEP * attempt.min(FINE) as u32 + STEP * (attempt - FINE).max(0) as u32;
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(if attempt < FINE { FINE_STEP } else { STEP });
    true
}

/// Migration `i` takes the schema from version `i` to `i + 1`. Append only: a
/// released migration is never edited, since databases in the field already ran it.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the initial schema.
    "CREATE TABLE sessions (
        id               TEXT PRIMARY KEY NOT NULL,
        slug             TEXT NOT NULL,
        title            TEXT NOT NULL,
        agent            TEXT NOT NULL,
        cwd              TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL,
        read_seq         INTEGER NOT NULL DEFAULT 0,
        agent_session_id TEXT
    );
    CREATE TABLE events (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        ts         TEXT NOT NULL,
        kind       TEXT NOT NULL,
        data       TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;",
    // 1 -> 2: a session's summary, so a session with no actor (cold) is listed without
    // reading its log. `summary_seq` is the seq the columns were written at: a summary
    // behind the log (the server died while the session was live) is rebuilt from the
    // log on open. `archived` hides a session from the default list.
    "ALTER TABLE sessions ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN summary_seq INTEGER;
    ALTER TABLE sessions ADD COLUMN status TEXT;
    ALTER TABLE sessions ADD COLUMN last_stop TEXT;
    ALTER TABLE sessions ADD COLUMN pending_prompts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN preview TEXT;
    ALTER TABLE sessions ADD COLUMN mode TEXT;
    ALTER TABLE sessions ADD COLUMN commands TEXT;",
    // 2 -> 3: the agent's last usage report (JSON), for the summary of a cold session.
    "ALTER TABLE sessions ADD COLUMN usage TEXT;",
    // 3 -> 4: what the agent offers to choose, and changes waiting for it (JSON).
    "ALTER TABLE sessions ADD COLUMN config TEXT;
    ALTER TABLE sessions ADD COLUMN pending_config TEXT;",
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Open the write connection: create the file (and its directory), switch to WAL,
/// bring the schema up to date and make sure an epoch exists.
pub(crate) fn open_writer(path: &Path, synchronous: Synchronous) -> Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let conn = Connection::open(path)?;
    // Writers of other processes (session hosts) take turns on one write lock.
    conn.busy_handler(Some(wait_for_write_lock))?;
    // `journal_mode` answers with the mode now in force; anything but "wal" means the
    // file system refused it, and without WAL readers would block on the writer.
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(failure(format!("journal_mode is {mode}, WAL is required")));
    }
    conn.pragma_update(None, "synchronous", synchronous_name(synchronous))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    migrate(&conn)?;
    Ok(conn)
}

/// Open a read-only connection to a database `open_writer` has already set up.
pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// The store's epoch, created on first open and never changed afterwards: a cursor
/// from a viewport is only meaningful against the database it was taken from.
pub(crate) fn epoch(conn: &Connection) -> Result<String> {
    let fresh = format!("{:032x}", rand::random::<u128>());
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?1)",
        [&fresh],
    )?;
    let epoch = conn.query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |row| {
        row.get(0)
    })?;
    Ok(epoch)
}

fn synchronous_name(synchronous: Synchronous) -> &'static str {
    match synchronous {
        Synchronous::Off => "OFF",
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
        Synchronous::Extra => "EXTRA",
    }
}

/// Bring the schema to `SCHEMA_VERSION`, one migration per transaction so a crash
/// mid-way leaves a database at some whole version.
fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)",
    )?;
    loop {
        // Read inside the transaction: another process opening the same file at the
        // same moment must not run a migration twice.
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let step = migrate_one(conn);
        match step {
            Ok(true) => conn.execute_batch("COMMIT")?,
            Ok(false) => {
                conn.execute_batch("COMMIT")?;
                return Ok(());
            }
            Err(e) => {
                // The rollback can only fail if the transaction is already gone.
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
}

/// Run the next migration if one is due; `false` when the schema is current.
fn migrate_one(conn: &Connection) -> Result<bool> {
    let version: u32 = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |row| row.get::<_, String>(0),
        )
        .optional()?
        .map(|v| {
            v.parse()
                .map_err(|_| failure(format!("unreadable schema_version {v:?}")))
        })
        .transpose()?
        .unwrap_or(0);
    if version > SCHEMA_VERSION {
        return Err(failure(format!(
            "database schema version {version} is newer than this berth knows ({SCHEMA_VERSION})"
        )));
    }
    let Some(sql) = MIGRATIONS.get(version as usize) else {
        return Ok(false);
    };
    tracing::info!(
        from = version,
        to = version + 1,
        "migrating the event store"
    );
    conn.execute_batch(sql)?;
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
        [(version + 1).to_string()],
    )?;
    Ok(true)
}

/// A store-level failure reported through `StoreError::Sqlite` (the enum is fixed
/// and a bad database file is, to the caller, a SQLite problem).
pub(crate) fn failure(message: String) -> StoreError {
    StoreError::Sqlite(rusqlite::Error::SqliteFailure(
        ffi::Error::new(ffi::SQLITE_ERROR),
        Some(message),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_keeps_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/berth.db");
        let conn = open_writer(&path, Synchronous::Full).unwrap();
        let first = epoch(&conn).unwrap();
        assert_eq!(first.len(), 32);
        drop(conn);

        let conn = open_writer(&path, Synchronous::Normal).unwrap();
        assert_eq!(epoch(&conn).unwrap(), first);
        let version: String = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION.to_string());
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        let conn = open_writer(&path, Synchronous::Full).unwrap();
        conn.execute(
            "UPDATE meta SET value = '999' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        drop(conn);
        let err = open_writer(&path, Synchronous::Full).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
