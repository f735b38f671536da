//! What the tests of the live connection share.

use leptos::prelude::*;

use super::Live;
use crate::protocol::ChatMessage;

/// A tab's `Live`, with the owner its signals belong to (keep it for the test's length).
pub fn tab() -> (Owner, Live) {
    let owner = Owner::new();
    owner.set();
    let live = Live::provide();
    (owner, live)
}

/// Message `seq` of room "r".
pub fn message(seq: i64, author: &str, body: &str) -> ChatMessage {
    ChatMessage {
        room: "r".into(),
        seq,
        author: author.into(),
        body: Some(body.into()),
        sent_at: "2026-11-26T10:00:00.000Z".into(),
        client_id: format!("c{seq}"),
        reply_to: None,
        parent: None,
        room_mention: false,
        files: Vec::new(),
    }
}
