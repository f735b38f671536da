//! The WebSocket endpoint `/ws`: who may connect, and the socket's limits.

use std::sync::Arc;

use app::{accounts::port::AccountService, protocol::MAX_FRAME_BYTES, services::request_token};
use axum::{
    extract::{ws::WebSocketUpgrade, State},
    http::{header, HeaderMap},
    response::Response,
};

use crate::{error::AppError, state::AppState};

/// The per-connection loop: decodes frames, calls the chat, queues what comes back.
mod connection;
/// Where a connection is in each room's log.
mod cursor;
/// Frames waiting for the socket.
mod outbox;

/// Bytes read from the socket at a time. Small, because most connections are idle and
/// chat frames are short: tungstenite keeps a buffer this size for every connection and
/// zero-fills it before each read attempt (its default, 128 KiB, cost 4 µs a poll).
/// Larger frames still arrive whole, over several reads.
const READ_BUFFER: usize = 1024;
/// Frames are written once this much is buffered (or on flush, after each batch).
const WRITE_BUFFER: usize = 16 * 1024;
/// A client that stops reading cannot make the server buffer more than this for it.
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// `GET /ws`: authenticates by bearer token or session cookie, then upgrades.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let token = request_token(&headers).ok_or(AppError::Unauthorized)?;
    // A cookie rides along on any page's request, so a browser connection must come
    // from our own pages (cross-site WebSocket hijacking). A bearer token was given
    // deliberately and needs no such check.
    if headers.get(header::AUTHORIZATION).is_none() {
        check_same_origin(&headers)?;
    }
    let accounts: Arc<dyn AccountService> = state.accounts.clone();
    let user = accounts
        .authenticate(&token)
        .await
        .map_err(|_| AppError::Internal)?
        .ok_or(AppError::Unauthorized)?;
    let chat = state.chat.clone();
    let write_deadline = state.write_deadline;
    let session_end = state.accounts.session_end(&token);
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| connection::run(socket, user, chat, write_deadline, session_end)))
}

/// An `Origin` header, when present, must name the host the request was sent to.
fn check_same_origin(headers: &HeaderMap) -> Result<(), AppError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(()); // not a browser
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(origin_host), Some(host)) if origin_host.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(AppError::Forbidden(
            "This origin may not open a chat connection.".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            h.insert(header::ORIGIN, origin.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_origin_passes_and_foreign_fails() {
        assert!(
            check_same_origin(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000")).is_ok()
        );
        assert!(check_same_origin(&headers(
            Some("https://chat.example.com"),
            "chat.example.com"
        ))
        .is_ok());
        assert!(check_same_origin(&headers(None, "127.0.0.1:3000")).is_ok());
        assert!(
            check_same_origin(&headers(Some("http://evil.example"), "127.0.0.1:3000")).is_err()
        );
        assert!(
            check_same_origin(&headers(Some("http://127.0.0.1:3001"), "127.0.0.1:3000")).is_err()
        );
        assert!(check_same_origin(&headers(Some("null"), "127.0.0.1:3000")).is_err());
    }
}
