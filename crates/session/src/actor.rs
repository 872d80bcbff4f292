//! The session actor: one task per session, the single owner of its runtime state.
//!
//! Every change goes the same way: a handler `emit`s events (assigning nothing yet),
//! `flush` assigns seqs, commits them to the store in one append, and only then
//! broadcasts them (invariant 1) and answers the request that caused them. Agent
//! events that are already queued are folded into the same commit, so a fast stream
//! costs one store round trip per batch, not per event.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use berth_agent::{AgentError, AgentEvent, AgentLink, LinkConfig};
use berth_protocol::{
    AgentCommand, Event, Outcome, Resolution, Seq, Session, Status, StopReason, Timestamp,
};
use berth_store::{SessionRow, SessionUpdate, Store};
use bytes::Bytes;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::catalog::AgentEntry;
use crate::committed::Committed;
use crate::config::SessionConfig;
use crate::handle::{Message, SessionHandle};
use crate::preview::Preview;
use crate::prompts::{Pending, Prompts};
use crate::request::{Request, Response};
use crate::subscription::{Attachment, Subscription, ViewerGuard};
use crate::summary::SummaryPublisher;
use crate::{SessionError, repair};

/// Everything needed to bring one session to life.
pub(crate) struct ActorInit {
    pub row: SessionRow,
    pub store: Store,
    pub config: Arc<SessionConfig>,
    pub entry: Option<AgentEntry>,
    pub bus: broadcast::Sender<Bytes>,
    pub epoch: Arc<str>,
    pub artifacts: PathBuf,
    /// A brand-new session: its log starts with `session_created`.
    pub created: bool,
}

struct AgentState {
    link: AgentLink,
    rx: mpsc::Receiver<AgentEvent>,
    /// We asked it to stop, so its exit is not a failure.
    stopping: bool,
}

struct Turn {
    id: String,
    text: String,
    cancel_requested: bool,
    cancel_deadline: Option<Instant>,
}

/// A message for the agent that must wait until the events behind it are committed.
enum ToAgent {
    /// The answer to a permission request or question.
    Answer(oneshot::Sender<Outcome>, Outcome),
    /// `session/prompt` for the running turn.
    Prompt,
}

/// How many of its last events a loaded session reads to rebuild its preview line (and
/// its last activity time).
const PREVIEW_EVENTS: usize = 256;

type Starting = JoinHandle<(Result<AgentLink, AgentError>, mpsc::Receiver<AgentEvent>)>;

pub(crate) struct Actor {
    id: Arc<str>,
    row: SessionRow,
    store: Store,
    config: Arc<SessionConfig>,
    entry: Option<AgentEntry>,
    epoch: Arc<str>,
    artifacts: PathBuf,
    rx: mpsc::Receiver<Message>,
    /// Last committed (and broadcast) seq.
    committed: Seq,
    /// Emitted, not yet committed.
    pending: Vec<(Timestamp, Event)>,
    live: broadcast::Sender<Arc<Committed>>,
    summary: SummaryPublisher,
    viewers: Arc<AtomicU32>,
    viewers_changed: Arc<Notify>,
    /// Status when no turn runs: `Idle`, `Error` or `Stopped`.
    rest_status: Status,
    agent: Option<AgentState>,
    starting: Option<Starting>,
    turn: Option<Turn>,
    prompts: Prompts,
    /// Agent processes being stopped; awaited before the actor ends.
    kills: JoinSet<()>,
    /// Held back until the next commit: the agent, too, only hears of what is logged.
    to_agent: Vec<ToAgent>,
    exit: bool,
    /// Summary state the agent announced (kept across restarts through the log).
    commands: Vec<AgentCommand>,
    mode: Option<String>,
    preview: Preview,
}

impl Actor {
    /// Load a session, close what a previous server left open, and return the actor
    /// (to be run) and its handle. Returns only after the repair is committed.
    pub(crate) async fn open(init: ActorInit) -> Result<(Actor, SessionHandle), SessionError> {
        let id: Arc<str> = init.row.id.as_str().into();
        let (tx, rx) = mpsc::channel(init.config.command_queue.max(1));
        let (live, _) = broadcast::channel(init.config.live_buffer.max(16));
        let placeholder = placeholder_summary(&init.row);
        let (watch_tx, watch_rx) = watch::channel(placeholder);
        let summary = SummaryPublisher::new(watch_tx, init.bus, init.config.summary_interval);
        let mut actor = Actor {
            id: id.clone(),
            committed: init.row.last_seq,
            row: init.row,
            store: init.store,
            config: init.config,
            entry: init.entry,
            epoch: init.epoch,
            artifacts: init.artifacts,
            rx,
            pending: Vec::new(),
            live,
            summary,
            viewers: Arc::new(AtomicU32::new(0)),
            viewers_changed: Arc::new(Notify::new()),
            rest_status: Status::Idle,
            agent: None,
            starting: None,
            turn: None,
            prompts: Prompts::default(),
            kills: JoinSet::new(),
            to_agent: Vec::new(),
            exit: false,
            commands: Vec::new(),
            mode: None,
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
        };
        Ok((actor, handle))
    }

    /// Invariant 8: a turn the previous server left open is closed in the log and its
    /// prompts are resolved as cancelled, since no agent is behind them any more.
    async fn repair(&mut self) -> Result<(), SessionError> {
        let logged = repair::load(&self.store, &self.id).await?;
        self.commands = logged.commands;
        self.mode = logged.mode;
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
        for resolution in logged.resolutions {
            self.prompts.remember(resolution);
        }
        for prompt_id in logged.unresolved {
            self.record_resolution(prompt_id, Outcome::cancelled());
        }
        self.rest_status = match logged.last_stop {
            Some(StopReason::Error) => Status::Error,
            _ => Status::Idle,
        };
        if let Some(turn_id) = logged.open_turn {
            tracing::info!(session = %self.id, %turn_id, "closing a turn the previous server left open");
            self.emit(Event::TurnEnded {
                turn_id,
                stop_reason: StopReason::Error,
                error: Some("the server restarted while this turn was running".into()),
            });
            self.rest_status = Status::Error;
        }
        Ok(())
    }

    pub(crate) async fn run(mut self) {
        while !self.exit {
            let wake = self.next_wake();
            tokio::select! {
                message = self.rx.recv() => match message {
                    Some(message) => self.on_message(message).await,
                    None => self.shutdown().await,
                },
                event = recv_agent(&mut self.agent) => {
                    self.on_agent_event(event);
                    self.drain_agent();
                }
                started = join_start(&mut self.starting) => {
                    self.starting = None;
                    self.on_started(started).await;
                }
                _ = self.viewers_changed.notified() => {}
                _ = sleep_until(wake) => self.on_wake(),
            }
            if let Err(error) = self.flush().await {
                tracing::error!(session = %self.id, %error, "could not commit events");
            }
            // A deleted session publishes nothing more: a summary sent after the
            // registry's `session_deleted` would bring it back in sidebars.
            if !self.exit {
                self.summary.update(self.summary_now());
            }
        }
        while self.kills.join_next().await.is_some() {}
    }

    // ----- requests -------------------------------------------------------------

    async fn on_message(&mut self, message: Message) {
        match message {
            Message::Request(request, reply) => {
                let mut result = self.on_request(request).await;
                // Append, then answer: the caller learns of nothing that is not committed.
                if let Err(error) = self.flush().await {
                    result = Err(error);
                }
                if let Ok(Response::Summary { summary }) = &mut result {
                    **summary = self.summary_now();
                }
                let _ = reply.send(result);
            }
            Message::Attach {
                after,
                epoch,
                reply,
            } => self.on_attach(after, epoch, reply).await,
        }
    }

    async fn on_request(&mut self, request: Request) -> Result<Response, SessionError> {
        match request {
            Request::Prompt { text } => self.start_turn(text),
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
            Request::PendingPrompts => Ok(Response::Prompts {
                prompts: self.prompts.list(&self.id),
            }),
            Request::Delete => {
                self.stop_agent().await;
                self.pending.clear();
                self.to_agent.clear();
                self.store.delete_session(&self.id).await?;
                if let Err(error) = tokio::fs::remove_dir_all(&self.artifacts).await
                    && error.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(session = %self.id, %error, "could not remove artifact directory");
                }
                self.exit = true;
                Ok(Response::Done)
            }
            Request::Shutdown => {
                self.shutdown().await;
                Ok(Response::Done)
            }
        }
    }

    fn start_turn(&mut self, text: String) -> Result<Response, SessionError> {
        if self.turn.is_some() {
            return Err(SessionError::Conflict(
                "a turn is already running in this session; wait for it to end or cancel it".into(),
            ));
        }
        if text.trim().is_empty() {
            return Err(SessionError::BadRequest("`text` must not be empty".into()));
        }
        if self.agent.is_none() && self.starting.is_none() {
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
        let turn_id = new_id();
        self.emit(Event::UserMessage {
            turn_id: turn_id.clone(),
            text: text.clone(),
        });
        self.emit(Event::TurnStarted {
            turn_id: turn_id.clone(),
        });
        self.turn = Some(Turn {
            id: turn_id.clone(),
            text,
            cancel_requested: false,
            cancel_deadline: None,
        });
        match &self.agent {
            // Being killed (it ignored a cancel): the turn goes to a fresh agent, started
            // once this one has exited (`on_agent_exit`).
            Some(agent) if agent.stopping => {}
            Some(_) => self.to_agent.push(ToAgent::Prompt),
            None if self.starting.is_none() => self.start_agent(),
            None => {}
        }
        Ok(Response::TurnStarted { turn_id })
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
        // ACP: a client that cancels answers every pending permission request `cancelled`.
        for (prompt_id, pending) in self.prompts.take_all() {
            self.resolve(prompt_id, pending, Outcome::cancelled());
        }
        match &self.agent {
            Some(agent) if self.starting.is_none() && !agent.stopping => {
                if let Err(error) = agent.link.cancel() {
                    tracing::warn!(session = %self.id, %error, "session/cancel failed; the deadline will kill the agent");
                }
                let deadline = Instant::now() + self.config.cancel_grace;
                if let Some(turn) = self.turn.as_mut() {
                    turn.cancel_deadline = Some(deadline);
                }
            }
            // Still starting (or no agent): nothing to tell; the turn ends now and the
            // agent, once up, stays idle.
            _ => self.end_turn(StopReason::Cancelled, None),
        }
        Ok(Response::Done)
    }

    async fn on_attach(
        &mut self,
        after: Seq,
        epoch: Option<String>,
        reply: oneshot::Sender<Attachment>,
    ) {
        // Everything committed is broadcast by now, so the receiver made below sees
        // exactly the events after `self.committed`.
        if let Err(error) = self.flush().await {
            tracing::error!(session = %self.id, %error, "could not commit events before attach");
        }
        let foreign_epoch = epoch.as_deref().is_some_and(|e| e != &*self.epoch);
        if foreign_epoch || after > self.committed {
            let _ = reply.send(Attachment::Reset {
                epoch: self.epoch.to_string(),
            });
            return;
        }
        self.viewers.fetch_add(1, Ordering::SeqCst);
        let guard = ViewerGuard {
            viewers: self.viewers.clone(),
            changed: self.viewers_changed.clone(),
        };
        let subscription = Subscription::new(
            self.id.clone(),
            self.store.clone(),
            self.live.subscribe(),
            after,
            (self.config.replay_page, self.config.live_batch),
            guard,
        );
        let summary = self.summary_now();
        self.summary.update(summary.clone());
        let attachment = Attachment::Attached {
            last_seq: self.committed,
            summary: Box::new(summary),
            subscription,
        };
        let _ = reply.send(attachment);
    }

    // ----- the agent ------------------------------------------------------------

    fn start_agent(&mut self) {
        let Some(entry) = self.entry.clone() else {
            return;
        };
        let (tx, rx) = mpsc::channel(self.config.agent_queue.max(1));
        let config = LinkConfig {
            spec: entry.spec,
            cwd: PathBuf::from(&self.row.cwd),
            stderr_log: self.artifacts.join("logs").join("agent.stderr.log"),
            // Continue the conversation an earlier process of this session had.
            resume: self.row.agent_session_id.clone(),
            handshake_timeout: self.config.agent_start_timeout,
        };
        self.starting = Some(tokio::spawn(async move {
            (AgentLink::start(config, tx).await, rx)
        }));
    }

    async fn on_started(
        &mut self,
        started: Result<
            (Result<AgentLink, AgentError>, mpsc::Receiver<AgentEvent>),
            tokio::task::JoinError,
        >,
    ) {
        let failure = match started {
            Ok((Ok(link), rx)) => {
                self.emit(Event::AgentStarted {
                    pid: link.pid(),
                    session_origin: Some(link.origin()),
                    capabilities: Some(link.capabilities().clone()),
                });
                if let Some(why) = link.resume_failure() {
                    self.emit(Event::Notice {
                        message: format!(
                            "The agent could not continue its earlier conversation ({why}); \
                             it starts a new one, without the earlier context."
                        ),
                    });
                }
                let agent_session_id = link.agent_session_id();
                if self.row.agent_session_id.as_deref() != Some(agent_session_id.as_str()) {
                    let update = SessionUpdate {
                        agent_session_id: Some(Some(agent_session_id.clone())),
                        ..Default::default()
                    };
                    match self.store.update_session(&self.id, update).await {
                        Ok(_) => self.row.agent_session_id = Some(agent_session_id),
                        Err(error) => {
                            tracing::warn!(session = %self.id, %error, "could not record the agent's session id");
                        }
                    }
                }
                self.agent = Some(AgentState {
                    link,
                    rx,
                    stopping: false,
                });
                if self.turn.as_ref().is_some_and(|t| !t.cancel_requested) {
                    self.to_agent.push(ToAgent::Prompt);
                }
                return;
            }
            Ok((Err(error), _)) => error.to_string(),
            Err(error) => format!("the agent start task failed: {error}"),
        };
        tracing::warn!(session = %self.id, %failure, "agent did not start");
        self.emit(Event::Error {
            message: failure.clone(),
        });
        if self.turn.is_some() {
            self.end_turn(StopReason::Error, Some(failure));
        }
        self.rest_status = Status::Error;
    }

    fn send_prompt(&mut self) {
        let (Some(agent), Some(turn)) = (&self.agent, &self.turn) else {
            return;
        };
        if agent.stopping || turn.cancel_requested {
            return;
        }
        match agent.link.prompt(&turn.id, &turn.text) {
            Ok(()) => {}
            // The process is gone but its exit is not processed yet (or it closed stdout
            // and lingers): retire it; its exit starts a fresh agent for this turn.
            Err(berth_agent::AgentError::Gone) => self.retire_agent(),
            Err(error) => self.end_turn(StopReason::Error, Some(error.to_string())),
        }
    }

    /// Kill the current agent in the background; its `Exited` then clears it.
    fn retire_agent(&mut self) {
        if let Some(agent) = self.agent.as_mut()
            && !agent.stopping
        {
            agent.stopping = true;
            let link = agent.link.clone();
            let grace = self.config.kill_grace;
            // Finished kills are pruned here so the set stays small.
            while self.kills.try_join_next().is_some() {}
            self.kills.spawn(async move { link.kill(grace).await });
        }
    }

    fn drain_agent(&mut self) {
        for _ in 0..self.config.commit_batch {
            let Some(agent) = self.agent.as_mut() else {
                return;
            };
            match agent.rx.try_recv() {
                Ok(event) => self.on_agent_event(Some(event)),
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => self.on_agent_event(None),
            }
        }
    }

    fn on_agent_event(&mut self, event: Option<AgentEvent>) {
        let Some(event) = event else {
            // The link dropped its channel without reporting an exit.
            self.on_agent_exit(None, None);
            return;
        };
        match event {
            AgentEvent::Update(event) => {
                // A killed agent's last words would land after its turn's `turn_ended`.
                if self.agent.as_ref().is_some_and(|a| a.stopping) {
                    return;
                }
                // The summary follows the log: only what is logged changes it.
                match &event {
                    Event::CommandsChanged { commands } => self.commands = commands.clone(),
                    Event::ModeChanged { mode_id } => self.mode = Some(mode_id.clone()),
                    _ => {}
                }
                self.emit(event);
            }
            AgentEvent::Permission {
                tool_call_id,
                title,
                options,
                reply,
            } => self.ask(reply, |turn_id, prompt_id| Event::PermissionRequested {
                turn_id,
                prompt_id,
                tool_call_id,
                title,
                options,
            }),
            AgentEvent::Question {
                message,
                questions,
                reply,
            } => self.ask(reply, |turn_id, prompt_id| Event::QuestionAsked {
                turn_id,
                prompt_id,
                message,
                questions,
            }),
            AgentEvent::TurnDone { turn_id, result } => {
                let Some(turn) = self.turn.as_ref().filter(|t| t.id == turn_id) else {
                    return;
                };
                let (reason, error) = match result {
                    _ if turn.cancel_requested => (StopReason::Cancelled, None),
                    Ok(reason) => (reason, None),
                    Err(message) => (StopReason::Error, Some(message)),
                };
                self.end_turn(reason, error);
            }
            AgentEvent::Exited { code, signal } => self.on_agent_exit(code, signal),
        }
    }

    /// The running turn, if it can still ask a human something.
    fn askable_turn(&self) -> Option<String> {
        if self.agent.as_ref().is_some_and(|a| a.stopping) {
            // A dying agent's questions belong to no turn (its own turn has ended).
            return None;
        }
        self.turn
            .as_ref()
            .filter(|t| !t.cancel_requested)
            .map(|t| t.id.clone())
    }

    /// Log a prompt for the running turn and keep `reply` until someone answers. With no
    /// turn that can ask, the agent is told `cancelled` at once.
    fn ask(
        &mut self,
        reply: oneshot::Sender<Outcome>,
        event: impl FnOnce(String, String) -> Event,
    ) {
        let Some(turn_id) = self.askable_turn() else {
            let _ = reply.send(Outcome::cancelled());
            return;
        };
        let prompt_id = new_id();
        let event = event(turn_id, prompt_id.clone());
        let seq = self.emit(event.clone());
        let deadline = self.config.prompt_timeout.map(|t| Instant::now() + t);
        self.prompts.insert(
            prompt_id,
            Pending {
                seq,
                event,
                reply: Some(reply),
                deadline,
            },
        );
    }

    fn on_agent_exit(&mut self, code: Option<i32>, signal: Option<i32>) {
        let Some(agent) = self.agent.take() else {
            return;
        };
        self.emit(Event::AgentExited {
            code,
            signal,
            reason: None,
        });
        if let Some(turn) = &self.turn {
            if agent.stopping {
                // This turn began after the agent was told to die and never reached it.
                if self.starting.is_none() {
                    self.start_agent();
                }
            } else if turn.cancel_requested {
                self.end_turn(StopReason::Cancelled, None);
            } else {
                let why = format!(
                    "the agent process exited ({})",
                    berth_agent::describe_exit(code, signal)
                );
                self.end_turn(StopReason::Error, Some(why));
            }
        } else if agent.stopping {
            self.rest_status = Status::Stopped;
        } else if code != Some(0) {
            self.rest_status = Status::Error;
        }
    }

    /// Stop the agent process (if any) and wait for it.
    async fn stop_agent(&mut self) {
        if let Some(starting) = self.starting.take() {
            // Dropping a start in progress kills what it spawned; waiting for it could
            // take as long as the agent's handshake timeout.
            starting.abort();
        }
        if let Some(agent) = self.agent.take() {
            agent.link.kill(self.config.kill_grace).await;
        }
        while self.kills.join_next().await.is_some() {}
    }

    async fn shutdown(&mut self) {
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
            .map(|(ts, _)| *ts)
            .unwrap_or_else(chrono::Utc::now);
        let resolution = Resolution {
            prompt_id,
            outcome,
            resolved_at,
        };
        self.prompts.remember(resolution.clone());
        resolution
    }

    fn next_wake(&self) -> Option<Instant> {
        let cancel = self.turn.as_ref().and_then(|t| t.cancel_deadline);
        [cancel, self.prompts.next_deadline(), self.summary.due]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_wake(&mut self) {
        let now = Instant::now();
        if self
            .turn
            .as_ref()
            .and_then(|t| t.cancel_deadline)
            .is_some_and(|d| d <= now)
        {
            self.retire_agent();
            self.end_turn(
                StopReason::Cancelled,
                Some("the agent did not stop in time after cancel; its process was killed".into()),
            );
        }
        for (prompt_id, pending) in self.prompts.take_expired(now) {
            tracing::info!(session = %self.id, %prompt_id, "prompt timed out; resolved as cancelled");
            self.resolve(prompt_id, pending, Outcome::cancelled());
        }
        if self.summary.due.is_some_and(|d| d <= now) {
            self.summary.flush_due();
        }
    }

    // ----- the log --------------------------------------------------------------

    /// Queue an event for the next commit; returns the seq it will get.
    fn emit(&mut self, event: Event) -> Seq {
        self.preview.apply(&event);
        self.pending.push((chrono::Utc::now(), event));
        self.committed + self.pending.len() as Seq
    }

    /// Commit queued events, then broadcast them, then release what the agent was held
    /// back from hearing. Repeats while releasing produced new events (a prompt that
    /// fails ends its turn).
    async fn flush(&mut self) -> Result<(), SessionError> {
        loop {
            self.commit().await?;
            if self.to_agent.is_empty() {
                return Ok(());
            }
            for message in std::mem::take(&mut self.to_agent) {
                match message {
                    ToAgent::Answer(reply, outcome) => {
                        let _ = reply.send(outcome);
                    }
                    ToAgent::Prompt => self.send_prompt(),
                }
            }
        }
    }

    async fn commit(&mut self) -> Result<(), SessionError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut committed = Vec::with_capacity(self.pending.len());
        let mut stored = Vec::with_capacity(self.pending.len());
        for (i, (ts, event)) in self.pending.iter().enumerate() {
            let seq = self.committed + 1 + i as Seq;
            let c = Committed::new(&self.id, seq, *ts, event);
            stored.push(c.to_stored(event.kind()));
            committed.push(Arc::new(c));
        }
        // On failure the events stay queued, with the same seqs, for the next flush
        // (and so does what the agent is to hear): nothing decided is ever dropped.
        self.store.append(&self.id, stored).await?;
        self.pending.clear();
        if let Some(last) = committed.last() {
            self.committed = last.seq;
            self.row.updated_at = last.ts;
        }
        for event in committed {
            // No receivers is fine: nobody is looking.
            let _ = self.live.send(event);
        }
        Ok(())
    }

    // ----- the summary ----------------------------------------------------------

    fn status(&self) -> Status {
        match &self.turn {
            // Waiting for an agent: one being launched, or a killed one to exit first.
            Some(_)
                if self.starting.is_some() || self.agent.as_ref().is_some_and(|a| a.stopping) =>
            {
                Status::Starting
            }
            Some(_) if self.prompts.len() > 0 => Status::AwaitingInput,
            Some(_) => Status::Running,
            None => self.rest_status,
        }
    }

    fn summary_now(&self) -> Session {
        Session {
            id: self.id.to_string(),
            slug: self.row.slug.clone(),
            title: self.row.title.clone(),
            agent: self.row.agent.clone(),
            cwd: self.row.cwd.clone(),
            status: self.status(),
            created_at: self.row.created_at,
            updated_at: self.row.updated_at,
            last_seq: self.committed,
            read_seq: self.row.read_seq,
            unread: self.committed.saturating_sub(self.row.read_seq),
            pending_prompts: self.prompts.len() as u32,
            viewers: self.viewers.load(Ordering::SeqCst),
            agent_running: self.agent.is_some(),
            commands: self.commands.clone(),
            mode: self.mode.clone(),
            preview: self.preview.line(),
            archived: false,
        }
    }

    fn summary_response(&self) -> Response {
        Response::Summary {
            summary: Box::new(self.summary_now()),
        }
    }
}

fn placeholder_summary(row: &SessionRow) -> Session {
    Session {
        id: row.id.clone(),
        slug: row.slug.clone(),
        title: row.title.clone(),
        agent: row.agent.clone(),
        cwd: row.cwd.clone(),
        status: Status::Idle,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_seq: row.last_seq,
        read_seq: row.read_seq,
        unread: row.last_seq.saturating_sub(row.read_seq),
        pending_prompts: 0,
        viewers: 0,
        agent_running: false,
        commands: Vec::new(),
        mode: None,
        preview: None,
        archived: false,
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

async fn recv_agent(agent: &mut Option<AgentState>) -> Option<AgentEvent> {
    match agent {
        Some(agent) => agent.rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn join_start(
    starting: &mut Option<Starting>,
) -> Result<(Result<AgentLink, AgentError>, mpsc::Receiver<AgentEvent>), tokio::task::JoinError> {
    match starting {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
