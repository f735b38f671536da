//! The SQL behind rooms, membership and messages. Statements are spelt once for both
//! dialects (both use `?` placeholders); only id read-back differs.

use std::collections::HashMap;

use sqlx::QueryBuilder;

use crate::{
    db::{Db, Dialect},
    insert_id, with_pool,
};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RoomRow {
    pub id: i64,
    pub name: String,
    pub topic: String,
    pub last_seq: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RoomListing {
    pub name: String,
    pub topic: String,
    pub last_seq: i64,
    pub members: i64,
}

/// A stored message with its room's and author's names, ready to go on the wire.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub room: String,
    pub seq: i64,
    pub author: String,
    pub author_id: i64,
    pub client_id: String,
    pub body: String,
    pub sent_at: i64,
}

/// A message to store, already validated.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub room_id: i64,
    pub author_id: i64,
    pub client_id: String,
    pub body: String,
}

const MESSAGE_COLUMNS: &str =
    "r.name AS room, m.seq, u.username AS author, m.author_id, m.client_id, m.body, m.sent_at";

pub async fn room_by_name(db: &Db, name: &str) -> Result<Option<RoomRow>, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_as("SELECT id, name, topic, last_seq FROM rooms WHERE name = ?")
            .bind(name)
            .fetch_optional(pool)
            .await
    })
}

pub async fn list_rooms(db: &Db) -> Result<Vec<RoomListing>, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT r.name, r.topic, r.last_seq, \
                    (SELECT COUNT(*) FROM room_members rm WHERE rm.room_id = r.id) AS members \
             FROM rooms r ORDER BY r.name",
        )
        .fetch_all(pool)
        .await
    })
}

/// Creates a room; a taken name fails with a unique violation.
pub async fn create_room(
    db: &Db,
    name: &str,
    topic: &str,
    created_by: Option<i64>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    Ok(insert_id!(
        db,
        sqlx::query("INSERT INTO rooms (name, topic, created_by, created_at) VALUES (?, ?, ?, ?)")
            .bind(name)
            .bind(topic)
            .bind(created_by)
            .bind(now)
    ))
}

/// Makes sure the default room exists (idempotent, safe to race).
pub async fn ensure_room(db: &Db, name: &str, topic: &str, now: i64) -> Result<(), sqlx::Error> {
    match create_room(db, name, topic, None, now).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn add_member(db: &Db, room_id: i64, user_id: i64, now: i64) -> Result<(), sqlx::Error> {
    // INSERT … SELECT … WHERE NOT EXISTS is idempotent in both dialects without their
    // different spellings of "insert or ignore".
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO room_members (room_id, user_id, joined_at) \
             SELECT ?, ?, ? FROM rooms WHERE id = ? AND NOT EXISTS \
             (SELECT 1 FROM room_members WHERE room_id = ? AND user_id = ?)",
        )
        .bind(room_id)
        .bind(user_id)
        .bind(now)
        .bind(room_id)
        .bind(room_id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(drop)
    })
}

pub async fn remove_member(db: &Db, room_id: i64, user_id: i64) -> Result<(), sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query("DELETE FROM room_members WHERE room_id = ? AND user_id = ?")
            .bind(room_id)
            .bind(user_id)
            .execute(pool)
            .await
            .map(drop)
    })
}

/// Messages of a room with `seq > after`, oldest first, at most `limit`.
pub async fn messages_after(
    db: &Db,
    room_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN rooms r ON r.id = m.room_id \
         JOIN users u ON u.id = m.author_id \
         WHERE m.room_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?"
    );
    with_pool!(db, pool => {
        sqlx::query_as(&sql).bind(room_id).bind(after).bind(limit).fetch_all(pool).await
    })
}

/// The `limit` messages just before `before` (or the newest), oldest first.
pub async fn messages_before(
    db: &Db,
    room_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN rooms r ON r.id = m.room_id \
         JOIN users u ON u.id = m.author_id \
         WHERE m.room_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?"
    );
    let mut rows: Vec<MessageRow> = with_pool!(db, pool => {
        sqlx::query_as(&sql)
            .bind(room_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(pool)
            .await
    })?;
    rows.reverse();
    Ok(rows)
}

/// The query finding the messages of `batch` stored before, by (author_id, client_id),
/// spelt so that each database does one index lookup per message: MySQL/MariaDB a
/// row-value IN list on the unique index, SQLite the pairs as a VALUES table joined to
/// the index, since it scans for a row-value IN. MariaDB is told the join order and the
/// index: with the statistics of a young, fast-growing table it started from `rooms` and
/// read every message of each room (4.8k messages/s, falling as the table grew).
fn lookup_query<'q, DB: sqlx::Database>(
    dialect: Dialect,
    batch: &'q [NewMessage],
) -> QueryBuilder<'q, DB>
where
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let joins = "JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.author_id";
    let mut query = QueryBuilder::new(match dialect {
        Dialect::MySql => format!(
            "SELECT STRAIGHT_JOIN {MESSAGE_COLUMNS} \
             FROM messages m FORCE INDEX (messages_client) {joins} \
             WHERE (m.author_id, m.client_id) IN ("
        ),
        Dialect::Sqlite => "WITH k (author_id, client_id) AS (VALUES ".to_string(),
    });
    let mut pairs = query.separated(", ");
    for message in batch {
        pairs.push("(");
        pairs.push_bind_unseparated(message.author_id);
        pairs.push_unseparated(", ");
        pairs.push_bind_unseparated(message.client_id.as_str());
        pairs.push_unseparated(")");
    }
    query.push(")");
    if dialect == Dialect::Sqlite {
        query.push(format!(
            " SELECT {MESSAGE_COLUMNS} FROM k \
             JOIN messages m ON m.author_id = k.author_id AND m.client_id = k.client_id {joins}"
        ));
    }
    query
}

/// What storing a batch did to one of its messages.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Newly stored now.
    Stored(MessageRow),
    /// Its `(author, client_id)` was stored before: this is the original.
    Duplicate(MessageRow),
}

/// Stores a batch in one transaction: messages already stored (same author and
/// `client_id`, also within the batch) come back as duplicates; the others get the next
/// seqs of their rooms. The counter update locks each room row until commit, so seqs
/// are gap-free and in commit order even with several server processes.
pub async fn store_batch(
    db: &Db,
    batch: &[NewMessage],
    usernames: &HashMap<i64, String>,
    room_names: &HashMap<i64, String>,
    now: i64,
) -> Result<Vec<Outcome>, sqlx::Error> {
    let dialect = db.dialect();
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;

        // 1. What was stored before, by idempotency key: one index lookup per message.
        let mut query = lookup_query(dialect, batch);
        let found: Vec<MessageRow> = query.build_query_as().fetch_all(&mut *tx).await?;
        let existing: HashMap<(i64, String), MessageRow> = found
            .into_iter()
            .map(|row| ((row.author_id, row.client_id.clone()), row))
            .collect();

        // 2. Which messages are new (first of their key in the batch), counted per room.
        let mut first_index: HashMap<(i64, &str), usize> = HashMap::new();
        let mut new_per_room: std::collections::BTreeMap<i64, i64> = Default::default();
        for (i, message) in batch.iter().enumerate() {
            let key = (message.author_id, message.client_id.as_str());
            if existing.contains_key(&(key.0, key.1.to_string())) || first_index.contains_key(&key) {
                continue;
            }
            first_index.insert(key, i);
            *new_per_room.entry(message.room_id).or_default() += 1;
        }

        // 3. Reserve seq ranges: one UPDATE for every room in the batch (it locks the
        //    rows in primary-key order, so concurrent writers cannot deadlock), then
        //    read the new counters back.
        let mut next_seq: HashMap<i64, i64> = HashMap::new();
        if !new_per_room.is_empty() {
            let mut update = QueryBuilder::new("UPDATE rooms SET last_seq = last_seq + CASE id");
            for (&room_id, &count) in &new_per_room {
                update.push(" WHEN ").push_bind(room_id).push(" THEN ").push_bind(count);
            }
            update.push(" END WHERE id IN (");
            let mut ids = update.separated(", ");
            for &room_id in new_per_room.keys() {
                ids.push_bind(room_id);
            }
            update.push(")");
            update.build().execute(&mut *tx).await?;

            let mut select = QueryBuilder::new("SELECT id, last_seq FROM rooms WHERE id IN (");
            let mut ids = select.separated(", ");
            for &room_id in new_per_room.keys() {
                ids.push_bind(room_id);
            }
            select.push(")");
            let counters: Vec<(i64, i64)> = select.build_query_as().fetch_all(&mut *tx).await?;
            for (room_id, last) in counters {
                next_seq.insert(room_id, last - new_per_room[&room_id] + 1);
            }
        }

        // 4. Insert the new ones in one statement.
        let mut stored: HashMap<usize, MessageRow> = HashMap::new();
        if !first_index.is_empty() {
            let mut indices: Vec<usize> = first_index.values().copied().collect();
            indices.sort_unstable();
            let mut insert = QueryBuilder::new(
                "INSERT INTO messages (room_id, seq, author_id, client_id, body, sent_at) ",
            );
            let rows: Vec<(usize, i64)> = indices
                .iter()
                .map(|&i| {
                    let seq = next_seq.get_mut(&batch[i].room_id).expect("reserved above");
                    let this = *seq;
                    *seq += 1;
                    (i, this)
                })
                .collect();
            insert.push_values(&rows, |mut row, &(i, seq)| {
                let message = &batch[i];
                row.push_bind(message.room_id)
                    .push_bind(seq)
                    .push_bind(message.author_id)
                    .push_bind(message.client_id.as_str())
                    .push_bind(message.body.as_str())
                    .push_bind(now);
            });
            insert.build().execute(&mut *tx).await?;
            for (i, seq) in rows {
                let message = &batch[i];
                stored.insert(
                    i,
                    MessageRow {
                        room: room_names.get(&message.room_id).cloned().unwrap_or_default(),
                        seq,
                        author: usernames.get(&message.author_id).cloned().unwrap_or_default(),
                        author_id: message.author_id,
                        client_id: message.client_id.clone(),
                        body: message.body.clone(),
                        sent_at: now,
                    },
                );
            }
        }
        tx.commit().await?;

        // 5. One outcome per input, in input order.
        Ok(batch
            .iter()
            .enumerate()
            .map(|(i, message)| {
                if let Some(row) = stored.get(&i) {
                    return Outcome::Stored(row.clone());
                }
                let key = (message.author_id, message.client_id.clone());
                if let Some(row) = existing.get(&key) {
                    return Outcome::Duplicate(row.clone());
                }
                let first = first_index[&(message.author_id, message.client_id.as_str())];
                Outcome::Duplicate(stored[&first].clone())
            })
            .collect())
    })
}
