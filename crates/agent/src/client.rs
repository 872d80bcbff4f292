//! The ACP client side of the link: the connection's message handlers and the handshake.
//!
//! Ordering: the ACP crate runs every handler inside one dispatch loop, one incoming
//! message at a time, and each handler here awaits its `events.send` before returning.
//! So events reach the channel in the order the agent sent the messages, and the reply to
//! `session/prompt` (which is routed by the same loop) is seen only after every update
//! the agent sent before it. Handlers that must wait on a human (permissions, questions)
//! hand the wait to a connection task so the loop keeps flowing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    AuthMethod, ClientCapabilities, CreateElicitationRequest, CreateElicitationResponse,
    ElicitationAcceptAction, ElicitationAction, ElicitationCapabilities,
    ElicitationFormCapabilities, ElicitationMode, FileSystemCapabilities, Implementation,
    InitializeRequest, LoadSessionRequest, NewSessionRequest, NewSessionResponse,
    ReadTextFileRequest, ReadTextFileResponse, RequestPermissionOutcome, RequestPermissionRequest,
    RequestPermissionResponse, ResumeSessionRequest, SelectedPermissionOutcome,
    SessionNotification, SessionUpdate, WriteTextFileRequest, WriteTextFileResponse,
};
use agent_client_protocol::v1::{ConnectionTo, Responder};
use agent_client_protocol::{self as acp, UntypedMessage};
use berth_protocol::{AgentCapabilities, AgentConfig, Event, Outcome, SessionOrigin};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::intake::{self, Barriers, Update};
use crate::{AgentEvent, fs, offer, translate};

/// Our end of the connection: requests and notifications sent through it go to the agent.
pub(crate) type AgentConnection = ConnectionTo<acp::Agent>;

/// The id of the turn that updates are stamped with: the last one `prompt` started.
/// Empty before the first prompt.
#[derive(Clone, Default)]
pub(crate) struct TurnSlot(Arc<Mutex<Arc<str>>>);

impl TurnSlot {
    // A std mutex: it is held only to copy a pointer, never across an await.
    pub(crate) fn set(&self, turn_id: &str) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::from(turn_id);
    }

    pub(crate) fn get(&self) -> Arc<str> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// How long an agent must be quiet after answering `session/load` before its replay
/// counts as over, and the longest berth waits for that.
const REPLAY_QUIET: Duration = Duration::from_millis(300);
const REPLAY_MAX: Duration = Duration::from_secs(5);

/// What the handlers share.
pub(crate) struct ClientState {
    pub events: mpsc::Sender<AgentEvent>,
    pub turn: TurnSlot,
    /// The canonical session directory that `fs/*` requests are confined to.
    pub root: PathBuf,
    /// Set from `session/load` until the agent has gone quiet after answering it (see
    /// `finish_replay`): it replays a conversation berth has logged already, so its
    /// updates are dropped (state updates, commands and mode, still count).
    pub replaying: AtomicBool,
    /// When the last replayed update was dropped.
    pub replay_heard: Mutex<Instant>,
    /// Tool calls the agent announced, so a permission request for an unannounced one
    /// can announce it first (Gemini CLI only names its tools in the request).
    pub tool_calls: Mutex<HashSet<String>>,
    /// How far the crate's dispatch has got, for `intake`'s ordering.
    pub barriers: Barriers,
}

/// Serve the connection over `transport` until the agent closes its stdout or `shutdown`
/// fires. The connection handle is sent on `connected` as soon as it exists.
pub(crate) async fn run<T>(
    state: Arc<ClientState>,
    transport: T,
    connected: oneshot::Sender<AgentConnection>,
    shutdown: CancellationToken,
) where
    T: acp::ConnectTo<acp::Client> + 'static,
{
    let result = acp::Client
        .v1()
        .name("berth")
        .on_receive_notification(
            {
                let state = state.clone();
                async move |notification: UntypedMessage, _cx| {
                    state.on_notification(notification).await;
                    Ok(())
                }
            },
            acp::on_receive_notification!(),
        )
        .on_receive_request(
            {
                let state = state.clone();
                async move |request: RequestPermissionRequest, responder, cx| {
                    state.on_permission(request, responder, cx).await
                }
            },
            acp::on_receive_request!(),
        )
        .on_receive_request(
            {
                let state = state.clone();
                async move |request: CreateElicitationRequest, responder, cx| {
                    state.on_elicitation(request, responder, cx).await
                }
            },
            acp::on_receive_request!(),
        )
        .on_receive_request(
            {
                let state = state.clone();
                async move |request: ReadTextFileRequest, responder, _cx| state.on_read(request, responder).await
            },
            acp::on_receive_request!(),
        )
        .on_receive_request(
            {
                let state = state.clone();
                async move |request: WriteTextFileRequest, responder, _cx| state.on_write(request, responder).await
            },
            acp::on_receive_request!(),
        )
        // Last: everything else we did not advertise (terminals, extensions, …).
        .on_receive_request(
            async move |request: UntypedMessage, responder: Responder<Value>, _cx| {
                tracing::debug!(method = %request.method, "rejecting an agent request berth does not support");
                responder.respond_with_error(acp::Error::method_not_found().data(request.method))
            },
            acp::on_receive_request!(),
        )
        .connect_with(transport, async move |cx: AgentConnection| {
            let _ = connected.send(cx.clone());
            tokio::select! {
                () = cx.incoming_closed() => {}
                () = shutdown.cancelled() => {}
            }
            Ok(())
        })
        .await;
    match result {
        Ok(()) => tracing::debug!("agent connection closed"),
        Err(error) => tracing::warn!(error = %describe_error(&error), "agent connection failed"),
    }
}

impl ClientState {
    async fn emit(&self, event: AgentEvent) -> bool {
        let sent = self.events.send(event).await.is_ok();
        if !sent {
            tracing::debug!("agent event dropped: nobody listens to this link any more");
        }
        sent
    }

    async fn on_notification(&self, notification: UntypedMessage) {
        // Every notification is claimed here, even ones we ignore: the crate would
        // otherwise park unclaimed session notifications waiting for a session handler.
        match notification.method.as_str() {
            // Read by `intake` as a rule; one reaches the crate only if intake is bypassed.
            "session/update" => {
                let update = match SessionNotification::deserialize(&notification.params) {
                    Ok(notification) => Update::Known(Box::new(notification.update)),
                    Err(_) => Update::Unknown(notification.params.get("update").cloned()),
                };
                self.on_update(update).await;
            }
            intake::BARRIER_METHOD => {
                match intake::BarrierParams::deserialize(&notification.params) {
                    Ok(barrier) => self.barriers.reached(barrier.n),
                    Err(error) => tracing::warn!(%error, "a malformed intake barrier"),
                }
            }
            method => tracing::debug!(method, "ignoring an agent notification"),
        }
    }

    /// One `session/update`, in the order the agent sent it (`intake` keeps that order).
    pub(crate) async fn on_update(&self, update: Update) {
        let replaying = self.replaying.load(Ordering::SeqCst);
        let update = match update {
            // Replayed history, like every chunk.
            Update::Chunk { .. } if replaying => {
                self.heard_replay();
                return;
            }
            Update::Chunk { thought, text } => {
                let event = Event::chunk(thought, self.turn.get().to_string(), text);
                self.emit(AgentEvent::Update(event)).await;
                return;
            }
            Update::Known(update) => *update,
            Update::Unknown(_) if replaying => {
                self.heard_replay();
                return;
            }
            // A kind this ACP version does not know (or a malformed one): kept as the
            // agent sent it, so nothing the agent said is lost.
            Update::Unknown(None) => {
                tracing::debug!("skipping a session/update without an update");
                return;
            }
            Update::Unknown(Some(update)) => {
                tracing::debug!("keeping a session update berth cannot read as agent_update");
                let event = translate::unknown_update(update, &self.turn.get());
                self.emit(AgentEvent::Update(event)).await;
                return;
            }
        };
        if replaying && translate::is_replayed(&update) {
            self.heard_replay();
            return;
        }
        let turn = self.turn.get();
        if let SessionUpdate::ToolCall(call) = update {
            // Announced already (from a permission request): this is news about it.
            let event = if self.first_mention(&call.tool_call_id.0) {
                translate::update_to_event(SessionUpdate::ToolCall(call), &turn)
            } else {
                Some(translate::tool_call_as_update(call, &turn))
            };
            if let Some(event) = event {
                self.emit(AgentEvent::Update(event)).await;
            }
            return;
        }
        if let Some(event) = translate::update_to_event(update, &turn) {
            self.emit(AgentEvent::Update(event)).await;
        }
    }

    /// A replayed update was dropped: the replay is still going.
    fn heard_replay(&self) {
        *self
            .replay_heard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
    }

    /// After `session/load` answered: wait until the agent has been quiet for
    /// [`REPLAY_QUIET`] (Gemini CLI sends its replay after answering, with no end marker),
    /// at most [`REPLAY_MAX`], then end the replay window.
    async fn finish_replay(&self) {
        let started = Instant::now();
        self.heard_replay();
        loop {
            let heard = *self
                .replay_heard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let quiet_at = heard + REPLAY_QUIET;
            let give_up = started + REPLAY_MAX;
            if Instant::now() >= quiet_at.min(give_up) {
                break;
            }
            tokio::time::sleep_until(quiet_at.min(give_up).into()).await;
        }
        self.replaying.store(false, Ordering::SeqCst);
    }

    /// Remember a tool call id; `true` the first time it is heard of.
    fn first_mention(&self, id: &str) -> bool {
        self.tool_calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id.to_owned())
    }

    async fn on_permission(
        &self,
        request: RequestPermissionRequest,
        responder: Responder<RequestPermissionResponse>,
        cx: AgentConnection,
    ) -> Result<(), acp::Error> {
        if self.first_mention(&request.tool_call.tool_call_id.0) {
            // First heard of here: log the call itself, so the approval and the call's
            // later updates have something to attach to.
            let call = translate::tool_call_from_update(&request.tool_call, &self.turn.get());
            self.emit(AgentEvent::Update(call)).await;
        }
        let (reply, answer) = oneshot::channel();
        let event = AgentEvent::Permission {
            tool_call_id: Some(request.tool_call.tool_call_id.0.to_string()),
            title: request
                .tool_call
                .fields
                .title
                .clone()
                .filter(|title| !title.trim().is_empty())
                .unwrap_or_else(|| "Permission requested".to_owned()),
            options: translate::permission_options(&request.options),
            reply,
        };
        if !self.emit(event).await {
            return responder.respond(RequestPermissionResponse::new(
                RequestPermissionOutcome::Cancelled,
            ));
        }
        let offered: Vec<String> = request
            .options
            .iter()
            .map(|o| o.option_id.0.to_string())
            .collect();
        cx.spawn(async move {
            let outcome = match answer.await {
                Ok(Outcome::Selected { option_id }) if offered.contains(&option_id) => {
                    RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(option_id))
                }
                Ok(Outcome::Selected { option_id }) => {
                    tracing::warn!(%option_id, "permission answered with an option the agent did not offer; cancelling");
                    RequestPermissionOutcome::Cancelled
                }
                // Answers, an explicit cancel, or the reply dropped unanswered.
                Ok(_) | Err(_) => RequestPermissionOutcome::Cancelled,
            };
            respond_or_log(responder.respond(RequestPermissionResponse::new(outcome)));
            Ok(())
        })
    }

    async fn on_elicitation(
        &self,
        request: CreateElicitationRequest,
        responder: Responder<CreateElicitationResponse>,
        cx: AgentConnection,
    ) -> Result<(), acp::Error> {
        let ElicitationMode::Form(form) = request.mode else {
            // We advertised forms only; a URL (or unknown) elicitation is declined.
            tracing::debug!("declining a non-form elicitation");
            return responder.respond(CreateElicitationResponse::new(ElicitationAction::Decline));
        };
        let (reply, answer) = oneshot::channel();
        let event = AgentEvent::Question {
            message: request.message,
            questions: translate::questions(&form.requested_schema),
            reply,
        };
        if !self.emit(event).await {
            return responder.respond(CreateElicitationResponse::new(ElicitationAction::Cancel));
        }
        let schema = form.requested_schema;
        cx.spawn(async move {
            let action = match answer.await {
                Ok(Outcome::Answered { answers }) => ElicitationAction::Accept(
                    ElicitationAcceptAction::new()
                        .content(translate::answers_to_content(&schema, answers)),
                ),
                Ok(Outcome::Selected { .. }) => {
                    tracing::warn!("question answered with a permission option; cancelling");
                    ElicitationAction::Cancel
                }
                Ok(Outcome::Cancelled { .. }) | Err(_) => ElicitationAction::Cancel,
            };
            respond_or_log(responder.respond(CreateElicitationResponse::new(action)));
            Ok(())
        })
    }

    async fn on_read(
        &self,
        request: ReadTextFileRequest,
        responder: Responder<ReadTextFileResponse>,
    ) -> Result<(), acp::Error> {
        let root = self.root.clone();
        let result = tokio::task::spawn_blocking(move || {
            fs::read_text(&root, &request.path, request.line, request.limit)
        })
        .await;
        match result {
            Ok(Ok(content)) => responder.respond(ReadTextFileResponse::new(content)),
            Ok(Err(error)) => {
                tracing::debug!(%error, "refused fs/read_text_file");
                responder.respond_with_error(error.into_acp())
            }
            Err(error) => responder.respond_with_error(acp::Error::into_internal_error(error)),
        }
    }

    async fn on_write(
        &self,
        request: WriteTextFileRequest,
        responder: Responder<WriteTextFileResponse>,
    ) -> Result<(), acp::Error> {
        let root = self.root.clone();
        let result = tokio::task::spawn_blocking(move || {
            fs::write_text(&root, &request.path, &request.content)
        })
        .await;
        match result {
            Ok(Ok(())) => responder.respond(WriteTextFileResponse::new()),
            Ok(Err(error)) => {
                tracing::debug!(%error, "refused fs/write_text_file");
                responder.respond_with_error(error.into_acp())
            }
            Err(error) => responder.respond_with_error(acp::Error::into_internal_error(error)),
        }
    }
}

/// A connection task must not fail: the crate shuts the whole connection down when one
/// does. A response that cannot be sent means the connection is already going away.
fn respond_or_log(result: Result<(), acp::Error>) {
    if let Err(error) = result {
        tracing::debug!(error = %describe_error(&error), "could not answer the agent");
    }
}

/// What the handshake established.
pub(crate) struct Handshake {
    pub session_id: String,
    pub origin: SessionOrigin,
    pub capabilities: AgentCapabilities,
    /// Why an earlier conversation could not be continued, when one was asked for.
    pub note: Option<String>,
    /// How the agent offers to sign in (for `auth_required` answers later on).
    pub auth_methods: Vec<AuthMethod>,
    /// What the agent offers to choose, and its current mode, as its session opened.
    pub config: AgentConfig,
    pub mode: Option<String>,
}

/// Send a request and get its answer as JSON (see `offer` for why not typed).
pub(crate) async fn ask(
    cx: &AgentConnection,
    method: &str,
    params: impl serde::Serialize,
) -> Result<Value, acp::Error> {
    let message = UntypedMessage::new(method, params)?;
    cx.send_request(message).block_task().await
}

/// `initialize` (protocol v1, our capabilities), then the session: `session/resume` of
/// `resume` when the agent offers it, else `session/load` (its replay is not recorded
/// again: see [`ClientState::replaying`]), else (or when those fail) `session/new` in
/// `cwd`. Errors are sentences for the user.
pub(crate) async fn handshake(
    cx: &AgentConnection,
    state: &ClientState,
    cwd: &Path,
    resume: Option<&str>,
) -> Result<Handshake, String> {
    let capabilities = ClientCapabilities::new()
        .fs(FileSystemCapabilities::new()
            .read_text_file(true)
            .write_text_file(true))
        .elicitation(ElicitationCapabilities::new().form(ElicitationFormCapabilities::new()));
    let initialize = InitializeRequest::new(ProtocolVersion::V1)
        .client_capabilities(capabilities)
        .client_info(Implementation::new("berth", env!("CARGO_PKG_VERSION")));
    let initialized = cx
        .send_request(initialize)
        .block_task()
        .await
        .map_err(|e| format!("initialize failed: {}", describe_error(&e)))?;
    if initialized.protocol_version != ProtocolVersion::V1 {
        return Err(format!(
            "the agent speaks ACP protocol version {}, berth speaks version 1",
            initialized.protocol_version.as_u16()
        ));
    }
    let capabilities = translate::capabilities(&initialized);
    let mut note = None;
    if let Some(previous) = resume {
        match continue_session(cx, state, cwd, previous, &capabilities).await {
            Ok((origin, answer)) => {
                let (config, mode) = offer::from_answer(&answer);
                return Ok(Handshake {
                    session_id: previous.to_owned(),
                    origin,
                    capabilities,
                    note: None,
                    auth_methods: initialized.auth_methods,
                    config,
                    mode,
                });
            }
            Err(why) => note = Some(why),
        }
    }
    let answer = ask(cx, "session/new", NewSessionRequest::new(cwd))
        .await
        .map_err(|e| match e.code {
            acp::ErrorCode::AUTH_REQUIRED => auth_required(&initialized.auth_methods, &e),
            _ => format!("session/new failed: {}", describe_error(&e)),
        })?;
    let session: NewSessionResponse = serde_json::from_value(answer.clone())
        .map_err(|e| format!("session/new answered without a session: {e}"))?;
    let (config, mode) = offer::from_answer(&answer);
    Ok(Handshake {
        session_id: session.session_id.0.to_string(),
        origin: SessionOrigin::New,
        capabilities,
        note,
        auth_methods: initialized.auth_methods,
        config,
        mode,
    })
}

/// Continue the agent's earlier conversation `previous`: resume when offered, else
/// load. Returns how, with the agent's answer.
async fn continue_session(
    cx: &AgentConnection,
    state: &ClientState,
    cwd: &Path,
    previous: &str,
    capabilities: &AgentCapabilities,
) -> Result<(SessionOrigin, Value), String> {
    let mut failures = Vec::new();
    if capabilities.resume {
        let resume = ResumeSessionRequest::new(previous.to_owned(), cwd);
        match ask(cx, "session/resume", resume).await {
            Ok(answer) => return Ok((SessionOrigin::Resumed, answer)),
            Err(e) => failures.push(format!("session/resume failed: {}", describe_error(&e))),
        }
    }
    if capabilities.load_session {
        // The agent replays the conversation as updates, before or after it answers;
        // berth's log has it already.
        state.replaying.store(true, Ordering::SeqCst);
        let loaded = ask(
            cx,
            "session/load",
            LoadSessionRequest::new(previous.to_owned(), cwd),
        )
        .await;
        match loaded {
            Ok(answer) => {
                state.finish_replay().await;
                return Ok((SessionOrigin::Loaded, answer));
            }
            Err(e) => {
                state.replaying.store(false, Ordering::SeqCst);
                failures.push(format!("session/load failed: {}", describe_error(&e)));
            }
        }
    }
    if failures.is_empty() {
        Err("the agent can neither resume nor load a conversation".to_owned())
    } else {
        Err(failures.join("; "))
    }
}

/// The sentence for an agent that wants `authenticate` before it opens a session. berth
/// does not sign in on the user's behalf: the agent's own tooling does that.
pub(crate) fn auth_required(methods: &[AuthMethod], error: &acp::Error) -> String {
    let offered: Vec<String> = methods
        .iter()
        .map(|method| match method.description() {
            Some(description) if !description.is_empty() => {
                format!("{} ({description})", method.name())
            }
            _ => method.name().to_owned(),
        })
        .collect();
    let offered = if offered.is_empty() {
        String::new()
    } else {
        format!(" It offers: {}.", offered.join("; "))
    };
    format!(
        "the agent needs you to sign in first ({}).{offered} Sign in with the agent's own \
         command on this machine, or give it an API key through this agent's `env` in \
         berth's config file, then send the prompt again.",
        describe_error(error)
    )
}

/// A readable sentence for an ACP error; the connection going away (the process died or
/// closed its stdout) reads "agent process exited".
pub(crate) fn describe_error(error: &acp::Error) -> String {
    if acp::is_incoming_transport_closed(error) || acp::is_connection_terminated(error) {
        return "agent process exited".to_owned();
    }
    match &error.data {
        Some(Value::String(data)) if !data.is_empty() => format!("{}: {data}", error.message),
        Some(data) if !data.is_null() => format!("{} ({data})", error.message),
        _ => error.message.clone(),
    }
}
