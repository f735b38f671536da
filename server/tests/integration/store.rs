//! The batch store on its own, on SQLite and MariaDB: one transaction stores a batch of
//! changes, retries (also two of the same `client_id` inside one batch) store nothing
//! twice, refusals store nothing, and the rows say what the decisions say.

use app::protocol::Change;
use server::{
    chat::testing::{store_batch, Decision, Submission},
    db::Db,
    with_pool,
};

const ALICE: i64 = 1;
const BOB: i64 = 2;

fn change(room_id: i64, actor_id: i64, client_id: &str, change: Change) -> Submission {
    Submission {
        room_id,
        room: if room_id == 1 { "one" } else { "two" }.into(),
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

fn seqs(decisions: &[Decision]) -> Vec<Option<i64>> {
    decisions
        .iter()
        .map(|d| match d {
            Decision::New { seq, .. } | Decision::Repeat { seq, .. } => Some(*seq),
            Decision::Refused(_) => None,
        })
        .collect()
}

async fn count(db: &Db, sql: &str) -> i64 {
    with_pool!(db, pool => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap())
}

async fn a_batch_stores_each_change_once(url: String) {
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    with_pool!(&db, pool => {
        for sql in [
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (1, 'alice', 'x', 0)",
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (2, 'bob', 'x', 0)",
            "INSERT INTO rooms (id, name, topic, created_by, created_at) VALUES (1, 'one', '', 1, 0)",
            "INSERT INTO rooms (id, name, topic, created_by, created_at) VALUES (2, 'two', '', 2, 0)",
        ] {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
    });

    let first = vec![
        change(1, ALICE, "p1", post("one")),
        // The same key twice in one batch: stored once, answered alike.
        change(1, ALICE, "p1", post("one")),
        // Another author's key is another key.
        change(1, BOB, "p1", post("bob's")),
        change(2, BOB, "p2", post("in two")),
        // A change about a message stored earlier in this very batch.
        change(
            1,
            ALICE,
            "e1",
            Change::Edit {
                target: 1,
                body: "ONE".into(),
            },
        ),
        change(
            1,
            BOB,
            "e2",
            Change::Edit {
                target: 1,
                body: "not mine".into(),
            },
        ),
        change(
            1,
            BOB,
            "r1",
            Change::React {
                target: 1,
                emoji: "👍".into(),
                on: true,
            },
        ),
        change(
            2,
            BOB,
            "t1",
            Change::Topic {
                topic: "two's topic".into(),
            },
        ),
    ];
    let decisions = store_batch(&db, &first, 1_000).await.unwrap();
    assert_eq!(
        seqs(&decisions),
        [
            Some(1),
            Some(1),
            Some(2),
            Some(1),
            Some(3),
            None,
            Some(4),
            Some(2)
        ]
    );
    assert!(matches!(decisions[0], Decision::New { .. }));
    assert!(matches!(decisions[1], Decision::Repeat { .. }));
    assert!(
        matches!(&decisions[5], Decision::Refused(r) if r.code == app::protocol::ErrorCode::Forbidden)
    );

    // Every key of the first batch again, from "another connection": nothing new.
    let again = store_batch(&db, &first, 2_000).await.unwrap();
    assert_eq!(seqs(&again)[..5], seqs(&decisions)[..5]);
    assert!(again
        .iter()
        .enumerate()
        .all(|(i, d)| i == 5 || matches!(d, Decision::Repeat { .. })));

    // Three posts (their messages' rows), an edit, a reaction and a topic.
    assert_eq!(count(&db, "SELECT COUNT(*) FROM room_events").await, 3);
    assert_eq!(
        count(&db, "SELECT last_seq FROM rooms WHERE id = 1").await,
        4
    );
    assert_eq!(
        count(&db, "SELECT last_seq FROM rooms WHERE id = 2").await,
        2
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM messages").await, 3);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM reactions").await, 1);
    let (body, edited_at): (Option<String>, Option<i64>) = with_pool!(&db, pool => {
        sqlx::query_as("SELECT body, edited_at FROM messages WHERE room_id = 1 AND seq = 1")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!((body.as_deref(), edited_at), (Some("ONE"), Some(1_000)));
    let topic: String = with_pool!(&db, pool => {
        sqlx::query_scalar("SELECT topic FROM rooms WHERE id = 2").fetch_one(pool).await.unwrap()
    });
    assert_eq!(topic, "two's topic");

    // A deletion erases the body and takes the reactions with it.
    let deleted = store_batch(
        &db,
        &[change(1, ALICE, "d1", Change::Delete { target: 1 })],
        3_000,
    )
    .await
    .unwrap();
    assert_eq!(seqs(&deleted), [Some(5)]);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM messages WHERE room_id = 1 AND seq = 1 AND body IS NULL AND deleted_at = 3000").await,
        1
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM reactions").await, 0);
    db.close().await;
}

on_both_backends!(a_batch_stores_each_change_once);

/// A name that only a case- or accent-insensitive collation would equate with a stored
/// one finds nothing: MySQL compares usernames in binary.
async fn usernames_match_exactly(url: String) {
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    server::accounts::store::insert_user(&db, "alice", "x", 0)
        .await
        .unwrap();
    let found = server::accounts::store::credentials(&db, "alice")
        .await
        .unwrap();
    assert_eq!(found.map(|c| c.username).as_deref(), Some("alice"));
    for variant in ["alicé", "alíce", "ålice"] {
        let found = server::accounts::store::credentials(&db, variant)
            .await
            .unwrap();
        assert!(found.is_none(), "{variant} matched alice");
    }
    if db.dialect() == server::db::Dialect::MySql {
        let found = server::accounts::store::credentials(&db, "ALICE")
            .await
            .unwrap();
        assert!(found.is_none(), "MySQL compares in binary");
    }
    db.close().await;
}

on_both_backends!(usernames_match_exactly);
