//! The SQL for rooms, membership and reading a room's log and messages. Statements are
//! spelt once for both dialects (both use `?` placeholders). Writing the log is
//! `batch`'s, in one transaction per batch.

use crate::{
    db::{Db, Dialect},
    insert_id, with_pool,
};

use super::wire::{LogRow, MessageRow, ReactionRow};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RoomRow {
    pub id: i64,
    pub name: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RoomListing {
    pub name: String,
    pub topic: String,
    pub last_seq: i64,
    pub members: i64,
}

pub async fn room_by_name(db: &Db, name: &str) -> Result<Option<RoomRow>, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_as("SELECT id, name FROM rooms WHERE name = ?")
            .bind(name)
            .fetch_optional(pool)
            .await
    })
}

pub async fn last_seq(db: &Db, room_id: i64) -> Result<i64, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = ?")
            .bind(room_id)
            .fetch_one(pool)
            .await
    })
}

/// The last seq of each room in `room_ids` (one query for the cluster's position check).
pub async fn last_seqs(db: &Db, room_ids: &[i64]) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    if room_ids.is_empty() {
        return Ok(Vec::new());
    }
    with_pool!(db, pool => {
        let mut query = sqlx::QueryBuilder::new("SELECT id, last_seq FROM rooms WHERE id IN (");
        let mut ids = query.separated(", ");
        for id in room_ids {
            ids.push_bind(*id);
        }
        query.push(")");
        query.build_query_as().fetch_all(pool).await
    })
}

/// Up to `limit` rooms whose names sort after `after` (by the unique index on names).
pub async fn list_rooms(db: &Db, after: &str, limit: u32) -> Result<Vec<RoomListing>, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT r.name, r.topic, r.last_seq, \
                    (SELECT COUNT(*) FROM room_members rm WHERE rm.room_id = r.id) AS members \
             FROM rooms r WHERE r.name > ? ORDER BY r.name LIMIT ?",
        )
        .bind(after)
        .bind(limit)
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

/// Where a replay of the `n` newest messages starts: just before the `n`-th newest,
/// or at the beginning when there are fewer.
pub async fn recent_start(db: &Db, room_id: i64, n: i64) -> Result<i64, sqlx::Error> {
    let seq: Option<i64> = with_pool!(db, pool => {
        sqlx::query_scalar("SELECT seq FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?")
            .bind(room_id)
            .bind(n - 1)
            .fetch_optional(pool)
            .await
    })?;
    Ok(seq.map_or(0, |seq| seq - 1))
}

/// The parent of a reply, read beside it: its author and as much of its body as an
/// excerpt shows (`EXCERPT_CHARS` + 1, so the excerpt knows whether it was cut).
const PARENT: &str = "LEFT JOIN users pu ON pu.id = p.author_id";

/// `SELECT`, telling MySQL/MariaDB to join in the order written: from the room's rows by
/// primary key, then each row's user. With few users its optimiser starts from `users`
/// and joins the room's rows to every one of them in a buffer, which grows with the
/// number of users.
fn select_in_order(db: &Db) -> &'static str {
    match db.dialect() {
        Dialect::MySql => "SELECT STRAIGHT_JOIN",
        Dialect::Sqlite => "SELECT",
    }
}

/// Events of a room with `seq > after`, oldest first, at most `limit`: the posts from
/// `messages` (with their current body and, for replies, their parent) and every other
/// event from `room_events` (an edit with its message's current body), merged by seq.
pub async fn events_after(
    db: &Db,
    room_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<LogRow>, sqlx::Error> {
    let excerpt = app::protocol::EXCERPT_CHARS + 1;
    let select = select_in_order(db);
    let sql = format!(
        "SELECT * FROM (\
           {select} m.seq, 'message' AS kind, a.username AS actor, m.client_id, \
                  NULL AS target_seq, NULL AS emoji, NULL AS topic, m.sent_at AS at, m.body, \
                  m.reply_to, pu.username AS parent_author, \
                  SUBSTR(p.body, 1, {excerpt}) AS parent_body \
           FROM messages m \
           JOIN users a ON a.id = m.author_id \
           LEFT JOIN messages p ON p.room_id = m.room_id AND p.seq = m.reply_to \
           {PARENT} \
           WHERE m.room_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?) AS posted \
         UNION ALL SELECT * FROM (\
           {select} e.seq, e.kind, a.username AS actor, e.client_id, e.target_seq, e.emoji, \
                  e.topic, e.at, t.body, NULL AS reply_to, NULL AS parent_author, \
                  NULL AS parent_body \
           FROM room_events e \
           JOIN users a ON a.id = e.actor_id \
           LEFT JOIN messages t ON e.kind = 'edited' AND t.room_id = e.room_id \
                AND t.seq = e.target_seq \
           WHERE e.room_id = ? AND e.seq > ? ORDER BY e.seq LIMIT ?) AS changed \
         ORDER BY seq LIMIT ?"
    );
    with_pool!(db, pool => {
        sqlx::query_as(&sql)
            .bind(room_id)
            .bind(after)
            .bind(limit)
            .bind(room_id)
            .bind(after)
            .bind(limit)
            .bind(limit)
            .fetch_all(pool)
            .await
    })
}

/// The `limit` messages just before `before` (or the newest) as they now stand,
/// oldest first, with their reactions.
pub async fn messages_before(
    db: &Db,
    room_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<MessageRow>, Vec<ReactionRow>), sqlx::Error> {
    let excerpt = app::protocol::EXCERPT_CHARS + 1;
    let select = select_in_order(db);
    let sql = format!(
        "{select} m.seq, u.username AS author, m.body, m.client_id, m.sent_at, m.edited_at, \
                m.deleted_at, m.reply_to, pu.username AS parent_author, \
                SUBSTR(p.body, 1, {excerpt}) AS parent_body \
         FROM messages m \
         JOIN users u ON u.id = m.author_id \
         LEFT JOIN messages p ON p.room_id = m.room_id AND p.seq = m.reply_to \
         {PARENT} \
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
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok((rows, Vec::new()));
    };
    let reactions: Vec<ReactionRow> = with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT r.message_seq, r.emoji, u.username FROM reactions r \
             JOIN users u ON u.id = r.user_id \
             WHERE r.room_id = ? AND r.message_seq BETWEEN ? AND ?",
        )
        .bind(room_id)
        .bind(first.seq)
        .bind(last.seq)
        .fetch_all(pool)
        .await
    })?;
    Ok((rows, reactions))
}
