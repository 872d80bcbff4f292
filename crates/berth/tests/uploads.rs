//! Attachments (issue 11): files uploaded to a session (`POST …/uploads`) and sent with
//! a prompt reach the agent as it takes them (the demo's `/whoami` lists what it got),
//! `user_message` names them, they are served back, and bad input is refused with
//! nothing changed.

mod support;

use berth_protocol::{Attachment, Event};
use serde_json::json;
use support::{TestServer, status_and_json, status_json};

/// The eight bytes every PNG starts with, and a little more.
const PNG: &[u8] = &[137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13];

async fn upload(
    server: &TestServer,
    id: &str,
    name: &str,
    mime: &str,
    bytes: Vec<u8>,
) -> (u16, serde_json::Value) {
    let request = server
        .post(&format!("/sessions/{id}/uploads"))
        .query(&[("name", name)])
        .header("content-type", mime)
        .body(bytes);
    status_json(request).await
}

async fn uploaded(
    server: &TestServer,
    id: &str,
    name: &str,
    mime: &str,
    bytes: &[u8],
) -> Attachment {
    let (status, body) = upload(server, id, name, mime, bytes.to_vec()).await;
    assert_eq!(status, 201, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn send_with(
    server: &TestServer,
    id: &str,
    text: &str,
    ids: &[&str],
) -> (u16, serde_json::Value) {
    status_json(
        server
            .post(&format!("/sessions/{id}/turns"))
            .json(&json!({"text": text, "attachments": ids})),
    )
    .await
}

#[tokio::test]
async fn attachments_reach_the_agent_as_it_takes_them() {
    let server = TestServer::start().await;
    let id = server.create_session().await.id;
    let png = uploaded(&server, &id, "../../shot.png", "image/png", PNG).await;
    assert_eq!(
        (png.name.as_str(), png.mime_type.as_str(), png.size),
        ("shot.png", "image/png", PNG.len() as u64),
        "the name is one safe component"
    );
    let notes = uploaded(
        &server,
        &id,
        "notes.md",
        "text/markdown",
        "# Notes\nsee é".as_bytes(),
    )
    .await;
    let blob = uploaded(
        &server,
        &id,
        "data.bin",
        "application/octet-stream",
        &[0, 159, 146, 150],
    )
    .await;

    let (status, body) = send_with(&server, &id, "/whoami", &[&png.id, &notes.id, &blob.id]).await;
    assert_eq!(status, 202, "{body}");
    let turn = body["turn_id"].as_str().unwrap().to_owned();
    support::expect_end_turn(&server, &id, &turn).await;
    let events = server.events(&id).await;
    let reply: String = events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::AgentMessageChunk { turn_id, text } if *turn_id == turn => Some(text.as_str()),
            _ => None,
        })
        .collect();
    // An image block (base64 of 12 bytes is 16), the text embedded, the rest a link.
    assert!(
        reply.contains("image image/png (16 base64 bytes)"),
        "{reply}"
    );
    assert!(
        reply.contains("notes.md (") && reply.contains("text file://"),
        "{reply}"
    );
    assert!(
        reply.contains("link file://") && reply.contains("data.bin"),
        "{reply}"
    );
    let message = events.iter().find_map(|(_, e)| match e {
        Event::UserMessage {
            turn_id,
            attachments,
            ..
        } if *turn_id == turn => Some(attachments.clone()),
        _ => None,
    });
    assert_eq!(
        message,
        Some(vec![png.clone(), notes.clone(), blob.clone()])
    );

    // Served back: an image inline with its type, anything else as a download.
    let response = server
        .get(&format!("/sessions/{id}/uploads/{}", png.id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);
    let response = server
        .get(&format!("/sessions/{id}/uploads/{}", blob.id))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename*=UTF-8''data.bin")
    );
}

#[tokio::test]
async fn bad_uploads_and_attachments_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let id = server.create_session().await.id;
    let other = server.create_session().await.id;
    let theirs = uploaded(&server, &other, "theirs.txt", "text/plain", b"not yours").await;
    let before = server.events(&id).await.len();

    // Attachments that are not this session's uploads: 400 naming them, no turn.
    for ids in [
        vec!["no-such-upload"],
        vec![theirs.id.as_str()],
        vec!["../../uploads"],
    ] {
        let (status, body) = send_with(&server, &id, "hello", &ids).await;
        assert_eq!(status, 400, "{ids:?}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no upload"),
            "{body}"
        );
    }
    // The same upload twice, or more than 20: refused too.
    let mine = uploaded(&server, &id, "mine.txt", "text/plain", b"mine").await;
    let (status, body) = send_with(&server, &id, "hello", &[&mine.id, &mine.id]).await;
    assert_eq!(status, 400, "{body}");
    let many = vec![mine.id.as_str(); 21];
    let (status, body) = send_with(&server, &id, "hello", &many).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 20"),
        "{body}"
    );
    assert_eq!(
        server.events(&id).await.len(),
        before,
        "no turn was started"
    );

    // Over the limit (20 MiB by default): 413 as soon as `Content-Length` says so,
    // before a byte of the body is read, and nothing is kept. (A body that only turns
    // out too long as it streams is cut the same way: `uploads.rs`'s unit test.)
    let head = format!(
        "POST /api/v1/sessions/{id}/uploads?name=big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        server.token,
        (20 << 20) + 1
    );
    let answer = raw_request(&server, &head).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    let uploads = server.data_dir.join("sessions");
    let kept: Vec<_> = walk(&uploads)
        .into_iter()
        .filter(|p| p.ends_with("big.bin") || p.ends_with(".partial"))
        .collect();
    assert!(kept.is_empty(), "{kept:?}");

    // No name, a type that is not a media type, an unknown session.
    let (status, _) = status_json(server.post(&format!("/sessions/{id}/uploads")).body("x")).await;
    assert_eq!(status, 400);
    let (status, body) = upload(&server, &id, "a", "not a type", b"x".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = upload(&server, "no-such-session", "a", "text/plain", b"x".to_vec()).await;
    assert_eq!(status, 404);
    // Downloads: unknown ids, another session's, traversal.
    for upload_id in ["nope", theirs.id.as_str(), "..%2F..%2Fberth.db"] {
        let response = server
            .get(&format!("/sessions/{id}/uploads/{upload_id}"))
            .send()
            .await
            .unwrap();
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, 404, "{upload_id}: {body}");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// Send `head` (a request with no body) on a socket of its own and read the answer.
async fn raw_request(server: &TestServer, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(support::WAIT, socket.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer within the timeout");
    String::from_utf8_lossy(&answer).into_owned()
}
