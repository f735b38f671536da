//! `POST /api/post_form`: the composer as a plain form, for browsers without
//! JavaScript. One multipart request carries the message and its files; each file takes
//! the upload pipeline of `POST /api/files`, then the message takes the chat's one path
//! for posts. The answer is a redirect back to the room, with the error in the address
//! when something was refused.

use app::{
    attachments::{encode_segment, port::FileService},
    error::ApiError,
    protocol::Change,
    rooms::port::RoomService,
};
use axum::{
    extract::{multipart::Field, Multipart, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
};
use futures_util::{StreamExt, TryStreamExt};

use crate::state::AppState;

/// The most a text field of the form may hold (a body is at most 4,000 characters).
const MAX_FIELD_BYTES: usize = 32 * 1024;

/// The query parameter the room page shows a refused post's error from.
pub const ERROR_PARAM: &str = "post_error";

#[derive(Default)]
struct Post {
    room: Option<String>,
    client_id: Option<String>,
    body: String,
    reply_to: Option<i64>,
    files: Vec<String>,
}

pub async fn post_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let user = match super::http::caller(&state, &headers).await {
        Ok(Some(user)) => user,
        _ => return Redirect::to("/login").into_response(),
    };
    let mut post = Post::default();
    let outcome = read(&state, &user, multipart, &mut post).await;
    let room = post.room.clone().unwrap_or_else(|| "general".into());
    let outcome = match outcome {
        Ok(()) => {
            let client_id = post
                .client_id
                .take()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let change = Change::Post {
                body: post.body,
                reply_to: post.reply_to,
                files: post.files,
            };
            state.chat.submit(&user, &room, &client_id, change).await
        }
        Err(error) => Err(error),
    };
    let back = format!("/r/{}", encode_segment(&room));
    match outcome {
        Ok(receipt) => Redirect::to(&format!("/r/{}", encode_segment(&receipt.room))),
        Err(error) => Redirect::to(&format!(
            "{back}?{ERROR_PARAM}={}",
            encode_segment(&error.to_string())
        )),
    }
    .into_response()
}

async fn read(
    state: &AppState,
    user: &app::model::User,
    mut multipart: Multipart,
    post: &mut Post,
) -> Result<(), ApiError> {
    let malformed = |e: axum::extract::multipart::MultipartError| {
        ApiError::Request(format!("The form could not be read: {e}"))
    };
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        match field.name().unwrap_or_default() {
            "room" => post.room = Some(text(field).await?),
            "client_id" => post.client_id = Some(text(field).await?),
            "body" => post.body = text(field).await?,
            "reply_to" => {
                let seq = text(field).await?;
                post.reply_to = if seq.trim().is_empty() {
                    None
                } else {
                    Some(seq.trim().parse().map_err(|_| {
                        ApiError::Invalid("A reply names its message by seq.".into())
                    })?)
                };
            }
            "files" => {
                let name = field.file_name().unwrap_or_default().to_string();
                // An empty file input still sends a part, with no name and no bytes.
                if name.is_empty() {
                    continue;
                }
                let room = post.room.clone().ok_or_else(|| {
                    ApiError::Invalid("The form names its room before its files.".into())
                })?;
                let stream = field.map_err(|e| e.to_string()).boxed();
                let file = state.files.upload(user, &room, &name, None, stream).await?;
                post.files.push(file.id);
            }
            _ => {}
        }
    }
    Ok(())
}

/// A text field, at most [`MAX_FIELD_BYTES`].
async fn text(mut field: Field<'_>) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::Request(format!("The form could not be read: {e}")))?
    {
        if bytes.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(ApiError::Invalid("A field of the form is too long.".into()));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::Invalid("The form is not UTF-8.".into()))
}
