use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{error::ApiError, protocol::ChatMessage};

/// Room name and topic rules.
pub mod rules;
/// The port the server implements for rooms and history.
#[cfg(feature = "ssr")]
pub mod ssr;

/// Most messages one `history` call returns.
pub const HISTORY_MAX: u32 = 100;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub name: String,
    pub topic: String,
    pub last_seq: i64,
    pub members: i64,
}

/// A page of a room's history, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub messages: Vec<ChatMessage>,
    /// Whether older messages exist before the first one here.
    pub has_more: bool,
}

/// Every room, by name, with its last seq and member count.
#[server(endpoint = "list_rooms")]
pub async fn list_rooms() -> Result<Vec<RoomSummary>, ApiError> {
    let user = crate::accounts::ssr::require_user().await?;
    ssr::services()?.rooms.list_rooms(&user).await
}

/// Creates a room (1–32 of a-z 0-9 -, unique) and makes the caller its first member.
#[server(endpoint = "create_room")]
pub async fn create_room(
    name: String,
    #[server(default)] topic: String,
) -> Result<RoomSummary, ApiError> {
    let user = crate::accounts::ssr::require_user().await?;
    let name = rules::normalize_room_name(&name).map_err(ApiError::Invalid)?;
    let topic = rules::check_topic(&topic).map_err(ApiError::Invalid)?;
    let room = ssr::services()?
        .rooms
        .create_room(&user, &name, &topic)
        .await?;
    // A plain form post lands in the new room; the hydrated app navigates itself.
    leptos_axum::redirect(&format!("/r/{}", room.name));
    Ok(room)
}

/// Up to `limit` (≤ 100, default 50) messages before seq `before` (or the newest),
/// oldest first.
#[server(endpoint = "history")]
pub async fn history(
    room: String,
    #[server(default)] before: Option<i64>,
    #[server(default)] limit: Option<u32>,
) -> Result<HistoryPage, ApiError> {
    let user = crate::accounts::ssr::require_user().await?;
    let limit = limit.unwrap_or(crate::protocol::RECENT_ON_JOIN as u32);
    if limit == 0 || limit > HISTORY_MAX {
        return Err(ApiError::Invalid(format!("limit is 1 to {HISTORY_MAX}.")));
    }
    ssr::services()?
        .rooms
        .history(&user, &room, before, limit)
        .await
}

/// Posts a message without the WebSocket (the composer's form when JavaScript is off,
/// or a script). Same rules and idempotency as a `send` frame.
#[server(endpoint = "post_message")]
pub async fn post_message(
    room: String,
    client_id: String,
    body: String,
) -> Result<ChatMessage, ApiError> {
    let user = crate::accounts::ssr::require_user().await?;
    let client_id = crate::protocol::normalize_client_id(&client_id).map_err(ApiError::Invalid)?;
    let body = crate::protocol::check_body(&body).map_err(ApiError::Invalid)?;
    let message = ssr::services()?
        .rooms
        .post(&user, &room, &client_id, body)
        .await?;
    leptos_axum::redirect(&format!("/r/{}", message.room));
    Ok(message)
}
