//! berth's agent link: spawns and supervises one agent process and speaks ACP to it;
//! plus the built-in demo agent (`berth agent demo`).
//!
//! API contract (the session crate is written against exactly this):
//! - [`AgentLink::start`] spawns the process (argv only, `env_clear` + the given
//!   environment, own process group, stdin/stdout piped, stderr copied into a rotated log file),
//!   runs `initialize` (advertising `fs.readTextFile`, `fs.writeTextFile` and
//!   `elicitation.form`), then continues [`LinkConfig::resume`] (`session/resume`, else
//!   `session/load` with its replay dropped) or opens `session/new` with the cwd, and
//!   returns the link ([`AgentLink::origin`] says which).
//! - Launching is separate from speaking ACP: [`AgentLink::connect`] takes any
//!   [`Transport`] and [`AgentProcess`], [`AgentLink::launch`] gets both from a
//!   [`Launcher`] ([`OsLauncher`] for the server, [`demo::InMemory`] for in-process tests),
//!   and `start` is `launch` with the [`OsLauncher`].
//! - Everything the agent does arrives, in order, as [`AgentEvent`]s on the channel
//!   given to `start`. A turn's completion ([`AgentEvent::TurnDone`]) arrives after
//!   every update the agent sent before answering `session/prompt`.
//! - Garbage on the agent's stdout is logged and skipped, never fatal to the server.
//!
//! Lifecycle details:
//! - If the process dies mid-turn, the turn ends with `TurnDone { result:
//!   Err("agent process exited") }`, and `Exited` is sent too (in either order).
//! - `Exited` is sent once, after the agent's stdout has been drained (so after every
//!   update it wrote), or 2 s after the exit if a descendant keeps stdout
//!   open. No event is sent for a link whose `start` failed.
//! - An agent that answers `session/prompt` with a JSON-RPC error (the demo's `/fail`)
//!   yields `TurnDone { result: Err(message) }`; ACP v1 has no `error` stop reason.
//! - Updates are stamped with the turn id of the last `prompt` (an empty string
//!   before the first one).
//! - Dropping the last `AgentLink` leaves the process running; the background tasks
//!   end by themselves once it has exited.
//!
//! Modules:
//! - `launch`: the [`Launcher`] seam: [`Transport`], [`AgentProcess`], [`OsLauncher`].
//! - `process`: launching the OS process and signalling its process group.
//! - `stderr_log`: the agent's stderr, copied into a log rotated at 8 MiB (two kept).
//! - `transport`: newline-delimited JSON streams that skip non-JSON lines.
//! - `client`: the ACP client connection: handlers, handshake, error wording.
//! - `intake`: `session/update` lines read ahead of the ACP crate, in order (barriers).
//! - `offer`: what the agent offers to choose (modes, config options, model list) and
//!   the requests that change it.
//! - `prompt`: a prompt's content blocks (its text, and files as the agent takes them).
//! - `translate`: ACP updates, permission options and forms ↔ berth types.
//! - `fs`: `fs/read_text_file` / `fs/write_text_file` confined to the session cwd.
//! - [`demo`]: the demo agent, a real ACP agent following PROTOCOL.md's script.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent_client_protocol::Lines;
use agent_client_protocol::v1::schema::{
    CancelNotification, ContentBlock, PromptRequest, TextContent,
};
use berth_protocol::{
    AgentCapabilities, AgentConfig, ConfigChange, ConfigOption, Event, OptionSource, Outcome,
    PermissionOption, Question, SessionOrigin, StopReason,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod client;
pub mod demo;
mod fs;
mod intake;
mod launch;
mod offer;
mod prompt;
use launch::ProcessStopper;
pub use launch::{AgentProcess, ExitInfo, Launcher, OsLauncher, Transport};
pub use prompt::PromptFile;
mod process;
pub use process::locate;
mod stderr_log;
mod translate;
mod transport;

/// How long after the process exits its stdout may stay open (a descendant inherited
/// it) before the link stops reading and reports `Exited` anyway.
const STDOUT_DRAIN: Duration = Duration::from_secs(2);

/// After SIGKILL, how long `kill` still waits for the exit to be observed.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// How to launch one agent. Serialisable: a session host gets it from the server.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AgentSpec {
    /// Program path or name (resolved on PATH of `env`). Never a shell string.
    pub program: String,
    pub args: Vec<String>,
    /// The COMPLETE environment of the process (the caller applies its allow-list).
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub spec: AgentSpec,
    /// The session's working directory; `fs/*` requests are confined to it.
    pub cwd: PathBuf,
    /// The agent's stderr is appended here (parent directory created if missing).
    pub stderr_log: PathBuf,
    /// The agent's session id from an earlier process: continue that conversation
    /// (`session/resume`, else `session/load`) instead of starting a new one.
    pub resume: Option<String>,
    /// How long `start` waits for the handshake (`initialize`, then the session) to be
    /// answered. Generous: some launchers (npx) download the agent on first use.
    pub handshake_timeout: Duration,
}

/// What the agent did, in order.
// `Update` dwarfs the other variants, but nearly every event is one, so boxing it would
// cost an allocation per event for nothing (and the variant shape is fixed API).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum AgentEvent {
    /// A `session/update`, translated into a berth event stamped with the current turn id.
    Update(Event),
    /// `session/request_permission`. Answer through `reply` (dropping it = cancelled).
    Permission {
        tool_call_id: Option<String>,
        title: String,
        options: Vec<PermissionOption>,
        reply: oneshot::Sender<Outcome>,
    },
    /// `elicitation/create` in form mode. Answer through `reply` (dropping it = cancelled).
    Question {
        message: String,
        questions: Vec<Question>,
        reply: oneshot::Sender<Outcome>,
    },
    /// The answer to `session/prompt` for `turn_id`, or why there was none.
    TurnDone {
        turn_id: String,
        result: Result<StopReason, String>,
    },
    /// The answer to [`AgentLink::configure`] for `ticket`: after every update the agent
    /// sent before it.
    Configured {
        ticket: u64,
        result: Result<Configured, String>,
    },
    /// The process exited (after its stdout closed or it was killed).
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
}

/// What the agent said when it agreed to a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Configured {
    /// It agreed and said no more (`session/set_mode`, `session/set_model`).
    Made(ConfigChange),
    /// Its config options now (`session/set_config_option` answers with all of them).
    Options(Vec<ConfigOption>),
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("failed to start agent `{program}`: {reason}")]
    Spawn { program: String, reason: String },
    #[error("agent handshake failed: {0}")]
    Handshake(String),
    #[error("agent process is gone")]
    Gone,
}

/// A live agent process with one ACP session. Cheap to clone; dropping the last clone
/// does NOT kill the process: call [`AgentLink::kill`].
#[derive(Clone)]
pub struct AgentLink {
    inner: Arc<Inner>,
}

struct Inner {
    pid: u32,
    stopper: ProcessStopper,
    state: Arc<client::ClientState>,
    agent_session_id: String,
    origin: SessionOrigin,
    capabilities: AgentCapabilities,
    resume_failure: Option<String>,
    /// What it offered to choose as its session opened, and its mode then.
    config: AgentConfig,
    mode: Option<String>,
    /// The agent's sign-in methods, named when it answers a prompt with `auth_required`.
    auth_methods: Arc<[agent_client_protocol::v1::schema::AuthMethod]>,
    connection: client::AgentConnection,
    events: mpsc::Sender<AgentEvent>,
    turn: client::TurnSlot,
    /// `Some` once the process has exited (set by the supervisor).
    exit: watch::Receiver<Option<ExitInfo>>,
    /// Owns the supervisor and the per-prompt tasks.
    tasks: TaskTracker,
}

impl ExitInfo {
    fn describe(self) -> String {
        describe_exit(self.code, self.signal)
    }
}

/// How a process ended, in words: `exit code 1`, `killed by signal 9`.
pub fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown exit status".to_owned(),
    }
}

impl AgentLink {
    /// Spawn `config.spec` as an OS process and connect to it ([`OsLauncher`]).
    pub async fn start(
        config: LinkConfig,
        events: mpsc::Sender<AgentEvent>,
    ) -> Result<AgentLink, AgentError> {
        AgentLink::launch(&OsLauncher, config, events).await
    }

    /// Start an agent with `launcher`, then connect to it.
    pub async fn launch(
        launcher: &dyn Launcher,
        config: LinkConfig,
        events: mpsc::Sender<AgentEvent>,
    ) -> Result<AgentLink, AgentError> {
        // Checked before anything is started: an agent must not run in a directory
        // its `fs/*` requests could not be confined to.
        session_root(&config)?;
        let (transport, process) = launcher.launch(&config)?;
        AgentLink::connect(transport, process, config, events).await
    }

    /// Speak ACP to an agent that is already running: `initialize`, then continue
    /// [`LinkConfig::resume`] or open a new session. `process` is supervised from now
    /// on: it is stopped if the handshake fails or this future is dropped.
    pub async fn connect(
        transport: Transport,
        process: AgentProcess,
        config: LinkConfig,
        events: mpsc::Sender<AgentEvent>,
    ) -> Result<AgentLink, AgentError> {
        let program = config.spec.program.clone();
        let pid = process.pid();
        let (stopper, exited) = process.into_parts();
        // From here on, an early return or a dropped future must not leave the agent
        // behind.
        let mut guard = KillOnDrop(Some(stopper.clone()));
        let root = session_root(&config)?;
        // ACP wants an absolute cwd; keep the caller's spelling (symlinks included).
        let cwd = std::path::absolute(&config.cwd).unwrap_or_else(|_| root.clone());

        let turn = client::TurnSlot::default();
        let state = Arc::new(client::ClientState {
            events: events.clone(),
            turn: turn.clone(),
            root,
            replaying: Default::default(),
            replay_heard: std::sync::Mutex::new(std::time::Instant::now()),
            tool_calls: Default::default(),
            barriers: Default::default(),
        });
        let transport = Lines::new(
            transport::line_sink(transport.to_agent, |_| false, || {}),
            intake::split_updates(
                transport::text_lines(transport.from_agent, "agent"),
                "agent",
                state.clone(),
            ),
        );
        let shutdown = CancellationToken::new();
        let (connected_tx, connected_rx) = oneshot::channel();
        let connection_task = tokio::spawn(client::run(
            state.clone(),
            transport,
            connected_tx,
            shutdown.clone(),
        ));

        let tasks = TaskTracker::new();
        let (exit_tx, exit_rx) = watch::channel(None);
        let (started_tx, started_rx) = watch::channel(None);
        tasks.spawn(supervise(Supervisor {
            exited,
            pid,
            connection_task,
            shutdown,
            exit: exit_tx,
            started: started_rx,
            events: events.clone(),
        }));

        let handshake = async {
            let connection = connected_rx
                .await
                .map_err(|_| "the connection to the agent ended before it started".to_owned())?;
            let handshake =
                client::handshake(&connection, &state, &cwd, config.resume.as_deref()).await?;
            Ok::<_, String>((connection, handshake))
        };
        let outcome = match tokio::time::timeout(config.handshake_timeout, handshake).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!(
                "no answer within {} s",
                config.handshake_timeout.as_secs()
            )),
        };
        match outcome {
            Ok((connection, handshake)) => {
                guard.0 = None;
                started_tx.send_replace(Some(true));
                let client::Handshake {
                    session_id: agent_session_id,
                    origin,
                    capabilities,
                    note,
                    auth_methods,
                    config,
                    mode,
                } = handshake;
                tracing::info!(pid, %agent_session_id, ?origin, program, "agent started");
                Ok(AgentLink {
                    inner: Arc::new(Inner {
                        pid,
                        stopper,
                        state,
                        agent_session_id,
                        origin,
                        capabilities,
                        resume_failure: note,
                        config,
                        mode,
                        auth_methods: auth_methods.into(),
                        connection,
                        events,
                        turn,
                        exit: exit_rx,
                        tasks,
                    }),
                })
            }
            Err(reason) => {
                started_tx.send_replace(Some(false));
                // If the agent died on its own, say how (it is usually the real reason):
                // give it a moment to be reaped before the guard's SIGKILL muddies that.
                let mut exit = exit_rx;
                let exited = if reason.ends_with("agent process exited") {
                    tokio::time::timeout(Duration::from_secs(1), exit.wait_for(Option::is_some))
                        .await
                        .ok()
                        .and_then(|status| status.ok().and_then(|status| *status))
                } else {
                    None
                };
                drop(guard);
                let reason = match exited {
                    Some(info) => format!(
                        "{reason} ({}); its stderr is in {}",
                        describe_exit(info.code, info.signal),
                        config.stderr_log.display()
                    ),
                    None => reason,
                };
                Err(AgentError::Handshake(reason))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// The agent's own session id (ACP `sessionId`).
    pub fn agent_session_id(&self) -> String {
        self.inner.agent_session_id.clone()
    }

    /// How this process came by its conversation.
    pub fn origin(&self) -> SessionOrigin {
        self.inner.origin
    }

    /// What the agent declared in `initialize`.
    pub fn capabilities(&self) -> &AgentCapabilities {
        &self.inner.capabilities
    }

    /// What the agent offered to choose as its session opened (`modes`, `configOptions`,
    /// the unstable `models`).
    pub fn config(&self) -> &AgentConfig {
        &self.inner.config
    }

    /// The agent's mode as its session opened.
    pub fn mode(&self) -> Option<&str> {
        self.inner.mode.as_deref()
    }

    /// Ask the agent to make `change` (`session/set_mode`, `session/set_config_option`,
    /// or `session/set_model` for an option from its model list: `source`); returns at
    /// once. The answer arrives as [`AgentEvent::Configured`] with `ticket`.
    pub fn configure(
        &self,
        ticket: u64,
        change: ConfigChange,
        source: OptionSource,
    ) -> Result<(), AgentError> {
        let inner = &self.inner;
        if inner.is_gone() {
            return Err(AgentError::Gone);
        }
        let (method, params) = offer::request(&inner.agent_session_id, &change, source);
        let connection = inner.connection.clone();
        let events = inner.events.clone();
        inner.tasks.spawn(async move {
            // Routed like a prompt's answer: after the updates the agent sent before it.
            let result = match client::ask(&connection, method, params).await {
                // Only `session/set_config_option` answers with the options (all of
                // them); the other answers are empty.
                Ok(answer) => Ok(match offer::options_in_answer(&answer) {
                    Some(options) => Configured::Options(options),
                    None => Configured::Made(change),
                }),
                Err(error) => Err(client::describe_error(&error)),
            };
            if events
                .send(AgentEvent::Configured { ticket, result })
                .await
                .is_err()
            {
                tracing::debug!("Configured dropped: nobody listens to this link any more");
            }
        });
        Ok(())
    }

    /// When [`LinkConfig::resume`] was asked for but a new conversation was started: why.
    pub fn resume_failure(&self) -> Option<&str> {
        self.inner.resume_failure.as_deref()
    }

    /// Send `session/prompt`; returns at once. Completion arrives as `TurnDone`.
    pub fn prompt(&self, turn_id: &str, text: &str) -> Result<(), AgentError> {
        self.prompt_with(turn_id, text, Vec::new())
    }

    /// [`AgentLink::prompt`] with files, each sent as the agent takes it (`prompt`
    /// module): read first, so a file that cannot be read ends the turn (`TurnDone`
    /// with the reason) without a prompt.
    pub fn prompt_with(
        &self,
        turn_id: &str,
        text: &str,
        files: Vec<PromptFile>,
    ) -> Result<(), AgentError> {
        let inner = &self.inner;
        if inner.is_gone() {
            return Err(AgentError::Gone);
        }
        // Set before sending, so the turn's first update is already stamped with it.
        inner.turn.set(turn_id);
        // Whatever a `session/load` replayed is over: from here on updates are new.
        inner
            .state
            .replaying
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let session_id = inner.agent_session_id.clone();
        // Text alone is sent now, so its order against what follows is the caller's.
        let text_only = files.is_empty().then(|| {
            inner.connection.send_request(PromptRequest::new(
                session_id.clone(),
                vec![ContentBlock::Text(TextContent::new(text))],
            ))
        });
        let text = text.to_owned();
        let connection = inner.connection.clone();
        let capabilities = inner.capabilities.clone();
        let events = inner.events.clone();
        let turn_id = turn_id.to_owned();
        let auth_methods = inner.auth_methods.clone();
        inner.tasks.spawn(async move {
            let sent = match text_only {
                Some(sent) => sent,
                None => match prompt::blocks(&text, &files, &capabilities).await {
                    Ok(blocks) => connection.send_request(PromptRequest::new(session_id, blocks)),
                    Err(error) => {
                        let done = AgentEvent::TurnDone {
                            turn_id,
                            result: Err(error),
                        };
                        let _ = events.send(done).await;
                        return;
                    }
                },
            };
            // The response is routed by the connection's dispatch loop after every
            // update that preceded it has been delivered to `events` (see `client`), so
            // this TurnDone cannot overtake them.
            let result = match sent.block_task().await {
                Ok(response) => Ok(translate::stop_reason(response.stop_reason)),
                Err(error) if error.code == agent_client_protocol::ErrorCode::AUTH_REQUIRED => {
                    Err(client::auth_required(&auth_methods, &error))
                }
                Err(error) => Err(client::describe_error(&error)),
            };
            if let Err(error) = &result {
                tracing::info!(%turn_id, %error, "turn ended without a stop reason");
            }
            if events
                .send(AgentEvent::TurnDone { turn_id, result })
                .await
                .is_err()
            {
                tracing::debug!("TurnDone dropped: nobody listens to this link any more");
            }
        });
        Ok(())
    }

    /// Send `session/cancel` (a notification).
    pub fn cancel(&self) -> Result<(), AgentError> {
        let inner = &self.inner;
        if inner.is_gone() {
            return Err(AgentError::Gone);
        }
        inner
            .connection
            .send_notification(CancelNotification::new(inner.agent_session_id.clone()))
            .map_err(|error| {
                tracing::debug!(error = %client::describe_error(&error), "session/cancel not sent");
                AgentError::Gone
            })
    }

    /// SIGTERM the process group, then SIGKILL after `grace`. `Exited` follows.
    pub async fn kill(&self, grace: Duration) {
        let pid = self.inner.pid;
        let stopper = &self.inner.stopper;
        let mut exit = self.inner.exit.clone();
        if exit.borrow().is_none() {
            tracing::info!(pid, "stopping agent (SIGTERM)");
            stopper.terminate();
            if tokio::time::timeout(grace, exit.wait_for(Option::is_some))
                .await
                .is_ok()
            {
                // The leader is gone; whatever it left behind in its group goes too.
                stopper.kill();
                return;
            }
            tracing::warn!(
                pid,
                grace_ms = grace.as_millis() as u64,
                "agent ignored SIGTERM; sending SIGKILL"
            );
        }
        stopper.kill();
        if tokio::time::timeout(KILL_WAIT, exit.wait_for(Option::is_some))
            .await
            .is_err()
        {
            tracing::error!(pid, "agent still not reaped after SIGKILL");
        }
    }
}

impl Inner {
    fn is_gone(&self) -> bool {
        self.exit.borrow().is_some() || self.connection.termination().is_some()
    }
}

/// Kills the agent unless disarmed (`connect` succeeded).
struct KillOnDrop(Option<ProcessStopper>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(stopper) = self.0.take() {
            stopper.kill();
        }
    }
}

/// The canonical working directory `fs/*` requests are confined to; it must exist.
fn session_root(config: &LinkConfig) -> Result<PathBuf, AgentError> {
    std::fs::canonicalize(&config.cwd)
        .ok()
        .filter(|root| root.is_dir())
        .ok_or_else(|| AgentError::Spawn {
            program: config.spec.program.clone(),
            reason: format!(
                "working directory {} is not an existing directory",
                config.cwd.display()
            ),
        })
}

/// What the supervisor task owns.
struct Supervisor {
    exited: std::pin::Pin<Box<dyn std::future::Future<Output = ExitInfo> + Send>>,
    pid: u32,
    connection_task: JoinHandle<()>,
    shutdown: CancellationToken,
    exit: watch::Sender<Option<ExitInfo>>,
    /// `Some(true)` once `start` succeeded, `Some(false)` if it failed.
    started: watch::Receiver<Option<bool>>,
    events: mpsc::Sender<AgentEvent>,
}

/// Reap the process, let the connection deliver what the agent wrote before dying,
/// close the connection, then report `Exited`.
async fn supervise(mut s: Supervisor) {
    let info = (&mut s.exited).await;
    tracing::info!(pid = s.pid, status = %info.describe(), "agent process exited");
    s.exit.send_replace(Some(info));

    // The connection ends by itself at stdout EOF, after dispatching everything before it.
    match tokio::time::timeout(STDOUT_DRAIN, &mut s.connection_task).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(pid = s.pid, %error, "agent connection task failed"),
        Err(_) => {
            tracing::warn!(
                pid = s.pid,
                "agent exited but its stdout is still open (a descendant holds it?); closing the link"
            );
            s.shutdown.cancel();
            if tokio::time::timeout(Duration::from_secs(1), &mut s.connection_task)
                .await
                .is_err()
            {
                s.connection_task.abort();
            }
        }
    }

    let started = matches!(
        s.started.wait_for(Option::is_some).await.map(|v| *v),
        Ok(Some(true))
    );
    if started
        && s.events
            .send(AgentEvent::Exited {
                code: info.code,
                signal: info.signal,
            })
            .await
            .is_err()
    {
        tracing::debug!("Exited dropped: nobody listens to this link any more");
    }
}
