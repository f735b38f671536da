//! What the server sends, into the rooms' state: a room's events through its timeline's
//! reducer (and the counts and notifications of new messages), the rest (greeting,
//! read positions, acknowledgements, presence, typing, refusals) into the signals they
//! concern.

use leptos::prelude::*;

use super::{browser_ms, Live, RoomState, SendState, Status};
use crate::{
    chat::notify,
    model::ReadState,
    protocol::{ErrorCode, MemberChange, ServerFrame},
    timeline::Applied,
};

/// How long a typing notice stays visible without a new one.
const TYPING_SHOWN_MS: f64 = 5_000.0;

impl Live {
    /// Applies one frame from the server.
    pub(super) fn receive(&self, frame: ServerFrame) {
        if let Some((room, _)) = frame.event_seq() {
            let state = self.room(room);
            let active = self
                .active
                .with_untracked(|active| active.as_deref() == Some(room));
            self.apply_event(state, active, frame);
            return;
        }
        match frame {
            ServerFrame::Hello { user } => {
                self.me.set(Some(user.username));
                self.status.set(Status::Online);
                self.notice.set(None);
                self.notifications.set(notify::enabled());
                self.resume();
                // Counts may have moved while away.
                self.list_wanted.update(|n| *n += 1);
            }
            ServerFrame::Read {
                room,
                seq,
                unread,
                mentions,
                last_seq,
            } => {
                self.room(&room).absorb_read(&ReadState {
                    room: room.clone(),
                    seq,
                    unread,
                    mentions,
                    last_seq,
                });
            }
            ServerFrame::RoomsChanged {} => self.list_wanted.update(|n| *n += 1),
            ServerFrame::Joined { room, online, .. } => {
                self.room(&room).online.set(online.into_iter().collect());
            }
            ServerFrame::Ack {
                room,
                client_id,
                seq,
            } => {
                // A sent message clears when it arrives through the room's feed; an
                // edit, deletion or reaction once the timeline includes its seq.
                let state = self.room(&room);
                state.ops.update(|ops| {
                    if let Some(op) = ops.iter_mut().find(|op| op.client_id == client_id) {
                        op.acked = Some(seq);
                    }
                });
                state.settle_ops();
                // Stored: nothing to send again after a reload, even before its echo.
                if state
                    .pending
                    .with_untracked(|pending| pending.iter().any(|p| p.client_id == client_id))
                {
                    self.unkeep(&client_id);
                }
            }
            ServerFrame::Presence { room, user, online } => {
                self.room(&room).online.update(|set| {
                    if online {
                        set.insert(user);
                    } else {
                        set.remove(&user);
                    }
                });
            }
            ServerFrame::Typing { room, user } => {
                let until = browser_ms() + TYPING_SHOWN_MS;
                self.room(&room).typing.update(|typing| {
                    typing.insert(user, until);
                });
            }
            ServerFrame::Error {
                code,
                message,
                client_id: Some(client_id),
                room: Some(room),
            } => {
                let state = self.room(&room);
                let mut was_send = false;
                state.pending.update(|pending| {
                    if let Some(p) = pending.iter_mut().find(|p| p.client_id == client_id) {
                        p.state = SendState::Failed(message.clone());
                        was_send = true;
                    }
                });
                // Refused for good: a reload must not send it again. A busy or failing
                // server's refusal is worth another try, so that one is kept.
                if was_send && !matches!(code, ErrorCode::Internal | ErrorCode::RateLimited) {
                    self.unkeep(&client_id);
                }
                if !was_send {
                    // A refused edit, deletion or reaction: nothing changed; say why.
                    state
                        .ops
                        .update(|ops| ops.retain(|op| op.client_id != client_id));
                    self.notice.set(Some(message));
                }
            }
            ServerFrame::Error { message, .. } => self.notice.set(Some(message)),
            _ => {}
        }
    }

    fn apply_event(&self, state: RoomState, active: bool, frame: ServerFrame) {
        if let ServerFrame::Member(event) = &frame {
            let me = self
                .me
                .with_untracked(|me| me.as_deref() == Some(event.user.as_str()));
            if me && matches!(event.change, MemberChange::Left | MemberChange::Removed) {
                // The server stops sending the room after this.
                state.joined.set(false);
                state.member.set(false);
                state.online.set(Default::default());
            }
        }
        if let ServerFrame::Message(message) = &frame {
            let mine = state
                .pending
                .with_untracked(|pending| pending.iter().any(|p| p.client_id == message.client_id));
            if mine {
                state
                    .pending
                    .update(|pending| pending.retain(|p| p.client_id != message.client_id));
                self.unkeep(&message.client_id);
            }
            state.typing.update(|typing| {
                typing.remove(&message.author);
            });
        }
        let applied = state.timeline.try_update(|timeline| timeline.apply(&frame));
        if let (Some(Applied::NewMessage), ServerFrame::Message(message)) = (applied, &frame) {
            let me = self.me.get_untracked().unwrap_or_default();
            if message.author != me {
                if active {
                    // Only new messages are announced; edits of old ones are not news.
                    state.announcement.set(format!(
                        "{}: {}",
                        message.author,
                        message.body.as_deref().unwrap_or_default()
                    ));
                }
                let can_notify = self.notifications.get_untracked() && notify::tab_hidden();
                if let Some(shown) = state.arrive(message, &me, can_notify) {
                    notify::show(&shown.title, &shown.body, &shown.tag);
                }
            }
        }
        state.settle_ops();
    }
}

#[cfg(test)]
mod tests {
    use leptos::prelude::*;

    use super::*;
    use crate::{
        chat::live::testing,
        protocol::{ClientFrame, ErrorCode, HelloUser, MemberEvent},
    };

    /// A tab's `Live` with alice logged in (as the server's greeting says) and no
    /// connection.
    fn alice() -> (Owner, Live) {
        let (owner, live) = testing::tab();
        live.receive(ServerFrame::Hello {
            user: HelloUser {
                id: 1,
                username: "alice".into(),
            },
        });
        (owner, live)
    }

    fn message(seq: i64, author: &str, body: &str) -> ServerFrame {
        ServerFrame::Message(testing::message(seq, author, body))
    }

    fn refusal(client_id: &str) -> ServerFrame {
        ServerFrame::Error {
            code: ErrorCode::Forbidden,
            message: "not yours".into(),
            client_id: Some(client_id.into()),
            room: Some("r".into()),
        }
    }

    #[test]
    fn a_new_message_from_someone_else_counts_and_is_announced_on_screen() {
        let (_owner, live) = alice();
        let state = live.room("r");
        state.member.set(true);
        live.active.set(Some("r".into()));
        live.receive(message(1, "bob", "hi @alice"));
        assert_eq!(live.unread("r"), (1, 1));
        assert_eq!(state.announcement.get_untracked(), "bob: hi @alice");
        live.receive(message(2, "alice", "hello"));
        assert_eq!(live.unread("r"), (1, 1), "one's own messages do not count");
        live.receive(message(1, "bob", "hi @alice"));
        assert_eq!(live.unread("r"), (1, 1), "nor a message seen before");
        live.active.set(None);
        live.receive(message(3, "carol", "elsewhere"));
        assert_eq!(state.announcement.get_untracked(), "bob: hi @alice");
    }

    #[test]
    fn a_message_seen_back_is_no_longer_pending() {
        let (_owner, live) = alice();
        live.post("r", "hi".into(), None, vec![]);
        let sent = live.room("r").pending.get_untracked()[0].client_id.clone();
        let mut echo = testing::message(1, "alice", "hi");
        echo.client_id = sent;
        live.receive(ServerFrame::Message(echo));
        assert!(live.room("r").pending.get_untracked().is_empty());
        assert_eq!(live.room("r").timeline.with_untracked(|t| t.len()), 1);
    }

    #[test]
    fn a_refused_message_fails_and_a_refused_change_is_dropped_with_its_reason() {
        let (_owner, live) = alice();
        live.post("r", "hi".into(), None, vec![]);
        live.delete("r", 4);
        let state = live.room("r");
        let sent = state.pending.get_untracked()[0].client_id.clone();
        let op = state.ops.get_untracked()[0].client_id.clone();
        live.receive(refusal(&sent));
        assert_eq!(
            state.pending.get_untracked()[0].state,
            SendState::Failed("not yours".into())
        );
        assert_eq!(
            live.notice.get_untracked(),
            None,
            "shown on the message itself"
        );
        live.receive(refusal(&op));
        assert!(state.ops.get_untracked().is_empty());
        assert_eq!(live.notice.get_untracked().as_deref(), Some("not yours"));
    }

    #[test]
    fn an_acknowledged_change_waits_for_the_timeline_to_reach_it() {
        let (_owner, live) = alice();
        live.receive(message(1, "alice", "hi"));
        live.edit("r", 1, "hello".into());
        let state = live.room("r");
        let op = state.ops.get_untracked()[0].clone();
        assert!(matches!(op.frame, ClientFrame::Edit { target: 1, .. }));
        live.receive(ServerFrame::Ack {
            room: "r".into(),
            client_id: op.client_id,
            seq: 3,
        });
        assert_eq!(state.ops.get_untracked().len(), 1, "the timeline is at 1");
        live.receive(message(2, "bob", "between"));
        assert_eq!(state.ops.get_untracked().len(), 1);
        live.receive(ServerFrame::Edited(crate::protocol::Edited {
            room: "r".into(),
            seq: 3,
            target: 1,
            body: Some("hello".into()),
            edited_at: "2026-11-26T10:01:00.000Z".into(),
        }));
        assert!(state.ops.get_untracked().is_empty());
    }

    #[test]
    fn being_removed_ends_following_the_room() {
        let (_owner, live) = alice();
        let state = live.room("r");
        state.member.set(true);
        state.joined.set(true);
        live.receive(ServerFrame::Presence {
            room: "r".into(),
            user: "bob".into(),
            online: true,
        });
        assert_eq!(state.online.get_untracked().len(), 1);
        let removed = |user: &str| {
            ServerFrame::Member(MemberEvent {
                room: "r".into(),
                seq: 1,
                user: user.into(),
                change: MemberChange::Removed,
                by: "carol".into(),
                role: None,
            })
        };
        live.receive(removed("bob"));
        assert!(state.member.get_untracked(), "someone else was removed");
        live.receive(removed("alice"));
        assert!(!state.member.get_untracked());
        assert!(!state.joined.get_untracked());
        assert!(state.online.get_untracked().is_empty());
    }

    #[test]
    fn a_read_position_from_another_tab_clears_the_counts() {
        let (_owner, live) = alice();
        live.room("r").member.set(true);
        live.receive(message(1, "bob", "one"));
        live.receive(message(2, "bob", "two"));
        assert_eq!(live.unread("r"), (2, 0));
        live.receive(ServerFrame::Read {
            room: "r".into(),
            seq: 2,
            unread: 0,
            mentions: 0,
            last_seq: 2,
        });
        assert_eq!(live.unread("r"), (0, 0));
        assert_eq!(live.room("r").last_read.get_untracked(), 2);
    }
}
