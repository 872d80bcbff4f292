//! berth's gateway: HTTP and WebSocket in front of the session registry.
//!
//! Thin by design: it parses, authorises and forwards to a `SessionHandle`; it owns no
//! session state.
//!
//! - [`serve`]: run the router on a given listener until a shutdown token fires.
//! - [`config`]: [`ServerConfig`] and the [`Token`] (whose `Debug` never prints it).
//! - [`guard`]: Host allowlist, Origin check and token authentication.
//! - [`headers`]: the security headers every answer carries (nosniff, CSP, framing).
//! - [`authority`]: the strict parser of `Host` and `Origin` the guard compares by.
//! - [`error`]: [`ApiError`], the one error type at the edge, and the JSON extractor.
//! - [`rest`]: the REST handlers of `/api/v1`.
//! - `uploads`: files sent with prompts: streamed in (counted against the limit), served.
//! - [`viewport`]: one multiplexed WebSocket connection per viewport.
//! - `trim`: memory handed back to the system once a burst of viewports has left.
//! - [`ui`]: the token exchange and the web UI embedded from `web/dist` (SPA fallback,
//!   cache headers, CSP, gzip); a placeholder page when the UI was not built.

pub mod authority;
pub mod config;
pub mod error;
pub mod guard;
mod gzip;
pub mod headers;
pub mod rest;
mod trim;
pub mod ui;
mod uploads;
pub mod viewport;

use std::sync::Arc;

use axum::Router;
use axum::serve::ListenerExt;
use berth_session::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{ServerConfig, Token};
pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub config: Arc<ServerConfig>,
    /// Fires when the server shuts down: open WebSockets close with 1001.
    pub shutdown: CancellationToken,
}

/// The complete router: REST, WebSocket, pages, all behind the guard.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", rest::routes().merge(viewport::routes()))
        .merge(ui::routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        // Outermost, so the guard's refusals carry the headers too.
        .layer(axum::middleware::map_response(headers::secure))
        .with_state(state)
}

/// Serve until `shutdown` fires: then stop accepting, close viewports, and return once
/// in-flight requests are done. The caller then shuts the registry and store down.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    config: ServerConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let state = AppState {
        registry,
        config: Arc::new(config),
        shutdown: shutdown.clone(),
    };
    let app = router(state);
    // No Nagle: a viewport's frames go out when the writer flushes. With it, a small
    // frame written while the previous one is unacknowledged waited for the viewer's
    // delayed ACK, up to 40 ms.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
