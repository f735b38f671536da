//! What nodes tell each other over Redis pub/sub: that events were stored (with their
//! frames, so that no node must read them back while pub/sub works), that a room's
//! presence changed, that someone is typing. A notice is only ever a hint: the database
//! holds every event, and presence lives in Redis sorted sets that each node re-reads.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The pub/sub channel of the cluster called `namespace`: every node of it publishes
/// and subscribes there.
pub fn channel(namespace: &str) -> String {
    format!("{namespace}:notices")
}

/// One stored event as a notice carries it: the room (its id, checked against the
/// receiver's, and its name), the seq, the frame members receive, verbatim, and whose
/// membership it ends, so that no node must decode the frame to know.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stored {
    pub room_id: i64,
    pub room: String,
    pub seq: i64,
    pub frame: Box<RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends: Option<String>,
}

/// Externally tagged (`{"events": {…}}`): serde cannot read a raw frame inside an
/// internally tagged enum, which it buffers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// Events one batch stored, in commit order.
    Events { node: String, events: Vec<Stored> },
    /// The presence set of `room` changed: re-read it.
    Presence { node: String, room: String },
    /// `user` is typing in `room`.
    Typing {
        node: String,
        room: String,
        user: String,
    },
    /// The session whose token has this digest (hex) ended: close its sockets.
    SessionEnded { node: String, session: String },
    /// A frame for every connection of `user`.
    User {
        node: String,
        user: String,
        frame: Box<RawValue>,
    },
}

impl Notice {
    /// The node (name and incarnation) that sent it.
    pub fn node(&self) -> &str {
        match self {
            Notice::Events { node, .. }
            | Notice::Presence { node, .. }
            | Notice::Typing { node, .. }
            | Notice::SessionEnded { node, .. }
            | Notice::User { node, .. } => node,
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("notices always serialise")
    }

    pub fn decode(payload: &[u8]) -> Result<Notice, serde_json::Error> {
        serde_json::from_slice(payload)
    }
}

/// A session digest as a notice carries it.
pub fn session_to_hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digest a notice names; `None` for anything else.
pub fn session_from_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

impl Stored {
    /// `frame` is an encoded server frame, so valid JSON.
    pub fn new(room_id: i64, room: &str, seq: i64, frame: &str, ends: Option<&str>) -> Stored {
        Stored {
            room_id,
            room: room.to_string(),
            seq,
            frame: RawValue::from_string(frame.to_string()).expect("frames are JSON"),
            ends: ends.map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_frames_verbatim() {
        let frame = r#"{"type":"message","room":"general","seq":3,"body":"hé 🦀"}"#;
        let notice = Notice::Events {
            node: "n1#ab".into(),
            events: vec![
                Stored::new(1, "general", 3, frame, None),
                Stored::new(1, "general", 4, r#"{"type":"member"}"#, Some("bob")),
            ],
        };
        let wire = notice.encode();
        let Notice::Events { node, events } = Notice::decode(wire.as_bytes()).unwrap() else {
            panic!("{wire}");
        };
        assert_eq!(node, "n1#ab");
        assert_eq!((events[0].room_id, events[0].room.as_str()), (1, "general"));
        assert_eq!(events[0].seq, 3);
        assert_eq!(events[0].frame.get(), frame);
        assert_eq!(events[0].ends, None);
        assert!(!wire.contains("\"ends\":null"), "absent, not null: {wire}");
        assert_eq!(events[1].ends.as_deref(), Some("bob"));
    }

    #[test]
    fn other_kinds_round_trip_and_garbage_is_refused() {
        let typing = Notice::Typing {
            node: "n2#cd".into(),
            room: "general".into(),
            user: "bob".into(),
        };
        let back = Notice::decode(typing.encode().as_bytes()).unwrap();
        assert_eq!(back.node(), "n2#cd");
        assert!(matches!(back, Notice::Typing { ref user, .. } if user == "bob"));
        assert!(Notice::decode(br#"{"nonsense":{"node":"n"}}"#).is_err());
        assert!(Notice::decode(b"\xff").is_err());
    }

    #[test]
    fn session_digests_go_through_hex_and_nothing_else_does() {
        let digest: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        let hex = session_to_hex(&digest);
        assert_eq!(hex.len(), 64);
        assert_eq!(session_from_hex(&hex), Some(digest));
        assert_eq!(session_from_hex("zz"), None);
        assert_eq!(session_from_hex(&"g".repeat(64)), None);
        assert_eq!(session_from_hex(&"é".repeat(32)), None);
    }
}
