//! The WebSocket protocol at `/ws`: one JSON object per text frame, tagged by `"type"`.
//! The server and the wasm client both compile these types, so they cannot drift.
//! docs/protocol.md describes every frame.

use serde::{Deserialize, Serialize};

/// Longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 4_000;
/// Longest WebSocket frame or message the server accepts (close code 1009 beyond).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Messages replayed on a `join` without `since`.
pub const RECENT_ON_JOIN: usize = 50;
/// Longest `client_id`; a UUID is 36.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// Client → server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Subscribe to a room: replays every message with `seq > since` (or the recent
    /// history without `since`), then live traffic.
    Join {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<i64>,
    },
    Leave {
        room: String,
    },
    /// Post a message. `client_id` (a UUID) makes retries safe: the same id always
    /// yields the same `ack` and one stored message.
    Send {
        room: String,
        client_id: String,
        body: String,
    },
    Typing {
        room: String,
    },
    // A struct variant, so that unknown fields are refused here too.
    Ping {},
}

/// A stored chat message, as every client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub room: String,
    pub seq: i64,
    pub author: String,
    pub body: String,
    /// RFC 3339, UTC, milliseconds: `2026-11-25T21:55:40.123Z`.
    pub sent_at: String,
    pub client_id: String,
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
    /// A body that is empty, whitespace only, or too long; a bad `client_id`.
    InvalidMessage,
    /// The room does not exist, or the user may not use it.
    UnknownRoom,
    /// Sending to a room the connection has not joined.
    NotJoined,
    RateLimited,
    /// The server could not store the message; retrying with the same `client_id` is safe.
    Internal,
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
        assert!(matches!(send, ClientFrame::Send { .. }));
        assert_eq!(
            serde_json::from_str::<ClientFrame>(r#"{"type":"ping"}"#).unwrap(),
            ClientFrame::Ping {}
        );
    }

    #[test]
    fn unknown_types_and_fields_are_refused() {
        assert!(
            serde_json::from_str::<ClientFrame>(r#"{"type":"shout","room":"general"}"#).is_err()
        );
        assert!(serde_json::from_str::<ClientFrame>(r#"{"room":"general"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"leave"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"ping","extra":1}"#).is_err());
    }

    #[test]
    fn server_frames_serialise_as_documented() {
        let message = ServerFrame::Message(ChatMessage {
            room: "general".into(),
            seq: 58,
            author: "bob".into(),
            body: "hi".into(),
            sent_at: "2026-11-25T21:55:40.123Z".into(),
            client_id: "c1".into(),
        });
        assert_eq!(
            serde_json::to_string(&message).unwrap(),
            r#"{"type":"message","room":"general","seq":58,"author":"bob","body":"hi","sent_at":"2026-11-25T21:55:40.123Z","client_id":"c1"}"#
        );
        let error = ServerFrame::Error {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            client_id: Some("c1".into()),
            room: None,
        };
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"type":"error","code":"rate_limited","message":"slow down","client_id":"c1"}"#
        );
        assert_eq!(
            serde_json::to_string(&ServerFrame::Pong).unwrap(),
            r#"{"type":"pong"}"#
        );
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
}
