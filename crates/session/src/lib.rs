//! berth's session layer: the single owner of each session's runtime state.
//!
//! - [`registry`]: [`Registry`] creates, finds, lists (pages) and deletes sessions, holds
//!   each as live (an actor) or cold (a summary), wakes and hibernates them, repairs the
//!   previous run's state on open, and publishes summary changes (sidebar updates).
//! - `hub`: a session's live broadcast and viewer count, outliving its actors.
//! - `slots`: `max_live_agents` and the choice of the agent that makes room.
//! - [`actor`]: one task per live session; assigns seqs, commits, then fans out; owns
//!   the running turn, pending prompts, status and the agent (`actor/agent.rs`: its
//!   lifecycle as one enum; `actor/log.rs`: emit → commit in flight → broadcast → tell
//!   the agent; `actor/summary.rs`: status and the published summary).
//! - [`handle`]: [`SessionHandle`], the cheap cloneable way in: [`Request`]s with replies.
//! - [`request`]: the actor's serialisable requests and responses.
//! - [`subscription`]: exact resume for one viewport (`after = N` → N+1, N+2, … live).
//! - [`committed`]: a committed event, serialised once and shared by every viewport;
//!   frame encoding with chunk coalescing.
//! - [`fit`]: what one event may hold (long chunks split, oversize events cut), applied
//!   as the actor emits and to old rows as they are read.
//! - [`host`]: session hosts: a live session in a process of its own that outlives the
//!   server (`host/serve.rs`), the server's proxy to it (`host/proxy.rs`), starting and
//!   finding hosts, their leases, and the versioned protocol between them
//!   (`host/wire.rs`); see docs/ARCHITECTURE.md.
//! - [`prompts`]: pending prompts and their exactly-once resolution.
//! - [`repair`]: closing what a previous server left open (no ghost status).
//! - [`summary`]: the `Session` summary and its throttled publication.
//! - [`export`]: a session's log as JSON or a Markdown transcript.
//! - [`uploads`]: files sent with prompts, kept in the session's directory.
//! - `preview`: the summary's preview line (the last line of the latest text).
//! - [`catalog`], [`config`], [`error`]: agents known to the server, tunables, errors.

pub mod actor;
pub mod catalog;
pub mod committed;
pub mod config;
pub mod error;
pub mod export;
pub mod fit;
pub mod handle;
pub mod host;
mod hub;
mod preview;
pub mod prompts;
pub mod registry;
pub mod repair;
pub mod request;
mod slots;
pub mod subscription;
pub mod summary;
pub mod uploads;

pub use catalog::{AgentCatalog, AgentEntry};
pub use committed::{Committed, encode_batch};
pub use config::{Placement, SessionConfig};
pub use error::SessionError;
pub use handle::SessionHandle;
pub use registry::Registry;
pub use request::{Request, Response};
pub use subscription::{Attachment, Subscription};
pub use uploads::UploadWriter;
