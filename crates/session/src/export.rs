//! A session's export: its whole log as JSON, or as a Markdown transcript a person reads
//! (`GET /sessions/{id}/export?format=md|json`). A copy goes to the session's
//! `exports/` directory, so the files drawer (and the machine's owner) keeps it.
//!
//! The Markdown is a projection, like the web UI's transcript: messages and replies in
//! full, thoughts quoted, tool calls as one line each (title, kind, final status),
//! prompts with their answer, and how each turn ended. Nothing is dropped silently: an
//! event kind it does not render is left out only if it has nothing for a reader
//! (agent start, usage, config and summary-only events).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use berth_protocol::{Event, EventRecord, Outcome, Session};
use serde::Serialize;

use crate::SessionError;

/// What an export is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
}

impl Format {
    /// `md` (the default) or `json`.
    pub fn parse(name: Option<&str>) -> Result<Format, SessionError> {
        match name.unwrap_or("md") {
            "md" | "markdown" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            other => Err(SessionError::BadRequest(format!(
                "`format` must be `md` or `json`, not `{other}`"
            ))),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Json => "json",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

/// The JSON export: the summary and every event, in order.
#[derive(Serialize)]
struct JsonExport<'a> {
    session: &'a Session,
    events: &'a [EventRecord],
}

/// The export of `session` with its `events`, as `format`.
pub fn render(session: &Session, events: &[EventRecord], format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(&JsonExport { session, events })
            .expect("wire types serialise"),
        Format::Markdown => markdown(session, events),
    }
}

/// Where the copy of an export made at `at` goes: `exports/<slug>-<UTC time>.<ext>`.
pub fn copy_path(artifacts: &Path, session: &Session, format: Format, at: &str) -> PathBuf {
    artifacts
        .join("exports")
        .join(format!("{}-{at}.{}", session.slug, format.extension()))
}

fn markdown(session: &Session, events: &[EventRecord]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", session.title);
    let _ = writeln!(
        out,
        "- agent: `{}`\n- directory: `{}`\n- created: {}\n- events: {}\n",
        session.agent,
        session.cwd,
        session.created_at.to_rfc3339(),
        session.last_seq
    );
    // Consecutive chunks of one kind are one block.
    let mut open: Option<&'static str> = None;
    let close = |out: &mut String, open: &mut Option<&'static str>| {
        if open.take().is_some() {
            out.push_str("\n\n");
        }
    };
    for record in events {
        match &record.event {
            Event::AgentMessageChunk { text, .. } => {
                if open != Some("agent") {
                    close(&mut out, &mut open);
                    out.push_str("**Agent:**\n\n");
                    open = Some("agent");
                }
                out.push_str(text);
            }
            Event::AgentThoughtChunk { text, .. } => {
                if open != Some("thought") {
                    close(&mut out, &mut open);
                    out.push_str("> *thinking:* ");
                    open = Some("thought");
                }
                out.push_str(&text.replace('\n', "\n> "));
            }
            event => {
                close(&mut out, &mut open);
                block(&mut out, event);
            }
        }
    }
    close(&mut out, &mut open);
    out
}

/// The lines of one event that is not a chunk (nothing for those a reader does not need).
fn block(out: &mut String, event: &Event) {
    let _ = match event {
        Event::UserMessage {
            text, attachments, ..
        } => {
            let _ = writeln!(out, "---\n\n**You:**\n\n{text}\n");
            for a in attachments {
                let _ = writeln!(
                    out,
                    "- attached `{}` ({}, {} bytes)",
                    a.name, a.mime_type, a.size
                );
            }
            if attachments.is_empty() {
                Ok(())
            } else {
                writeln!(out)
            }
        }
        Event::ToolCall {
            title,
            tool_kind,
            status,
            ..
        } => writeln!(out, "- tool: **{title}** ({tool_kind}, {status})\n"),
        Event::ToolCallUpdate {
            status: Some(status),
            title,
            ..
        } => match title {
            Some(title) => writeln!(out, "- tool update: **{title}** → {status}\n"),
            None => writeln!(out, "- tool → {status}\n"),
        },
        Event::Plan { entries, .. } => {
            let _ = writeln!(out, "**Plan:**\n");
            for entry in entries {
                let mark = if entry.status == "completed" {
                    "x"
                } else {
                    " "
                };
                let _ = writeln!(out, "- [{mark}] {}", entry.content);
            }
            writeln!(out)
        }
        Event::PermissionRequested { title, .. } => {
            writeln!(out, "**Permission asked:** {title}\n")
        }
        Event::QuestionAsked { message, .. } => writeln!(out, "**Question:** {message}\n"),
        Event::PromptResolved { outcome, .. } => writeln!(out, "**Answer:** {}\n", answer(outcome)),
        Event::TurnEnded {
            stop_reason, error, ..
        } => {
            let reason = serde_json::to_value(stop_reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            match error {
                Some(error) => writeln!(out, "*Turn ended: {reason} ({error})*\n"),
                None => writeln!(out, "*Turn ended: {reason}*\n"),
            }
        }
        Event::TitleChanged { title } => writeln!(out, "*Renamed: {title}*\n"),
        Event::Error { message } => writeln!(out, "**Error:** {message}\n"),
        Event::Notice { message } => writeln!(out, "*{message}*\n"),
        Event::ModeChanged { mode_id } => writeln!(out, "*Mode: {mode_id}*\n"),
        Event::TurnQueued { text, .. } => writeln!(out, "*Queued:* {text}\n"),
        _ => Ok(()),
    };
}

fn answer(outcome: &Outcome) -> String {
    serde_json::to_string(outcome).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_protocol::{Attachment, Status, StopReason};

    fn record(seq: u64, event: Event) -> EventRecord {
        EventRecord {
            seq,
            first_seq: None,
            ts: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            event,
        }
    }

    fn session() -> Session {
        let ts = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Session {
            id: "s1".into(),
            slug: "2026-12-08-fix-s1".into(),
            title: "Fix the login".into(),
            agent: "demo".into(),
            cwd: "/w".into(),
            status: Status::Idle,
            created_at: ts,
            updated_at: ts,
            last_seq: 6,
            read_seq: 0,
            unread: 6,
            pending_prompts: 0,
            viewers: 0,
            agent_running: false,
            commands: vec![],
            preview: None,
            archived: false,
            mode: None,
            usage: None,
            config: None,
            pending_config: vec![],
            queued: vec![],
        }
    }

    #[test]
    fn markdown_reads_as_the_conversation() {
        let t = || "t1".to_owned();
        let events = [
            record(
                1,
                Event::UserMessage {
                    turn_id: t(),
                    text: "Why does login fail?".into(),
                    attachments: vec![Attachment {
                        id: "u".into(),
                        name: "log.txt".into(),
                        mime_type: "text/plain".into(),
                        size: 12,
                    }],
                },
            ),
            record(
                2,
                Event::AgentThoughtChunk {
                    turn_id: t(),
                    text: "read the log\nfirst".into(),
                },
            ),
            record(
                3,
                Event::AgentMessageChunk {
                    turn_id: t(),
                    text: "The token ".into(),
                },
            ),
            record(
                4,
                Event::AgentMessageChunk {
                    turn_id: t(),
                    text: "expired.".into(),
                },
            ),
            record(
                5,
                Event::ToolCall {
                    turn_id: t(),
                    tool_call_id: "c".into(),
                    title: "Read log.txt".into(),
                    tool_kind: "read".into(),
                    status: "completed".into(),
                    input: None,
                    content: None,
                    locations: None,
                },
            ),
            record(
                6,
                Event::TurnEnded {
                    turn_id: t(),
                    stop_reason: StopReason::EndTurn,
                    error: None,
                },
            ),
        ];
        let md = render(&session(), &events, Format::Markdown);
        assert!(md.starts_with("# Fix the login\n"), "{md}");
        assert!(md.contains("**You:**\n\nWhy does login fail?\n"), "{md}");
        assert!(
            md.contains("- attached `log.txt` (text/plain, 12 bytes)"),
            "{md}"
        );
        assert!(md.contains("> *thinking:* read the log\n> first"), "{md}");
        assert!(md.contains("**Agent:**\n\nThe token expired.\n"), "{md}");
        assert!(
            md.contains("- tool: **Read log.txt** (read, completed)"),
            "{md}"
        );
        assert!(md.contains("*Turn ended: end_turn*"), "{md}");

        let json: serde_json::Value =
            serde_json::from_str(&render(&session(), &events, Format::Json)).unwrap();
        assert_eq!(json["session"]["id"], "s1");
        assert_eq!(json["events"].as_array().unwrap().len(), 6);
        assert_eq!(json["events"][3]["event"]["text"], "expired.");
    }

    #[test]
    fn formats_are_named() {
        assert_eq!(Format::parse(None).unwrap(), Format::Markdown);
        assert_eq!(Format::parse(Some("json")).unwrap(), Format::Json);
        let error = Format::parse(Some("pdf")).unwrap_err();
        assert!(error.to_string().contains("`md` or `json`"), "{error}");
    }
}
