//! The single writer thread and its group commit.
//!
//! SQLite allows one writer at a time and a commit costs a sync, so every write goes
//! through one thread that folds whatever is queued into one transaction: under load
//! hundreds of writes share a sync, when idle a lone write commits at once (nothing
//! ever waits for a batch to fill). Each write runs under its own savepoint, so a
//! write that fails is undone alone and the rest of its batch still commits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::{Connection, ffi};
use tokio::sync::{mpsc, oneshot};

use crate::write::Write;
use crate::{Result, StoreError};

/// Batch cap when the configuration says 0.
const DEFAULT_MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<()>>;

/// A request to the writer thread. Every one is answered on its `reply` after the
/// transaction holding it has committed (or failed).
#[derive(Debug)]
enum Command {
    Write {
        write: Write,
        reply: Reply,
    },
    /// Answered once everything queued before it is committed.
    Flush {
        reply: Reply,
    },
    /// A flush after which the thread stops taking commands and exits.
    Close {
        reply: Reply,
    },
}

/// Counters of the writer thread, for tests and benchmarks.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed.
    pub transactions: u64,
    /// Writes (appends, session changes) inside committed transactions, failed
    /// ones included.
    pub writes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    transactions: AtomicU64,
    writes: AtomicU64,
}

/// The handle to the writer thread, owned by the store.
#[derive(Debug)]
pub(crate) struct Writer {
    /// `None` only while dropping: the thread ends once every sender is gone.
    tx: Option<mpsc::Sender<Command>>,
    /// Taken by whoever joins the thread (`close` or `Drop`).
    thread: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Start the thread; it owns `conn` from now on.
    pub(crate) fn start(conn: Connection, max_batch: usize) -> Result<Writer> {
        let max_batch = if max_batch == 0 {
            DEFAULT_MAX_BATCH
        } else {
            max_batch
        };
        // Bounded so a burst of writers waits instead of growing memory; room for
        // about two batches keeps the thread fed while the previous one commits.
        let (tx, rx) = mpsc::channel(max_batch.saturating_mul(2).min(1 << 16));
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("berth-store-writer".into())
            .spawn(move || run(conn, rx, max_batch, &thread_counters))?;
        Ok(Writer {
            tx: Some(tx),
            thread: Mutex::new(Some(thread)),
            counters,
        })
    }

    /// Apply `write`; resolves once it is committed (or refused).
    pub(crate) async fn submit(&self, write: Write) -> Result<()> {
        self.request(|reply| Command::Write { write, reply }).await
    }

    pub(crate) async fn flush(&self) -> Result<()> {
        self.request(|reply| Command::Flush { reply }).await
    }

    /// Flush, then stop and join the thread. Closing twice is fine.
    pub(crate) async fn close(&self) -> Result<()> {
        let flushed = match self.request(|reply| Command::Close { reply }).await {
            Err(StoreError::Closed) => Ok(()),
            other => other,
        };
        // A std mutex: held only to take the handle, never across an await.
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // The thread is already on its way out; joining still blocks, so not on
            // a runtime worker.
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!("the store writer thread panicked");
            }
        }
        flushed
    }

    pub(crate) fn stats(&self) -> WriterStats {
        WriterStats {
            transactions: self.counters.transactions.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    async fn request(&self, command: impl FnOnce(Reply) -> Command) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or(StoreError::Closed)?;
        tx.send(command(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        // A dropped reply means the thread stopped before reaching this command.
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

impl Drop for Writer {
    /// The last store clone is gone: let the thread finish what is queued and end.
    fn drop(&mut self) {
        drop(self.tx.take());
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the store writer thread panicked");
        }
    }
}

/// The thread's loop: block for one command, take whatever else is already queued,
/// commit it all in one transaction, answer, repeat.
fn run(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Command>,
    max_batch: usize,
    counters: &Counters,
) {
    let mut batch = Vec::with_capacity(max_batch.min(1024));
    while let Some(first) = rx.blocking_recv() {
        let mut closing = matches!(first, Command::Close { .. });
        batch.push(first);
        while !closing && batch.len() < max_batch {
            let Ok(command) = rx.try_recv() else { break };
            closing = matches!(command, Command::Close { .. });
            batch.push(command);
        }
        if closing {
            // Refuse new commands right away; any still queued are dropped with the
            // receiver and their callers get `Closed`.
            rx.close();
        }
        commit_batch(&mut conn, std::mem::take(&mut batch), counters);
        if closing {
            break;
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the store's write connection");
    }
}

/// Run `batch` in one transaction and answer every command in it.
fn commit_batch(conn: &mut Connection, batch: Vec<Command>, counters: &Counters) {
    let writes = batch
        .iter()
        .filter(|c| matches!(c, Command::Write { .. }))
        .count();
    if writes == 0 {
        // Only flushes: everything before them is already committed.
        answer(batch.into_iter().map(|c| (c, Ok(()))));
        return;
    }
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "store: cannot begin a transaction");
        answer(batch.into_iter().map(|c| (c, Err(shared_error(&e)))));
        return;
    }
    let mut done = Vec::with_capacity(batch.len());
    let mut commands = batch.into_iter();
    let mut broken = None;
    for command in commands.by_ref() {
        let outcome = match &command {
            Command::Write { write, .. } => match apply_in_savepoint(conn, write) {
                Ok(outcome) => outcome,
                Err(e) => {
                    broken = Some(e);
                    done.push((command, Ok(())));
                    break;
                }
            },
            Command::Flush { .. } | Command::Close { .. } => Ok(()),
        };
        done.push((command, outcome));
    }
    let end = match broken {
        // A savepoint could not be rolled back, so the transaction may hold half a
        // write: nothing of this batch may commit.
        Some(e) => Err(e),
        None => conn.execute_batch("COMMIT"),
    };
    match end {
        Ok(()) => {
            counters.transactions.fetch_add(1, Ordering::Relaxed);
            counters.writes.fetch_add(writes as u64, Ordering::Relaxed);
            answer(done);
        }
        Err(e) => {
            tracing::error!(error = %e, "store: a batch failed to commit");
            // Fails harmlessly if SQLite already rolled the transaction back.
            let _ = conn.execute_batch("ROLLBACK");
            let all = done.into_iter().chain(commands.map(|c| (c, Ok(()))));
            // Writes refused on their own keep their reason; the rest share the
            // batch's failure, since none of it reached the disk.
            answer(all.map(|(c, outcome)| {
                let outcome = outcome.and_then(|()| Err(shared_error(&e)));
                (c, outcome)
            }));
        }
    }
}

/// Apply one write under a savepoint. The inner result is the write's own outcome
/// (its effects undone if it failed); the outer error means the savepoint itself
/// failed and the transaction can no longer be trusted.
fn apply_in_savepoint(conn: &Connection, write: &Write) -> rusqlite::Result<Result<()>> {
    conn.prepare_cached("SAVEPOINT berth_write")?.execute([])?;
    let outcome = write.apply(conn);
    if outcome.is_err() {
        conn.prepare_cached("ROLLBACK TO berth_write")?
            .execute([])?;
    }
    conn.prepare_cached("RELEASE berth_write")?.execute([])?;
    Ok(outcome)
}

fn answer(outcomes: impl IntoIterator<Item = (Command, Result<()>)>) {
    for (command, outcome) in outcomes {
        let (Command::Write { reply, .. } | Command::Flush { reply } | Command::Close { reply }) =
            command;
        // The caller may have stopped waiting; the write stands all the same.
        let _ = reply.send(outcome);
    }
}

/// One batch-wide SQLite error, repeated for each caller (`rusqlite::Error` is not
/// `Clone`); the code and message survive.
fn shared_error(e: &rusqlite::Error) -> StoreError {
    let copy = match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            ffi::Error::new(ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    };
    StoreError::Sqlite(copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::open_writer;
    use crate::{SessionRow, StoredEvent, Synchronous};
    use chrono::Utc;

    fn session(id: &str) -> Write {
        let now = Utc::now();
        Write::CreateSession {
            row: Box::new(SessionRow {
                id: id.into(),
                slug: id.into(),
                title: String::new(),
                agent: "demo".into(),
                cwd: "/".into(),
                created_at: now,
                updated_at: now,
                read_seq: 0,
                agent_session_id: None,
                archived: false,
                summary: None,
                last_seq: 0,
            }),
        }
    }

    fn append(id: &str, seqs: std::ops::RangeInclusive<u64>) -> Write {
        Write::Append {
            session_id: id.into(),
            events: seqs
                .map(|seq| StoredEvent {
                    seq,
                    ts: Utc::now(),
                    kind: "message".into(),
                    data: format!("{{\"seq\":{seq}}}").into(),
                })
                .collect(),
        }
    }

    /// Build a batch by hand so the failing write is certainly in the same
    /// transaction as the good ones.
    fn run_batch(conn: &mut Connection, writes: Vec<Write>) -> Vec<Result<()>> {
        let counters = Counters::default();
        let mut answers = Vec::new();
        let batch = writes
            .into_iter()
            .map(|write| {
                let (reply, answer) = oneshot::channel();
                answers.push(answer);
                Command::Write { write, reply }
            })
            .collect();
        commit_batch(conn, batch, &counters);
        assert_eq!(counters.transactions.load(Ordering::Relaxed), 1);
        answers
            .into_iter()
            .map(|mut a| a.try_recv().expect("answered"))
            .collect()
    }

    fn count(conn: &Connection, id: &str) -> u64 {
        conn.query_row(
            "SELECT COUNT(*) FROM events WHERE session_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn a_failed_write_is_undone_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_writer(&dir.path().join("b.db"), Synchronous::Full).unwrap();
        let outcomes = run_batch(
            &mut conn,
            vec![
                session("a"),
                append("a", 1..=3),
                session("b"),
                append("a", 4..=5),
                append("b", 1..=1),
                // Seq 5 again: refused, and nothing of it may survive.
                append("a", 5..=6),
                append("nope", 1..=1),
                session("a"),
                append("a", 6..=6),
            ],
        );
        assert!(outcomes[0].is_ok() && outcomes[1].is_ok() && outcomes[2].is_ok());
        assert!(outcomes[3].is_ok() && outcomes[4].is_ok());
        assert!(
            matches!(&outcomes[5], Err(StoreError::SeqConflict { session, seq: 5 }) if session == "a"),
            "{:?}",
            outcomes[5]
        );
        assert!(matches!(&outcomes[6], Err(StoreError::NotFound(id)) if id == "nope"));
        assert!(matches!(&outcomes[7], Err(StoreError::Sqlite(_))));
        assert!(outcomes[8].is_ok());
        assert_eq!(count(&conn, "a"), 6);
        assert_eq!(count(&conn, "b"), 1);
    }

    #[test]
    fn a_partly_inserted_append_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_writer(&dir.path().join("b.db"), Synchronous::Full).unwrap();
        // Make the second row of an append fail after the first went in.
        conn.execute_batch(
            "CREATE TEMP TRIGGER boom BEFORE INSERT ON events WHEN NEW.seq = 2 AND NEW.kind = 'message'
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
        let outcomes = run_batch(
            &mut conn,
            vec![session("a"), append("a", 1..=3), append("a", 1..=1)],
        );
        assert!(outcomes[0].is_ok());
        assert!(
            matches!(&outcomes[1], Err(StoreError::Sqlite(e)) if e.to_string().contains("boom"))
        );
        // Seq 1 of the failed append was rolled back, so seq 1 is free again.
        assert!(outcomes[2].is_ok(), "{:?}", outcomes[2]);
        assert_eq!(count(&conn, "a"), 1);
    }
}
