//! The gateway ↔ session host protocol: what the server and a `berth host`
//! process say to each other over the host's Unix socket.
//!
//! One JSON object per line, tagged by `t`. The gateway speaks first ([`ToHost::Hello`]);
//! the host answers [`ToGateway::Welcome`] (it will be driven) or
//! [`ToGateway::Incompatible`] (it will not, and says why) and nothing else until the
//! gateway is one it can be driven by. After a welcome the gateway sends requests (the
//! actor's own serialisable [`Request`]s, numbered) and the host sends committed events
//! (after they are in the store: invariant 1 holds across the hop), summaries and
//! numbered replies. A hello with `control` opens a control connection instead: requests
//! and replies only, then `bye` when the session goes cold (how `berth stop --all` stops
//! hosts no server drives).
//!
//! **Compatibility rule.** [`HOST_PROTOCOL`] is one number. A host is driven only by a
//! gateway that speaks exactly its number ([`accepts`]). Additive changes (a new optional
//! field with a serde default, a new frame the other side may ignore) keep the number;
//! anything an older peer would misread bumps it. A host that meets a gateway with
//! another number is never killed for it: it refuses to be driven, logs why, finishes its
//! turn as if no server were there, and exits when its session goes cold. The gateway
//! shows the session as held by an incompatible host until that host has exited.

use std::borrow::Cow;
use std::sync::Arc;

use berth_protocol::{ErrorCode, Resolution, Seq, Session, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::SessionError;
use crate::request::{Request, Response};

/// The version of this protocol; see the compatibility rule above.
/// v2: an event frame's `data` is the event's JSON object itself, not a string of it.
/// v3: `configure` requests, `configured` answers, the `agent_error` code.
pub const HOST_PROTOCOL: u32 = 3;

/// Longest line either side accepts. Events are capped well below this by the agent
/// link; a longer line is a broken peer, and the connection is closed.
pub const MAX_LINE: usize = 64 << 20;

/// Whether a host speaking [`HOST_PROTOCOL`] lets a gateway speaking `protocol` drive it;
/// `Err` says why not, in words for the log and the session's notice.
pub fn accepts(protocol: u32) -> Result<(), String> {
    if protocol == HOST_PROTOCOL {
        return Ok(());
    }
    Err(format!(
        "a server speaking host protocol v{protocol} connected, but this session host \
         speaks v{HOST_PROTOCOL}; it is not driven by that server, finishes its turn on \
         its own and exits when the session goes idle"
    ))
}

/// Gateway → host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ToHost {
    /// First frame of every connection.
    Hello {
        protocol: u32,
        /// The server's `CARGO_PKG_VERSION`, for the logs.
        server_version: String,
        /// A control connection (`berth stop --all` with no server up): it sends
        /// requests and reads replies and `bye`, but does not drive the host (no events,
        /// no slots) and never displaces the server that does. Additive: absent is
        /// `false`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        control: bool,
    },
    /// A request for the actor; answered by a `reply` or `not_sent` with the same `id`.
    Request { id: u64, request: Request },
    /// The agent slot asked for with `slot_wanted` is this host's (`max_live_agents`).
    SlotGranted,
    /// Another session needs this host's idle agent's slot: stop it if still idle.
    Evict,
    /// The server's slot table, sent before a request that may start an agent, so the
    /// host can say why a turn waits.
    Slots { all_busy: bool, max: usize },
}

/// Host → gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ToGateway {
    Welcome {
        protocol: u32,
        host_version: String,
        session_id: String,
        pid: u32,
        /// The session as the host's actor has it now.
        summary: Box<Session>,
        /// Whether its agent holds a slot, and whether it is idle (re-adoption puts it
        /// back in the server's slot table).
        agent: AgentSlotState,
    },
    /// The gateway's protocol is not this host's: see [`accepts`].
    Incompatible {
        protocol: u32,
        host_version: String,
        reason: String,
    },
    /// One committed event: its seq, time, kind and `event` JSON as stored, embedded
    /// as is (written by [`encode_event`], read by [`Frame`]: nothing is re-encoded).
    Event {
        seq: Seq,
        ts: Timestamp,
        kind: String,
        data: EventJson,
    },
    Summary {
        summary: Box<Session>,
    },
    Reply {
        id: u64,
        result: WireResult,
    },
    /// The actor never saw request `id` (it went cold first): send it again, to the
    /// session's next host.
    NotSent {
        id: u64,
    },
    SlotWanted,
    SlotIdle {
        idle: bool,
    },
    SlotReleased,
    /// The session went cold: the host exits after this frame.
    Bye {
        summary: Box<Session>,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSlotState {
    pub held: bool,
    pub idle: bool,
}

/// A request's result on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireResult {
    Ok(Response),
    Err(WireError),
}

/// A [`SessionError`] on the wire: its code, its words, and what `already_resolved`
/// carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Box<Resolution>>,
    /// `Gone` (the session ended) has no code of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
}

impl From<Result<Response, SessionError>> for WireResult {
    fn from(result: Result<Response, SessionError>) -> WireResult {
        match result {
            Ok(response) => WireResult::Ok(response),
            Err(error) => WireResult::Err(WireError {
                code: error.code(),
                message: error.to_string(),
                gone: matches!(error, SessionError::Gone),
                resolution: match error {
                    SessionError::AlreadyResolved(resolution) => Some(resolution),
                    _ => None,
                },
            }),
        }
    }
}

impl From<WireResult> for Result<Response, SessionError> {
    fn from(result: WireResult) -> Result<Response, SessionError> {
        let error = match result {
            WireResult::Ok(response) => return Ok(response),
            WireResult::Err(error) => error,
        };
        Err(match (error.code, error.resolution) {
            _ if error.gone => SessionError::Gone,
            (ErrorCode::AlreadyResolved, Some(resolution)) => {
                SessionError::AlreadyResolved(resolution)
            }
            (ErrorCode::NotFound, _) => SessionError::NotFound(error.message),
            (ErrorCode::BadRequest, _) => SessionError::BadRequest(error.message),
            (ErrorCode::Conflict, _) => SessionError::Conflict(error.message),
            (ErrorCode::Unavailable, _) => SessionError::Unavailable(error.message),
            (ErrorCode::AgentError, _) => SessionError::Agent(error.message),
            (ErrorCode::PayloadTooLarge, _) => SessionError::TooLarge(error.message),
            // Store and I/O failures of the host keep their words; the code is internal.
            _ => SessionError::Io(std::io::Error::other(error.message)),
        })
    }
}

/// An event's JSON text, which travels as JSON (not as a string of it).
#[derive(Debug, Clone, PartialEq)]
pub struct EventJson(pub Arc<str>);

impl Serialize for EventJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Only frames built as values take this way (tests); the host uses `encode_event`.
        let raw = RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EventJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(EventJson(raw.get().into()))
    }
}

/// How a frame is read from its line.
pub trait Frame: Sized {
    fn from_line(line: &[u8]) -> serde_json::Result<Self>;
}

impl Frame for ToHost {
    fn from_line(line: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(line)
    }
}

/// How every event line starts (`encode_event`, and serde puts the tag first too).
const EVENT_PREFIX: &[u8] = br#"{"t":"event","#;

impl Frame for ToGateway {
    /// Event lines, nearly all of them, are read field by field with `data` borrowed
    /// from the line: through the tagged enum serde would buffer every field first (and
    /// cannot hand out the raw JSON at all).
    fn from_line(line: &[u8]) -> serde_json::Result<Self> {
        if !line.starts_with(EVENT_PREFIX) {
            return serde_json::from_slice(line);
        }
        #[derive(Deserialize)]
        struct EventLine<'a> {
            seq: Seq,
            ts: Timestamp,
            #[serde(borrow)]
            kind: Cow<'a, str>,
            #[serde(borrow)]
            data: &'a RawValue,
        }
        let event: EventLine = serde_json::from_slice(line)?;
        Ok(ToGateway::Event {
            seq: event.seq,
            ts: event.ts,
            kind: event.kind.into_owned(),
            data: EventJson(event.data.get().into()),
        })
    }
}

/// The line of an event frame, built around the event's stored JSON (`data`, one
/// compact JSON object as serde_json writes it) without re-encoding it.
pub fn encode_event(seq: Seq, ts: Timestamp, kind: &str, data: &str) -> Vec<u8> {
    if data.contains('\n') {
        // Not compact JSON (never written by berth): re-encode rather than break a line.
        let data = serde_json::from_str::<serde_json::Value>(data)
            .map(|value| value.to_string())
            .unwrap_or_else(|_| serde_json::Value::String(data.to_owned()).to_string());
        return encode_event(seq, ts, kind, &data);
    }
    let mut line = Vec::with_capacity(data.len() + 96);
    line.extend_from_slice(EVENT_PREFIX);
    line.extend_from_slice(b"\"seq\":");
    line.extend_from_slice(seq.to_string().as_bytes());
    line.extend_from_slice(b",\"ts\":");
    berth_protocol::timestamp::write_json(&ts, &mut line);
    line.extend_from_slice(b",\"kind\":");
    serde_json::to_writer(&mut line, kind).expect("strings serialise");
    line.extend_from_slice(b",\"data\":");
    line.extend_from_slice(data.as_bytes());
    line.extend_from_slice(b"}\n");
    line
}

/// One frame as a line (with its `\n`).
pub fn encode<T: Serialize>(frame: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(frame).expect("host frames always serialise");
    line.push(b'\n');
    line
}

/// One line (without its `\n`) as a frame; a clear error for anything else.
pub fn decode<T: Frame>(line: &[u8]) -> Result<T, String> {
    if line.len() > MAX_LINE {
        return Err(format!(
            "a host protocol line of {} bytes is over the {MAX_LINE}-byte limit",
            line.len()
        ));
    }
    T::from_line(line).map_err(|e| format!("not a host protocol frame: {e}"))
}

/// Read one frame; `Ok(None)` at the end of the stream. A line that is not a frame, or
/// is over [`MAX_LINE`], is an error: the peer is broken and the connection is closed.
///
/// Cancel safe, because both ends race it in `select!` against requests and viewer
/// changes: the bytes of a line read so far stay in `line` (the caller keeps it across
/// calls) and the next call goes on from them. `line` is emptied only once a whole line
/// has been taken.
pub async fn read_frame<T, R>(reader: &mut R, line: &mut Vec<u8>) -> std::io::Result<Option<T>>
where
    T: Frame,
    R: tokio::io::AsyncBufRead + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let room = (MAX_LINE + 1).saturating_sub(line.len()) as u64;
    (&mut *reader).take(room).read_until(b'\n', line).await?;
    // Without its `\n` the read stopped at the limit or at the end of the stream.
    if line.last() != Some(&b'\n') {
        return match line.len() {
            0 => Ok(None),
            n if n > MAX_LINE => Err(std::io::Error::other(format!(
                "a host protocol line is over the {MAX_LINE}-byte limit"
            ))),
            // Half a line is a peer that died mid-frame.
            _ => Err(std::io::Error::other(
                "the host protocol stream ended mid-line",
            )),
        };
    }
    let whole = std::mem::take(line);
    let frame = whole.strip_suffix(b"\n").unwrap_or(&whole);
    let decoded = decode(frame).map(Some).map_err(std::io::Error::other);
    // The allocation is kept for the next line.
    *line = whole;
    line.clear();
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_protocol::{Answer, Outcome};

    fn roundtrip<T>(frame: &T) -> T
    where
        T: Serialize + Frame,
    {
        let line = encode(frame);
        assert_eq!(line.last(), Some(&b'\n'));
        assert!(
            !line[..line.len() - 1].contains(&b'\n'),
            "one frame is one line"
        );
        decode(&line[..line.len() - 1]).expect("decodes")
    }

    /// A part of a frame, through serde alone.
    fn roundtrip_part<T: Serialize + serde::de::DeserializeOwned>(part: &T) -> T {
        serde_json::from_slice(&serde_json::to_vec(part).unwrap()).unwrap()
    }

    #[test]
    fn only_the_same_protocol_drives_a_host() {
        assert!(accepts(HOST_PROTOCOL).is_ok());
        let newer = accepts(HOST_PROTOCOL + 1).unwrap_err();
        assert!(
            newer.contains(&format!("v{}", HOST_PROTOCOL + 1)),
            "{newer}"
        );
        assert!(newer.contains("finishes its turn"), "{newer}");
        assert!(accepts(0).is_err());
    }

    #[test]
    fn frames_are_tagged_lines_and_round_trip() {
        let hello = ToHost::Hello {
            protocol: HOST_PROTOCOL,
            server_version: "0.1.0".into(),
            control: false,
        };
        let line = encode(&hello);
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.starts_with(r#"{"t":"hello","protocol":3"#), "{text}");
        assert!(
            !text.contains("control"),
            "a driver's hello is as before: {text}"
        );
        assert_eq!(roundtrip(&hello), hello);
        let control: ToHost =
            decode(br#"{"t":"hello","protocol":1,"server_version":"x","control":true}"#).unwrap();
        assert!(matches!(control, ToHost::Hello { control: true, .. }));

        let request = ToHost::Request {
            id: 7,
            request: Request::Respond {
                prompt_id: "p1".into(),
                answer: Answer::Select {
                    option_id: "allow".into(),
                },
            },
        };
        assert_eq!(roundtrip(&request), request);

        // Event JSON text with newlines inside strings stays one line.
        let event = ToGateway::Event {
            seq: 42,
            ts: chrono::Utc::now(),
            kind: "agent_message_chunk".into(),
            data: EventJson(
                r#"{"type":"agent_message_chunk","turn_id":"t","text":"a\nb \" \u00e9"}"#.into(),
            ),
        };
        assert_eq!(roundtrip(&event), event);
        // The host's own encoding reads back the same, with the event's JSON verbatim.
        let ToGateway::Event {
            seq,
            ts,
            kind,
            data,
        } = &event
        else {
            unreachable!()
        };
        let line = encode_event(*seq, *ts, kind, &data.0);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(
            decode::<ToGateway>(&line[..line.len() - 1]),
            Ok(event.clone())
        );
        // A pretty-printed event (never stored by berth) still makes one line.
        let line = encode_event(1, *ts, "x", "{\n  \"type\": \"x\"\n}");
        let ToGateway::Event { data, .. } = decode::<ToGateway>(&line[..line.len() - 1]).unwrap()
        else {
            panic!("not an event")
        };
        assert_eq!(&*data.0, r#"{"type":"x"}"#);
    }

    #[test]
    fn errors_keep_their_kind_across_the_hop() {
        let resolution = Resolution {
            prompt_id: "p1".into(),
            outcome: Outcome::cancelled(),
            resolved_at: chrono::Utc::now(),
        };
        let cases = [
            SessionError::NotFound("no prompt p9".into()),
            SessionError::BadRequest("`text` must not be empty".into()),
            SessionError::Conflict("a turn is already running".into()),
            SessionError::Unavailable("agent `x` cannot be started".into()),
            SessionError::AlreadyResolved(Box::new(resolution.clone())),
            SessionError::Gone,
        ];
        for error in cases {
            let before = (error.code(), error.to_string());
            let wire: WireResult = Err(error).into();
            let back: Result<Response, SessionError> = roundtrip_part(&wire).into();
            let back = back.unwrap_err();
            assert_eq!((back.code(), back.to_string()), before);
            if let SessionError::AlreadyResolved(r) = &back {
                assert_eq!(**r, resolution, "the 409 carries the first resolution");
            }
        }
        let io: WireResult = Err(SessionError::Io(std::io::Error::other("disk full"))).into();
        let back: Result<Response, SessionError> = roundtrip_part(&io).into();
        let back = back.unwrap_err();
        assert_eq!(back.code(), ErrorCode::Internal);
        assert!(back.to_string().contains("disk full"));
    }

    #[test]
    fn garbage_and_oversize_lines_are_clear_errors() {
        let err = decode::<ToGateway>(b"not json").unwrap_err();
        assert!(err.starts_with("not a host protocol frame"), "{err}");
        let err = decode::<ToGateway>(br#"{"t":"no_such_frame"}"#).unwrap_err();
        assert!(err.contains("no_such_frame"), "{err}");
        let long = vec![b' '; MAX_LINE + 1];
        let err = decode::<ToGateway>(&long).unwrap_err();
        assert!(err.contains("limit"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_cancelled_mid_line_goes_on_where_it_stopped() {
        use tokio::io::AsyncWriteExt;
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut reader = tokio::io::BufReader::new(rx);
        let mut line = Vec::new();
        let whole = encode(&ToGateway::SlotIdle { idle: true });
        let (head, tail) = whole.split_at(whole.len() / 2);
        tx.write_all(head).await.unwrap();
        // Another `select!` branch wins while half the line is in: the read is dropped.
        let cancelled = tokio::time::timeout(
            std::time::Duration::from_millis(5),
            read_frame::<ToGateway, _>(&mut reader, &mut line),
        )
        .await;
        assert!(cancelled.is_err(), "half a line is not a frame");
        tx.write_all(tail).await.unwrap();
        let frame = read_frame::<ToGateway, _>(&mut reader, &mut line)
            .await
            .unwrap();
        assert!(
            matches!(frame, Some(ToGateway::SlotIdle { idle: true })),
            "{frame:?}"
        );
        assert!(line.is_empty());
        drop(tx);
        let end = read_frame::<ToGateway, _>(&mut reader, &mut line)
            .await
            .unwrap();
        assert!(end.is_none());
    }

    #[tokio::test]
    async fn a_stream_that_ends_mid_line_is_an_error() {
        let mut reader: &[u8] = br#"{"t":"slot_idle","#;
        let mut line = Vec::new();
        let err = read_frame::<ToGateway, _>(&mut reader, &mut line)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("mid-line"), "{err}");
    }
}
