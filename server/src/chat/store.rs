//! The SQL for rooms, membership and reading a room's log and messages. Statements are
//! spelt once for both dialects (both use `?` placeholders). Writing the log is
//! `batch`'s, in one transaction per batch.

use crate::{db::Db, insert_id, with_pool};

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

/// Events of a room with `seq > after`, oldest first, at most `limit`.
pub async fn events_after(
    db: &Db,
    room_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<LogRow>, sqlx::Error> {
    let excerpt = app::protocol::EXCERPT_CHARS + 1;
    // Only messages and edits need a body; only a message its parent.
    let sql = format!(
        "SELECT e.seq, e.kind, a.username AS actor, e.client_id, e.target_seq, e.emoji, \
                e.topic, e.at, m.body, m.reply_to, pu.username AS parent_author, \
                SUBSTR(p.body, 1, {excerpt}) AS parent_body \
         FROM room_events e \
         JOIN users a ON a.id = e.actor_id \
         LEFT JOIN messages m ON e.kind IN ('message', 'edited') AND m.room_id = e.room_id \
              AND m.seq = COALESCE(e.target_seq, e.seq) \
         LEFT JOIN messages p ON e.kind = 'message' AND p.room_id = m.room_id AND p.seq = m.reply_to \
         {PARENT} \
         WHERE e.room_id = ? AND e.seq > ? ORDER BY e.seq LIMIT ?"
    );
    with_pool!(db, pool => {
        sqlx::query_as(&sql).bind(room_id).bind(after).bind(limit).fetch_all(pool).await
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
    let sql = format!(
        "SELECT m.seq, u.username AS author, m.body, m.client_id, m.sent_at, m.edited_at, \
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
