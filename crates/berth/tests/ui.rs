//! The embedded web UI as a real server serves it: `index.html` for the app's routes,
//! build files with their content types and cache headers, 404 for missing files, and
//! never `index.html` under `/api`. Works with the real build (`web/dist`, as
//! `scripts/test` builds it) and with the placeholder of an unbuilt UI.

mod support;

use berth_protocol::ErrorCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use serde_json::Value;
use support::TestServer;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A JSON `not_found` error, never a page.
async fn expect_json_error(response: reqwest::Response, status: u16, code: ErrorCode, what: &str) {
    assert_eq!(response.status(), status, "{what}");
    assert_eq!(
        header(&response, CONTENT_TYPE),
        "application/json",
        "{what}"
    );
    let body: Value = response.json().await.unwrap();
    let expected = serde_json::to_value(code).unwrap();
    assert_eq!(body["error"]["code"], expected, "{what}: {body}");
}

/// The `/assets/…` files `index.html` references.
fn asset_refs(index: &str) -> Vec<String> {
    let mut refs: Vec<String> = index
        .split(['"', '\'', ' ', '>', '='])
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_owned)
        .collect();
    refs.sort();
    refs.dedup();
    refs
}

#[tokio::test]
async fn app_routes_answer_index_html_without_a_token() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let http = no_redirects();

    let root = http.get(format!("{}/", server.base)).send().await.unwrap();
    assert_eq!(root.status(), 200);
    assert_eq!(header(&root, CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&root, CACHE_CONTROL), "no-cache");
    assert!(root.headers().get(SET_COOKIE).is_none());
    let index = root.text().await.unwrap();
    assert!(index.contains("<html"), "{index}");
    assert!(!index.contains(&server.token));

    // Deep links and other app routes: the same page, with or without the cookie.
    let cookie = format!("berth_token={}", server.token);
    for path in [
        format!("/s/{}", session.id),
        format!("/s/{}/", session.id),
        "/s/unknown-session".to_owned(),
        "/inbox".to_owned(),
    ] {
        for with_cookie in [false, true] {
            let mut request = http.get(format!("{}{path}", server.base));
            if with_cookie {
                request = request.header("cookie", &cookie);
            }
            let response = request.send().await.unwrap();
            let what = format!("{path} (cookie: {with_cookie})");
            assert_eq!(response.status(), 200, "{what}");
            assert_eq!(
                header(&response, CONTENT_TYPE),
                "text/html; charset=utf-8",
                "{what}"
            );
            assert_eq!(header(&response, CACHE_CONTROL), "no-cache", "{what}");
            let body = response.text().await.unwrap();
            if !with_cookie {
                assert_eq!(body, index, "{what}");
            }
        }
    }

    // The Host check still applies to pages and files.
    for path in ["/", "/s/x", "/assets/index.js", "/favicon.svg"] {
        let response = http
            .get(format!("{}{path}", server.base))
            .header("host", "evil.example")
            .send()
            .await
            .unwrap();
        expect_json_error(response, 403, ErrorCode::Forbidden, path).await;
    }
}

#[tokio::test]
async fn build_files_are_served_with_content_types_and_missing_ones_are_404() {
    let server = TestServer::start().await;
    let http = no_redirects();
    let index = http
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let refs = asset_refs(&index);
    if refs.is_empty() {
        // No built UI (web/dist empty): the placeholder says how to build it.
        assert!(index.contains("npm run build"), "{index}");
        eprintln!("web/dist is not built: only the placeholder was checked");
    }
    for path in &refs {
        let response = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let expected = match path.rsplit('.').next().unwrap() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            "woff2" => "font/woff2",
            _ => "",
        };
        if !expected.is_empty() {
            assert_eq!(header(&response, CONTENT_TYPE), expected, "{path}");
        }
        assert_eq!(
            header(&response, CACHE_CONTROL),
            "public, max-age=31536000, immutable",
            "{path}"
        );
        assert_eq!(
            header(&response, "x-content-type-options".parse().unwrap()),
            "nosniff"
        );
        let etag = header(&response, "etag".parse().unwrap());
        assert!(!etag.is_empty(), "{path}");
        let body = response.bytes().await.unwrap();
        assert_ne!(body, index.as_bytes(), "{path} is not index.html");
        // Scripts and styles also come gzipped to a client that takes it: the same bytes.
        if (path.ends_with(".js") || path.ends_with(".css")) && body.len() >= 1024 {
            let response = http
                .get(format!("{}{path}", server.base))
                .header("accept-encoding", "gzip")
                .send()
                .await
                .unwrap();
            assert_eq!(
                header(&response, "content-encoding".parse().unwrap()),
                "gzip",
                "{path}"
            );
            let gzipped = response.bytes().await.unwrap();
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzipped[..]), &mut plain)
                .unwrap();
            assert_eq!(plain, body, "{path} gunzips to the plain file");
            assert!(gzipped.len() < body.len(), "{path} is smaller gzipped");
        }
        // Revalidation.
        let response = http
            .get(format!("{}{path}", server.base))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 304, "{path}");
    }

    // Missing files: 404, never index.html.
    for path in [
        "/assets/index-DoesNotExist.js",
        "/assets/missing.css",
        "/assets/nothing",
        "/favicon-missing.png",
        "/s/x/file.txt",
    ] {
        let response = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        expect_json_error(response, 404, ErrorCode::NotFound, path).await;
    }
}

#[tokio::test]
async fn api_paths_never_fall_back_to_index_html() {
    let server = TestServer::start().await;
    let http = no_redirects();
    for path in [
        "/api",
        "/api/",
        "/api/v1",
        "/api/v1/",
        "/api/v1/nope",
        "/api/v1/s/x",
        "/api/v2/sessions",
        "/api/index.html",
    ] {
        // With the token: a JSON 404.
        let response = http
            .get(format!("{}{path}", server.base))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        expect_json_error(response, 404, ErrorCode::NotFound, path).await;
        // Without: a JSON 401 under /api/, a JSON 404 for `/api` itself; never the page.
        let response = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        let (status, code) = if path == "/api" {
            (404, ErrorCode::NotFound)
        } else {
            (401, ErrorCode::Unauthorized)
        };
        expect_json_error(response, status, code, &format!("{path} without token")).await;
    }
    // Other methods on app routes are not pages either.
    let response = http
        .post(format!("{}/s/x", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    expect_json_error(response, 404, ErrorCode::NotFound, "POST /s/x").await;
}

#[tokio::test]
async fn a_deep_link_with_the_token_signs_in_and_keeps_the_route() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let http = no_redirects();

    let path = format!("/s/{}", session.id);
    let response = http
        .get(format!("{}{path}?token={}", server.base, server.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, LOCATION), path);
    let cookie = header(&response, SET_COOKIE);
    assert!(
        cookie.starts_with(&format!("berth_token={};", server.token)),
        "{cookie}"
    );
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    // A wrong token: 401, no cookie, no redirect.
    let response = http
        .get(format!("{}{path}?token=wrong", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().get(SET_COOKIE).is_none());
    assert!(response.headers().get(LOCATION).is_none());

    // Never a redirect off the site.
    let response = http
        .get(format!("{}//evil?token={}", server.base, server.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, LOCATION), "/");
}
