//! The SQL that reads rooms, membership, a room's log and messages. Statements are
//! spelt once for both dialects (both use `?` placeholders). What writes is in
//! `write/`: the log in the batch's transaction, everything else in `write/rooms.rs`.

use crate::{
    db::{Db, Dialect},
    with_pool,
};

use crate::chat::wire::{AttachedRow, LogRow, MessageRow, ReactionRow};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RoomRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
}

/// A room as `list_rooms` shows it to one user (booleans as 0/1: both dialects read
/// them as integers).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RoomListing {
    pub name: String,
    pub topic: String,
    pub last_seq: i64,
    pub kind: String,
    pub created_by: Option<i64>,
    pub archived_at: Option<i64>,
    pub mention_room: String,
    pub members: i64,
    pub role: Option<String>,
    pub last_read_seq: Option<i64>,
    pub muted: Option<i64>,
    pub unread: i64,
    pub mentions: i64,
    pub last_activity: Option<i64>,
}

pub async fn room_by_name(db: &Db, name: &str) -> Result<Option<RoomRow>, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_as("SELECT id, name, kind FROM rooms WHERE name = ?")
            .bind(name)
            .fetch_optional(pool)
            .await
    })
}

/// `user_id`'s stored role in a room (`member` or `moderator`), `None` if not a member.
pub async fn member_role(
    db: &Db,
    room_id: i64,
    user_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_scalar("SELECT role FROM room_members WHERE room_id = ? AND user_id = ?")
            .bind(room_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await
    })
}

/// The members of a room by name: their ids, their stored roles, and who created the
/// room (`access::member_role` makes the roles of them).
pub async fn members(
    db: &Db,
    room_id: i64,
) -> Result<Vec<(String, i64, String, Option<i64>)>, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT u.username, rm.user_id, rm.role, r.created_by \
             FROM room_members rm JOIN users u ON u.id = rm.user_id JOIN rooms r ON r.id = rm.room_id \
             WHERE rm.room_id = ? ORDER BY u.username",
        )
        .bind(room_id)
        .fetch_all(pool)
        .await
    })
}

/// Ids and names of the accounts called `names` that are not banned.
pub async fn accounts_named(db: &Db, names: &[String]) -> Result<Vec<(i64, String)>, sqlx::Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    with_pool!(db, pool => {
        let mut query = sqlx::QueryBuilder::new(
            "SELECT id, username FROM users WHERE banned_at IS NULL AND username IN (",
        );
        let mut list = query.separated(", ");
        for name in names {
            list.push_bind(name.as_str());
        }
        query.push(")");
        query.build_query_as().fetch_all(pool).await
    })
}

/// Up to `limit` usernames starting with `prefix`, in order (for completion).
pub async fn usernames_starting(
    db: &Db,
    prefix: &str,
    limit: u32,
) -> Result<Vec<String>, sqlx::Error> {
    // Names are a-z 0-9 _ . - only: escaping `_` (with `!`, which no name has, as a
    // backslash means different things to the two dialects) keeps LIKE literal.
    let pattern = format!("{}%", prefix.replace('_', "!_"));
    with_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT username FROM users WHERE banned_at IS NULL AND username LIKE ? ESCAPE '!' \
             ORDER BY username LIMIT ?",
        )
        .bind(pattern)
        .bind(limit)
        .fetch_all(pool)
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

/// What `user_id` sees of up to `limit` rooms whose names sort after `after` (by the
/// unique index on names): every public room, and the private rooms and
/// conversations it is in, with its read position and what is unread after it.
/// `only` limits it to one room.
pub async fn list_rooms(
    db: &Db,
    user_id: i64,
    after: &str,
    limit: u32,
    only: Option<&str>,
) -> Result<Vec<RoomListing>, sqlx::Error> {
    let only_clause = if only.is_some() {
        " AND r.name = ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT r.name, r.topic, r.last_seq, r.kind, r.created_by, r.archived_at, r.mention_room, \
                (SELECT COUNT(*) FROM room_members x WHERE x.room_id = r.id) AS members, \
                rm.role, rm.last_read_seq, rm.muted, \
                (SELECT COUNT(*) FROM messages m WHERE m.room_id = r.id AND m.seq > rm.last_read_seq \
                    AND m.author_id <> ? AND m.deleted_at IS NULL) AS unread, \
                (SELECT COUNT(*) FROM mentions mn JOIN messages m ON m.room_id = mn.room_id AND m.seq = mn.seq \
                    WHERE mn.user_id = ? AND mn.room_id = r.id AND mn.seq > rm.last_read_seq \
                    AND m.deleted_at IS NULL) AS mentions, \
                (SELECT m.sent_at FROM messages m WHERE m.room_id = r.id ORDER BY m.seq DESC LIMIT 1) \
                    AS last_activity \
         FROM rooms r LEFT JOIN room_members rm ON rm.room_id = r.id AND rm.user_id = ? \
         WHERE r.name > ? AND (r.kind = 'public' OR rm.user_id IS NOT NULL){only_clause} \
         ORDER BY r.name LIMIT ?"
    );
    with_pool!(db, pool => {
        let mut query = sqlx::query_as(&sql)
            .bind(user_id)
            .bind(user_id)
            .bind(user_id)
            .bind(after);
        if let Some(name) = only {
            query = query.bind(name);
        }
        query.bind(limit).fetch_all(pool).await
    })
}

/// The other people in each of the conversations `room_names`, by room name.
pub async fn dm_people(db: &Db, room_names: &[&str]) -> Result<Vec<(String, String)>, sqlx::Error> {
    if room_names.is_empty() {
        return Ok(Vec::new());
    }
    with_pool!(db, pool => {
        let mut query = sqlx::QueryBuilder::new(
            "SELECT r.name, u.username FROM rooms r JOIN room_members rm ON rm.room_id = r.id \
             JOIN users u ON u.id = rm.user_id WHERE r.name IN (",
        );
        let mut list = query.separated(", ");
        for name in room_names {
            list.push_bind(*name);
        }
        query.push(") ORDER BY u.username");
        query.build_query_as().fetch_all(pool).await
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
                  SUBSTR(p.body, 1, {excerpt}) AS parent_body, m.room_mention, \
                  NULL AS subject, NULL AS role \
           FROM messages m \
           JOIN users a ON a.id = m.author_id \
           LEFT JOIN messages p ON p.room_id = m.room_id AND p.seq = m.reply_to \
           {PARENT} \
           WHERE m.room_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?) AS posted \
         UNION ALL SELECT * FROM (\
           {select} e.seq, e.kind, a.username AS actor, e.client_id, e.target_seq, e.emoji, \
                  e.topic, e.at, t.body, NULL AS reply_to, NULL AS parent_author, \
                  NULL AS parent_body, NULL AS room_mention, s.username AS subject, e.role \
           FROM room_events e \
           JOIN users a ON a.id = e.actor_id \
           LEFT JOIN users s ON s.id = e.subject_id \
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

/// The live files of a room's messages `first..=last`, each message's in order.
pub async fn files_between(
    db: &Db,
    room_id: i64,
    first: i64,
    last: i64,
) -> Result<Vec<AttachedRow>, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT message_seq, id, name, size, content_type, width, height FROM files \
             WHERE room_id = ? AND message_seq BETWEEN ? AND ? AND deleted_at IS NULL \
             ORDER BY message_seq, position",
        )
        .bind(room_id)
        .bind(first)
        .bind(last)
        .fetch_all(pool)
        .await
    })
}

/// The `limit` messages just before `before` (or the newest) as they now stand,
/// oldest first, with their reactions and files.
pub async fn messages_before(
    db: &Db,
    room_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<MessageRow>, Vec<ReactionRow>, Vec<AttachedRow>), sqlx::Error> {
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
    let (Some(first), Some(last)) = (rows.first().map(|r| r.seq), rows.last().map(|r| r.seq))
    else {
        return Ok((rows, Vec::new(), Vec::new()));
    };
    let reactions: Vec<ReactionRow> = with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT r.message_seq, r.emoji, u.username FROM reactions r \
             JOIN users u ON u.id = r.user_id \
             WHERE r.room_id = ? AND r.message_seq BETWEEN ? AND ?",
        )
        .bind(room_id)
        .bind(first)
        .bind(last)
        .fetch_all(pool)
        .await
    })?;
    let files = files_between(db, room_id, first, last).await?;
    Ok((rows, reactions, files))
}
