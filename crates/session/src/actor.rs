//! The session actor: one task per session, the single owner of its runtime state.
//!
//! Every change goes the same way (`actor/log.rs`): a handler `emit`s events, a commit
//! assigns seqs and appends them to the store in one batch, and only then are they
//! broadcast (invariant 1), released to the agent and, for a request, answered. Agent
//! events that queue up while a batch is written are folded into the next one, so a
//! fast stream costs one store round trip per batch, and the actor's parsing overlaps
//! the store's writing.
//!
//! An actor lives while its session needs one: it is woken (`Registry::get_or_wake`)
//! by what needs the log or the agent, and once it has had no agent, no turn and no
//! request for `actor_linger`, it writes its summary columns and hands its place in the
//! registry back to a cold record (`Registry::hibernate`). Its agent, in
//! `actor/agent.rs`, is stopped before that by the idle timeout, the slot limit or the
//! user.

mod agent;
mod config;
mod log;
mod queue;
mod summary;

pub(crate) use self::summary::placeholder_summary;

use std::path::PathBuf;
use std::sync::Arc;

use berth_protocol::{
    AgentCommand, AgentConfig, Attachment, ConfigChange, Event, ExitReason, Outcome, Resolution,
    Seq, Status, StopReason, Usage,
};
use berth_store::{SessionRow, SessionUpdate, Store, SummaryColumns};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::agent::Agent;
use crate::catalog::AgentEntry;
use crate::committed::Committed;
use crate::config::SessionConfig;
use crate::handle::{Delivered, Message, Reply, SessionHandle};
use crate::hub::Hub;
use crate::preview::Preview;
use crate::prompts::{Pending, Prompts};
use crate::registry::{Hibernation, RegistryRef};
use crate::request::{Request, Response};
use crate::slots::Slots;
use crate::summary::{SummaryBus, SummaryPublisher};
use crate::{SessionError, repair};

/// Everything needed to bring one session to life.
pub(crate) struct ActorInit {
    pub row: SessionRow,
    pub store: Store,
    pub config: Arc<SessionConfig>,
    pub entry: Option<AgentEntry>,
    pub bus: SummaryBus,
    pub artifacts: PathBuf,
    /// A brand-new session: its log starts with `session_created`.
    pub created: bool,
    pub hub: Arc<Hub>,
    pub slots: Slots,
    /// Where the actor goes when its session goes cold.
    pub home: Home,
    /// Who left a turn open if the log has one (the repair's words).
    pub left_open_by: LeftOpenBy,
}

/// Where an actor lives, which decides what going cold means.
pub(crate) enum Home {
    /// Opened only to repair its session: never run, never hibernates.
    Repair,
    /// A task of the server: hibernating hands its registry entry to a cold record.
    Registry(RegistryRef),
    /// The actor of a session host: hibernating ends the host.
    Host(crate::host::HostHome),
}

/// Who ran a session whose log has a turn open: a repair says so in the turn's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeftOpenBy {
    Server,
    Host,
}

impl LeftOpenBy {
    fn words(self) -> &'static str {
        match self {
            LeftOpenBy::Server => "the server restarted while this turn was running",
            LeftOpenBy::Host => "the session host exited while this turn was running",
        }
    }
}

struct Turn {
    id: String,
    text: String,
    /// Sent with the prompt (`uploads.rs`).
    attachments: Vec<Attachment>,
    cancel_requested: bool,
    cancel_deadline: Option<Instant>,
}

/// A message for the agent that must wait until the events behind it are committed.
enum ToAgent {
    /// The answer to a permission request or question.
    Answer(oneshot::Sender<Outcome>, Outcome),
    /// `session/prompt` for the running turn.
    Prompt,
    /// Not for the agent but held back the same way: the answer to a config change the
    /// agent agreed to, sent once what its answer caused is committed.
    Configured(Reply),
}

/// How many of its last events a loaded session reads to rebuild its preview line (and
/// its last activity time).
const PREVIEW_EVENTS: usize = 256;

pub(crate) struct Actor {
    id: Arc<str>,
    row: SessionRow,
    store: Store,
    config: Arc<SessionConfig>,
    entry: Option<AgentEntry>,
    artifacts: PathBuf,
    rx: mpsc::Receiver<Message>,
    /// Last committed (and broadcast) seq.
    committed: Seq,
    /// Emitted, not yet committed (nor in flight).
    pending: Vec<log::Emitted>,
    /// The batch the store is writing (`actor/log.rs`).
    in_flight: Option<log::InFlight>,
    /// After a failed commit: when to try again.
    retry_commit_at: Option<Instant>,
    live: Option<broadcast::Sender<Arc<Committed>>>,
    hub: Arc<Hub>,
    summary: SummaryPublisher,
    /// Status when no turn runs: `Idle`, `Error` or `Stopped`.
    rest_status: Status,
    /// How the last closed turn ended (a summary column).
    last_stop: Option<StopReason>,
    agent: Agent,
    slots: Slots,
    home: Home,
    left_open_by: LeftOpenBy,
    /// Since when nothing has kept this actor awake (see `can_sleep`).
    quiet_since: Option<Instant>,
    turn: Option<Turn>,
    prompts: Prompts,
    /// Agent processes being stopped; awaited before the actor ends.
    kills: JoinSet<()>,
    /// Held back until the next commit: the agent, too, only hears of what is logged.
    to_agent: Vec<ToAgent>,
    exit: bool,
    /// Its server stopped (`Request::Detach`): go cold as soon as nothing needs it.
    detached: bool,
    /// Summary state the agent announced (kept across restarts through the log).
    commands: Vec<AgentCommand>,
    mode: Option<String>,
    usage: Option<Usage>,
    /// What the agent offers to choose (its last `config_changed`), and the changes
    /// waiting for it to start (`actor/config.rs`).
    offer: Option<AgentConfig>,
    pending_config: Vec<ConfigChange>,
    /// Changes sent to the agent, by ticket, until it answers.
    configuring: std::collections::HashMap<u64, config::Waiting>,
    next_ticket: u64,
    /// The turn's prompt waits for the changes made as the agent started.
    prompt_after_config: bool,
    /// Turns waiting behind the running one (`actor/queue.rs`).
    queue: std::collections::VecDeque<queue::Queued>,
    preview: Preview,
}

impl Actor {
    /// Load a session, close what a previous server left open, and return the actor
    /// (to be run) and its handle. Returns only after the repair is committed.
    pub(crate) async fn open(init: ActorInit) -> Result<(Actor, SessionHandle), SessionError> {
        let id: Arc<str> = init.row.id.as_str().into();
        let (tx, rx) = mpsc::channel(init.config.command_queue.max(1));
        let placeholder = placeholder_summary(&init.row);
        let (watch_tx, watch_rx) = watch::channel(placeholder);
        let summary = SummaryPublisher::new(watch_tx, init.bus);
        let mut actor = Actor {
            id: id.clone(),
            committed: init.row.last_seq,
            row: init.row,
            store: init.store,
            config: init.config,
            entry: init.entry,
            artifacts: init.artifacts,
            rx,
            pending: Vec::new(),
            in_flight: None,
            retry_commit_at: None,
            live: init.hub.sender(),
            hub: init.hub.clone(),
            summary,
            rest_status: Status::Idle,
            last_stop: None,
            agent: Agent::Cold,
            slots: init.slots,
            home: init.home,
            left_open_by: init.left_open_by,
            quiet_since: None,
            turn: None,
            prompts: Prompts::default(),
            kills: JoinSet::new(),
            to_agent: Vec::new(),
            exit: false,
            detached: false,
            commands: Vec::new(),
            mode: None,
            usage: None,
            offer: None,
            pending_config: Vec::new(),
            configuring: Default::default(),
            next_ticket: 0,
            prompt_after_config: false,
            queue: Default::default(),
            preview: Preview::default(),
        };
        if init.created {
            actor.emit(Event::SessionCreated {
                agent: actor.row.agent.clone(),
                cwd: actor.row.cwd.clone(),
                title: actor.row.title.clone(),
            });
        } else {
            actor.repair().await?;
        }
        actor.flush().await?;
        actor.summary.update(actor.summary_now());
        if init.created {
            actor.summary.announce();
        }
        let handle = SessionHandle {
            id,
            tx,
            summary: watch_rx,
            hub: init.hub,
        };
        Ok((actor, handle))
    }

    /// Invariant 8: a turn the previous server left open is closed in the log and its
    /// prompts are resolved as cancelled, since no agent is behind them any more.
    async fn repair(&mut self) -> Result<(), SessionError> {
        let logged = repair::load(&self.store, &self.id).await?;
        self.commands = logged.commands;
        self.mode = logged.mode;
        self.usage = logged.usage;
        self.offer = logged.config;
        self.pending_config = logged.pending_config;
        match self
            .row
            .summary
            .as_ref()
            .filter(|c| c.at_seq == self.committed)
        {
            // Columns written at the last seq (a cold session waking) already hold the
            // preview and, in the row, the last activity: no need to read the log's tail.
            Some(columns) => self.preview = Preview::from_line(columns.preview.clone()),
            None => self.rebuild_preview().await?,
        }
        for resolution in logged.resolutions {
            self.prompts.remember(resolution);
        }
        for prompt_id in logged.unresolved {
            self.record_resolution(prompt_id, Outcome::cancelled());
        }
        self.last_stop = logged.last_stop;
        self.rest_status = match (self.row.summary.as_ref(), logged.last_stop) {
            // A summary written at this seq is the status as the actor left it.
            (Some(columns), _) if columns.at_seq == self.committed => columns.status,
            _ if logged.stopped => Status::Stopped,
            (_, Some(StopReason::Error)) => Status::Error,
            _ => Status::Idle,
        };
        // A queue the log shows unfinished went with the actor that held it.
        for turn_id in logged.queued {
            self.emit(Event::TurnUnqueued {
                turn_id,
                reason: berth_protocol::UnqueueReason::Cancelled,
            });
        }
        if let Some(turn_id) = logged.open_turn {
            tracing::info!(session = %self.id, %turn_id, by = ?self.left_open_by, "closing a turn left open");
            self.emit(Event::TurnEnded {
                turn_id,
                stop_reason: StopReason::Error,
                error: Some(self.left_open_by.words().into()),
            });
            self.rest_status = Status::Error;
            self.last_stop = Some(StopReason::Error);
        }
        Ok(())
    }

    /// The preview line and last activity time from the log's last events.
    async fn rebuild_preview(&mut self) -> Result<(), SessionError> {
        let tail = self
            .store
            .read_last_events(&self.id, PREVIEW_EVENTS)
            .await?;
        // `updated_at` follows the log: the last event's time is the last activity.
        if let Some(last) = tail.last() {
            self.row.updated_at = self.row.updated_at.max(last.ts);
        }
        for stored in tail {
            if let Ok(event) = serde_json::from_str::<Event>(&stored.data) {
                self.preview.apply(&event);
            }
        }
        Ok(())
    }

    pub(crate) async fn run(mut self) {
        while !self.exit {
            let quiet = self.can_sleep();
            self.quiet_since = match self.quiet_since {
                _ if !quiet => None,
                Some(since) => Some(since),
                None => Some(Instant::now()),
            };
            let wake = self.next_wake();
            tokio::select! {
                message = self.rx.recv() => match message {
                    Some(message) => {
                        self.quiet_since = None;
                        self.on_message(message).await;
                    }
                    None => self.shutdown().await,
                },
                news = agent::next(&mut self.agent) => match news {
                    agent::News::Event(event) => {
                        self.on_agent_event(event);
                        self.drain_agent();
                    }
                    agent::News::Started(started) => self.on_started(started).await,
                    agent::News::Eviction => self.on_eviction(),
                },
                result = log::landed(&mut self.in_flight) => {
                    if let Err(error) = self.commit_landed(result) {
                        tracing::error!(session = %self.id, %error, "could not commit events; trying again");
                    }
                }
                _ = self.hub.viewers_changed.notified() => {}
                _ = sleep_until(wake) => self.on_wake().await,
            }
            // Ingest overlaps commit: this starts the next batch and does not wait.
            self.pump();
            self.sync_idle();
            // The summary follows the log: with a batch in flight (or waiting to be
            // retried) the one to publish is that batch's, when it lands. A deleted
            // session publishes nothing more: a summary sent after the registry's
            // `session_deleted` would bring it back in sidebars.
            if !self.exit && self.in_flight.is_none() && self.pending.is_empty() {
                self.summary.update(self.summary_now());
            }
        }
        while self.kills.join_next().await.is_some() {}
    }

    /// Nothing needs this actor: no agent, no turn, nothing uncommitted.
    fn can_sleep(&mut self) -> bool {
        while self.kills.try_join_next().is_some() {}
        !matches!(self.home, Home::Repair)
            && self.agent.is_cold()
            && self.turn.is_none()
            && self.log_settled()
            && self.kills.is_empty()
    }

    /// Write the summary columns and give the registry entry back to a cold record.
    async fn hibernate(&mut self) {
        if let Err(error) = self.save_summary().await {
            tracing::warn!(session = %self.id, %error, "could not save the summary; staying awake");
            self.quiet_since = None;
            return;
        }
        let summary = self.summary_now();
        let slept = match &self.home {
            Home::Repair => return,
            Home::Registry(registry) => registry.hibernate(&self.id, &mut self.rx, summary),
            Home::Host(host) => host.hibernate(&mut self.rx, summary),
        };
        match slept {
            Hibernation::Slept => {
                tracing::debug!(session = %self.id, "hibernating");
                self.exit = true;
                // Requests that were being sent as the channel closed are handed back
                // unhandled: their senders send them to the session's next actor.
                while let Some(Message::Request(request, reply)) = self.rx.recv().await {
                    let _ = reply.send(Delivered::Returned(request));
                }
            }
            Hibernation::Busy => self.quiet_since = None,
            Hibernation::Gone => self.exit = true,
        }
    }

    /// The summary columns, so a cold session is listed as this actor would show it.
    pub(crate) async fn save_summary(&mut self) -> Result<(), SessionError> {
        let columns = SummaryColumns {
            at_seq: self.committed,
            status: self.status(),
            last_stop: self.last_stop,
            pending_prompts: self.prompts.len() as u32,
            preview: self.preview.line(),
            mode: self.mode.clone(),
            commands: self.commands.clone(),
            usage: self.usage.clone(),
            config: self.offer.clone(),
            pending_config: self.pending_config.clone(),
        };
        let update = SessionUpdate {
            updated_at: Some(self.row.updated_at),
            summary: Some(columns.clone()),
            ..Default::default()
        };
        self.store.update_session(&self.id, update).await?;
        self.row.summary = Some(columns);
        Ok(())
    }

    // ----- requests -------------------------------------------------------------

    async fn on_message(&mut self, message: Message) {
        match message {
            // Answered when the agent has (`actor/config.rs`), not here.
            Message::Request(Request::Configure { change }, reply) => {
                self.configure(change, reply).await;
            }
            Message::Request(request, reply) => {
                let mut result = self.on_request(request).await;
                // Append, then answer: the caller learns of nothing that is not committed.
                if let Err(error) = self.flush().await {
                    result = Err(error);
                }
                if let Ok(Response::Summary { summary }) = &mut result {
                    **summary = self.summary_now();
                }
                let _ = reply.send(Delivered::Answer(result));
            }
        }
    }

    async fn on_request(&mut self, request: Request) -> Result<Response, SessionError> {
        match request {
            Request::Prompt {
                text,
                queue,
                attachments,
            } => self.start_turn(text, queue, attachments),
            Request::Unqueue { turn_id } => {
                self.unqueue(&turn_id)?;
                Ok(self.summary_response())
            }
            Request::Cancel => self.cancel_turn(),
            Request::Respond { prompt_id, answer } => {
                let pending = self.prompts.take_for_answer(&prompt_id, &answer)?;
                let resolution = self.resolve(prompt_id, pending, answer.into_outcome());
                Ok(Response::Resolved { resolution })
            }
            Request::MarkRead { seq } => {
                let seq = seq.min(self.committed);
                if seq > self.row.read_seq {
                    self.row.read_seq = seq;
                    let update = SessionUpdate {
                        read_seq: Some(seq),
                        ..Default::default()
                    };
                    self.store.update_session(&self.id, update).await?;
                }
                Ok(self.summary_response())
            }
            Request::Rename { title } => {
                let title = validate_title(&title)?;
                if title != self.row.title {
                    self.row.title = title.clone();
                    let update = SessionUpdate {
                        title: Some(title.clone()),
                        ..Default::default()
                    };
                    self.store.update_session(&self.id, update).await?;
                    self.emit(Event::TitleChanged { title });
                }
                Ok(self.summary_response())
            }
            Request::SetArchived { archived } => {
                if archived != self.row.archived {
                    let update = SessionUpdate {
                        archived: Some(archived),
                        ..Default::default()
                    };
                    self.store.update_session(&self.id, update).await?;
                    self.row.archived = archived;
                }
                Ok(self.summary_response())
            }
            Request::Stop => {
                self.stop_by_user();
                Ok(self.summary_response())
            }
            Request::Detach => {
                // The server is stopping: an idle agent goes (and with it, after the
                // linger, this session's host); a running turn carries on alone.
                // Stopped as a server shutdown stops agents: quietly, so a restart does
                // not log (and reorder sessions by) an exit nobody asked for.
                if self.turn.is_none() {
                    self.stop_agent().await;
                }
                self.detached = true;
                Ok(Response::Done)
            }
            Request::Configure { .. } => unreachable!("`on_message` hands it to `configure`"),
            Request::PendingPrompts => Ok(Response::Prompts {
                prompts: self.prompts.list(&self.id),
            }),
            Request::Delete => {
                self.stop_agent().await;
                self.abandon_log().await;
                self.store.delete_session(&self.id).await?;
                crate::registry::remove_artifacts(&self.id, &self.artifacts).await;
                self.exit = true;
                Ok(Response::Done)
            }
            Request::Shutdown => {
                self.shutdown().await;
                Ok(Response::Done)
            }
        }
    }

    fn start_turn(
        &mut self,
        text: String,
        queue: bool,
        attachments: Vec<Attachment>,
    ) -> Result<Response, SessionError> {
        if text.trim().is_empty() {
            return Err(SessionError::BadRequest("`text` must not be empty".into()));
        }
        if self.turn.is_some() {
            if queue {
                return self.queue_turn(text, attachments);
            }
            return Err(SessionError::Conflict(
                "a turn is already running in this session; wait for it to end, cancel it, \
                 or send with `queue` to run it next"
                    .into(),
            ));
        }
        let turn_id = new_id();
        self.begin_turn(turn_id.clone(), text, attachments)?;
        Ok(Response::TurnStarted { turn_id })
    }

    /// Start turn `turn_id` now (none runs): log the user's message and the turn's
    /// start, and get the prompt to the agent (starting it if need be).
    fn begin_turn(
        &mut self,
        turn_id: String,
        text: String,
        attachments: Vec<Attachment>,
    ) -> Result<(), SessionError> {
        if self.agent.is_cold() {
            let entry = self.entry.as_ref().ok_or_else(|| {
                SessionError::Unavailable(format!(
                    "agent `{}` is not configured on this server",
                    self.row.agent
                ))
            })?;
            if let Err(reason) = entry.availability() {
                return Err(SessionError::Unavailable(format!(
                    "agent `{}` cannot be started: {reason}",
                    self.row.agent
                )));
            }
        }
        self.emit(Event::UserMessage {
            turn_id: turn_id.clone(),
            text: text.clone(),
            attachments: attachments.clone(),
        });
        self.emit(Event::TurnStarted {
            turn_id: turn_id.clone(),
        });
        self.turn = Some(Turn {
            id: turn_id.clone(),
            text,
            attachments,
            cancel_requested: false,
            cancel_deadline: None,
        });
        match &self.agent {
            Agent::Up(_) => self.to_agent.push(ToAgent::Prompt),
            Agent::Cold => self.start_agent(),
            // Being stopped: the turn goes to a fresh agent, started once this one has
            // exited (`on_agent_exit`). Starting: it gets the turn once up.
            Agent::Retiring { .. } | Agent::Starting(_) => {}
        }
        Ok(())
    }

    fn cancel_turn(&mut self) -> Result<Response, SessionError> {
        let Some(turn) = self.turn.as_mut() else {
            return Err(SessionError::Conflict(
                "no turn is running in this session".into(),
            ));
        };
        if turn.cancel_requested {
            return Ok(Response::Done);
        }
        turn.cancel_requested = true;
        // What was queued behind it goes with it; what is queued from now on waits for
        // the cancel to land, then runs.
        self.cancel_queue();
        // ACP: a client that cancels answers every pending permission request `cancelled`.
        for (prompt_id, pending) in self.prompts.take_all() {
            self.resolve(prompt_id, pending, Outcome::cancelled());
        }
        // An agent still answering the start-up config has not had the prompt: there is
        // nothing for it to cancel (it would never answer), so the turn ends now.
        if !self.prompt_after_config && self.cancel_agent() {
            let deadline = Instant::now() + self.config.cancel_grace;
            if let Some(turn) = self.turn.as_mut() {
                turn.cancel_deadline = Some(deadline);
            }
        } else {
            // Still starting (or no agent): nothing to tell; the turn ends now and the
            // agent, once up, stays idle.
            self.end_turn(StopReason::Cancelled, None);
        }
        Ok(Response::Done)
    }

    /// `POST /stop`: end the running turn (cancelled, its prompts too) and stop the
    /// agent; the session shows `stopped`. With no agent it changes nothing.
    fn stop_by_user(&mut self) {
        if self.agent.is_cold() {
            return;
        }
        // A stop takes the queue too: the user wants the agent to stop working.
        self.cancel_queue();
        if let Some(turn) = self.turn.as_mut() {
            turn.cancel_requested = true;
            self.end_turn(
                StopReason::Cancelled,
                Some("the agent was stopped by the user".into()),
            );
        }
        match std::mem::replace(&mut self.agent, Agent::Cold) {
            Agent::Cold => {}
            // Nothing to say goodbye to yet: dropping the start kills what it spawned.
            Agent::Starting(task) => task.abort(),
            Agent::Up(running) => {
                self.agent = Agent::Up(running);
                self.retire_agent(Some(ExitReason::User));
            }
            // Already being stopped: from now on it is the user's stop.
            Agent::Retiring { running, .. } => {
                self.agent = Agent::Retiring {
                    running,
                    reason: Some(ExitReason::User),
                };
            }
        }
        // Shown at once, not only when the exit has been seen.
        self.rest_status = Status::Stopped;
    }

    async fn shutdown(&mut self) {
        // Nobody will be there to run them.
        self.cancel_queue();
        if self.turn.is_some() {
            self.end_turn(
                StopReason::Error,
                Some("the server shut down while this turn was running".into()),
            );
        }
        if let Err(error) = self.flush().await {
            tracing::error!(session = %self.id, %error, "could not commit events at shutdown");
        }
        self.stop_agent().await;
        // Next start lists this session from its columns, without reading its log.
        if let Err(error) = self.save_summary().await {
            tracing::warn!(session = %self.id, %error, "could not save the summary at shutdown");
        }
        self.summary.update(self.summary_now());
        self.exit = true;
    }

    // ----- turns and prompts ----------------------------------------------------

    fn end_turn(&mut self, reason: StopReason, error: Option<String>) {
        let Some(turn) = self.turn.take() else {
            return;
        };
        for (prompt_id, pending) in self.prompts.take_all() {
            self.resolve(prompt_id, pending, Outcome::cancelled());
        }
        self.emit(Event::TurnEnded {
            turn_id: turn.id,
            stop_reason: reason,
            error,
        });
        self.rest_status = if reason == StopReason::Error {
            Status::Error
        } else {
            Status::Idle
        };
        self.last_stop = Some(reason);
        self.after_turn(reason, turn.cancel_requested);
    }

    /// Resolve a prompt taken out of the table: log it, remember it, tell the agent.
    fn resolve(&mut self, prompt_id: String, pending: Pending, outcome: Outcome) -> Resolution {
        if let Some(reply) = pending.reply {
            self.to_agent.push(ToAgent::Answer(reply, outcome.clone()));
        }
        self.record_resolution(prompt_id, outcome)
    }

    fn record_resolution(&mut self, prompt_id: String, outcome: Outcome) -> Resolution {
        self.emit(Event::PromptResolved {
            prompt_id: prompt_id.clone(),
            outcome: outcome.clone(),
        });
        let resolved_at = self
            .pending
            .last()
            .map(|emitted| emitted.ts)
            .unwrap_or_else(chrono::Utc::now);
        let resolution = Resolution {
            prompt_id,
            outcome,
            resolved_at,
        };
        self.prompts.remember(resolution.clone());
        resolution
    }

    /// How long a quiet actor stays before it goes cold: none once its server detached
    /// (nobody is there to send it anything soon).
    fn linger(&self) -> std::time::Duration {
        if self.detached {
            std::time::Duration::ZERO
        } else {
            self.config.actor_linger
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let cancel = self.turn.as_ref().and_then(|t| t.cancel_deadline);
        let idle = self.agent.idle_deadline(self.config.agent_idle);
        let sleep = self.quiet_since.map(|since| since + self.linger());
        let retry = self.retry_commit_at;
        [cancel, self.prompts.next_deadline(), idle, sleep, retry]
            .into_iter()
            .flatten()
            .min()
    }

    async fn on_wake(&mut self) {
        let now = Instant::now();
        self.on_idle_deadline(now);
        if self
            .quiet_since
            .is_some_and(|since| since + self.linger() <= now)
            && self.can_sleep()
        {
            self.hibernate().await;
            return;
        }
        if self
            .turn
            .as_ref()
            .and_then(|t| t.cancel_deadline)
            .is_some_and(|d| d <= now)
        {
            self.retire_agent(None);
            self.end_turn(
                StopReason::Cancelled,
                Some("the agent did not stop in time after cancel; its process was killed".into()),
            );
        }
        for (prompt_id, pending) in self.prompts.take_expired(now) {
            tracing::info!(session = %self.id, %prompt_id, "prompt timed out; resolved as cancelled");
            self.resolve(prompt_id, pending, Outcome::cancelled());
        }
    }
}

/// Titles: trimmed, non-empty, at most 200 characters.
pub(crate) fn validate_title(title: &str) -> Result<String, SessionError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(SessionError::BadRequest("`title` must not be empty".into()));
    }
    if title.chars().count() > 200 {
        return Err(SessionError::BadRequest(
            "`title` is longer than 200 characters".into(),
        ));
    }
    Ok(title.to_owned())
}

/// Time-ordered unique ids (UUID v7) for turns and prompts.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
