//! The rules of `plan`, one change kind at a time and in batches.

use super::*;
use app::protocol::{Attachment, ErrorCode};

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
        files: vec![],
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
        LockedRoom {
            last_seq: 10,
            created_by: Some(ALICE),
            ..LockedRoom::default()
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
            files: vec![],
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
            files: vec![],
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
                files: vec![],
            },
        ),
        submit(ALICE, "d", Change::Delete { target: 10 }),
        submit(
            BOB,
            "r2",
            Change::Post {
                body: "too late".into(),
                reply_to: Some(10),
                files: vec![],
            },
        ),
        submit(
            BOB,
            "r3",
            Change::Post {
                body: "nothing there".into(),
                reply_to: Some(50),
                files: vec![],
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
            files: vec![],
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
        LockedRoom {
            last_seq: 10,
            created_by: Some(ALICE),
            kind: RoomKind::Private,
            ..LockedRoom::default()
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
    snapshot.rooms.get_mut(&ROOM).unwrap().kind = RoomKind::Dm;
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

fn upload(id: &str, uploader_id: i64, room_id: i64, claimed: bool) -> (String, Upload) {
    let upload = Upload {
        uploader_id,
        room_id,
        claimed,
        file: Attachment {
            id: id.into(),
            name: "plan.pdf".into(),
            size: 10,
            content_type: "application/pdf".into(),
            width: None,
            height: None,
        },
    };
    (id.to_string(), upload)
}

fn post_files(files: &[&str]) -> Change {
    Change::Post {
        body: String::new(),
        reply_to: None,
        files: files.iter().map(|f| f.to_string()).collect(),
    }
}

#[test]
fn a_post_claims_only_its_authors_unsent_uploads_in_its_room() {
    let mut snapshot = snapshot();
    snapshot.uploads.extend([
        upload("mine", ALICE, ROOM, false),
        upload("also", ALICE, ROOM, false),
        upload("bobs", BOB, ROOM, false),
        upload("elsewhere", ALICE, ROOM + 1, false),
        upload("sent", ALICE, ROOM, true),
    ]);
    let batch = [
        submit(ALICE, "a", post_files(&["mine", "also"])),
        // The same upload again in the same batch, under another id.
        submit(ALICE, "b", post_files(&["mine"])),
        submit(ALICE, "c", post_files(&["bobs"])),
        submit(ALICE, "d", post_files(&["elsewhere"])),
        submit(ALICE, "e", post_files(&["sent"])),
        submit(ALICE, "f", post_files(&["never-uploaded"])),
        // A retry of the first: its files are not claimed again.
        submit(ALICE, "a", post_files(&["mine", "also"])),
    ];
    let planned = plan(&batch, &snapshot);
    assert_eq!(
        planned.claims,
        vec![
            ("mine".to_string(), ROOM, 11, 0),
            ("also".to_string(), ROOM, 11, 1),
        ]
    );
    assert!(matches!(&planned.decisions[0], Decision::New { files, .. } if files.len() == 2));
    for refused in &planned.decisions[1..6] {
        assert_eq!(
            code(refused),
            Some(ErrorCode::InvalidMessage),
            "{refused:?}"
        );
    }
    assert!(matches!(
        planned.decisions[6],
        Decision::Repeat { seq: 11, .. }
    ));
}
