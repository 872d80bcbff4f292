//! What one event may hold: every event is small enough to store, replay and send as
//! one WebSocket message to a viewport that takes 1 MiB messages.
//!
//! An agent may print anything on one line: a 20 MB `agent_message_chunk` once went into
//! the log as one event, and then no viewport could get past its seq (each was closed
//! 1009 there, on every retry). So the actor fits each event as it emits it:
//! - message and thought chunks longer than [`CHUNK_BYTES`] (as JSON) become several
//!   chunk events, split at character boundaries: nothing is lost, and the text reads
//!   the same once coalesced;
//! - any other event over [`MAX_EVENT_BYTES`] loses bytes from its longest strings
//!   (each cut one ends with a marker saying how much went), then the later half of
//!   its largest arrays and nested objects; a `notice` after it says so.
//!
//! Rows stored before this rule are fitted again when read ([`fit_stored`]), so an old
//! log is viewable too.

use std::sync::Arc;

use berth_protocol::Event;
use serde_json::Value;

/// Most bytes of one event's JSON. A frame adds ~150 bytes of envelope, well under the
/// 1 MiB (`berth_protocol::MAX_FRAME_BYTES`) a viewport may take.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;
/// Most bytes of JSON-escaped text in one chunk event. Coalescing joins chunks into
/// frames of about 256 KiB, so a frame of chunks stays far below the limit.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Strings this short are never cut: ids, kinds, titles of small events.
const KEEP_STRING: usize = 256;
/// Room for the marker a cut string ends with (`… [berth cut N bytes]`): a string cut
/// once to `KEEP_STRING` is never a candidate again, so cutting always ends.
const MARKER_ROOM: usize = 64;

/// `event` as one or more events that each fit, each with its JSON: serialised here
/// once, and stored and framed from that (`Committed::with_json`) when committed.
pub fn fit(event: Event) -> Vec<(Event, Arc<str>)> {
    let json = to_json(&event);
    // Most events: one serialisation and a length check.
    if json.len() <= CHUNK_BYTES {
        return vec![(event, json)];
    }
    if let Some((thought, turn_id, text)) = event.as_chunk()
        && json_len(text) > CHUNK_BYTES
    {
        return split_text(text)
            .map(|piece| with_json(Event::chunk(thought, turn_id.to_owned(), piece.to_owned())))
            .collect();
    }
    if json.len() <= MAX_EVENT_BYTES {
        return vec![(event, json)];
    }
    let kind = event.kind();
    let fitted = with_json(shrink(event));
    let message = format!(
        "berth cut an agent `{kind}` event of {} bytes to {} bytes: one event holds at most \
         {MAX_EVENT_BYTES} bytes",
        json.len(),
        fitted.1.len()
    );
    vec![fitted, with_json(Event::Notice { message })]
}

fn to_json(event: &Event) -> Arc<str> {
    serde_json::to_string(event)
        .expect("events always serialise")
        .into()
}

fn with_json(event: Event) -> (Event, Arc<str>) {
    let json = to_json(&event);
    (event, json)
}

/// A stored event's JSON, fitted if it is over the limit (rows written before the rule).
pub fn fit_stored(data: &str) -> Option<String> {
    if data.len() <= MAX_EVENT_BYTES {
        return None;
    }
    let event = serde_json::from_str::<Event>(data).ok()?;
    serde_json::to_string(&shrink(event)).ok()
}

/// One event cut to fit; `Notice` if nothing else can (it cannot, for berth's own kinds).
fn shrink(event: Event) -> Event {
    let kind = event.kind();
    let mut value = serde_json::to_value(&event).expect("events serialise");
    drop(event);
    if cut(&mut value)
        && let Ok(event) = serde_json::from_value::<Event>(value)
    {
        return event;
    }
    Event::Notice {
        message: format!("berth dropped an agent `{kind}` event too large to keep"),
    }
}

/// Cut `value` until its JSON fits; false if it cannot be cut further.
///
/// A long string is cut when it can make a real dent in the excess; otherwise the
/// largest array or nested object loses its later half. So many middling strings are
/// halved away in a few rounds rather than trimmed one by one.
fn cut(value: &mut Value) -> bool {
    loop {
        let size = value_len(value);
        if size <= MAX_EVENT_BYTES {
            return true;
        }
        let excess = size - MAX_EVENT_BYTES;
        let string = best_path(value, &|v, _| match v {
            Value::String(s) if s.len() > KEEP_STRING + MARKER_ROOM => Some(s.len()),
            _ => None,
        });
        // Below the top level only: the event's own object holds its `kind`.
        let container = best_path(value, &|v, depth| match v {
            Value::Array(items) if items.len() > 1 => Some(items.len()),
            Value::Object(map) if map.len() > 1 && depth > 0 => Some(map.len()),
            _ => None,
        });
        if let Some(path) = string {
            let Value::String(text) = at(value, &path) else {
                unreachable!("the path leads to a string")
            };
            if text.len() >= excess / 8 || container.is_none() {
                truncate(text, excess);
                continue;
            }
        }
        match container.map(|path| at(value, &path)) {
            Some(Value::Array(items)) => items.truncate(items.len() / 2),
            Some(Value::Object(map)) => {
                let dropped: Vec<String> = map.keys().skip(map.len() / 2).cloned().collect();
                for key in dropped {
                    map.remove(&key);
                }
            }
            _ => return false,
        }
    }
}

/// Drop at least `excess` bytes of JSON from the end of `text` (keeping at least
/// `KEEP_STRING`), at a character boundary, and say how many bytes went. Measured as JSON
/// (escapes counted), so text full of newlines or quotes is not cut to nothing.
fn truncate(text: &mut String, excess: usize) {
    let target = json_len(text)
        .saturating_sub(excess + MARKER_ROOM)
        .max(KEEP_STRING);
    let mut used = 0;
    let mut keep = text.len();
    for (i, c) in text.char_indices() {
        used += escaped_len(c);
        if used > target {
            keep = i;
            break;
        }
    }
    let dropped = text.len() - keep;
    text.truncate(keep);
    text.push_str(&format!("… [berth cut {dropped} bytes]"));
}

/// One step from a JSON node to a child.
enum Step {
    Key(String),
    Index(usize),
}

/// The path to the node `score` (given the node and its depth) rates highest, if any.
fn best_path(root: &Value, score: &dyn Fn(&Value, usize) -> Option<usize>) -> Option<Vec<Step>> {
    fn walk(
        node: &Value,
        path: &mut Vec<Step>,
        score: &dyn Fn(&Value, usize) -> Option<usize>,
        best: &mut Option<(usize, Vec<Step>)>,
    ) {
        if let Some(rating) = score(node, path.len())
            && best.as_ref().is_none_or(|(top, _)| rating > *top)
        {
            let copy = path
                .iter()
                .map(|step| match step {
                    Step::Key(key) => Step::Key(key.clone()),
                    Step::Index(i) => Step::Index(*i),
                })
                .collect();
            *best = Some((rating, copy));
        }
        match node {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    walk(item, path, score, best);
                    path.pop();
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    path.push(Step::Key(key.clone()));
                    walk(item, path, score, best);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk(root, &mut Vec::new(), score, &mut best);
    best.map(|(_, path)| path)
}

/// The node at `path` (found by `best_path` on this very value).
fn at<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |node, step| match (node, step) {
        (Value::Object(map), Step::Key(key)) => map.get_mut(key).expect("the path exists"),
        (Value::Array(items), Step::Index(i)) => &mut items[*i],
        _ => unreachable!("the path was found on this value"),
    })
}

/// The JSON length of `text` as a string's contents (escapes counted).
fn json_len(text: &str) -> usize {
    text.chars().map(escaped_len).sum()
}

fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// `text` in pieces of at most `CHUNK_BYTES` as JSON, cut at character boundaries.
fn split_text(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut used = 0;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            used += escaped_len(c);
            if used > CHUNK_BYTES {
                end = i;
                break;
            }
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

fn value_len(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

#[cfg(test)]
mod tests {
    use berth_protocol::{PermissionOption, PermissionOptionKind};
    use serde_json::json;

    use super::*;

    fn len(event: &Event) -> usize {
        serde_json::to_vec(event).unwrap().len()
    }

    /// The events `fit` makes of `event`, each checked to come with its own JSON.
    fn fit(event: Event) -> Vec<Event> {
        super::fit(event)
            .into_iter()
            .map(|(event, json)| {
                assert_eq!(*json, *to_json(&event), "the JSON is the event's");
                event
            })
            .collect()
    }

    #[test]
    fn a_huge_chunk_becomes_many_that_join_to_the_same_text() {
        // Multi-byte characters, quotes and control characters at every offset.
        let text = "é\"\n\u{1}🦀 plain words ".repeat(20_000_000 / 22);
        let pieces = fit(Event::AgentMessageChunk {
            turn_id: "t1".into(),
            text: text.clone(),
        });
        assert!(pieces.len() > 300, "{} pieces", pieces.len());
        let mut joined = String::new();
        for piece in &pieces {
            let Event::AgentMessageChunk { turn_id, text } = piece else {
                panic!("{piece:?}");
            };
            assert_eq!(turn_id, "t1");
            assert!(json_len(text) <= CHUNK_BYTES);
            assert!(len(piece) <= MAX_EVENT_BYTES);
            joined.push_str(text);
        }
        assert_eq!(joined, text);
        let thought = fit(Event::AgentThoughtChunk {
            turn_id: "t1".into(),
            text: "x".repeat(CHUNK_BYTES + 1),
        });
        assert_eq!(thought.len(), 2);
        assert!(matches!(thought[1], Event::AgentThoughtChunk { .. }));
    }

    #[test]
    fn events_that_fit_are_left_alone() {
        let event = Event::ToolCall {
            turn_id: "t".into(),
            tool_call_id: "c".into(),
            title: "Read".into(),
            tool_kind: "read".into(),
            status: "pending".into(),
            input: Some(json!({"path": "x".repeat(400_000)})),
            content: None,
            locations: None,
        };
        assert_eq!(fit(event.clone()), vec![event]);
        let chunk = Event::AgentMessageChunk {
            turn_id: "t".into(),
            text: "y".repeat(CHUNK_BYTES),
        };
        assert_eq!(fit(chunk.clone()), vec![chunk]);
    }

    #[test]
    fn a_huge_tool_output_is_cut_with_a_marker_and_a_notice() {
        let event = Event::ToolCallUpdate {
            turn_id: "t".into(),
            tool_call_id: "call-1".into(),
            status: Some("completed".into()),
            content: Some(json!([{"type": "content", "content": {"type": "text",
                "text": "out\n".repeat(5_000_000)}}])),
            title: None,
            input: Some(json!({"command": "cat big.log"})),
            locations: None,
        };
        let fitted = fit(event);
        assert_eq!(fitted.len(), 2);
        assert!(len(&fitted[0]) <= MAX_EVENT_BYTES, "{}", len(&fitted[0]));
        let Event::ToolCallUpdate {
            tool_call_id,
            status,
            content,
            input,
            ..
        } = &fitted[0]
        else {
            panic!("{:?}", fitted[0]);
        };
        assert_eq!(tool_call_id, "call-1");
        assert_eq!(status.as_deref(), Some("completed"));
        assert_eq!(input, &Some(json!({"command": "cat big.log"})));
        let text = content.as_ref().unwrap()[0]["content"]["text"]
            .as_str()
            .unwrap();
        assert!(text.starts_with("out\nout\n"));
        assert!(text.ends_with(" bytes]"), "{}", &text[text.len() - 60..]);
        assert!(text.len() > MAX_EVENT_BYTES / 2, "kept what fits");
        let Event::Notice { message } = &fitted[1] else {
            panic!("{:?}", fitted[1]);
        };
        assert!(message.contains("tool_call_update"), "{message}");
    }

    #[test]
    fn many_small_parts_are_cut_too_and_the_event_stays_valid() {
        let options: Vec<PermissionOption> = (0..60_000)
            .map(|i| PermissionOption {
                option_id: format!("o{i}"),
                name: format!("Option {i}"),
                kind: PermissionOptionKind::AllowOnce,
            })
            .collect();
        let fitted = fit(Event::PermissionRequested {
            turn_id: "t".into(),
            prompt_id: "p1".into(),
            tool_call_id: None,
            title: "Run it?".into(),
            options,
        });
        assert!(len(&fitted[0]) <= MAX_EVENT_BYTES);
        let Event::PermissionRequested {
            prompt_id, options, ..
        } = &fitted[0]
        else {
            panic!("{:?}", fitted[0]);
        };
        assert_eq!(prompt_id, "p1");
        assert_eq!(options[0].option_id, "o0", "the first options stay");

        let keys: serde_json::Map<String, Value> =
            (0..100_000).map(|i| (format!("k{i}"), json!(i))).collect();
        let fitted = fit(Event::AgentUpdate {
            turn_id: Some("t".into()),
            update: json!({"sessionUpdate": "odd", "data": keys}),
        });
        assert!(len(&fitted[0]) <= MAX_EVENT_BYTES);
        let Event::AgentUpdate { turn_id, update } = &fitted[0] else {
            panic!("{:?}", fitted[0]);
        };
        assert_eq!(turn_id.as_deref(), Some("t"));
        assert_eq!(update["sessionUpdate"], "odd");
    }

    #[test]
    fn many_middling_strings_are_halved_away_not_trimmed_one_by_one() {
        let lines: Vec<Value> = (0..4000).map(|i| json!(format!("{i:>400}"))).collect();
        let fitted = fit(Event::ToolCall {
            turn_id: "t".into(),
            tool_call_id: "c".into(),
            title: "Grep".into(),
            tool_kind: "search".into(),
            status: "completed".into(),
            input: None,
            content: Some(Value::Array(lines)),
            locations: None,
        });
        assert!(len(&fitted[0]) <= MAX_EVENT_BYTES);
        let Event::ToolCall { content, .. } = &fitted[0] else {
            panic!("{:?}", fitted[0]);
        };
        let kept = content.as_ref().unwrap().as_array().unwrap();
        assert!(kept.len() >= 1000, "{} kept", kept.len());
        assert_eq!(
            kept[0].as_str().unwrap().trim(),
            "0",
            "the first lines stay whole"
        );
    }

    #[test]
    fn stored_rows_over_the_limit_are_fitted_when_read() {
        let big = serde_json::to_string(&Event::AgentMessageChunk {
            turn_id: "t".into(),
            text: "z".repeat(3 * MAX_EVENT_BYTES),
        })
        .unwrap();
        let fitted = fit_stored(&big).expect("fitted");
        assert!(fitted.len() <= MAX_EVENT_BYTES);
        let event: Event = serde_json::from_str(&fitted).unwrap();
        assert!(matches!(event, Event::AgentMessageChunk { .. }));
        assert_eq!(fit_stored(r#"{"kind":"turn_started","turn_id":"t"}"#), None);
    }
}
