//! What the room server functions need from the server: `server/` implements it with
//! the same chat API that the WebSocket uses, so a form post and a socket frame take
//! one path. Server-only.

use async_trait::async_trait;

use crate::{
    error::ApiError,
    model::{FoundPage, HistoryPage, Member, ReadState, Receipt, RoomSummary, User},
    protocol::Change,
};

#[async_trait]
pub trait RoomService: Send + Sync + 'static {
    /// Up to `limit` rooms `user` may see whose names sort after `after`, by name:
    /// every public room, and the private rooms and conversations `user` is in.
    async fn list_rooms(
        &self,
        user: &User,
        after: &str,
        limit: u32,
    ) -> Result<Vec<RoomSummary>, ApiError>;
    /// Checks `name` and `topic` against the rules, creates the room (invite only when
    /// `private`) and makes `user` its owner and first member.
    async fn create_room(
        &self,
        user: &User,
        name: &str,
        topic: &str,
        private: bool,
    ) -> Result<RoomSummary, ApiError>;
    /// The conversation between `user` and the accounts `usernames` (1 to 7 others),
    /// made on first use; the same people always get the same one.
    async fn open_dm(&self, user: &User, usernames: &[String]) -> Result<RoomSummary, ApiError>;
    /// The members of a room `user` may see, with their roles.
    async fn members(&self, user: &User, room: &str) -> Result<Vec<Member>, ApiError>;
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
    /// Moves `user`'s read position in `room` forward to `seq` and tells its other
    /// connections.
    async fn mark_read(&self, user: &User, room: &str, seq: i64) -> Result<ReadState, ApiError>;
    /// Marks every room `user` is in as read.
    async fn mark_all_read(&self, user: &User) -> Result<Vec<ReadState>, ApiError>;
    /// Mutes (no notifications, not counted in the title) or unmutes a room.
    async fn set_muted(&self, user: &User, room: &str, muted: bool) -> Result<(), ApiError>;
    /// Lets only moderators and the owner notify everyone with `@room`, or everyone.
    async fn set_room_mentions(
        &self,
        user: &User,
        room: &str,
        moderators_only: bool,
    ) -> Result<(), ApiError>;
    /// Messages `user` may read matching `q` (words, `in:#room`, `from:@user`),
    /// newest first, before the cursor `before`.
    async fn search(
        &self,
        user: &User,
        q: &str,
        before: Option<&str>,
    ) -> Result<FoundPage, ApiError>;
    /// The messages that mention `user`, newest first.
    async fn mentions(&self, user: &User, before: Option<&str>) -> Result<FoundPage, ApiError>;
    /// Usernames starting with `prefix`, for completion.
    async fn find_users(&self, user: &User, prefix: &str) -> Result<Vec<String>, ApiError>;
}
