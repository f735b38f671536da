//! The room server functions: thin, each hands its inputs to the server's chat API.

use leptos::prelude::*;

use crate::error::ApiError;
pub use crate::model::{FoundPage, HistoryPage, Member, ReadState, Receipt, RoomSummary};
#[cfg(feature = "ssr")]
use crate::protocol::{Change, Role};

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

/// Creates a room (1–32 of a-z 0-9 -, unique) and makes the caller its owner and first
/// member. A `private` room is invite only and invisible to everyone else.
#[server(endpoint = "create_room")]
pub async fn create_room(
    name: String,
    #[server(default)] topic: String,
    #[server(default)] private: Option<String>,
) -> Result<RoomSummary, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    // A checkbox posts "on"; scripts send true/false.
    let private = matches!(private.as_deref(), Some("true" | "on" | "1"));
    let room = services
        .rooms
        .create_room(&user, &name, &topic, private)
        .await?;
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
    // Upload ids (`POST /api/files`), comma-separated.
    #[server(default)] files: Option<String>,
) -> Result<Receipt, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    let change = crate::protocol::Change::Post {
        body,
        reply_to,
        files: files
            .iter()
            .flat_map(|ids| ids.split(','))
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .collect(),
    };
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
    change(room, client_id, Change::Topic { topic }).await
}

#[cfg(feature = "ssr")]
/// Stores a change the caller makes through a server function rather than the socket;
/// `client_id` (optional) makes a retry safe, as for the socket's frames.
async fn change(
    room: String,
    client_id: Option<String>,
    change: Change,
) -> Result<Receipt, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    let client_id = client_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    services
        .rooms
        .submit(&user, &room, &client_id, change)
        .await
}

/// Adds `username` to a room (owners and moderators): a `member` … `invited` event.
#[server(endpoint = "invite")]
pub async fn invite(
    room: String,
    username: String,
    #[server(default)] client_id: Option<String>,
) -> Result<Receipt, ApiError> {
    change(room, client_id, Change::Invite { user: username }).await
}

/// Takes `username` out of a room (owners and moderators; a moderator only by the owner).
#[server(endpoint = "remove_member")]
pub async fn remove_member(
    room: String,
    username: String,
    #[server(default)] client_id: Option<String>,
) -> Result<Receipt, ApiError> {
    change(room, client_id, Change::Remove { user: username }).await
}

/// Makes a member a moderator or a plain member again (the owner only).
#[server(endpoint = "set_role")]
pub async fn set_role(
    room: String,
    username: String,
    role: String,
    #[server(default)] client_id: Option<String>,
) -> Result<Receipt, ApiError> {
    let role = match Role::parse(&role) {
        Some(role @ (Role::Member | Role::Moderator)) => role,
        _ => return Err(ApiError::Invalid("role is member or moderator.".into())),
    };
    change(
        room,
        client_id,
        Change::SetRole {
            user: username,
            role,
        },
    )
    .await
}

/// Makes a room read-only for good (owners and moderators).
#[server(endpoint = "archive_room")]
pub async fn archive_room(
    room: String,
    #[server(default)] client_id: Option<String>,
) -> Result<Receipt, ApiError> {
    change(room, client_id, Change::Archive).await
}

/// Leaves a room (a direct conversation cannot be left).
#[server(endpoint = "leave_room")]
pub async fn leave_room(
    room: String,
    #[server(default)] client_id: Option<String>,
) -> Result<Receipt, ApiError> {
    change(room, client_id, Change::Leave).await
}

/// The conversation between the caller and `usernames` (comma-separated, 1 to 7
/// others), started on first use; the same people always get the same one.
#[server(endpoint = "open_dm")]
pub async fn open_dm(usernames: String) -> Result<RoomSummary, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    let names: Vec<String> = usernames.split(',').map(str::to_string).collect();
    let room = services.rooms.open_dm(&user, &names).await?;
    // A plain form post lands in the conversation; the hydrated app navigates itself.
    leptos_axum::redirect(&format!("/r/{}", room.name));
    Ok(room)
}

/// The members of a room with their roles.
#[server(endpoint = "room_members")]
pub async fn room_members(room: String) -> Result<Vec<Member>, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    services.rooms.members(&user, &room).await
}

/// Moves the caller's read position in `room` forward to `seq`; every tab and device
/// of the caller follows.
#[server(endpoint = "mark_read")]
pub async fn mark_read(room: String, seq: i64) -> Result<ReadState, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    services.rooms.mark_read(&user, &room, seq).await
}

/// Marks every room the caller is in as read.
#[server(endpoint = "mark_all_read")]
pub async fn mark_all_read() -> Result<Vec<ReadState>, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    services.rooms.mark_all_read(&user).await
}

/// Mutes (`muted` true) or unmutes a room for the caller: no notifications from it.
#[server(endpoint = "mute_room")]
pub async fn mute_room(room: String, muted: bool) -> Result<(), ApiError> {
    let (services, user) = crate::services::require_user().await?;
    services.rooms.set_muted(&user, &room, muted).await
}

/// Lets only the owner and moderators notify everyone with `@room` (or everyone again).
#[server(endpoint = "set_room_mentions")]
pub async fn set_room_mentions(room: String, moderators_only: bool) -> Result<(), ApiError> {
    let (services, user) = crate::services::require_user().await?;
    services
        .rooms
        .set_room_mentions(&user, &room, moderators_only)
        .await
}

/// Full-text search over every message the caller may read, newest first: words (each
/// matching a word or its start), `in:#room`, `from:@user`; `room` and `from` may also
/// be given apart. `before` is the `next` of the previous page.
#[server(endpoint = "search")]
pub async fn search(
    q: String,
    #[server(default)] room: Option<String>,
    #[server(default)] from: Option<String>,
    #[server(default)] before: Option<String>,
) -> Result<FoundPage, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    let mut q = q;
    if let Some(room) = room.filter(|r| !r.is_empty()) {
        q.push_str(&format!(" in:{room}"));
    }
    if let Some(from) = from.filter(|f| !f.is_empty()) {
        q.push_str(&format!(" from:{from}"));
    }
    services.rooms.search(&user, &q, before.as_deref()).await
}

/// The messages that mention the caller (by name or `@room`), newest first.
#[server(endpoint = "mentions")]
pub async fn mentions(#[server(default)] before: Option<String>) -> Result<FoundPage, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    services.rooms.mentions(&user, before.as_deref()).await
}

/// Up to ten usernames starting with `prefix` (for @-completion and the new message
/// dialog).
#[server(endpoint = "find_users")]
pub async fn find_users(prefix: String) -> Result<Vec<String>, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    services.rooms.find_users(&user, &prefix).await
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
