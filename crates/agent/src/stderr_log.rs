//! The agent's stderr log: a file with a size cap that rotates, keeping [`KEPT`] older
//! files (`agent.stderr.log.1` is the newer, `.2` the older), fed by a task that always
//! drains the agent's stderr pipe, whatever happens to the file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt};

/// Default size cap of one log file. The log is for a human chasing why an agent
/// misbehaved: 8 MiB holds hours of a chatty agent's output and any crash with its
/// lead-up, still opens at once in `less` or an editor, and bounds a session's logs at
/// 24 MiB (current file plus [`KEPT`]) however much the agent writes.
pub(crate) const CAP: u64 = 8 * 1024 * 1024;

/// How many rotated files are kept besides the current one.
const KEPT: usize = 2;

/// Copy `stderr` into `log` until EOF (when the agent and every descendant that
/// inherited its stderr have closed it). Reading never stops early, even when the log
/// cannot be written: a full pipe would block the agent, a closed one kill it (SIGPIPE).
///
/// Writes happen inline, not on the blocking pool: they are small appends to a local
/// file, and a blocking thread would be tied to a pipe a descendant may hold open
/// forever (and hold up the runtime's shutdown). Inline also means that what was read
/// from the pipe is in the file.
pub(crate) async fn copy(mut stderr: impl AsyncRead + Unpin, mut log: StderrLog) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        match stderr.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => log.write(&buf[..n]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                // Not seen on a pipe in practice; retrying could spin forever.
                tracing::warn!(%error, "cannot read the agent's stderr any more");
                return;
            }
        }
    }
}

/// A rotating log file that never fails its writer: once writing fails it warns once and
/// drops everything after (the next agent process opens the log afresh).
pub(crate) struct StderrLog {
    /// `None` once writing failed.
    file: Option<LogFile>,
}

struct LogFile {
    path: PathBuf,
    cap: u64,
    file: File,
    /// Bytes in `file`.
    len: u64,
    /// Where the line being written starts in `file` (just past its last newline).
    line_start: u64,
}

impl StderrLog {
    /// Open `path` for appending (creating it and its directory), first rotating it if
    /// it is already at or over `cap` bytes.
    pub(crate) fn open(path: &Path, cap: u64) -> io::Result<StderrLog> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        // A zero cap could never take a byte.
        let cap = cap.max(1);
        let mut file = open_append(path)?;
        let mut len = file.metadata()?.len();
        if len >= cap {
            shift(path)?;
            file = open_append(path)?;
            len = 0;
        }
        Ok(StderrLog {
            file: Some(LogFile {
                path: path.to_owned(),
                cap,
                file,
                len,
                // What an earlier process left ends where it ends: it writes no more.
                line_start: len,
            }),
        })
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        let Some(log) = &mut self.file else { return };
        if let Err(error) = log.write(bytes) {
            tracing::warn!(
                path = %log.path.display(),
                %error,
                "cannot write the agent's stderr log; dropping the rest of its stderr"
            );
            self.file = None;
        }
    }
}

impl LogFile {
    /// Append `bytes`, rotating before the file would pass the cap. Whole lines stay
    /// together; only a line longer than the cap is split.
    fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let room = usize::try_from(self.cap - self.len).unwrap_or(usize::MAX);
            if bytes.len() <= room {
                return self.append(bytes);
            }
            if let Some(end) = bytes[..room].iter().rposition(|&b| b == b'\n') {
                // The lines that fit end this file; the rest starts the next one.
                self.append(&bytes[..=end])?;
                bytes = &bytes[end + 1..];
                self.rotate(Vec::new())?;
            } else if self.line_start > 0 {
                // The line in progress does not fit: it moves to the next file with
                // what of it was already written (pipe reads split lines anywhere).
                let started = self.take_line()?;
                self.rotate(started)?;
            } else {
                // The line has the file to itself and still does not fit: split it.
                self.append(&bytes[..room])?;
                bytes = &bytes[room..];
                self.rotate(Vec::new())?;
            }
        }
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        if let Some(end) = bytes.iter().rposition(|&b| b == b'\n') {
            self.line_start = self.len + end as u64 + 1;
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Cut the line in progress out of the file and return it.
    fn take_line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = vec![0; usize::try_from(self.len - self.line_start).unwrap_or(0)];
        self.file.read_exact_at(&mut line, self.line_start)?;
        self.file.set_len(self.line_start)?;
        self.len = self.line_start;
        Ok(line)
    }

    /// Shift the files down and start a fresh one with `start` in it.
    fn rotate(&mut self, start: Vec<u8>) -> io::Result<()> {
        shift(&self.path)?;
        self.file = open_append(&self.path)?;
        self.len = 0;
        self.line_start = 0;
        self.append(&start)
    }
}

/// `path.2` is dropped, `path.1` becomes `path.2`, `path` becomes `path.1`.
fn shift(path: &Path) -> io::Result<()> {
    for n in (1..KEPT).rev() {
        match std::fs::rename(rotated(path, n), rotated(path, n + 1)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    std::fs::rename(path, rotated(path, 1))
}

fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn open_append(path: &Path) -> io::Result<File> {
    // Read too: a line in progress is read back when it moves to the next file.
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;

    use super::*;

    /// Upper bound for any single wait; generous for loaded CI machines.
    const WAIT: Duration = Duration::from_secs(30);

    fn read(path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    /// The current file and the rotated ones, newest first; `None` for a missing one.
    fn files(path: &Path) -> [Option<String>; 4] {
        [
            read(path),
            read(&rotated(path, 1)),
            read(&rotated(path, 2)),
            read(&rotated(path, 3)),
        ]
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    fn lines(range: std::ops::RangeInclusive<u32>) -> String {
        range.map(|n| format!("L{n:02}\n")).collect()
    }

    #[test]
    fn rotates_at_the_cap_and_keeps_two_old_files() {
        // Twenty 4-byte lines, five to a 22-byte file: written line by line, in one
        // go, or in 7-byte pieces that split lines everywhere, they land the same way.
        let all = lines(1..=20);
        let pieces: [Vec<&[u8]>; 3] = [
            all.as_bytes().chunks(4).collect(),
            vec![all.as_bytes()],
            all.as_bytes().chunks(7).collect(),
        ];
        for writes in pieces {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("logs/agent.stderr.log");
            let mut log = StderrLog::open(&path, 22).unwrap();
            for bytes in &writes {
                log.write(bytes);
            }
            assert_eq!(
                files(&path),
                [
                    some(&lines(16..=20)),
                    some(&lines(11..=15)),
                    some(&lines(6..=10)),
                    None
                ],
                "{} writes",
                writes.len()
            );
        }
    }

    #[test]
    fn a_line_in_progress_moves_whole_to_the_next_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.stderr.log");
        let mut log = StderrLog::open(&path, 10).unwrap();
        for bytes in ["12345\n", "ab", "cdef\n"] {
            log.write(bytes.as_bytes());
        }
        assert_eq!(
            files(&path),
            [some("abcdef\n"), some("12345\n"), None, None]
        );
    }

    #[test]
    fn only_a_line_longer_than_the_cap_is_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.stderr.log");
        let mut log = StderrLog::open(&path, 10).unwrap();
        log.write(b"ok\n");
        log.write(b"0123456789abcdefghij");
        log.write(b"0123\n");
        assert_eq!(
            files(&path),
            [some("0123\n"), some("abcdefghij"), some("0123456789"), None]
        );
    }

    #[test]
    fn a_file_at_or_over_the_cap_is_rotated_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.stderr.log");
        std::fs::write(rotated(&path, 1), "older\n").unwrap();
        std::fs::write(&path, "0123456789").unwrap();
        let mut log = StderrLog::open(&path, 10).unwrap();
        log.write(b"new\n");
        assert_eq!(
            files(&path),
            [some("new\n"), some("0123456789"), some("older\n"), None]
        );

        // Under the cap, it is appended to.
        let mut log = StderrLog::open(&path, 10).unwrap();
        log.write(b"more\n");
        assert_eq!(
            files(&path),
            [
                some("new\nmore\n"),
                some("0123456789"),
                some("older\n"),
                None
            ]
        );
    }

    /// Write 1 MiB through `copy` into `log` over a tiny pipe: `copy` must take all of
    /// it (the writer finishes) and end at EOF.
    async fn drains(log: StderrLog) {
        let (mut agent, stderr) = tokio::io::duplex(64);
        let task = tokio::spawn(copy(stderr, log));
        let line = [b'x'; 1023].into_iter().chain([b'\n']).collect::<Vec<_>>();
        for _ in 0..1024 {
            tokio::time::timeout(WAIT, agent.write_all(&line))
                .await
                .expect("stderr is not being drained")
                .unwrap();
        }
        drop(agent);
        tokio::time::timeout(WAIT, task)
            .await
            .expect("copy did not end at EOF")
            .unwrap();
    }

    #[tokio::test]
    async fn a_full_disk_does_not_stop_the_drain() {
        // Every write to /dev/full fails with ENOSPC.
        drains(StderrLog::open(Path::new("/dev/full"), CAP).unwrap()).await;
    }

    #[tokio::test]
    async fn a_removed_log_directory_does_not_stop_the_drain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/agent.stderr.log");
        let log = StderrLog::open(&path, 4096).unwrap();
        std::fs::remove_dir_all(dir.path().join("logs")).unwrap();
        // Writes go to the unlinked file until the first rotation fails.
        drains(log).await;
        assert!(!dir.path().join("logs").exists());
    }

    #[test]
    fn a_descendant_holding_stderr_does_not_hold_up_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.stderr.log");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // `descendant` keeps the pipe's write end open past the runtime's end.
        let descendant = runtime.block_on(async {
            let (descendant, stderr) = tokio::net::unix::pipe::pipe().unwrap();
            tokio::spawn(copy(stderr, StderrLog::open(&path, CAP).unwrap()));
            descendant
        });
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(runtime);
            let _ = done_tx.send(());
        });
        done.recv_timeout(WAIT)
            .expect("the runtime waited for the stderr copy");
        drop(descendant);
    }
}
