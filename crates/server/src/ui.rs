//! The web UI: the built single-page app (`web/dist`, embedded in the binary) and the
//! token exchange (`/?token=…` → HttpOnly cookie, clean URL).
//!
//! - `/` and every other path outside `/api` without a file extension (the app's own
//!   routes, e.g. `/s/<id>`) answer `index.html`, `no-cache`.
//! - Files of the build answer with their content type; hashed `/assets/…` are cached
//!   for a year (`immutable`). A missing file (a path with an extension, or under
//!   `/assets/`) is a `404`, never `index.html`; so is everything under `/api`.
//! - Text files of 1 KiB or more go gzipped when the client takes it (`gzip.rs`; each
//!   file compressed once), with their own ETag and `Vary: accept-encoding`.
//! - None of this needs the token: the pages hold no secrets, the app calls `/api` and
//!   shows its login screen on `401`. The guard's Host check still applies.
//! - `?token=…` on a page route sets the cookie and redirects to the same path without it.
//! - When the UI was not built (`web/dist` empty, see `build.rs`), a small placeholder page
//!   says how to build it and how to sign in.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use rust_embed::RustEmbed;

use crate::AppState;
use crate::error;
use crate::guard::{COOKIE, cookie};
use crate::gzip;

/// The built web UI. In debug builds rust-embed reads the directory at run time (so a
/// rebuilt UI shows without recompiling); release builds carry the files inside.
#[derive(RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Dist;

/// `Cache-Control` of hashed build output under `/assets/`.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of everything else: revalidate every time (with the ETag).
const NO_CACHE: &str = "no-cache";

/// Defence in depth for pages that render agent output: no foreign scripts, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/{*path}", any(page))
}

/// One file of the build.
pub(crate) struct Asset {
    pub data: Cow<'static, [u8]>,
    pub sha256: [u8; 32],
}

fn embedded(path: &str) -> Option<Asset> {
    Dist::get(path).map(|file| Asset {
        sha256: file.metadata.sha256_hash(),
        data: file.data,
    })
}

async fn page(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    request: Request,
) -> Response {
    let path = request.uri().path();
    // A query that does not parse carries no token; it never turns a 404 into a 400.
    let token = query.ok().and_then(|Query(mut q)| q.remove("token"));
    if request.method() == Method::GET
        && is_page_route(path)
        && let Some(token) = token
    {
        return exchange(&state, &token, path);
    }
    let signed_in =
        cookie(request.headers(), COOKIE).is_some_and(|c| state.config.token.matches(&c));
    serve(
        request.method(),
        path,
        request.headers(),
        signed_in,
        embedded,
    )
}

/// Exchange the token for a cookie and drop it from the address bar and history.
fn exchange(state: &AppState, token: &str, path: &str) -> Response {
    if !state.config.token.matches(token) {
        return (StatusCode::UNAUTHORIZED, Html(placeholder(LOGIN_WRONG))).into_response();
    }
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
    // Never a protocol-relative or backslash location (`//host`, `/\host`): that would
    // leave the site.
    let location = if path.starts_with("//") || path.contains('\\') {
        "/"
    } else {
        path
    };
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, location.to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response()
}

/// Paths that are the app's own (answered with `index.html`): outside `/api`, and no
/// file extension in the last segment.
fn is_page_route(path: &str) -> bool {
    !is_api(path) && !path.starts_with("/assets/") && !last_segment(path).contains('.')
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

/// The answer to a request for `path` that no API route took.
pub(crate) fn serve(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    signed_in: bool,
    lookup: impl Fn(&str) -> Option<Asset>,
) -> Response {
    if is_api(path) || (method != Method::GET && method != Method::HEAD) {
        return error::ApiError::new(berth_protocol::ErrorCode::NotFound, "no such route")
            .into_response();
    }
    let file = path.strip_prefix('/').unwrap_or(path);
    // Only plain relative names: no `..`, `.`, empty segments or backslashes.
    let clean = !file.is_empty()
        && !file.contains('\\')
        && file
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if clean && let Some(asset) = lookup(file) {
        let cache = if file.starts_with("assets/") {
            IMMUTABLE
        } else {
            NO_CACHE
        };
        return file_response(headers, content_type(file), cache, asset);
    }
    if !is_page_route(path) {
        return error::ApiError::new(berth_protocol::ErrorCode::NotFound, "no such file")
            .into_response();
    }
    match lookup("index.html") {
        Some(index) => file_response(headers, content_type("index.html"), NO_CACHE, index),
        None => {
            let body = if signed_in {
                [SIGNED_IN, NOT_BUILT].concat()
            } else {
                [LOGIN, NOT_BUILT].concat()
            };
            let mut response = Html(placeholder(&body)).into_response();
            set(&mut response, header::CACHE_CONTROL, NO_CACHE);
            response
        }
    }
}

fn file_response(
    request: &HeaderMap,
    content_type: &'static str,
    cache: &'static str,
    asset: Asset,
) -> Response {
    // Text files go gzipped to clients that take it; the two copies are two
    // representations, so each has its own ETag and caches must key on Accept-Encoding.
    let varies = gzip::worth_it(content_type, asset.data.len());
    // Compressed (or taken from the cache) before the ETag is chosen: if it ever failed,
    // the plain copy goes out under the plain copy's ETag.
    let compressed = (varies && gzip::accepted(request))
        .then(|| gzip::compressed(&asset.sha256, &asset.data))
        .flatten();
    let gzipped = compressed.is_some();
    let hash: String = asset.sha256[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let etag = if gzipped {
        format!("\"{hash}-gz\"")
    } else {
        format!("\"{hash}\"")
    };
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        // Embedded files are `'static`: no copy per request.
        let body = compressed.unwrap_or_else(|| match asset.data {
            Cow::Borrowed(bytes) => bytes::Bytes::from_static(bytes),
            Cow::Owned(bytes) => bytes::Bytes::from(bytes),
        });
        let mut response = body.into_response();
        set(&mut response, header::CONTENT_TYPE, content_type);
        if gzipped {
            set(&mut response, header::CONTENT_ENCODING, "gzip");
        }
        response
    };
    if varies {
        set(&mut response, header::VARY, "accept-encoding");
    }
    set(&mut response, header::CACHE_CONTROL, cache);
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    // The app's own policy; nosniff, framing and referrer come from `headers.rs`.
    if content_type.starts_with("text/html") {
        set(&mut response, header::CONTENT_SECURITY_POLICY, CSP);
    }
    response
}

fn set(response: &mut Response, name: header::HeaderName, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

/// The content type of a file by its extension: the UI's build files, and what
/// `berth send --attach` uploads a file as. Unknown: `application/octet-stream`.
pub fn content_type(path: &str) -> &'static str {
    let ext = last_segment(path)
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "txt" | "log" => "text/plain; charset=utf-8",
        "md" | "markdown" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "rs" | "py" | "ts" | "tsx" | "go" | "c" | "h" | "java" | "rb" | "sh" => {
            "text/plain; charset=utf-8"
        }
        "toml" => "application/toml",
        "yaml" | "yml" => "application/yaml",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn placeholder(body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>berth</title><style>body{{font:16px system-ui;max-width:40em;margin:3em auto;padding:0 1em}}\
         code,pre{{background:#8882;padding:0 .3em}}</style><h1>berth</h1>{body}</html>"
    )
}

const NOT_BUILT: &str = "<p>This berth binary was built without its web UI (<code>web/dist</code> \
was empty). Start the server with <code>scripts/serve</code>, which builds the UI first, or run \
<code>npm ci &amp;&amp; npm run build</code> in <code>web/</code> and rebuild berth.</p>";

const LOGIN: &str = "<p>This berth server needs its access token.</p>\
<p>Open the URL printed when the server started (<code>http://…/?token=…</code>), \
or run <code>berth token</code> on the server's machine and open <code>/?token=&lt;token&gt;</code>.</p>";

const LOGIN_WRONG: &str = "<p>That token is not this server's.</p>\
<p>Run <code>berth token</code> on the server's machine to print the right one, \
and open <code>/?token=&lt;token&gt;</code>.</p>";

const SIGNED_IN: &str = "<p>You are signed in. Without the web UI, use the terminal viewport:</p>\
<pre>berth sessions\nberth new --title demo\nberth send &lt;session&gt; \"/stream 20\"\nberth attach &lt;session&gt;</pre>\
<p>The API is documented in <code>docs/PROTOCOL.md</code>.</p>";

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "<!doctype html><script type=module src=/assets/index-Ab12.js></script>";

    fn fixture(path: &str) -> Option<Asset> {
        let data: &'static [u8] = match path {
            "index.html" => INDEX.as_bytes(),
            "assets/index-Ab12.js" => b"console.log(1)",
            "assets/index-Cd34.css" => b"body{}",
            "assets/font-Ef56.woff2" => b"wOF2",
            "favicon.svg" => b"<svg/>",
            _ => return None,
        };
        let mut sha256 = [0; 32];
        sha256[0] = data.len() as u8;
        Some(Asset {
            data: Cow::Borrowed(data),
            sha256,
        })
    }

    fn empty(_: &str) -> Option<Asset> {
        None
    }

    async fn get_with(
        path: &str,
        headers: &HeaderMap,
        lookup: fn(&str) -> Option<Asset>,
    ) -> (StatusCode, HeaderMap, String) {
        let response = serve(&Method::GET, path, headers, false, lookup);
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn get(path: &str) -> (StatusCode, HeaderMap, String) {
        get_with(path, &HeaderMap::new(), fixture).await
    }

    fn header(headers: &HeaderMap, name: header::HeaderName) -> &str {
        headers
            .get(&name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }

    fn assert_not_found(what: &str, (status, headers, body): &(StatusCode, HeaderMap, String)) {
        assert_eq!(*status, StatusCode::NOT_FOUND, "{what}: {body}");
        assert_eq!(
            header(headers, header::CONTENT_TYPE),
            "application/json",
            "{what}"
        );
        assert!(body.contains(r#""code":"not_found""#), "{what}: {body}");
        assert!(!body.contains("<script"), "{what}: never index.html");
    }

    #[tokio::test]
    async fn app_routes_answer_index_html_uncached() {
        for path in [
            "/",
            "/s/0195f0c2",
            "/s/0195f0c2/",
            "/inbox",
            "/a/b/c",
            "/index.html",
        ] {
            let (status, headers, body) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(body, INDEX, "{path}");
            assert_eq!(
                header(&headers, header::CONTENT_TYPE),
                "text/html; charset=utf-8"
            );
            assert_eq!(
                header(&headers, header::CACHE_CONTROL),
                "no-cache",
                "{path}"
            );
            assert!(
                header(&headers, header::CONTENT_SECURITY_POLICY)
                    .contains("frame-ancestors 'none'")
            );
            assert!(headers.contains_key(header::ETAG), "{path}");
        }
    }

    #[tokio::test]
    async fn build_files_have_their_content_type_and_hashed_assets_are_immutable() {
        for (path, content_type, cache) in [
            (
                "/assets/index-Ab12.js",
                "text/javascript; charset=utf-8",
                IMMUTABLE,
            ),
            (
                "/assets/index-Cd34.css",
                "text/css; charset=utf-8",
                IMMUTABLE,
            ),
            ("/assets/font-Ef56.woff2", "font/woff2", IMMUTABLE),
            ("/favicon.svg", "image/svg+xml", NO_CACHE),
        ] {
            let (status, headers, body) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(
                header(&headers, header::CONTENT_TYPE),
                content_type,
                "{path}"
            );
            assert_eq!(header(&headers, header::CACHE_CONTROL), cache, "{path}");
            assert_ne!(body, INDEX, "{path}");
        }
    }

    #[tokio::test]
    async fn missing_files_are_404_not_index_html() {
        for path in [
            "/assets/index-Zz99.js",
            "/assets/nothing",
            "/assets/",
            "/favicon.ico",
            "/s/x/robots.txt",
            "/assets/../index.html",
            "/./index.html",
            "//index.html",
        ] {
            assert_not_found(path, &get(path).await);
        }
    }

    #[tokio::test]
    async fn api_paths_never_fall_back_to_index_html() {
        for path in [
            "/api",
            "/api/",
            "/api/v1",
            "/api/v1/nope",
            "/api/v2/sessions",
            "/api/v1/sessions/x/y/z",
            "/api/index.html",
        ] {
            assert_not_found(path, &get(path).await);
        }
        // Neither do other methods than GET and HEAD, anywhere.
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            for path in ["/s/x", "/assets/index-Ab12.js", "/api/v1/nope"] {
                let response = serve(&method, path, &HeaderMap::new(), true, fixture);
                assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            }
        }
        let head = serve(&Method::HEAD, "/s/x", &HeaderMap::new(), false, fixture);
        assert_eq!(head.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn etags_answer_not_modified() {
        let (_, headers, _) = get("/assets/index-Ab12.js").await;
        let etag = headers[header::ETAG].clone();
        for value in [
            etag.to_str().unwrap().to_owned(),
            format!("W/{}, \"x\"", etag.to_str().unwrap()),
        ] {
            let mut request = HeaderMap::new();
            request.insert(header::IF_NONE_MATCH, value.parse().unwrap());
            let (status, headers, body) =
                get_with("/assets/index-Ab12.js", &request, fixture).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{value}");
            assert!(body.is_empty());
            assert_eq!(headers[header::ETAG], etag);
            assert_eq!(header(&headers, header::CACHE_CONTROL), IMMUTABLE);
        }
        let mut request = HeaderMap::new();
        request.insert(header::IF_NONE_MATCH, "\"other\"".parse().unwrap());
        let (status, _, _) = get_with("/assets/index-Ab12.js", &request, fixture).await;
        assert_eq!(status, StatusCode::OK);
    }

    /// A build whose script is big enough to be worth compressing.
    fn big(path: &str) -> Option<Asset> {
        (path == "assets/app-Gh78.js").then(|| Asset {
            data: Cow::Owned(big_script().into_bytes()),
            sha256: [42; 32],
        })
    }

    fn big_script() -> String {
        "export const answer = 42;\n".repeat(400)
    }

    #[tokio::test]
    async fn text_goes_gzipped_to_clients_that_take_it() {
        let path = "/assets/app-Gh78.js";
        let mut gzip = HeaderMap::new();
        gzip.insert(
            header::ACCEPT_ENCODING,
            "gzip, deflate, br".parse().unwrap(),
        );
        let response = serve(&Method::GET, path, &gzip, false, big);
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(header(&headers, header::CONTENT_ENCODING), "gzip");
        assert_eq!(header(&headers, header::VARY), "accept-encoding");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
            .unwrap();
        assert_eq!(text, big_script());
        assert!(body.len() < text.len() / 10);

        // Without gzip (or refusing it): the plain file, another ETag, the same Vary.
        let mut refused = HeaderMap::new();
        refused.insert(header::ACCEPT_ENCODING, "gzip;q=0, br".parse().unwrap());
        for request in [HeaderMap::new(), refused] {
            let (status, plain, body) = get_with(path, &request, big).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body, big_script());
            assert!(plain.get(header::CONTENT_ENCODING).is_none());
            assert_eq!(header(&plain, header::VARY), "accept-encoding");
            assert_ne!(plain[header::ETAG], headers[header::ETAG]);
        }

        // The gzipped copy revalidates with its own ETag.
        let mut again = gzip.clone();
        again.insert(header::IF_NONE_MATCH, headers[header::ETAG].clone());
        let (status, _, body) = get_with(path, &again, big).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        // …and is not the plain copy: a client holding it that no longer takes gzip
        // gets the plain file.
        let mut plain_now = HeaderMap::new();
        plain_now.insert(header::IF_NONE_MATCH, headers[header::ETAG].clone());
        let (status, _, body) = get_with(path, &plain_now, big).await;
        assert_eq!((status, body), (StatusCode::OK, big_script()));

        // HEAD: the gzipped copy's headers (axum drops the body).
        let head = serve(&Method::HEAD, path, &gzip, false, big);
        assert_eq!(header(head.headers(), header::CONTENT_ENCODING), "gzip");

        // Small files and compressed formats go as they are.
        for small in ["/assets/index-Ab12.js", "/assets/font-Ef56.woff2"] {
            let (_, headers, _) = get_with(small, &gzip, fixture).await;
            assert!(headers.get(header::CONTENT_ENCODING).is_none(), "{small}");
        }
    }

    #[tokio::test]
    async fn without_a_built_ui_a_placeholder_says_how_to_build_it() {
        for path in ["/", "/s/x"] {
            let (status, headers, body) = get_with(path, &HeaderMap::new(), empty).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(
                header(&headers, header::CONTENT_TYPE),
                "text/html; charset=utf-8"
            );
            assert!(body.contains("npm run build"), "{body}");
            assert!(body.contains("berth token"), "{body}");
        }
        let response = serve(&Method::GET, "/", &HeaderMap::new(), true, empty);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("signed in"), "{body}");
        assert!(body.contains("scripts/serve"), "{body}");
        assert_not_found(
            "/assets/x.js",
            &get_with("/assets/x.js", &HeaderMap::new(), empty).await,
        );
    }

    #[test]
    fn page_routes_and_content_types() {
        assert!(is_page_route("/"));
        assert!(is_page_route("/s/0195f0c2-aaaa"));
        assert!(!is_page_route("/s/x/file.txt"));
        assert!(!is_page_route("/assets/x"));
        assert!(!is_page_route("/api"));
        assert!(!is_page_route("/api/v1/sessions"));
        assert!(is_page_route("/apiary"));
        assert_eq!(content_type("a/B.JS"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("x.unknown"), "application/octet-stream");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
