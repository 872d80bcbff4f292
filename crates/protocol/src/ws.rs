//! WebSocket frames (`GET /api/v1/ws`): one connection multiplexes many sessions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ErrorCode, Event, EventRecord, Seq, Session, Timestamp};

/// Client → server, tagged by `op`. `id`, when given, is echoed in the reply or error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientOp {
    Attach {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        id: Option<Value>,
        session: String,
        #[serde(default)]
        after: Seq,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        epoch: Option<String>,
    },
    Detach {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        id: Option<Value>,
        session: String,
    },
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        id: Option<Value>,
    },
}

/// Server → client, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Hello {
        epoch: String,
        server_version: String,
    },
    Attached {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        id: Option<Value>,
        session: String,
        epoch: String,
        last_seq: Seq,
        summary: Session,
    },
    Event {
        session: String,
        seq: Seq,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        first_seq: Option<Seq>,
        ts: Timestamp,
        event: Event,
    },
    Reset {
        session: String,
        epoch: String,
    },
    Session {
        summary: Session,
    },
    SessionDeleted {
        session: String,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        id: Option<Value>,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        id: Option<Value>,
    },
}

impl ServerFrame {
    /// The `event` frame carrying `record` of `session`.
    pub fn event(session: impl Into<String>, record: EventRecord) -> Self {
        ServerFrame::Event {
            session: session.into(),
            seq: record.seq,
            first_seq: record.first_seq,
            ts: record.ts,
            event: record.event,
        }
    }
}
