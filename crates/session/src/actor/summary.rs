//! The actor's summary of its session: its status, and the `Session` it publishes (as of
//! the log's last committed event, or of a batch in flight: see `log.rs`).

use berth_protocol::{Seq, Session, Status, Timestamp};
use berth_store::SessionRow;

use super::Actor;
use crate::request::Response;

impl Actor {
    pub(super) fn status(&self) -> Status {
        match &self.turn {
            // Waiting for an agent: one being launched, or a killed one to exit first.
            Some(_) if !self.agent.is_running() || self.agent.is_retiring() => Status::Starting,
            Some(_) if self.prompts.len() > 0 => Status::AwaitingInput,
            Some(_) => Status::Running,
            None => self.rest_status,
        }
    }

    pub(crate) fn summary_now(&self) -> Session {
        self.summary_as_of(self.committed, self.row.updated_at)
    }

    /// The summary once the log ends at `last_seq` (last event at `updated_at`), the
    /// rest as the actor has it now.
    pub(super) fn summary_as_of(&self, last_seq: Seq, updated_at: Timestamp) -> Session {
        Session {
            id: self.id.to_string(),
            slug: self.row.slug.clone(),
            title: self.row.title.clone(),
            agent: self.row.agent.clone(),
            cwd: self.row.cwd.clone(),
            status: self.status(),
            created_at: self.row.created_at,
            updated_at,
            last_seq,
            read_seq: self.row.read_seq,
            unread: last_seq.saturating_sub(self.row.read_seq),
            pending_prompts: self.prompts.len() as u32,
            viewers: self.hub.viewers(),
            agent_running: self.agent.is_running(),
            commands: self.commands.clone(),
            mode: self.mode.clone(),
            usage: self.usage.clone(),
            config: self.offer.clone(),
            pending_config: self.pending_config.clone(),
            queued: self.queued_summary(),
            preview: self.preview.line(),
            archived: self.row.archived,
        }
    }

    pub(super) fn summary_response(&self) -> Response {
        Response::Summary {
            summary: Box::new(self.summary_now()),
        }
    }
}

/// A session's summary from its row alone: the summary columns if any, else what an
/// idle session with this row shows.
pub(crate) fn placeholder_summary(row: &SessionRow) -> Session {
    let columns = row.summary.as_ref();
    Session {
        id: row.id.clone(),
        slug: row.slug.clone(),
        title: row.title.clone(),
        agent: row.agent.clone(),
        cwd: row.cwd.clone(),
        status: columns.map_or(Status::Idle, |c| c.status),
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_seq: row.last_seq,
        read_seq: row.read_seq,
        unread: row.last_seq.saturating_sub(row.read_seq),
        pending_prompts: columns.map_or(0, |c| c.pending_prompts),
        viewers: 0,
        agent_running: false,
        commands: columns.map(|c| c.commands.clone()).unwrap_or_default(),
        mode: columns.and_then(|c| c.mode.clone()),
        usage: columns.and_then(|c| c.usage.clone()),
        config: columns.and_then(|c| c.config.clone()),
        pending_config: columns
            .map(|c| c.pending_config.clone())
            .unwrap_or_default(),
        queued: Vec::new(),
        preview: columns.and_then(|c| c.preview.clone()),
        archived: row.archived,
    }
}
