use async_trait::async_trait;

use super::{HistoryPage, RoomSummary};
use crate::{accounts::User, error::ApiError, protocol::ChatMessage};

/// What the room server functions need from the server: `server/` implements it.
#[async_trait]
pub trait RoomService: Send + Sync + 'static {
    async fn list_rooms(&self, user: &User) -> Result<Vec<RoomSummary>, ApiError>;
    /// `name` and `topic` already pass the rules.
    async fn create_room(
        &self,
        user: &User,
        name: &str,
        topic: &str,
    ) -> Result<RoomSummary, ApiError>;
    async fn history(
        &self,
        user: &User,
        room: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<HistoryPage, ApiError>;
    /// Stores a message exactly as a WebSocket `send` would; `body` already passes the rules.
    async fn post(
        &self,
        user: &User,
        room: &str,
        client_id: &str,
        body: &str,
    ) -> Result<ChatMessage, ApiError>;
}

pub fn services() -> Result<crate::accounts::ssr::Services, ApiError> {
    crate::accounts::ssr::services()
}
