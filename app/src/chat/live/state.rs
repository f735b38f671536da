//! A room's state in signals, in two halves: [`RoomState`], what the server says (its
//! messages in a [`Timeline`], changed only by its reducer, who is online and typing,
//! the counts, this tab's changes on their way), and [`ViewState`], what the person is
//! doing in the room's view. The live connection writes the first and never the second.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;

use super::{
    attention::{self, Counts, Notification},
    outbox::{PendingMessage, PendingOp},
};
use crate::{
    model::{HistoryPage, ReadState, RoomSummary},
    protocol::ChatMessage,
    timeline::Timeline,
};

/// What the server says of one room, as signals.
#[derive(Clone, Copy)]
pub struct RoomState {
    // The log as far as this tab holds it, and what this tab sent that it does not
    // show yet.
    pub timeline: RwSignal<Timeline>,
    pub pending: RwSignal<Vec<PendingMessage>>,
    pub ops: RwSignal<Vec<PendingOp>>,
    /// Whether older messages exist before the first one held.
    pub has_more: RwSignal<bool>,
    /// The last new message from someone else while the room was on screen, for the
    /// screen-reader announcement; written as the message arrives, so that edits of
    /// old messages are never read out.
    pub announcement: RwSignal<String>,
    // Following.
    /// Whether the socket has joined this room.
    pub joined: RwSignal<bool>,
    /// Whether the user is a member (followed from the start, counted).
    pub member: RwSignal<bool>,
    /// Where to follow the room from when this tab has none of it yet.
    pub(super) since_hint: StoredValue<i64>,
    // Who is here.
    pub online: RwSignal<BTreeSet<String>>,
    /// Who is typing, until when (browser clock, ms).
    pub typing: RwSignal<BTreeMap<String, f64>>,
    /// When this tab last sent a typing notice here (browser clock, ms).
    pub(super) last_typing_sent: StoredValue<f64>,
    // Reading, and what waits for the person.
    /// The read position, as the server keeps it.
    pub last_read: RwSignal<i64>,
    /// A `mark_read` on its way.
    pub(super) reading: StoredValue<bool>,
    /// Messages from others after the read position, and those that mention me.
    pub unread: RwSignal<i64>,
    pub mentions: RwSignal<i64>,
    /// The highest seq whose message is in `unread` (or was before the counts).
    pub(super) counted_to: StoredValue<i64>,
    /// The highest seq a notification was considered for; `None` until the room list
    /// said where to start.
    pub(super) notified_to: StoredValue<Option<i64>>,
    // What the room list says of it.
    pub muted: RwSignal<bool>,
    /// A direct conversation: every message in it notifies.
    pub dm: RwSignal<bool>,
    /// How the room is named on screen (`#name`, or a conversation's people).
    pub label: RwSignal<String>,
    /// Read-only (as the room list said; the timeline knows of later archiving).
    pub archived: RwSignal<bool>,
    /// Only moderators and the owner may notify everyone with `@room`.
    pub room_mentions_restricted: RwSignal<bool>,
}

impl RoomState {
    pub(super) fn new() -> Self {
        RoomState {
            timeline: RwSignal::new(Timeline::new()),
            pending: RwSignal::new(Vec::new()),
            ops: RwSignal::new(Vec::new()),
            has_more: RwSignal::new(false),
            announcement: RwSignal::new(String::new()),
            joined: RwSignal::new(false),
            member: RwSignal::new(false),
            since_hint: StoredValue::new(0),
            online: RwSignal::new(BTreeSet::new()),
            typing: RwSignal::new(BTreeMap::new()),
            last_typing_sent: StoredValue::new(f64::NEG_INFINITY),
            last_read: RwSignal::new(0),
            reading: StoredValue::new(false),
            unread: RwSignal::new(0),
            mentions: RwSignal::new(0),
            counted_to: StoredValue::new(0),
            notified_to: StoredValue::new(None),
            muted: RwSignal::new(false),
            dm: RwSignal::new(false),
            label: RwSignal::new(String::new()),
            archived: RwSignal::new(false),
            room_mentions_restricted: RwSignal::new(false),
        }
    }

    /// How the room called `name` is titled: its label (`#name`, or a conversation's
    /// people) once the room list gave one.
    pub fn title(&self, name: &str) -> String {
        let label = self.label.get();
        match (label.is_empty(), name.starts_with('@')) {
            (false, _) => label,
            (true, true) => "Direct message".to_string(),
            (true, false) => format!("#{name}"),
        }
    }

    fn counts(&self) -> Counts {
        Counts {
            last_read: self.last_read.get_untracked(),
            unread: self.unread.get_untracked(),
            mentions: self.mentions.get_untracked(),
            counted_to: self.counted_to.get_value(),
        }
    }

    /// Takes in a read position from the server (a `read` frame, the room list, the
    /// answer to `mark_read`) and the counts after it.
    pub fn absorb_read(&self, state: &ReadState) {
        let update = attention::read(self.counts(), state);
        if let Some(seq) = update.last_read {
            self.last_read.set(seq);
        }
        if let Some((unread, mentions)) = update.counts {
            self.unread.set(unread);
            self.mentions.set(mentions);
        }
        if let Some(seq) = update.counted_to {
            self.counted_to.set_value(seq);
        }
    }

    /// Takes in what the room list says of the room, `first_list` when it is the first
    /// list this tab read.
    pub(super) fn absorb_summary(&self, summary: &RoomSummary, first_list: bool) {
        let member = summary.role.is_some();
        self.member.set(member);
        self.muted.set(summary.muted);
        self.dm.set(summary.dm);
        self.label.set(summary.label());
        self.archived.set(summary.archived);
        self.room_mentions_restricted
            .set(summary.mention_room_moderators);
        if !member {
            return;
        }
        self.absorb_read(&summary.read_state());
        if self.notified_to.get_value().is_none() {
            self.notified_to
                .set_value(Some(attention::news_from(first_list, summary)));
        }
        if self.since_hint.get_value() == 0 {
            self.since_hint
                .set_value(attention::follow_from(first_list, summary));
        }
    }

    /// Counts a new `message` from someone else (not `me`); the notification it calls
    /// for, if `can_notify`.
    pub(super) fn arrive(
        &self,
        message: &ChatMessage,
        me: &str,
        can_notify: bool,
    ) -> Option<Notification> {
        let room = attention::Room {
            member: self.member.get_untracked(),
            dm: self.dm.get_untracked(),
            muted: self.muted.get_untracked(),
            label: self.label.get_untracked(),
            counts: self.counts(),
            notified_to: self.notified_to.get_value(),
        };
        let arrival = attention::arrive(&room, message, me, can_notify)?;
        let (before, after) = (room.counts, arrival.counts);
        if after.counted_to != before.counted_to {
            self.counted_to.set_value(after.counted_to);
        }
        if after.unread != before.unread {
            self.unread.set(after.unread);
        }
        if after.mentions != before.mentions {
            self.mentions.set(after.mentions);
        }
        if arrival.notified_to != room.notified_to {
            self.notified_to.set_value(arrival.notified_to);
        }
        arrival.notification
    }

    /// Where the "new messages" divider goes if the room opens now.
    pub fn divider(&self) -> Option<i64> {
        let newest = self
            .timeline
            .with_untracked(|t| t.messages().next_back().map(|m| m.seq));
        attention::divider(
            self.member.get_untracked(),
            self.last_read.get_untracked(),
            newest,
        )
    }

    pub fn first_seq(&self) -> Option<i64> {
        self.timeline.with_untracked(Timeline::first_seq)
    }

    /// Adds a history page (older, or the newest on first render).
    pub fn absorb(&self, page: &HistoryPage, older: bool) {
        self.timeline
            .update(|timeline| timeline.absorb(&page.messages, page.last_seq));
        if older || self.first_seq() == page.messages.first().map(|m| m.seq) {
            self.has_more.set(page.has_more);
        }
    }

    /// Who is typing now, excluding `me`.
    pub fn typing_now(&self, me: Option<&str>, now: f64) -> Vec<String> {
        self.typing.with(|typing| typing_at(typing, me, now))
    }

    /// Drops the ops the timeline now includes.
    pub(super) fn settle_ops(&self) {
        let position = self.timeline.with_untracked(Timeline::position);
        if self
            .ops
            .with_untracked(|ops| ops.iter().any(|op| op.settled(position)))
        {
            self.ops
                .update(|ops| ops.retain(|op| !op.settled(position)));
        }
    }

    /// Forgets who is online and typing: the connection that said so is gone, or the
    /// room is no longer followed.
    pub(super) fn forget_presence(&self) {
        self.online.set(BTreeSet::new());
        self.typing.set(BTreeMap::new());
    }
}

/// What the person is doing in one room's view: the edit in progress, the message being
/// answered, the picker or dialog open, the message just jumped to. Kept with the
/// room's state, for the same reason: so that it outlives navigation.
#[derive(Clone, Copy)]
pub struct ViewState {
    /// The message being edited here, and the edit's text so far.
    pub editing: RwSignal<Option<i64>>,
    pub draft: RwSignal<String>,
    /// The message the composer's next message answers.
    pub replying: RwSignal<Option<i64>>,
    /// The message whose emoji picker is open.
    pub picking: RwSignal<Option<i64>>,
    /// The message whose deletion waits for a confirmation.
    pub confirming: RwSignal<Option<i64>>,
    /// The message just jumped to, highlighted for a moment.
    pub flash: RwSignal<Option<i64>>,
    /// Where the "new messages" divider goes: the read position when the room opened.
    pub divider: RwSignal<Option<i64>>,
    /// The composer's files.
    pub uploads: RwSignal<Vec<crate::chat::uploads::Upload>>,
    /// The image open in the viewer (its file id).
    pub viewing: RwSignal<Option<String>>,
    /// The message whose menu a long press opened (touch screens).
    pub menu: RwSignal<Option<i64>>,
}

impl ViewState {
    pub(super) fn new() -> Self {
        ViewState {
            editing: RwSignal::new(None),
            draft: RwSignal::new(String::new()),
            replying: RwSignal::new(None),
            picking: RwSignal::new(None),
            confirming: RwSignal::new(None),
            flash: RwSignal::new(None),
            divider: RwSignal::new(None),
            uploads: RwSignal::new(Vec::new()),
            viewing: RwSignal::new(None),
            menu: RwSignal::new(None),
        }
    }
}

/// Who of `typing` (each until when) is typing at `now`, excluding `me`.
fn typing_at(typing: &BTreeMap<String, f64>, me: Option<&str>, now: f64) -> Vec<String> {
    typing
        .iter()
        .filter(|(user, until)| **until > now && Some(user.as_str()) != me)
        .map(|(user, _)| user.clone())
        .collect()
}

/// "alice is typing…", "alice and bob are typing…", "3 people are typing…".
pub fn typing_sentence(users: &[String]) -> Option<String> {
    match users {
        [] => None,
        [one] => Some(format!("{one} is typing…")),
        [one, two] => Some(format!("{one} and {two} are typing…")),
        many => Some(format!("{} people are typing…", many.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_sentences() {
        assert_eq!(typing_sentence(&[]), None);
        assert_eq!(typing_sentence(&["bob".into()]).unwrap(), "bob is typing…");
        assert_eq!(
            typing_sentence(&["a".into(), "b".into()]).unwrap(),
            "a and b are typing…"
        );
        assert_eq!(
            typing_sentence(&["a".into(), "b".into(), "c".into()]).unwrap(),
            "3 people are typing…"
        );
    }

    #[test]
    fn typing_shows_until_it_expires_and_never_for_me() {
        let typing = BTreeMap::from([
            ("alice".to_string(), 5_000.0),
            ("bob".to_string(), 5_000.0),
            ("carol".to_string(), 1_000.0),
        ]);
        assert_eq!(typing_at(&typing, Some("alice"), 1_000.0), ["bob"]);
        assert_eq!(typing_at(&typing, None, 999.0), ["alice", "bob", "carol"]);
        assert!(typing_at(&typing, None, 5_000.0).is_empty());
    }
}
