//! Each kind of change decided on its own: [`decide`] finds the room and the actor's
//! role, refuses what no change may do there (a private room seen from outside, an
//! archived room), hands the change to the function of its kind, and gives an accepted
//! one the room's next seq.

use std::collections::{hash_map::Entry, BTreeSet, HashMap};

use app::protocol::{
    excerpt, Attachment, Change, ErrorCode, ReplyPreview, Role, MAX_REACTIONS_PER_MESSAGE,
};

use super::{Account, Decision, LockedRoom, Plan, Snapshot, Submission, Target};
use crate::chat::{
    refusal::Refusal,
    rules::access::{self, RoomKind},
};

/// What the changes of a batch so far made of what the snapshot holds.
pub struct State {
    pub targets: HashMap<(i64, i64), Target>,
    pub reactions: HashMap<(i64, i64), BTreeSet<(String, i64)>>,
    pub members: HashMap<(i64, i64), Role>,
    pub archived: BTreeSet<i64>,
    /// Uploads claimed by posts earlier in the batch.
    pub claimed: BTreeSet<String>,
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
        files: Vec<Attachment>,
    },
    /// Nothing to store: the change is already so.
    Nothing,
}

fn event() -> Result<Effect, Refusal> {
    Ok(Effect::Event {
        parent: None,
        room_mention: false,
        files: Vec::new(),
    })
}

/// One change in its room, as every kind's function sees it.
struct Scene<'a> {
    submission: &'a Submission,
    snapshot: &'a Snapshot,
    room: &'a LockedRoom,
    room_id: i64,
    actor: i64,
    /// The actor's role as the batch so far leaves it.
    role: Option<Role>,
}

impl Scene<'_> {
    /// `user`'s role in the room as `members` has it.
    fn role_of(&self, members: &HashMap<(i64, i64), Role>, user: i64) -> Option<Role> {
        match members.get(&(self.room_id, user)) {
            Some(stored) => Some(access::member_role(
                self.room.kind,
                self.room.created_by,
                user,
                *stored,
            )),
            // The creator owns a public room even while not in it.
            None if self.room.kind == RoomKind::Public && self.room.created_by == Some(user) => {
                Some(Role::Owner)
            }
            None => None,
        }
    }

    fn manages(&self) -> bool {
        self.role.is_some_and(Role::manages)
    }

    /// Whether the actor may `verb` (manage the room), or why not.
    fn manage(&self, verb: &str) -> Result<(), Refusal> {
        if self.room.kind == RoomKind::Dm {
            Err(forbidden(&format!(
                "A direct conversation has no one to {verb}."
            )))
        } else if self.manages() {
            Ok(())
        } else {
            Err(forbidden(&format!(
                "Only the room's owner and moderators can {verb}."
            )))
        }
    }

    /// A message that exists and is not deleted, or why not.
    fn live(&self, targets: &HashMap<(i64, i64), Target>, seq: i64) -> Result<Target, Refusal> {
        match targets.get(&(self.room_id, seq)) {
            Some(target) if target.body.is_some() => Ok(target.clone()),
            _ => Err(Refusal::unknown_message(seq)),
        }
    }

    /// The account a membership change is about, or why there is none.
    fn subject(&self, name: &str) -> Result<Account, Refusal> {
        match self.snapshot.accounts.get(name) {
            Some(account) if !account.banned => Ok(*account),
            _ => Err(Refusal::invalid(format!(
                "There is no account named {name:?}."
            ))),
        }
    }
}

pub fn decide(
    submission: &Submission,
    snapshot: &Snapshot,
    state: &mut State,
    plan: &mut Plan,
) -> Decision {
    let room_id = submission.room_id;
    let Some(room) = snapshot.rooms.get(&room_id) else {
        return Decision::Refused(Refusal::unknown_room(&submission.room));
    };
    let mut scene = Scene {
        submission,
        snapshot,
        room,
        room_id,
        actor: submission.actor_id,
        role: None,
    };
    scene.role = scene.role_of(&state.members, scene.actor);
    // Private rooms and conversations do not exist for those outside them.
    if room.kind != RoomKind::Public && scene.role.is_none() {
        return Decision::Refused(Refusal::unknown_room(&submission.room));
    }
    let archived = room.archived || state.archived.contains(&room_id);
    if archived && !matches!(submission.change, Change::Leave) {
        return Decision::Refused(forbidden("This room is archived: it is read-only."));
    }
    let outcome = match &submission.change {
        Change::Post {
            reply_to, files, ..
        } => post(&scene, state, *reply_to, files),
        Change::Edit { target, body } => edit(&scene, state, plan, *target, body),
        Change::Delete { target } => delete(&scene, state, plan, *target),
        Change::React { target, emoji, on } => react(&scene, state, *target, emoji, *on),
        Change::Topic { topic } => set_topic(&scene, plan, topic),
        Change::Join => join(&scene, state),
        Change::Leave => leave(&scene, state),
        Change::Invite { user } => invite(&scene, state, user),
        Change::Remove { user } => remove(&scene, state, user),
        Change::SetRole { user, role } => set_role(&scene, state, user, *role),
        Change::Archive => archive(&scene, state, plan),
    };
    match outcome {
        Ok(Effect::Event {
            parent,
            room_mention,
            files,
        }) => {
            let seq = next_seq(plan, room_id, room);
            record(&scene, state, plan, seq, room_mention);
            for (position, file) in files.iter().enumerate() {
                state.claimed.insert(file.id.clone());
                plan.claims
                    .push((file.id.clone(), room_id, seq, position as i64));
            }
            Decision::New {
                seq,
                parent,
                room_mention,
                files,
            }
        }
        Ok(Effect::Nothing) => Decision::Repeat {
            room: submission.room.clone(),
            seq: plan
                .last_seq
                .get(&room_id)
                .copied()
                .unwrap_or(room.last_seq),
        },
        Err(refusal) => Decision::Refused(refusal),
    }
}

fn next_seq(plan: &mut Plan, room_id: i64, room: &LockedRoom) -> i64 {
    let last = plan.last_seq.entry(room_id).or_insert(room.last_seq);
    *last += 1;
    *last
}

/// The uploads a post attaches: each the actor's own, made for this room, and not yet
/// on a message (one refusal for every other case, as for an id that never existed).
fn attach(scene: &Scene, state: &State, ids: &[String]) -> Result<Vec<Attachment>, Refusal> {
    ids.iter()
        .map(|id| match scene.snapshot.uploads.get(id) {
            Some(upload)
                if upload.uploader_id == scene.actor
                    && upload.room_id == scene.room_id
                    && !upload.claimed
                    && !state.claimed.contains(id) =>
            {
                Ok(upload.file.clone())
            }
            _ => Err(Refusal::invalid(
                "One of the files is gone or was sent already; attach it again.",
            )),
        })
        .collect()
}

/// A post, a reply to a live message, its files, and whether it notifies the whole room.
fn post(
    scene: &Scene,
    state: &State,
    reply_to: Option<i64>,
    files: &[String],
) -> Result<Effect, Refusal> {
    let files = attach(scene, state, files)?;
    let parent = match reply_to {
        Some(parent) => {
            let target = scene.live(&state.targets, parent)?;
            Some(ReplyPreview {
                author: target.author.clone(),
                excerpt: target.body.as_deref().map(excerpt),
            })
        }
        None => None,
    };
    let (_, room_word) = scene.submission.mentions().unwrap_or_default();
    Ok(Effect::Event {
        parent,
        room_mention: room_word && (scene.manages() || !scene.room.mention_room_moderators),
        files,
    })
}

/// Only its author edits a message.
fn edit(
    scene: &Scene,
    state: &mut State,
    plan: &mut Plan,
    target: i64,
    body: &str,
) -> Result<Effect, Refusal> {
    let found = scene.live(&state.targets, target)?;
    if found.author_id != scene.actor {
        return Err(forbidden("Only its author can edit this message."));
    }
    if let Some(entry) = state.targets.get_mut(&(scene.room_id, target)) {
        entry.body = Some(body.to_string());
    }
    plan.edits.insert((scene.room_id, target), body.to_string());
    event()
}

/// Its author or the room's managers delete a message, and its reactions with it.
fn delete(
    scene: &Scene,
    state: &mut State,
    plan: &mut Plan,
    target: i64,
) -> Result<Effect, Refusal> {
    let found = scene.live(&state.targets, target)?;
    let moderates = scene.manages() && scene.room.kind != RoomKind::Dm;
    if found.author_id != scene.actor && !moderates {
        return Err(forbidden(
            "Only its author, or the room's owner and moderators, can delete this message.",
        ));
    }
    let key = (scene.room_id, target);
    if let Some(entry) = state.targets.get_mut(&key) {
        entry.body = None;
    }
    plan.edits.remove(&key);
    plan.deletes.insert(key);
    state.reactions.entry(key).or_default().clear();
    event()
}

/// A reaction on or off a live message, within the distinct emoji a message may take.
fn react(
    scene: &Scene,
    state: &mut State,
    target: i64,
    emoji: &str,
    on: bool,
) -> Result<Effect, Refusal> {
    scene.live(&state.targets, target)?;
    let set = state.reactions.entry((scene.room_id, target)).or_default();
    if on {
        let distinct: BTreeSet<&str> = set.iter().map(|(e, _)| e.as_str()).collect();
        if !distinct.contains(emoji) && distinct.len() >= MAX_REACTIONS_PER_MESSAGE {
            return Err(Refusal::invalid(format!(
                "A message can have at most {MAX_REACTIONS_PER_MESSAGE} different emoji."
            )));
        }
        set.insert((emoji.to_string(), scene.actor));
    } else {
        set.remove(&(emoji.to_string(), scene.actor));
    }
    event()
}

fn set_topic(scene: &Scene, plan: &mut Plan, topic: &str) -> Result<Effect, Refusal> {
    scene.manage("change the topic")?;
    plan.topics.insert(scene.room_id, topic.to_string());
    event()
}

fn join(scene: &Scene, state: &mut State) -> Result<Effect, Refusal> {
    match state.members.entry((scene.room_id, scene.actor)) {
        Entry::Occupied(_) => ALREADY,
        Entry::Vacant(entry) => {
            entry.insert(Role::Member);
            event()
        }
    }
}

/// Anyone leaves a room they are in, even an archived one; nobody leaves a
/// conversation.
fn leave(scene: &Scene, state: &mut State) -> Result<Effect, Refusal> {
    if scene.room.kind == RoomKind::Dm {
        Err(forbidden("You cannot leave a direct conversation."))
    } else if state
        .members
        .remove(&(scene.room_id, scene.actor))
        .is_some()
    {
        event()
    } else {
        ALREADY
    }
}

fn invite(scene: &Scene, state: &mut State, user: &str) -> Result<Effect, Refusal> {
    scene.manage("invite people")?;
    let account = scene.subject(user)?;
    match state.members.entry((scene.room_id, account.id)) {
        Entry::Occupied(_) => ALREADY,
        Entry::Vacant(entry) => {
            entry.insert(Role::Member);
            event()
        }
    }
}

/// Managers remove members; only the owner removes a moderator; nobody the owner.
fn remove(scene: &Scene, state: &mut State, user: &str) -> Result<Effect, Refusal> {
    scene.manage("remove people")?;
    let account = scene.subject(user)?;
    let key = (scene.room_id, account.id);
    match scene.role_of(&state.members, account.id) {
        _ if !state.members.contains_key(&key) => Err(Refusal::invalid(format!(
            "{user} is not a member of this room."
        ))),
        _ if account.id == scene.actor => Err(Refusal::invalid("To go, leave the room.")),
        Some(Role::Owner) => Err(forbidden("The room's owner cannot be removed.")),
        Some(Role::Moderator) if scene.role != Some(Role::Owner) => {
            Err(forbidden("Only the owner can remove a moderator."))
        }
        _ => {
            state.members.remove(&key);
            event()
        }
    }
}

/// The owner names and unnames moderators; the owner's own role never changes.
fn set_role(scene: &Scene, state: &mut State, user: &str, new: Role) -> Result<Effect, Refusal> {
    scene.manage("change roles")?;
    if scene.role != Some(Role::Owner) {
        return Err(forbidden("Only the room's owner can name moderators."));
    }
    if new == Role::Owner {
        return Err(Refusal::invalid("A room has one owner: its creator."));
    }
    let account = scene.subject(user)?;
    match scene.role_of(&state.members, account.id) {
        None => Err(Refusal::invalid(format!(
            "{user} is not a member of this room."
        ))),
        Some(Role::Owner) => Err(Refusal::invalid("The owner's role does not change.")),
        Some(current) if current == new => ALREADY,
        Some(_) => {
            state.members.insert((scene.room_id, account.id), new);
            event()
        }
    }
}

fn archive(scene: &Scene, state: &mut State, plan: &mut Plan) -> Result<Effect, Refusal> {
    scene.manage("archive the room")?;
    state.archived.insert(scene.room_id);
    plan.archived.insert(scene.room_id);
    event()
}

/// What an accepted change stored as `seq` leaves for the changes after it and for
/// the SQL: a post as a target with its mentions, a membership as it now stands.
fn record(scene: &Scene, state: &mut State, plan: &mut Plan, seq: i64, room_mention: bool) {
    let (room_id, actor) = (scene.room_id, scene.actor);
    let membership =
        |state: &State, user: i64| state.members.get(&(room_id, user)).map(|role| (*role, seq));
    match &scene.submission.change {
        Change::Post { body, .. } => {
            // Later changes in the batch may refer to it (a client can guess seqs).
            state.targets.insert(
                (room_id, seq),
                Target {
                    author_id: actor,
                    author: scene.submission.actor.clone(),
                    body: Some(body.clone()),
                },
            );
            let (names, _) = scene.submission.mentions().unwrap_or_default();
            for name in names {
                let Some(account) = scene.snapshot.accounts.get(&name) else {
                    continue;
                };
                // Only people who can read the room are told of it.
                let reads = scene.room.kind == RoomKind::Public
                    || state.members.contains_key(&(room_id, account.id));
                if account.id != actor && reads {
                    plan.mentions.push((room_id, seq, account.id));
                }
            }
            if room_mention {
                plan.room_mentions.push((room_id, seq, actor));
            }
        }
        Change::Join | Change::Leave => {
            plan.memberships
                .insert((room_id, actor), membership(state, actor));
        }
        Change::Invite { user } | Change::Remove { user } | Change::SetRole { user, .. } => {
            if let Some(account) = scene.snapshot.accounts.get(user.as_str()) {
                plan.memberships
                    .insert((room_id, account.id), membership(state, account.id));
            }
        }
        _ => {}
    }
}
