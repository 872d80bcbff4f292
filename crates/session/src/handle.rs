//! `SessionHandle`: the cheap, cloneable way to talk to one session actor.

use std::sync::Arc;

use berth_protocol::{Answer, Prompt, Resolution, Seq, Session};
use tokio::sync::{mpsc, oneshot, watch};

use crate::SessionError;
use crate::hub::Hub;
use crate::request::{Request, Response};

/// What became of a request: answered, or handed back unhandled because its actor went
/// cold first (a session host behind a proxy will do the same), to be sent again to the
/// session's next actor.
pub(crate) enum Delivered {
    Answer(Result<Response, SessionError>),
    Returned(Request),
}

pub(crate) type Reply = oneshot::Sender<Delivered>;

/// A message to the actor: a serialisable request with where to answer it.
pub(crate) enum Message {
    Request(Request, Reply),
}

/// The way to a live actor. A request whose send fails found the actor hibernated (or
/// ended): the registry then retries it with the session's next actor (see
/// [`SessionHandle::send`]), so callers go through the [`crate::Registry`].
#[derive(Clone)]
pub struct SessionHandle {
    pub(crate) id: Arc<str>,
    pub(crate) tx: mpsc::Sender<Message>,
    pub(crate) summary: watch::Receiver<Session>,
    pub(crate) hub: Arc<Hub>,
}

/// A request the actor never handled (its channel is closed, or it handed the request
/// back): safe to send again.
pub(crate) struct NotSent(pub Request);

impl SessionHandle {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The latest summary (may trail the log by milliseconds).
    pub fn summary(&self) -> Session {
        self.summary.borrow().clone()
    }

    /// Send a request and wait for its answer.
    pub async fn request(&self, request: Request) -> Result<Response, SessionError> {
        match self.send(request).await {
            Ok(answer) => answer,
            Err(NotSent(_)) => Err(SessionError::Gone),
        }
    }

    /// Send a request and wait for its answer; `Err` gives back a request the actor
    /// never saw.
    pub(crate) async fn send(
        &self,
        request: Request,
    ) -> Result<Result<Response, SessionError>, NotSent> {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(Message::Request(request, _))) =
            self.tx.send(Message::Request(request, reply)).await
        {
            return Err(NotSent(request));
        }
        match rx.await {
            Ok(Delivered::Answer(answer)) => Ok(answer),
            Ok(Delivered::Returned(request)) => Err(NotSent(request)),
            Err(_) => Ok(Err(SessionError::Gone)),
        }
    }

    /// Start a turn; returns its id once `user_message` and `turn_started` are committed.
    pub async fn prompt(&self, text: String) -> Result<String, SessionError> {
        let prompt = Request::Prompt {
            text,
            queue: false,
            attachments: Vec::new(),
        };
        match self.request(prompt).await? {
            Response::TurnStarted { turn_id } => Ok(turn_id),
            other => Err(unexpected(other)),
        }
    }

    pub async fn cancel(&self) -> Result<(), SessionError> {
        self.request(Request::Cancel).await.map(|_| ())
    }

    pub async fn respond(
        &self,
        prompt_id: String,
        answer: Answer,
    ) -> Result<Resolution, SessionError> {
        match self.request(Request::Respond { prompt_id, answer }).await? {
            Response::Resolved { resolution } => Ok(resolution),
            other => Err(unexpected(other)),
        }
    }

    pub async fn mark_read(&self, seq: Seq) -> Result<Session, SessionError> {
        self.summary_of(Request::MarkRead { seq }).await
    }

    pub async fn rename(&self, title: String) -> Result<Session, SessionError> {
        self.summary_of(Request::Rename { title }).await
    }

    pub async fn pending_prompts(&self) -> Result<Vec<Prompt>, SessionError> {
        match self.request(Request::PendingPrompts).await? {
            Response::Prompts { prompts } => Ok(prompts),
            other => Err(unexpected(other)),
        }
    }

    async fn summary_of(&self, request: Request) -> Result<Session, SessionError> {
        match self.request(request).await? {
            Response::Summary { summary } => Ok(*summary),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(response: Response) -> SessionError {
    SessionError::Io(std::io::Error::other(format!(
        "unexpected actor response {response:?}"
    )))
}
