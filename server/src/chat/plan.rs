//! Deciding what each change of a batch does, from what the database holds (read under
//! the rooms' locks) and what the changes before it in the same batch did. Pure, so
//! that the rules (who may change what, retries within a batch, the reaction limit)
//! are tested without a database; `batch` turns a plan into SQL.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::protocol::{excerpt, Change, ErrorCode, ReplyPreview, MAX_REACTIONS_PER_MESSAGE};

use super::refusal::Refusal;

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

/// A message that changes in a batch refer to, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub author_id: i64,
    pub author: String,
    /// `None` once deleted.
    pub body: Option<String>,
}

/// What the database holds that a batch's changes depend on.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Each locked room's last seq and creator.
    pub rooms: HashMap<i64, RoomState>,
    /// Events stored before, by `(actor_id, client_id)`: their room's name and seq.
    pub stored: HashMap<(i64, String), (String, i64)>,
    /// Messages the batch refers to, by `(room_id, seq)`.
    pub targets: HashMap<(i64, i64), Target>,
    /// The reactions on the messages the batch reacts to or deletes: `(emoji, user_id)`.
    pub reactions: HashMap<(i64, i64), BTreeSet<(String, i64)>>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct RoomState {
    pub last_seq: i64,
    pub created_by: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A new event with this seq (a reply also gets its parent's preview).
    New {
        seq: i64,
        parent: Option<ReplyPreview>,
    },
    /// A retry of an event stored before (or earlier in this batch).
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
}

pub fn plan(batch: &[Submission], snapshot: &Snapshot) -> Plan {
    let mut plan = Plan::default();
    let mut targets = snapshot.targets.clone();
    let mut reactions = snapshot.reactions.clone();
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
        let decision = decide(
            submission,
            snapshot,
            &mut targets,
            &mut reactions,
            &mut plan,
        );
        plan.decisions.push(decision);
    }

    // Reactions: write only the difference between what was stored and where the
    // batch left each message (on and off again in one batch writes nothing).
    for (message, now) in &reactions {
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

fn decide(
    submission: &Submission,
    snapshot: &Snapshot,
    targets: &mut HashMap<(i64, i64), Target>,
    reactions: &mut HashMap<(i64, i64), BTreeSet<(String, i64)>>,
    plan: &mut Plan,
) -> Decision {
    let room_id = submission.room_id;
    let Some(room) = snapshot.rooms.get(&room_id) else {
        return Decision::Refused(Refusal::unknown_room(&submission.room));
    };
    // A message that exists and is not deleted, or why not.
    let live = |targets: &HashMap<(i64, i64), Target>, seq: i64| -> Result<Target, Refusal> {
        match targets.get(&(room_id, seq)) {
            Some(target) if target.body.is_some() => Ok(target.clone()),
            _ => Err(Refusal::unknown_message(seq)),
        }
    };
    let own = |target: &Target, verb: &str| -> Result<(), Refusal> {
        if target.author_id == submission.actor_id {
            Ok(())
        } else {
            Err(Refusal::new(
                ErrorCode::Forbidden,
                format!("Only its author can {verb} this message."),
            ))
        }
    };

    let outcome: Result<Option<ReplyPreview>, Refusal> = match &submission.change {
        Change::Post { reply_to, .. } => match reply_to {
            Some(parent) => live(targets, *parent).map(|target| {
                Some(ReplyPreview {
                    author: target.author.clone(),
                    excerpt: target.body.as_deref().map(excerpt),
                })
            }),
            None => Ok(None),
        },
        Change::Edit { target, body } => live(targets, *target)
            .and_then(|found| own(&found, "edit"))
            .map(|()| {
                if let Some(entry) = targets.get_mut(&(room_id, *target)) {
                    entry.body = Some(body.clone());
                }
                plan.edits.insert((room_id, *target), body.clone());
                None
            }),
        Change::Delete { target } => live(targets, *target)
            .and_then(|found| own(&found, "delete"))
            .map(|()| {
                if let Some(entry) = targets.get_mut(&(room_id, *target)) {
                    entry.body = None;
                }
                plan.edits.remove(&(room_id, *target));
                plan.deletes.insert((room_id, *target));
                reactions.entry((room_id, *target)).or_default().clear();
                None
            }),
        Change::React { target, emoji, on } => live(targets, *target).and_then(|_| {
            let set = reactions.entry((room_id, *target)).or_default();
            if *on {
                let distinct: BTreeSet<&str> = set.iter().map(|(e, _)| e.as_str()).collect();
                if !distinct.contains(emoji.as_str()) && distinct.len() >= MAX_REACTIONS_PER_MESSAGE
                {
                    return Err(Refusal::invalid(format!(
                        "A message can have at most {MAX_REACTIONS_PER_MESSAGE} different emoji."
                    )));
                }
                set.insert((emoji.clone(), submission.actor_id));
            } else {
                set.remove(&(emoji.clone(), submission.actor_id));
            }
            Ok(None)
        }),
        Change::Topic { topic } => {
            if room.created_by == Some(submission.actor_id) {
                plan.topics.insert(room_id, topic.clone());
                Ok(None)
            } else {
                Err(Refusal::new(
                    ErrorCode::Forbidden,
                    "Only the room's creator can change its topic.",
                ))
            }
        }
    };
    match outcome {
        Ok(parent) => {
            let last = plan.last_seq.entry(room_id).or_insert(room.last_seq);
            *last += 1;
            let seq = *last;
            if let Change::Post { body, .. } = &submission.change {
                // Later changes in the batch may refer to it (a client can guess seqs).
                targets.insert(
                    (room_id, seq),
                    Target {
                        author_id: submission.actor_id,
                        author: submission.actor.clone(),
                        body: Some(body.clone()),
                    },
                );
            }
            Decision::New { seq, parent }
        }
        Err(refusal) => Decision::Refused(refusal),
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
                parent: None
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
                parent: None
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
                })
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
}
