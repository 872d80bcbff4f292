//! Bad input at every edge: each case gets its documented error body and status (or
//! WebSocket `error` frame / close code), the connection or server survives it, and no
//! session changes because of it.

mod support;

use berth_protocol::{ErrorBody, ErrorCode, Event, Prompt, Seq, ServerFrame, Session};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::{TestServer, Viewport, WAIT, connect_raw, wait_for};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Everything a bad request must leave untouched: the session list and every log.
#[derive(Debug, PartialEq)]
struct Snapshot {
    sessions: Vec<Session>,
    events: Vec<Vec<(Seq, Event)>>,
    prompts: Vec<Prompt>,
}

async fn snapshot(server: &TestServer) -> Snapshot {
    let sessions = server.sessions().await;
    let mut events = Vec::new();
    for session in &sessions {
        events.push(server.events(&session.id).await);
    }
    let prompts = server.prompts().await.prompts;
    Snapshot {
        sessions,
        events,
        prompts,
    }
}

async fn assert_unchanged(server: &TestServer, before: &Snapshot, after_what: &str) {
    let now = snapshot(server).await;
    assert_eq!(&now, before, "state changed after {after_what}");
}

/// Check a response is the documented error: status, JSON `{"error": {"code", "message"}}`.
async fn expect_error(
    response: reqwest::Response,
    status: u16,
    code: ErrorCode,
    what: &str,
) -> ErrorBody {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{what}: status (body {text})");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content type {content_type:?}"
    );
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {text}"));
    let expected = serde_json::to_value(code).unwrap();
    assert_eq!(value["error"]["code"], expected, "{what}: {text}");
    assert!(
        value["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: a message: {text}"
    );
    serde_json::from_value(value).unwrap()
}

/// A following valid request works: the server survived.
async fn assert_alive(server: &TestServer) {
    let response = server.get("/sessions").send().await.unwrap();
    assert_eq!(response.status(), 200);
}

fn raw_body(
    builder: reqwest::RequestBuilder,
    body: impl Into<reqwest::Body>,
) -> reqwest::RequestBuilder {
    builder
        .header("content-type", "application/json")
        .body(body)
}

/// A JSON text of exactly `len` bytes: `{"op":"ping","id":…,"pad":"xxxx…"}`.
fn padded_ping(id: u64, len: usize) -> String {
    let head = format!(r#"{{"op":"ping","id":{id},"pad":""#);
    let tail = r#""}"#;
    let pad = len - head.len() - tail.len();
    let text = format!("{head}{}{tail}", "x".repeat(pad));
    assert_eq!(text.len(), len);
    text
}

async fn ping(viewport: &mut Viewport, id: u64) {
    viewport.send_json(json!({"op": "ping", "id": id})).await;
    expect_pong(viewport, id).await;
}

async fn expect_pong(viewport: &mut Viewport, id: u64) {
    match viewport.next_non_summary().await {
        Some(ServerFrame::Pong { id: Some(got) }) => assert_eq!(got, json!(id)),
        other => panic!("expected pong {id}, got {other:?}"),
    }
}

async fn expect_ws_error(
    viewport: &mut Viewport,
    code: ErrorCode,
    id: Option<Value>,
    what: &str,
) -> String {
    match viewport.next_non_summary().await {
        Some(ServerFrame::Error {
            code: got,
            message,
            id: got_id,
        }) => {
            assert_eq!(got, code, "{what}: {message}");
            assert_eq!(got_id, id, "{what}: echoed id");
            assert!(!message.is_empty(), "{what}");
            message
        }
        other => panic!("{what}: expected an error frame, got {other:?}"),
    }
}

fn http_status(
    result: Result<impl std::fmt::Debug, tokio_tungstenite::tungstenite::Error>,
) -> (u16, String) {
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            (response.status().as_u16(), body)
        }
        other => panic!("expected the handshake to be refused, got {other:?}"),
    }
}

fn assert_ws_refused(
    result: Result<impl std::fmt::Debug, tokio_tungstenite::tungstenite::Error>,
    status: u16,
    code: &str,
    what: &str,
) {
    let (got, body) = http_status(result);
    assert_eq!(got, status, "{what}: {body}");
    let value: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{what}: body not JSON ({e}): {body}"));
    assert_eq!(value["error"]["code"], code, "{what}: {body}");
}

#[tokio::test]
async fn rest_bad_input_gets_documented_errors_and_changes_nothing() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let id = session.id.clone();
    let before = snapshot(&server).await;

    // Malformed JSON, wrong shapes, unknown agent.
    let turns = format!("/sessions/{id}/turns");
    let read = format!("/sessions/{id}/read");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "/sessions",
            "{not json".into(),
            "malformed JSON on POST /sessions",
        ),
        ("/sessions", String::new(), "empty body on POST /sessions"),
        (
            "/sessions",
            r#"{"title":"x"}"#.into(),
            "POST /sessions without agent",
        ),
        (
            "/sessions",
            r#"{"agent":7}"#.into(),
            "POST /sessions with a numeric agent",
        ),
        ("/sessions", "[]".into(), "POST /sessions with an array"),
        (
            "/sessions",
            r#"{"agent":"no-such-agent"}"#.into(),
            "unknown agent",
        ),
        (
            "/sessions",
            r#"{"agent":"demo","cwd":"relative/path"}"#.into(),
            "relative cwd",
        ),
        (&turns, "{oops".into(), "malformed JSON on POST /turns"),
        (&turns, "{}".into(), "POST /turns without text"),
        (
            &turns,
            r#"{"text":5}"#.into(),
            "POST /turns with numeric text",
        ),
        (
            &turns,
            r#"{"txt":"hi"}"#.into(),
            "POST /turns with a misspelt field",
        ),
        (
            &read,
            r#"{"seq":"x"}"#.into(),
            "POST /read with a string seq",
        ),
        (&read, "null".into(), "POST /read with null"),
    ];
    for (path, body, what) in cases {
        let response = raw_body(server.post(path), body).send().await.unwrap();
        expect_error(response, 400, ErrorCode::BadRequest, what).await;
        assert_alive(&server).await;
        assert_unchanged(&server, &before, what).await;
    }
    // PATCH with a wrong shape.
    let response = raw_body(server.patch(&format!("/sessions/{id}")), "{}")
        .send()
        .await
        .unwrap();
    expect_error(response, 400, ErrorCode::BadRequest, "PATCH without title").await;
    assert_unchanged(&server, &before, "PATCH without title").await;

    // Bodies over 1 MiB.
    let big = format!(
        r#"{{"agent":"demo","title":"{}"}}"#,
        "x".repeat(berth_protocol::MAX_FRAME_BYTES)
    );
    for (path, what) in [
        ("/sessions".to_owned(), "1 MiB body on POST /sessions"),
        (format!("/sessions/{id}/turns"), "1 MiB body on POST /turns"),
    ] {
        let body = if path.ends_with("turns") {
            format!(
                r#"{{"text":"{}"}}"#,
                "x".repeat(berth_protocol::MAX_FRAME_BYTES)
            )
        } else {
            big.clone()
        };
        let response = raw_body(server.post(&path), body).send().await.unwrap();
        expect_error(response, 413, ErrorCode::PayloadTooLarge, what).await;
        assert_alive(&server).await;
        assert_unchanged(&server, &before, what).await;
    }

    // Unknown sessions.
    for unknown in ["no-such-session", "01930000-0000-7000-8000-000000000000"] {
        let requests = [
            ("GET", server.get(&format!("/sessions/{unknown}"))),
            (
                "PATCH",
                server
                    .patch(&format!("/sessions/{unknown}"))
                    .json(&json!({"title": "t"})),
            ),
            ("DELETE", server.delete(&format!("/sessions/{unknown}"))),
            (
                "POST turns",
                server
                    .post(&format!("/sessions/{unknown}/turns"))
                    .json(&json!({"text": "hi"})),
            ),
            (
                "POST cancel",
                server.post(&format!("/sessions/{unknown}/cancel")),
            ),
            (
                "GET events",
                server.get(&format!("/sessions/{unknown}/events")),
            ),
            (
                "GET events after",
                server.get(&format!("/sessions/{unknown}/events?after=3")),
            ),
            (
                "POST read",
                server
                    .post(&format!("/sessions/{unknown}/read"))
                    .json(&json!({"seq": 1})),
            ),
            (
                "POST prompt answer",
                server
                    .post(&format!("/sessions/{unknown}/prompts/p1"))
                    .json(&json!({"option_id": "allow"})),
            ),
        ];
        for (what, request) in requests {
            let what = format!("{what} on unknown session {unknown}");
            expect_error(
                request.send().await.unwrap(),
                404,
                ErrorCode::NotFound,
                &what,
            )
            .await;
            assert_alive(&server).await;
            assert_unchanged(&server, &before, &what).await;
        }
    }
    // An unknown prompt of a known session.
    let response = server
        .post(&format!("/sessions/{id}/prompts/no-such-prompt"))
        .json(&json!({"option_id": "allow"}))
        .send()
        .await
        .unwrap();
    expect_error(response, 404, ErrorCode::NotFound, "unknown prompt").await;
    assert_unchanged(&server, &before, "unknown prompt").await;

    // Bad `after` / `limit`.
    for query in [
        "after=abc",
        "after=-1",
        "after=1.5",
        "after=",
        "limit=x",
        "limit=-3",
    ] {
        let what = format!("GET events?{query}");
        let response = server
            .get(&format!("/sessions/{id}/events?{query}"))
            .send()
            .await
            .unwrap();
        expect_error(response, 400, ErrorCode::BadRequest, &what).await;
        assert_alive(&server).await;
    }

    // Unknown routes.
    for (what, request) in [
        ("GET /api/v1/nope", server.get("/nope")),
        ("POST /api/v1/nope", server.post("/nope").json(&json!({}))),
        (
            "GET /api/v2/sessions",
            server
                .http
                .get(format!("{}/api/v2/sessions", server.base))
                .bearer_auth(&server.token),
        ),
        // (`/nope` is a web UI route, answered with its index.html; see tests/ui.rs.)
        (
            "GET /nope.js",
            server.http.get(format!("{}/nope.js", server.base)),
        ),
        (
            "GET /sessions/x/y/z",
            server.get(&format!("/sessions/{id}/y/z")),
        ),
    ] {
        expect_error(
            request.send().await.unwrap(),
            404,
            ErrorCode::NotFound,
            what,
        )
        .await;
        assert_alive(&server).await;
    }
    // Known paths with a method they do not take: 405, the allowed methods, an error body.
    for (method, path, allowed) in [
        ("PUT", "/api/v1/sessions".to_owned(), "POST"),
        ("DELETE", "/api/v1/sessions".to_owned(), "GET"),
        ("GET", format!("/api/v1/sessions/{id}/turns"), "POST"),
        ("PUT", format!("/api/v1/sessions/{id}"), "PATCH"),
        ("POST", "/api/v1/health".to_owned(), "GET"),
        ("POST", "/api/v1/ws".to_owned(), "GET"),
    ] {
        let what = format!("{method} {path}");
        let response = server
            .http
            .request(method.parse().unwrap(), format!("{}{path}", server.base))
            .bearer_auth(&server.token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let allow = response.headers()["allow"].to_str().unwrap().to_owned();
        assert!(allow.contains(allowed), "{what}: Allow {allow}");
        expect_error(response, 405, ErrorCode::BadRequest, &what).await;
        assert_alive(&server).await;
    }
    assert_unchanged(&server, &before, "all bad requests").await;

    // The session still works.
    server.send(&id, "/stream 3").await;
    server
        .wait_event(&id, |e| matches!(e, Event::TurnEnded { .. }))
        .await;
}

#[tokio::test]
async fn tokens_are_required_except_for_health() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let before = snapshot(&server).await;
    let http = &server.http;

    // Missing token.
    for (what, request) in [
        ("GET /sessions", http.get(server.url("/sessions"))),
        ("GET /agents", http.get(server.url("/agents"))),
        ("GET /prompts", http.get(server.url("/prompts"))),
        (
            "GET /session",
            http.get(server.url(&format!("/sessions/{}", session.id))),
        ),
        (
            "POST /sessions",
            http.post(server.url("/sessions"))
                .json(&json!({"agent": "demo"})),
        ),
        (
            "POST /turns",
            http.post(server.url(&format!("/sessions/{}/turns", session.id)))
                .json(&json!({"text": "hi"})),
        ),
        (
            "DELETE",
            http.delete(server.url(&format!("/sessions/{}", session.id))),
        ),
        ("unknown route", http.get(server.url("/nope"))),
    ] {
        let what = format!("{what} without a token");
        expect_error(
            request.send().await.unwrap(),
            401,
            ErrorCode::Unauthorized,
            &what,
        )
        .await;
        assert_unchanged(&server, &before, &what).await;
    }

    // Wrong tokens.
    let wrong = format!("{}x", server.token);
    for (what, request) in [
        (
            "wrong bearer",
            http.get(server.url("/sessions")).bearer_auth(&wrong),
        ),
        (
            "empty bearer",
            http.get(server.url("/sessions"))
                .header("authorization", "Bearer "),
        ),
        (
            "token prefix",
            http.get(server.url("/sessions"))
                .bearer_auth(&server.token[..10]),
        ),
        (
            "not bearer",
            http.get(server.url("/sessions"))
                .header("authorization", format!("Basic {}", server.token)),
        ),
        (
            "wrong cookie",
            http.get(server.url("/sessions"))
                .header("cookie", format!("berth_token={wrong}")),
        ),
        (
            "other cookie",
            http.get(server.url("/sessions"))
                .header("cookie", format!("other={}", server.token)),
        ),
        (
            "wrong bearer POST",
            http.post(server.url("/sessions"))
                .bearer_auth(&wrong)
                .json(&json!({"agent": "demo"})),
        ),
    ] {
        expect_error(
            request.send().await.unwrap(),
            401,
            ErrorCode::Unauthorized,
            what,
        )
        .await;
        assert_unchanged(&server, &before, what).await;
    }

    // The cookie works, alone or among others.
    for cookie in [
        format!("berth_token={}", server.token),
        format!("a=b; berth_token={}; c=d", server.token),
    ] {
        let response = http
            .get(server.url("/sessions"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "cookie {cookie}");
        let list: berth_protocol::rest::SessionList = response.json().await.unwrap();
        assert_eq!(list.sessions.len(), 1);
    }

    // Health needs no token.
    let response = http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let health: Value = response.json().await.unwrap();
    assert_eq!(health["ok"], true);
    assert!(health["version"].is_string());

    // WebSocket upgrades.
    assert_ws_refused(
        connect_raw(&server.base, None, &[]).await,
        401,
        "unauthorized",
        "ws without token",
    );
    assert_ws_refused(
        connect_raw(&server.base, Some(&wrong), &[]).await,
        401,
        "unauthorized",
        "ws with a wrong token",
    );
    let cookie = format!("berth_token={}", server.token);
    let mut ws = connect_raw(&server.base, None, &[("cookie", &cookie)])
        .await
        .expect("ws with the cookie");
    let hello = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        hello.to_text().unwrap().contains(r#""type":"hello""#),
        "{hello:?}"
    );

    assert_unchanged(&server, &before, "the auth checks").await;
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let before = snapshot(&server).await;
    let port = server.port;

    // Host (DNS rebinding), REST: with the right token still refused.
    // The bracket and userinfo cases once passed a lenient parse as loopback.
    for host in [
        "evil.example",
        &format!("evil.example:{port}"),
        "127.0.0.1.evil.example",
        "[::1]evil.example",
        &format!("[::1]:{port}evil.example"),
        "[127.0.0.1]",
        &format!("evil.example@127.0.0.1:{port}"),
        &format!("127.0.0.1:{port}/evil"),
    ] {
        for path in ["/api/v1/sessions", "/api/v1/health", "/"] {
            let response = server
                .http
                .get(format!("{}{path}", server.base))
                .bearer_auth(&server.token)
                .header("host", host)
                .send()
                .await
                .unwrap();
            expect_error(
                response,
                403,
                ErrorCode::Forbidden,
                &format!("Host {host} on {path}"),
            )
            .await;
        }
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
    ] {
        let response = server
            .get("/sessions")
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "Host {host}");
    }

    // Host, WebSocket.
    assert_ws_refused(
        connect_raw(
            &server.base,
            Some(&server.token),
            &[("host", "evil.example")],
        )
        .await,
        403,
        "forbidden",
        "ws with a foreign Host",
    );
    let host = format!("localhost:{port}");
    let mut ok = connect_raw(&server.base, Some(&server.token), &[("host", &host)])
        .await
        .expect("ws with Host localhost");
    assert!(
        tokio::time::timeout(WAIT, ok.next())
            .await
            .unwrap()
            .unwrap()
            .is_ok()
    );

    // Origin on state-changing requests.
    let id = &session.id;
    for origin in [
        "http://evil.example",
        "null",
        &format!("http://evil.example:{port}"),
        &format!("http://127.0.0.1.evil.example:{port}"),
        "file://",
        "http://[::1]@evil.example",
        &format!("http://127.0.0.1:{port}@evil.example"),
        &format!("http://[::1]:{port}evil.example"),
    ] {
        let requests = [
            (
                "POST /sessions",
                server.post("/sessions").json(&json!({"agent": "demo"})),
            ),
            (
                "POST /turns",
                server
                    .post(&format!("/sessions/{id}/turns"))
                    .json(&json!({"text": "hi"})),
            ),
            (
                "PATCH",
                server
                    .patch(&format!("/sessions/{id}"))
                    .json(&json!({"title": "pwned"})),
            ),
            ("DELETE", server.delete(&format!("/sessions/{id}"))),
        ];
        for (what, request) in requests {
            let what = format!("{what} with Origin {origin}");
            let response = request.header("origin", origin).send().await.unwrap();
            expect_error(response, 403, ErrorCode::Forbidden, &what).await;
            assert_unchanged(&server, &before, &what).await;
        }
        // WebSocket hijacking.
        assert_ws_refused(
            connect_raw(&server.base, Some(&server.token), &[("origin", origin)]).await,
            403,
            "forbidden",
            &format!("ws with Origin {origin}"),
        );
    }
    // A read with a foreign Origin is judged by its token alone.
    let response = server
        .get("/sessions")
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_unchanged(&server, &before, "the Host and Origin checks").await;

    // Allowed origins.
    for origin in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ] {
        let mut ws = connect_raw(&server.base, Some(&server.token), &[("origin", &origin)])
            .await
            .unwrap_or_else(|e| panic!("ws with Origin {origin}: {e}"));
        let hello = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(hello.to_text().unwrap().contains("hello"));
        let response = server
            .patch(&format!("/sessions/{id}"))
            .header("origin", &origin)
            .json(&json!({"title": "renamed"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "PATCH with Origin {origin}");
    }
    let response = server
        .post("/sessions")
        .header("origin", format!("http://127.0.0.1:{port}"))
        .json(&json!({"agent": "demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(server.sessions().await.len(), 2);
}

#[tokio::test]
async fn the_token_is_exchanged_for_a_cookie() {
    let server = TestServer::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let response = http
        .get(format!("{}/?token={}", server.base, server.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let parts: Vec<_> = cookie.split(';').map(str::trim).collect();
    assert_eq!(
        parts[0],
        format!("berth_token={}", server.token),
        "{cookie}"
    );
    assert!(parts.contains(&"HttpOnly"), "{cookie}");
    assert!(parts.contains(&"SameSite=Strict"), "{cookie}");

    // The cookie signs in the page and the API.
    let pair = parts[0];
    let response = http
        .get(format!("{}/", server.base))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = http
        .get(server.url("/sessions"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // A wrong token: a 401 page, no cookie.
    let response = http
        .get(format!("{}/?token=wrong{}", server.base, server.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("set-cookie").is_none());
    assert!(response.headers().get("location").is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains("<html"), "{page}");
    assert!(
        !page.contains(&server.token),
        "the page never shows the real token"
    );

    // No token at all: the web UI's page (it holds no secret; its API calls get 401 and it
    // shows how to sign in), no cookie, and the API still refuses.
    let response = http.get(format!("{}/", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains("<html"), "{page}");
    assert!(
        !page.contains(&server.token),
        "the page never shows the token"
    );
    let response = http.get(server.url("/sessions")).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn websocket_bad_messages_get_error_frames_and_the_connection_stays_open() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let before = snapshot(&server).await;
    let mut vp = server.viewport().await;
    ping(&mut vp, 1).await;

    vp.ws
        .send(Message::Text("this is not json".into()))
        .await
        .unwrap();
    expect_ws_error(&mut vp, ErrorCode::BadRequest, None, "not JSON").await;
    ping(&mut vp, 2).await;

    vp.ws
        .send(Message::Text("{\"op\":\"ping\"".into()))
        .await
        .unwrap();
    expect_ws_error(&mut vp, ErrorCode::BadRequest, None, "truncated JSON").await;
    ping(&mut vp, 3).await;

    vp.send_json(json!([1, 2, 3])).await;
    expect_ws_error(&mut vp, ErrorCode::BadRequest, None, "an array").await;
    ping(&mut vp, 4).await;

    vp.send_json(json!({"op": "frobnicate", "id": "x7"})).await;
    let message = expect_ws_error(
        &mut vp,
        ErrorCode::BadRequest,
        Some(json!("x7")),
        "unknown op",
    )
    .await;
    assert!(message.contains("frobnicate"), "{message}");
    ping(&mut vp, 5).await;

    vp.send_json(json!({"id": 8})).await;
    expect_ws_error(&mut vp, ErrorCode::BadRequest, Some(json!(8)), "no op").await;
    ping(&mut vp, 6).await;

    vp.send_json(json!({"op": "attach", "id": 9})).await;
    expect_ws_error(
        &mut vp,
        ErrorCode::BadRequest,
        Some(json!(9)),
        "attach without session",
    )
    .await;
    ping(&mut vp, 7).await;

    vp.send_json(json!({"op": "attach", "session": session.id, "after": "x", "id": 10}))
        .await;
    expect_ws_error(
        &mut vp,
        ErrorCode::BadRequest,
        Some(json!(10)),
        "attach with a bad after",
    )
    .await;
    ping(&mut vp, 8).await;

    vp.send_json(json!({"op": "attach", "session": "no-such-session", "id": 42}))
        .await;
    expect_ws_error(
        &mut vp,
        ErrorCode::NotFound,
        Some(json!(42)),
        "attach to an unknown session",
    )
    .await;
    ping(&mut vp, 9).await;

    vp.send_json(json!({"op": "attach", "session": "no-such-session"}))
        .await;
    expect_ws_error(
        &mut vp,
        ErrorCode::NotFound,
        None,
        "attach to an unknown session, no id",
    )
    .await;
    ping(&mut vp, 10).await;

    // Like every op naming an unknown session, detach gets an error frame.
    vp.send_json(json!({"op": "detach", "session": "no-such-session"}))
        .await;
    match vp.next_non_summary().await {
        Some(ServerFrame::Error { code, .. }) => assert_eq!(code, ErrorCode::NotFound),
        other => panic!("expected not_found for detach, got {other:?}"),
    }
    ping(&mut vp, 11).await;

    vp.ws
        .send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    expect_ws_error(&mut vp, ErrorCode::BadRequest, None, "binary").await;
    ping(&mut vp, 12).await;

    vp.ws
        .send(Message::Binary(br#"{"op":"ping","id":1}"#.to_vec().into()))
        .await
        .unwrap();
    expect_ws_error(
        &mut vp,
        ErrorCode::BadRequest,
        None,
        "JSON in a binary message",
    )
    .await;
    ping(&mut vp, 13).await;

    // Exactly 1 MiB is within the limit (unknown fields are ignored).
    vp.ws
        .send(Message::Text(
            padded_ping(14, berth_protocol::MAX_FRAME_BYTES).into(),
        ))
        .await
        .unwrap();
    expect_pong(&mut vp, 14).await;

    assert_unchanged(&server, &before, "the bad WebSocket messages").await;

    // The connection still works for real: attach replays the log.
    vp.attach(&session.id, 0).await;
    match vp.next_non_summary().await {
        Some(ServerFrame::Attached {
            session: s,
            last_seq,
            ..
        }) => {
            assert_eq!(s, session.id);
            assert_eq!(last_seq, 1);
        }
        other => panic!("expected attached, got {other:?}"),
    }
    match vp.next_non_summary().await {
        Some(ServerFrame::Event { seq: 1, event, .. }) => {
            assert_eq!(event.kind(), "session_created")
        }
        other => panic!("expected event 1, got {other:?}"),
    }
}

#[tokio::test]
async fn a_websocket_message_over_1_mib_closes_only_that_connection_with_1009() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let mut bystander = server.viewport().await;
    bystander.attach(&session.id, 0).await;
    assert!(matches!(
        bystander.next_non_summary().await,
        Some(ServerFrame::Attached { .. })
    ));
    assert!(matches!(
        bystander.next_non_summary().await,
        Some(ServerFrame::Event { seq: 1, .. })
    ));
    wait_for("the bystander to be counted", || async {
        server.session(&session.id).await.viewers == 1
    })
    .await;
    let before = snapshot(&server).await;

    for len in [
        berth_protocol::MAX_FRAME_BYTES + 1,
        3 * berth_protocol::MAX_FRAME_BYTES,
    ] {
        let mut vp = server.viewport().await;
        ping(&mut vp, 1).await;
        // The send may fail once the server has closed; the close frame is what counts.
        let _ = vp.ws.send(Message::Text(padded_ping(2, len).into())).await;
        let code = tokio::time::timeout(WAIT, async {
            loop {
                match vp.ws.next().await {
                    Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                    Some(Ok(Message::Text(text))) => {
                        let frame: ServerFrame = serde_json::from_str(&text).unwrap();
                        assert!(
                            !matches!(frame, ServerFrame::Pong { .. }),
                            "an oversized message was answered"
                        );
                    }
                    Some(Ok(_)) => {}
                    other => {
                        panic!("expected a close frame with 1009 for {len} bytes, got {other:?}")
                    }
                }
            }
        })
        .await
        .expect("the connection closes");
        assert_eq!(
            code,
            Some(CloseCode::Size),
            "close code for a {len}-byte message"
        );

        // Other connections and the server are unaffected.
        ping(&mut bystander, len as u64).await;
        assert_alive(&server).await;
        let mut fresh = server.viewport().await;
        ping(&mut fresh, 3).await;
    }
    assert_unchanged(&server, &before, "the oversized messages").await;

    // The bystander still receives live events.
    server.send(&session.id, "/stream 2").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut next = 2;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "live events reach the bystander"
        );
        match bystander.next_non_summary().await {
            Some(ServerFrame::Event {
                seq,
                first_seq,
                event,
                ..
            }) => {
                assert_eq!(first_seq.unwrap_or(seq), next, "contiguous");
                next = seq + 1;
                if matches!(event, Event::TurnEnded { .. }) {
                    break;
                }
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_malformed_answer_leaves_the_prompt_pending() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let id = &session.id;
    server.send(id, "/permission").await;
    let (_, asked) = server
        .wait_event(id, |e| matches!(e, Event::PermissionRequested { .. }))
        .await;
    let Event::PermissionRequested { prompt_id, .. } = asked else {
        unreachable!()
    };
    wait_for("the summary to show the prompt", || async {
        let s = server.session(id).await;
        s.pending_prompts == 1 && s.status == berth_protocol::Status::AwaitingInput
    })
    .await;
    wait_for("the prompt to be listed", || async {
        server.prompts().await.prompts.len() == 1
    })
    .await;
    let before = snapshot(&server).await;
    let path = format!("/sessions/{id}/prompts/{prompt_id}");

    for (body, what) in [
        ("not json", "not JSON"),
        ("", "empty body"),
        ("{}", "no answer"),
        (r#"{"option_id":7}"#, "numeric option_id"),
        (r#"{"cancel":false}"#, "cancel false"),
        (r#"{"answers":"red"}"#, "answers as a string"),
        (r#"{"option_id":"no-such-option"}"#, "an option not offered"),
        (
            r#"{"answers":{"color":"red"}}"#,
            "answers to a permission request",
        ),
    ] {
        let response = raw_body(server.post(&path), body).send().await.unwrap();
        expect_error(response, 400, ErrorCode::BadRequest, what).await;
        assert_unchanged(&server, &before, what).await;
    }
    let response = raw_body(
        server.post(&path),
        format!(
            r#"{{"option_id":"{}"}}"#,
            "x".repeat(berth_protocol::MAX_FRAME_BYTES)
        ),
    )
    .send()
    .await
    .unwrap();
    expect_error(response, 413, ErrorCode::PayloadTooLarge, "a 1 MiB answer").await;
    assert_unchanged(&server, &before, "a 1 MiB answer").await;

    // The prompt is still answerable, once.
    let response = server
        .post(&path)
        .json(&json!({"option_id": "allow"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let resolved: Value = response.json().await.unwrap();
    assert_eq!(
        resolved["resolved"]["outcome"],
        json!({"option_id": "allow"})
    );
    let response = server
        .post(&path)
        .json(&json!({"option_id": "reject"}))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 409, ErrorCode::AlreadyResolved, "second answer").await;
    let resolution = error.error.resolution.expect("the winning resolution");
    assert_eq!(resolution.prompt_id, prompt_id);
    server
        .wait_event(id, |e| matches!(e, Event::TurnEnded { .. }))
        .await;
}

#[tokio::test]
async fn odd_paths_queries_and_upgrades_still_get_the_error_body() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let before = server.events(&session.id).await;

    // A path parameter that is not UTF-8 once decoded.
    let response = server.get("/sessions/%FF").send().await.unwrap();
    expect_error(response, 400, ErrorCode::BadRequest, "a %FF session id").await;
    // A query that is not UTF-8 once decoded.
    let path = format!("/sessions/{}/events?after=%FF", session.id);
    let response = server.get(&path).send().await.unwrap();
    expect_error(response, 400, ErrorCode::BadRequest, "a %FF query").await;
    // A plain GET on the WebSocket endpoint.
    let response = server.get("/ws").send().await.unwrap();
    expect_error(
        response,
        400,
        ErrorCode::BadRequest,
        "a GET without upgrade",
    )
    .await;

    // A cursor beyond anything SQLite can hold is an empty page, not a 500.
    let path = format!("/sessions/{}/events?after=9223372036854775808", session.id);
    let response = server.get(&path).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page: berth_protocol::rest::EventsPage = response.json().await.unwrap();
    assert!(page.events.is_empty());
    assert_eq!(page.last_seq, before.last().unwrap().0);

    // Detaching a session that does not exist is an error frame; the connection lives.
    let mut viewport = server.viewport().await;
    viewport
        .send_json(json!({"op": "detach", "session": "nope", "id": 7}))
        .await;
    match viewport.next_non_summary().await {
        Some(ServerFrame::Error { code, id, .. }) => {
            assert_eq!(code, ErrorCode::NotFound);
            assert_eq!(id, Some(json!(7)));
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
    // Detaching a real session that is not attached is a quiet no-op.
    viewport
        .send_json(json!({"op": "detach", "session": session.id}))
        .await;
    viewport.send_json(json!({"op": "ping", "id": 8})).await;
    assert!(matches!(
        viewport.next_non_summary().await,
        Some(ServerFrame::Pong { id: Some(id) }) if id == json!(8)
    ));
    assert_eq!(server.events(&session.id).await.len(), before.len());
}
