//! Plain data that the server functions return and the pages and the server share:
//! users, rooms, history pages. A leaf: it depends on nothing else here but the
//! protocol's types, so every other module can use it without import circles.

use serde::{Deserialize, Serialize};

use crate::protocol::MessageView;

/// A person with an account, as everyone else may see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
}

/// What `register` and `login` return. The token also arrives as the session cookie;
/// scripts send it back as `Authorization: Bearer <token>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticated {
    pub user: User,
    pub token: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub name: String,
    pub topic: String,
    pub last_seq: i64,
    pub members: i64,
}

/// A page of a room's history: its messages as they now stand, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub messages: Vec<MessageView>,
    /// Whether older messages exist before the first one here.
    pub has_more: bool,
    /// The room's last seq when the page was read: a client that shows this page
    /// joins with `since` = this, and misses nothing that changed after.
    pub last_seq: i64,
}

/// A change stored as event `seq` of `room` (what a WebSocket `ack` says).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub room: String,
    pub seq: i64,
}
