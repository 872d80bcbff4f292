//! `GET /sessions`: paging with a cursor, filters and search, from the registry's
//! summaries (live and cold) without cloning more than one page.

use berth_protocol::rest::{SESSIONS_MAX_LIMIT, SessionsQuery};
use berth_protocol::{Session, Timestamp};

use super::{Entry, Registry};
use crate::SessionError;

impl Registry {
    /// `GET /sessions`: newest activity first (ties: newer id first), filtered by
    /// `archived` and `q`, from after the `before` cursor, at most `limit`. Returns the
    /// page and the cursor of the next one.
    pub fn page(
        &self,
        query: &SessionsQuery,
    ) -> Result<(Vec<Session>, Option<String>), SessionError> {
        let limit = match query.limit {
            Some(0) => {
                return Err(SessionError::BadRequest(
                    "`limit` must be at least 1".into(),
                ));
            }
            Some(limit) => Some(limit.min(SESSIONS_MAX_LIMIT)),
            None => None,
        };
        let before = query.before.as_deref().map(parse_cursor).transpose()?;
        let archived = query.archived.unwrap_or(false);
        let needle = query
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase);
        let map = self.inner.sessions.read().expect("session map lock");
        // Sort keys only; the page's summaries are cloned once chosen.
        let mut keys: Vec<(Timestamp, &str)> = map
            .iter()
            .filter_map(|(id, entry)| {
                entry.with_summary(|s| {
                    let wanted = s.archived == archived
                        && needle.as_deref().is_none_or(|needle| matches(s, needle));
                    wanted.then_some((s.updated_at, id.as_str()))
                })
            })
            .filter(|key| {
                before
                    .as_ref()
                    .is_none_or(|(ts, id)| *key < (*ts, id.as_str()))
            })
            .collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        let more = limit.is_some_and(|limit| keys.len() > limit);
        if let Some(limit) = limit {
            keys.truncate(limit);
        }
        let next = more
            .then(|| keys.last().map(|(ts, id)| cursor(ts, id)))
            .flatten();
        let sessions = keys
            .iter()
            .filter_map(|(_, id)| map.get(*id).map(Entry::summary))
            .collect();
        Ok((sessions, next))
    }
}

/// Case-insensitive search of what a sidebar shows of a session.
fn matches(session: &Session, needle: &str) -> bool {
    let fields = [
        Some(session.title.as_str()),
        Some(session.slug.as_str()),
        Some(session.agent.as_str()),
        Some(session.id.as_str()),
        session.preview.as_deref(),
    ];
    fields
        .into_iter()
        .flatten()
        .any(|field| field.to_lowercase().contains(needle))
}

/// The `next` cursor after a session: `<updated_at as unix nanoseconds>_<id>`.
fn cursor(updated_at: &Timestamp, id: &str) -> String {
    let nanos = updated_at
        .timestamp_nanos_opt()
        .unwrap_or(updated_at.timestamp_micros().saturating_mul(1000));
    format!("{nanos}_{id}")
}

fn parse_cursor(cursor: &str) -> Result<(Timestamp, String), SessionError> {
    let bad = || {
        SessionError::BadRequest(format!(
            "`before` must be the `next` cursor of a previous page, got `{cursor}`"
        ))
    };
    let (nanos, id) = cursor.split_once('_').ok_or_else(bad)?;
    let nanos: i64 = nanos.parse().map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((Timestamp::from_timestamp_nanos(nanos), id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let ts = Timestamp::from_timestamp_nanos(1_764_680_000_123_456_789);
        let id = "0193a5b2-0000-7000-8000-000000000000";
        assert_eq!(parse_cursor(&cursor(&ts, id)).unwrap(), (ts, id.to_owned()));
        for bad in ["", "garbage", "123_", "x_y", "_abc"] {
            assert!(parse_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
