//! Defects found by outside testing, each kept fixed against a real server: WebSocket
//! protocol errors get the close code RFC 6455 gives them, every answer carries its
//! security headers, and one oversize agent event never makes a session unviewable.

mod support;

use std::time::Duration;

use support::{TestServer, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A WebSocket spoken byte by byte, so a test can send what no library would.
struct RawWs {
    tcp: TcpStream,
    buffered: Vec<u8>,
}

/// One frame as read off the wire (server frames are never masked).
struct RawFrame {
    opcode: u8,
    payload: Vec<u8>,
}

impl RawWs {
    async fn connect(server: &TestServer) -> RawWs {
        let mut tcp = TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        let request = format!(
            "GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {}\r\n\r\n",
            server.port, server.token
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut ws = RawWs {
            tcp,
            buffered: Vec::new(),
        };
        let head = loop {
            if let Some(end) = ws.buffered.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&ws.buffered[..end]).into_owned();
                ws.buffered.drain(..end + 4);
                break head;
            }
            assert!(ws.fill().await, "the server closed during the handshake");
        };
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let hello = ws.frame().await.expect("hello");
        assert_eq!(hello.opcode, 1);
        assert!(String::from_utf8_lossy(&hello.payload).contains("\"hello\""));
        ws
    }

    /// Read more bytes; false at end of stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk))
            .await
            .expect("the server answered in time")
            .unwrap_or(0);
        self.buffered.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// The next whole frame, or `None` if the stream ends first.
    async fn frame(&mut self) -> Option<RawFrame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buffered) {
                self.buffered.drain(..used);
                return Some(frame);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Send raw bytes, then read frames until a close frame: its code, or `None` if the
    /// TCP stream ended without one.
    async fn send_and_expect_close(&mut self, bytes: &[u8]) -> Option<u16> {
        self.tcp.write_all(bytes).await.unwrap();
        while let Some(frame) = self.frame().await {
            if frame.opcode == 8 {
                assert!(frame.payload.len() >= 2, "close frame without a code");
                return Some(u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
            }
        }
        None
    }
}

fn parse_frame(bytes: &[u8]) -> Option<(RawFrame, usize)> {
    let [first, second, ..] = *bytes else {
        return None;
    };
    let (len, mut at) = match second & 0x7f {
        126 => (
            u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        len => (len as usize, 2),
    };
    assert_eq!(second & 0x80, 0, "server frames are not masked");
    let payload = bytes.get(at..at + len)?.to_vec();
    at += len;
    Some((
        RawFrame {
            opcode: first & 0x0f,
            payload,
        },
        at,
    ))
}

/// A client frame: `first` is FIN, RSV and opcode; masked unless `masked` is false.
fn client_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    assert!(payload.len() < 126);
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![first, payload.len() as u8 | if masked { 0x80 } else { 0 }];
    if masked {
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        frame.extend_from_slice(payload);
    }
    frame
}

#[tokio::test]
async fn websocket_protocol_errors_get_their_close_code() {
    let server = TestServer::start().await;
    let ping = br#"{"op":"ping"}"#;
    let cases: [(&str, Vec<u8>, u16); 6] = [
        (
            "text that is not UTF-8",
            client_frame(0x81, b"{\xff\xfe}", true),
            1007,
        ),
        (
            "a reserved data opcode",
            client_frame(0x83, ping, true),
            1002,
        ),
        (
            "a reserved control opcode",
            client_frame(0x8b, b"", true),
            1002,
        ),
        (
            "an unmasked client frame",
            client_frame(0x81, ping, false),
            1002,
        ),
        ("reserved bits set", client_frame(0xc1, ping, true), 1002),
        (
            "a continuation with nothing to continue",
            client_frame(0x80, ping, true),
            1002,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut ws = RawWs::connect(&server).await;
        // The connection works before the bad frame.
        let pong = ws.send_and_expect_pong(ping).await;
        assert!(pong.contains("\"pong\""), "{what}: {pong}");
        assert_eq!(ws.send_and_expect_close(&bytes).await, Some(code), "{what}");
    }
    // The server is fine afterwards.
    let mut ws = RawWs::connect(&server).await;
    assert!(ws.send_and_expect_pong(ping).await.contains("\"pong\""));
}

impl RawWs {
    /// Send a valid text message and return the next text frame.
    async fn send_and_expect_pong(&mut self, text: &[u8]) -> String {
        self.tcp
            .write_all(&client_frame(0x81, text, true))
            .await
            .unwrap();
        loop {
            let frame = self.frame().await.expect("an answer");
            let text = String::from_utf8_lossy(&frame.payload).into_owned();
            // `session` summaries may come first.
            if frame.opcode == 1 && text.contains("\"pong\"") {
                return text;
            }
        }
    }
}

/// The headers of `response` that matter here, as (name, value) pairs.
fn security_headers(response: &reqwest::Response) -> (String, String, String) {
    let get = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    (
        get("x-content-type-options"),
        get("content-security-policy"),
        get("x-frame-options"),
    )
}

#[tokio::test]
async fn every_answer_carries_security_headers() {
    let server = TestServer::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let page = |path: &str| http.get(format!("{}{path}", server.base));
    let cases = [
        ("the wrong-token page", page("/?token=wrong"), 401, true),
        (
            "a 401 JSON answer",
            http.get(server.url("/sessions")),
            401,
            false,
        ),
        ("a JSON answer", server.get("/sessions"), 200, false),
        ("a 404 JSON answer", server.get("/nope"), 404, false),
        (
            "a refused Host",
            page("/api/v1/health").header("host", "evil.example"),
            403,
            false,
        ),
        ("the health answer", page("/api/v1/health"), 200, false),
        ("the web UI", page("/"), 200, true),
    ];
    for (what, request, status, html) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        let (nosniff, csp, frames) = security_headers(&response);
        assert_eq!(nosniff, "nosniff", "{what}");
        assert_eq!(frames, "DENY", "{what}");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type.starts_with("text/html"), html, "{what}");
        if !html {
            assert!(csp.starts_with("default-src 'none'"), "{what}: {csp}");
        }
    }
    // A page of berth's own (no app) runs no script at all.
    let response = page("/?token=wrong").send().await.unwrap();
    let (_, csp, _) = security_headers(&response);
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
}

/// Every frame a viewport taking at most 1 MiB per message gets when it attaches from 0,
/// until `turns` turns have ended.
async fn replay_with_1_mib_limit(server: &TestServer, session: &str, turns: usize) -> Vec<String> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

    let url = format!("{}/api/v1/ws", server.base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", server.token).parse().unwrap(),
    );
    let limit = berth_protocol::MAX_FRAME_BYTES;
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), false)
        .await
        .unwrap();
    let attach = serde_json::json!({"op": "attach", "session": session, "after": 0});
    ws.send(Message::Text(attach.to_string().into()))
        .await
        .unwrap();
    let mut frames = Vec::new();
    let mut ended = 0;
    while ended < turns {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("frames in time")
            .expect("the connection stays open")
            .unwrap_or_else(|e| panic!("read failed after {} frames: {e}", frames.len()));
        let Message::Text(text) = message else {
            continue;
        };
        if text.contains(r#""kind":"turn_ended""#) {
            ended += 1;
        }
        frames.push(text.to_string());
    }
    frames
}

#[tokio::test]
async fn one_huge_agent_event_never_makes_a_session_unviewable() {
    use berth_protocol::{Event, ServerFrame};

    let server = TestServer::start().await;
    let session = server.create_session().await;
    let size = 20_000_000;
    server
        .send_and_expect_end_turn(&session.id, &format!("/big {size}"))
        .await;
    server
        .send_and_expect_end_turn(&session.id, "/big 3000000 tool")
        .await;

    // A viewport that takes at most 1 MiB per message replays all of it.
    let frames = replay_with_1_mib_limit(&server, &session.id, 2).await;
    let mut text = String::new();
    let mut tool_output = None;
    let mut notices = Vec::new();
    for frame in &frames {
        assert!(frame.len() <= berth_protocol::MAX_FRAME_BYTES);
        if let Ok(ServerFrame::Event { event, .. }) = serde_json::from_str(frame) {
            match event {
                Event::AgentMessageChunk { text: chunk, .. } => text.push_str(&chunk),
                Event::ToolCall { content, .. } => tool_output = content,
                Event::Notice { message } => notices.push(message),
                _ => {}
            }
        }
    }
    // Nothing of the long message is lost: it arrives as many chunks.
    assert_eq!(text.len(), size);
    assert!(text == berth_agent::demo::big_text(size), "the same text");
    // The tool's output is cut, says so, and a notice follows.
    let output = tool_output.expect("the tool call").to_string();
    assert!(output.contains("bytes]"), "a cut marker");
    assert!(output.len() < 1 << 20, "{}", output.len());
    assert!(
        notices.iter().any(|n| n.contains("tool_call")),
        "{notices:?}"
    );

    // REST pages hold the same, and the terminal viewport prints it all.
    let events = server.events(&session.id).await;
    let rest_text: String = events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::AgentMessageChunk { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(rest_text, text);
    let printed = attach_raw_until_turns_end(&server, &session.id, 2).await;
    assert!(printed == text, "berth attach printed the whole message");
}

/// Run `berth attach --raw` on `session` from 0 until `turns` turns have ended; returns
/// the message text it printed.
async fn attach_raw_until_turns_end(server: &TestServer, session: &str, turns: usize) -> String {
    use tokio::io::AsyncBufReadExt;

    let home = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["attach", session, "--no-input", "--raw"])
        .args(["--server", &server.base, "--token", &server.token])
        .env_remove("BERTH_URL")
        .env_remove("BERTH_TOKEN")
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut printed, mut ended, mut attached) = (String::new(), 0, false);
    while ended < turns {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("berth attach printed in time")
            .unwrap()
            .expect("berth attach is still running");
        if line.contains(r#""type":"attached""#) {
            assert!(!attached, "attached once: it never had to reconnect");
            attached = true;
        }
        if line.contains(r#""kind":"turn_ended""#) {
            ended += 1;
        }
        if let Ok(berth_protocol::ServerFrame::Event {
            event: berth_protocol::Event::AgentMessageChunk { text, .. },
            ..
        }) = serde_json::from_str(&line)
        {
            printed.push_str(&text);
        }
    }
    let _ = child.start_kill();
    printed
}
