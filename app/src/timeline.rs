//! A room as the ordered events of its log make it, and the one reducer that applies an
//! event to it. The wasm client keeps each open room in a [`Timeline`]; the server's
//! tests replay what each member received into one and check that everybody ends with
//! the room that `history` describes.
//!
//! Every event is idempotent here (applying it twice changes nothing), so a replay
//! that overlaps what a client already has, or a history page read a moment after an
//! event it also receives live, converges to the same state.

use std::collections::BTreeMap;

use crate::protocol::{excerpt, ChatMessage, MessageView, Reaction, ReplyPreview, ServerFrame};

/// Events about messages a client does not have (older than what it loaded) are kept,
/// up to this many, so that a history page read just before them can be brought up to
/// date when it arrives.
const ORPHANS_KEPT: usize = 500;

/// What applying a frame did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A message this timeline did not have.
    NewMessage,
    /// A change to the room or one of its messages (also a repeat of one).
    Changed,
    /// About a message this timeline does not hold; kept for a later history page.
    Orphan,
    /// Not an event of a room's log (presence, acks, …).
    NotAnEvent,
}

#[derive(Clone, Debug)]
struct Entry {
    view: MessageView,
    /// Bumped whenever the entry changes, so views can re-render just that message.
    revision: u64,
}

/// A room's messages as they now stand, its topic, and how far into its log it is.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    messages: BTreeMap<i64, Entry>,
    topic: Option<String>,
    /// Archived (read-only) by an event seen here.
    archived: bool,
    /// Counts membership events seen, so a member list knows to read itself again.
    membership: u64,
    /// The highest seq whose effect is included.
    position: i64,
    revision: u64,
    orphans: BTreeMap<i64, ServerFrame>,
}

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// The messages in seq order.
    pub fn messages(&self) -> impl DoubleEndedIterator<Item = &MessageView> {
        self.messages.values().map(|entry| &entry.view)
    }

    /// The messages with their revisions, for keyed rendering.
    pub fn revisions(&self) -> impl DoubleEndedIterator<Item = (&MessageView, u64)> {
        self.messages
            .values()
            .map(|entry| (&entry.view, entry.revision))
    }

    pub fn get(&self, seq: i64) -> Option<&MessageView> {
        self.messages.get(&seq).map(|entry| &entry.view)
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn archived(&self) -> bool {
        self.archived
    }

    pub fn membership(&self) -> u64 {
        self.membership
    }

    pub fn first_seq(&self) -> Option<i64> {
        self.messages.keys().next().copied()
    }

    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }

    /// The highest seq this timeline includes: where a `join` resumes with `since`.
    pub fn position(&self) -> i64 {
        self.position
    }

    /// Adds messages from a history page read when the room's log was at `position`.
    /// Messages already here stay as they are: the events that reach them keep them
    /// current. Events kept for messages that were missing are applied again.
    pub fn absorb(&mut self, messages: &[MessageView], position: i64) {
        for view in messages {
            if !self.messages.contains_key(&view.seq) {
                self.revision += 1;
                self.messages.insert(
                    view.seq,
                    Entry {
                        view: view.clone(),
                        revision: self.revision,
                    },
                );
            }
        }
        self.position = self.position.max(position);
        // Events kept for messages that are here now: those after the page was read
        // are applied; the page already shows the earlier ones. Either way they are
        // dropped, since from now on events reach these messages directly.
        let arrived: Vec<i64> = self
            .orphans
            .iter()
            .filter(|(_, frame)| target(frame).is_some_and(|t| self.messages.contains_key(&t)))
            .map(|(&seq, _)| seq)
            .collect();
        for seq in arrived {
            if let Some(frame) = self.orphans.remove(&seq) {
                if seq > position {
                    self.apply(&frame);
                }
            }
        }
    }

    /// Applies one frame from the server; frames that are not events change nothing.
    pub fn apply(&mut self, frame: &ServerFrame) -> Applied {
        let Some((_, seq)) = frame.event_seq() else {
            return Applied::NotAnEvent;
        };
        self.position = self.position.max(seq);
        let applied = match frame {
            ServerFrame::Message(message) => self.insert(message),
            ServerFrame::Edited(edit) => self.change(edit.target, |view| {
                if view.deleted {
                    return;
                }
                view.body = edit.body.clone();
                view.edited_at = Some(edit.edited_at.clone());
            }),
            ServerFrame::Deleted(delete) => self.change(delete.target, |view| {
                view.body = None;
                view.deleted = true;
                view.edited_at = None;
                view.reactions.clear();
                view.files.clear();
            }),
            ServerFrame::Reaction(reaction) => self.change(reaction.target, |view| {
                if view.deleted {
                    return;
                }
                toggle(
                    &mut view.reactions,
                    &reaction.emoji,
                    &reaction.user,
                    reaction.on,
                );
            }),
            ServerFrame::Topic(topic) => {
                self.topic = Some(topic.topic.clone());
                Applied::Changed
            }
            ServerFrame::Archived(_) => {
                self.archived = true;
                Applied::Changed
            }
            ServerFrame::Member(_) => {
                self.membership += 1;
                Applied::Changed
            }
            _ => Applied::NotAnEvent,
        };
        match frame {
            ServerFrame::Edited(edit) => self.refresh_replies_to(edit.target),
            ServerFrame::Deleted(delete) => self.refresh_replies_to(delete.target),
            _ => {}
        }
        if applied == Applied::Orphan {
            self.orphans.insert(seq, frame.clone());
            while self.orphans.len() > ORPHANS_KEPT {
                self.orphans.pop_first();
            }
        }
        applied
    }

    fn insert(&mut self, message: &ChatMessage) -> Applied {
        if self.messages.contains_key(&message.seq) {
            return Applied::Changed;
        }
        self.revision += 1;
        let view = MessageView {
            seq: message.seq,
            author: message.author.clone(),
            body: message.body.clone(),
            deleted: message.body.is_none(),
            sent_at: message.sent_at.clone(),
            edited_at: None,
            client_id: message.client_id.clone(),
            reply_to: message.reply_to,
            parent: message.parent.clone(),
            reactions: Vec::new(),
            files: message.files.clone(),
        };
        self.messages.insert(
            message.seq,
            Entry {
                view,
                revision: self.revision,
            },
        );
        Applied::NewMessage
    }

    fn change(&mut self, target: i64, change: impl FnOnce(&mut MessageView)) -> Applied {
        let Some(entry) = self.messages.get_mut(&target) else {
            return Applied::Orphan;
        };
        change(&mut entry.view);
        self.revision += 1;
        entry.revision = self.revision;
        Applied::Changed
    }

    /// Replies show the start of their parent: keep that in step with the parent.
    fn refresh_replies_to(&mut self, parent_seq: i64) {
        let Some(parent) = self.messages.get(&parent_seq) else {
            // Replies we hold to a parent we do not: their preview cannot be updated
            // from here, but a deleted parent is known from the event itself.
            return;
        };
        let preview = ReplyPreview {
            author: parent.view.author.clone(),
            excerpt: parent.view.body.as_deref().map(excerpt),
        };
        for entry in self.messages.range_mut(parent_seq + 1..).map(|(_, e)| e) {
            if entry.view.reply_to == Some(parent_seq)
                && entry.view.parent.as_ref() != Some(&preview)
            {
                entry.view.parent = Some(preview.clone());
                self.revision += 1;
                entry.revision = self.revision;
            }
        }
    }
}

/// The message an event is about, for the events that are about one.
fn target(frame: &ServerFrame) -> Option<i64> {
    match frame {
        ServerFrame::Edited(e) => Some(e.target),
        ServerFrame::Deleted(d) => Some(d.target),
        ServerFrame::Reaction(r) => Some(r.target),
        _ => None,
    }
}

/// Turns `user`'s `emoji` on or off, keeping emoji and users in their canonical order.
fn toggle(reactions: &mut Vec<Reaction>, emoji: &str, user: &str, on: bool) {
    match reactions.binary_search_by(|r| r.emoji.as_str().cmp(emoji)) {
        Ok(at) => {
            let users = &mut reactions[at].users;
            match (users.binary_search_by(|u| u.as_str().cmp(user)), on) {
                (Err(pos), true) => users.insert(pos, user.to_string()),
                (Ok(pos), false) => {
                    users.remove(pos);
                    if users.is_empty() {
                        reactions.remove(at);
                    }
                }
                _ => {}
            }
        }
        Err(at) if on => reactions.insert(
            at,
            Reaction {
                emoji: emoji.to_string(),
                users: vec![user.to_string()],
            },
        ),
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Deleted, Edited, Reacted, TopicSet};

    fn message(
        seq: i64,
        author: &str,
        body: &str,
        reply_to: Option<(i64, &str, &str)>,
    ) -> ServerFrame {
        ServerFrame::Message(ChatMessage {
            room: "r".into(),
            seq,
            author: author.into(),
            body: Some(body.into()),
            sent_at: format!("2026-11-26T10:00:{seq:02}.000Z"),
            client_id: format!("c{seq}"),
            reply_to: reply_to.map(|(s, _, _)| s),
            parent: reply_to.map(|(_, a, b)| ReplyPreview {
                author: a.into(),
                excerpt: Some(b.into()),
            }),
            room_mention: false,
            files: Vec::new(),
        })
    }

    fn edited(seq: i64, target: i64, body: &str) -> ServerFrame {
        ServerFrame::Edited(Edited {
            room: "r".into(),
            seq,
            target,
            body: Some(body.into()),
            edited_at: format!("2026-11-26T10:01:{seq:02}.000Z"),
        })
    }

    fn deleted(seq: i64, target: i64) -> ServerFrame {
        ServerFrame::Deleted(Deleted {
            room: "r".into(),
            seq,
            target,
        })
    }

    fn reacted(seq: i64, target: i64, emoji: &str, user: &str, on: bool) -> ServerFrame {
        ServerFrame::Reaction(Reacted {
            room: "r".into(),
            seq,
            target,
            emoji: emoji.into(),
            user: user.into(),
            on,
        })
    }

    fn state(timeline: &Timeline) -> Vec<MessageView> {
        timeline.messages().cloned().collect()
    }

    fn log() -> Vec<ServerFrame> {
        vec![
            message(1, "alice", "helo", None),
            message(2, "bob", "hi alice", Some((1, "alice", "helo"))),
            edited(3, 1, "hello"),
            reacted(4, 2, "👍", "carol", true),
            reacted(5, 2, "🎉", "alice", true),
            reacted(6, 2, "👍", "alice", true),
            reacted(7, 2, "👍", "carol", false),
            message(8, "carol", "bye", None),
            deleted(9, 8),
            ServerFrame::Topic(TopicSet {
                room: "r".into(),
                seq: 10,
                topic: "news".into(),
                by: "alice".into(),
            }),
        ]
    }

    #[test]
    fn events_make_the_room_as_it_now_stands() {
        let mut timeline = Timeline::new();
        let applied: Vec<Applied> = log().iter().map(|f| timeline.apply(f)).collect();
        assert_eq!(applied[0], Applied::NewMessage);
        assert_eq!(applied[2], Applied::Changed);
        assert_eq!(timeline.position(), 10);
        assert_eq!(timeline.topic(), Some("news"));

        let first = timeline.get(1).unwrap();
        assert_eq!(first.body.as_deref(), Some("hello"));
        assert_eq!(first.edited_at.as_deref(), Some("2026-11-26T10:01:03.000Z"));
        let reply = timeline.get(2).unwrap();
        assert_eq!(
            reply.parent.as_ref().unwrap().excerpt.as_deref(),
            Some("hello"),
            "the reply's preview follows its parent's edit"
        );
        assert_eq!(
            reply.reactions,
            vec![
                Reaction {
                    emoji: "🎉".into(),
                    users: vec!["alice".into()]
                },
                Reaction {
                    emoji: "👍".into(),
                    users: vec!["alice".into()]
                },
            ],
            "emoji in code-point order, carol's 👍 gone"
        );
        let gone = timeline.get(8).unwrap();
        assert!(gone.deleted);
        assert_eq!(gone.body, None);
    }

    #[test]
    fn applying_events_again_changes_nothing() {
        let mut once = Timeline::new();
        let mut twice = Timeline::new();
        for frame in log() {
            once.apply(&frame);
            twice.apply(&frame);
            twice.apply(&frame);
        }
        // And a whole replay over the top, as after a reconnect with an old `since`.
        for frame in log() {
            twice.apply(&frame);
        }
        assert_eq!(state(&once), state(&twice));
        assert_eq!(once.topic(), twice.topic());
    }

    #[test]
    fn a_snapshot_plus_the_rest_equals_the_whole_log() {
        let frames = log();
        let mut whole = Timeline::new();
        frames.iter().for_each(|f| {
            whole.apply(f);
        });
        for cut in 0..frames.len() {
            // A client that loaded history at `cut`, then got the rest (and, as a
            // race may give it, a few events it already had).
            let mut early = Timeline::new();
            frames[..cut].iter().for_each(|f| {
                early.apply(f);
            });
            let snapshot = state(&early);
            let mut client = Timeline::new();
            client.absorb(&snapshot, cut as i64);
            for frame in &frames[cut.saturating_sub(2)..] {
                client.apply(frame);
            }
            assert_eq!(state(&client), state(&whole), "history up to {cut}");
        }
    }

    #[test]
    fn deleting_removes_body_reactions_and_preview_text() {
        let mut timeline = Timeline::new();
        for frame in [
            message(1, "alice", "secret", None),
            reacted(2, 1, "👍", "bob", true),
            message(3, "bob", "what?", Some((1, "alice", "secret"))),
            deleted(4, 1),
            // Late events about a deleted message change nothing.
            edited(5, 1, "again"),
            reacted(6, 1, "🎉", "bob", true),
        ] {
            timeline.apply(&frame);
        }
        let gone = timeline.get(1).unwrap();
        assert_eq!((gone.body.as_deref(), gone.deleted), (None, true));
        assert!(gone.reactions.is_empty());
        assert_eq!(gone.edited_at, None);
        assert_eq!(
            timeline.get(3).unwrap().parent,
            Some(ReplyPreview {
                author: "alice".into(),
                excerpt: None
            })
        );
    }

    #[test]
    fn events_about_older_messages_catch_up_with_their_history_page() {
        let mut timeline = Timeline::new();
        timeline.absorb(&[], 10);
        timeline.apply(&message(11, "bob", "new", None));
        // An edit of message 5, which this client has not loaded.
        assert_eq!(
            timeline.apply(&edited(12, 5, "edited old")),
            Applied::Orphan
        );
        // The older page was read before that edit was made.
        let mut old = Timeline::new();
        old.apply(&message(5, "alice", "old", None));
        timeline.absorb(&state(&old), 11);
        assert_eq!(timeline.get(5).unwrap().body.as_deref(), Some("edited old"));
        assert_eq!(timeline.position(), 12);
    }

    #[test]
    fn a_kept_event_is_applied_once_and_never_rolls_a_message_back() {
        let mut timeline = Timeline::new();
        timeline.absorb(&[], 10);
        timeline.apply(&edited(12, 5, "v2"));
        let mut old = Timeline::new();
        old.apply(&message(5, "alice", "v1", None));
        timeline.absorb(&state(&old), 11);
        timeline.apply(&edited(13, 5, "v3"));
        // An even older page, read long ago, arrives last.
        let mut older = Timeline::new();
        older.apply(&message(4, "alice", "four", None));
        timeline.absorb(&state(&older), 3);
        assert_eq!(timeline.get(5).unwrap().body.as_deref(), Some("v3"));
    }

    #[test]
    fn a_replayed_message_deleted_since_arrives_as_a_tombstone() {
        let mut timeline = Timeline::new();
        let mut frame = message(1, "alice", "x", None);
        if let ServerFrame::Message(m) = &mut frame {
            m.body = None;
        }
        timeline.apply(&frame);
        assert!(timeline.get(1).unwrap().deleted);
    }

    #[test]
    fn revisions_change_only_for_what_changed() {
        let mut timeline = Timeline::new();
        timeline.apply(&message(1, "a", "one", None));
        timeline.apply(&message(2, "b", "two", None));
        let before: Vec<u64> = timeline.revisions().map(|(_, r)| r).collect();
        timeline.apply(&edited(3, 2, "TWO"));
        let after: Vec<u64> = timeline.revisions().map(|(_, r)| r).collect();
        assert_eq!(before[0], after[0]);
        assert_ne!(before[1], after[1]);
    }
}
