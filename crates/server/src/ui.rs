//! The pages: the token exchange (`/?token=…` → HttpOnly cookie, clean URL) and, until
//! the web UI lands, a page that says what berth is and how to use it.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::guard::{COOKIE, cookie};

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(index))
}

async fn index(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = query.get("token") {
        if !state.config.token.matches(token) {
            return (StatusCode::UNAUTHORIZED, Html(page(LOGIN_WRONG))).into_response();
        }
        // Exchange the token for a cookie and drop it from the address bar and history.
        let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
        return (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, cookie),
                (header::LOCATION, "/".to_owned()),
            ],
        )
            .into_response();
    }
    let signed_in = cookie(&headers, COOKIE).is_some_and(|c| state.config.token.matches(&c));
    if signed_in {
        Html(page(SIGNED_IN)).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, Html(page(LOGIN))).into_response()
    }
}

fn page(body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>berth</title><style>body{{font:16px system-ui;max-width:40em;margin:3em auto;padding:0 1em}}\
         code{{background:#8882;padding:0 .3em}}</style><h1>berth</h1>{body}</html>"
    )
}

const LOGIN: &str = "<p>This berth server needs its access token.</p>\
<p>Open the URL printed when the server started (<code>http://…/?token=…</code>), \
or run <code>berth token</code> on the server's machine and open <code>/?token=&lt;token&gt;</code>.</p>";

const LOGIN_WRONG: &str = "<p>That token is not this server's.</p>\
<p>Run <code>berth token</code> on the server's machine to print the right one.</p>";

const SIGNED_IN: &str = "<p>You are signed in. The web UI is on its way; meanwhile use the terminal viewport:</p>\
<pre>berth sessions\nberth new --title demo\nberth send &lt;session&gt; \"/stream 20\"\nberth attach &lt;session&gt;</pre>\
<p>The API is documented in <code>docs/PROTOCOL.md</code>.</p>";
