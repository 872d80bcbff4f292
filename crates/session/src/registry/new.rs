//! Creating a session: its agent, title, working directory (with the agent's policy),
//! slug and artifact directories.

use std::path::Path;

use berth_protocol::Session;
use berth_protocol::rest::CreateSession;
use berth_store::SessionRow;

use std::sync::Arc;

use super::Registry;
use super::cold::{ColdSession, Entry};
use crate::actor::{Actor, validate_title};
use crate::hub::Hub;
use crate::{Placement, SessionError};

impl Registry {
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
        // Under the wake lock: a server that is stopping makes no new actor.
        let stopping = self.inner.waking.lock().await;
        if *stopping {
            return Err(super::stopping_error());
        }
        self.inner.store.create_session(row.clone()).await?;
        let hub = Hub::new(self.inner.config.live_buffer);
        let init = self.actor_init(row, hub.clone(), true);
        if let Placement::Hosts { .. } = self.inner.config.placement {
            // Logged and listed cold: a host starts with its first prompt, not for an
            // empty session.
            let (mut actor, _handle) = Actor::open(init).await?;
            actor.save_summary().await?;
            let summary = actor.summary_now();
            let cold =
                ColdSession::new(summary.clone(), Arc::downgrade(&hub), &self.inner.commands);
            self.inner
                .sessions
                .write()
                .expect("session map lock")
                .insert(summary.id.clone(), Entry::Cold(cold));
            return Ok(summary);
        }
        // A new session is live (it logs `session_created`); it hibernates like any other.
        let handle = self.run(init).await?;
        drop(stopping);
        Ok(handle.summary())
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
