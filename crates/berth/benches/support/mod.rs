//! What the benches share: a `berth serve` child reached through its public API, and
//! the small statistics they print.

#![allow(dead_code)] // each bench uses its own part

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_protocol::rest::Health;
use futures::{SinkExt, StreamExt};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// Whether this is the full run (`cargo bench`) or the smoke run under `cargo test`.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// `name` from the environment, else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
    /// From spawn to the first `GET /health` 200.
    pub started_in: Duration,
}

impl Server {
    pub async fn start(dir: &std::path::Path) -> Server {
        Server::start_with(dir, &[]).await
    }

    /// `berth serve --port 0 --data-dir DIR EXTRA…`, once `/health` answers 200.
    pub async fn start_with(dir: &std::path::Path, extra: &[&str]) -> Server {
        let began = Instant::now();
        let mut child = Command::new(BERTH)
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(dir)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .unwrap();
            line
        })
        .await
        .unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_owned();
        let (base, token) = url.split_once("/?token=").unwrap();
        let mut server = Server {
            child,
            base: base.to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
            started_in: Duration::ZERO,
        };
        loop {
            let ok = server
                .get("/api/v1/health")
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.started_in = began.elapsed();
        server
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// `GET path`, its JSON body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        self.get(path).send().await.unwrap().json().await.unwrap()
    }

    pub async fn health(&self) -> Health {
        self.get_json("/api/v1/health").await
    }

    /// A WebSocket viewport, authenticated.
    pub async fn viewport(&self) -> Viewport {
        let ws_url = format!("{}/api/v1/ws", self.base.replacen("http", "ws", 1));
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws_url)
                .unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request).await.unwrap().0
    }

    pub fn rss_kib(&self) -> u64 {
        status_kib(self.child.id(), "VmRSS:")
    }

    /// No clean stop: what a crash does.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::forget(self);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM: a clean stop, like a user's Ctrl-C.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS:` …).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

pub type Viewport =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The text of `text` between `after` and the next `until`.
pub fn field<'a>(text: &'a str, after: &str, until: char) -> &'a str {
    let start = text.find(after).expect("the field is there") + after.len();
    let rest = &text[start..];
    &rest[..rest.find(until).unwrap_or(rest.len())]
}

pub async fn attach(ws: &mut Viewport, id: &str, after: u64) {
    let attach = serde_json::json!({"op": "attach", "session": id, "after": after});
    ws.send(attach.to_string().into()).await.unwrap();
    loop {
        let frame = ws.next().await.unwrap().unwrap();
        if frame
            .to_text()
            .unwrap_or_default()
            .contains(r#""attached""#)
        {
            return;
        }
    }
}

pub async fn until_turn_ended(ws: &mut Viewport, turn_id: &str) {
    loop {
        let frame = ws.next().await.unwrap().unwrap();
        let text = frame.to_text().unwrap_or_default();
        if text.contains(r#""turn_ended""#) && text.contains(turn_id) {
            return;
        }
    }
}

pub async fn create_session(server: &Server) -> String {
    let session: berth_protocol::Session = server
        .post("/api/v1/sessions")
        .json(&serde_json::json!({"agent": "demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session.id
}

pub async fn start_turn(server: &Server, id: &str, text: &str) -> String {
    let response = server
        .post(&format!("/api/v1/sessions/{id}/turns"))
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let accepted: berth_protocol::rest::TurnAccepted = response.json().await.unwrap();
    accepted.turn_id
}

/// `GET /sessions/{id}`.
pub async fn summary(server: &Server, id: &str) -> berth_protocol::Session {
    server.get_json(&format!("/api/v1/sessions/{id}")).await
}

pub async fn last_seq(server: &Server, id: &str) -> u64 {
    summary(server, id).await.last_seq
}

/// The pids of the live hosts (their leases name them; a dead one's pid is skipped).
pub fn host_pids(data_dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("hosts")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter_map(|t| t.trim().parse().ok())
        .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
        .collect()
}

pub fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

pub fn join_ms(times: &[Duration]) -> String {
    times
        .iter()
        .map(|t| format!("{:.0}", t.as_secs_f64() * 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
}
