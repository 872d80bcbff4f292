//! The demo agent's script (PROTOCOL.md, "The demo agent's script"): what a prompt does,
//! by its text. Deterministic, so tests and benchmarks can rely on it.

use std::path::PathBuf;
use std::time::Duration;

use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    ContentBlock, ContentChunk, Cost, CreateElicitationRequest, ElicitationAction,
    ElicitationContentValue, ElicitationFormMode, ElicitationSchema, ElicitationSessionScope,
    EmbeddedResourceResource, EnumOption, MultiSelectPropertySchema, PermissionOption,
    PermissionOptionKind, Plan, PlanEntry, PlanEntryPriority, PlanEntryStatus,
    RequestPermissionOutcome, RequestPermissionRequest, SessionId, SessionNotification,
    SessionUpdate, StopReason, StringPropertySchema, TextContent, ToolCall, ToolCallContent,
    ToolCallId, ToolCallLocation, ToolCallStatus, ToolCallUpdate, ToolCallUpdateFields, ToolKind,
    UsageUpdate,
};
use agent_client_protocol::{self as acp, UntypedMessage};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::CRASH_MARKER_METHOD;

/// What a prompt asks for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Command {
    /// `/stream N [every=MS | rate=R] [stamp]`: chunk i is due `(i - 1) × every` after
    /// the first; with `stamp` each chunk says when it was sent (for benchmarks).
    Stream {
        count: u64,
        every: Duration,
        stamp: bool,
    },
    /// `/permission [chatty]`: with `chatty` the agent goes on talking while the
    /// request waits (two chunks sent right behind it), as real agents do.
    Permission { chatty: bool },
    /// `/ask`
    Ask,
    /// `/ask-many`
    AskMany,
    /// `/sleep S`
    Sleep(Duration),
    /// `/big N [tool]`: one update of N bytes (a message chunk, or a tool call's output).
    Big { bytes: usize, tool: bool },
    /// `/crash`
    Crash,
    /// `/fail`
    Fail,
    /// `/whoami`: the session's mode, model and the prompt's attachments.
    WhoAmI,
    /// A command with bad arguments: the reply explains the usage.
    Usage(&'static str),
    /// Anything else.
    Chat,
}

/// The demo's pretend context window and price (usage is reported after every turn).
pub(super) const CONTEXT_SIZE: u64 = 200_000;
const USD_PER_TOKEN: f64 = 0.000_003;

/// Tokens a turn adds to the context: a fixed share for the reply, and the prompt's text
/// at about four bytes a token. Deterministic, like the rest of the script.
pub(super) fn turn_tokens(text: &str) -> u64 {
    100 + text.len() as u64 / 4
}

/// The options of `/ask-many` (question id `checks`).
const ASK_MANY_OPTIONS: [&str; 3] = ["lint", "unit tests", "e2e, in Chromium"];

const STREAM_USAGE: &str = "Usage: `/stream N [every=MS | rate=R] [stamp]`, e.g. `/stream 100 every=20` or `/stream 5000 rate=5000` (chunks per second).\n";
const BIG_USAGE: &str = "Usage: `/big N [tool]` (bytes, at most 256 MiB), e.g. `/big 20000000`.\n";
const PERMISSION_USAGE: &str = "Usage: `/permission [chatty]`.\n";
const SLEEP_USAGE: &str = "Usage: `/sleep S` (seconds), e.g. `/sleep 5`.\n";

pub(super) fn parse(text: &str) -> Command {
    let mut words = text.split_whitespace();
    match words.next().unwrap_or("") {
        "/stream" => {
            let Some(count) = words.next().and_then(|n| n.parse().ok()) else {
                return Command::Usage(STREAM_USAGE);
            };
            let mut every = Duration::ZERO;
            let mut stamp = false;
            for arg in words {
                let ms = arg.strip_prefix("every=").and_then(|ms| ms.parse().ok());
                let rate = arg
                    .strip_prefix("rate=")
                    .and_then(|r| r.parse::<f64>().ok())
                    .filter(|r| r.is_finite() && *r >= 0.001);
                match (ms, rate, arg) {
                    (Some(ms), _, _) => every = Duration::from_millis(ms),
                    (None, Some(rate), _) => every = Duration::from_secs_f64(1.0 / rate),
                    (None, None, "stamp") => stamp = true,
                    _ => return Command::Usage(STREAM_USAGE),
                }
            }
            Command::Stream {
                count,
                every,
                stamp,
            }
        }
        "/sleep" => match words.next().and_then(|s| s.parse::<f64>().ok()) {
            Some(secs) if secs.is_finite() && (0.0..=86_400.0).contains(&secs) => {
                Command::Sleep(Duration::from_secs_f64(secs))
            }
            _ => Command::Usage(SLEEP_USAGE),
        },
        "/big" => {
            let bytes = words.next().and_then(|n| n.parse::<usize>().ok());
            let tool = match words.next() {
                None => false,
                Some("tool") => true,
                Some(_) => return Command::Usage(BIG_USAGE),
            };
            match bytes {
                Some(bytes) if bytes <= 256 << 20 => Command::Big { bytes, tool },
                _ => Command::Usage(BIG_USAGE),
            }
        }
        "/permission" => match words.next() {
            None => Command::Permission { chatty: false },
            Some("chatty") => Command::Permission { chatty: true },
            Some(_) => Command::Usage(PERMISSION_USAGE),
        },
        "/ask" => Command::Ask,
        "/ask-many" => Command::AskMany,
        "/crash" => Command::Crash,
        "/fail" => Command::Fail,
        "/whoami" => Command::WhoAmI,
        _ => Command::Chat,
    }
}

/// The prompt's text: its text blocks joined (other blocks have no say in the script).
pub(super) fn prompt_text(prompt: &[ContentBlock]) -> String {
    prompt
        .iter()
        .filter_map(|block| match block {
            ContentBlock::Text(text) => Some(text.text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What each non-text block of a prompt is, in a few words (for `/whoami`).
pub(super) fn attachments(prompt: &[ContentBlock]) -> Vec<String> {
    prompt
        .iter()
        .filter_map(|block| match block {
            ContentBlock::Text(_) => None,
            ContentBlock::Image(image) => Some(format!(
                "image {} ({} base64 bytes)",
                image.mime_type,
                image.data.len()
            )),
            ContentBlock::Resource(resource) => Some(match &resource.resource {
                EmbeddedResourceResource::TextResourceContents(text) => {
                    format!("text {} ({} bytes)", text.uri, text.text.len())
                }
                EmbeddedResourceResource::BlobResourceContents(blob) => {
                    format!("blob {}", blob.uri)
                }
                #[allow(unreachable_patterns)]
                _ => "resource".to_owned(),
            }),
            ContentBlock::ResourceLink(link) => Some(format!("link {}", link.uri)),
            _ => Some("other content".to_owned()),
        })
        .collect()
}

/// One running turn.
pub(super) struct Turn {
    pub cx: ConnectionTo<acp::Client>,
    pub session_id: SessionId,
    pub cwd: PathBuf,
    /// Fired by `session/cancel`.
    pub cancel: CancellationToken,
    /// 1 for the session's first turn; keeps tool call ids unique.
    pub number: u64,
    /// Whether the client can answer form elicitations.
    pub forms: bool,
    /// The session's mode and model as the turn starts.
    pub mode: String,
    pub model: String,
    /// The prompt's attachments (see [`attachments`]).
    pub attachments: Vec<String>,
}

impl Turn {
    /// Play the script for `text`; the stop reason, or the error `session/prompt` answers.
    pub async fn run(&self, text: &str) -> Result<StopReason, acp::Error> {
        match parse(text) {
            Command::Stream {
                count,
                every,
                stamp,
            } => self.stream(count, every, stamp).await,
            Command::Permission { chatty } => self.permission(chatty).await,
            Command::Ask => self.ask().await,
            Command::AskMany => self.ask_many().await,
            Command::Sleep(duration) => self.sleep(duration).await,
            Command::Big { bytes, tool } => self.big(bytes, tool),
            Command::Crash => self.crash().await,
            Command::Fail => Err(acp::Error::new(
                acp::ErrorCode::INTERNAL_ERROR,
                "the demo agent failed this turn on purpose (/fail)",
            )),
            Command::Usage(usage) => {
                self.say(usage)?;
                Ok(StopReason::EndTurn)
            }
            Command::WhoAmI => {
                let attachments = match self.attachments.as_slice() {
                    [] => "none".to_owned(),
                    list => list.join("; "),
                };
                self.say(format!(
                    "mode: {} · model: {} · attachments: {attachments}\n",
                    self.mode, self.model
                ))?;
                Ok(StopReason::EndTurn)
            }
            Command::Chat => self.chat(text).await,
        }
    }

    /// The session's usage after this turn: `used` tokens in its context (of
    /// [`CONTEXT_SIZE`]), costing [`USD_PER_TOKEN`] each.
    pub(super) fn report_usage(&self, used: u64) -> Result<(), acp::Error> {
        let cost = Cost::new(used as f64 * USD_PER_TOKEN, "USD");
        self.send(SessionUpdate::UsageUpdate(
            UsageUpdate::new(used, CONTEXT_SIZE).cost(cost),
        ))
    }

    fn send(&self, update: SessionUpdate) -> Result<(), acp::Error> {
        self.cx
            .send_notification(SessionNotification::new(self.session_id.clone(), update))
    }

    fn say(&self, text: impl Into<String>) -> Result<(), acp::Error> {
        self.send(SessionUpdate::AgentMessageChunk(ContentChunk::new(
            ContentBlock::Text(TextContent::new(text)),
        )))
    }

    fn update_tool(&self, id: &ToolCallId, status: ToolCallStatus) -> Result<(), acp::Error> {
        self.send(SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(
            id.clone(),
            ToolCallUpdateFields::new().status(status),
        )))
    }

    /// The stop reason for a turn that ran to its end: cancelled if a cancel arrived.
    fn finished(&self) -> StopReason {
        if self.cancel.is_cancelled() {
            StopReason::Cancelled
        } else {
            StopReason::EndTurn
        }
    }

    async fn stream(
        &self,
        count: u64,
        every: Duration,
        stamp: bool,
    ) -> Result<StopReason, acp::Error> {
        // Paced by deadlines, not sleeps between chunks: a rate above the timer's 1 ms
        // resolution comes out as small bursts at the right average.
        let start = tokio::time::Instant::now();
        for i in 1..=count {
            if every.is_zero() {
                // Sending only queues; yield now and then so the connection can write
                // the queue out and notice a cancel while a big stream is produced.
                if i % 256 == 0 {
                    tokio::task::yield_now().await;
                }
            } else if i > 1 {
                let due = start + every.mul_f64((i - 1) as f64);
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    () = self.cancel.cancelled() => return Ok(StopReason::Cancelled),
                }
            }
            if self.cancel.is_cancelled() {
                return Ok(StopReason::Cancelled);
            }
            if stamp {
                self.say(format!("chunk {i} at {}\n", stamp_micros()))?;
            } else {
                self.say(format!("chunk {i}\n"))?;
            }
        }
        Ok(StopReason::EndTurn)
    }

    /// One `session/update` line as long as asked: what an agent printing a huge file
    /// or output in one go sends.
    fn big(&self, bytes: usize, tool: bool) -> Result<StopReason, acp::Error> {
        let text = super::big_text(bytes);
        if !tool {
            self.say(text)?;
            return Ok(StopReason::EndTurn);
        }
        let id = ToolCallId::new(format!("demo-big-{}", self.number));
        self.send(SessionUpdate::ToolCall(
            ToolCall::new(id, "Print a big output")
                .kind(ToolKind::Execute)
                .status(ToolCallStatus::Completed)
                .content(vec![ToolCallContent::from(ContentBlock::Text(
                    TextContent::new(text),
                ))]),
        ))?;
        Ok(StopReason::EndTurn)
    }

    async fn permission(&self, chatty: bool) -> Result<StopReason, acp::Error> {
        let id = ToolCallId::new(format!("demo-permission-{}", self.number));
        let target = self.cwd.join("berth-demo.txt");
        let title = "Write berth-demo.txt";
        self.send(SessionUpdate::ToolCall(
            ToolCall::new(id.clone(), title)
                .kind(ToolKind::Edit)
                .status(ToolCallStatus::Pending)
                .raw_input(json!({"path": target, "content": "hello from the berth demo agent\n"}))
                .locations(vec![ToolCallLocation::new(&target)]),
        ))?;
        let request = RequestPermissionRequest::new(
            self.session_id.clone(),
            ToolCallUpdate::new(id.clone(), ToolCallUpdateFields::new().title(title)),
            vec![
                PermissionOption::new("allow", "Allow once", PermissionOptionKind::AllowOnce),
                PermissionOption::new("reject", "Reject", PermissionOptionKind::RejectOnce),
            ],
        );
        // Sent now: anything said below follows the request on the wire.
        let response = self.cx.send_request(request);
        if chatty {
            self.say("While you decide: 1\n")?;
            self.say("While you decide: 2\n")?;
        }
        let response = tokio::select! {
            response = response.block_task() => response?,
            () = self.cancel.cancelled() => {
                self.update_tool(&id, ToolCallStatus::Failed)?;
                return Ok(StopReason::Cancelled);
            }
        };
        // The demo only pretends: no file is written whatever the answer.
        let (reply, status) = match response.outcome {
            RequestPermissionOutcome::Selected(selected) => {
                let chosen = selected.option_id.0.to_string();
                let status = if chosen == "allow" {
                    ToolCallStatus::Completed
                } else {
                    ToolCallStatus::Failed
                };
                (format!("You chose: {chosen}\n"), status)
            }
            _ => ("Permission cancelled\n".to_owned(), ToolCallStatus::Failed),
        };
        self.say(reply)?;
        self.update_tool(&id, status)?;
        Ok(self.finished())
    }

    async fn ask(&self) -> Result<StopReason, acp::Error> {
        let schema = ElicitationSchema::new().property(
            "color",
            StringPropertySchema::new()
                .title("Pick a color")
                .enum_values(vec![
                    "red".to_owned(),
                    "green".to_owned(),
                    "blue".to_owned(),
                ]),
            true,
        );
        let reply = match self
            .ask_form("Which color do you like best?", schema, "color")
            .await?
        {
            Asked::Unanswerable => return Ok(StopReason::EndTurn),
            Asked::TurnCancelled => return Ok(StopReason::Cancelled),
            Asked::Declined => "Question cancelled\n".to_owned(),
            Asked::Accepted(Some(ElicitationContentValue::String(color))) => {
                format!("You picked: {color}\n")
            }
            Asked::Accepted(_) => "You picked nothing\n".to_owned(),
        };
        self.say(reply)?;
        Ok(self.finished())
    }

    /// One multi-select question (an array property, as Claude's AskUserQuestion with
    /// `multiSelect` sends it); an option holds a comma, to show choices stay whole.
    async fn ask_many(&self) -> Result<StopReason, acp::Error> {
        let options = ASK_MANY_OPTIONS
            .iter()
            .map(|option| EnumOption::new(*option, *option))
            .collect();
        let schema = ElicitationSchema::new().property(
            "checks",
            MultiSelectPropertySchema::titled(options).title("Pick any"),
            true,
        );
        let reply = match self
            .ask_form("Which checks should run?", schema, "checks")
            .await?
        {
            Asked::Unanswerable => return Ok(StopReason::EndTurn),
            Asked::TurnCancelled => return Ok(StopReason::Cancelled),
            Asked::Declined => "Question cancelled\n".to_owned(),
            // Debug-formatted, so each choice shows whole (quotes, commas and all).
            Asked::Accepted(Some(ElicitationContentValue::StringArray(checks))) => {
                format!("You picked: {checks:?}\n")
            }
            Asked::Accepted(_) => "You picked nothing\n".to_owned(),
        };
        self.say(reply)?;
        Ok(self.finished())
    }

    /// Ask a form (`elicitation/create`) and wait for the answer to its `field`, or for
    /// the turn to be cancelled. A client that did not advertise forms is told so.
    async fn ask_form(
        &self,
        message: &str,
        schema: ElicitationSchema,
        field: &str,
    ) -> Result<Asked, acp::Error> {
        if !self.forms {
            self.say("I wanted to ask you something, but this client cannot answer forms.\n")?;
            return Ok(Asked::Unanswerable);
        }
        let request = CreateElicitationRequest::new(
            ElicitationFormMode::new(
                ElicitationSessionScope::new(self.session_id.clone()),
                schema,
            ),
            message,
        );
        let response = tokio::select! {
            response = self.cx.send_request(request).block_task() => response?,
            () = self.cancel.cancelled() => return Ok(Asked::TurnCancelled),
        };
        Ok(match response.action {
            ElicitationAction::Accept(accept) => {
                Asked::Accepted(accept.content.and_then(|mut content| content.remove(field)))
            }
            _ => Asked::Declined,
        })
    }

    async fn sleep(&self, duration: Duration) -> Result<StopReason, acp::Error> {
        self.say(format!("Sleeping for {} s…\n", duration.as_secs_f64()))?;
        tokio::select! {
            () = tokio::time::sleep(duration) => {
                self.say("Awake again.\n")?;
                Ok(StopReason::EndTurn)
            }
            () = self.cancel.cancelled() => Ok(StopReason::Cancelled),
        }
    }

    async fn crash(&self) -> Result<StopReason, acp::Error> {
        self.say("Crashing now.\n")?;
        // Queued behind the chunk; the output sink exits the process when it gets there.
        self.cx
            .send_notification(UntypedMessage::new(CRASH_MARKER_METHOD, json!({}))?)?;
        std::future::pending().await
    }

    /// The default turn: a plan, a read-only tool call and a short markdown reply.
    async fn chat(&self, text: &str) -> Result<StopReason, acp::Error> {
        self.send(SessionUpdate::Plan(Plan::new(vec![
            PlanEntry::new(
                "Read the prompt",
                PlanEntryPriority::High,
                PlanEntryStatus::Completed,
            ),
            PlanEntry::new(
                "Look around the working directory",
                PlanEntryPriority::Medium,
                PlanEntryStatus::InProgress,
            ),
            PlanEntry::new(
                "Write a reply",
                PlanEntryPriority::Low,
                PlanEntryStatus::Pending,
            ),
        ])))?;
        let id = ToolCallId::new(format!("demo-read-{}", self.number));
        self.send(SessionUpdate::ToolCall(
            ToolCall::new(id.clone(), "List the working directory")
                .kind(ToolKind::Read)
                .status(ToolCallStatus::InProgress)
                .raw_input(json!({"path": self.cwd}))
                .locations(vec![ToolCallLocation::new(&self.cwd)]),
        ))?;
        self.send(SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(
            id,
            ToolCallUpdateFields::new()
                .status(ToolCallStatus::Completed)
                .content(vec![ToolCallContent::from(ContentBlock::Text(
                    TextContent::new("(the demo agent only pretends to look)"),
                ))]),
        )))?;
        for chunk in reply_chunks(text) {
            if self.cancel.is_cancelled() {
                return Ok(StopReason::Cancelled);
            }
            self.say(chunk)?;
        }
        Ok(StopReason::EndTurn)
    }
}

/// Microseconds since the Unix epoch: when a stamped chunk was sent.
fn stamp_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// The default markdown reply, one chunk per line.
fn reply_chunks(text: &str) -> Vec<String> {
    let mut reply = String::from("**berth demo agent** here. You said:\n\n");
    for line in text.trim().lines() {
        reply.push_str("> ");
        reply.push_str(line);
        reply.push('\n');
    }
    reply.push_str(
        "\nI am a scripted agent. Try:\n\n\
         - `/stream 100 every=20` to stream chunks\n\
         - `/permission` to be asked for a permission\n\
         - `/ask` to be asked a question, `/ask-many` for several choices\n\
         - `/sleep 5`, then cancel\n\
         - `/crash` or `/fail` to see failures\n",
    );
    reply.split_inclusive('\n').map(str::to_owned).collect()
}

/// What a one-question form got back (see `ask_form`).
enum Asked {
    /// The client cannot answer forms (the turn says so).
    Unanswerable,
    /// The turn was cancelled while the form waited.
    TurnCancelled,
    /// The user declined or cancelled the form.
    Declined,
    /// Accepted: the field's value, if it was filled.
    Accepted(Option<ElicitationContentValue>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_script() {
        assert_eq!(
            parse("/stream 5"),
            Command::Stream {
                count: 5,
                every: Duration::ZERO,
                stamp: false
            }
        );
        assert_eq!(
            parse("  /stream 20000 every=15 "),
            Command::Stream {
                count: 20000,
                every: Duration::from_millis(15),
                stamp: false
            }
        );
        assert_eq!(
            parse("/stream 10 rate=5000"),
            Command::Stream {
                count: 10,
                every: Duration::from_micros(200),
                stamp: false
            }
        );
        assert_eq!(
            parse("/stream 10 rate=5000 stamp"),
            Command::Stream {
                count: 10,
                every: Duration::from_micros(200),
                stamp: true
            }
        );
        assert_eq!(
            parse("/stream 3 stamp"),
            Command::Stream {
                count: 3,
                every: Duration::ZERO,
                stamp: true
            }
        );
        assert_eq!(parse("/stream 10 rate=0"), Command::Usage(STREAM_USAGE));
        assert_eq!(parse("/stream"), Command::Usage(STREAM_USAGE));
        assert_eq!(parse("/stream 5 often"), Command::Usage(STREAM_USAGE));
        assert_eq!(
            parse("/sleep 2.5"),
            Command::Sleep(Duration::from_millis(2500))
        );
        assert_eq!(parse("/sleep forever"), Command::Usage(SLEEP_USAGE));
        assert_eq!(parse("/permission"), Command::Permission { chatty: false });
        assert_eq!(
            parse("/permission chatty"),
            Command::Permission { chatty: true }
        );
        assert_eq!(parse("/permission x"), Command::Usage(PERMISSION_USAGE));
        assert_eq!(parse("/ask"), Command::Ask);
        assert_eq!(parse("/ask-many"), Command::AskMany);
        assert_eq!(
            parse("/big 20000000"),
            Command::Big {
                bytes: 20_000_000,
                tool: false
            }
        );
        assert_eq!(
            parse("/big 5 tool"),
            Command::Big {
                bytes: 5,
                tool: true
            }
        );
        assert_eq!(parse("/big"), Command::Usage(BIG_USAGE));
        assert_eq!(parse("/big 5 often"), Command::Usage(BIG_USAGE));
        assert_eq!(parse("/big 999999999999"), Command::Usage(BIG_USAGE));
        assert_eq!(parse("/crash"), Command::Crash);
        assert_eq!(parse("/fail"), Command::Fail);
        assert_eq!(parse("hello /stream 5"), Command::Chat);
        assert_eq!(parse(""), Command::Chat);
    }

    #[test]
    fn reply_is_several_markdown_chunks_quoting_the_prompt() {
        let chunks = reply_chunks("fix the tests\nplease");
        assert!(chunks.len() > 3);
        assert!(chunks.iter().all(|chunk| chunk.ends_with('\n')));
        let text = chunks.concat();
        assert!(text.contains("> fix the tests\n> please\n"));
    }
}
