//! The session layer's errors; the gateway maps each to one `ErrorCode`.

use berth_protocol::{ErrorCode, Resolution};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("prompt {} was already resolved", .0.prompt_id)]
    AlreadyResolved(Box<Resolution>),
    #[error("{0}")]
    Unavailable(String),
    /// A body over its limit (an upload).
    #[error("{0}")]
    TooLarge(String),
    /// The agent answered a request berth passed on with an error (said in full).
    #[error("{0}")]
    Agent(String),
    #[error("the session has ended (deleted or the server is stopping)")]
    Gone,
    #[error("store: {0}")]
    Store(#[from] berth_store::StoreError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl SessionError {
    /// The protocol error code this error is reported with.
    pub fn code(&self) -> ErrorCode {
        match self {
            SessionError::NotFound(_) => ErrorCode::NotFound,
            SessionError::BadRequest(_) => ErrorCode::BadRequest,
            SessionError::Conflict(_) => ErrorCode::Conflict,
            SessionError::AlreadyResolved(_) => ErrorCode::AlreadyResolved,
            SessionError::Unavailable(_) => ErrorCode::Unavailable,
            SessionError::Agent(_) => ErrorCode::AgentError,
            SessionError::TooLarge(_) => ErrorCode::PayloadTooLarge,
            SessionError::Gone => ErrorCode::NotFound,
            SessionError::Store(berth_store::StoreError::NotFound(_)) => ErrorCode::NotFound,
            SessionError::Store(_) | SessionError::Io(_) => ErrorCode::Internal,
        }
    }
}
