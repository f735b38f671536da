//! Plain data that the server functions return and the pages and the server share:
//! users, rooms, history pages. A leaf: it depends on nothing else here but the
//! protocol's types, so every other module can use it without import circles.

use serde::{Deserialize, Serialize};

use crate::protocol::{MessageView, Role};

/// A person with an account, as everyone else may see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    /// A server admin: may ban accounts and make sign-up invitations.
    #[serde(default)]
    pub admin: bool,
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
    /// Invite only, and invisible to non-members.
    #[serde(default)]
    pub private: bool,
    /// A direct conversation (its name is `@` and a digest; show `people`).
    #[serde(default)]
    pub dm: bool,
    /// The caller's role; `None` when not a member.
    #[serde(default)]
    pub role: Option<Role>,
    /// Messages from others after `last_read_seq`, and those of them that mention the
    /// caller (by name or `@room`), as of `last_seq`.
    #[serde(default)]
    pub unread: i64,
    #[serde(default)]
    pub mentions: i64,
    #[serde(default)]
    pub last_read_seq: i64,
    #[serde(default)]
    pub muted: bool,
    /// Read-only.
    #[serde(default)]
    pub archived: bool,
    /// In a conversation, everyone else in it.
    #[serde(default)]
    pub people: Vec<String>,
    /// When the last message was posted (ms since the epoch; the creation time before
    /// any), to sort conversations by.
    #[serde(default)]
    pub last_activity: i64,
    /// Who may notify everyone with `@room`: members, or only moderators and the owner.
    #[serde(default)]
    pub mention_room_moderators: bool,
}

impl RoomSummary {
    /// Where the caller's reading of the room stands, as of this summary.
    pub fn read_state(&self) -> ReadState {
        ReadState {
            room: self.name.clone(),
            seq: self.last_read_seq,
            unread: self.unread,
            mentions: self.mentions,
            last_seq: self.last_seq,
        }
    }

    /// How the room is named on screen: `#name`, or a conversation's people.
    pub fn label(&self) -> String {
        if self.dm {
            if self.people.is_empty() {
                "Just you".to_string()
            } else {
                self.people.join(", ")
            }
        } else {
            format!("#{}", self.name)
        }
    }
}

/// A message found by `search`, or one that mentions the caller (`mentions`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    pub room: String,
    /// `#name`, or "Direct message".
    pub room_label: String,
    pub seq: i64,
    pub author: String,
    pub sent_at: String,
    /// The message, or the part of it around the first match (with `…` where cut).
    pub snippet: String,
    /// What to highlight: character ranges `[start, end)` in `snippet`.
    pub marks: Vec<(usize, usize)>,
}

/// A page of results, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundPage {
    pub hits: Vec<Found>,
    /// Pass as `before` for the next (older) page; `None` at the end.
    pub next: Option<String>,
}

/// A single-use sign-up invitation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub code: String,
    /// Where to send the person: `/register?invite=…`.
    pub path: String,
    pub expires_at: String,
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

/// A member of a room, as its member list shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub username: String,
    pub role: Role,
}

/// A read position and what is unread after it, as of the room's `last_seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadState {
    pub room: String,
    pub seq: i64,
    pub unread: i64,
    pub mentions: i64,
    pub last_seq: i64,
}
