//! `ApiError`: the one error type at the HTTP edge, answered as
//! `{"error": {"code", "message"}}`. User errors are explained; internal errors are
//! logged and answered generically.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use berth_protocol::{ErrorBody, ErrorCode, Resolution};
use berth_session::SessionError;
use serde::de::DeserializeOwned;

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub resolution: Option<Resolution>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            resolution: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    pub fn body(&self) -> ErrorBody {
        let mut body = ErrorBody::new(self.code, self.message.clone());
        body.error.resolution = self.resolution.clone();
        body
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> ApiError {
        let code = error.code();
        match error {
            SessionError::AlreadyResolved(resolution) => ApiError {
                code,
                message: format!("prompt {} was already resolved", resolution.prompt_id),
                resolution: Some(*resolution),
            },
            error if code == ErrorCode::Internal => {
                tracing::error!(%error, "internal error");
                ApiError::new(code, "internal error; see the server log")
            }
            error => ApiError::new(code, error.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.body())).into_response()
    }
}

/// Unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

/// A known route called with a method it does not take: `405` (with `Allow`) and the
/// error body every non-2xx answer carries, code `bad_request`.
pub async fn method_not_allowed() -> Response {
    let error = ApiError::bad_request("this route does not take that method; see the Allow header");
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(error.body())).into_response()
}

/// A JSON body whose every failure (too large, not JSON, wrong shape) is an `ApiError`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!(
                        "the body is larger than {} bytes",
                        berth_protocol::MAX_FRAME_BYTES
                    ),
                )
            } else {
                ApiError::bad_request(format!("could not read the body: {rejection}"))
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// A path parameter whose failure (e.g. `%FF`) is an `ApiError`.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|e| ApiError::bad_request(format!("invalid path: {e}")))
    }
}

/// Query parameters whose failure (bad percent-encoding) is an `ApiError`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))
    }
}
