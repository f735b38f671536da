//! The WebSocket protocol at `/ws`: one JSON object per text frame, tagged by `"type"`.
//! The server and the wasm client both compile these types, so they cannot drift.
//! docs/protocol.md describes every frame.
//!
//! A room is an ordered log of events (message posted, edited, deleted, reaction
//! changed, topic changed), each with the room's next `seq`. The server frames that
//! carry an event are [`ServerFrame::event_seq`]'s `Some`; the `timeline` module applies
//! them to a room's state.

use serde::{Deserialize, Serialize};

pub use crate::attachments::Attachment;

/// Longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 4_000;
/// Longest WebSocket frame or message the server accepts (close code 1009 beyond).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Messages whose events are replayed on a `join` without `since`.
pub const RECENT_ON_JOIN: usize = 50;
/// Longest `client_id`; a UUID is 36.
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Most distinct emoji on one message.
pub const MAX_REACTIONS_PER_MESSAGE: usize = 20;
/// Characters of the parent shown above a reply.
pub const EXCERPT_CHARS: usize = 120;

/// Client → server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Subscribe to a room: replays every event with `seq > since` (or the events from
    /// the recent messages on, without `since`), then live traffic.
    Join {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<i64>,
    },
    Leave {
        room: String,
    },
    /// Post a message, optionally answering the message `reply_to` (its seq).
    /// `client_id` (a UUID) makes retries safe: the same id always yields the same
    /// `ack` and one stored event; so for every mutating frame below.
    Send {
        room: String,
        client_id: String,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i64>,
        /// Ids of the sender's uploads to attach (the body may then be empty).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<String>,
    },
    /// Replace the body of one's own message `target`.
    Edit {
        room: String,
        target: i64,
        body: String,
        client_id: String,
    },
    /// Delete one's own message `target`: its body is erased from the database.
    Delete {
        room: String,
        target: i64,
        client_id: String,
    },
    /// Add (`on: true`) or remove one's reaction `emoji` on message `target`.
    React {
        room: String,
        target: i64,
        emoji: String,
        on: bool,
        client_id: String,
    },
    Typing {
        room: String,
    },
    // A struct variant, so that unknown fields are refused here too.
    Ping {},
}

/// A change to a room as a client asks for it; each accepted one becomes one event in
/// the room's log. The WebSocket frames and the server functions both produce these,
/// and the server has one path that stores them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A message; `files` are upload ids of the actor's, claimed by it.
    Post {
        body: String,
        reply_to: Option<i64>,
        files: Vec<String>,
    },
    Edit {
        target: i64,
        body: String,
    },
    Delete {
        target: i64,
    },
    React {
        target: i64,
        emoji: String,
        on: bool,
    },
    Topic {
        topic: String,
    },
    /// The actor joins a public room (`member` … `joined`).
    Join,
    /// The actor leaves the room (`left`).
    Leave,
    /// Owners and moderators add `user` to the room (`invited`).
    Invite {
        user: String,
    },
    /// Owners and moderators take `user` out of the room (`removed`).
    Remove {
        user: String,
    },
    /// The owner makes `user` a moderator or a plain member again (`role_changed`).
    SetRole {
        user: String,
        role: Role,
    },
    /// Owners and moderators make the room read-only for good (`archived`).
    Archive,
}

/// A member's standing in a room. The owner is the room's creator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Moderator,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Moderator => "moderator",
            Role::Owner => "owner",
        }
    }

    pub fn parse(role: &str) -> Option<Role> {
        [Role::Member, Role::Moderator, Role::Owner]
            .into_iter()
            .find(|r| r.as_str() == role)
    }

    /// Owners and moderators manage the room: topic, members, others' messages.
    pub fn manages(self) -> bool {
        self >= Role::Moderator
    }
}

/// What a `member` event says happened to its `user`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberChange {
    Joined,
    Left,
    Invited,
    Removed,
    RoleChanged,
}

impl ClientFrame {
    /// The room, `client_id` and change of a mutating frame; the others come back as they are.
    pub fn into_change(self) -> Result<(String, String, Change), ClientFrame> {
        Ok(match self {
            ClientFrame::Send {
                room,
                client_id,
                body,
                reply_to,
                files,
            } => (
                room,
                client_id,
                Change::Post {
                    body,
                    reply_to,
                    files,
                },
            ),
            ClientFrame::Edit {
                room,
                target,
                body,
                client_id,
            } => (room, client_id, Change::Edit { target, body }),
            ClientFrame::Delete {
                room,
                target,
                client_id,
            } => (room, client_id, Change::Delete { target }),
            ClientFrame::React {
                room,
                target,
                emoji,
                on,
                client_id,
            } => (room, client_id, Change::React { target, emoji, on }),
            other => return Err(other),
        })
    }
}

/// The message a reply answers, as shown above the reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyPreview {
    pub author: String,
    /// The start of the parent's text ([`excerpt`]); `None` once it was deleted.
    pub excerpt: Option<String>,
}

/// A posted message (the `message` frame), live or replayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub room: String,
    pub seq: i64,
    pub author: String,
    /// The body; in a replay it is the current one, and `null` for a message deleted
    /// since (its `deleted` event follows in the same replay).
    pub body: Option<String>,
    /// RFC 3339, UTC, milliseconds: `2026-11-25T21:55:40.123Z`.
    pub sent_at: String,
    pub client_id: String,
    /// The seq of the message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
    /// That message's author and text, so a client can show it without having it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ReplyPreview>,
    /// The message notifies every member (`@room`, from someone allowed to).
    #[serde(default, skip_serializing_if = "is_false")]
    pub room_mention: bool,
    /// Its files, in the order attached; empty once the message is deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<Attachment>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A message as it now stands: what `history` returns and what a client's
/// `Timeline` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub seq: i64,
    pub author: String,
    /// `None` once deleted: the body is erased, not hidden.
    pub body: Option<String>,
    pub deleted: bool,
    pub sent_at: String,
    /// When the body was last changed; `None` if never (or deleted).
    pub edited_at: Option<String>,
    pub client_id: String,
    pub reply_to: Option<i64>,
    pub parent: Option<ReplyPreview>,
    /// In emoji order (by code point), each with its users in alphabetical order, so
    /// that every client lists them alike however the changes arrived.
    pub reactions: Vec<Reaction>,
    /// Its files, in the order attached; empty once deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<Attachment>,
}

/// One emoji on a message and who put it there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub users: Vec<String>,
}

/// `edited`: message `target` has a new body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edited {
    pub room: String,
    pub seq: i64,
    pub target: i64,
    /// The new body; in a replay the current one (`null` if deleted since).
    pub body: Option<String>,
    pub edited_at: String,
}

/// `deleted`: message `target` is gone; only its tombstone remains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub room: String,
    pub seq: i64,
    pub target: i64,
}

/// `reaction`: `user` added (`on`) or removed `emoji` on message `target`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reacted {
    pub room: String,
    pub seq: i64,
    pub target: i64,
    pub emoji: String,
    pub user: String,
    pub on: bool,
}

/// `topic`: the room's topic changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSet {
    pub room: String,
    pub seq: i64,
    pub topic: String,
    pub by: String,
}

/// `member`: `user` joined, left, was invited, removed, or given `role`, by `by`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEvent {
    pub room: String,
    pub seq: i64,
    pub user: String,
    pub change: MemberChange,
    pub by: String,
    /// The role given, for `role_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// `archived`: the room is read-only from this event on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedRoom {
    pub room: String,
    pub seq: i64,
    pub by: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloUser {
    pub id: i64,
    pub username: String,
}

/// Server → client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Hello {
        user: HelloUser,
    },
    Joined {
        room: String,
        last_seq: i64,
        online: Vec<String>,
    },
    Message(ChatMessage),
    Edited(Edited),
    Deleted(Deleted),
    Reaction(Reacted),
    Topic(TopicSet),
    Member(MemberEvent),
    Archived(ArchivedRoom),
    /// To every connection of one user: its read position in `room` moved to `seq`
    /// (from this or another tab or device); `unread` and `mentions` are the counts
    /// after it, as of the room's `last_seq`.
    Read {
        room: String,
        seq: i64,
        unread: i64,
        mentions: i64,
        last_seq: i64,
    },
    /// To every connection of one user: the rooms it belongs to changed (invited,
    /// removed, a new conversation, a role): read `list_rooms` again.
    RoomsChanged {},
    /// A mutating frame was stored as event `seq` (or had been: a retry).
    Ack {
        room: String,
        client_id: String,
        seq: i64,
    },
    Presence {
        room: String,
        user: String,
        online: bool,
    },
    Typing {
        room: String,
        user: String,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    Pong,
}

/// Why a frame was refused. The connection stays open for all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not one of the client frames.
    BadFrame,
    /// A body that is empty, whitespace only, or too long; a bad `client_id`, emoji or
    /// topic; a 21st distinct emoji on a message.
    InvalidMessage,
    /// The room does not exist, or the user may not use it.
    UnknownRoom,
    /// The target message does not exist in the room, or was deleted.
    UnknownMessage,
    /// Not allowed: someone else's message, a room one does not manage, an archived room.
    Forbidden,
    /// Typing in a room the connection has not joined.
    NotJoined,
    RateLimited,
    /// The server could not store the change; retrying with the same `client_id` is safe.
    Internal,
}

impl ErrorCode {
    /// The code as it is written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::UnknownRoom => "unknown_room",
            ErrorCode::UnknownMessage => "unknown_message",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
        }
    }
}

impl ServerFrame {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
            client_id: None,
            room: None,
        }
    }

    /// The room and seq of a frame that is an event of a room's log.
    pub fn event_seq(&self) -> Option<(&str, i64)> {
        match self {
            ServerFrame::Message(m) => Some((&m.room, m.seq)),
            ServerFrame::Edited(e) => Some((&e.room, e.seq)),
            ServerFrame::Deleted(d) => Some((&d.room, d.seq)),
            ServerFrame::Reaction(r) => Some((&r.room, r.seq)),
            ServerFrame::Topic(t) => Some((&t.room, t.seq)),
            ServerFrame::Member(m) => Some((&m.room, m.seq)),
            ServerFrame::Archived(a) => Some((&a.room, a.seq)),
            _ => None,
        }
    }
}

/// Checks a body and returns it with trailing whitespace trimmed (leading spaces may be
/// indentation and are kept).
pub fn check_body(body: &str) -> Result<&str, String> {
    let body = body.trim_end();
    if body.trim_start().is_empty() {
        return Err("A message cannot be empty.".into());
    }
    let chars = body.chars().count();
    if chars > MAX_BODY_CHARS {
        return Err(format!(
            "A message is at most {MAX_BODY_CHARS} characters long (this one has {chars})."
        ));
    }
    Ok(body)
}

/// Checks a `client_id` and returns its stored form: lower-case, as UUIDs are
/// case-insensitive (`ABC-1` and `abc-1` are the same message).
pub fn normalize_client_id(client_id: &str) -> Result<String, String> {
    let ok = !client_id.is_empty()
        && client_id.len() <= MAX_CLIENT_ID_CHARS
        && client_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(client_id.to_ascii_lowercase())
    } else {
        Err(format!(
            "client_id must be 1 to {MAX_CLIENT_ID_CHARS} of A-Z a-z 0-9 - _ (a UUID is ideal)."
        ))
    }
}

/// Checks that `emoji` is exactly one emoji and returns its canonical (fully
/// qualified) form, so that 👍 typed with or without its variation selector is one
/// reaction.
#[cfg(feature = "ssr")]
pub fn normalize_emoji(emoji: &str) -> Result<String, String> {
    emojis::get(emoji.trim())
        .map(|found| found.as_str().to_string())
        .ok_or_else(|| "A reaction is a single emoji.".to_string())
}

/// The start of a message as shown above a reply to it: the first
/// [`EXCERPT_CHARS`] characters, on one line. Depends only on that many characters
/// plus one, so the server may read just those.
pub fn excerpt(body: &str) -> String {
    let mut chars = body.chars();
    let mut out: String = chars
        .by_ref()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_match_the_documented_json() {
        let join: ClientFrame =
            serde_json::from_str(r#"{"type":"join","room":"general","since":41}"#).unwrap();
        assert_eq!(
            join,
            ClientFrame::Join {
                room: "general".into(),
                since: Some(41)
            }
        );
        let join: ClientFrame =
            serde_json::from_str(r#"{"type":"join","room":"general"}"#).unwrap();
        assert_eq!(
            join,
            ClientFrame::Join {
                room: "general".into(),
                since: None
            }
        );
        let send: ClientFrame = serde_json::from_str(
            r#"{"type":"send","room":"general","client_id":"abc","body":"hello"}"#,
        )
        .unwrap();
        assert!(matches!(send, ClientFrame::Send { reply_to: None, .. }));
        let attaching: ClientFrame = serde_json::from_str(
            r#"{"type":"send","room":"general","client_id":"abc","body":"","files":["0123456789abcdef0123456789abcdef"]}"#,
        )
        .unwrap();
        assert!(matches!(attaching, ClientFrame::Send { ref files, .. } if files.len() == 1));
        let reply: ClientFrame = serde_json::from_str(
            r#"{"type":"send","room":"general","client_id":"abc","body":"yes","reply_to":41}"#,
        )
        .unwrap();
        assert!(matches!(
            reply,
            ClientFrame::Send {
                reply_to: Some(41),
                ..
            }
        ));
        assert_eq!(
            serde_json::from_str::<ClientFrame>(r#"{"type":"ping"}"#).unwrap(),
            ClientFrame::Ping {}
        );
    }

    #[test]
    fn mutating_frames_match_the_documented_json() {
        let cases = [
            (
                r#"{"type":"edit","room":"general","target":58,"body":"fixed","client_id":"c1"}"#,
                Change::Edit {
                    target: 58,
                    body: "fixed".into(),
                },
            ),
            (
                r#"{"type":"delete","room":"general","target":58,"client_id":"c1"}"#,
                Change::Delete { target: 58 },
            ),
            (
                r#"{"type":"react","room":"general","target":58,"emoji":"👍","on":false,"client_id":"c1"}"#,
                Change::React {
                    target: 58,
                    emoji: "👍".into(),
                    on: false,
                },
            ),
        ];
        for (json, change) in cases {
            let frame: ClientFrame = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&frame).unwrap(), json);
            assert_eq!(
                frame.into_change().unwrap(),
                ("general".into(), "c1".into(), change)
            );
        }
        assert!(ClientFrame::Ping {}.into_change().is_err());
    }

    #[test]
    fn unknown_types_and_fields_are_refused() {
        assert!(
            serde_json::from_str::<ClientFrame>(r#"{"type":"shout","room":"general"}"#).is_err()
        );
        assert!(serde_json::from_str::<ClientFrame>(r#"{"room":"general"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"leave"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"ping","extra":1}"#).is_err());
        // A mutating frame without its client_id, or with a target that is not a seq.
        assert!(serde_json::from_str::<ClientFrame>(
            r#"{"type":"delete","room":"general","target":5}"#
        )
        .is_err());
        assert!(serde_json::from_str::<ClientFrame>(
            r#"{"type":"delete","room":"general","target":"5","client_id":"c"}"#
        )
        .is_err());
    }

    #[test]
    fn server_frames_serialise_as_documented() {
        let message = ServerFrame::Message(ChatMessage {
            room: "general".into(),
            seq: 58,
            author: "bob".into(),
            body: Some("hi".into()),
            sent_at: "2026-11-25T21:55:40.123Z".into(),
            client_id: "c1".into(),
            reply_to: None,
            parent: None,
            room_mention: false,
            files: vec![],
        });
        assert_eq!(
            serde_json::to_string(&message).unwrap(),
            r#"{"type":"message","room":"general","seq":58,"author":"bob","body":"hi","sent_at":"2026-11-25T21:55:40.123Z","client_id":"c1"}"#
        );
        let reply = ServerFrame::Message(ChatMessage {
            room: "general".into(),
            seq: 59,
            author: "alice".into(),
            body: Some("yes".into()),
            sent_at: "2026-11-25T21:55:41.000Z".into(),
            client_id: "c2".into(),
            reply_to: Some(58),
            parent: Some(ReplyPreview {
                author: "bob".into(),
                excerpt: Some("hi".into()),
            }),
            room_mention: false,
            files: vec![],
        });
        assert_eq!(
            serde_json::to_string(&reply).unwrap(),
            r#"{"type":"message","room":"general","seq":59,"author":"alice","body":"yes","sent_at":"2026-11-25T21:55:41.000Z","client_id":"c2","reply_to":58,"parent":{"author":"bob","excerpt":"hi"}}"#
        );
        let with_files = ServerFrame::Message(ChatMessage {
            room: "general".into(),
            seq: 62,
            author: "bob".into(),
            body: Some(String::new()),
            sent_at: "2026-11-25T21:55:42.000Z".into(),
            client_id: "c3".into(),
            reply_to: None,
            parent: None,
            room_mention: false,
            files: vec![Attachment {
                id: "0123456789abcdef0123456789abcdef".into(),
                name: "chart.png".into(),
                size: 3533,
                content_type: "image/png".into(),
                width: Some(1200),
                height: Some(600),
            }],
        });
        assert_eq!(
            serde_json::to_string(&with_files).unwrap(),
            r#"{"type":"message","room":"general","seq":62,"author":"bob","body":"","sent_at":"2026-11-25T21:55:42.000Z","client_id":"c3","files":[{"id":"0123456789abcdef0123456789abcdef","name":"chart.png","size":3533,"content_type":"image/png","width":1200,"height":600}]}"#
        );
        let events = [
            (
                ServerFrame::Edited(Edited {
                    room: "general".into(),
                    seq: 60,
                    target: 58,
                    body: Some("hi!".into()),
                    edited_at: "2026-11-25T21:56:00.000Z".into(),
                }),
                r#"{"type":"edited","room":"general","seq":60,"target":58,"body":"hi!","edited_at":"2026-11-25T21:56:00.000Z"}"#,
            ),
            (
                ServerFrame::Deleted(Deleted {
                    room: "general".into(),
                    seq: 61,
                    target: 58,
                }),
                r#"{"type":"deleted","room":"general","seq":61,"target":58}"#,
            ),
            (
                ServerFrame::Reaction(Reacted {
                    room: "general".into(),
                    seq: 62,
                    target: 59,
                    emoji: "🎉".into(),
                    user: "bob".into(),
                    on: true,
                }),
                r#"{"type":"reaction","room":"general","seq":62,"target":59,"emoji":"🎉","user":"bob","on":true}"#,
            ),
            (
                ServerFrame::Topic(TopicSet {
                    room: "general".into(),
                    seq: 63,
                    topic: "Ship it".into(),
                    by: "alice".into(),
                }),
                r#"{"type":"topic","room":"general","seq":63,"topic":"Ship it","by":"alice"}"#,
            ),
        ];
        for (frame, json) in events {
            assert_eq!(serde_json::to_string(&frame).unwrap(), json);
            assert_eq!(serde_json::from_str::<ServerFrame>(json).unwrap(), frame);
            assert_eq!(frame.event_seq().map(|(room, _)| room), Some("general"));
        }
        let error = ServerFrame::Error {
            code: ErrorCode::UnknownMessage,
            message: "gone".into(),
            client_id: Some("c1".into()),
            room: None,
        };
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"type":"error","code":"unknown_message","message":"gone","client_id":"c1"}"#
        );
        assert_eq!(
            serde_json::to_string(&ServerFrame::Pong).unwrap(),
            r#"{"type":"pong"}"#
        );
        assert_eq!(ServerFrame::Pong.event_seq(), None);
    }

    #[test]
    fn bodies_must_have_content_and_fit() {
        assert!(check_body("").is_err());
        assert!(check_body(" \n\t ").is_err());
        assert_eq!(check_body("  indented\n").unwrap(), "  indented");
        assert!(check_body(&"é".repeat(MAX_BODY_CHARS)).is_ok());
        assert!(check_body(&"é".repeat(MAX_BODY_CHARS + 1)).is_err());
        assert!(check_body("😀 astral").is_ok());
    }

    #[test]
    fn client_ids_are_short_case_insensitive_tokens() {
        assert_eq!(
            normalize_client_id("6F1C2D1E-8a7b-4c3d-9e0f-112233445566").unwrap(),
            "6f1c2d1e-8a7b-4c3d-9e0f-112233445566"
        );
        assert!(normalize_client_id("").is_err());
        assert!(normalize_client_id(&"a".repeat(65)).is_err());
        assert!(normalize_client_id("has space").is_err());
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn a_reaction_is_exactly_one_emoji_in_its_canonical_form() {
        assert_eq!(normalize_emoji("👍").unwrap(), "👍");
        assert_eq!(normalize_emoji("👍🏽").unwrap(), "👍🏽");
        assert_eq!(normalize_emoji("👨‍👩‍👧").unwrap(), "👨‍👩‍👧");
        assert_eq!(normalize_emoji("🇫🇷").unwrap(), "🇫🇷");
        // With and without the variation selector: the same reaction.
        assert_eq!(
            normalize_emoji("\u{2764}").unwrap(),
            normalize_emoji("\u{2764}\u{fe0f}").unwrap()
        );
        for bad in ["", "a", "👍👍", "👍 x", ":+1:", "<b>", &"👍".repeat(50)] {
            assert!(normalize_emoji(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn excerpts_are_one_line_and_bounded() {
        assert_eq!(excerpt("hi\nthere"), "hi there");
        let long = "x".repeat(EXCERPT_CHARS + 5);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        // Reading one character past the limit decides it, as the server does.
        let prefix: String = long.chars().take(EXCERPT_CHARS + 1).collect();
        assert_eq!(excerpt(&prefix), cut);
        assert_eq!(
            excerpt(&"y".repeat(EXCERPT_CHARS)),
            "y".repeat(EXCERPT_CHARS)
        );
    }

    #[test]
    fn error_codes_name_themselves_as_serde_does() {
        for code in [
            ErrorCode::BadFrame,
            ErrorCode::InvalidMessage,
            ErrorCode::UnknownRoom,
            ErrorCode::UnknownMessage,
            ErrorCode::Forbidden,
            ErrorCode::NotJoined,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
