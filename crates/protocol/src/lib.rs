//! berth's viewport protocol v1, as plain serde types (no runtime, no I/O).
//!
//! `docs/PROTOCOL.md` is the prose contract; these types are its executable form and
//! are snapshot-tested against the wire format in `tests/wire.rs`.
//!
//! - [`config`]: an agent's modes and config options, and a user's change of them.
//! - [`event`]: the log entry ([`EventRecord`]) and the `kind`-tagged [`Event`] object.
//! - [`session`]: the [`Session`] summary and its [`Status`].
//! - [`prompt`]: pending prompts, answers and resolutions.
//! - [`rest`]: request and response bodies of `/api/v1`.
//! - [`ws`]: WebSocket client ops ([`ClientOp`]) and server frames ([`ServerFrame`]).
//! - [`error`]: the error body shared by REST and WebSocket ([`ErrorCode`]).
//! - [`timestamp`]: RFC 3339 written fast, exactly as chrono writes it.

pub mod config;
pub mod error;
pub mod event;
pub mod prompt;
pub mod rest;
pub mod session;
pub mod timestamp;
pub mod ws;

pub use config::{
    AgentConfig, ConfigChange, ConfigChoice, ConfigOption, OptionKind, OptionSource, OptionValue,
};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use event::{
    AgentCapabilities, AgentCommand, Attachment, Event, EventRecord, ExitReason, PermissionOption,
    PermissionOptionKind, PlanEntry, Question, SessionOrigin, StopReason, UnqueueReason,
};
pub use prompt::{Answer, AnswerValue, Outcome, Prompt, Resolution};
pub use session::{Cost, QueuedTurn, Session, Status, Usage};
pub use ws::{ClientOp, ServerFrame};

/// Per-session, dense, 1-based event sequence number. `0` means "nothing seen yet".
pub type Seq = u64;

/// Timestamps on the wire: RFC 3339, UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// The protocol version this crate describes (also reported as `server_version`'s major).
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest WebSocket message or REST body a server accepts (1 MiB).
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;
