//! The floor: the least a WebSocket fan-out server can do, as a process of its own (this
//! bench binary run as `floor`): one shared `Bytes` per frame from a broadcast ring,
//! per-viewer feed-then-flush, a 4 KiB read buffer, nodelay. Its producer stamps each
//! frame with its send time like the demo agent's `/stream … stamp`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Bytes;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{Fanout, Viewport, collect, cpu, now_us, receive, self_cpu};

const RING: usize = 4096;

pub struct Floor {
    child: Child,
    port: u16,
}

impl Floor {
    /// This bench binary, run as `floor`: it prints its port.
    pub fn start() -> Floor {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("floor")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        Floor {
            port: line.trim().parse().unwrap(),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn connect(&self) -> Viewport {
        let url = format!("ws://127.0.0.1:{}/", self.port);
        tokio_tungstenite::connect_async(url).await.unwrap().0
    }

    pub async fn fanout(&self, viewers: usize, events: usize, rate: Option<usize>) -> Fanout {
        let mut connections = Vec::new();
        for _ in 0..viewers {
            connections.push(self.connect().await);
        }
        // Every connection is subscribed once it has answered a ping.
        for ws in &mut connections {
            ws.send(Message::Text("ping".into())).await.unwrap();
            while !matches!(ws.next().await, Some(Ok(Message::Text(t))) if t.as_str() == "pong") {}
        }
        let (cpu_before, client_before) = (cpu(self.pid()), self_cpu());
        let began = Instant::now();
        // Sent by a viewer: a connection that did not read would hold the producer.
        let command = format!("stream {events} {}", rate.unwrap_or(0));
        connections[0]
            .send(Message::Text(command.into()))
            .await
            .unwrap();
        let tasks: Vec<_> = connections
            .into_iter()
            .map(|mut ws| tokio::spawn(async move { receive(&mut ws).await }))
            .collect();
        let fanout = collect(tasks, events, began).await;
        Fanout {
            server_cpu: cpu(self.pid()) - cpu_before,
            client_cpu: self_cpu() - client_before,
            ..fanout
        }
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The floor process: serve until killed.
pub fn serve() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{}", listener.local_addr().unwrap().port());
            let (tx, _) = broadcast::channel::<Bytes>(RING);
            let tx = Arc::new(tx);
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                tokio::spawn(connection(tcp, tx.clone()));
            }
        });
}

async fn connection(tcp: tokio::net::TcpStream, tx: Arc<broadcast::Sender<Bytes>>) {
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
        return;
    };
    let mut rx = tx.subscribe();
    let (mut sink, mut stream) = ws.split();
    // A ping is answered on its own connection only.
    let (pong_tx, mut pongs) = tokio::sync::mpsc::unbounded_channel::<()>();
    let reader = {
        let tx = tx.clone();
        async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                if text.as_str() == "ping" {
                    let _ = pong_tx.send(());
                } else if let Some(args) = text.as_str().strip_prefix("stream ") {
                    let mut args = args.split(' ').map(|a| a.parse::<usize>().unwrap());
                    let (n, rate) = (args.next().unwrap(), args.next().unwrap());
                    tokio::spawn(produce(tx.clone(), n, rate));
                }
            }
        }
    };
    let writer = async move {
        // Feed everything queued, then flush once.
        loop {
            let received = tokio::select! {
                received = rx.recv() => received,
                Some(()) = pongs.recv() => Ok(Bytes::from_static(b"pong")),
            };
            let first = match received {
                Ok(frame) => frame,
                Err(broadcast::error::RecvError::Lagged(_)) => panic!("the floor lagged"),
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let mut next = Some(first);
            while let Some(frame) = next.take() {
                let text = tokio_tungstenite::tungstenite::Utf8Bytes::try_from(frame).unwrap();
                if sink.feed(Message::Text(text)).await.is_err() {
                    return;
                }
                next = rx.try_recv().ok();
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = reader => {}
        () = writer => {}
    }
}

/// `n` stamped chunk frames, `rate` per second (0: as fast as the slowest viewer
/// takes them), then a turn end.
async fn produce(tx: Arc<broadcast::Sender<Bytes>>, n: usize, rate: usize) {
    let start = tokio::time::Instant::now();
    for i in 1..=n {
        if rate > 0 {
            let due = start + Duration::from_secs_f64((i - 1) as f64 / rate as f64);
            tokio::time::sleep_until(due).await;
        } else {
            while tx.len() > RING / 2 {
                tokio::task::yield_now().await;
            }
        }
        let frame = format!(
            r#"{{"type":"event","session":"floor","seq":{i},"ts":"2026-12-04T00:00:00Z","event":{{"kind":"agent_message_chunk","turn_id":"t","text":"chunk {i} at {}\n"}}}}"#,
            now_us()
        );
        let _ = tx.send(Bytes::from(frame));
    }
    let end = r#"{"type":"event","session":"floor","seq":0,"ts":"2026-12-04T00:00:00Z","event":{"kind":"turn_ended","turn_id":"t","stop_reason":"end_turn"}}"#;
    let _ = tx.send(Bytes::from_static(end.as_bytes()));
}
