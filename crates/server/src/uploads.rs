//! `POST /api/v1/sessions/{id}/uploads?name=` (raw body, its `Content-Type`) and
//! `GET …/uploads/{upload_id}`: files a user sends with prompts (PROTOCOL.md,
//! "Attachments"). The body is streamed to the session's directory and counted as it
//! comes: over the limit (`Content-Length` says so, or the bytes do) it is `413` and
//! nothing is kept.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_protocol::{Attachment, ErrorCode};
use futures::StreamExt;

use crate::error::{ApiPath, ApiQuery};
use crate::{ApiError, AppState};

pub(crate) async fn upload(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    let limit = state.config.upload_limit;
    let Some(name) = query.get("name").filter(|name| !name.trim().is_empty()) else {
        return Err(ApiError::bad_request("give the file's name as `?name=`"));
    };
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("an upload may hold at most {limit} bytes (sessions.upload_max_mib)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mime = match headers.get(header::CONTENT_TYPE) {
        None => "application/octet-stream",
        Some(value) => value
            .to_str()
            .map_err(|_| ApiError::bad_request("`Content-Type` is not text"))?,
    };
    let mut writer = state.registry.begin_upload(&id, name, mime, limit).await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => writer.write(&bytes).await?,
            Err(error) => {
                writer.discard().await;
                tracing::debug!(%error, "an upload's body broke off");
                return Err(ApiError::bad_request("the upload's body broke off"));
            }
        }
    }
    let attachment = writer.finish().await?;
    tracing::info!(session = %id, upload = %attachment.id, size = attachment.size, "upload stored");
    Ok((StatusCode::CREATED, Json(attachment)))
}

/// The file, as its type says for images (shown in the page); every other type as a
/// download. The answer's CSP (`default-src 'none'`, set for every non-page answer)
/// and `nosniff` keep an uploaded SVG or HTML from running in berth's origin.
pub(crate) async fn download(
    State(state): State<AppState>,
    ApiPath((id, upload_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let (attachment, path) = state.registry.upload(&id, &upload_id).await?;
    let file = tokio::fs::File::open(&path).await.map_err(|error| {
        tracing::warn!(%error, path = %path.display(), "an upload's file is missing");
        ApiError::new(
            ErrorCode::NotFound,
            format!("upload `{upload_id}` has no file any more"),
        )
    })?;
    let image = attachment.mime_type.starts_with("image/");
    let mime = if image {
        attachment.mime_type.as_str()
    } else {
        "application/octet-stream"
    };
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if image { "inline" } else { "attachment" },
        percent(&attachment.name)
    );
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    if let Ok(mime) = HeaderValue::from_str(mime) {
        headers.insert(header::CONTENT_TYPE, mime);
    }
    if let Ok(disposition) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(attachment.size));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(response)
}

/// RFC 5987 percent-encoding of a file name.
fn percent(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}
