//! What the person sends from the views. A message, an edit, a deletion or a reaction
//! shows at once, kept pending in its room until the server's answer puts it in the
//! timeline, and goes to the outbox; without a connection it stays pending until the
//! next one. A typing notice is sent and forgotten.

use leptos::prelude::*;

use super::{
    browser_ms,
    outbox::{new_client_id, typing_due, PendingMessage, PendingOp, SendState},
    unsent, Live,
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
        // Kept before it goes: a tab closed in between still has it.
        self.keep(room, &pending);
        self.room(room).pending.update(|list| list.push(pending));
        self.outbox.send(&frame);
    }

    /// Adds a message to what this browser keeps unsent for the logged-in user.
    fn keep(&self, room: &str, message: &PendingMessage) {
        self.edit_kept(|kept| kept.push(unsent::Kept::of(room, message)));
    }

    /// Forgets a kept message: stored, or refused for good.
    pub(super) fn unkeep(&self, client_id: &str) {
        self.edit_kept(|kept| kept.retain(|k| k.client_id != client_id));
    }

    /// Reads, changes and writes back the kept list (nothing on the server).
    fn edit_kept(&self, change: impl FnOnce(&mut Vec<unsent::Kept>)) {
        #[cfg(feature = "hydrate")]
        if let Some(user) = self.keeper.get_value() {
            let key = unsent::outbox_key(&user);
            let before = unsent::parse(&unsent::storage::get(&key).unwrap_or_default());
            let mut kept = before.clone();
            change(&mut kept);
            // The ack and then the echo of a message both forget it: write once.
            if kept == before {
                return;
            }
            if kept.is_empty() {
                unsent::storage::remove(&key);
            } else {
                unsent::storage::set(&key, &unsent::serialise(&kept));
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = change;
    }

    /// Takes back what this browser kept unsent for `user` (once per tab and user):
    /// each shows as sending in its room, and goes out with the next connection (the
    /// room is joined for it), in order, under its original `client_id`.
    pub fn restore(&self, user: &str) {
        if self.keeper.get_value().as_deref() == Some(user) {
            return;
        }
        self.keeper.set_value(Some(user.to_string()));
        #[cfg(feature = "hydrate")]
        {
            let stored = unsent::storage::get(&unsent::outbox_key(user)).unwrap_or_default();
            for (room, message) in unsent::parse(&stored)
                .into_iter()
                .map(unsent::Kept::pending)
            {
                let state = self.room(&room);
                let known = state
                    .pending
                    .with_untracked(|p| p.iter().any(|m| m.client_id == message.client_id));
                if !known {
                    let frame = message.frame(&room);
                    state.pending.update(|p| p.push(message));
                    self.outbox.send(&frame);
                }
            }
        }
    }

    /// Logging out: this tab forgets what it was sending, and nothing of the user's
    /// stays in the browser for whoever logs in next.
    pub fn forget_kept(&self) {
        for (_, state) in self.states() {
            state.pending.set(Vec::new());
        }
        #[cfg(feature = "hydrate")]
        if let Some(user) = self.keeper.get_value() {
            unsent::storage::remove(&unsent::outbox_key(&user));
            unsent::storage::remove_prefixed(&unsent::draft_key(&user, ""));
        }
        self.keeper.set_value(None);
    }

    /// The draft of `user`'s composer in `room` kept in this browser.
    pub fn draft(&self, user: &str, room: &str) -> Option<String> {
        #[cfg(feature = "hydrate")]
        return unsent::storage::get(&unsent::draft_key(user, room));
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = (user, room);
            None
        }
    }

    /// Keeps (or, empty, forgets) the draft of `room`'s composer.
    pub fn keep_draft(&self, room: &str, text: &str) {
        #[cfg(feature = "hydrate")]
        if let Some(user) = self.keeper.get_value() {
            let key = unsent::draft_key(&user, room);
            if text.trim().is_empty() {
                unsent::storage::remove(&key);
            } else {
                unsent::storage::set(&key, text);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (room, text);
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
