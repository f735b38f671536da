//! Deciding what each change of a batch does, from what the database holds (read under
//! the rooms' locks) and what the changes before it in the same batch did. Pure, so
//! that the rules (who may see and change what, retries within a batch, the reaction
//! limit) are tested without a database; `batch` turns a plan into SQL.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::{
    mentions,
    protocol::{Attachment, Change, ReplyPreview, Role},
};

use crate::chat::{refusal::Refusal, rules::access::RoomKind};

/// One function per kind of change, and what an accepted one records.
mod decide;

use decide::{decide, State};

/// Most people one message notifies by name; names past these are plain text.
pub const MAX_MENTIONS: usize = 50;

/// A checked change on its way into a room's log.
#[derive(Clone, Debug)]
pub struct Submission {
    pub room_id: i64,
    pub room: String,
    pub actor_id: i64,
    pub actor: String,
    /// Stored form (lower-case).
    pub client_id: String,
    pub change: Change,
}

impl Submission {
    /// The account a membership change is about.
    pub fn subject(&self) -> Option<&str> {
        match &self.change {
            Change::Invite { user } | Change::Remove { user } | Change::SetRole { user, .. } => {
                Some(user)
            }
            _ => None,
        }
    }

    /// The names a post mentions, at most [`MAX_MENTIONS`], and whether it says @room.
    pub fn mentions(&self) -> Option<(Vec<String>, bool)> {
        match &self.change {
            Change::Post { body, .. } => {
                let found = mentions::parse(body);
                let names = found.users.into_iter().take(MAX_MENTIONS).collect();
                Some((names, found.room))
            }
            _ => None,
        }
    }
}

/// A message that changes in a batch refer to, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub author_id: i64,
    pub author: String,
    /// `None` once deleted.
    pub body: Option<String>,
}

/// An upload a post of the batch names, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub uploader_id: i64,
    pub room_id: i64,
    /// A message has it already.
    pub claimed: bool,
    pub file: Attachment,
}

/// An account a batch names (a member changed, someone mentioned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub banned: bool,
}

/// What the database holds that a batch's changes depend on.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Each locked room's state.
    pub rooms: HashMap<i64, LockedRoom>,
    /// Events stored before, by `(actor_id, client_id)`: their room's name and seq.
    pub stored: HashMap<(i64, String), (String, i64)>,
    /// Messages the batch refers to, by `(room_id, seq)`.
    pub targets: HashMap<(i64, i64), Target>,
    /// The reactions on the messages the batch reacts to or deletes: `(emoji, user_id)`.
    pub reactions: HashMap<(i64, i64), BTreeSet<(String, i64)>>,
    /// The accounts the batch names, by username.
    pub accounts: HashMap<String, Account>,
    /// The memberships of the actors and the accounts named, by `(room_id, user_id)`:
    /// `Member` or `Moderator` (ownership comes from the room).
    pub members: HashMap<(i64, i64), Role>,
    /// The live uploads the batch's posts name, by id.
    pub uploads: HashMap<String, Upload>,
}

#[derive(Clone, Copy, Debug)]
pub struct LockedRoom {
    pub last_seq: i64,
    pub created_by: Option<i64>,
    pub kind: RoomKind,
    pub archived: bool,
    /// Only moderators and the owner may notify everyone with @room.
    pub mention_room_moderators: bool,
}

impl Default for LockedRoom {
    fn default() -> Self {
        LockedRoom {
            last_seq: 0,
            created_by: None,
            kind: RoomKind::Public,
            archived: false,
            mention_room_moderators: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A new event with this seq (a reply also gets its parent's preview; a post that
    /// notifies the whole room says so).
    New {
        seq: i64,
        parent: Option<ReplyPreview>,
        room_mention: bool,
        /// A post's files, in order.
        files: Vec<Attachment>,
    },
    /// A retry of an event stored before (or earlier in this batch), or a change that
    /// is already so (joining a room one is in): nothing new, `seq` is where it stands.
    Repeat {
        room: String,
        seq: i64,
    },
    Refused(Refusal),
}

/// Everything a batch writes, net of what its changes undo among themselves.
#[derive(Debug, Default)]
pub struct Plan {
    pub decisions: Vec<Decision>,
    /// New `last_seq` of every room that gained events.
    pub last_seq: BTreeMap<i64, i64>,
    /// The final body of each message edited (and not deleted) in the batch.
    pub edits: BTreeMap<(i64, i64), String>,
    pub deletes: BTreeSet<(i64, i64)>,
    /// `(room_id, message_seq, emoji, user_id)` rows to insert and to remove.
    pub reactions_on: Vec<(i64, i64, String, i64)>,
    pub reactions_off: Vec<(i64, i64, String, i64)>,
    /// The final topic of each room whose topic changed.
    pub topics: BTreeMap<i64, String>,
    /// Rooms archived.
    pub archived: BTreeSet<i64>,
    /// Memberships as the batch leaves them, for each `(room_id, user_id)` it changed:
    /// the role and the seq of the change (where a new member's reading starts), or
    /// `None` for gone.
    pub memberships: BTreeMap<(i64, i64), Option<(Role, i64)>>,
    /// `(room_id, seq, user_id)` of every person a post mentions by name.
    pub mentions: Vec<(i64, i64, i64)>,
    /// `(room_id, seq, author_id)` of every post that notifies all members.
    pub room_mentions: Vec<(i64, i64, i64)>,
    /// `(file id, room_id, seq, position)` of every upload a post claims.
    pub claims: Vec<(String, i64, i64, i64)>,
}

pub fn plan(batch: &[Submission], snapshot: &Snapshot) -> Plan {
    let mut plan = Plan::default();
    let mut state = State {
        targets: snapshot.targets.clone(),
        reactions: snapshot.reactions.clone(),
        members: snapshot.members.clone(),
        archived: BTreeSet::new(),
        claimed: BTreeSet::new(),
    };
    let mut first_of_key: HashMap<(i64, &str), usize> = HashMap::new();

    for (i, submission) in batch.iter().enumerate() {
        let key = (submission.actor_id, submission.client_id.as_str());
        if let Some(&first) = first_of_key.get(&key) {
            // The same frame twice in one batch: the second is a retry of the first.
            let again = match &plan.decisions[first] {
                Decision::New { seq, .. } => Decision::Repeat {
                    room: batch[first].room.clone(),
                    seq: *seq,
                },
                other => other.clone(),
            };
            plan.decisions.push(again);
            continue;
        }
        first_of_key.insert(key, i);
        if let Some((room, seq)) = snapshot
            .stored
            .get(&(submission.actor_id, submission.client_id.clone()))
        {
            plan.decisions.push(Decision::Repeat {
                room: room.clone(),
                seq: *seq,
            });
            continue;
        }
        let decision = decide(submission, snapshot, &mut state, &mut plan);
        plan.decisions.push(decision);
    }

    // Reactions: write only the difference between what was stored and where the
    // batch left each message (on and off again in one batch writes nothing).
    for (message, now) in &state.reactions {
        let before = snapshot.reactions.get(message).cloned().unwrap_or_default();
        for (emoji, user) in now.difference(&before) {
            plan.reactions_on
                .push((message.0, message.1, emoji.clone(), *user));
        }
        for (emoji, user) in before.difference(now) {
            plan.reactions_off
                .push((message.0, message.1, emoji.clone(), *user));
        }
    }
    plan.reactions_on.sort();
    plan.reactions_off.sort();
    plan
}

#[cfg(test)]
mod tests;
