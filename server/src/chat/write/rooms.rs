//! The SQL that changes rooms outside their event logs: rooms and conversations
//! created, read positions, mute and @room settings. Each is one statement (or one
//! short transaction) of its own, not a change through the group-commit writer: none
//! is an event members receive, and each concerns one user or a room not yet in use.

use crate::{db::Db, insert_id, with_pool};

/// Creates a direct conversation called `name` between `ids` (all members at once,
/// the conversation's last seq 0); one that exists already is left as it is (false).
pub async fn create_dm(
    db: &Db,
    name: &str,
    creator: i64,
    ids: &[i64],
    now: i64,
) -> Result<bool, sqlx::Error> {
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let created = sqlx::query(
            "INSERT INTO rooms (name, topic, created_by, created_at, kind) VALUES (?, '', ?, ?, 'dm')",
        )
        .bind(name)
        .bind(creator)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match created {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(false),
            Err(e) => return Err(e),
        }
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO room_members (room_id, user_id, joined_at, role, last_read_seq) ",
        );
        insert.push_values(ids, |mut row, id| {
            row.push("(SELECT id FROM rooms WHERE name = ")
                .push_bind_unseparated(name)
                .push_unseparated(")")
                .push_bind(*id)
                .push_bind(now)
                .push_bind("member")
                .push_bind(0i64);
        });
        insert.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    })
}

/// Moves `user_id`'s read position in a room forward to `seq`, never back (the caller
/// keeps it within the room's log; someone not in the room has none to move).
pub async fn mark_read(db: &Db, room_id: i64, user_id: i64, seq: i64) -> Result<(), sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query(
            "UPDATE room_members SET last_read_seq = ? \
             WHERE room_id = ? AND user_id = ? AND last_read_seq < ?",
        )
        .bind(seq)
        .bind(room_id)
        .bind(user_id)
        .bind(seq)
        .execute(pool)
        .await
        .map(drop)
    })
}

/// Whether `user_id` is in the room.
async fn is_member(db: &Db, room_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = with_pool!(db, pool => {
        sqlx::query_scalar("SELECT 1 FROM room_members WHERE room_id = ? AND user_id = ?")
            .bind(room_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await
    })?;
    Ok(found.is_some())
}

/// Marks every room `user_id` is in as read to its end; the rooms that moved.
pub async fn mark_all_read(db: &Db, user_id: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
    with_pool!(db, pool => {
        let moved: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT r.name, r.id, r.last_seq FROM room_members rm JOIN rooms r ON r.id = rm.room_id \
             WHERE rm.user_id = ? AND rm.last_read_seq < r.last_seq",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?;
        // A room that moved on meanwhile is read to its newer end: never backwards.
        sqlx::query(
            "UPDATE room_members SET last_read_seq = \
                (SELECT r.last_seq FROM rooms r WHERE r.id = room_members.room_id) \
             WHERE user_id = ?",
        )
        .bind(user_id)
        .execute(pool)
        .await?;
        Ok(moved.into_iter().map(|(name, _, seq)| (name, seq)).collect())
    })
}

/// Mutes or unmutes a room for `user_id`; false when not a member.
pub async fn set_muted(
    db: &Db,
    room_id: i64,
    user_id: i64,
    muted: bool,
) -> Result<bool, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query("UPDATE room_members SET muted = ? WHERE room_id = ? AND user_id = ?")
            .bind(muted)
            .bind(room_id)
            .bind(user_id)
            .execute(pool)
            .await
            .map(drop)
    })?;
    is_member(db, room_id, user_id).await
}

/// Who may notify everyone in a room with @room: `members` or `moderators`.
pub async fn set_mention_room(db: &Db, room_id: i64, who: &str) -> Result<(), sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query("UPDATE rooms SET mention_room = ? WHERE id = ?")
            .bind(who)
            .bind(room_id)
            .execute(pool)
            .await
            .map(drop)
    })
}

/// Creates a room of `kind` (public or private); a taken name fails with a unique
/// violation.
pub async fn create_room(
    db: &Db,
    name: &str,
    topic: &str,
    kind: &str,
    created_by: Option<i64>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    Ok(insert_id!(
        db,
        sqlx::query(
            "INSERT INTO rooms (name, topic, kind, created_by, created_at) VALUES (?, ?, ?, ?, ?)"
        )
        .bind(name)
        .bind(topic)
        .bind(kind)
        .bind(created_by)
        .bind(now)
    ))
}

/// Makes sure the default room exists (idempotent, safe to race).
pub async fn ensure_room(db: &Db, name: &str, topic: &str, now: i64) -> Result<(), sqlx::Error> {
    match create_room(db, name, topic, "public", None, now).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes the creator of a new room its first member (the owner, by the room's
/// `created_by`); before the room has any events, so not an event itself.
pub async fn add_creator(db: &Db, room_id: i64, user_id: i64, now: i64) -> Result<(), sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO room_members (room_id, user_id, joined_at, role, last_read_seq) \
             VALUES (?, ?, ?, 'member', 0)",
        )
        .bind(room_id)
        .bind(user_id)
        .bind(now)
        .execute(pool)
        .await
        .map(drop)
    })
}
