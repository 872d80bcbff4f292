//! How values are laid out in SQLite columns and read back into rows.

use std::sync::Arc;

use berth_protocol::Timestamp;
use berth_protocol::timestamp::{self, Fraction};
use chrono::{DateTime, Utc};
use rusqlite::Row;
use rusqlite::types::Type;

use berth_protocol::{Status, StopReason};

use crate::{SessionRow, StoredEvent, SummaryColumns};

/// RFC 3339, UTC, always nine fractional digits: the text round-trips to the exact
/// nanosecond and, being fixed-width, sorts in time order (`ORDER BY updated_at`).
/// A variable-width form would not: `…:00.5Z` sorts before `…:00Z`.
pub(crate) fn ts_to_text(ts: &Timestamp) -> String {
    let mut text = Vec::with_capacity(30);
    timestamp::write_rfc3339(ts, Fraction::Nanos, &mut text);
    String::from_utf8(text).expect("RFC 3339 is ASCII")
}

/// Read column `idx` written by [`ts_to_text`].
pub(crate) fn ts_column(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    let text = row.get_ref(idx)?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .map(|ts| ts.with_timezone(&Utc))
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

/// Columns: `seq, ts, kind, data`.
pub(crate) const EVENT_COLUMNS: &str = "seq, ts, kind, data";

pub(crate) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        seq: row.get(0)?,
        ts: ts_column(row, 1)?,
        kind: row.get(2)?,
        // Straight from SQLite's buffer into the shared allocation, no String between.
        data: Arc::from(row.get_ref(3)?.as_str()?),
    })
}

/// Columns of `sessions s`, then the session's last seq.
pub(crate) const SESSION_COLUMNS: &str = "s.id, s.slug, s.title, s.agent, s.cwd, \
     s.created_at, s.updated_at, s.read_seq, s.agent_session_id, \
     (SELECT COALESCE(MAX(e.seq), 0) FROM events e WHERE e.session_id = s.id), \
     s.archived, s.summary_seq, s.status, s.last_stop, s.pending_prompts, s.preview, \
     s.mode, s.commands, s.usage, s.config, s.pending_config";

/// An enum with a serde wire name (`"idle"`) as SQLite text (`idle`).
pub(crate) fn name_to_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => unreachable!("wire enums serialise as strings"),
    }
}

fn text_to_name<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

/// The summary columns, if the actor ever wrote them and they are all readable (an
/// unreadable one, say a status a newer berth wrote, means: rebuild from the log).
fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<Option<SummaryColumns>> {
    let Some(at_seq) = row.get::<_, Option<u64>>(11)? else {
        return Ok(None);
    };
    let status: Option<String> = row.get(12)?;
    let Some(status) = status.as_deref().and_then(text_to_name::<Status>) else {
        return Ok(None);
    };
    let last_stop: Option<String> = row.get(13)?;
    let commands: Option<String> = row.get(17)?;
    let commands = match commands.as_deref() {
        None => Vec::new(),
        Some(json) => match serde_json::from_str(json) {
            Ok(commands) => commands,
            Err(_) => return Ok(None),
        },
    };
    // Unreadable usage (a newer berth's shape) is only left out: it is a report, and
    // the next one replaces it.
    let usage: Option<String> = row.get(18)?;
    let usage = usage.and_then(|json| serde_json::from_str(&json).ok());
    // The offer and the changes waiting are not reports: unreadable, rebuild them.
    let Some(config) = json_column(row, 19)? else {
        return Ok(None);
    };
    let Some(pending_config) = json_column(row, 20)? else {
        return Ok(None);
    };
    Ok(Some(SummaryColumns {
        at_seq,
        status,
        last_stop: last_stop.as_deref().and_then(text_to_name::<StopReason>),
        pending_prompts: row.get(14)?,
        preview: row.get(15)?,
        mode: row.get(16)?,
        commands,
        usage,
        config,
        pending_config: pending_config.unwrap_or_default(),
    }))
}

/// A JSON column: `Some(None)` for NULL, `None` if unreadable.
fn json_column<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<Option<T>>> {
    let json: Option<String> = row.get(index)?;
    Ok(match json {
        None => Some(None),
        Some(json) => serde_json::from_str(&json).ok().map(Some),
    })
}

pub(crate) fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: row.get(0)?,
        slug: row.get(1)?,
        title: row.get(2)?,
        agent: row.get(3)?,
        cwd: row.get(4)?,
        created_at: ts_column(row, 5)?,
        updated_at: ts_column(row, 6)?,
        read_seq: row.get(7)?,
        agent_session_id: row.get(8)?,
        last_seq: row.get(9)?,
        archived: row.get(10)?,
        summary: summary_from_row(row)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_round_trip_and_sort() {
        let whole = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
        let half = whole + chrono::Duration::milliseconds(500);
        let odd = whole + chrono::Duration::nanoseconds(123_456_789);
        for ts in [whole, half, odd, Utc::now()] {
            let text = ts_to_text(&ts);
            let back = DateTime::parse_from_rfc3339(&text).unwrap();
            assert_eq!(back.with_timezone(&Utc), ts, "{text}");
        }
        assert!(ts_to_text(&whole) < ts_to_text(&odd));
        assert!(ts_to_text(&odd) < ts_to_text(&half));
    }
}
