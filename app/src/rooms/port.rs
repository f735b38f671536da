//! What the room server functions need from the server: `server/` implements it with
//! the same chat API that the WebSocket uses, so a form post and a socket frame take
//! one path. Server-only.

use async_trait::async_trait;

use crate::{
    error::ApiError,
    model::{HistoryPage, Receipt, RoomSummary, User},
    protocol::Change,
};

#[async_trait]
pub trait RoomService: Send + Sync + 'static {
    /// Up to `limit` rooms whose names sort after `after`, by name.
    async fn list_rooms(
        &self,
        user: &User,
        after: &str,
        limit: u32,
    ) -> Result<Vec<RoomSummary>, ApiError>;
    /// Checks `name` and `topic` against the rules, creates the room and makes `user`
    /// its first member.
    async fn create_room(
        &self,
        user: &User,
        name: &str,
        topic: &str,
    ) -> Result<RoomSummary, ApiError>;
    /// Up to `limit` (1 to 100, default 50) messages before
    /// seq `before` (or the newest), as they now stand.
    async fn history(
        &self,
        user: &User,
        room: &str,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<HistoryPage, ApiError>;
    /// Checks and stores a change exactly as the WebSocket's mutating frames do.
    async fn submit(
        &self,
        user: &User,
        room: &str,
        client_id: &str,
        change: Change,
    ) -> Result<Receipt, ApiError>;
}
