//! The guard in front of every route: Host allowlist (DNS rebinding), Origin check
//! (cross-site requests and WebSocket hijacking), token authentication.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_protocol::ErrorCode;

use crate::{ApiError, AppState, authority};

/// Name of the cookie the UI receives in exchange for `/?token=…`.
pub const COOKIE: &str = "berth_token";

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, &request) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

fn check(state: &AppState, request: &Request) -> Result<(), ApiError> {
    let allowed = &state.config.allowed_hosts;
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| authority::host_of(h.trim()));
    if !host.is_some_and(|host| allowed.contains(&host)) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this host name is not allowed",
        ));
    }
    let upgrade = headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if (upgrade || changes_state)
        && let Some(origin) = headers.get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("null");
        if !origin_allowed(origin, allowed) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "cross-origin request refused",
            ));
        }
    }
    let path = request.uri().path();
    if path.starts_with("/api/") && path != "/api/v1/health" && !authenticated(state, headers) {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "missing or wrong token: send `Authorization: Bearer <token>` (see `berth token`)",
        ));
    }
    Ok(())
}

fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    authority::origin_host(origin).is_some_and(|host| allowed.contains(&host))
}

fn authenticated(state: &AppState, headers: &HeaderMap) -> bool {
    let token = &state.config.token;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token);
    if bearer.is_some_and(|b| token.matches(b.trim())) {
        return true;
    }
    cookie(headers, COOKIE).is_some_and(|c| token.matches(&c))
}

/// The value of cookie `name`, if sent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_name_an_allowed_host() {
        let allowed = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        assert!(origin_allowed("http://127.0.0.1:7878", &allowed));
        assert!(origin_allowed("http://localhost:5173", &allowed));
        assert!(!origin_allowed("null", &allowed));
        assert!(!origin_allowed("http://evil.example", &allowed));
        assert!(!origin_allowed("http://127.0.0.1.evil.example", &allowed));
        assert!(!origin_allowed("file://", &allowed));
        assert!(!origin_allowed("http://127.0.0.1@evil.example", &allowed));
    }
}
