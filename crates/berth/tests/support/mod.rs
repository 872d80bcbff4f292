//! Test harness: a real `berth serve` process on port 0 with a temp data dir, a REST
//! client, and a WebSocket viewport client. Every wait is a condition with a timeout.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_protocol::rest::{
    CreateSession, EventsPage, PromptList, SessionList, StartTurn, TurnAccepted,
};
use berth_protocol::{ClientOp, Event, Seq, ServerFrame, Session, Status, StopReason};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub mod fake_model;
pub mod real_agents;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(60);

/// The URL `berth serve` prints on its first line (`berth listening on <url>`), read
/// from its stdout (blocking, up to `WAIT`); the rest of stdout is drained.
pub fn startup_url(stdout: std::process::ChildStdout) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    let line = rx.recv_timeout(WAIT).expect("berth printed its URL");
    line.strip_prefix("berth listening on ")
        .unwrap_or_else(|| panic!("startup line: {line}"))
        .to_owned()
}

pub struct TestServer {
    child: Option<Child>,
    pub port: u16,
    pub base: String,
    pub token: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
}

impl TestServer {
    /// Start a server with a fresh temp data dir.
    pub async fn start() -> TestServer {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra: &[&str]) -> TestServer {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let mut server = Self::spawn(&dir, 0, extra).await;
        server._tmp = Some(tmp);
        server
    }

    /// Start a server on an existing data dir (a restart).
    pub async fn spawn(data_dir: &Path, port: u16, extra: &[&str]) -> TestServer {
        Self::spawn_from(
            Path::new(env!("CARGO_BIN_EXE_berth")),
            data_dir,
            port,
            extra,
        )
        .await
    }

    /// [`TestServer::spawn`] from another copy of the binary (an upgrade).
    pub async fn spawn_from(
        program: &Path,
        data_dir: &Path,
        port: u16,
        extra: &[&str],
    ) -> TestServer {
        let mut child = Command::new(program)
            .args(["serve", "--port", &port.to_string(), "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "info,berth=debug")
            .env_remove("BERTH_TOKEN")
            // Hermetic: never the developer's own config file (tests pass `--config`).
            .env_remove("BERTH_CONFIG")
            .env("XDG_CONFIG_HOME", data_dir.join("no-config"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn berth serve");
        let url = startup_url(child.stdout.take().expect("stdout"));
        let (base, token) = url.split_once("/?token=").expect("token in URL");
        let port = base.rsplit(':').next().unwrap().parse().unwrap();
        let server = TestServer {
            child: Some(child),
            port,
            base: base.to_owned(),
            token: token.to_owned(),
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
            http: reqwest::Client::new(),
        };
        wait_for("health", || async { server.health_ok().await }).await;
        server
    }

    async fn health_ok(&self) -> bool {
        matches!(
            self.http.get(format!("{}/api/v1/health", self.base)).send().await,
            Ok(r) if r.status() == 200
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Kill the server process (SIGKILL) and reap it, if it still runs.
    fn kill_child(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `kill -9` the server, keeping the data dir.
    pub fn kill9(&mut self) -> tempfile::TempDir {
        self.kill_child();
        self._tmp.take().expect("owned temp dir")
    }

    /// SIGTERM and wait for a clean exit; returns the data dir.
    pub fn stop(&mut self) -> tempfile::TempDir {
        self.stop_keep();
        self._tmp.take().expect("owned temp dir")
    }

    /// SIGTERM and wait for a clean exit, whether or not it owns its data dir.
    pub fn stop_keep(&mut self) {
        if let Some(mut child) = self.child.take() {
            sigterm(child.id());
            let status = wait_child(&mut child, WAIT).expect("berth exits after SIGTERM");
            assert!(status.success(), "berth exited with {status:?}");
        }
    }

    // ----- REST ---------------------------------------------------------------

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(&self.token)
    }

    pub fn patch(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.patch(self.url(path)).bearer_auth(&self.token)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path)).bearer_auth(&self.token)
    }

    pub async fn create_session(&self) -> Session {
        let body = CreateSession {
            agent: "demo".into(),
            cwd: None,
            title: Some("test".into()),
        };
        let response = self.post("/sessions").json(&body).send().await.unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// `POST /sessions/{session}/turns`, which must be accepted; returns the turn id.
    pub async fn send(&self, session: &str, text: &str) -> String {
        let (status, body) = self.try_send(session, text).await;
        assert_eq!(status, 202, "{body}");
        serde_json::from_value::<TurnAccepted>(body)
            .unwrap()
            .turn_id
    }

    /// [`TestServer::send`], then wait for the turn to end with `end_turn`; returns the turn id.
    pub async fn send_and_expect_end_turn(&self, session: &str, text: &str) -> String {
        let turn_id = self.send(session, text).await;
        expect_end_turn(self, session, &turn_id).await;
        turn_id
    }

    pub async fn session(&self, id: &str) -> Session {
        self.get(&format!("/sessions/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn sessions(&self) -> Vec<Session> {
        self.get("/sessions")
            .send()
            .await
            .unwrap()
            .json::<SessionList>()
            .await
            .unwrap()
            .sessions
    }

    pub async fn prompts(&self) -> PromptList {
        self.get("/prompts")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The whole log of a session.
    pub async fn events(&self, session: &str) -> Vec<(Seq, Event)> {
        let (_, records) = self.event_records(session).await;
        records.into_iter().map(|r| (r.seq, r.event)).collect()
    }

    /// Wait until the session's log has an event matching `pred`; returns it.
    pub async fn wait_event(&self, session: &str, pred: impl Fn(&Event) -> bool) -> (Seq, Event) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(found) = self
                .events(session)
                .await
                .into_iter()
                .find(|(_, e)| pred(e))
            {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for an event"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Wait until no turn runs in the session; returns its summary.
    pub async fn wait_idle(&self, session: &str) -> Session {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let s = self.session(session).await;
            if !matches!(
                s.status,
                Status::Running | Status::AwaitingInput | Status::Starting
            ) {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for the turn to end"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    // ----- WebSocket ----------------------------------------------------------

    pub async fn viewport(&self) -> Viewport {
        Viewport::connect(&self.base, &self.token).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The session hosts of the server that ran last on this data dir outlive it by
        // design; the test's end is theirs too.
        let last = self.child.is_some() || self._tmp.is_some();
        self.kill_child();
        if last {
            kill_hosts(&self.data_dir);
        }
    }
}

/// Pids of the session hosts alive under `data_dir` (their leases name them).
pub fn host_pids(data_dir: &Path) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(data_dir.join("hosts")) else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let text = std::fs::read_to_string(entry.ok()?.path()).ok()?;
        let pid: u32 = text.trim().parse().ok()?;
        (!process_gone(pid)).then_some(pid)
    })
    .collect()
}

/// SIGKILL every session host under `data_dir` (each leads its own process group;
/// its agent, in a group of its own, loses its stdin and exits).
pub fn kill_hosts(data_dir: &Path) {
    for pid in host_pids(data_dir) {
        // Not `signal`: one that exited meanwhile is fine here.
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
}

fn sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

fn wait_child(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Poll `check` until it returns true; panic after `WAIT`.
pub async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket viewport that records, per session, which seqs it received.
pub struct Viewport {
    pub ws: Ws,
    pub hello: ServerFrame,
}

impl Viewport {
    pub async fn connect(base: &str, token: &str) -> Viewport {
        let ws = connect_raw(base, Some(token), &[])
            .await
            .expect("websocket connects");
        let mut viewport = Viewport {
            ws,
            hello: ServerFrame::Pong { id: None },
        };
        viewport.hello = viewport.next_frame().await.expect("hello");
        assert!(matches!(viewport.hello, ServerFrame::Hello { .. }));
        viewport
    }

    pub async fn send_json(&mut self, value: serde_json::Value) {
        self.ws
            .send(Message::Text(value.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn attach(&mut self, session: &str, after: Seq) {
        self.attach_at(session, after, None).await;
    }

    /// The next frame; `None` when the connection closed.
    pub async fn next_frame(&mut self) -> Option<ServerFrame> {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame within the timeout");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Some(
                        serde_json::from_str(&text)
                            .unwrap_or_else(|e| panic!("bad frame {text}: {e}")),
                    );
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next frame that is not a `session` summary.
    pub async fn next_non_summary(&mut self) -> Option<ServerFrame> {
        loop {
            match self.next_frame().await? {
                ServerFrame::Session { .. } => continue,
                frame => return Some(frame),
            }
        }
    }
}

pub async fn connect_raw(
    base: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}/api/v1/ws", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request()?;
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    for (k, v) in headers {
        request.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

/// Seqs covered by an `event` frame: `first_seq..=seq`.
pub fn covered(frame: &ServerFrame) -> Option<(Seq, Seq)> {
    match frame {
        ServerFrame::Event { seq, first_seq, .. } => Some((first_seq.unwrap_or(*seq), *seq)),
        _ => None,
    }
}

// ----- Helpers for the prompt, restart and agent-failure tests ------------------------

/// A REST answer as `(status, JSON body)`; the body is `null` when empty or not JSON.
pub async fn status_and_json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// Send `request`; its answer as [`status_and_json`] reads it.
pub async fn status_json(request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    status_and_json(request.send().await.unwrap()).await
}

impl TestServer {
    /// `POST /sessions/{session}/prompts/{prompt_id}` with `body`.
    pub async fn answer_prompt(
        &self,
        session: &str,
        prompt_id: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        status_json(
            self.post(&format!("/sessions/{session}/prompts/{prompt_id}"))
                .json(body),
        )
        .await
    }

    /// `POST /sessions/{session}/cancel`.
    pub async fn cancel_turn(&self, session: &str) -> (u16, serde_json::Value) {
        status_json(self.post(&format!("/sessions/{session}/cancel"))).await
    }

    /// `POST /sessions/{session}/turns` without asserting the answer.
    pub async fn try_send(&self, session: &str, text: &str) -> (u16, serde_json::Value) {
        status_json(
            self.post(&format!("/sessions/{session}/turns"))
                .json(&StartTurn {
                    text: text.into(),
                    queue: false,
                    attachments: vec![],
                }),
        )
        .await
    }

    /// The whole log of a session as full records (with `ts`), and the epoch it was served in.
    pub async fn event_records(&self, session: &str) -> (String, Vec<berth_protocol::EventRecord>) {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page: EventsPage = self
                .get(&format!(
                    "/sessions/{session}/events?after={after}&limit=5000"
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if page.events.is_empty() {
                return (page.epoch, all);
            }
            for record in page.events {
                after = record.seq;
                all.push(record);
            }
        }
    }

    /// Wait until the session's summary satisfies `pred`; returns it.
    pub async fn wait_summary(
        &self,
        session: &str,
        what: &str,
        pred: impl Fn(&Session) -> bool,
    ) -> Session {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let s = self.session(session).await;
            if pred(&s) {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; last summary {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Wait until the session waits on exactly one prompt; returns its summary.
    pub async fn wait_awaiting_input(&self, session: &str) -> Session {
        self.wait_summary(session, "awaiting_input with one pending prompt", |s| {
            s.status == Status::AwaitingInput && s.pending_prompts == 1
        })
        .await
    }

    /// [`TestServer::wait_awaiting_input`]; returns the id of the session's pending prompt.
    pub async fn wait_pending_prompt(&self, session: &str) -> String {
        self.wait_awaiting_input(session).await;
        self.prompts()
            .await
            .prompts
            .iter()
            .find(|p| p.session == session)
            .and_then(|p| p.prompt_id())
            .expect("a pending prompt of the session")
            .to_owned()
    }

    /// Wait until the log holds `n` events matching `pred`; returns them.
    pub async fn wait_events(
        &self,
        session: &str,
        n: usize,
        pred: impl Fn(&Event) -> bool,
    ) -> Vec<(Seq, Event)> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let found: Vec<_> = self
                .events(session)
                .await
                .into_iter()
                .filter(|(_, e)| pred(e))
                .collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {n} events"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// True when process `pid` no longer runs: `/proc/<pid>` is absent or a zombie.
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // `pid (comm) S …`: the state follows the last `)`.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Wait until process `pid` is gone (see [`process_gone`]).
pub async fn wait_process_gone(pid: u32) {
    wait_for(&format!("process {pid} to be gone"), || async move {
        process_gone(pid)
    })
    .await;
}

impl Viewport {
    /// `attach` with an explicit cursor `(epoch, after)`.
    pub async fn attach_at(&mut self, session: &str, after: Seq, epoch: Option<&str>) {
        let op = ClientOp::Attach {
            id: None,
            session: session.into(),
            after,
            epoch: epoch.map(str::to_owned),
        };
        self.ws
            .send(Message::Text(serde_json::to_string(&op).unwrap().into()))
            .await
            .unwrap();
    }

    /// The next frame matching `pred` (others are skipped); panics if the connection closes.
    pub async fn next_matching(
        &mut self,
        what: &str,
        pred: impl Fn(&ServerFrame) -> bool,
    ) -> ServerFrame {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            match self.next_frame().await {
                Some(frame) if pred(&frame) => return frame,
                Some(_) => continue,
                None => panic!("connection closed while waiting for {what}"),
            }
        }
    }
}

impl TestServer {
    /// `kill -9` the server and return its data dir, whether or not it owns it (a server
    /// from [`TestServer::spawn`] owns none; its caller keeps the `TempDir`).
    pub fn kill9_keep(&mut self) -> PathBuf {
        self.kill_child();
        self.data_dir.clone()
    }
}

/// Wait for the `turn_ended` of `turn_id`; returns its seq, stop reason and error.
pub async fn turn_ended(
    server: &TestServer,
    session: &str,
    turn_id: &str,
) -> (Seq, StopReason, Option<String>) {
    let (seq, event) = server
        .wait_event(
            session,
            |e| matches!(e, Event::TurnEnded { turn_id: t, .. } if t == turn_id),
        )
        .await;
    match event {
        Event::TurnEnded {
            stop_reason, error, ..
        } => (seq, stop_reason, error),
        _ => unreachable!("matched above"),
    }
}

/// Wait for the `turn_ended` of `turn_id` and check it ended with `end_turn`; returns its seq.
pub async fn expect_end_turn(server: &TestServer, session: &str, turn_id: &str) -> Seq {
    let (seq, reason, error) = turn_ended(server, session, turn_id).await;
    assert_eq!(reason, StopReason::EndTurn, "{error:?}");
    seq
}

/// `kill -<name> <pid>` (`name` as `kill` takes it: `KILL`, `STOP`, …); it must succeed.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// The pids of every `agent_started` in a log, in order.
pub fn agent_pids(events: &[(Seq, Event)]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::AgentStarted { pid, .. } => Some(*pid),
            _ => None,
        })
        .collect()
}

// ----- Checking what viewports saw against the log -----------------------------------

pub fn epoch_of(frame: &ServerFrame) -> String {
    match frame {
        ServerFrame::Hello { epoch, .. } => epoch.clone(),
        other => panic!("not a hello: {other:?}"),
    }
}

/// What a viewport received in one `event` frame.
#[derive(Debug)]
pub struct Received {
    pub first_seq: Seq,
    pub seq: Seq,
    pub ts: berth_protocol::Timestamp,
    pub event: Event,
}

impl Received {
    /// What an `event` frame showed; `None` for any other frame.
    pub fn of(frame: ServerFrame) -> Option<Received> {
        match frame {
            ServerFrame::Event {
                seq,
                first_seq,
                ts,
                event,
                ..
            } => Some(Received {
                first_seq: first_seq.unwrap_or(seq),
                seq,
                ts,
                event,
            }),
            _ => None,
        }
    }
}

/// Check `frames` (contiguous from `after + 1`) against the log `records`.
pub fn check_frames_against_log(
    frames: &[Received],
    records: &[berth_protocol::EventRecord],
    after: Seq,
) {
    let by_seq: std::collections::BTreeMap<Seq, &berth_protocol::EventRecord> =
        records.iter().map(|r| (r.seq, r)).collect();
    let mut expected_next = after + 1;
    for frame in frames {
        assert_eq!(
            frame.first_seq, expected_next,
            "frames are contiguous: {frame:?}"
        );
        expected_next = frame.seq + 1;
        let last = by_seq.get(&frame.seq).unwrap_or_else(|| {
            panic!(
                "seq {} was shown to a viewport but is not in the log",
                frame.seq
            )
        });
        if frame.first_seq == frame.seq {
            assert_eq!(last.ts, frame.ts, "seq {}", frame.seq);
            assert_eq!(last.event, frame.event, "seq {}", frame.seq);
            continue;
        }
        // A coalesced chunk frame: its text is the texts of the covered chunks, joined.
        let (thought, turn, text) = frame.event.as_chunk().expect("only chunks coalesce");
        let mut joined = String::new();
        for seq in frame.first_seq..=frame.seq {
            let record = by_seq.get(&seq).unwrap_or_else(|| {
                panic!("seq {seq} was shown to a viewport but is not in the log")
            });
            let (t, id, part) = record.event.as_chunk().expect("a covered seq is a chunk");
            assert_eq!((t, id), (thought, turn), "seq {seq}");
            joined.push_str(part);
        }
        assert_eq!(joined, text, "frame {}..={}", frame.first_seq, frame.seq);
    }
}
