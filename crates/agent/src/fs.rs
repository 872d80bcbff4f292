//! The agent's `fs/read_text_file` and `fs/write_text_file`, confined to the session's
//! working directory.
//!
//! Confinement is decided on canonical paths, so `..` components and symlinks that point
//! out of the directory are both caught. The check and the file operation are not atomic:
//! a process that can already write inside the directory could swap a component for a
//! symlink in between. That process could do the damage itself, so this guards against
//! confused agents, not against local attackers.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use agent_client_protocol as acp;

/// Why a file request was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FsError {
    #[error("{0} is outside the session's working directory")]
    Outside(PathBuf),
    #[error("{0} does not exist")]
    NotFound(PathBuf),
    #[error("{0} is a directory")]
    IsDirectory(PathBuf),
    #[error("{0} is not UTF-8 text")]
    NotText(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl FsError {
    fn io(path: &Path, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::NotFound {
            FsError::NotFound(path.to_owned())
        } else {
            FsError::Io {
                path: path.to_owned(),
                source,
            }
        }
    }

    /// The JSON-RPC error the agent receives.
    pub(crate) fn into_acp(self) -> acp::Error {
        let code = match self {
            FsError::NotFound(_) => acp::ErrorCode::RESOURCE_NOT_FOUND,
            FsError::Io { .. } => acp::ErrorCode::INTERNAL_ERROR,
            _ => acp::ErrorCode::INVALID_PARAMS,
        };
        acp::Error::new(code, self.to_string())
    }
}

/// `path` made absolute against `root` (ACP requires absolute paths; a relative one is
/// read as relative to the session directory rather than to the server's).
fn absolute(root: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        root.join(path)
    }
}

/// The canonical path of an existing file inside `root` (itself canonical).
pub(crate) fn resolve_existing(root: &Path, path: &Path) -> Result<PathBuf, FsError> {
    let requested = absolute(root, path);
    let canonical = std::fs::canonicalize(&requested).map_err(|e| FsError::io(&requested, e))?;
    if canonical.starts_with(root) {
        Ok(canonical)
    } else {
        Err(FsError::Outside(requested))
    }
}

/// Where a write to `path` lands, checked to be inside `root` (itself canonical), and
/// the directories that must be created first (`Some(dir)` when some are missing).
///
/// The longest existing prefix of the path is canonicalised and must lie inside `root`;
/// the missing rest may contain only plain names (no `..`), so it cannot climb out.
pub(crate) fn resolve_for_write(
    root: &Path,
    path: &Path,
) -> Result<(PathBuf, Option<PathBuf>), FsError> {
    let requested = absolute(root, path);
    let mut existing = requested.clone();
    let mut missing: Vec<OsString> = Vec::new();
    while existing.symlink_metadata().is_err() {
        match existing.components().next_back() {
            Some(Component::Normal(name)) => missing.push(name.to_owned()),
            // `..`, `.` or the root itself: nothing sensible to create.
            _ => return Err(FsError::Outside(requested)),
        }
        existing.pop();
    }
    let canonical = std::fs::canonicalize(&existing).map_err(|e| FsError::io(&existing, e))?;
    if !canonical.starts_with(root) {
        return Err(FsError::Outside(requested));
    }
    if missing.is_empty() {
        if canonical.is_dir() {
            return Err(FsError::IsDirectory(requested));
        }
        return Ok((canonical, None));
    }
    let mut target = canonical;
    for name in missing.iter().rev() {
        target.push(name);
    }
    let create = (missing.len() > 1)
        .then(|| target.parent().map(Path::to_owned))
        .flatten();
    Ok((target, create))
}

/// `fs/read_text_file`: the file's text, or `limit` lines from 1-based `line`.
pub(crate) fn read_text(
    root: &Path,
    path: &Path,
    line: Option<u32>,
    limit: Option<u32>,
) -> Result<String, FsError> {
    let file = resolve_existing(root, path)?;
    if file.is_dir() {
        return Err(FsError::IsDirectory(file));
    }
    let bytes = std::fs::read(&file).map_err(|e| FsError::io(&file, e))?;
    let text = String::from_utf8(bytes).map_err(|_| FsError::NotText(file))?;
    Ok(slice_lines(&text, line, limit))
}

/// `fs/write_text_file`: create or replace the file, creating missing directories.
pub(crate) fn write_text(root: &Path, path: &Path, content: &str) -> Result<(), FsError> {
    let (file, create) = resolve_for_write(root, path)?;
    if let Some(dir) = create {
        std::fs::create_dir_all(&dir).map_err(|e| FsError::io(&dir, e))?;
    }
    std::fs::write(&file, content).map_err(|e| FsError::io(&file, e))
}

/// Lines `line..line+limit` (1-based), keeping their line endings.
fn slice_lines(text: &str, line: Option<u32>, limit: Option<u32>) -> String {
    if line.is_none() && limit.is_none() {
        return text.to_owned();
    }
    let skip = line.map_or(0, |l| l.saturating_sub(1) as usize);
    let take = limit.map_or(usize::MAX, |l| l as usize);
    text.split_inclusive('\n').skip(skip).take(take).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dirs {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        outside: PathBuf,
    }

    fn dirs() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        let root = base.join("work");
        let outside = base.join("secret");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("src/main.rs"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(outside.join("key"), "hunter2").unwrap();
        Dirs {
            _tmp: tmp,
            root,
            outside,
        }
    }

    #[test]
    fn reads_inside_the_root() {
        let d = dirs();
        assert_eq!(
            read_text(&d.root, &d.root.join("src/main.rs"), None, None).unwrap(),
            "one\ntwo\nthree\n"
        );
        assert_eq!(
            read_text(&d.root, Path::new("src/main.rs"), Some(2), Some(1)).unwrap(),
            "two\n"
        );
        assert_eq!(
            read_text(&d.root, &d.root.join("src/../src/main.rs"), Some(3), None).unwrap(),
            "three\n"
        );
    }

    #[test]
    fn rejects_dot_dot_escapes() {
        let d = dirs();
        let escape = d.root.join("../secret/key");
        assert!(matches!(
            read_text(&d.root, &escape, None, None),
            Err(FsError::Outside(_))
        ));
        assert!(matches!(
            read_text(&d.root, &d.outside.join("key"), None, None),
            Err(FsError::Outside(_))
        ));
        assert!(matches!(
            write_text(&d.root, &escape, "x"),
            Err(FsError::Outside(_))
        ));
        assert!(matches!(
            write_text(&d.root, &d.root.join("new/../../secret/x"), "x"),
            Err(FsError::Outside(_))
        ));
        assert_eq!(
            std::fs::read_to_string(d.outside.join("key")).unwrap(),
            "hunter2"
        );
    }

    #[test]
    fn rejects_symlinks_pointing_out() {
        let d = dirs();
        std::os::unix::fs::symlink(&d.outside, d.root.join("link")).unwrap();
        std::os::unix::fs::symlink(d.outside.join("key"), d.root.join("key-link")).unwrap();
        assert!(matches!(
            read_text(&d.root, &d.root.join("link/key"), None, None),
            Err(FsError::Outside(_))
        ));
        assert!(matches!(
            read_text(&d.root, &d.root.join("key-link"), None, None),
            Err(FsError::Outside(_))
        ));
        assert!(matches!(
            write_text(&d.root, &d.root.join("link/new"), "x"),
            Err(FsError::Outside(_))
        ));
        assert!(matches!(
            write_text(&d.root, &d.root.join("key-link"), "x"),
            Err(FsError::Outside(_))
        ));
        assert_eq!(
            std::fs::read_to_string(d.outside.join("key")).unwrap(),
            "hunter2"
        );
        assert!(!d.outside.join("new").exists());
    }

    #[test]
    fn writes_inside_the_root_creating_directories() {
        let d = dirs();
        write_text(&d.root, &d.root.join("src/main.rs"), "replaced").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.root.join("src/main.rs")).unwrap(),
            "replaced"
        );
        write_text(&d.root, &d.root.join("a/b/c.txt"), "deep").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.root.join("a/b/c.txt")).unwrap(),
            "deep"
        );
        assert!(matches!(
            write_text(&d.root, &d.root.join("src"), "x"),
            Err(FsError::IsDirectory(_))
        ));
    }

    #[test]
    fn missing_files_are_not_found() {
        let d = dirs();
        assert!(matches!(
            read_text(&d.root, &d.root.join("nope.txt"), None, None),
            Err(FsError::NotFound(_))
        ));
    }
}
