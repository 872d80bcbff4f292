//! The sidebar's preview line: the last line of text the session shows, from the user's
//! latest message or the agent's reply to it. Kept incrementally from the events the
//! actor emits (a small tail buffer, not the whole reply), and rebuilt from the last
//! events of the log when a session is loaded.

use berth_protocol::Event;

/// How much of the latest text is kept to find its last line.
const TAIL: usize = 512;
/// The longest preview, in characters.
const MAX_CHARS: usize = 120;

#[derive(Debug, Default)]
pub(crate) struct Preview {
    /// The end of the latest message's text.
    tail: String,
    /// The turn whose agent text `tail` holds (`None`: a user message).
    agent_turn: Option<String>,
}

impl Preview {
    /// Continue from a line shown earlier (a summary column), as if it were the latest
    /// text: the next message or reply replaces it.
    pub(crate) fn from_line(line: Option<String>) -> Preview {
        Preview {
            tail: line.unwrap_or_default(),
            agent_turn: None,
        }
    }

    /// Follow one event.
    pub(crate) fn apply(&mut self, event: &Event) {
        match event {
            Event::UserMessage { text, .. } => {
                self.tail.clear();
                self.agent_turn = None;
                self.push(text);
            }
            Event::AgentMessageChunk { turn_id, text } => {
                if self.agent_turn.as_deref() != Some(turn_id.as_str()) {
                    self.tail.clear();
                    self.agent_turn = Some(turn_id.clone());
                }
                self.push(text);
            }
            _ => {}
        }
    }

    fn push(&mut self, text: &str) {
        self.tail.push_str(text);
        if self.tail.len() > TAIL {
            let mut cut = self.tail.len() - TAIL;
            while !self.tail.is_char_boundary(cut) {
                cut += 1;
            }
            self.tail.drain(..cut);
        }
    }

    /// The last non-empty line, trimmed and shortened; `None` before any text.
    pub(crate) fn line(&self) -> Option<String> {
        let line = self
            .tail
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())?;
        let mut chars = line.chars();
        let short: String = chars.by_ref().take(MAX_CHARS).collect();
        Some(if chars.next().is_some() {
            format!("{short}…")
        } else {
            short
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_from_the_summary_reads_back_and_the_next_reply_replaces_it() {
        let long = format!("{}…", "x".repeat(MAX_CHARS));
        for line in ["the last line", long.as_str()] {
            assert_eq!(
                Preview::from_line(Some(line.into())).line().as_deref(),
                Some(line)
            );
        }
        let mut preview = Preview::from_line(Some("earlier".into()));
        preview.apply(&chunk("t9", "new reply"));
        assert_eq!(preview.line().as_deref(), Some("new reply"));
        assert_eq!(Preview::from_line(None).line(), None);
    }

    fn chunk(turn: &str, text: &str) -> Event {
        Event::AgentMessageChunk {
            turn_id: turn.into(),
            text: text.into(),
        }
    }

    #[test]
    fn follows_the_latest_text_line_by_line() {
        let mut preview = Preview::default();
        assert_eq!(preview.line(), None);
        preview.apply(&Event::UserMessage {
            turn_id: "t1".into(),
            text: "fix the login\nplease".into(),
            attachments: Vec::new(),
        });
        assert_eq!(preview.line().as_deref(), Some("please"));
        preview.apply(&chunk("t1", "Looking at "));
        preview.apply(&chunk("t1", "auth.rs\n\n"));
        assert_eq!(preview.line().as_deref(), Some("Looking at auth.rs"));
        preview.apply(&chunk("t1", "Done."));
        assert_eq!(preview.line().as_deref(), Some("Done."));
        // A new turn's reply replaces the old one.
        preview.apply(&chunk("t2", "Next"));
        assert_eq!(preview.line().as_deref(), Some("Next"));
        preview.apply(&Event::TurnStarted {
            turn_id: "t3".into(),
        });
        assert_eq!(
            preview.line().as_deref(),
            Some("Next"),
            "other events leave it"
        );
    }

    #[test]
    fn long_text_is_bounded_and_shortened_on_a_char_boundary() {
        let mut preview = Preview::default();
        for _ in 0..1000 {
            preview.apply(&chunk("t", "ééééé"));
        }
        assert!(preview.tail.len() <= TAIL);
        let line = preview.line().unwrap();
        assert_eq!(line.chars().count(), MAX_CHARS + 1);
        assert!(line.ends_with('…'));
    }
}
