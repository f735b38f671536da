//! Stored rows and new events as the frames clients receive: one place that knows both
//! the columns and the wire, for replays from the database and live fan-out alike.

use std::collections::BTreeMap;

use app::protocol::{
    excerpt, ArchivedRoom, Attachment, Change, ChatMessage, Deleted, Edited, MemberChange,
    MemberEvent, MessageView, Reacted, Reaction, ReplyPreview, Role, ServerFrame, TopicSet,
};

use super::write::plan::Submission;
use crate::clock::rfc3339_ms;

/// The kinds of event in `room_events.kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Message,
    Edited,
    Deleted,
    ReactionOn,
    ReactionOff,
    Topic,
    Joined,
    Left,
    Invited,
    Removed,
    RoleChanged,
    Archived,
}

const KINDS: [EventKind; 12] = [
    EventKind::Message,
    EventKind::Edited,
    EventKind::Deleted,
    EventKind::ReactionOn,
    EventKind::ReactionOff,
    EventKind::Topic,
    EventKind::Joined,
    EventKind::Left,
    EventKind::Invited,
    EventKind::Removed,
    EventKind::RoleChanged,
    EventKind::Archived,
];

impl EventKind {
    pub fn of(change: &Change) -> EventKind {
        match change {
            Change::Post { .. } => EventKind::Message,
            Change::Edit { .. } => EventKind::Edited,
            Change::Delete { .. } => EventKind::Deleted,
            Change::React { on: true, .. } => EventKind::ReactionOn,
            Change::React { on: false, .. } => EventKind::ReactionOff,
            Change::Topic { .. } => EventKind::Topic,
            Change::Join => EventKind::Joined,
            Change::Leave => EventKind::Left,
            Change::Invite { .. } => EventKind::Invited,
            Change::Remove { .. } => EventKind::Removed,
            Change::SetRole { .. } => EventKind::RoleChanged,
            Change::Archive => EventKind::Archived,
        }
    }

    /// What a membership event says happened, for those kinds.
    fn member_change(self) -> Option<MemberChange> {
        Some(match self {
            EventKind::Joined => MemberChange::Joined,
            EventKind::Left => MemberChange::Left,
            EventKind::Invited => MemberChange::Invited,
            EventKind::Removed => MemberChange::Removed,
            EventKind::RoleChanged => MemberChange::RoleChanged,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Edited => "edited",
            EventKind::Deleted => "deleted",
            EventKind::ReactionOn => "reaction_on",
            EventKind::ReactionOff => "reaction_off",
            EventKind::Topic => "topic",
            EventKind::Joined => "joined",
            EventKind::Left => "left",
            EventKind::Invited => "invited",
            EventKind::Removed => "removed",
            EventKind::RoleChanged => "role_changed",
            EventKind::Archived => "archived",
        }
    }

    fn parse(kind: &str) -> Option<EventKind> {
        KINDS.into_iter().find(|k| k.as_str() == kind)
    }
}

/// One event of a room's log, read back with what its frame needs: for a message and
/// an edit the message's current body, for a reply its parent's author and start.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LogRow {
    pub seq: i64,
    pub kind: String,
    pub actor: String,
    pub client_id: String,
    pub target_seq: Option<i64>,
    pub emoji: Option<Vec<u8>>,
    pub topic: Option<String>,
    pub at: i64,
    pub body: Option<String>,
    pub reply_to: Option<i64>,
    pub parent_author: Option<String>,
    /// The first characters of the parent's body (enough for [`excerpt`]).
    pub parent_body: Option<String>,
    /// Whether a post notified everyone (1).
    pub room_mention: Option<i64>,
    /// Whom a membership event is about, and the role given.
    pub subject: Option<String>,
    pub role: Option<String>,
}

/// A message as it now stands, with its parent's author and start when a reply.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub seq: i64,
    pub author: String,
    pub body: Option<String>,
    pub client_id: String,
    pub sent_at: i64,
    pub edited_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub reply_to: Option<i64>,
    pub parent_author: Option<String>,
    pub parent_body: Option<String>,
}

/// The columns of `files` that a message shows of each of its files.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FileColumns {
    pub id: String,
    pub name: String,
    pub size: i64,
    pub content_type: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
}

impl FileColumns {
    pub fn attachment(&self) -> Attachment {
        Attachment::stored(
            &self.id,
            &self.name,
            self.size,
            &self.content_type,
            self.width,
            self.height,
        )
    }
}

/// A file on a message.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AttachedRow {
    pub message_seq: i64,
    #[sqlx(flatten)]
    pub file: FileColumns,
}

/// The files of a run of messages by seq, each message's in order.
pub fn files_by_message(rows: Vec<AttachedRow>) -> BTreeMap<i64, Vec<Attachment>> {
    let mut by_message: BTreeMap<i64, Vec<Attachment>> = BTreeMap::new();
    for row in rows {
        by_message
            .entry(row.message_seq)
            .or_default()
            .push(row.file.attachment());
    }
    by_message
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReactionRow {
    pub message_seq: i64,
    pub emoji: Vec<u8>,
    pub username: String,
}

fn preview(
    reply_to: Option<i64>,
    author: Option<String>,
    body: Option<&str>,
) -> Option<ReplyPreview> {
    reply_to.map(|_| ReplyPreview {
        author: author.unwrap_or_default(),
        excerpt: body.map(excerpt),
    })
}

fn emoji_text(bytes: Option<Vec<u8>>) -> String {
    String::from_utf8(bytes.unwrap_or_default()).unwrap_or_default()
}

impl LogRow {
    /// The frame this event was when it happened, with today's bodies (and, for a
    /// post, the files it still has).
    pub fn into_frame(
        self,
        room: &str,
        files: Vec<Attachment>,
    ) -> Result<ServerFrame, sqlx::Error> {
        let kind = EventKind::parse(&self.kind).ok_or_else(|| {
            sqlx::Error::Decode(format!("unknown event kind {:?}", self.kind).into())
        })?;
        let room = room.to_string();
        let target = self.target_seq.unwrap_or_default();
        Ok(match kind {
            EventKind::Message => ServerFrame::Message(ChatMessage {
                room,
                seq: self.seq,
                author: self.actor,
                parent: preview(
                    self.reply_to,
                    self.parent_author,
                    self.parent_body.as_deref(),
                ),
                body: self.body,
                sent_at: rfc3339_ms(self.at),
                client_id: self.client_id,
                reply_to: self.reply_to,
                room_mention: self.room_mention.unwrap_or_default() != 0,
                files,
            }),
            EventKind::Edited => ServerFrame::Edited(Edited {
                room,
                seq: self.seq,
                target,
                body: self.body,
                edited_at: rfc3339_ms(self.at),
            }),
            EventKind::Deleted => ServerFrame::Deleted(Deleted {
                room,
                seq: self.seq,
                target,
            }),
            EventKind::ReactionOn | EventKind::ReactionOff => ServerFrame::Reaction(Reacted {
                room,
                seq: self.seq,
                target,
                emoji: emoji_text(self.emoji),
                user: self.actor,
                on: kind == EventKind::ReactionOn,
            }),
            EventKind::Topic => ServerFrame::Topic(TopicSet {
                room,
                seq: self.seq,
                topic: self.topic.unwrap_or_default(),
                by: self.actor,
            }),
            EventKind::Archived => ServerFrame::Archived(ArchivedRoom {
                room,
                seq: self.seq,
                by: self.actor,
            }),
            EventKind::Joined
            | EventKind::Left
            | EventKind::Invited
            | EventKind::Removed
            | EventKind::RoleChanged => ServerFrame::Member(MemberEvent {
                room,
                seq: self.seq,
                user: self.subject.unwrap_or_else(|| self.actor.clone()),
                change: kind.member_change().unwrap_or(MemberChange::Joined),
                by: self.actor,
                role: self.role.as_deref().and_then(Role::parse),
            }),
        })
    }
}

/// The messages of a history page as they now stand, with their reactions.
pub fn message_views(
    rows: Vec<MessageRow>,
    reactions: Vec<ReactionRow>,
    files: Vec<AttachedRow>,
) -> Vec<MessageView> {
    let mut files = files_by_message(files);
    let mut by_message: BTreeMap<i64, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for reaction in reactions {
        by_message
            .entry(reaction.message_seq)
            .or_default()
            .entry(emoji_text(Some(reaction.emoji)))
            .or_default()
            .push(reaction.username);
    }
    rows.into_iter()
        .map(|row| {
            // BTreeMap order is code-point order for emoji, as the timeline keeps them.
            let reactions = by_message
                .remove(&row.seq)
                .unwrap_or_default()
                .into_iter()
                .map(|(emoji, mut users)| {
                    users.sort();
                    Reaction { emoji, users }
                })
                .collect();
            MessageView {
                seq: row.seq,
                author: row.author,
                deleted: row.deleted_at.is_some(),
                body: row.body,
                sent_at: rfc3339_ms(row.sent_at),
                edited_at: row.edited_at.map(rfc3339_ms),
                client_id: row.client_id,
                parent: preview(row.reply_to, row.parent_author, row.parent_body.as_deref()),
                reply_to: row.reply_to,
                reactions,
                files: files.remove(&row.seq).unwrap_or_default(),
            }
        })
        .collect()
}

/// Whose membership of the room `frame` ends: the user who left or was removed. The
/// writer asks it of the event it has just stored, a replay of the event it has read,
/// so a member's feed ends at the same event whichever way it arrived.
pub fn membership_ended(frame: &ServerFrame) -> Option<std::sync::Arc<str>> {
    match frame {
        ServerFrame::Member(event)
            if matches!(event.change, MemberChange::Left | MemberChange::Removed) =>
        {
            Some(event.user.as_str().into())
        }
        _ => None,
    }
}

/// The frame of an event just stored as `seq` at `now`.
pub fn new_event(
    submission: &Submission,
    seq: i64,
    parent: Option<ReplyPreview>,
    room_mention: bool,
    files: Vec<Attachment>,
    now: i64,
) -> ServerFrame {
    let room = submission.room.clone();
    match &submission.change {
        Change::Post { body, reply_to, .. } => ServerFrame::Message(ChatMessage {
            room,
            seq,
            author: submission.actor.clone(),
            body: Some(body.clone()),
            sent_at: rfc3339_ms(now),
            client_id: submission.client_id.clone(),
            reply_to: *reply_to,
            parent,
            room_mention,
            files,
        }),
        Change::Edit { target, body } => ServerFrame::Edited(Edited {
            room,
            seq,
            target: *target,
            body: Some(body.clone()),
            edited_at: rfc3339_ms(now),
        }),
        Change::Delete { target } => ServerFrame::Deleted(Deleted {
            room,
            seq,
            target: *target,
        }),
        Change::React { target, emoji, on } => ServerFrame::Reaction(Reacted {
            room,
            seq,
            target: *target,
            emoji: emoji.clone(),
            user: submission.actor.clone(),
            on: *on,
        }),
        Change::Topic { topic } => ServerFrame::Topic(TopicSet {
            room,
            seq,
            topic: topic.clone(),
            by: submission.actor.clone(),
        }),
        Change::Archive => ServerFrame::Archived(ArchivedRoom {
            room,
            seq,
            by: submission.actor.clone(),
        }),
        Change::Join
        | Change::Leave
        | Change::Invite { .. }
        | Change::Remove { .. }
        | Change::SetRole { .. } => {
            let (user, role) = match &submission.change {
                Change::Invite { user } | Change::Remove { user } => (user.clone(), None),
                Change::SetRole { user, role } => (user.clone(), Some(*role)),
                _ => (submission.actor.clone(), None),
            };
            ServerFrame::Member(MemberEvent {
                room,
                seq,
                user,
                change: EventKind::of(&submission.change)
                    .member_change()
                    .unwrap_or(MemberChange::Joined),
                by: submission.actor.clone(),
                role,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_change() -> [Change; 12] {
        [
            Change::Post {
                body: "b".into(),
                reply_to: None,
                files: vec![],
            },
            Change::Edit {
                target: 1,
                body: "b".into(),
            },
            Change::Delete { target: 1 },
            Change::React {
                target: 1,
                emoji: "👍".into(),
                on: true,
            },
            Change::React {
                target: 1,
                emoji: "👍".into(),
                on: false,
            },
            Change::Topic { topic: "t".into() },
            Change::Join,
            Change::Leave,
            Change::Invite { user: "u".into() },
            Change::Remove { user: "u".into() },
            Change::SetRole {
                user: "u".into(),
                role: Role::Moderator,
            },
            Change::Archive,
        ]
    }

    #[test]
    fn kinds_round_trip() {
        for change in every_change() {
            let kind = EventKind::of(&change);
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert!(kind.as_str().len() <= 16, "fits room_events.kind");
        }
    }

    #[test]
    fn an_event_ends_the_same_membership_stored_or_read_back() {
        for change in every_change() {
            let submission = Submission {
                room_id: 1,
                room: "general".into(),
                actor_id: 1,
                actor: "alice".into(),
                client_id: "c".into(),
                change: change.clone(),
            };
            let written = membership_ended(&new_event(&submission, 5, None, false, vec![], 0));
            let row = LogRow {
                seq: 5,
                kind: EventKind::of(&change).as_str().into(),
                actor: "alice".into(),
                client_id: "c".into(),
                target_seq: Some(1),
                emoji: Some("👍".as_bytes().to_vec()),
                topic: Some("t".into()),
                at: 0,
                body: Some("b".into()),
                reply_to: None,
                parent_author: None,
                parent_body: None,
                room_mention: None,
                subject: submission.subject().map(str::to_string),
                role: Some("moderator".into()),
            };
            let read = membership_ended(&row.into_frame("general", vec![]).unwrap());
            assert_eq!(written, read, "{change:?}");
            let expected = match change {
                Change::Leave => Some("alice"),
                Change::Remove { .. } => Some("u"),
                _ => None,
            };
            assert_eq!(written.as_deref(), expected, "{change:?}");
        }
    }

    #[test]
    fn history_lists_reactions_in_the_timelines_order() {
        let row = MessageRow {
            seq: 3,
            author: "alice".into(),
            body: Some("hi".into()),
            client_id: "c".into(),
            sent_at: 0,
            edited_at: None,
            deleted_at: None,
            reply_to: None,
            parent_author: None,
            parent_body: None,
        };
        let reaction = |emoji: &str, user: &str| ReactionRow {
            message_seq: 3,
            emoji: emoji.as_bytes().to_vec(),
            username: user.into(),
        };
        let views = message_views(
            vec![row],
            vec![
                reaction("👍", "zed"),
                reaction("🎉", "bob"),
                reaction("👍", "amy"),
            ],
            vec![],
        );
        assert_eq!(
            views[0].reactions,
            vec![
                Reaction {
                    emoji: "🎉".into(),
                    users: vec!["bob".into()]
                },
                Reaction {
                    emoji: "👍".into(),
                    users: vec!["amy".into(), "zed".into()]
                },
            ]
        );
    }
}
