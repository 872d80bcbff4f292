//! REST handlers of `/api/v1` (PROTOCOL.md, "REST").

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post};
use berth_protocol::rest::{
    AgentList, CreateSession, EventsPage, Health, HealthSessions, MarkRead, PatchConfig,
    PatchSession, PromptList, Resolved, SessionList, SessionsQuery, StartTurn, TurnAccepted,
};
use berth_protocol::{Answer, Seq, Session};

use crate::error::{ApiJson, ApiPath, ApiQuery};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/agents", get(agents))
        .route("/sessions", get(list_sessions).post(create_session))
        .route(
            "/sessions/{id}",
            get(get_session).patch(patch_session).delete(delete_session),
        )
        .route("/sessions/{id}/config", patch(configure))
        .route(
            "/sessions/{id}/uploads",
            // Streamed and counted by the handler against `upload_limit`, not this layer.
            post(crate::uploads::upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/sessions/{id}/uploads/{upload_id}",
            get(crate::uploads::download),
        )
        .route("/sessions/{id}/export", get(export))
        .route("/sessions/{id}/turns", post(start_turn))
        .route("/sessions/{id}/turns/{turn_id}", delete(unqueue))
        .route("/sessions/{id}/cancel", post(cancel))
        .route("/sessions/{id}/stop", post(stop))
        .route("/sessions/{id}/events", get(events))
        .route("/sessions/{id}/prompts/{prompt_id}", post(answer_prompt))
        .route("/sessions/{id}/read", post(mark_read))
        .route("/prompts", get(prompts))
        .layer(DefaultBodyLimit::max(berth_protocol::MAX_FRAME_BYTES))
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    let registry = &state.registry;
    Json(Health {
        ok: true,
        version: state.config.version.clone(),
        sessions: Some(HealthSessions {
            total: registry.count(),
            live: registry.live_count(),
            agents: registry.agent_count(),
        }),
    })
}

async fn agents(State(state): State<AppState>) -> Json<AgentList> {
    Json(AgentList {
        agents: state.registry.agents(),
    })
}

async fn list_sessions(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<HashMap<String, String>>,
) -> Result<Json<SessionList>, ApiError> {
    let archived = match query.get("archived").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`archived` must be `true` or `false`, got `{other}`"
            )));
        }
    };
    let query = SessionsQuery {
        limit: number(&query, "limit")?,
        before: query.get("before").cloned(),
        archived,
        q: query.get("q").cloned(),
    };
    let (sessions, next) = state.registry.page(&query)?;
    Ok(Json(SessionList { sessions, next }))
}

async fn create_session(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateSession>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let session = state.registry.create(body).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

async fn get_session(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(state.registry.summary(&id)?))
}

async fn patch_session(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchSession>,
) -> Result<Json<Session>, ApiError> {
    let registry = &state.registry;
    if body.title.is_none() && body.archived.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: give `title` and/or `archived`",
        ));
    }
    // The title goes first: a refused title must not leave the session archived.
    let mut session = None;
    if let Some(title) = body.title {
        session = Some(registry.rename(&id, title).await?);
    }
    if let Some(archived) = body.archived {
        session = Some(registry.set_archived(&id, archived).await?);
    }
    Ok(Json(session.expect("one field was given")))
}

/// `200` with the summary once the agent agreed; `202` when the change waits for the
/// agent to start (the summary lists it in `pending_config`).
async fn configure(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchConfig>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let change = body.change().map_err(ApiError::bad_request)?;
    let (session, applied) = state.registry.configure(&id, change).await?;
    let status = if applied {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(session)))
}

async fn delete_session(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.registry.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn start_turn(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<StartTurn>,
) -> Result<(StatusCode, Json<TurnAccepted>), ApiError> {
    let (turn_id, queued) = state
        .registry
        .prompt_or_queue(&id, body.text, body.queue, &body.attachments)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(TurnAccepted { turn_id, queued })))
}

/// `GET /sessions/{id}/export?format=md|json`: a download (a copy is kept in the
/// session's `exports/`).
async fn export(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<HashMap<String, String>>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::{HeaderValue, header};
    let format = berth_session::export::Format::parse(query.get("format").map(String::as_str))?;
    let (text, name) = state.registry.export(&id, format).await?;
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    );
    // The name is berth's (slug and time): nothing in it needs quoting.
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

async fn unqueue(
    State(state): State<AppState>,
    ApiPath((id, turn_id)): ApiPath<(String, String)>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(state.registry.unqueue(&id, turn_id).await?))
}

async fn cancel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.registry.cancel(&id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /sessions/{id}/stop`: stop the agent; a no-op (200) when none runs.
async fn stop(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(state.registry.stop(&id).await?))
}

async fn events(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<HashMap<String, String>>,
) -> Result<Json<EventsPage>, ApiError> {
    let after: Seq = number(&query, "after")?.unwrap_or(0);
    let limit = number::<usize>(&query, "limit")?;
    Ok(Json(state.registry.events(&id, after, limit).await?))
}

async fn prompts(State(state): State<AppState>) -> Result<Json<PromptList>, ApiError> {
    Ok(Json(PromptList {
        prompts: state.registry.prompts().await?,
    }))
}

async fn answer_prompt(
    State(state): State<AppState>,
    ApiPath((id, prompt_id)): ApiPath<(String, String)>,
    ApiJson(answer): ApiJson<Answer>,
) -> Result<Json<Resolved>, ApiError> {
    let resolved = state.registry.respond(&id, prompt_id, answer).await?;
    Ok(Json(Resolved { resolved }))
}

async fn mark_read(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MarkRead>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(state.registry.mark_read(&id, body.seq).await?))
}

/// An optional non-negative integer query parameter.
fn number<T: std::str::FromStr>(
    query: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, ApiError> {
    query
        .get(name)
        .map(|v| {
            v.parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "`{name}` must be a non-negative integer, got `{v}`"
                ))
            })
        })
        .transpose()
}
