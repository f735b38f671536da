//! What waits for the person: unread messages and mentions per room, the count in the
//! tab's title, where the "new messages" divider goes, and which messages are news to
//! notify. Plain functions over plain data, so that the rules are tested without a
//! browser; `RoomState` reads its signals into these types and writes the answers back.

use crate::{
    model::{ReadState, RoomSummary},
    protocol::{excerpt, ChatMessage},
};

/// A room's read position and what is counted after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// The read position, as the server keeps it.
    pub last_read: i64,
    /// Messages from others after the read position, and those that mention the person.
    pub unread: i64,
    pub mentions: i64,
    /// The highest seq whose message is in `unread` (or was before the counts).
    pub counted_to: i64,
}

/// What a read state from the server rewrites of a room's [`Counts`]. Each `Some` is to
/// be written even when the value is already there: writing the read position is what
/// makes the room view look again for a newer message to mark read, one it passed over
/// while a `mark_read` was on its way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadUpdate {
    pub last_read: Option<i64>,
    /// Unread messages and mentions.
    pub counts: Option<(i64, i64)>,
    pub counted_to: Option<i64>,
}

/// Takes in a read position and the counts after it, as of `read.last_seq`.
pub fn read(counts: Counts, read: &ReadState) -> ReadUpdate {
    let last_read = (read.seq >= counts.last_read).then_some(read.seq);
    if read.last_seq >= counts.counted_to {
        ReadUpdate {
            last_read,
            counts: Some((read.unread, read.mentions)),
            counted_to: Some(read.last_seq),
        }
    } else if read.seq >= counts.counted_to {
        // Read past everything this tab counted: nothing is unread.
        ReadUpdate {
            last_read,
            counts: Some((0, 0)),
            counted_to: None,
        }
    } else {
        // Counts older than what this tab already counted would undo live ones.
        ReadUpdate {
            last_read,
            ..ReadUpdate::default()
        }
    }
}

/// A room as the rules for new messages see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Room {
    /// Only a member's rooms count and notify.
    pub member: bool,
    /// A direct conversation: every message in it is for the person.
    pub dm: bool,
    pub muted: bool,
    /// How the room is named on screen, for the notification's title.
    pub label: String,
    pub counts: Counts,
    /// The highest seq a notification was considered for; `None` until the room list
    /// said where news starts.
    pub notified_to: Option<i64>,
}

/// A notification to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub title: String,
    pub body: String,
    /// A later notification of the same room replaces this one.
    pub tag: String,
}

/// What one new message from someone else changes in its room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub counts: Counts,
    pub notified_to: Option<i64>,
    /// Set when the message is news and the person can be told now.
    pub notification: Option<Notification>,
}

/// Whether `message` names `me` or the whole room.
pub fn mentions(message: &ChatMessage, me: &str) -> bool {
    let body = message.body.as_deref().unwrap_or_default();
    message.room_mention || crate::mentions::parse(body).names(me)
}

/// Counts a new `message` from someone else (not `me`) in `room`, and decides whether to
/// notify: only when it is for the person (a mention, or any message of a
/// conversation), after their read position and after what was already considered, in
/// a room they did not mute, and while `can_notify` (notifications are on and the tab
/// is hidden: on screen the message itself shows). `None` outside the person's rooms.
pub fn arrive(room: &Room, message: &ChatMessage, me: &str, can_notify: bool) -> Option<Arrival> {
    if !room.member {
        return None;
    }
    let mentions_me = mentions(message, me);
    let seq = message.seq;
    let mut counts = room.counts;
    // Up to `counted_to` the counts already include it (the server's, or this tab's).
    if seq > counts.counted_to {
        counts.counted_to = seq;
        if seq > counts.last_read {
            counts.unread += 1;
            counts.mentions += i64::from(mentions_me);
        }
    }
    let for_me = mentions_me || room.dm;
    let news = room.notified_to.is_some_and(|notified| seq > notified);
    let mut arrival = Arrival {
        counts,
        notified_to: room.notified_to,
        notification: None,
    };
    if for_me && news && seq > counts.last_read {
        arrival.notified_to = Some(seq);
        if !room.muted && can_notify {
            let title = if room.dm {
                message.author.clone()
            } else {
                format!("{} in {}", message.author, room.label)
            };
            arrival.notification = Some(Notification {
                title,
                body: excerpt(message.body.as_deref().unwrap_or_default()),
                tag: message.room.clone(),
            });
        }
    }
    Some(arrival)
}

/// How much of a room the tab's title counts: in a conversation every unread message,
/// elsewhere only mentions; nothing of a muted room or one the person is not in.
pub fn waiting(member: bool, muted: bool, dm: bool, unread: i64, mentions: i64) -> i64 {
    match (member && !muted, dm) {
        (false, _) => 0,
        (true, true) => unread.max(mentions),
        (true, false) => mentions,
    }
}

/// Where news starts in a room the room list shows for the first time: what was there
/// when the page loaded is not news, but in a room that appears later (an invitation,
/// a new conversation) whatever is unread is.
pub fn news_from(first_list: bool, summary: &RoomSummary) -> i64 {
    if first_list {
        summary.last_seq
    } else {
        summary.last_read_seq
    }
}

/// Where to follow a room from when this tab holds none of it: its end, except a
/// conversation that appears later, followed from the read position so that its unread
/// messages arrive and can notify.
pub fn follow_from(first_list: bool, summary: &RoomSummary) -> i64 {
    if summary.dm && !first_list {
        summary.last_read_seq
    } else {
        summary.last_seq
    }
}

/// Where the "new messages" divider goes when a room opens: after the read position,
/// when the person is a member and something newer than it is shown.
pub fn divider(member: bool, last_read: i64, newest: Option<i64>) -> Option<i64> {
    (member && last_read < newest.unwrap_or(0)).then_some(last_read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::live::testing::message;

    fn read_state(seq: i64, unread: i64, mentions: i64, last_seq: i64) -> ReadState {
        ReadState {
            room: "r".into(),
            seq,
            unread,
            mentions,
            last_seq,
        }
    }

    /// A room "r" labelled "#r" that the person is in, read to 10, news from 10.
    fn room() -> Room {
        Room {
            member: true,
            label: "#r".into(),
            counts: Counts {
                last_read: 10,
                counted_to: 10,
                ..Counts::default()
            },
            notified_to: Some(10),
            ..Room::default()
        }
    }

    #[test]
    fn a_newer_read_state_replaces_the_counts() {
        let counts = Counts {
            last_read: 3,
            unread: 1,
            mentions: 0,
            counted_to: 5,
        };
        assert_eq!(
            read(counts, &read_state(4, 2, 1, 6)),
            ReadUpdate {
                last_read: Some(4),
                counts: Some((2, 1)),
                counted_to: Some(6),
            }
        );
        // Counted as far as this tab did: the server's counts are as good.
        assert_eq!(read(counts, &read_state(4, 2, 0, 5)).counts, Some((2, 0)));
    }

    #[test]
    fn an_older_read_state_keeps_what_was_counted_live() {
        let counts = Counts {
            last_read: 3,
            unread: 4,
            mentions: 2,
            counted_to: 9,
        };
        // The server counted to 7; this tab counted two more since.
        assert_eq!(
            read(counts, &read_state(5, 1, 0, 7)),
            ReadUpdate {
                last_read: Some(5),
                ..ReadUpdate::default()
            }
        );
        // But read past all this tab counted, nothing is unread.
        assert_eq!(read(counts, &read_state(9, 1, 0, 7)).counts, Some((0, 0)));
    }

    #[test]
    fn the_read_position_never_moves_back_but_is_written_again() {
        let counts = Counts {
            last_read: 8,
            ..Counts::default()
        };
        assert_eq!(read(counts, &read_state(7, 0, 0, 8)).last_read, None);
        assert_eq!(read(counts, &read_state(8, 0, 0, 8)).last_read, Some(8));
    }

    #[test]
    fn a_new_message_counts_once_and_a_mention_twice() {
        let plain = arrive(&room(), &message(11, "bob", "hi"), "alice", false).unwrap();
        assert_eq!((plain.counts.unread, plain.counts.mentions), (1, 0));
        assert_eq!(plain.counts.counted_to, 11);
        let mention = arrive(&room(), &message(11, "bob", "hi @alice"), "alice", false).unwrap();
        assert_eq!((mention.counts.unread, mention.counts.mentions), (1, 1));
        let everyone = ChatMessage {
            room_mention: true,
            ..message(11, "bob", "hi @room")
        };
        let everyone = arrive(&room(), &everyone, "alice", false).unwrap();
        assert_eq!(everyone.counts.mentions, 1, "@room from someone allowed to");
        let mut seen = room();
        seen.counts.counted_to = 11;
        let again = arrive(&seen, &message(11, "bob", "hi @alice"), "alice", false).unwrap();
        assert_eq!(
            again.counts, seen.counts,
            "a replayed message is not counted again"
        );
    }

    #[test]
    fn nothing_counts_outside_the_persons_rooms_nor_before_the_read_position() {
        let outside = Room {
            member: false,
            ..room()
        };
        assert_eq!(
            arrive(&outside, &message(11, "bob", "@alice"), "alice", true),
            None
        );
        let mut ahead = room();
        ahead.counts.last_read = 12;
        let read = arrive(&ahead, &message(11, "bob", "@alice"), "alice", true).unwrap();
        assert_eq!((read.counts.unread, read.counts.mentions), (0, 0));
        assert_eq!(read.counts.counted_to, 11);
        assert_eq!(read.notification, None, "already read elsewhere");
    }

    #[test]
    fn a_mention_notifies_with_its_author_and_room() {
        let arrival = arrive(&room(), &message(11, "bob", "hi @alice"), "alice", true).unwrap();
        assert_eq!(arrival.notified_to, Some(11));
        assert_eq!(
            arrival.notification,
            Some(Notification {
                title: "bob in #r".into(),
                body: "hi @alice".into(),
                tag: "r".into(),
            })
        );
        let plain = arrive(&room(), &message(11, "bob", "hi"), "alice", true).unwrap();
        assert_eq!((plain.notified_to, plain.notification), (Some(10), None));
    }

    #[test]
    fn every_message_of_a_conversation_notifies_titled_by_its_author() {
        let dm = Room { dm: true, ..room() };
        let arrival = arrive(&dm, &message(11, "bob", "hi"), "alice", true).unwrap();
        assert_eq!(arrival.notification.unwrap().title, "bob");
    }

    #[test]
    fn news_is_considered_once_and_shown_only_when_it_can_be() {
        let mention = message(11, "bob", "@alice");
        // Muted, or the tab on screen: considered (so not shown later), not shown.
        let muted = Room {
            muted: true,
            ..room()
        };
        let arrival = arrive(&muted, &mention, "alice", true).unwrap();
        assert_eq!(
            (arrival.notified_to, arrival.notification),
            (Some(11), None)
        );
        let arrival = arrive(&room(), &mention, "alice", false).unwrap();
        assert_eq!(
            (arrival.notified_to, arrival.notification),
            (Some(11), None)
        );
        // Already considered.
        let considered = Room {
            notified_to: Some(11),
            ..room()
        };
        assert_eq!(
            arrive(&considered, &mention, "alice", true)
                .unwrap()
                .notification,
            None
        );
        // Before the room list said where news starts.
        let unlisted = Room {
            notified_to: None,
            ..room()
        };
        let arrival = arrive(&unlisted, &mention, "alice", true).unwrap();
        assert_eq!((arrival.notified_to, arrival.notification), (None, None));
    }

    #[test]
    fn the_title_counts_mentions_and_conversations_outside_muted_rooms() {
        assert_eq!(
            waiting(true, false, false, 5, 2),
            2,
            "a room: mentions only"
        );
        assert_eq!(
            waiting(true, false, true, 5, 2),
            5,
            "a conversation: every message"
        );
        assert_eq!(waiting(true, true, true, 5, 2), 0, "muted");
        assert_eq!(waiting(false, false, true, 5, 2), 0, "not a member");
    }

    #[test]
    fn rooms_that_appear_later_bring_their_unread_messages_as_news() {
        let summary = RoomSummary {
            name: "r".into(),
            topic: String::new(),
            last_seq: 20,
            members: 2,
            private: false,
            dm: false,
            role: None,
            unread: 5,
            mentions: 0,
            last_read_seq: 15,
            muted: false,
            archived: false,
            people: Vec::new(),
            last_activity: 0,
            mention_room_moderators: false,
        };
        assert_eq!(
            news_from(true, &summary),
            20,
            "on page load: nothing is news"
        );
        assert_eq!(news_from(false, &summary), 15);
        assert_eq!(follow_from(false, &summary), 20, "a room: from its end");
        let dm = RoomSummary {
            dm: true,
            ..summary
        };
        assert_eq!(follow_from(true, &dm), 20);
        assert_eq!(
            follow_from(false, &dm),
            15,
            "a new conversation: its unread too"
        );
    }

    #[test]
    fn the_divider_goes_after_the_read_position_when_newer_messages_show() {
        assert_eq!(divider(true, 4, Some(9)), Some(4));
        assert_eq!(divider(true, 9, Some(9)), None, "all read");
        assert_eq!(divider(true, 0, None), None, "nothing shown");
        assert_eq!(divider(false, 4, Some(9)), None, "not a member");
    }
}
