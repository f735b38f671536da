//! The files' HTTP surface: `POST /api/files` takes an upload as the raw request body
//! (what a script or the browser's upload with progress sends), `DELETE /api/files/{id}`
//! takes back an unsent one, and `/files/{id}/{name}` and `/thumbs/{id}` serve them to
//! whoever may read them, and to nobody else, with one answer for every refusal.

use app::{
    attachments::{encode_segment, port::FileService},
    error::ApiError,
    model::User,
    services::request_token,
};
use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;

use super::{not_found, pictures::Raster, storage::thumb_key};
use crate::state::AppState;

/// Sent with every answer of the file routes: nothing served here may run as a page of
/// the site, be guessed into another type, or sit in a shared cache.
const FILE_HEADERS: [(header::HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (
        header::CONTENT_SECURITY_POLICY,
        "sandbox; default-src 'none'",
    ),
    // Revalidated every time (the ETag makes that cheap), so a reader removed from
    // the room is refused at once even by their own browser's cache.
    (header::CACHE_CONTROL, "private, no-cache"),
];

/// An [`ApiError`] as the JSON body and status the server functions answer with.
pub fn error_response(error: ApiError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(error)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The caller by bearer token or session cookie.
pub async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Option<User>, ApiError> {
    let Some(token) = request_token(headers) else {
        return Ok(None);
    };
    Ok(state.accounts.session(&token).await?.map(|(user, _)| user))
}

/// The caller, who must be logged in.
async fn logged_in(state: &AppState, headers: &HeaderMap) -> Result<User, ApiError> {
    caller(state, headers)
        .await?
        .ok_or_else(ApiError::login_required)
}

#[derive(Deserialize)]
pub struct UploadTo {
    room: String,
    #[serde(default)]
    name: String,
}

/// `POST /api/files?room=…&name=…`: the body is the file.
pub async fn upload(
    State(state): State<AppState>,
    Query(to): Query<UploadTo>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let user = match logged_in(&state, &headers).await {
        Ok(user) => user,
        Err(error) => return error_response(error),
    };
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let stream = body
        .into_data_stream()
        .map_err(|error| error.to_string())
        .boxed();
    match state
        .files
        .upload(&user, &to.room, &to.name, length, stream)
        .await
    {
        Ok(file) => (StatusCode::CREATED, Json(file)).into_response(),
        Err(error) => error_response(error),
    }
}

/// `DELETE /api/files/{id}`: an upload of one's own that no message has claimed.
pub async fn discard(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let user = match logged_in(&state, &headers).await {
        Ok(user) => user,
        Err(error) => return error_response(error),
    };
    match state.files.discard(&user, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error_response(error),
    }
}

/// `GET /files/{id}/{name}`: the file itself (the name is for the reader's eyes only).
pub async fn download(
    State(state): State<AppState>,
    Path((id, _name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_file_headers(serve(&state, &id, &headers, false).await)
}

/// `GET /thumbs/{id}`: an image's thumbnail (the image itself when it is small).
pub async fn thumbnail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    with_file_headers(serve(&state, &id, &headers, true).await)
}

fn with_file_headers(mut response: Response) -> Response {
    for (name, value) in FILE_HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The same bytes for every file one may not read, whatever the reason.
fn refused() -> Response {
    (StatusCode::NOT_FOUND, Json(not_found())).into_response()
}

async fn serve(state: &AppState, id: &str, headers: &HeaderMap, thumb: bool) -> Response {
    let reader = caller(state, headers).await.ok().flatten();
    let Some(readable) = state.files.readable(reader.as_ref(), id).await else {
        return refused();
    };
    let row = readable.row;
    let file = &row.file;
    let inline = file.width.is_some() && Raster::of(&file.content_type).is_some();
    let (key, content_type) = match (thumb, row.thumb_type.as_deref()) {
        (false, _) => (file.id.clone(), file.content_type.as_str()),
        (true, Some(kind)) => (thumb_key(&file.id), kind),
        // A small image is its own thumbnail; other files have none.
        (true, None) if inline => (file.id.clone(), file.content_type.as_str()),
        (true, None) => return refused(),
    };
    let etag = format!(
        "\"{}{}\"",
        hex(&row.sha256[..row.sha256.len().min(16)]),
        if thumb { "t" } else { "" }
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag))
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    // A thumbnail is served whole; the file itself by range when one is asked for
    // (and the reader's partial copy, if it names one, is of this version).
    let size = u64::try_from(file.size).unwrap_or_default();
    let range = if thumb || !if_range_matches(headers, &etag) {
        Ranged::Whole
    } else {
        parse_range(headers.get(header::RANGE), size)
    };
    let wanted = match range {
        Ranged::Whole => None,
        Ranged::Part(range) => Some(range),
        Ranged::Unsatisfiable => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
            )
                .into_response();
        }
    };
    let blob = match state.files.blobs().get(&key, wanted.clone()).await {
        Ok(blob) => blob,
        Err(error) => return storage_failed(error),
    };
    let disposition = disposition(if inline { "inline" } else { "attachment" }, &file.name);
    // Only the raster images are given their type; everything else is bytes to save.
    let served_type = if inline {
        content_type
    } else {
        "application/octet-stream"
    };
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, served_type)
        .header(header::CONTENT_LENGTH, blob.range.end - blob.range.start)
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, etag);
    if wanted.is_some() {
        response = response.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                blob.range.start,
                blob.range.end.saturating_sub(1),
                blob.size
            ),
        );
    }
    response
        .body(Body::from_stream(blob.stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn storage_failed(error: super::StorageError) -> Response {
    if error.is_not_found() {
        // The row outlived its blob for a moment (a deletion being collected).
        return refused();
    }
    tracing::error!(%error, "reading a file failed");
    error_response(ApiError::Busy(
        "File storage is unavailable right now; try again shortly.".into(),
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `Content-Disposition` with the name twice (RFC 6266): an ASCII fallback for old
/// clients and the exact name, percent-encoded UTF-8, in `filename*`.
pub fn disposition(kind: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{kind}; filename=\"{fallback}\"; filename*=UTF-8''{}",
        encode_segment(name)
    )
}

#[derive(Debug, PartialEq, Eq)]
enum Ranged {
    Whole,
    Part(std::ops::Range<u64>),
    Unsatisfiable,
}

/// Whether an `If-Range` (if any) names this version; a date or another tag means the
/// reader's partial copy is of something else, so it gets the whole file.
fn if_range_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|tag| tag.trim() == etag)
}

/// One byte range of RFC 9110 (`bytes=a-b`, `a-`, `-n`) against a file of `size`; a
/// list of several ranges, or anything unreadable, is answered with the whole file.
fn parse_range(header: Option<&HeaderValue>, size: u64) -> Ranged {
    let Some(spec) = header
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => start..(end + 1).min(size),
        (Ok(start), Err(_)) if end.is_empty() => start..size,
        (Err(_), Ok(suffix)) if start.is_empty() => {
            if suffix == 0 {
                return Ranged::Unsatisfiable;
            }
            size.saturating_sub(suffix)..size
        }
        _ => return Ranged::Whole,
    };
    if range.start >= size {
        Ranged::Unsatisfiable
    } else {
        Ranged::Part(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(spec: &str, size: u64) -> Ranged {
        parse_range(Some(&HeaderValue::from_str(spec).unwrap()), size)
    }

    #[test]
    fn byte_ranges_as_rfc_9110_reads_them() {
        assert_eq!(range("bytes=0-99", 1000), Ranged::Part(0..100));
        assert_eq!(range("bytes=900-", 1000), Ranged::Part(900..1000));
        assert_eq!(range("bytes=-100", 1000), Ranged::Part(900..1000));
        assert_eq!(range("bytes=990-2000", 1000), Ranged::Part(990..1000));
        assert_eq!(range("bytes=1000-", 1000), Ranged::Unsatisfiable);
        assert_eq!(range("bytes=0-1,5-6", 1000), Ranged::Whole);
        assert_eq!(range("bytes=5-1", 1000), Ranged::Whole);
        assert_eq!(range("items=0-1", 1000), Ranged::Whole);
        assert_eq!(parse_range(None, 1000), Ranged::Whole);
    }

    #[test]
    fn names_survive_in_the_disposition() {
        assert_eq!(
            disposition("attachment", "rapport été.pdf"),
            "attachment; filename=\"rapport _t_.pdf\"; filename*=UTF-8''rapport%20%C3%A9t%C3%A9.pdf"
        );
        assert_eq!(
            disposition("inline", "a\"b.png"),
            "inline; filename=\"a_b.png\"; filename*=UTF-8''a%22b.png"
        );
    }
}
