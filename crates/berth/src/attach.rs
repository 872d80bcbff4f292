//! `berth attach`: a terminal viewport. Prints a session live, answers its prompts from
//! stdin, and when the connection drops (server restart, network) reconnects with
//! backoff and resumes from the last seq it printed: nothing twice, nothing skipped.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use berth_protocol::rest::{MarkRead, Resolved, StartTurn, TurnAccepted};
use berth_protocol::{
    Answer, AnswerValue, ClientOp, Event, Question, Seq, ServerFrame, Session, SessionOrigin,
};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::cli::AttachArgs;
use crate::client::Client;

/// berth's own status lines, on stderr. They quote server and agent text (titles,
/// errors, close reasons), so they are cleaned like everything printed.
macro_rules! note {
    ($($arg:tt)*) => {
        eprintln!("{}", clean(&format!($($arg)*)))
    };
}

/// Why one connection's pump ended.
enum End {
    Quit,
    Lost(String),
}

struct View {
    session: String,
    last_seq: Seq,
    epoch: Option<String>,
    /// Prompts asked and not yet resolved, oldest first.
    pending: BTreeMap<String, Event>,
    raw: bool,
    attached_once: bool,
    /// The read cursor as berth last set it (`POST …/read`), so the sidebar's unread
    /// count follows what this terminal printed; `None` with `--keep-unread`.
    read_seq: Option<Seq>,
}

pub async fn run(args: AttachArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let session = client.resolve(&args.session).await?;
    let mut view = View {
        session: session.id.clone(),
        last_seq: args.after,
        epoch: None,
        pending: BTreeMap::new(),
        raw: args.raw,
        attached_once: false,
        read_seq: (!args.keep_unread).then_some(session.read_seq),
    };
    let mut input = if args.no_input {
        None
    } else {
        Some(stdin_lines())
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        match connect(&client).await {
            Ok(ws) => {
                // Only a connection that got somewhere resets the backoff: one that fails
                // at the same point on every try must not retry in a tight loop.
                let (before, connected) = (view.last_seq, std::time::Instant::now());
                let result = view.pump(&client, ws, input.as_mut()).await;
                if view.last_seq > before || connected.elapsed() >= STABLE {
                    backoff = FIRST_BACKOFF;
                }
                match result {
                    Ok(End::Quit) => {
                        view.mark_read(&client).await;
                        return Ok(());
                    }
                    Ok(End::Lost(why)) => {
                        note!(
                            "\n[berth: connection lost ({why}); resuming after seq {}]",
                            view.last_seq
                        );
                    }
                    Err(error) => {
                        note!(
                            "\n[berth: connection lost ({error:#}); resuming after seq {}]",
                            view.last_seq
                        );
                    }
                }
            }
            Err(error) => note!("[berth: cannot connect ({error:#}); retrying]"),
        }
        let jitter = Duration::from_millis(rand::random::<u64>() % 250);
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the read cursor catches up with what was printed.
const READ_EVERY: Duration = Duration::from_secs(1);
/// A connection that lasted this long was a good one, even if nothing new arrived.
const STABLE: Duration = Duration::from_secs(10);
/// Largest frame taken from the server: far above what it sends (an event holds at most
/// 512 KiB, a frame of coalesced chunks about 320 KiB), so never the reason a view stops.
const MAX_FRAME: usize = 64 << 20;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(client: &Client) -> anyhow::Result<Ws> {
    let url = format!("{}/api/v1/ws", client.base().replacen("http", "ws", 1));
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", client.token()).parse()?,
    );
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME));
    let (ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
    Ok(ws)
}

/// Lines typed on stdin, read on a plain thread (stdin is blocking).
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

async fn next_line(input: Option<&mut mpsc::Receiver<String>>) -> Option<String> {
    match input {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl View {
    async fn pump(
        &mut self,
        client: &Client,
        mut ws: Ws,
        mut input: Option<&mut mpsc::Receiver<String>>,
    ) -> anyhow::Result<End> {
        self.send_attach(&mut ws).await?;
        let mut read_tick = tokio::time::interval(READ_EVERY);
        read_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = read_tick.tick() => self.mark_read(client).await,
                message = ws.next() => {
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(frame))) => {
                            return Ok(End::Lost(frame.map(|f| f.reason.to_string()).unwrap_or_else(|| "closed".into())));
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(error)) => return Ok(End::Lost(error.to_string())),
                        None => return Ok(End::Lost("closed".into())),
                    };
                    if self.raw {
                        println!("{}", raw_line(&text));
                    }
                    let frame: ServerFrame = serde_json::from_str(&text).context("unreadable frame from server")?;
                    if let Some(end) = self.on_frame(frame, &mut ws).await? {
                        return Ok(end);
                    }
                }
                line = next_line(input.as_deref_mut()) => {
                    match line {
                        Some(line) => if let Some(end) = self.on_line(client, line.trim()).await {
                            return Ok(end);
                        },
                        None => input = None, // stdin closed: keep watching
                    }
                }
            }
        }
    }

    /// Move the session's read cursor to the last event printed, if it is behind. A
    /// failure is left for the next tick (the connection's own loss is what is reported).
    async fn mark_read(&mut self, client: &Client) {
        let Some(read) = self.read_seq else { return };
        if self.last_seq <= read {
            return;
        }
        let path = format!("/sessions/{}/read", self.session);
        let body = MarkRead { seq: self.last_seq };
        if client.post::<_, Session>(&path, &body).await.is_ok() {
            self.read_seq = Some(self.last_seq);
        }
    }

    async fn send_attach(&self, ws: &mut Ws) -> anyhow::Result<()> {
        let op = ClientOp::Attach {
            id: None,
            session: self.session.clone(),
            after: self.last_seq,
            epoch: self.epoch.clone(),
        };
        ws.send(Message::Text(serde_json::to_string(&op)?.into()))
            .await?;
        Ok(())
    }

    async fn on_frame(&mut self, frame: ServerFrame, ws: &mut Ws) -> anyhow::Result<Option<End>> {
        match frame {
            ServerFrame::Attached { summary, epoch, .. } => {
                self.epoch = Some(epoch);
                if !self.raw && !self.attached_once {
                    note!(
                        "[berth: attached to \"{}\" ({}, {} agent); type a prompt, /cancel or /quit]",
                        summary.title,
                        crate::status_name(summary.status),
                        summary.agent
                    );
                }
                self.attached_once = true;
            }
            ServerFrame::Event {
                seq,
                first_seq,
                event,
                ..
            } => {
                let first = first_seq.unwrap_or(seq);
                if first != self.last_seq + 1 {
                    note!(
                        "[berth: warning: expected seq {}, got {first}]",
                        self.last_seq + 1
                    );
                }
                self.last_seq = seq;
                self.track(&event);
                if !self.raw {
                    render(&event);
                }
            }
            ServerFrame::Reset { epoch, .. } => {
                note!(
                    "[berth: the server cannot resume this cursor; replaying the session from the start]"
                );
                self.epoch = Some(epoch);
                self.last_seq = 0;
                self.pending.clear();
                self.send_attach(ws).await?;
            }
            ServerFrame::SessionDeleted { session } if session == self.session => {
                note!("[berth: the session was deleted]");
                return Ok(Some(End::Quit));
            }
            ServerFrame::Error { code, message, .. } => {
                note!("[berth: error {code:?}: {message}]");
                if code == berth_protocol::ErrorCode::NotFound {
                    return Ok(Some(End::Quit));
                }
            }
            _ => {}
        }
        Ok(None)
    }

    fn track(&mut self, event: &Event) {
        match event {
            Event::PermissionRequested { prompt_id, .. }
            | Event::QuestionAsked { prompt_id, .. } => {
                self.pending.insert(prompt_id.clone(), event.clone());
            }
            Event::PromptResolved { prompt_id, .. } => {
                self.pending.remove(prompt_id);
            }
            _ => {}
        }
    }

    /// A typed line: an answer to the oldest pending prompt, a command, or a new prompt.
    async fn on_line(&mut self, client: &Client, line: &str) -> Option<End> {
        if line.is_empty() {
            return None;
        }
        let result = match line {
            "/quit" | "/exit" => return Some(End::Quit),
            "/cancel" => {
                client
                    .post_empty(&format!("/sessions/{}/cancel", self.session))
                    .await
            }
            _ => match self.pending.iter().next() {
                Some((prompt_id, event)) => match answer_from(event, line) {
                    Ok(answer) => client
                        .post::<_, Resolved>(
                            &format!("/sessions/{}/prompts/{prompt_id}", self.session),
                            &answer,
                        )
                        .await
                        .map(|_| ()),
                    Err(hint) => Err(anyhow::anyhow!(hint)),
                },
                None => client
                    .post::<_, TurnAccepted>(
                        &format!("/sessions/{}/turns", self.session),
                        // A line typed while a turn runs waits for it (as in the web UI).
                        &StartTurn {
                            text: line.to_owned(),
                            queue: true,
                            attachments: Vec::new(),
                        },
                    )
                    .await
                    .map(|_| ()),
            },
        };
        if let Err(error) = result {
            note!("[berth: {error:#}]");
        }
        None
    }
}

/// Read an answer for `event` from a typed line: an option number or id, `cancel`, or
/// for questions the value (or `id=value` pairs for several questions).
fn answer_from(event: &Event, line: &str) -> Result<Answer, String> {
    if line == "cancel" || line == "/cancel-prompt" {
        return Ok(Answer::Cancel { cancel: true });
    }
    match event {
        Event::PermissionRequested { options, .. } => {
            let by_number = line
                .parse::<usize>()
                .ok()
                .and_then(|n| options.get(n.wrapping_sub(1)));
            let option = by_number.or_else(|| options.iter().find(|o| o.option_id == line));
            option
                .map(|o| Answer::Select {
                    option_id: o.option_id.clone(),
                })
                .ok_or_else(|| format!("type an option number 1-{} or `cancel`", options.len()))
        }
        Event::QuestionAsked { questions, .. } => {
            let mut answers = BTreeMap::new();
            if let [question] = questions.as_slice() {
                let value = if question.multiple {
                    chosen(question, line)
                } else {
                    line.parse::<usize>()
                        .ok()
                        .and_then(|n| question.options.as_ref()?.get(n.wrapping_sub(1)).cloned())
                        .unwrap_or_else(|| line.to_owned())
                        .into()
                };
                answers.insert(question.id.clone(), value);
            } else {
                for pair in line.split_whitespace() {
                    let (k, v) = pair.split_once('=').ok_or("answer as id=value pairs")?;
                    let value = match questions.iter().find(|q| q.id == k && q.multiple) {
                        Some(question) => chosen(question, v),
                        None => v.into(),
                    };
                    answers.insert(k.to_owned(), value);
                }
            }
            Ok(Answer::Answers { answers })
        }
        _ => Err("nothing to answer".into()),
    }
}

/// The answer to a `multiple` question typed as option numbers separated by commas or
/// spaces (`1,3`): those options, in that order, once each. Anything else is sent as
/// typed, one choice (an option's text or free text; the server judges it).
fn chosen(question: &Question, typed: &str) -> AnswerValue {
    let options = question.options.as_deref().unwrap_or_default();
    let numbers: Option<Vec<usize>> = typed
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
        .map(|n| n.parse().ok().filter(|n| (1..=options.len()).contains(n)))
        .collect();
    match numbers {
        Some(numbers) if !numbers.is_empty() => {
            let mut choices: Vec<String> = Vec::new();
            for n in numbers {
                if !choices.contains(&options[n - 1]) {
                    choices.push(options[n - 1].clone());
                }
            }
            AnswerValue::Many(choices)
        }
        _ => typed.into(),
    }
}

/// Text without terminal control characters (an agent, a file it quotes, or another
/// viewport must not be able to drive the user's terminal: escape sequences, title
/// changes, bells, carriage returns that overwrite a line); newlines and tabs stay.
fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    let keep = |c: char| !c.is_control() || c == '\n' || c == '\t';
    if text.chars().all(keep) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars().filter(|&c| keep(c)).collect::<String>().into()
}

/// A frame as printed by `--raw`: the JSON the server sent, with any control character
/// (serde_json leaves DEL and C1 characters such as U+009B, a terminal's CSI, unescaped)
/// written as a `\uXXXX` escape. Compact JSON has control characters only inside
/// strings, where the escape means the same character: the line stays the same JSON.
fn raw_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// How a rendered event is shown.
#[derive(Debug, PartialEq)]
enum Tone {
    Plain,
    /// Thoughts: dimmed, so the answer stands out.
    Dim,
}

/// Print one event. Everything in it may come from the agent (titles, plans, options,
/// errors) or from another viewport, so the whole text is cleaned here, once, and only
/// berth's own styling is added after that.
fn render(event: &Event) {
    let (tone, text) = shown(event);
    if text.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = match tone {
        Tone::Plain => write!(out, "{text}"),
        Tone::Dim => write!(out, "\x1b[2m{text}\x1b[0m"),
    };
    let _ = out.flush();
}

/// The terminal text of one event, cleaned.
fn shown(event: &Event) -> (Tone, String) {
    let (tone, text) = describe(event);
    // Most text has nothing to clean: keep the described string, no second copy.
    let cleaned = match clean(&text) {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(cleaned) => Some(cleaned),
    };
    (tone, cleaned.unwrap_or(text))
}

/// The terminal text of one event, before cleaning.
fn describe(event: &Event) -> (Tone, String) {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = match event {
        Event::SessionCreated { agent, cwd, .. } => {
            writeln!(out, "[session created: {agent} in {cwd}]")
        }
        Event::UserMessage { text, .. } => writeln!(out, "\n> {text}"),
        Event::TurnStarted { .. } => Ok(()),
        Event::AgentMessageChunk { text, .. } => write!(out, "{text}"),
        Event::AgentThoughtChunk { text, .. } => return (Tone::Dim, text.clone()),
        Event::ToolCall {
            title,
            tool_kind,
            status,
            ..
        } => writeln!(out, "\n[tool {tool_kind}] {title} ({status})"),
        Event::ToolCallUpdate {
            tool_call_id,
            status: Some(status),
            ..
        } => writeln!(out, "[tool {tool_call_id}: {status}]"),
        Event::ToolCallUpdate { .. } => Ok(()),
        Event::Plan { entries, .. } => {
            let _ = writeln!(out, "\n[plan]");
            entries.iter().try_for_each(|e| {
                let mark = if e.status == "completed" { "x" } else { " " };
                writeln!(out, "  [{mark}] {}", e.content)
            })
        }
        Event::PermissionRequested {
            title,
            options,
            prompt_id,
            ..
        } => {
            let _ = writeln!(
                out,
                "\n? permission requested: {title}  (prompt {prompt_id})"
            );
            for (i, o) in options.iter().enumerate() {
                let _ = writeln!(out, "  {}) {} [{}]", i + 1, o.name, o.option_id);
            }
            writeln!(out, "  type a number to answer, or `cancel`")
        }
        Event::QuestionAsked {
            message,
            questions,
            prompt_id,
            ..
        } => {
            let _ = writeln!(out, "\n? {message}  (prompt {prompt_id})");
            for q in questions {
                let options = match &q.options {
                    // Numbered: several choices are typed by number (`1,3`).
                    Some(o) if q.multiple => {
                        let numbered: Vec<String> = o
                            .iter()
                            .enumerate()
                            .map(|(i, o)| format!("{}) {o}", i + 1))
                            .collect();
                        format!("{} (choose one or more)", numbered.join(" / "))
                    }
                    Some(o) => o.join(" / "),
                    None => String::new(),
                };
                let _ = writeln!(out, "  {}: {} {}", q.id, q.question, options);
            }
            match questions.as_slice() {
                [q] if q.multiple && q.options.is_some() => writeln!(
                    out,
                    "  type the numbers of your choices (e.g. 1,3), or `cancel`"
                ),
                [q] if q.multiple => {
                    writeln!(out, "  type your choices separated by commas, or `cancel`")
                }
                qs if qs.iter().any(|q| q.multiple) => writeln!(
                    out,
                    "  type id=value pairs (id=1,3 for several choices), or `cancel`"
                ),
                _ => writeln!(out, "  type your answer (or a number), or `cancel`"),
            }
        }
        Event::PromptResolved { outcome, .. } => writeln!(
            out,
            "[answered: {}]",
            serde_json::to_string(outcome).unwrap_or_default()
        ),
        Event::Usage { used_tokens, .. } => writeln!(out, "[usage: {used_tokens} tokens]"),
        Event::TurnEnded {
            stop_reason, error, ..
        } => match error {
            Some(error) => writeln!(out, "\n[turn ended: {stop_reason:?}: {error}]"),
            None => writeln!(out, "\n[turn ended: {stop_reason:?}]"),
        },
        Event::AgentStarted {
            pid,
            session_origin,
            ..
        } => match session_origin {
            Some(SessionOrigin::Resumed) => {
                writeln!(out, "[agent started, pid {pid}, conversation resumed]")
            }
            Some(SessionOrigin::Loaded) => {
                writeln!(out, "[agent started, pid {pid}, conversation reloaded]")
            }
            _ => writeln!(out, "[agent started, pid {pid}]"),
        },
        Event::AgentExited { code, signal, .. } => {
            writeln!(out, "[agent exited: code {code:?}, signal {signal:?}]")
        }
        Event::TitleChanged { title } => writeln!(out, "[title: {title}]"),
        Event::Error { message } => writeln!(out, "[error: {message}]"),
        Event::Notice { message } => writeln!(out, "[note: {message}]"),
        Event::CommandsChanged { commands } => {
            let names: Vec<String> = commands.iter().map(|c| format!("/{}", c.name)).collect();
            writeln!(out, "[commands: {}]", names.join(" "))
        }
        Event::ModeChanged { mode_id } => writeln!(out, "[mode: {mode_id}]"),
        Event::ConfigChanged { config } => {
            let options: Vec<String> = config
                .options
                .iter()
                .map(|option| format!("{}={}", option.id, option.value))
                .collect();
            writeln!(out, "[config: {}]", options.join(", "))
        }
        Event::TurnQueued { text, .. } => writeln!(out, "[queued: {text}]"),
        Event::TurnUnqueued { reason, .. } => match reason {
            berth_protocol::UnqueueReason::Removed => {
                writeln!(out, "[a queued prompt was removed]")
            }
            berth_protocol::UnqueueReason::Cancelled => {
                writeln!(
                    out,
                    "[a queued prompt was cancelled with the turn before it]"
                )
            }
        },
        Event::ConfigPending { pending } if pending.is_empty() => Ok(()),
        Event::ConfigPending { pending } => {
            let changes: Vec<String> = pending
                .iter()
                .map(|change| match change {
                    berth_protocol::ConfigChange::Mode { mode } => format!("mode={mode}"),
                    berth_protocol::ConfigChange::Option { option, value } => {
                        format!("{option}={value}")
                    }
                })
                .collect();
            writeln!(out, "[set when the agent starts: {}]", changes.join(", "))
        }
        Event::AgentUpdate { update, .. } => {
            let kind = update["sessionUpdate"].as_str().unwrap_or("unknown");
            writeln!(out, "[agent update: {kind}]")
        }
    };
    (Tone::Plain, out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const HOSTILE: &str = "\x1b]0;pwned\x07\x1b[2J\rgone\u{9b}31m";

    fn event(wire: serde_json::Value) -> Event {
        serde_json::from_value(wire).expect("a valid event")
    }

    #[test]
    fn agent_controlled_text_is_cleaned_everywhere() {
        let h = HOSTILE;
        let events = [
            json!({"kind": "agent_message_chunk", "turn_id": "t1", "text": h}),
            json!({"kind": "agent_thought_chunk", "turn_id": "t1", "text": h}),
            json!({"kind": "user_message", "turn_id": "t1", "text": h}),
            json!({"kind": "tool_call", "turn_id": "t1", "tool_call_id": "tc1", "title": h,
                   "tool_kind": "execute", "status": "in_progress"}),
            json!({"kind": "plan", "turn_id": "t1",
                   "entries": [{"content": h, "status": "pending", "priority": "high"}]}),
            json!({"kind": "permission_requested", "turn_id": "t1", "prompt_id": "p1", "title": h,
                   "options": [{"option_id": h, "name": h, "kind": "allow_once"}]}),
            json!({"kind": "question_asked", "turn_id": "t1", "prompt_id": "p1", "message": h,
                   "questions": [{"id": "q", "question": h, "options": [h], "free_text": false}]}),
            json!({"kind": "turn_ended", "turn_id": "t1", "stop_reason": "error", "error": h}),
            json!({"kind": "error", "message": h}),
            json!({"kind": "title_changed", "title": h}),
            json!({"kind": "notice", "message": h}),
        ];
        for wire in events {
            let (_, text) = shown(&event(wire.clone()));
            assert!(
                text.chars()
                    .all(|c| !c.is_control() || c == '\n' || c == '\t'),
                "control characters left in {text:?} from {wire}"
            );
            assert!(
                text.contains("pwned") && text.contains("gone"),
                "the visible text stays: {text:?} from {wire}"
            );
        }
    }

    #[test]
    fn thoughts_are_dimmed_after_cleaning() {
        let (tone, text) = shown(&event(
            json!({"kind": "agent_thought_chunk", "turn_id": "t1", "text": "think\x1b[0m"}),
        ));
        assert_eq!((tone, text.as_str()), (Tone::Dim, "think[0m"));
    }

    #[test]
    fn raw_frames_stay_the_same_json_without_control_characters() {
        let frame = json!({"type": "event", "text": "a\u{9b}31m\u{7f}b\x1b[2J"});
        let text = serde_json::to_string(&frame).unwrap();
        let line = raw_line(&text);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&line).unwrap(),
            frame
        );
        assert!(matches!(
            raw_line("{\"a\":1}"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn newlines_and_tabs_stay() {
        assert_eq!(clean("a\n\tb"), "a\n\tb");
        assert!(matches!(clean("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
