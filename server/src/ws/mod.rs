//! The WebSocket endpoint `/ws`: who may connect, and the socket's limits.

use app::{
    protocol::MAX_FRAME_BYTES,
    services::{request_token, ClientAddr},
};
use axum::{
    extract::{ws::WebSocketUpgrade, State},
    http::HeaderMap,
    response::Response,
    Extension,
};

use crate::{error::AppError, origin, state::AppState};

/// How many sockets one user and one address may hold.
pub mod caps;
/// The per-connection loop: decodes frames, calls the chat, queues what comes back.
mod connection;
/// The limits every socket is held to.
pub mod limits;
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
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let token = request_token(&headers).ok_or(AppError::Unauthorized)?;
    // A cookie rides along on any page's request, so a browser connection must come
    // from our own pages (cross-site WebSocket hijacking).
    if !origin::has_bearer(&headers) && !origin::is_same_origin(&headers, state.public_origin()) {
        return Err(AppError::Forbidden(
            "This origin may not open a chat connection.".into(),
        ));
    }
    let (user, expires_at) = state
        .accounts
        .session(&token)
        .await
        .map_err(|_| AppError::Internal)?
        .ok_or(AppError::Unauthorized)?;
    let address = client.map_or_else(String::new, |Extension(client)| {
        crate::client::address_key(client.ip)
    });
    let slot = state.ws.caps.take(user.id, address).map_err(|over| {
        AppError::RateLimited(match over {
            caps::Over::User => "Too many open connections for this account.".into(),
            caps::Over::Address => "Too many open connections from this address.".into(),
        })
    })?;
    let limits = state.ws.limits;
    let chat = state.chat.clone();
    let session_end = state.accounts.session_end(&token, expires_at);
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            let _open = crate::monitoring::Held::connection();
            connection::run(socket, user, chat, limits, session_end).await;
            drop(slot);
        }))
}
