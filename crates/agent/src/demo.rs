//! The built-in demo agent: a real ACP agent on stdio, implementing PROTOCOL.md's script.
//!
//! It lets berth run, be tried and be tested with no agent installed and no API key.
//! This file is the ACP plumbing (handshake, sessions, cancellation, stdout); the
//! script itself — what each prompt does — is in `demo/script.rs`.
//!
//! Notes on the script's edges:
//! - `/fail` answers `session/prompt` with a JSON-RPC error: ACP v1 has no `error` stop
//!   reason, so the client maps the error response to `stop_reason: "error"`.
//! - `/crash` must get its one chunk onto the wire before dying. Exiting from the turn
//!   would race the output writer, so the turn queues a marker message behind the chunk
//!   and the output sink exits the process when it reaches the marker: everything
//!   queued before it has been written and flushed by then.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    self as acp_schema, AgentCapabilities, AuthMethod, AuthMethodAgent, CancelNotification,
    ContentBlock, ContentChunk, Implementation, InitializeRequest, InitializeResponse,
    LoadSessionRequest, LoadSessionResponse, NewSessionRequest, NewSessionResponse,
    PromptCapabilities, PromptRequest, PromptResponse, ResumeSessionRequest, ResumeSessionResponse,
    SessionCapabilities, SessionNotification, SessionResumeCapabilities, SessionUpdate,
    SetSessionConfigOptionRequest, SetSessionConfigOptionResponse, SetSessionModeRequest,
    SetSessionModeResponse, TextContent,
};
use agent_client_protocol::v1::{ConnectionTo, Responder};
use agent_client_protocol::{self as acp, Lines};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{AgentError, AgentProcess, Launcher, LinkConfig, Transport, transport};

mod config;
mod script;

/// The method of the marker message that makes the output sink exit (see `/crash`).
const CRASH_MARKER_METHOD: &str = "_berth/demo_crash";

/// The exit code of `/crash`.
const CRASH_EXIT_CODE: i32 = 101;

/// Optional behaviours, so tests can exercise the client's handling of agents that
/// continue conversations or demand a sign-in (`berth agent demo --help`).
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Offer a way to continue an earlier session (any id is accepted). Default
    /// `resume`, so a session whose agent was stopped (idle, limit, user) continues
    /// seamlessly; `None` starts a new conversation every time.
    pub continues: Option<Continue>,
    /// Advertise an auth method and refuse `session/new` with `auth_required`.
    pub require_auth: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            continues: Some(Continue::Resume),
            require_auth: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continue {
    /// `loadSession`: `session/load` replays one exchange, then answers.
    Load,
    /// `loadSession`, answered first and replayed after, bit by bit (as Gemini CLI does).
    LoadLate,
    /// `sessionCapabilities.resume`: `session/resume` answers at once.
    Resume,
}

/// The text of `/big N`: a line with a multi-byte character and a quote, repeated and
/// cut to at most `bytes` bytes at a character boundary.
pub fn big_text(bytes: usize) -> String {
    const LINE: &str = "berth \"big\" text, é\n";
    let mut text = LINE.repeat(bytes / LINE.len() + 1);
    let mut end = bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// The text of the exchange `session/load` replays (so tests can look for it).
pub const REPLAYED_TEXT: &str = "replayed from the earlier conversation";

/// Run the demo agent on this process's stdin/stdout until stdin closes.
pub async fn run_stdio(options: DemoOptions) -> std::io::Result<()> {
    let transport = Lines::new(
        transport::line_sink(tokio::io::stdout(), is_crash_marker, crash_process),
        transport::json_lines(tokio::io::stdin(), "client"),
    );
    serve(transport, options)
        .await
        .map_err(|error| io::Error::other(error.to_string()))
}

/// The demo agent as a [`Launcher`] that runs it in memory: the same ACP agent as a task
/// of this process, over in-memory pipes. For in-process tests of the session layer
/// (with `tokio::time::pause()`); [`InMemory::running`] counts its live agents the way a
/// test of the binary counts processes.
#[derive(Debug, Clone, Default)]
pub struct InMemory {
    options: DemoOptions,
    launched: Arc<AtomicU64>,
    running: Arc<AtomicU64>,
}

impl InMemory {
    pub fn new(options: DemoOptions) -> Self {
        InMemory {
            options,
            ..InMemory::default()
        }
    }

    /// Agents started so far.
    pub fn launched(&self) -> u64 {
        self.launched.load(Ordering::SeqCst)
    }

    /// Agents running now (started, not yet ended or stopped).
    pub fn running(&self) -> u64 {
        self.running.load(Ordering::SeqCst)
    }
}

/// Counts one running in-memory agent until its task ends or is aborted.
struct Running(Arc<AtomicU64>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Launcher for InMemory {
    fn available(&self, _spec: &crate::AgentSpec) -> Result<(), String> {
        Ok(())
    }

    fn launch(&self, _config: &LinkConfig) -> Result<(Transport, AgentProcess), AgentError> {
        let (client_end, agent_end) = tokio::io::duplex(64 * 1024);
        let (from_client, to_client) = tokio::io::split(agent_end);
        let (from_agent, to_agent) = tokio::io::split(client_end);
        // `/crash` ends the agent's output here (there is no process to exit).
        let transport = Lines::new(
            transport::line_sink(to_client, is_crash_marker, || {}),
            transport::json_lines(from_client, "client"),
        );
        let number = self.launched.fetch_add(1, Ordering::SeqCst) + 1;
        self.running.fetch_add(1, Ordering::SeqCst);
        let running = Running(self.running.clone());
        let options = self.options;
        let task = tokio::spawn(async move {
            let _running = running;
            if let Err(error) = serve(transport, options).await {
                tracing::debug!(%error, "in-memory demo agent ended");
            }
        });
        let transport = Transport {
            from_agent: Box::new(from_agent),
            to_agent: Box::new(to_agent),
        };
        // Pids of in-memory agents are small numbers, never signalled.
        Ok((transport, AgentProcess::task(number as u32, task)))
    }
}

fn crash_process() {
    tracing::warn!("crashing on request (/crash)");
    std::process::exit(CRASH_EXIT_CODE);
}

/// Serve the demo agent over any line transport until the client hangs up.
pub(crate) async fn serve(
    transport: impl acp::ConnectTo<acp::Agent> + 'static,
    options: DemoOptions,
) -> Result<(), acp::Error> {
    let demo = Arc::new(Demo {
        options,
        ..Demo::default()
    });
    acp::Agent
        .v1()
        .name("berth-demo")
        .on_receive_request(
            {
                let demo = demo.clone();
                async move |request: InitializeRequest, responder, _cx| {
                    demo.on_initialize(request, responder)
                }
            },
            acp::on_receive_request!(),
        )
        .on_receive_request(
            {
                let demo = demo.clone();
                async move |request: NewSessionRequest, responder, _cx| {
                    demo.on_new_session(request, responder)
                }
            },
            acp::on_receive_request!(),
        )
        .on_receive_request(
            {
                let demo = demo.clone();
                async move |request: LoadSessionRequest, responder, cx| {
                    demo.on_load_session(request, responder, cx)
                }
            },
            acp::on_receive_request!(),
        )
        .on_receive_request(
            {
                let demo = demo.clone();
                async move |request: ResumeSessionRequest, responder, _cx| {
                    demo.on_resume_session(request, responder)
                }
            },
            acp::on_receive_request!(),
        )
        .on_receive_request(
            {
                let demo = demo.clone();
                async move |request: PromptRequest, responder, cx| {
                    demo.on_prompt(request, responder, cx)
                }
            },
            acp::on_receive_request!(),
        )
        .on_receive_request(
            {
                let demo = demo.clone();
                async move |request: SetSessionModeRequest, responder, _cx| {
                    demo.on_set_mode(request, responder)
                }
            },
            acp::on_receive_request!(),
        )
        .on_receive_request(
            {
                let demo = demo.clone();
                async move |request: SetSessionConfigOptionRequest, responder, _cx| {
                    demo.on_set_config_option(request, responder)
                }
            },
            acp::on_receive_request!(),
        )
        .on_receive_notification(
            {
                let demo = demo.clone();
                async move |notification: CancelNotification, _cx| {
                    demo.on_cancel(&notification);
                    Ok(())
                }
            },
            acp::on_receive_notification!(),
        )
        .connect_to(transport)
        .await
}

fn is_crash_marker(line: &str) -> bool {
    line.contains(CRASH_MARKER_METHOD)
        && serde_json::from_str::<Value>(line).is_ok_and(|message| {
            message.get("method").and_then(Value::as_str) == Some(CRASH_MARKER_METHOD)
        })
}

#[derive(Default)]
struct Demo {
    options: DemoOptions,
    // A std mutex: every critical section is a map lookup, never held across an await.
    sessions: Mutex<HashMap<String, DemoSession>>,
    next_session: AtomicU64,
    /// Whether the client advertised `elicitation.form` (`/ask` needs it).
    forms: AtomicBool,
}

struct DemoSession {
    cwd: PathBuf,
    /// Cancels the running turn, if any.
    running: Option<CancellationToken>,
    turns: u64,
    /// Tokens in its pretend context (usage, reported after each turn).
    tokens: u64,
    mode: String,
    model: String,
}

impl Demo {
    fn sessions(&self) -> MutexGuard<'_, HashMap<String, DemoSession>> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn on_initialize(
        &self,
        request: InitializeRequest,
        responder: Responder<InitializeResponse>,
    ) -> Result<(), acp::Error> {
        let forms = request
            .client_capabilities
            .elicitation
            .as_ref()
            .is_some_and(|elicitation| elicitation.supports_form());
        self.forms.store(forms, Ordering::Relaxed);
        let continues = self.options.continues;
        let mut sessions = SessionCapabilities::new();
        if continues == Some(Continue::Resume) {
            sessions = sessions.resume(SessionResumeCapabilities::new());
        }
        let mut response = InitializeResponse::new(ProtocolVersion::V1)
            .agent_capabilities(
                AgentCapabilities::new()
                    .load_session(matches!(
                        continues,
                        Some(Continue::Load | Continue::LoadLate)
                    ))
                    .session_capabilities(sessions)
                    // So `/whoami` can show each kind of attachment berth sends.
                    .prompt_capabilities(
                        PromptCapabilities::new().image(true).embedded_context(true),
                    ),
            )
            .agent_info(Implementation::new("berth-demo", env!("CARGO_PKG_VERSION")));
        if self.options.require_auth {
            response = response.auth_methods(vec![AuthMethod::Agent(
                AuthMethodAgent::new("demo-login", "Demo login")
                    .description("run `demo login` in a terminal"),
            )]);
        }
        responder.respond(response)
    }

    fn add_session(&self, session_id: String, cwd: PathBuf) {
        self.sessions().insert(
            session_id,
            DemoSession {
                cwd,
                running: None,
                turns: 0,
                tokens: 0,
                mode: config::DEFAULT_MODE.to_owned(),
                model: config::DEFAULT_MODEL.to_owned(),
            },
        );
    }

    fn on_load_session(
        &self,
        request: LoadSessionRequest,
        responder: Responder<LoadSessionResponse>,
        cx: ConnectionTo<acp::Client>,
    ) -> Result<(), acp::Error> {
        let late = match self.options.continues {
            Some(Continue::Load) => false,
            Some(Continue::LoadLate) => true,
            _ => return responder.respond_with_error(acp::Error::method_not_found()),
        };
        // Replay the "earlier" exchange, as real agents do; the notifications and the
        // answer leave through the same ordered queue.
        let text = |text: &str| ContentChunk::new(ContentBlock::Text(TextContent::new(text)));
        let replay = [
            SessionUpdate::UserMessageChunk(text("an earlier question")),
            SessionUpdate::AgentMessageChunk(text(REPLAYED_TEXT)),
            SessionUpdate::AgentMessageChunk(text(REPLAYED_TEXT)),
        ];
        let session_id = request.session_id.clone();
        self.add_session(request.session_id.0.to_string(), request.cwd);
        let loaded = || {
            LoadSessionResponse::new()
                .modes(config::modes(config::DEFAULT_MODE))
                .config_options(config::options(config::DEFAULT_MODEL))
        };
        if !late {
            for update in replay {
                cx.send_notification(SessionNotification::new(session_id.clone(), update))?;
            }
            return responder.respond(loaded());
        }
        responder.respond(loaded())?;
        cx.spawn({
            let cx = cx.clone();
            async move {
                for update in replay {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    cx.send_notification(SessionNotification::new(session_id.clone(), update))?;
                }
                Ok(())
            }
        })
    }

    fn on_resume_session(
        &self,
        request: ResumeSessionRequest,
        responder: Responder<ResumeSessionResponse>,
    ) -> Result<(), acp::Error> {
        if self.options.continues != Some(Continue::Resume) {
            return responder.respond_with_error(acp::Error::method_not_found());
        }
        self.add_session(request.session_id.0.to_string(), request.cwd);
        responder.respond(
            ResumeSessionResponse::new()
                .modes(config::modes(config::DEFAULT_MODE))
                .config_options(config::options(config::DEFAULT_MODEL)),
        )
    }

    fn on_new_session(
        &self,
        request: NewSessionRequest,
        responder: Responder<NewSessionResponse>,
    ) -> Result<(), acp::Error> {
        if self.options.require_auth {
            return responder.respond_with_error(acp::Error::auth_required());
        }
        let number = self.next_session.fetch_add(1, Ordering::Relaxed) + 1;
        let session_id = format!("demo-{}-{number}", std::process::id());
        self.add_session(session_id.clone(), request.cwd);
        responder.respond(
            NewSessionResponse::new(session_id)
                .modes(config::modes(config::DEFAULT_MODE))
                .config_options(config::options(config::DEFAULT_MODEL)),
        )
    }

    fn on_set_mode(
        &self,
        request: SetSessionModeRequest,
        responder: Responder<SetSessionModeResponse>,
    ) -> Result<(), acp::Error> {
        let mode_id = request.mode_id.0.to_string();
        let set = config::check_mode(&mode_id).and_then(|()| {
            let mut sessions = self.sessions();
            let session = sessions
                .get_mut(request.session_id.0.as_ref())
                .ok_or_else(|| acp_schema::Error::session_not_found(request.session_id.clone()))?;
            session.mode = mode_id;
            Ok(())
        });
        match set {
            Ok(()) => responder.respond(SetSessionModeResponse::new()),
            Err(error) => responder.respond_with_error(error),
        }
    }

    fn on_set_config_option(
        &self,
        request: SetSessionConfigOptionRequest,
        responder: Responder<SetSessionConfigOptionResponse>,
    ) -> Result<(), acp::Error> {
        let set = config::chosen_model(&request.config_id.0, &request.value).and_then(|model| {
            let mut sessions = self.sessions();
            let session = sessions
                .get_mut(request.session_id.0.as_ref())
                .ok_or_else(|| acp_schema::Error::session_not_found(request.session_id.clone()))?;
            session.model = model;
            Ok(config::options(&session.model))
        });
        match set {
            Ok(options) => responder.respond(SetSessionConfigOptionResponse::new(options)),
            Err(error) => responder.respond_with_error(error),
        }
    }

    /// Start the turn in a connection task, so the dispatch loop stays free for the
    /// `session/cancel` and the answers the turn may wait for.
    fn on_prompt(
        self: &Arc<Self>,
        request: PromptRequest,
        responder: Responder<PromptResponse>,
        cx: ConnectionTo<acp::Client>,
    ) -> Result<(), acp::Error> {
        let session_key = request.session_id.0.to_string();
        let started = match self.sessions().get_mut(&session_key) {
            None => Err(acp_schema::Error::session_not_found(request.session_id.clone()).into()),
            Some(session) if session.running.is_some() => {
                Err(acp::Error::invalid_request().data("a turn is already running in this session"))
            }
            Some(session) => {
                let cancel = CancellationToken::new();
                session.running = Some(cancel.clone());
                session.turns += 1;
                let choices = (session.mode.clone(), session.model.clone());
                Ok((session.cwd.clone(), cancel, session.turns, choices))
            }
        };
        let (cwd, cancel, number, (mode, model)) = match started {
            Ok(started) => started,
            Err(error) => return responder.respond_with_error(error),
        };
        let text = script::prompt_text(&request.prompt);
        let turn = script::Turn {
            cx: cx.clone(),
            session_id: request.session_id,
            cwd,
            cancel,
            number,
            forms: self.forms.load(Ordering::Relaxed),
            mode,
            model,
            attachments: script::attachments(&request.prompt),
        };
        let demo = self.clone();
        cx.spawn(async move {
            let result = turn.run(&text).await;
            let used = demo.sessions().get_mut(&session_key).map(|session| {
                session.running = None;
                session.tokens += script::turn_tokens(&text);
                session.tokens
            });
            // Every turn that ran ends with the session's usage, before its answer.
            if let Some(used) = used
                && let Err(error) = turn.report_usage(used)
            {
                tracing::debug!(%error, "could not report usage");
            }
            // Sent after the turn's notifications, through the same ordered queue.
            let sent = match result {
                Ok(stop_reason) => responder.respond(PromptResponse::new(stop_reason)),
                Err(error) => responder.respond_with_error(error),
            };
            if let Err(error) = sent {
                tracing::debug!(%error, "could not answer session/prompt");
            }
            // Never fail a connection task: that would end the whole connection.
            Ok(())
        })
    }

    fn on_cancel(&self, notification: &CancelNotification) {
        if let Some(cancel) = self
            .sessions()
            .get(notification.session_id.0.as_ref())
            .and_then(|session| session.running.as_ref())
        {
            cancel.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_marker_is_recognised_only_as_a_method() {
        assert!(is_crash_marker(
            r#"{"jsonrpc":"2.0","method":"_berth/demo_crash","params":{}}"#
        ));
        assert!(!is_crash_marker(
            r#"{"jsonrpc":"2.0","method":"session/update","params":{"text":"_berth/demo_crash"}}"#
        ));
        assert!(!is_crash_marker("_berth/demo_crash"));
    }
}
