//! A scripted fake model server for the real-agent tests: the four wire formats the
//! agents speak, on 127.0.0.1:0, in-process (its own thread and runtime, so a test that
//! blocks its own runtime for a moment cannot stall an agent's stream).
//!
//! - Anthropic Messages (`POST …/messages`, SSE or JSON; `…/messages/count_tokens`)
//! - OpenAI Responses (`POST …/responses`, SSE)
//! - OpenAI Chat Completions (`POST …/chat/completions`, SSE or JSON)
//! - Gemini (`POST …/models/{model}:streamGenerateContent?alt=sse`, `:generateContent`,
//!   `:countTokens`)
//! - `GET …/models`: a one-model list. Anything else: `404`, recorded like the rest.
//!
//! What it answers is scripted by the conversation in the request (see [`plan`]):
//! when the last item is a tool result it finishes the turn with text quoting it;
//! otherwise the last user text decides:
//!
//! | user text contains | reply |
//! |---|---|
//! | `run tool` | a sentence, then a shell tool call that needs permission (writes `berth-tool.txt`) |
//! | `ask me` | (Anthropic) an `AskUserQuestion` tool use: "Which colour?" red / blue |
//! | `ask several` | (Anthropic) a multi-select `AskUserQuestion`: "Which checks should run?" |
//! | `slow` | a stream that trickles one chunk every 100 ms for two minutes |
//! | `say hello` | `Hello from the fake model`, streamed in five chunks |
//! | anything else | `OK.` |
//!
//! Tool calls, questions and slow streams are only produced when the request offers
//! tools: agents' side requests (titles, suggestions, summaries) carry none and so get
//! a short harmless text even when they quote the user's words.
//!
//! Every request is recorded (method, path, headers, JSON body) so a test can check what
//! history an agent sent. No handler panics on unexpected input.
//!
//! `read` reads a request's conversation; `wire` writes the replies in each format.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Value, json};

mod read;
mod wire;

/// The text `say hello` streams, joined.
pub const HELLO: &str = "Hello from the fake model";
/// What the shell tool call writes into the agent's working directory.
pub const TOOL_FILE: &str = "berth-tool.txt";
/// The line the shell tool call writes into [`TOOL_FILE`].
pub const TOOL_MARK: &str = "berth-tool-ok";
/// The command the shell tool call runs (in the agent's working directory).
pub const TOOL_COMMAND: &str = "echo berth-tool-ok > berth-tool.txt";
/// The question of the `ask me` tool use, and its options.
pub const QUESTION: &str = "Which colour?";
pub const QUESTION_OPTIONS: [&str; 2] = ["red", "blue"];
/// The multi-select question of the `ask several` tool use, and its options (one holds
/// a comma, as a model may well write).
pub const MULTI_QUESTION: &str = "Which checks should run?";
pub const MULTI_OPTIONS: [&str; 3] = ["lint", "unit tests", "Yes, with tests"];
/// Every reply that follows a tool result starts with this.
pub const AFTER_TOOL: &str = "Tool finished: ";
/// The chunk a slow stream repeats.
pub const SLOW_CHUNK: &str = "slow… ";

/// Which wire format a request used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Anthropic,
    Responses,
    Chat,
    Gemini,
    /// Auxiliary endpoints (model lists, token counts) and unknown paths.
    Other,
}

/// One request the fake model received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// Header names lower-cased; values lossily decoded.
    pub headers: Vec<(String, String)>,
    /// The body as JSON; `Value::Null` when empty or not JSON.
    pub body: Value,
    pub api: Api,
    /// The status the fake answered with.
    pub status: u16,
}

impl Recorded {
    /// The conversation the request carries (empty for auxiliary requests).
    pub fn conversation(&self) -> Conversation {
        Conversation::of(self.api, &self.body)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a model request holds, read the same way for every wire format.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conversation {
    /// The text of every user message, in order (tool results excluded).
    pub user_texts: Vec<String>,
    /// The text of every tool result, in order.
    pub tool_results: Vec<String>,
    /// The last item is a tool result (the model is asked to continue after a tool).
    pub ends_with_tool_result: bool,
    /// Names of the tools the request offers.
    pub tools: Vec<String>,
}

impl Conversation {
    pub fn of(api: Api, body: &Value) -> Conversation {
        match api {
            Api::Anthropic => read::anthropic_conversation(body),
            Api::Responses => read::responses_conversation(body),
            Api::Chat => read::chat_conversation(body),
            Api::Gemini => read::gemini_conversation(body),
            Api::Other => Conversation::default(),
        }
    }

    /// The last user text, if any.
    pub fn last_user_text(&self) -> Option<&str> {
        self.user_texts.last().map(String::as_str)
    }

    /// Index of the first user text containing `needle`.
    pub fn user_text_position(&self, needle: &str) -> Option<usize> {
        self.user_texts.iter().position(|t| t.contains(needle))
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    ids: AtomicU64,
}

impl Shared {
    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The running fake model; stops when dropped.
pub struct FakeModel {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeModel {
    /// Start on 127.0.0.1 with a free port.
    pub fn start() -> FakeModel {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake model");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fake-model".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake model runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    // Agents send large prompts (system prompt, tool schemas, history).
                    let app = Router::new()
                        .fallback(handle)
                        .layer(DefaultBodyLimit::disable())
                        .with_state(state);
                    tokio::select! {
                        result = axum::serve(listener, app) => {
                            if let Err(e) = result {
                                eprintln!("fake model: server error: {e}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
                // Open streams (a slow one the agent never closed) must not hold us up.
                runtime.shutdown_background();
            })
            .expect("fake model thread");
        FakeModel {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Requests of one of the four model APIs (no auxiliary or unknown ones).
    pub fn model_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.api != Api::Other)
            .collect()
    }

    /// Requests answered `404`.
    pub fn unknown_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 404)
            .collect()
    }

    /// The agent's main requests (those offering tools) whose last user text contains
    /// `needle`.
    pub fn turn_requests(&self, needle: &str) -> Vec<Recorded> {
        self.model_requests()
            .into_iter()
            .filter(|r| {
                let c = r.conversation();
                !c.tools.is_empty() && c.last_user_text().is_some_and(|t| t.contains(needle))
            })
            .collect()
    }

    /// Wait until a recorded request satisfies `pred`; returns the first that does.
    pub async fn wait_request(&self, what: &str, pred: impl Fn(&Recorded) -> bool) -> Recorded {
        let deadline = tokio::time::Instant::now() + super::WAIT;
        loop {
            if let Some(found) = self.requests().into_iter().find(|r| pred(r)) {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for a model request: {what}; got {}",
                self.summary()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// One line per request (method, path, last user text), for failure messages.
    pub fn summary(&self) -> String {
        let lines: Vec<String> = self
            .requests()
            .iter()
            .map(|r| {
                let c = r.conversation();
                let last: String = c.last_user_text().unwrap_or("").chars().take(60).collect();
                format!(
                    "{} {} -> {} (tools: {}, tool result last: {}, last user text: {last:?})",
                    r.method,
                    r.path,
                    r.status,
                    c.tools.len(),
                    c.ends_with_tool_result
                )
            })
            .collect();
        format!("{} requests:\n{}", lines.len(), lines.join("\n"))
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ----- The script -----------------------------------------------------------------------

/// One piece of a scripted reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Text, streamed one chunk per event.
    Text(Vec<String>),
    /// A tool call with a JSON input.
    Tool { name: String, input: Value },
}

/// A scripted reply: its steps and the pause after each streamed text chunk.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub pause: Duration,
}

fn text_plan(chunks: &[&str], pause: Duration) -> Plan {
    Plan {
        steps: vec![Step::Text(chunks.iter().map(|s| (*s).to_owned()).collect())],
        pause,
    }
}

/// The reply to a conversation (see the module docs).
pub fn plan(api: Api, c: &Conversation) -> Plan {
    let quick = Duration::from_millis(20);
    if c.ends_with_tool_result {
        let result: String = c
            .tool_results
            .last()
            .map(|r| r.chars().take(300).collect())
            .unwrap_or_default();
        return Plan {
            steps: vec![Step::Text(vec![AFTER_TOOL.to_owned(), result])],
            pause: quick,
        };
    }
    let user = c.last_user_text().unwrap_or("").to_lowercase();
    let has_tools = !c.tools.is_empty();
    if user.contains("run tool")
        && let Some((name, input)) = shell_tool(api, &c.tools)
    {
        return Plan {
            steps: vec![
                Step::Text(vec!["Running the tool.".to_owned()]),
                Step::Tool { name, input },
            ],
            pause: quick,
        };
    }
    let asks = c.tools.iter().any(|t| t == "AskUserQuestion");
    if asks && user.contains("ask me") {
        let options: Vec<Value> = QUESTION_OPTIONS
            .iter()
            .map(|o| json!({"label": o, "description": format!("the colour {o}")}))
            .collect();
        return Plan {
            steps: vec![Step::Tool {
                name: "AskUserQuestion".into(),
                input: json!({"questions": [{
                    "question": QUESTION,
                    "header": "Colour",
                    "multiSelect": false,
                    "options": options,
                }]}),
            }],
            pause: quick,
        };
    }
    if asks && user.contains("ask several") {
        let options: Vec<Value> = MULTI_OPTIONS
            .iter()
            .map(|o| json!({"label": o, "description": format!("run {o}")}))
            .collect();
        return Plan {
            steps: vec![Step::Tool {
                name: "AskUserQuestion".into(),
                input: json!({"questions": [{
                    "question": MULTI_QUESTION,
                    "header": "Checks",
                    "multiSelect": true,
                    "options": options,
                }]}),
            }],
            pause: quick,
        };
    }
    if user.contains("slow") && has_tools {
        // Two minutes of trickle: far longer than any cancel test waits.
        return Plan {
            steps: vec![Step::Text(vec![SLOW_CHUNK.to_owned(); 1200])],
            pause: Duration::from_millis(100),
        };
    }
    if user.contains("say hello") {
        return text_plan(&["Hello ", "from ", "the ", "fake ", "model"], quick);
    }
    text_plan(&["OK."], Duration::ZERO)
}

/// The shell tool the request offers, with an input that runs [`TOOL_COMMAND`] and needs
/// the user's permission.
fn shell_tool(api: Api, tools: &[String]) -> Option<(String, Value)> {
    let offered = |name: &str| tools.iter().any(|t| t == name);
    let description = "Write the berth tool marker file";
    // Codex runs commands in a sandbox and asks only to leave it.
    let escalate = |mut input: Value| {
        input["sandbox_permissions"] = json!("require_escalated");
        input["justification"] = json!("May I write berth-tool.txt?");
        input
    };
    let pick = match api {
        Api::Anthropic if offered("Bash") => (
            "Bash",
            json!({"command": TOOL_COMMAND, "description": description}),
        ),
        Api::Responses if offered("exec_command") => {
            ("exec_command", escalate(json!({"cmd": TOOL_COMMAND})))
        }
        Api::Responses if offered("shell_command") => {
            ("shell_command", escalate(json!({"command": TOOL_COMMAND})))
        }
        Api::Responses if offered("shell") => (
            "shell",
            escalate(json!({"command": ["bash", "-lc", TOOL_COMMAND]})),
        ),
        Api::Gemini if offered("run_shell_command") => (
            "run_shell_command",
            json!({"command": TOOL_COMMAND, "description": description}),
        ),
        Api::Chat if offered("bash") => (
            "bash",
            json!({"command": TOOL_COMMAND, "description": description}),
        ),
        _ => return None,
    };
    Some((pick.0.to_owned(), pick.1))
}

// ----- HTTP -----------------------------------------------------------------------------

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let post = method == Method::POST;
    let api = if post && path.ends_with("/messages") {
        Api::Anthropic
    } else if post && path.ends_with("/responses") {
        Api::Responses
    } else if post && path.ends_with("/chat/completions") {
        Api::Chat
    } else if post && (path.contains(":streamGenerateContent") || path.contains(":generateContent"))
    {
        Api::Gemini
    } else {
        Api::Other
    };
    let response = match api {
        Api::Anthropic => wire::anthropic(&shared, &json_body),
        Api::Responses => wire::responses(&shared, &json_body),
        Api::Chat => wire::chat(&shared, &json_body),
        Api::Gemini => wire::gemini(&json_body, path.contains(":streamGenerateContent")),
        Api::Other => wire::auxiliary(&method, &path),
    };
    let record = Recorded {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or(path),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: json_body,
        api,
        status: response.status().as_u16(),
    };
    shared.requests.lock().unwrap().push(record);
    response
}
