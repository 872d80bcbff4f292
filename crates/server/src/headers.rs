//! Security headers on every answer, whoever wrote it: the guard's 401 and 403, the REST
//! handlers' JSON, the token exchange's pages, the UI's files.
//!
//! One layer outside the router, so a new route or error page cannot forget them. A
//! header a handler set itself wins (the UI's pages carry their own CSP, which lets the
//! app's scripts run); everything else gets the strictest policy that still renders it:
//! - every answer: `X-Content-Type-Options: nosniff` (a JSON answer holding agent output
//!   is never sniffed into HTML), `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`;
//! - HTML without a CSP (the login, wrong-token and "UI not built" pages): no scripts, no
//!   loads, only their inline `<style>`, no framing, no forms, no `<base>`;
//! - anything else without a CSP: `default-src 'none'` (if a JSON or text answer is ever
//!   opened as a document, it can load and run nothing). A future service worker script
//!   must set its own CSP: this one would also govern the worker.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

/// The policy of berth's own small HTML pages.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
base-uri 'none'; form-action 'none'";
/// The policy of everything that is not a page.
const NONE_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The layer: `axum::middleware::map_response(headers::secure)`.
pub async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let csp = if html { PAGE_CSP } else { NONE_CSP };
    default(headers, header::CONTENT_SECURITY_POLICY, csp);
    default(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    default(headers, header::X_FRAME_OPTIONS, "DENY");
    default(headers, header::REFERRER_POLICY, "no-referrer");
    response
}

fn default(headers: &mut HeaderMap, name: header::HeaderName, value: &'static str) {
    headers
        .entry(name)
        .or_insert(HeaderValue::from_static(value));
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::response::{Html, IntoResponse};

    use super::*;

    fn header(response: &Response, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .map_or("", |v| v.to_str().unwrap())
    }

    #[tokio::test]
    async fn pages_without_a_policy_get_one_that_runs_nothing() {
        let page = Html("<!doctype html><style>b{}</style><p>sign in").into_response();
        let response = secure((StatusCode::UNAUTHORIZED, page).into_response()).await;
        let csp = header(&response, header::CONTENT_SECURITY_POLICY);
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("script-src"), "{csp}");
        assert_eq!(header(&response, header::X_FRAME_OPTIONS), "DENY");
        assert_eq!(header(&response, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(header(&response, header::REFERRER_POLICY), "no-referrer");
    }

    #[tokio::test]
    async fn json_is_never_sniffed_or_framed() {
        let json = axum::Json(serde_json::json!({"error": "<script>"})).into_response();
        let response = secure(json).await;
        assert_eq!(header(&response, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(header(&response, header::CONTENT_SECURITY_POLICY), NONE_CSP);
        assert_eq!(header(&response, header::X_FRAME_OPTIONS), "DENY");
    }

    #[tokio::test]
    async fn a_policy_the_handler_set_wins() {
        let mut page = Html("<!doctype html>").into_response();
        page.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("script-src 'self'"),
        );
        let response = secure(page).await;
        assert_eq!(
            header(&response, header::CONTENT_SECURITY_POLICY),
            "script-src 'self'"
        );
        assert_eq!(header(&response, header::X_FRAME_OPTIONS), "DENY");
    }
}
