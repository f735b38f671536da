//! Deciding what each change of a batch does, from what the database holds (read under
//! the rooms' locks) and what the changes before it in the same batch did. Pure, so
//! that the rules (who may see and change what, retries within a batch, the reaction
//! limit) are tested without a database; `batch` turns a plan into SQL.

use std::collections::{hash_map::Entry, BTreeMap, BTreeSet, HashMap};

use app::{
    mentions,
    protocol::{excerpt, Change, ErrorCode, ReplyPreview, Role, MAX_REACTIONS_PER_MESSAGE},
};

use super::{
    access::{self, Kind},
    refusal::Refusal,
};

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
    pub rooms: HashMap<i64, RoomState>,
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
}

#[derive(Clone, Copy, Debug)]
pub struct RoomState {
    pub last_seq: i64,
    pub created_by: Option<i64>,
    pub kind: Kind,
    pub archived: bool,
    /// Only moderators and the owner may notify everyone with @room.
    pub mention_room_moderators: bool,
}

impl Default for RoomState {
    fn default() -> Self {
        RoomState {
            last_seq: 0,
            created_by: None,
            kind: Kind::Public,
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
}

pub fn plan(batch: &[Submission], snapshot: &Snapshot) -> Plan {
    let mut plan = Plan::default();
    let mut state = State {
        targets: snapshot.targets.clone(),
        reactions: snapshot.reactions.clone(),
        members: snapshot.members.clone(),
        archived: BTreeSet::new(),
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

/// What the changes of a batch so far made of what the snapshot holds.
struct State {
    targets: HashMap<(i64, i64), Target>,
    reactions: HashMap<(i64, i64), BTreeSet<(String, i64)>>,
    members: HashMap<(i64, i64), Role>,
    archived: BTreeSet<i64>,
}

fn forbidden(why: &str) -> Refusal {
    Refusal::new(ErrorCode::Forbidden, why)
}

/// What a change that is already so decides: nothing new.
const ALREADY: Result<Effect, Refusal> = Ok(Effect::Nothing);

enum Effect {
    /// A new event.
    Event {
        parent: Option<ReplyPreview>,
        room_mention: bool,
    },
    /// Nothing to store: the change is already so.
    Nothing,
}

fn event() -> Result<Effect, Refusal> {
    Ok(Effect::Event {
        parent: None,
        room_mention: false,
    })
}

fn decide(
    submission: &Submission,
    snapshot: &Snapshot,
    state: &mut State,
    plan: &mut Plan,
) -> Decision {
    let room_id = submission.room_id;
    let actor = submission.actor_id;
    let Some(room) = snapshot.rooms.get(&room_id) else {
        return Decision::Refused(Refusal::unknown_room(&submission.room));
    };
    let role_of = |members: &HashMap<(i64, i64), Role>, user: i64| -> Option<Role> {
        match members.get(&(room_id, user)) {
            Some(stored) => Some(access::member_role(
                room.kind,
                room.created_by,
                user,
                *stored,
            )),
            // The creator owns a public room even while not in it.
            None if room.kind == Kind::Public && room.created_by == Some(user) => Some(Role::Owner),
            None => None,
        }
    };
    let role = role_of(&state.members, actor);
    // Private rooms and conversations do not exist for those outside them.
    if room.kind != Kind::Public && role.is_none() {
        return Decision::Refused(Refusal::unknown_room(&submission.room));
    }
    let archived = room.archived || state.archived.contains(&room_id);
    if archived && !matches!(submission.change, Change::Leave) {
        return Decision::Refused(forbidden("This room is archived: it is read-only."));
    }
    let manages = role.is_some_and(Role::manages);
    let manage = |verb: &str| -> Result<(), Refusal> {
        if room.kind == Kind::Dm {
            Err(forbidden(&format!(
                "A direct conversation has no one to {verb}."
            )))
        } else if manages {
            Ok(())
        } else {
            Err(forbidden(&format!(
                "Only the room's owner and moderators can {verb}."
            )))
        }
    };
    // A message that exists and is not deleted, or why not.
    let live = |targets: &HashMap<(i64, i64), Target>, seq: i64| -> Result<Target, Refusal> {
        match targets.get(&(room_id, seq)) {
            Some(target) if target.body.is_some() => Ok(target.clone()),
            _ => Err(Refusal::unknown_message(seq)),
        }
    };
    let subject = |name: &str| -> Result<Account, Refusal> {
        match snapshot.accounts.get(name) {
            Some(account) if !account.banned => Ok(*account),
            _ => Err(Refusal::invalid(format!(
                "There is no account named {name:?}."
            ))),
        }
    };

    let outcome: Result<Effect, Refusal> = match &submission.change {
        Change::Post { reply_to, .. } => {
            let parent = match reply_to {
                Some(parent) => live(&state.targets, *parent).map(|target| {
                    Some(ReplyPreview {
                        author: target.author.clone(),
                        excerpt: target.body.as_deref().map(excerpt),
                    })
                }),
                None => Ok(None),
            };
            parent.map(|parent| {
                let (_, room_word) = submission.mentions().unwrap_or_default();
                Effect::Event {
                    parent,
                    room_mention: room_word && (manages || !room.mention_room_moderators),
                }
            })
        }
        Change::Edit { target, body } => live(&state.targets, *target).and_then(|found| {
            if found.author_id != actor {
                return Err(forbidden("Only its author can edit this message."));
            }
            if let Some(entry) = state.targets.get_mut(&(room_id, *target)) {
                entry.body = Some(body.clone());
            }
            plan.edits.insert((room_id, *target), body.clone());
            event()
        }),
        Change::Delete { target } => live(&state.targets, *target).and_then(|found| {
            let moderates = manages && room.kind != Kind::Dm;
            if found.author_id != actor && !moderates {
                return Err(forbidden(
                    "Only its author, or the room's owner and moderators, can delete this message.",
                ));
            }
            if let Some(entry) = state.targets.get_mut(&(room_id, *target)) {
                entry.body = None;
            }
            plan.edits.remove(&(room_id, *target));
            plan.deletes.insert((room_id, *target));
            state
                .reactions
                .entry((room_id, *target))
                .or_default()
                .clear();
            event()
        }),
        Change::React { target, emoji, on } => live(&state.targets, *target).and_then(|_| {
            let set = state.reactions.entry((room_id, *target)).or_default();
            if *on {
                let distinct: BTreeSet<&str> = set.iter().map(|(e, _)| e.as_str()).collect();
                if !distinct.contains(emoji.as_str()) && distinct.len() >= MAX_REACTIONS_PER_MESSAGE
                {
                    return Err(Refusal::invalid(format!(
                        "A message can have at most {MAX_REACTIONS_PER_MESSAGE} different emoji."
                    )));
                }
                set.insert((emoji.clone(), actor));
            } else {
                set.remove(&(emoji.clone(), actor));
            }
            event()
        }),
        Change::Topic { topic } => manage("change the topic").map(|()| {
            plan.topics.insert(room_id, topic.clone());
            Effect::Event {
                parent: None,
                room_mention: false,
            }
        }),
        Change::Join => match state.members.entry((room_id, actor)) {
            Entry::Occupied(_) => ALREADY,
            Entry::Vacant(entry) => {
                entry.insert(Role::Member);
                event()
            }
        },
        Change::Leave => {
            if room.kind == Kind::Dm {
                Err(forbidden("You cannot leave a direct conversation."))
            } else if state.members.remove(&(room_id, actor)).is_some() {
                event()
            } else {
                ALREADY
            }
        }
        Change::Invite { user } => manage("invite people").and_then(|()| {
            let account = subject(user)?;
            match state.members.entry((room_id, account.id)) {
                Entry::Occupied(_) => ALREADY,
                Entry::Vacant(entry) => {
                    entry.insert(Role::Member);
                    event()
                }
            }
        }),
        Change::Remove { user } => manage("remove people").and_then(|()| {
            let account = subject(user)?;
            match role_of(&state.members, account.id) {
                _ if !state.members.contains_key(&(room_id, account.id)) => Err(Refusal::invalid(
                    format!("{user} is not a member of this room."),
                )),
                _ if account.id == actor => Err(Refusal::invalid("To go, leave the room.")),
                Some(Role::Owner) => Err(forbidden("The room's owner cannot be removed.")),
                Some(Role::Moderator) if role != Some(Role::Owner) => {
                    Err(forbidden("Only the owner can remove a moderator."))
                }
                _ => {
                    state.members.remove(&(room_id, account.id));
                    event()
                }
            }
        }),
        Change::SetRole { user, role: new } => manage("change roles").and_then(|()| {
            if role != Some(Role::Owner) {
                return Err(forbidden("Only the room's owner can name moderators."));
            }
            if *new == Role::Owner {
                return Err(Refusal::invalid("A room has one owner: its creator."));
            }
            let account = subject(user)?;
            match role_of(&state.members, account.id) {
                None => Err(Refusal::invalid(format!(
                    "{user} is not a member of this room."
                ))),
                Some(Role::Owner) => Err(Refusal::invalid("The owner's role does not change.")),
                Some(current) if current == *new => ALREADY,
                Some(_) => {
                    state.members.insert((room_id, account.id), *new);
                    event()
                }
            }
        }),
        Change::Archive => manage("archive the room").map(|()| {
            state.archived.insert(room_id);
            plan.archived.insert(room_id);
            Effect::Event {
                parent: None,
                room_mention: false,
            }
        }),
    };
    let (parent, room_mention) = match outcome {
        Ok(Effect::Event {
            parent,
            room_mention,
        }) => (parent, room_mention),
        Ok(Effect::Nothing) => {
            let seq = plan
                .last_seq
                .get(&room_id)
                .copied()
                .unwrap_or(room.last_seq);
            return Decision::Repeat {
                room: submission.room.clone(),
                seq,
            };
        }
        Err(refusal) => return Decision::Refused(refusal),
    };
    let last = plan.last_seq.entry(room_id).or_insert(room.last_seq);
    *last += 1;
    let seq = *last;
    match &submission.change {
        Change::Post { body, .. } => {
            // Later changes in the batch may refer to it (a client can guess seqs).
            state.targets.insert(
                (room_id, seq),
                Target {
                    author_id: actor,
                    author: submission.actor.clone(),
                    body: Some(body.clone()),
                },
            );
            let (names, _) = submission.mentions().unwrap_or_default();
            for name in names {
                let Some(account) = snapshot.accounts.get(&name) else {
                    continue;
                };
                // Only people who can read the room are told of it.
                let reads =
                    room.kind == Kind::Public || state.members.contains_key(&(room_id, account.id));
                if account.id != actor && reads {
                    plan.mentions.push((room_id, seq, account.id));
                }
            }
            if room_mention {
                plan.room_mentions.push((room_id, seq, actor));
            }
        }
        Change::Join | Change::Leave => {
            let now = state
                .members
                .get(&(room_id, actor))
                .map(|role| (*role, seq));
            plan.memberships.insert((room_id, actor), now);
        }
        Change::Invite { user } | Change::Remove { user } | Change::SetRole { user, .. } => {
            if let Some(account) = snapshot.accounts.get(user.as_str()) {
                let now = state
                    .members
                    .get(&(room_id, account.id))
                    .map(|role| (*role, seq));
                plan.memberships.insert((room_id, account.id), now);
            }
        }
        _ => {}
    }
    Decision::New {
        seq,
        parent,
        room_mention,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: i64 = 7;
    const ALICE: i64 = 1;
    const BOB: i64 = 2;

    fn submit(actor_id: i64, client_id: &str, change: Change) -> Submission {
        Submission {
            room_id: ROOM,
            room: "general".into(),
            actor_id,
            actor: if actor_id == ALICE { "alice" } else { "bob" }.into(),
            client_id: client_id.into(),
            change,
        }
    }

    fn post(body: &str) -> Change {
        Change::Post {
            body: body.into(),
            reply_to: None,
        }
    }

    fn react(target: i64, emoji: &str, on: bool) -> Change {
        Change::React {
            target,
            emoji: emoji.into(),
            on,
        }
    }

    /// Room at seq 10 with alice's message 10 ("hello", 👍 by bob) and bob's 9.
    fn snapshot() -> Snapshot {
        let mut snapshot = Snapshot::default();
        snapshot.rooms.insert(
            ROOM,
            RoomState {
                last_seq: 10,
                created_by: Some(ALICE),
                ..RoomState::default()
            },
        );
        snapshot.targets.insert(
            (ROOM, 10),
            Target {
                author_id: ALICE,
                author: "alice".into(),
                body: Some("hello".into()),
            },
        );
        snapshot.targets.insert(
            (ROOM, 9),
            Target {
                author_id: BOB,
                author: "bob".into(),
                body: Some("older".into()),
            },
        );
        snapshot
            .reactions
            .insert((ROOM, 10), [("👍".to_string(), BOB)].into());
        snapshot
    }

    fn seqs(plan: &Plan) -> Vec<Option<i64>> {
        plan.decisions
            .iter()
            .map(|d| match d {
                Decision::New { seq, .. } => Some(*seq),
                _ => None,
            })
            .collect()
    }

    fn code(decision: &Decision) -> Option<ErrorCode> {
        match decision {
            Decision::Refused(refusal) => Some(refusal.code),
            _ => None,
        }
    }

    #[test]
    fn accepted_changes_take_the_next_seqs_and_refusals_take_none() {
        let batch = [
            submit(ALICE, "a", post("one")),
            submit(
                BOB,
                "b",
                Change::Edit {
                    target: 10,
                    body: "not mine".into(),
                },
            ),
            submit(
                ALICE,
                "c",
                Change::Edit {
                    target: 10,
                    body: "hello!".into(),
                },
            ),
            submit(BOB, "d", Change::Delete { target: 10 }),
            submit(BOB, "e", Change::Delete { target: 99 }),
            submit(BOB, "f", Change::Topic { topic: "x".into() }),
        ];
        let plan = plan(&batch, &snapshot());
        assert_eq!(seqs(&plan), [Some(11), None, Some(12), None, None, None]);
        assert_eq!(code(&plan.decisions[1]), Some(ErrorCode::Forbidden));
        assert_eq!(code(&plan.decisions[3]), Some(ErrorCode::Forbidden));
        assert_eq!(code(&plan.decisions[4]), Some(ErrorCode::UnknownMessage));
        assert_eq!(code(&plan.decisions[5]), Some(ErrorCode::Forbidden));
        assert_eq!(plan.last_seq[&ROOM], 12);
        assert_eq!(plan.edits[&(ROOM, 10)], "hello!");
    }

    #[test]
    fn a_retry_in_the_same_batch_or_of_a_stored_event_repeats_the_original() {
        let mut snapshot = snapshot();
        snapshot
            .stored
            .insert((ALICE, "old".into()), ("general".into(), 4));
        let batch = [
            submit(ALICE, "x", post("once")),
            submit(ALICE, "x", post("once")),
            submit(ALICE, "old", post("before")),
            submit(BOB, "bad", Change::Delete { target: 10 }),
            submit(BOB, "bad", Change::Delete { target: 10 }),
            // Another user's key is another key.
            submit(BOB, "x", post("mine")),
        ];
        let plan = plan(&batch, &snapshot);
        assert_eq!(
            plan.decisions[0],
            Decision::New {
                seq: 11,
                parent: None,
                room_mention: false,
            }
        );
        assert_eq!(
            plan.decisions[1],
            Decision::Repeat {
                room: "general".into(),
                seq: 11
            }
        );
        assert_eq!(
            plan.decisions[2],
            Decision::Repeat {
                room: "general".into(),
                seq: 4
            }
        );
        assert_eq!(plan.decisions[3], plan.decisions[4], "refused twice alike");
        assert_eq!(
            plan.decisions[5],
            Decision::New {
                seq: 12,
                parent: None,
                room_mention: false,
            }
        );
    }

    #[test]
    fn replies_need_a_live_parent_and_carry_its_preview() {
        let batch = [
            submit(
                BOB,
                "r1",
                Change::Post {
                    body: "yes".into(),
                    reply_to: Some(10),
                },
            ),
            submit(ALICE, "d", Change::Delete { target: 10 }),
            submit(
                BOB,
                "r2",
                Change::Post {
                    body: "too late".into(),
                    reply_to: Some(10),
                },
            ),
            submit(
                BOB,
                "r3",
                Change::Post {
                    body: "nothing there".into(),
                    reply_to: Some(50),
                },
            ),
        ];
        let plan = plan(&batch, &snapshot());
        assert_eq!(
            plan.decisions[0],
            Decision::New {
                seq: 11,
                parent: Some(ReplyPreview {
                    author: "alice".into(),
                    excerpt: Some("hello".into())
                }),
                room_mention: false,
            }
        );
        assert_eq!(code(&plan.decisions[2]), Some(ErrorCode::UnknownMessage));
        assert_eq!(code(&plan.decisions[3]), Some(ErrorCode::UnknownMessage));
    }

    #[test]
    fn deleting_cancels_edits_and_reactions_and_ends_further_changes() {
        let batch = [
            submit(
                ALICE,
                "e",
                Change::Edit {
                    target: 10,
                    body: "edited".into(),
                },
            ),
            submit(ALICE, "r", react(10, "🎉", true)),
            submit(ALICE, "d", Change::Delete { target: 10 }),
            submit(
                ALICE,
                "e2",
                Change::Edit {
                    target: 10,
                    body: "again".into(),
                },
            ),
            submit(BOB, "r2", react(10, "🎉", true)),
        ];
        let plan = plan(&batch, &snapshot());
        assert_eq!(seqs(&plan), [Some(11), Some(12), Some(13), None, None]);
        assert!(plan.edits.is_empty());
        assert!(plan.deletes.contains(&(ROOM, 10)));
        assert!(plan.reactions_on.is_empty(), "{:?}", plan.reactions_on);
        assert_eq!(
            plan.reactions_off,
            [(ROOM, 10, "👍".to_string(), BOB)],
            "the stored reaction goes with the message"
        );
    }

    #[test]
    fn reactions_write_only_their_net_effect() {
        let batch = [
            submit(ALICE, "1", react(10, "🎉", true)),
            submit(ALICE, "2", react(10, "🎉", false)),
            submit(BOB, "3", react(10, "👍", false)),
            submit(BOB, "4", react(9, "👀", true)),
            // Already on: accepted (an event), nothing to write.
            submit(ALICE, "5", react(9, "👀", true)),
            submit(ALICE, "6", react(9, "👀", true)),
        ];
        let plan = plan(&batch, &snapshot());
        assert_eq!(
            seqs(&plan),
            [Some(11), Some(12), Some(13), Some(14), Some(15), Some(16)]
        );
        assert_eq!(
            plan.reactions_on,
            [
                (ROOM, 9, "👀".to_string(), ALICE),
                (ROOM, 9, "👀".to_string(), BOB)
            ]
        );
        assert_eq!(plan.reactions_off, [(ROOM, 10, "👍".to_string(), BOB)]);
    }

    #[test]
    fn a_message_takes_at_most_twenty_different_emoji() {
        let emoji: Vec<String> = "😀😃😄😁😆😅😂🤣😊😇🙂🙃😉😌😍🥰😘😗😙😚😋"
            .chars()
            .map(String::from)
            .collect();
        assert_eq!(emoji.len(), 21);
        let mut batch: Vec<Submission> = emoji
            .iter()
            .enumerate()
            .map(|(i, e)| submit(BOB, &format!("r{i}"), react(9, e, true)))
            .collect();
        // More people on an emoji already there is fine.
        batch.push(submit(ALICE, "more", react(9, &emoji[0], true)));
        let plan = plan(&batch, &snapshot());
        let refused: Vec<usize> = plan
            .decisions
            .iter()
            .enumerate()
            .filter(|(_, d)| matches!(d, Decision::Refused(_)))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(refused, [20]);
        assert_eq!(code(&plan.decisions[20]), Some(ErrorCode::InvalidMessage));
    }

    #[test]
    fn a_guessed_seq_of_a_message_in_the_same_batch_is_found() {
        let batch = [
            submit(ALICE, "p", post("typo")),
            submit(
                ALICE,
                "e",
                Change::Edit {
                    target: 11,
                    body: "fixed".into(),
                },
            ),
            submit(BOB, "r", react(11, "👍", true)),
        ];
        let plan = plan(&batch, &snapshot());
        assert_eq!(seqs(&plan), [Some(11), Some(12), Some(13)]);
        assert_eq!(plan.edits[&(ROOM, 11)], "fixed");
        assert_eq!(plan.reactions_on, [(ROOM, 11, "👍".to_string(), BOB)]);
    }

    #[test]
    fn the_creator_sets_the_topic() {
        let batch = [
            submit(
                ALICE,
                "t1",
                Change::Topic {
                    topic: "one".into(),
                },
            ),
            submit(
                ALICE,
                "t2",
                Change::Topic {
                    topic: "two".into(),
                },
            ),
        ];
        let plan = plan(&batch, &snapshot());
        assert_eq!(seqs(&plan), [Some(11), Some(12)]);
        assert_eq!(plan.topics[&ROOM], "two");
    }

    const CAROL: i64 = 3;

    #[test]
    fn a_post_names_at_most_a_bounded_number_of_people() {
        let body: String = (0..MAX_MENTIONS + 10)
            .map(|i| format!("@person{i:03} "))
            .collect();
        let (names, room) = submit(ALICE, "m", post(&body)).mentions().unwrap();
        assert_eq!(names.len(), MAX_MENTIONS);
        assert!(!room);
    }

    fn as_user(actor_id: i64, name: &str, client_id: &str, change: Change) -> Submission {
        Submission {
            actor: name.into(),
            ..submit(actor_id, client_id, change)
        }
    }

    /// A private room owned by alice, with bob a member and carol (an account) outside.
    fn private_room() -> Snapshot {
        let mut snapshot = snapshot();
        snapshot.rooms.insert(
            ROOM,
            RoomState {
                last_seq: 10,
                created_by: Some(ALICE),
                kind: Kind::Private,
                ..RoomState::default()
            },
        );
        snapshot.members.insert((ROOM, ALICE), Role::Member);
        snapshot.members.insert((ROOM, BOB), Role::Member);
        for (name, id) in [("alice", ALICE), ("bob", BOB), ("carol", CAROL)] {
            snapshot
                .accounts
                .insert(name.into(), Account { id, banned: false });
        }
        snapshot
    }

    #[test]
    fn outsiders_of_a_private_room_are_told_it_does_not_exist() {
        let changes = [
            post("hi"),
            react(10, "👍", true),
            Change::Delete { target: 10 },
            Change::Topic { topic: "x".into() },
            Change::Join,
            Change::Leave,
            Change::Invite {
                user: "carol".into(),
            },
            Change::Archive,
        ];
        let batch: Vec<Submission> = changes
            .into_iter()
            .enumerate()
            .map(|(i, c)| as_user(CAROL, "carol", &format!("c{i}"), c))
            .collect();
        let plan = plan(&batch, &private_room());
        for decision in &plan.decisions {
            assert_eq!(
                decision,
                &Decision::Refused(Refusal::unknown_room("general"))
            );
        }
        assert!(plan.last_seq.is_empty());
    }

    #[test]
    fn owners_and_moderators_manage_and_members_do_not() {
        let batch = [
            as_user(BOB, "bob", "t", Change::Topic { topic: "x".into() }),
            as_user(
                BOB,
                "bob",
                "i",
                Change::Invite {
                    user: "carol".into(),
                },
            ),
            as_user(
                ALICE,
                "alice",
                "i2",
                Change::Invite {
                    user: "carol".into(),
                },
            ),
            // Carol, now in, posts; the invitation again changes nothing.
            as_user(CAROL, "carol", "p", post("hello")),
            as_user(
                ALICE,
                "alice",
                "i3",
                Change::Invite {
                    user: "carol".into(),
                },
            ),
            as_user(
                ALICE,
                "alice",
                "r",
                Change::SetRole {
                    user: "bob".into(),
                    role: Role::Moderator,
                },
            ),
            // Bob moderates now: deletes carol's message, removes carol, but not alice.
            as_user(BOB, "bob", "d", Change::Delete { target: 12 }),
            as_user(
                BOB,
                "bob",
                "x",
                Change::Remove {
                    user: "carol".into(),
                },
            ),
            as_user(
                BOB,
                "bob",
                "y",
                Change::Remove {
                    user: "alice".into(),
                },
            ),
            as_user(CAROL, "carol", "p2", post("still here?")),
            as_user(
                BOB,
                "bob",
                "ghost",
                Change::Invite {
                    user: "nobody".into(),
                },
            ),
        ];
        let plan = plan(&batch, &private_room());
        assert_eq!(
            seqs(&plan),
            [
                None,
                None,
                Some(11),
                Some(12),
                None,
                Some(13),
                Some(14),
                Some(15),
                None,
                None,
                None
            ]
        );
        assert_eq!(code(&plan.decisions[0]), Some(ErrorCode::Forbidden));
        assert_eq!(code(&plan.decisions[1]), Some(ErrorCode::Forbidden));
        assert!(matches!(
            plan.decisions[4],
            Decision::Repeat { seq: 12, .. }
        ));
        assert_eq!(code(&plan.decisions[8]), Some(ErrorCode::Forbidden));
        assert_eq!(code(&plan.decisions[9]), Some(ErrorCode::UnknownRoom));
        assert_eq!(code(&plan.decisions[10]), Some(ErrorCode::InvalidMessage));
        assert_eq!(plan.memberships[&(ROOM, CAROL)], None);
        assert_eq!(plan.memberships[&(ROOM, BOB)], Some((Role::Moderator, 13)));
    }

    #[test]
    fn an_archived_room_is_read_only_but_can_be_left() {
        let batch = [
            as_user(ALICE, "alice", "a", Change::Archive),
            as_user(BOB, "bob", "p", post("late")),
            as_user(ALICE, "alice", "t", Change::Topic { topic: "x".into() }),
            as_user(BOB, "bob", "l", Change::Leave),
        ];
        let plan = plan(&batch, &private_room());
        assert_eq!(seqs(&plan), [Some(11), None, None, Some(12)]);
        assert_eq!(code(&plan.decisions[1]), Some(ErrorCode::Forbidden));
        assert!(plan.archived.contains(&ROOM));
    }

    #[test]
    fn mentions_reach_readers_and_room_mentions_follow_the_rooms_rule() {
        let mut snapshot = private_room();
        let batch = [as_user(BOB, "bob", "m", post("@alice @carol @room"))];
        let planned = plan(&batch, &snapshot);
        // Carol cannot read the room: she is not told.
        assert_eq!(planned.mentions, [(ROOM, 11, ALICE)]);
        assert_eq!(planned.room_mentions, [(ROOM, 11, BOB)]);
        snapshot
            .rooms
            .get_mut(&ROOM)
            .unwrap()
            .mention_room_moderators = true;
        let planned = plan(&batch, &snapshot);
        assert!(planned.room_mentions.is_empty());
        assert!(matches!(
            planned.decisions[0],
            Decision::New {
                room_mention: false,
                ..
            }
        ));
    }

    #[test]
    fn a_conversation_has_no_managers_and_cannot_be_left() {
        let mut snapshot = private_room();
        snapshot.rooms.get_mut(&ROOM).unwrap().kind = Kind::Dm;
        let batch = [
            as_user(ALICE, "alice", "t", Change::Topic { topic: "x".into() }),
            as_user(ALICE, "alice", "l", Change::Leave),
            as_user(ALICE, "alice", "d", Change::Delete { target: 9 }),
            as_user(ALICE, "alice", "p", post("hi")),
        ];
        let plan = plan(&batch, &snapshot);
        assert_eq!(seqs(&plan), [None, None, None, Some(11)]);
        for decision in &plan.decisions[..3] {
            assert_eq!(code(decision), Some(ErrorCode::Forbidden));
        }
    }
}
