//! The room server functions: thin, each hands its inputs to the server's chat API.

use leptos::prelude::*;

use crate::error::ApiError;
pub use crate::model::{HistoryPage, Receipt, RoomSummary};

/// What the server implements for rooms and history.
#[cfg(feature = "ssr")]
pub mod port;
/// Room name and topic rules.
pub mod rules;

/// Most messages one `history` call returns.
pub const HISTORY_MAX: u32 = 100;

/// Most rooms one `list_rooms` call returns.
pub const ROOMS_MAX: u32 = 500;

/// Rooms by name with their last seq and member count: up to `limit` (≤ 500, default
/// 500) whose names come after `after`. A full page means there may be more: ask again
/// with `after` set to its last name.
#[server(endpoint = "list_rooms")]
pub async fn list_rooms(
    #[server(default)] after: Option<String>,
    #[server(default)] limit: Option<u32>,
) -> Result<Vec<RoomSummary>, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    let limit = limit.unwrap_or(ROOMS_MAX).clamp(1, ROOMS_MAX);
    services
        .rooms
        .list_rooms(&user, after.as_deref().unwrap_or(""), limit)
        .await
}

/// Creates a room (1–32 of a-z 0-9 -, unique) and makes the caller its first member.
#[server(endpoint = "create_room")]
pub async fn create_room(
    name: String,
    #[server(default)] topic: String,
) -> Result<RoomSummary, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    let room = services.rooms.create_room(&user, &name, &topic).await?;
    // A plain form post lands in the new room; the hydrated app navigates itself.
    leptos_axum::redirect(&format!("/r/{}", room.name));
    Ok(room)
}

/// Up to `limit` (≤ 100, default 50) messages before seq `before` (or the newest),
/// oldest first, as they now stand.
#[server(endpoint = "history")]
pub async fn history(
    room: String,
    #[server(default)] before: Option<i64>,
    #[server(default)] limit: Option<u32>,
) -> Result<HistoryPage, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    services.rooms.history(&user, &room, before, limit).await
}

/// Posts a message without the WebSocket (the composer's form when JavaScript is off,
/// or a script). Same rules and idempotency as a `send` frame.
#[server(endpoint = "post_message")]
pub async fn post_message(
    room: String,
    client_id: String,
    body: String,
    #[server(default)] reply_to: Option<i64>,
) -> Result<Receipt, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    let change = crate::protocol::Change::Post { body, reply_to };
    let receipt = services
        .rooms
        .submit(&user, &room, &client_id, change)
        .await?;
    leptos_axum::redirect(&format!("/r/{}", receipt.room));
    Ok(receipt)
}

/// Changes a room's topic: an event in its log, so every member sees it change.
/// `client_id` makes a retry safe; without one, each call is a new change.
#[server(endpoint = "set_topic")]
pub async fn set_topic(
    room: String,
    #[server(default)] topic: String,
    #[server(default)] client_id: Option<String>,
) -> Result<Receipt, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    let client_id = client_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let change = crate::protocol::Change::Topic { topic };
    services
        .rooms
        .submit(&user, &room, &client_id, change)
        .await
}

/// Replaces the body of one's own message `target` (the `edit` frame, over HTTP).
#[server(endpoint = "edit_message")]
pub async fn edit_message(
    room: String,
    target: i64,
    body: String,
    client_id: String,
) -> Result<Receipt, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    let change = crate::protocol::Change::Edit { target, body };
    services
        .rooms
        .submit(&user, &room, &client_id, change)
        .await
}

/// Deletes one's own message `target` (the `delete` frame, over HTTP).
#[server(endpoint = "delete_message")]
pub async fn delete_message(
    room: String,
    target: i64,
    client_id: String,
) -> Result<Receipt, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    let change = crate::protocol::Change::Delete { target };
    services
        .rooms
        .submit(&user, &room, &client_id, change)
        .await
}

/// Adds (`on`) or removes one's `emoji` on message `target` (the `react` frame, over
/// HTTP).
#[server(endpoint = "react")]
pub async fn react(
    room: String,
    target: i64,
    emoji: String,
    on: bool,
    client_id: String,
) -> Result<Receipt, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    let change = crate::protocol::Change::React { target, emoji, on };
    services
        .rooms
        .submit(&user, &room, &client_id, change)
        .await
}
