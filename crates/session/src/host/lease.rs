//! A session host's lease: `<data dir>/hosts/<session id>.lock`, held with an exclusive
//! `flock` for the host's whole life.
//!
//! Why a lock and not a pid file: "is a host alive for this session" must not be fooled
//! by a reused pid or a file left by a host killed with -9; the kernel drops the lock
//! with the process, whatever killed it. The directory lists every host that may be
//! alive, so a starting server checks those few files instead of every session. The
//! pid inside is for people (`cat`, `kill`), never trusted by berth.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lease of `session` under `data_dir`.
pub fn lease_path(data_dir: &Path, session: &str) -> PathBuf {
    data_dir.join("hosts").join(format!("{session}.lock"))
}

/// Held by the one host of a session; dropping it removes the file, then unlocks.
#[derive(Debug)]
pub struct Lease {
    file: File,
    path: PathBuf,
}

impl Lease {
    /// Take the lease at `path`, waiting up to `wait` for a previous host (one that is
    /// exiting) to let go. Blocking: call it off the runtime's threads.
    pub fn acquire(path: &Path, wait: Duration) -> io::Result<Lease> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let deadline = Instant::now() + wait;
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!("another session host holds {}", path.display()),
                    ));
                }
                Err(std::fs::TryLockError::Error(error)) => return Err(error),
            }
            // The previous holder removes the file before it unlocks: the file locked
            // here may be one that no longer has this name. Only the named one counts.
            if !names(path, &file) {
                continue;
            }
            let mut lease = Lease {
                file,
                path: path.to_owned(),
            };
            lease.file.set_len(0)?;
            writeln!(lease.file, "{}", std::process::id())?;
            return Ok(lease);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Removed while still locked: a waiter that opened this file sees it unnamed.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `path` still names the file `file` is open on.
fn names(path: &Path, file: &File) -> bool {
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(named), Ok(open)) => named.dev() == open.dev() && named.ino() == open.ino(),
        _ => false,
    }
}

/// Whether a live process holds the lease at `path` (a missing file: no).
pub fn is_held(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// Remove the lease at `path` if no process holds it (its host died with -9); `true` if
/// it was stale.
pub fn remove_if_stale(path: &Path) -> bool {
    let Ok(file) = OpenOptions::new().read(true).write(true).open(path) else {
        return false;
    };
    if file.try_lock().is_err() || !names(path, &file) {
        return false;
    }
    std::fs::remove_file(path).is_ok()
}

/// Session ids of every lease file under `data_dir` (held or not).
pub fn list(data_dir: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(data_dir.join("hosts")) else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let name = entry.ok()?.file_name().into_string().ok()?;
        let id = name.strip_suffix(".lock")?;
        is_session_id(id).then(|| id.to_owned())
    })
    .collect()
}

/// Session ids are UUIDs: nothing else may name a lease, a socket or a process.
pub fn is_session_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The pid a lease file names (for `berth stop --all` and tests; the lock is the truth).
pub fn pid_of(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_stale_files_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = lease_path(dir.path(), "0190-ab");
        assert!(!is_held(&path));
        let lease = Lease::acquire(&path, Duration::ZERO).unwrap();
        assert!(is_held(&path));
        assert_eq!(pid_of(&path), Some(std::process::id()));
        assert_eq!(list(dir.path()), ["0190-ab"]);
        let err = Lease::acquire(&path, Duration::from_millis(50)).unwrap_err();
        assert!(err.to_string().contains("another session host"), "{err}");
        assert!(!remove_if_stale(&path), "a held lease is not stale");
        drop(lease);
        assert!(!path.exists(), "the holder removes its file");
        // A file nobody holds (its host was killed with -9) is stale.
        std::fs::write(&path, "12345\n").unwrap();
        assert!(!is_held(&path));
        assert!(remove_if_stale(&path));
        assert!(list(dir.path()).is_empty());
    }

    #[test]
    fn a_waiter_gets_the_lease_once_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = lease_path(dir.path(), "0190-cd");
        let lease = Lease::acquire(&path, Duration::ZERO).unwrap();
        let waiter = std::thread::spawn({
            let path = path.clone();
            move || Lease::acquire(&path, Duration::from_secs(10))
        });
        drop(lease);
        let second = waiter.join().unwrap().expect("the waiter gets it");
        assert!(is_held(&path));
        drop(second);
    }

    #[test]
    fn only_uuid_like_ids_name_leases() {
        assert!(is_session_id("0196f1c2-7b3a-7c4d-9e8f-0123456789ab"));
        for bad in ["", "../etc", "a/b", "x.lock", "id with space"] {
            assert!(!is_session_id(bad), "{bad}");
        }
    }
}
