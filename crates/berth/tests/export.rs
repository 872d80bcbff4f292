//! Exports (issue 12): `GET /sessions/{id}/export?format=md|json` gives the whole log as
//! a Markdown transcript or JSON, as a download, and keeps a copy in the session's
//! `exports/` directory.

mod support;

use support::{TestServer, status_json};

#[tokio::test]
async fn a_session_exports_as_markdown_and_json_with_a_copy_kept() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let id = session.id.clone();
    server.send_and_expect_end_turn(&id, "hello there").await;
    let last_seq = server.wait_idle(&id).await.last_seq;

    let response = server
        .get(&format!("/sessions/{id}/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/markdown; charset=utf-8");
    let disposition = headers["content-disposition"].to_str().unwrap().to_owned();
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"{}-", session.slug))
            && disposition.ends_with(".md\""),
        "{disposition}"
    );
    let md = response.text().await.unwrap();
    assert!(md.starts_with(&format!("# {}\n", session.title)), "{md}");
    assert!(md.contains("**You:**\n\nhello there\n"), "{md}");
    assert!(md.contains("**Agent:**\n\n"), "{md}");
    assert!(md.contains("*Turn ended: end_turn*"), "{md}");

    // The copy in exports/ is what was downloaded.
    let exports = server
        .data_dir
        .join("sessions")
        .join(&session.slug)
        .join("exports");
    let name = disposition
        .trim_start_matches("attachment; filename=\"")
        .trim_end_matches('"');
    assert_eq!(std::fs::read_to_string(exports.join(name)).unwrap(), md);

    let (status, json) =
        status_json(server.get(&format!("/sessions/{id}/export?format=json"))).await;
    assert_eq!(status, 200);
    assert_eq!(json["session"]["id"], id.as_str());
    let events = json["events"].as_array().unwrap();
    assert_eq!(events.len() as u64, last_seq, "every event, once");
    assert_eq!(events[0]["event"]["kind"], "session_created");

    let (status, body) =
        status_json(server.get(&format!("/sessions/{id}/export?format=pdf"))).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = status_json(server.get("/sessions/no-such/export")).await;
    assert_eq!(status, 404);
}
