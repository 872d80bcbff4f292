//! The agent's stdout, split in two: `session/update` notifications, nearly every line
//! a busy agent prints, are read here and handed straight to the client state; every
//! other line goes on to the ACP crate.
//!
//! Why: the crate parses each line into a `Value`, then into its own message type, then
//! walks a chain of handlers that moves the message by value at every link; for a
//! streaming agent that was over a third of the session host's CPU, and the host's one
//! thread is what limits a session's event rate. Here a line is parsed once, straight
//! into the typed notification.
//!
//! Order is the contract (see `client.rs`): events reach the actor in the order the
//! agent sent them. An update read here is handled before the next line is read, but a
//! line passed to the crate is handled later, in the crate's own dispatch loop. So once a
//! line has gone to the crate, the next update waits for a **barrier**: a notification
//! of berth's own that is passed to the crate behind it; when the crate's dispatch reaches
//! the barrier (its handler acknowledges it), everything before it has been handled, and
//! updates are handled here again. Only an update that follows a crate-bound line pays
//! for this (a permission request, a reply: a few per turn).

use std::borrow::Cow;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use agent_client_protocol::v1::schema::{SessionNotification, SessionUpdate};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::client::ClientState;
use crate::transport;

/// The method of the barrier notification, an extension name no agent sends.
pub(crate) const BARRIER_METHOD: &str = "_berth/intake_barrier";

/// A `session/update` as it arrived.
pub(crate) enum Update {
    /// A message or thought chunk of text, most of what a busy agent sends: read into
    /// just its text (what berth logs of it) without building the typed update.
    Chunk { thought: bool, text: String },
    /// Boxed: the typed update is ~450 bytes, moved through several futures.
    Known(Box<SessionUpdate>),
    /// A kind this ACP version does not know, or a malformed one: the agent's `update`
    /// object, if there was one, kept as sent.
    Unknown(Option<Value>),
}

/// Where the crate's dispatch has got to: the highest barrier it has handled.
#[derive(Clone)]
pub(crate) struct Barriers(Arc<watch::Sender<u64>>);

impl Default for Barriers {
    fn default() -> Self {
        Barriers(Arc::new(watch::channel(0).0))
    }
}

impl Barriers {
    /// The crate's dispatch reached barrier `n` (the barrier notification's handler).
    pub(crate) fn reached(&self, n: u64) {
        self.0.send_if_modified(|at| {
            let newer = n > *at;
            if newer {
                *at = n;
            }
            newer
        });
    }

    async fn wait_for(&self, n: u64) {
        let mut at = self.0.subscribe();
        // Err only if the sender is gone, which cannot be while `self` holds it.
        let _ = at.wait_for(|at| *at >= n).await;
    }
}

/// The params of a barrier notification.
#[derive(Deserialize)]
pub(crate) struct BarrierParams {
    pub n: u64,
}

/// The lines of `lines` that the ACP crate must see; `session/update` notifications are
/// handed to `state` instead, in order (module docs). `lines` are not checked for JSON
/// yet (`transport::text_lines`): an update is parsed here anyway, and any other line is
/// checked here before it goes on, so no line is scanned twice.
pub(crate) fn split_updates<S>(
    lines: S,
    peer: &'static str,
    state: Arc<ClientState>,
) -> impl Stream<Item = io::Result<String>> + Send + 'static
where
    S: Stream<Item = io::Result<String>> + Send + 'static,
{
    let intake = Intake {
        lines: Box::pin(lines),
        peer,
        state,
        // Nothing has gone to the crate yet.
        unsynced: false,
        barriers_sent: 0,
        held: None,
    };
    futures::stream::unfold(intake, |mut intake| async move {
        let item = intake.next_for_crate().await?;
        Some((item, intake))
    })
}

struct Intake {
    lines: Pin<Box<dyn Stream<Item = io::Result<String>> + Send>>,
    peer: &'static str,
    state: Arc<ClientState>,
    /// A line has gone to the crate since the last barrier came back.
    unsynced: bool,
    barriers_sent: u64,
    /// An update read while unsynced, and the barrier it waits for.
    held: Option<(Update, u64)>,
}

impl Intake {
    /// Handle updates until a line for the crate (or a barrier) is due; `None` at the end.
    async fn next_for_crate(&mut self) -> Option<io::Result<String>> {
        loop {
            if let Some((update, barrier)) = self.held.take() {
                self.state.barriers.wait_for(barrier).await;
                self.unsynced = false;
                self.state.on_update(update).await;
            }
            let line = match self.lines.next().await? {
                Ok(line) => line,
                Err(error) => return Some(Err(error)),
            };
            let Some(update) = read_update(&line) else {
                if !transport::keep_json(&line, self.peer) {
                    continue;
                }
                self.unsynced = true;
                return Some(Ok(line));
            };
            if self.unsynced {
                self.barriers_sent += 1;
                self.held = Some((update, self.barriers_sent));
                return Some(Ok(barrier_line(self.barriers_sent)));
            }
            self.state.on_update(update).await;
        }
    }
}

fn barrier_line(n: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","method":"{BARRIER_METHOD}","params":{{"n":{n}}}}}"#)
}

/// The line as a `session/update` notification, or `None` for any other line.
fn read_update(line: &str) -> Option<Update> {
    // Cheap first: most other lines (replies, requests) do not name the method at all.
    if !line.contains("\"session/update\"") {
        return None;
    }
    if let Some(chunk) = read_text_chunk(line) {
        return Some(chunk);
    }
    #[derive(Deserialize)]
    struct Typed {
        method: String,
        #[serde(default, deserialize_with = "present")]
        id: bool,
        params: SessionNotification,
    }
    if let Ok(typed) = serde_json::from_str::<Typed>(line) {
        return (typed.method == "session/update" && !typed.id)
            .then(|| Update::Known(Box::new(typed.params.update)));
    }
    // Not one berth can read as typed: is it a `session/update` notification at all?
    let mut value: Value = serde_json::from_str(line).ok()?;
    if value.get("method").and_then(Value::as_str) != Some("session/update")
        || value.get("id").is_some()
    {
        return None;
    }
    let update = value
        .get_mut("params")
        .and_then(|params| params.get_mut("update"))
        .map(Value::take);
    Some(Update::Unknown(update))
}

/// A text chunk's fields, if the line is a notification of one; `None` for anything else
/// (which the typed reading then takes, whole).
fn read_text_chunk(line: &str) -> Option<Update> {
    #[derive(Deserialize)]
    struct Line<'a> {
        #[serde(borrow)]
        method: Cow<'a, str>,
        #[serde(default, deserialize_with = "present")]
        id: bool,
        #[serde(borrow)]
        params: Params<'a>,
    }
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        update: ChunkUpdate<'a>,
    }
    #[derive(Deserialize)]
    struct ChunkUpdate<'a> {
        #[serde(rename = "sessionUpdate", borrow)]
        kind: Cow<'a, str>,
        #[serde(borrow)]
        content: Content<'a>,
    }
    #[derive(Deserialize)]
    struct Content<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
        text: String,
    }
    let line: Line = serde_json::from_str(line).ok()?;
    if line.method != "session/update" || line.id || line.params.update.content.kind != "text" {
        return None;
    }
    let thought = match &*line.params.update.kind {
        "agent_message_chunk" => false,
        "agent_thought_chunk" => true,
        _ => return None,
    };
    Some(Update::Chunk {
        thought,
        text: line.params.update.content.text,
    })
}

/// Whether the field is there at all (`"id": null` included: then it is a request).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(line: &str) -> &'static str {
        match read_update(line) {
            None => "crate",
            Some(Update::Chunk { thought: false, .. }) => "chunk",
            Some(Update::Chunk { thought: true, .. }) => "thought",
            Some(Update::Known(_)) => "known",
            Some(Update::Unknown(Some(_))) => "unknown",
            Some(Update::Unknown(None)) => "empty",
        }
    }

    #[test]
    fn only_update_notifications_are_taken() {
        let chunk = r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"hi"}}}}"#;
        assert_eq!(kind(chunk), "chunk");
        let thought = chunk.replace("agent_message_chunk", "agent_thought_chunk");
        assert_eq!(kind(&thought), "thought");
        // Not text: the typed reading takes it (and says `[image]`).
        let image = r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"image","data":"AA==","mimeType":"image/png"}}}}"#;
        assert_eq!(kind(image), "known");
        let user = chunk.replace("agent_message_chunk", "user_message_chunk");
        assert_eq!(kind(&user), "known");
        let odd = r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"from_the_future","x":1}}}"#;
        assert_eq!(kind(odd), "unknown");
        let bare = r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s"}}"#;
        assert_eq!(kind(bare), "empty");
        // A request of that name (it has an id), a reply quoting the name, other methods.
        let request = r#"{"jsonrpc":"2.0","id":null,"method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"hi"}}}}"#;
        assert_eq!(kind(request), "crate");
        let reply = r#"{"jsonrpc":"2.0","id":1,"result":{"note":"\"session/update\""}}"#;
        assert_eq!(kind(reply), "crate");
        let permission =
            r#"{"jsonrpc":"2.0","id":2,"method":"session/request_permission","params":{}}"#;
        assert_eq!(kind(permission), "crate");
    }

    #[test]
    fn the_barrier_is_a_notification_the_crate_can_read() {
        let line = barrier_line(7);
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["method"], BARRIER_METHOD);
        assert!(value.get("id").is_none());
        let params: BarrierParams = serde_json::from_value(value["params"].clone()).unwrap();
        assert_eq!(params.n, 7);
    }
}
