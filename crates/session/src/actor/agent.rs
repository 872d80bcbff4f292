//! The actor's agent: its lifecycle as one enum, and everything the actor does with it
//! (start, prompts, updates, asking a human, stopping, exits).
//!
//! `Cold → Starting → Up → Retiring → Cold`. `Starting` waits for a slot
//! (`sessions.max_live_agents`), launches and handshakes in a task of its own, so the
//! actor keeps serving requests meanwhile. `Retiring` is an agent berth is stopping: its
//! events are still read (its exit has to be seen) but no longer logged, and a turn that
//! arrives meanwhile goes to a fresh agent once it has exited. Each running agent holds a
//! slot until its exit is processed.

use std::path::PathBuf;

use berth_agent::{AgentError, AgentEvent, AgentLink, LinkConfig};
use berth_protocol::{Event, ExitReason, Outcome, Status, StopReason, Usage};
use berth_store::SessionUpdate;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Actor, ToAgent, new_id};
use crate::prompts::Pending;
use crate::slots::Slot;

/// What a start task hands back: the link (or why not), its events, its slot.
pub(super) type Started = (
    Result<AgentLink, AgentError>,
    mpsc::Receiver<AgentEvent>,
    Slot,
);

/// The session's agent process, if any.
pub(super) enum Agent {
    /// No process (never started, stopped, or exited).
    Cold,
    /// Waiting for a slot, launching, handshaking.
    Starting(JoinHandle<Started>),
    Up(Running),
    /// Being stopped by berth; `reason` goes into its `agent_exited`.
    Retiring {
        running: Running,
        reason: Option<ExitReason>,
    },
}

/// A started agent.
pub(super) struct Running {
    link: AgentLink,
    rx: mpsc::Receiver<AgentEvent>,
    slot: Slot,
    /// No turn is running (as last told to the slot table).
    idle: bool,
    /// When it last finished a turn (or started): the idle timeout counts from here.
    last_used: Instant,
}

impl Running {
    pub(super) fn link(&self) -> &AgentLink {
        &self.link
    }
}

impl Agent {
    pub(super) fn is_cold(&self) -> bool {
        matches!(self, Agent::Cold)
    }

    /// A process exists (up or being stopped).
    pub(super) fn is_running(&self) -> bool {
        matches!(self, Agent::Up(_) | Agent::Retiring { .. })
    }

    pub(super) fn is_retiring(&self) -> bool {
        matches!(self, Agent::Retiring { .. })
    }

    pub(super) fn running_mut(&mut self) -> Option<&mut Running> {
        match self {
            Agent::Up(running) | Agent::Retiring { running, .. } => Some(running),
            Agent::Cold | Agent::Starting(_) => None,
        }
    }

    /// When an idle agent is due to be stopped (`idle_after` since its last turn).
    pub(super) fn idle_deadline(&self, idle_after: Option<std::time::Duration>) -> Option<Instant> {
        match (self, idle_after) {
            (Agent::Up(running), Some(after)) if running.idle => Some(running.last_used + after),
            _ => None,
        }
    }
}

/// What the agent has to say next.
// `Event` dwarfs the rest, but nearly all news is one: boxing it would cost an
// allocation per agent event for nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum News {
    /// An event of a running agent (`None`: its channel closed).
    Event(Option<AgentEvent>),
    /// The start task is done.
    Started(Result<Started, tokio::task::JoinError>),
    /// Another session asked this idle agent's slot to be freed.
    Eviction,
}

/// The agent's next news; pending while it has nothing to say (or there is none).
pub(super) async fn next(agent: &mut Agent) -> News {
    match agent {
        Agent::Cold => std::future::pending().await,
        Agent::Starting(task) => News::Started(task.await),
        Agent::Up(running) => tokio::select! {
            event = running.rx.recv() => News::Event(event),
            _ = running.slot.eviction() => News::Eviction,
        },
        Agent::Retiring { running, .. } => News::Event(running.rx.recv().await),
    }
}

impl Actor {
    pub(super) fn start_agent(&mut self) {
        let Some(entry) = self.entry.clone() else {
            return;
        };
        let (tx, rx) = mpsc::channel(self.config.agent_queue.max(1));
        let config = LinkConfig {
            spec: entry.spec.clone(),
            cwd: PathBuf::from(&self.row.cwd),
            stderr_log: self.artifacts.join("logs").join("agent.stderr.log"),
            // Continue the conversation an earlier process of this session had.
            resume: self.row.agent_session_id.clone(),
            handshake_timeout: self.config.agent_start_timeout,
        };
        if self.slots.all_busy() {
            // Otherwise the turn would sit in `starting` with no word of why.
            self.emit(Event::Notice {
                message: format!(
                    "Waiting for an agent: {} are running (sessions.max_live_agents), all \
                     busy with a turn; this one starts as soon as one of them finishes.",
                    self.slots.max()
                ),
            });
        }
        let slots = self.slots.clone();
        let id = self.id.clone();
        self.agent = Agent::Starting(tokio::spawn(async move {
            let slot = slots.acquire(id).await;
            let link = AgentLink::launch(entry.launcher.as_ref(), config, tx).await;
            (link, rx, slot)
        }));
    }

    pub(super) async fn on_started(&mut self, started: Result<Started, tokio::task::JoinError>) {
        let failure = match started {
            Ok((Ok(link), rx, slot)) => {
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
                self.record_agent_session(link.agent_session_id()).await;
                // The first prompt waits for the user's choices to be put back.
                self.prompt_after_config = self.on_agent_offer(&link);
                self.agent = Agent::Up(Running {
                    link,
                    rx,
                    slot,
                    idle: false,
                    last_used: Instant::now(),
                });
                if !self.prompt_after_config
                    && self.turn.as_ref().is_some_and(|t| !t.cancel_requested)
                {
                    self.to_agent.push(ToAgent::Prompt);
                }
                return;
            }
            Ok((Err(error), _, _)) => error.to_string(),
            Err(error) => format!("the agent start task failed: {error}"),
        };
        self.agent = Agent::Cold;
        tracing::warn!(session = %self.id, %failure, "agent did not start");
        self.emit(Event::Error {
            message: failure.clone(),
        });
        if self.turn.is_some() {
            self.end_turn(StopReason::Error, Some(failure));
        }
        self.rest_status = Status::Error;
    }

    async fn record_agent_session(&mut self, agent_session_id: String) {
        if self.row.agent_session_id.as_deref() == Some(agent_session_id.as_str()) {
            return;
        }
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

    /// Tell the slot table whether the agent is idle, once per change (a busy agent is
    /// never evicted; an idle one's timeout counts from its last turn).
    pub(super) fn sync_idle(&mut self) {
        let idle = self.turn.is_none();
        if let Agent::Up(running) = &mut self.agent
            && running.idle != idle
        {
            running.idle = idle;
            running.slot.set_idle(idle);
            if idle {
                running.last_used = Instant::now();
            }
        }
    }

    pub(super) fn send_prompt(&mut self) {
        let (Agent::Up(running), Some(turn)) = (&self.agent, &self.turn) else {
            return;
        };
        if turn.cancel_requested || self.prompt_after_config {
            return;
        }
        let files = turn
            .attachments
            .iter()
            .map(|attachment| berth_agent::PromptFile {
                path: crate::uploads::path(&self.artifacts, attachment),
                attachment: attachment.clone(),
            })
            .collect();
        match running.link.prompt_with(&turn.id, &turn.text, files) {
            Ok(()) => {}
            // The process is gone but its exit is not processed yet (or it closed stdout
            // and lingers): retire it; its exit starts a fresh agent for this turn.
            Err(AgentError::Gone) => self.retire_agent(None),
            Err(error) => self.end_turn(StopReason::Error, Some(error.to_string())),
        }
    }

    /// Tell the agent to cancel its turn; `false` if there is no agent to tell.
    pub(super) fn cancel_agent(&self) -> bool {
        let Agent::Up(running) = &self.agent else {
            return false;
        };
        if let Err(error) = running.link.cancel() {
            tracing::warn!(session = %self.id, %error, "session/cancel failed; the deadline will kill the agent");
        }
        true
    }

    /// Stop the current agent in the background; its `Exited` then clears it.
    pub(super) fn retire_agent(&mut self, reason: Option<ExitReason>) {
        let running = match std::mem::replace(&mut self.agent, Agent::Cold) {
            Agent::Up(running) => running,
            other => {
                self.agent = other;
                return;
            }
        };
        tracing::info!(session = %self.id, ?reason, "stopping the agent");
        let link = running.link.clone();
        let grace = self.config.kill_grace;
        // Finished kills are pruned here so the set stays small.
        while self.kills.try_join_next().is_some() {}
        self.kills.spawn(async move { link.kill(grace).await });
        self.agent = Agent::Retiring { running, reason };
    }

    /// Another session needs this agent's slot: give it up if still idle.
    pub(super) fn on_eviction(&mut self) {
        if let Agent::Up(running) = &self.agent
            && running.idle
            && self.turn.is_none()
            && running.slot.evicting()
        {
            self.retire_agent(Some(ExitReason::Limit));
        }
    }

    /// The idle timeout passed with no turn: stop the agent.
    pub(super) fn on_idle_deadline(&mut self, now: Instant) {
        if self
            .agent
            .idle_deadline(self.config.agent_idle)
            .is_some_and(|deadline| deadline <= now)
            && self.turn.is_none()
        {
            self.retire_agent(Some(ExitReason::Idle));
        }
    }

    pub(super) fn drain_agent(&mut self) {
        for _ in 0..self.config.commit_batch {
            let Some(running) = self.agent.running_mut() else {
                return;
            };
            match running.rx.try_recv() {
                Ok(event) => self.on_agent_event(Some(event)),
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => self.on_agent_event(None),
            }
        }
    }

    pub(super) fn on_agent_event(&mut self, event: Option<AgentEvent>) {
        let Some(event) = event else {
            // The link dropped its channel without reporting an exit.
            self.on_agent_exit(None, None);
            return;
        };
        match event {
            AgentEvent::Update(event) => {
                // A stopped agent's last words would land after its turn's `turn_ended`.
                if self.agent.is_retiring() {
                    return;
                }
                // The summary follows the log: only what is logged changes it.
                match event {
                    Event::ModeChanged { mode_id } => return self.apply_mode(mode_id),
                    Event::ConfigChanged { config } => return self.on_options_update(config),
                    Event::CommandsChanged { ref commands } => self.commands = commands.clone(),
                    Event::Usage { .. } => self.usage = Usage::of_event(&event),
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
            AgentEvent::Configured { ticket, result } => self.on_configured(ticket, result),
            AgentEvent::Exited { code, signal } => self.on_agent_exit(code, signal),
        }
    }

    /// The running turn, if it can still ask a human something.
    fn askable_turn(&self) -> Option<String> {
        if self.agent.is_retiring() {
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
        let seq = self.emit(event(turn_id, prompt_id.clone()));
        // The prompt is what the log holds: the event as fitted.
        let event = self.queued(seq).expect("just queued").clone();
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
        let reason = match std::mem::replace(&mut self.agent, Agent::Cold) {
            Agent::Up(_) => None,
            Agent::Retiring { reason, .. } => Some(reason),
            other => {
                // Nothing was running: keep whatever is starting.
                self.agent = other;
                return;
            }
        };
        self.forget_configuring();
        // `None`: it exited by itself; `Some(None)`: berth killed it after an ignored cancel.
        let stopped_by_berth = reason.is_some();
        let reason = reason.flatten();
        self.emit(Event::AgentExited {
            code,
            signal,
            reason,
        });
        if let Some(turn) = &self.turn {
            if stopped_by_berth {
                // This turn began after the agent was told to stop and never reached it.
                self.start_agent();
            } else if turn.cancel_requested {
                self.end_turn(StopReason::Cancelled, None);
            } else {
                let why = format!(
                    "the agent process exited ({})",
                    berth_agent::describe_exit(code, signal)
                );
                self.end_turn(StopReason::Error, Some(why));
            }
            return;
        }
        self.rest_status = match reason {
            // Hibernation is not a failure: the next prompt continues the conversation.
            Some(ExitReason::Idle | ExitReason::Limit) => self.rest_status,
            Some(ExitReason::User) => Status::Stopped,
            None if stopped_by_berth => Status::Stopped,
            None if code != Some(0) => Status::Error,
            None => self.rest_status,
        };
    }

    /// Stop the agent process (if any) and wait for it (delete, shutdown).
    pub(super) async fn stop_agent(&mut self) {
        self.forget_configuring();
        match std::mem::replace(&mut self.agent, Agent::Cold) {
            // Dropping a start in progress kills what it spawned; waiting for it could
            // take as long as the agent's handshake timeout.
            Agent::Starting(task) => task.abort(),
            Agent::Up(running) | Agent::Retiring { running, .. } => {
                running.link.kill(self.config.kill_grace).await;
            }
            Agent::Cold => {}
        }
        while self.kills.join_next().await.is_some() {}
    }
}
