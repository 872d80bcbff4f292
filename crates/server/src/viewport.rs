//! One WebSocket connection = one viewport, multiplexing any number of sessions.
//!
//! Tasks of a connection, all ended together (a `CancellationToken` per connection):
//! - the **reader** (this connection's own task) parses ops and starts or stops feeders;
//! - one **feeder** per attached session turns its `Subscription` into frames;
//! - the **summaries** task forwards `session` / `session_deleted` frames;
//! - the **writer** drains the bounded outbound queue: it writes every frame already
//!   queued, then flushes once; a socket that accepts nothing for `write_timeout`
//!   ends the connection (the viewport resumes later by cursor).
//!
//! Feeders wait when the queue is full; meanwhile their session's live ring moves on
//! and they continue from the store. So a slow socket costs one bounded queue, and the
//! agent and the other viewports never wait for it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_protocol::{ClientOp, ErrorCode, Seq, ServerFrame};
use berth_session::{Attachment, Registry, SessionError, encode_batch};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::AppState;

/// Most frames written between two flushes.
const WRITE_BATCH: usize = 1024;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            let message = format!("this endpoint takes a WebSocket upgrade: {rejection}");
            return crate::ApiError::bad_request(message).into_response();
        }
    };
    ws.read_buffer_size(4096)
        .max_message_size(berth_protocol::MAX_FRAME_BYTES)
        .max_frame_size(berth_protocol::MAX_FRAME_BYTES)
        .on_upgrade(move |socket| connection(socket, state))
}

/// What the writer sends.
enum Outbound {
    Frame(Bytes),
    Close(u16, Cow<'static, str>),
}

async fn connection(socket: WebSocket, state: AppState) {
    let (sink, mut stream) = socket.split();
    let (out, out_rx) = mpsc::channel::<Outbound>(state.config.ws_queue.max(1));
    let done = state.shutdown.child_token();
    let writer = tokio::spawn(writer(
        sink,
        out_rx,
        state.config.write_timeout,
        done.clone(),
    ));
    let hello = ServerFrame::Hello {
        epoch: state.registry.epoch().to_owned(),
        server_version: state.config.version.clone(),
    };
    let _ = out.send(Outbound::Frame(encode(&hello))).await;
    let summaries = tokio::spawn(summaries(
        state.registry.clone(),
        state.registry.subscribe_summaries(),
        out.clone(),
        done.clone(),
    ));
    let mut feeders: HashMap<String, AbortOnDrop> = HashMap::new();
    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            _ = done.cancelled() => {
                let _ = out.try_send(Outbound::Close(
                    close_code::AWAY,
                    "server shutting down".into(),
                ));
                break;
            }
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => {
                let error = error_frame(
                    ErrorCode::BadRequest,
                    "binary messages are not supported; send JSON text",
                    None,
                );
                let _ = out.send(Outbound::Frame(error)).await;
                continue;
            }
            Some(Ok(Message::Close(_))) | None => break,
            Some(Ok(_)) => continue, // ping/pong: handled by the library
            Some(Err(error)) => {
                tracing::debug!(%error, "websocket read failed");
                if let Some((code, reason)) = close_for(&error) {
                    let _ = out.send(Outbound::Close(code, reason)).await;
                }
                break;
            }
        };
        let (id, op) = match parse(&text) {
            Ok(parsed) => parsed,
            Err((id, message)) => {
                let _ = out
                    .send(Outbound::Frame(error_frame(
                        ErrorCode::BadRequest,
                        &message,
                        id,
                    )))
                    .await;
                continue;
            }
        };
        match op {
            ClientOp::Ping { .. } => {
                let _ = out
                    .send(Outbound::Frame(encode(&ServerFrame::Pong { id })))
                    .await;
            }
            ClientOp::Detach { session, .. } => match feeders.remove(&session) {
                Some(feeder) => feeder.stop().await,
                // Detaching a session that is not attached is a no-op; an unknown one
                // is an error like any other op naming it.
                None => {
                    if let Err(error) = state.registry.summary(&session) {
                        let frame = error_frame(error.code(), &error.to_string(), id);
                        let _ = out.send(Outbound::Frame(frame)).await;
                    }
                }
            },
            ClientOp::Attach {
                session,
                after,
                epoch,
                ..
            } => match state.registry.summary(&session) {
                Err(error) => {
                    let frame = error_frame(error.code(), &error.to_string(), id);
                    let _ = out.send(Outbound::Frame(frame)).await;
                }
                Ok(_) => {
                    // Re-attaching replaces the previous feeder. It has ended before the
                    // new one starts, so all its frames are queued ahead of `attached`.
                    if let Some(feeder) = feeders.remove(&session) {
                        feeder.stop().await;
                    }
                    let task = tokio::spawn(feeder(
                        state.registry.clone(),
                        session.clone(),
                        after,
                        epoch,
                        id,
                        out.clone(),
                    ));
                    feeders.insert(session, AbortOnDrop(task));
                }
            },
        }
    }
    drop(feeders);
    summaries.abort();
    drop(out);
    done.cancel();
    let _ = writer.await;
    crate::trim::after_close();
}

/// Feed one attached session into the connection's queue.
async fn feeder(
    registry: Registry,
    session: String,
    after: Seq,
    epoch: Option<String>,
    id: Option<Value>,
    out: mpsc::Sender<Outbound>,
) {
    let mut subscription = match registry.attach(&session, after, epoch).await {
        Ok(Attachment::Reset { epoch }) => {
            let _ = out
                .send(Outbound::Frame(encode(&ServerFrame::Reset {
                    session,
                    epoch,
                })))
                .await;
            return;
        }
        Ok(Attachment::Attached {
            last_seq,
            summary,
            subscription,
        }) => {
            let attached = ServerFrame::Attached {
                id,
                session: session.clone(),
                epoch: registry.epoch().to_owned(),
                last_seq,
                summary: *summary,
            };
            if out.send(Outbound::Frame(encode(&attached))).await.is_err() {
                return;
            }
            subscription
        }
        Err(error) => {
            let code = match error {
                SessionError::Gone => ErrorCode::NotFound,
                ref other => other.code(),
            };
            let _ = out
                .send(Outbound::Frame(error_frame(code, &error.to_string(), id)))
                .await;
            return;
        }
    };
    let mut frames = Vec::new();
    loop {
        let batch = match subscription.next_batch().await {
            Ok(Some(batch)) => batch,
            // The session was deleted (its `session_deleted` frame tells the viewport).
            Ok(None) => return,
            Err(error) => {
                tracing::error!(%session, %error, "replay failed; closing this attachment");
                let frame = error_frame(ErrorCode::Internal, "replay failed; attach again", None);
                let _ = out.send(Outbound::Frame(frame)).await;
                return;
            }
        };
        frames.clear();
        encode_batch(&session, &batch, &mut frames);
        for frame in frames.drain(..) {
            if out.send(Outbound::Frame(frame)).await.is_err() {
                return;
            }
        }
    }
}

/// Forward summary frames; after missing some (lag), send every current summary.
async fn summaries(
    registry: Registry,
    mut bus: broadcast::Receiver<Bytes>,
    out: mpsc::Sender<Outbound>,
    done: CancellationToken,
) {
    loop {
        let frame = tokio::select! {
            frame = bus.recv() => frame,
            _ = done.cancelled() => return,
        };
        match frame {
            Ok(frame) => {
                if out.send(Outbound::Frame(frame)).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                for summary in registry.list() {
                    let frame = berth_session::summary::session_frame(&summary);
                    if out.send(Outbound::Frame(frame)).await.is_err() {
                        return;
                    }
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Write everything queued, then flush once; give up on a socket that stalls.
async fn writer(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Outbound>,
    write_timeout: Duration,
    done: CancellationToken,
) {
    let result = async {
        while let Some(first) = queue.recv().await {
            let mut next = Some(first);
            let mut written = 0;
            let batch = async {
                while let Some(outbound) = next.take() {
                    match outbound {
                        Outbound::Frame(bytes) => {
                            let text =
                                Utf8Bytes::try_from(bytes).map_err(|_| "frame is not UTF-8")?;
                            sink.feed(Message::Text(text))
                                .await
                                .map_err(|_| "write failed")?;
                        }
                        Outbound::Close(code, reason) => {
                            let frame = CloseFrame {
                                code,
                                reason: Utf8Bytes::from(reason.into_owned()),
                            };
                            let _ = sink.send(Message::Close(Some(frame))).await;
                            return Err("closed");
                        }
                    }
                    written += 1;
                    if written < WRITE_BATCH {
                        next = queue.try_recv().ok();
                    }
                }
                sink.flush().await.map_err(|_| "flush failed")
            };
            match tokio::time::timeout(write_timeout, batch).await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => return why,
                Err(_) => {
                    tracing::info!(
                        "viewport stopped reading; disconnecting it (it can resume by cursor)"
                    );
                    return "stalled";
                }
            }
        }
        "queue closed"
    }
    .await;
    tracing::debug!(result, "websocket writer ended");
    done.cancel();
}

/// The close frame RFC 6455 (§7.4.1) asks for after a read error, if the peer can still
/// hear one: 1009 for a message over `max_message_size` / `max_frame_size`, 1007 for a
/// text message that is not UTF-8, 1002 for a broken frame (reserved opcode or bits, an
/// unmasked client frame, a fragmented or oversize control frame…). `None` when the
/// connection is already gone (reset, I/O error): then there is nobody to tell.
fn close_for(error: &axum::Error) -> Option<(u16, Cow<'static, str>)> {
    use std::error::Error as _;
    use tokio_tungstenite::tungstenite::Error;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    let error = error.source()?.downcast_ref::<Error>()?;
    match error {
        Error::Capacity(_) => Some((close_code::SIZE, "message larger than 1 MiB".into())),
        Error::Utf8(_) => Some((
            close_code::INVALID,
            "text message is not valid UTF-8".into(),
        )),
        Error::Protocol(
            ProtocolError::ResetWithoutClosingHandshake | ProtocolError::ReceivedAfterClosing,
        ) => None,
        Error::Protocol(protocol) => {
            // A close reason holds at most 123 bytes; the library's texts are shorter.
            let mut reason = format!("protocol error: {protocol}");
            while reason.len() > 123 {
                reason.pop();
            }
            Some((close_code::PROTOCOL, reason.into()))
        }
        _ => None,
    }
}

/// Parse one client message; on failure, the op's `id` (if readable) and why.
fn parse(text: &str) -> Result<(Option<Value>, ClientOp), (Option<Value>, String)> {
    let value: Value = serde_json::from_str(text).map_err(|e| (None, format!("not JSON: {e}")))?;
    let id = value.get("id").cloned();
    if !value.is_object() {
        return Err((id, "a message must be a JSON object with an `op`".into()));
    }
    let op = value
        .get("op")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    serde_json::from_value::<ClientOp>(value)
        .map(|op| (id.clone(), op))
        .map_err(|e| {
            let message = if ["attach", "detach", "ping"].contains(&op.as_str()) {
                format!("invalid `{op}`: {e}")
            } else {
                format!("unknown op `{op}`; expected attach, detach or ping")
            };
            (id, message)
        })
}

fn encode(frame: &ServerFrame) -> Bytes {
    Bytes::from(serde_json::to_vec(frame).expect("frames serialise"))
}

fn error_frame(code: ErrorCode, message: &str, id: Option<Value>) -> Bytes {
    encode(&ServerFrame::Error {
        code,
        message: message.to_owned(),
        id,
    })
}

/// A feeder task that ends when its entry is dropped (detach, re-attach, disconnect).
struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    /// Abort the feeder and wait until it has ended: `abort` alone lets a feeder that is
    /// being polled on another worker queue more frames, which could then follow the
    /// next attachment's `attached` and break its contiguity.
    async fn stop(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
