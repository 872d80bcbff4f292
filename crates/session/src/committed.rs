//! A committed event, serialised once and shared (`Arc`) by every viewport, and the
//! encoding of a batch of them into WebSocket `event` frames.
//!
//! Consecutive `agent_message_chunk` (or `agent_thought_chunk`) events of one turn in a
//! batch become one frame with `first_seq`, so a fast stream costs one frame per batch
//! rather than one per chunk.

use std::sync::{Arc, OnceLock};

use berth_protocol::{Event, Seq, Timestamp};
use berth_store::StoredEvent;
use bytes::Bytes;

/// What coalescing needs to know of a chunk event, kept to avoid re-parsing its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub thought: bool,
    pub turn_id: String,
    pub text: String,
}

/// One committed event of one session.
#[derive(Debug, Clone)]
pub struct Committed {
    pub seq: Seq,
    pub ts: Timestamp,
    /// The `event` object's JSON text, as stored.
    pub data: Arc<str>,
    pub chunk: Option<Chunk>,
    session_id: Arc<str>,
    /// The complete `{"type":"event",…}` frame for this event alone, built when first
    /// wanted (once, for every viewport): a session host forwards `data` and never
    /// frames, and a coalesced chunk is framed with its run instead.
    frame: OnceLock<Bytes>,
}

impl Committed {
    /// Build from an event just assigned `seq` (serialises it, once).
    pub fn new(session_id: &Arc<str>, seq: Seq, ts: Timestamp, event: &Event) -> Committed {
        let data: Arc<str> = serde_json::to_string(event)
            .expect("events always serialise")
            .into();
        Committed::with_json(session_id, seq, ts, event, data)
    }

    /// Build from an event and its JSON, already serialised (by `fit`, as it was emitted).
    pub fn with_json(
        session_id: &Arc<str>,
        seq: Seq,
        ts: Timestamp,
        event: &Event,
        data: Arc<str>,
    ) -> Committed {
        let chunk = event.as_chunk().map(|(thought, turn_id, text)| Chunk {
            thought,
            turn_id: turn_id.to_owned(),
            text: text.to_owned(),
        });
        Committed {
            seq,
            ts,
            data,
            chunk,
            session_id: session_id.clone(),
            frame: OnceLock::new(),
        }
    }

    /// Build from a stored event (replay). Only chunk events are parsed, and rows over
    /// the limit of one event (written before there was one) are fitted.
    pub fn from_stored(session_id: &Arc<str>, mut stored: StoredEvent) -> Committed {
        if let Some(fitted) = crate::fit::fit_stored(&stored.data) {
            stored.data = fitted.into();
        }
        let thought = match stored.kind.as_str() {
            "agent_message_chunk" => Some(false),
            "agent_thought_chunk" => Some(true),
            _ => None,
        };
        // Just the two fields, not the tagged `Event` (serde would buffer it whole first).
        #[derive(serde::Deserialize)]
        struct ChunkFields {
            turn_id: String,
            text: String,
        }
        let chunk = thought.and_then(|thought| {
            let fields = serde_json::from_str::<ChunkFields>(&stored.data).ok()?;
            Some(Chunk {
                thought,
                turn_id: fields.turn_id,
                text: fields.text,
            })
        });
        Committed {
            seq: stored.seq,
            ts: stored.ts,
            data: stored.data,
            chunk,
            session_id: session_id.clone(),
            frame: OnceLock::new(),
        }
    }

    /// The `event` frame of this event alone.
    pub fn frame(&self) -> Bytes {
        self.frame
            .get_or_init(|| event_frame(&self.session_id, self.seq, None, self.ts, &self.data))
            .clone()
    }

    /// The store's form of this event.
    pub fn to_stored(&self, kind: &str) -> StoredEvent {
        StoredEvent {
            seq: self.seq,
            ts: self.ts,
            kind: kind.to_owned(),
            data: self.data.clone(),
        }
    }
}

/// `{"type":"event","session":…,"seq":…,["first_seq":…,]"ts":…,"event":<data>}`, built
/// by hand so the event's stored JSON is embedded verbatim, never re-encoded.
fn event_frame(
    session_id: &str,
    seq: Seq,
    first_seq: Option<Seq>,
    ts: Timestamp,
    data: &str,
) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + session_id.len() + 96);
    out.extend_from_slice(b"{\"type\":\"event\",\"session\":");
    serde_json::to_writer(&mut out, session_id).expect("strings serialise");
    out.extend_from_slice(b",\"seq\":");
    out.extend_from_slice(seq.to_string().as_bytes());
    if let Some(first) = first_seq {
        out.extend_from_slice(b",\"first_seq\":");
        out.extend_from_slice(first.to_string().as_bytes());
    }
    out.extend_from_slice(b",\"ts\":");
    berth_protocol::timestamp::write_json(&ts, &mut out);
    out.extend_from_slice(b",\"event\":");
    out.extend_from_slice(data.as_bytes());
    out.push(b'}');
    Bytes::from(out)
}

/// Coalescing stops once a frame's events reach this size as JSON (escapes counted, so
/// text full of quotes or control characters cannot blow it up), well under the 1 MiB a
/// viewport may enforce on frames it receives: with chunks of at most
/// `fit::CHUNK_BYTES`, a frame stays under 256 + 64 KiB.
const MAX_COALESCED_BYTES: usize = 256 * 1024;

/// Encode a contiguous batch into frames, coalescing runs of chunks of one kind and turn.
pub fn encode_batch(session_id: &str, batch: &[Arc<Committed>], out: &mut Vec<Bytes>) {
    let mut i = 0;
    while i < batch.len() {
        let start = &batch[i];
        let mut end = i + 1;
        if let Some(first) = &start.chunk {
            let mut bytes = start.data.len();
            while end < batch.len() && bytes < MAX_COALESCED_BYTES {
                let same_run = batch[end]
                    .chunk
                    .as_ref()
                    .is_some_and(|c| c.thought == first.thought && c.turn_id == first.turn_id);
                if !same_run {
                    break;
                }
                bytes += batch[end].data.len();
                end += 1;
            }
        }
        if end - i == 1 {
            out.push(start.frame());
        } else {
            let first = start.chunk.as_ref().expect("runs start with a chunk");
            let text: String = batch[i..end]
                .iter()
                .filter_map(|c| c.chunk.as_ref().map(|c| c.text.as_str()))
                .collect();
            let event = Event::chunk(first.thought, first.turn_id.clone(), text);
            let data = serde_json::to_string(&event).expect("events always serialise");
            let last = &batch[end - 1];
            out.push(event_frame(
                session_id,
                last.seq,
                Some(start.seq),
                last.ts,
                &data,
            ));
        }
        i = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_protocol::ServerFrame;

    fn chunk(seq: Seq, turn: &str, text: &str) -> Arc<Committed> {
        let event = Event::AgentMessageChunk {
            turn_id: turn.into(),
            text: text.into(),
        };
        Arc::new(Committed::new(
            &"s1".into(),
            seq,
            chrono::Utc::now(),
            &event,
        ))
    }

    fn parse(frame: &Bytes) -> ServerFrame {
        serde_json::from_slice(frame).unwrap()
    }

    #[test]
    fn single_event_frame_is_valid_protocol() {
        let c = chunk(7, "t", "hi");
        match parse(&c.frame()) {
            ServerFrame::Event {
                session,
                seq,
                first_seq,
                event,
                ..
            } => {
                assert_eq!((session.as_str(), seq, first_seq), ("s1", 7, None));
                assert_eq!(event.as_chunk(), Some((false, "t", "hi")));
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }

    #[test]
    fn runs_of_chunks_coalesce_per_turn_and_other_events_break_runs() {
        let ended = Event::TurnEnded {
            turn_id: "a".into(),
            stop_reason: berth_protocol::StopReason::EndTurn,
            error: None,
        };
        let batch = vec![
            chunk(1, "a", "x"),
            chunk(2, "a", "y"),
            Arc::new(Committed::new(&"s1".into(), 3, chrono::Utc::now(), &ended)),
            chunk(4, "b", "z"),
            chunk(5, "c", "w"),
        ];
        let mut out = Vec::new();
        encode_batch("s1", &batch, &mut out);
        let frames: Vec<_> = out.iter().map(parse).collect();
        assert_eq!(frames.len(), 4);
        match &frames[0] {
            ServerFrame::Event {
                seq,
                first_seq,
                event,
                ..
            } => {
                assert_eq!((*seq, *first_seq), (2, Some(1)));
                assert_eq!(event.as_chunk(), Some((false, "a", "xy")));
            }
            other => panic!("unexpected frame {other:?}"),
        }
        let seqs: Vec<_> = frames
            .iter()
            .map(|f| match f {
                ServerFrame::Event { seq, first_seq, .. } => (first_seq.unwrap_or(*seq), *seq),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(seqs, vec![(1, 2), (3, 3), (4, 4), (5, 5)]);
    }

    #[test]
    fn coalescing_stops_before_frames_grow_large() {
        let text = "x".repeat(100 * 1024);
        let batch: Vec<_> = (1..=8).map(|seq| chunk(seq, "a", &text)).collect();
        let mut out = Vec::new();
        encode_batch("s1", &batch, &mut out);
        assert!(
            out.len() > 1,
            "eight 100 KiB chunks must not become one frame"
        );
        let mut next = 1;
        for frame in &out {
            assert!(frame.len() < 512 * 1024, "frame of {} bytes", frame.len());
            match parse(frame) {
                ServerFrame::Event { seq, first_seq, .. } => {
                    assert_eq!(first_seq.unwrap_or(seq), next);
                    next = seq + 1;
                }
                other => panic!("unexpected frame {other:?}"),
            }
        }
        assert_eq!(next, 9);
    }
}
