//! The room event log over the real WebSocket against the real server, on SQLite and
//! MariaDB: replies, edits, deletions and reactions; who may change what; retries; a
//! member who was away; history as messages now stand; many clients at once; a
//! deleted body gone from the database; and data from before the log migrated.

use crate::common::{
    ws::{
        alice_and_bob, api, delete, edit, history_page, is_event_of, react, reply,
        second_token_for, send, state, token_for, whole_history, Client,
    },
    TestServer,
};
use app::{
    protocol::{excerpt, ServerFrame},
    timeline::Timeline,
};
use serde_json::{json, Value};

const ROOM: &str = "general";
/// Flags that lift the flood guard, for tests that change faster than a person.
const NO_RATE_LIMIT: &[&str] = &["--send-rate", "100000", "--send-burst", "100000"];

fn seq_of(answer: &Value) -> i64 {
    assert_eq!(answer["type"], "ack", "{answer}");
    answer["seq"].as_i64().unwrap()
}

async fn only_authors_change_their_messages_and_refusals_change_nothing(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    let (alice_token, mut alice, mut bob) = alice_and_bob(&server, ROOM).await;
    let seq = seq_of(&alice.change(send(ROOM, "mine", "m1")).await);

    let cases = [
        (edit(ROOM, seq, "hijacked", "b1"), "forbidden"),
        (delete(ROOM, seq, "b2"), "forbidden"),
        (edit(ROOM, seq + 50, "x", "b3"), "unknown_message"),
        (delete(ROOM, 0, "b4"), "invalid_message"),
        (react(ROOM, seq + 50, "👍", true, "b5"), "unknown_message"),
        (
            react(ROOM, seq, "not an emoji", true, "b6"),
            "invalid_message",
        ),
        (react(ROOM, seq, "👍👍", true, "b7"), "invalid_message"),
        (edit(ROOM, seq, " ", "b8"), "invalid_message"),
        (reply(ROOM, "to nothing", seq + 50, "b9"), "unknown_message"),
        (edit("no-such-room", seq, "x", "b10"), "unknown_room"),
        (edit(ROOM, seq, "x", &"c".repeat(65)), "invalid_message"),
    ];
    for (frame, code) in cases {
        let answer = bob.change(frame.clone()).await;
        assert_eq!(answer["type"], "error", "{frame} → {answer}");
        assert_eq!(answer["code"], code, "{frame} → {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A frame without its client_id is not a change at all.
    bob.send(json!({"type": "delete", "room": ROOM, "target": seq}))
        .await;
    assert_eq!(bob.until_type("error").await["code"], "bad_frame");
    bob.assert_alive().await;

    // Nothing was stored: the next change takes the very next seq, and the message
    // is as alice left it.
    let next = seq_of(&alice.change(edit(ROOM, seq, "mine, edited", "m2")).await);
    assert_eq!(next, seq + 1);
    let (history, last_seq) = whole_history(&server, &alice_token, ROOM).await;
    assert_eq!(last_seq, next);
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].body.as_deref(), Some("mine, edited"));
    assert!(history[0].reactions.is_empty());
    // A refused change took no key: bob may use it for a change that is allowed.
    let reacted = seq_of(&bob.change(react(ROOM, seq, "👍", true, "b1")).await);
    assert_eq!(reacted, next + 1);
    // A reaction belongs to its user: bob taking 🎉 off takes off only his own.
    seq_of(&alice.change(react(ROOM, seq, "🎉", true, "m3")).await);
    seq_of(&bob.change(react(ROOM, seq, "🎉", false, "b11")).await);
    let (history, _) = whole_history(&server, &alice_token, ROOM).await;
    let party = history[0]
        .reactions
        .iter()
        .find(|r| r.emoji == "🎉")
        .unwrap();
    assert_eq!(party.users, ["alice"]);
}

async fn every_change_retried_is_stored_once(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    let (_, mut alice, mut bob) = alice_and_bob(&server, ROOM).await;

    let seq = seq_of(&alice.change(send(ROOM, "first", "p")).await);
    let changes = [
        edit(ROOM, seq, "second", "e"),
        react(ROOM, seq, "🎉", true, "r"),
        react(ROOM, seq, "🎉", false, "u"),
        delete(ROOM, seq, "d"),
    ];
    for frame in &changes {
        let first = alice.change(frame.clone()).await;
        assert_eq!(first["type"], "ack", "{frame} → {first}");
        let again = alice.change(frame.clone()).await;
        assert_eq!(again, first, "a retry gets the original ack");
    }
    // A retry of the edit after a reconnect, when the message is gone: still the
    // original ack, not a refusal.
    let token = second_token_for(&server, "alice").await;
    let mut again = Client::connect(&server, &token).await;
    let late = again.change(changes[0].clone()).await;
    assert_eq!(seq_of(&late), seq + 1);

    // Bob saw every event of the log exactly once, in order (the joinings before the
    // first post, then each change once), and then nothing more.
    let seen = bob.frames_until(ROOM, seq + 4).await;
    let seqs: Vec<i64> = seen.iter().map(|f| f.event_seq().unwrap().1).collect();
    assert_eq!(seqs, (1..seq + 5).collect::<Vec<_>>());
    let (joinings, changed) = seen.split_at(seq as usize - 1);
    assert!(
        joinings.iter().all(|f| matches!(f, ServerFrame::Member(_))),
        "{joinings:?}"
    );
    assert!(
        matches!(
            changed,
            [
                ServerFrame::Message(_),
                ServerFrame::Edited(_),
                ServerFrame::Reaction(_),
                ServerFrame::Reaction(_),
                ServerFrame::Deleted(_),
            ]
        ),
        "{changed:?}"
    );
    let marker = seq_of(&alice.change(send(ROOM, "marker", "z")).await);
    assert_eq!(marker, seq + 5);
    assert_eq!(bob.until(|f| is_event_of(f, ROOM)).await["seq"], marker);
}

async fn a_member_who_was_away_ends_with_the_same_room(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    let room = "team";
    let alice_token = token_for(&server, "alice").await;
    let carol_token = token_for(&server, "carol").await;
    api::<Value>(
        &server,
        &alice_token,
        "create_room",
        &[("name", room), ("topic", "before")],
    )
    .await;
    let mut alice = Client::connect(&server, &alice_token).await;
    let mut bob = Client::new_user(&server, "bob").await;
    let mut carol = Client::connect(&server, &carol_token).await;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.join(room, None).await;
    }
    let (mut bob_sees, mut carol_sees) = (Timeline::new(), Timeline::new());

    // Everybody is there for the start.
    let a1 = seq_of(&alice.change(send(room, "hello **team**", "a1")).await);
    let b1 = seq_of(&bob.change(reply(room, "hi alice", a1, "b1")).await);
    carol.sync(&mut carol_sees, room, b1).await;
    drop(carol);

    // Carol is away for all of this.
    seq_of(
        &alice
            .change(edit(room, a1, "hello **everyone**", "a2"))
            .await,
    );
    seq_of(&bob.change(react(room, a1, "👍", true, "b2")).await);
    seq_of(&alice.change(react(room, a1, "👍", true, "a3")).await);
    seq_of(&bob.change(react(room, a1, "👍", false, "b3")).await);
    seq_of(&alice.change(react(room, b1, "🎉", true, "a4")).await);
    let b4 = seq_of(&bob.change(send(room, "oops, wrong room", "b4")).await);
    seq_of(&bob.change(react(room, b4, "😂", true, "b5")).await);
    seq_of(&bob.change(delete(room, b4, "b6")).await);
    let topic = api::<Value>(
        &server,
        &alice_token,
        "set_topic",
        &[("room", room), ("topic", "Launch day")],
    )
    .await;
    let topic_seq = topic["seq"].as_i64().unwrap();
    seq_of(&bob.change(reply(room, "congrats", a1, "b7")).await);
    let last = seq_of(
        &alice
            .change(edit(room, a1, "hello **everyone**, final", "a5"))
            .await,
    );
    assert!(topic_seq < last);
    bob.sync(&mut bob_sees, room, last).await;

    // Carol comes back from where she was.
    let mut carol = Client::connect(&server, &carol_token).await;
    let joined = carol.join(room, Some(carol_sees.position())).await;
    assert_eq!(joined["last_seq"], last);
    carol.sync(&mut carol_sees, room, last).await;
    assert_eq!(state(&carol_sees), state(&bob_sees));
    assert_eq!(carol_sees.topic(), Some("Launch day"));
    assert_eq!(bob_sees.topic(), Some("Launch day"));

    // History says the same, and so does a newcomer's replay of the recent messages.
    let (history, last_seq) = whole_history(&server, &alice_token, room).await;
    assert_eq!(last_seq, last);
    assert_eq!(history, state(&bob_sees));
    let mut dave = Client::new_user(&server, "dave").await;
    dave.join(room, None).await;
    let mut dave_sees = Timeline::new();
    dave.sync(&mut dave_sees, room, last).await;
    assert_eq!(state(&dave_sees), history);

    // And what it says is the room as it now stands.
    let first = &history[0];
    assert_eq!(first.body.as_deref(), Some("hello **everyone**, final"));
    assert!(first.edited_at.is_some());
    assert_eq!(first.reactions.len(), 1);
    assert_eq!(first.reactions[0].emoji, "👍");
    assert_eq!(first.reactions[0].users, ["alice"]);
    let answer = &history[1];
    assert_eq!(answer.reply_to, Some(a1));
    assert_eq!(
        answer.parent.as_ref().unwrap().excerpt.as_deref(),
        Some("hello **everyone**, final"),
        "a reply shows its parent as it now stands"
    );
    assert_eq!(answer.reactions[0].users, ["alice"]);
    let gone = &history[2];
    assert!(gone.deleted);
    assert_eq!(gone.body, None);
    assert!(gone.reactions.is_empty());
    let rooms = api::<Value>(&server, &alice_token, "list_rooms", &[]).await;
    let listed = rooms
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == room)
        .unwrap()
        .clone();
    assert_eq!(listed["topic"], "Launch day");
}

async fn replies_carry_their_parent_and_reactions_are_bounded(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    let (alice_token, mut alice, mut bob) = alice_and_bob(&server, ROOM).await;

    let question = format!("A long question, {} — right?", "really ".repeat(30));
    let parent = seq_of(&alice.change(send(ROOM, &question, "q")).await);
    let answer = seq_of(&bob.change(reply(ROOM, "yes", parent, "a")).await);
    let live = alice
        .until(|f| f["type"] == "message" && f["seq"] == answer)
        .await;
    assert_eq!(live["reply_to"], parent);
    assert_eq!(live["parent"]["author"], "alice");
    assert_eq!(live["parent"]["excerpt"], excerpt(&question).as_str());
    assert!(live["parent"]["excerpt"].as_str().unwrap().ends_with('…'));

    // Twenty different emoji on one message, and no more.
    let emoji: Vec<String> = "😀😃😄😁😆😅😂🤣😊😇🙂🙃😉😌😍🥰😘😗😙😚😋"
        .chars()
        .map(String::from)
        .collect();
    for (i, e) in emoji[..20].iter().enumerate() {
        seq_of(
            &bob.change(react(ROOM, parent, e, true, &format!("r{i}")))
                .await,
        );
    }
    let refused = bob
        .change(react(ROOM, parent, &emoji[20], true, "r20"))
        .await;
    assert_eq!(refused["code"], "invalid_message", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("20"));
    // One more person on an emoji already there is fine.
    seq_of(
        &alice
            .change(react(ROOM, parent, &emoji[0], true, "more"))
            .await,
    );

    // The parent goes: the reply says so, the reactions go with it, and no new reply
    // can name it.
    let deleted = seq_of(&alice.change(delete(ROOM, parent, "del")).await);
    let seen = bob
        .until(|f| f["type"] == "deleted" && f["seq"] == deleted)
        .await;
    assert_eq!(seen["target"], parent);
    let page = history_page(&server, &alice_token, ROOM, None).await;
    let parent_now = page.messages.iter().find(|m| m.seq == parent).unwrap();
    assert!(parent_now.deleted && parent_now.reactions.is_empty());
    let reply_now = page.messages.iter().find(|m| m.seq == answer).unwrap();
    assert_eq!(reply_now.parent.as_ref().unwrap().excerpt, None);
    let too_late = bob.change(reply(ROOM, "what?", parent, "late")).await;
    assert_eq!(too_late["code"], "unknown_message");
}

async fn a_deleted_body_is_gone_from_the_database(url: String) {
    let server = TestServer::start(&url);
    let mut alice = Client::new_user(&server, "alice").await;
    alice.join(ROOM, None).await;
    let seq = seq_of(&alice.change(send(ROOM, "the secret is 4217", "s")).await);
    seq_of(
        &alice
            .change(edit(ROOM, seq, "the secret is 4217, really", "e"))
            .await,
    );
    seq_of(&alice.change(react(ROOM, seq, "🤫", true, "r")).await);
    seq_of(&alice.change(delete(ROOM, seq, "d")).await);

    let db = server::db::Db::connect(&url).await.unwrap();
    let texts: Vec<Option<String>> = server::with_pool!(&db, pool => {
        sqlx::query_scalar(
            "SELECT body FROM messages UNION ALL SELECT topic FROM room_events \
             UNION ALL SELECT topic FROM rooms",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    });
    assert!(
        texts.iter().flatten().all(|text| !text.contains("4217")),
        "{texts:?}"
    );
    let (bodies, reactions): (i64, i64) = server::with_pool!(&db, pool => {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM messages WHERE body IS NOT NULL), \
                    (SELECT COUNT(*) FROM reactions)",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    });
    assert_eq!((bodies, reactions), (0, 0));
    db.close().await;
}

async fn ten_clients_editing_and_reacting_at_once_converge(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    let token = token_for(&server, "reader").await;
    let mut clients = Vec::new();
    // Where the log stands once all ten are in (each joining is an event of it).
    let mut start = 0;
    for i in 0..10 {
        let mut client = Client::new_user(&server, &format!("user{i}")).await;
        start = client.join(ROOM, None).await["last_seq"].as_i64().unwrap();
        clients.push(client);
    }
    let mut own = Vec::new();
    for (i, client) in clients.iter_mut().enumerate() {
        own.push(seq_of(
            &client
                .change(send(ROOM, "first draft", &format!("post{i}")))
                .await,
        ));
    }
    assert_eq!(own, (start + 1..=start + 10).collect::<Vec<_>>());
    let emoji = ["👍", "🎉", "👀"];
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            let own = own.clone();
            tokio::spawn(async move {
                // Everything sent at once, then every answer collected.
                let mut ids = Vec::new();
                for round in 0..5 {
                    let id = format!("u{i}-edit{round}");
                    client
                        .send(edit(ROOM, own[i], &format!("user{i}, take {round}"), &id))
                        .await;
                    ids.push(id);
                    for (j, target) in own.iter().enumerate() {
                        let id = format!("u{i}-r{round}-{j}");
                        let e = emoji[(i + j + round) % emoji.len()];
                        client
                            .send(react(ROOM, *target, e, (round + j) % 2 == 0, &id))
                            .await;
                        ids.push(id);
                    }
                }
                for id in ids {
                    let answer = client
                        .until(|f| {
                            (f["type"] == "ack" || f["type"] == "error")
                                && f["client_id"] == id.as_str()
                        })
                        .await;
                    assert_eq!(answer["type"], "ack", "{answer}");
                }
                client
            })
        })
        .collect();
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.unwrap());
    }
    let (history, last) = whole_history(&server, &token, ROOM).await;
    // After the ten posts, each user's five rounds of an edit and ten reactions.
    assert_eq!(
        last,
        start + 10 + 10 * 5 * 11,
        "every change an event, none lost"
    );
    for mut client in clients {
        let mut timeline = Timeline::new();
        client.sync(&mut timeline, ROOM, last).await;
        assert_eq!(state(&timeline), history, "{} converged", client.username);
    }
    assert!(history.iter().all(|m| m.edited_at.is_some()));
}

async fn messages_from_before_the_event_log_keep_working(url: String) {
    use sqlx::migrate::Migrator;

    // The schema as the previous release left it (migrations 1 and 2), with data.
    let db = server::db::Db::connect(&url).await.unwrap();
    let dir = match db.dialect() {
        server::db::Dialect::MySql => "mysql",
        server::db::Dialect::Sqlite => "sqlite",
    };
    let mut migrator = Migrator::new(std::path::Path::new(&format!(
        "{}/migrations/{dir}",
        env!("CARGO_MANIFEST_DIR")
    )))
    .await
    .unwrap();
    // sqlx keeps this field public (doc-hidden) so that migrate!() can build it; the
    // lock file pins the version.
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= 2)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let hash = {
        use argon2::{password_hash::SaltString, Argon2, PasswordHasher};
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        Argon2::default()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string()
    };
    server::with_pool!(&db, pool => {
        migrator.run(pool).await.unwrap();
        sqlx::query("INSERT INTO users (id, username, password_hash, created_at) VALUES (1, 'alice', ?, 0)")
            .bind(&hash)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO rooms (id, name, topic, created_at, last_seq) VALUES (1, 'general', 'old', 0, 3)")
            .execute(pool)
            .await
            .unwrap();
        // Joining made a member then, as now.
        sqlx::query("INSERT INTO room_members (room_id, user_id, joined_at) VALUES (1, 1, 0)")
            .execute(pool)
            .await
            .unwrap();
        for seq in 1..=3i64 {
            sqlx::query(
                "INSERT INTO messages (room_id, seq, author_id, client_id, body, sent_at) \
                 VALUES (1, ?, 1, ?, ?, ?)",
            )
            .bind(seq)
            .bind(format!("old-{seq}"))
            .bind(format!("from before, number {seq} 😀"))
            .bind(1_764_107_740_000 + seq)
            .execute(pool)
            .await
            .unwrap();
        }
    });
    db.close().await;

    // The new server migrates it.
    let server = TestServer::start(&url);
    let bob_token = token_for(&server, "bob").await;
    let (history, last_seq) = whole_history(&server, &bob_token, ROOM).await;
    assert_eq!(last_seq, 3);
    let bodies: Vec<Option<&str>> = history.iter().map(|m| m.body.as_deref()).collect();
    assert_eq!(
        bodies,
        [
            Some("from before, number 1 😀"),
            Some("from before, number 2 😀"),
            Some("from before, number 3 😀")
        ]
    );
    assert!(history
        .iter()
        .all(|m| !m.deleted && m.reactions.is_empty() && m.author == "alice"));
    // The log goes on from 3: Bob's joining, the first event stored since, is 4.
    let mut bob = Client::connect(&server, &bob_token).await;
    let joined = bob.join(ROOM, Some(0)).await;
    assert_eq!(joined["last_seq"], 4, "{joined}");
    let mut seen = Timeline::new();
    bob.sync(&mut seen, ROOM, 4).await;
    assert_eq!(state(&seen), history);
    assert_eq!(seen.membership(), 1, "his joining, once");

    // Alice logs in. She was a member before the upgrade, and has everything from
    // before read; her old client ids are still hers; her changes follow Bob's joining.
    let alice_token = second_token_for(&server, "alice").await;
    let rooms = api::<Value>(&server, &alice_token, "list_rooms", &[]).await;
    let general = rooms
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == ROOM)
        .unwrap();
    assert_eq!(general["role"], "member", "{general}");
    assert_eq!(general["last_read_seq"], 3, "{general}");
    assert_eq!(general["unread"], 0, "{general}");
    let mut alice = Client::connect(&server, &alice_token).await;
    let joined = alice.join(ROOM, Some(4)).await;
    assert_eq!(joined["last_seq"], 4, "a member joining stores nothing");
    let retry = alice
        .change(send(ROOM, "from before, number 2 😀", "old-2"))
        .await;
    assert_eq!(seq_of(&retry), 2);
    assert_eq!(
        seq_of(
            &alice
                .change(edit(ROOM, 2, "edited after the upgrade", "new-1"))
                .await
        ),
        5
    );
    assert_eq!(
        seq_of(&bob.change(react(ROOM, 1, "👍", true, "new-2")).await),
        6
    );
}

on_both_backends!(
    only_authors_change_their_messages_and_refusals_change_nothing,
    every_change_retried_is_stored_once,
    a_member_who_was_away_ends_with_the_same_room,
    replies_carry_their_parent_and_reactions_are_bounded,
    a_deleted_body_is_gone_from_the_database,
    ten_clients_editing_and_reacting_at_once_converge,
    messages_from_before_the_event_log_keep_working,
);
