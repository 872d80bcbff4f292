//! What the benches share: a `berth serve` child reached through its public API, and
//! the small statistics they print.

#![allow(dead_code)] // each bench uses its own part

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_protocol::rest::Health;

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

    pub async fn health(&self) -> Health {
        self.get("/api/v1/health")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A WebSocket viewport, authenticated.
    pub async fn viewport(
        &self,
    ) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>
    {
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
