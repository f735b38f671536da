//! What the person sends from the views. A message, an edit, a deletion or a reaction
//! shows at once, kept pending in its room until the server's answer puts it in the
//! timeline, and goes to the outbox; without a connection it stays pending until the
//! next one. A typing notice is sent and forgotten.

use leptos::prelude::*;

use super::{
    browser_ms,
    outbox::{new_client_id, typing_due, PendingMessage, PendingOp, SendState},
    Live,
};
use crate::protocol::{Attachment, ClientFrame};

impl Live {
    /// Posts `body` (answering `reply_to`) with the uploaded `files`; it shows at once
    /// as pending and turns normal when the server echoes it.
    pub fn post(&self, room: &str, body: String, reply_to: Option<i64>, files: Vec<Attachment>) {
        let pending = PendingMessage {
            client_id: new_client_id(),
            body,
            reply_to,
            files,
            state: SendState::Sending,
        };
        let frame = pending.frame(room);
        self.room(room).pending.update(|list| list.push(pending));
        self.outbox.send(&frame);
    }

    /// Sends a failed message again under its original `client_id`.
    pub fn retry(&self, room: &str, client_id: &str) {
        let mut frame = None;
        self.room(room).pending.update(|pending| {
            if let Some(p) = pending.iter_mut().find(|p| p.client_id == client_id) {
                p.state = SendState::Sending;
                frame = Some(p.frame(room));
            }
        });
        if let Some(frame) = frame {
            self.outbox.send(&frame);
        }
    }

    /// Sends an edit, deletion or reaction about message `target` under a new
    /// `client_id`, keeping it (to resend after a reconnect) until the timeline has it.
    fn change(&self, room: &str, target: i64, frame: impl FnOnce(String) -> ClientFrame) {
        let client_id = new_client_id();
        let frame = frame(client_id.clone());
        self.room(room).ops.update(|ops| {
            ops.push(PendingOp {
                client_id,
                target,
                frame: frame.clone(),
                acked: None,
            })
        });
        self.outbox.send(&frame);
    }

    /// Replaces the body of one's own message `target`.
    pub fn edit(&self, room: &str, target: i64, body: String) {
        self.change(room, target, |client_id| ClientFrame::Edit {
            room: room.to_string(),
            target,
            body,
            client_id,
        });
    }

    /// Deletes one's own message `target`.
    pub fn delete(&self, room: &str, target: i64) {
        self.change(room, target, |client_id| ClientFrame::Delete {
            room: room.to_string(),
            target,
            client_id,
        });
    }

    /// Adds (`on`) or removes one's `emoji` on message `target`.
    pub fn react(&self, room: &str, target: i64, emoji: String, on: bool) {
        self.change(room, target, |client_id| ClientFrame::React {
            room: room.to_string(),
            target,
            emoji,
            on,
            client_id,
        });
    }

    /// Tells the room we are typing, at most every two seconds.
    pub fn typing(&self, room: &str) {
        let state = self.room(room);
        let now = browser_ms();
        if typing_due(state.last_typing_sent.get_value(), now) {
            state.last_typing_sent.set_value(now);
            self.outbox.send(&ClientFrame::Typing {
                room: room.to_string(),
            });
        }
    }
}
