//! Storing a batch of changes in one transaction: lock the rooms, read what the changes
//! depend on, decide each one ([`plan`]), write the net effect, commit. A room's log is
//! two tables sharing its seqs: posts are rows of `messages` (which also hold each
//! message as it now stands), every other event a row of `room_events`. Seqs come from
//! `rooms.last_seq`, read and advanced under the row lock (MySQL's `FOR UPDATE`,
//! SQLite's `BEGIN IMMEDIATE`), so they are gap-free and in commit order whatever else
//! writes; retries are recognised after the lock is taken, so a retry arriving by
//! another way never reserves a seq.

use std::collections::{BTreeMap, BTreeSet};

use app::protocol::Change;
use sqlx::QueryBuilder;

use super::plan::{plan, Account, Decision, LockedRoom, Snapshot, Submission, Target, Upload};
use crate::chat::{
    rules::access,
    wire::{EventKind, FileColumns},
};
use crate::{
    db::{Db, Dialect},
    with_pool,
};

/// An upload a post names, as the batch reads it.
#[derive(sqlx::FromRow)]
struct UploadRow {
    #[sqlx(flatten)]
    file: FileColumns,
    uploader_id: i64,
    room_id: i64,
    message_seq: Option<i64>,
}

/// Stores `batch` at time `now` and says what became of each change, in input order.
pub async fn store_batch(
    db: &Db,
    batch: &[Submission],
    now: i64,
) -> Result<Vec<Decision>, sqlx::Error> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let dialect = db.dialect();
    let (begin, for_update, select) = match dialect {
        // STRAIGHT_JOIN: MariaDB, seeing few users, would start a join from `users`.
        Dialect::MySql => ("BEGIN", " FOR UPDATE", "SELECT STRAIGHT_JOIN"),
        // Take the write lock at once: a read lock upgraded later can fail as busy.
        Dialect::Sqlite => ("BEGIN IMMEDIATE", "", "SELECT"),
    };
    let room_ids: BTreeSet<i64> = batch.iter().map(|s| s.room_id).collect();
    // (room_id, seq) of every message the changes name.
    let mut targets: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    // … and of those whose reactions the batch changes or removes.
    let mut reacted: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    for submission in batch {
        let (target, reactions) = match &submission.change {
            Change::Post {
                reply_to: Some(parent),
                ..
            } => (Some(*parent), false),
            Change::Edit { target, .. } => (Some(*target), false),
            Change::Delete { target } | Change::React { target, .. } => (Some(*target), true),
            _ => (None, false),
        };
        if let Some(target) = target {
            targets
                .entry(submission.room_id)
                .or_default()
                .insert(target);
            if reactions {
                reacted
                    .entry(submission.room_id)
                    .or_default()
                    .insert(target);
            }
        }
    }

    // The uploads the posts attach.
    let uploads: BTreeSet<&str> = batch
        .iter()
        .flat_map(|s| match &s.change {
            Change::Post { files, .. } => files.as_slice(),
            _ => &[],
        })
        .map(String::as_str)
        .collect();

    // The accounts the batch names: whom membership changes are about, whom posts mention.
    let mut names: BTreeSet<String> = BTreeSet::new();
    for submission in batch {
        names.extend(submission.subject().map(str::to_string));
        if let Some((mentioned, _)) = submission.mentions() {
            names.extend(mentioned);
        }
    }

    with_pool!(db, pool => {
        let mut tx = pool.begin_with(begin).await?;
        let mut snapshot = Snapshot::default();

        // 1. Lock the rooms, in id order so that concurrent writers cannot deadlock.
        let mut lock = QueryBuilder::new(
            "SELECT id, last_seq, created_by, kind, archived_at, mention_room FROM rooms WHERE id IN (",
        );
        let mut ids = lock.separated(", ");
        for id in &room_ids {
            ids.push_bind(*id);
        }
        lock.push(") ORDER BY id").push(for_update);
        type RoomRow = (i64, i64, Option<i64>, String, Option<i64>, String);
        let rooms: Vec<RoomRow> = lock.build_query_as().fetch_all(&mut *tx).await?;
        for (id, last_seq, created_by, kind, archived_at, mention_room) in rooms {
            snapshot.rooms.insert(id, LockedRoom {
                last_seq,
                created_by,
                kind: access::RoomKind::parse(&kind),
                archived: archived_at.is_some(),
                mention_room_moderators: access::room_mentions_restricted(&mention_room),
            });
        }

        // The accounts named, then the memberships the decisions depend on: the actors'
        // and those of the accounts named, in each room of the batch.
        if !names.is_empty() {
            let mut query = QueryBuilder::new("SELECT id, username, banned_at FROM users WHERE username IN (");
            let mut list = query.separated(", ");
            for name in &names {
                list.push_bind(name.as_str());
            }
            query.push(")");
            let rows: Vec<(i64, String, Option<i64>)> = query.build_query_as().fetch_all(&mut *tx).await?;
            for (id, username, banned_at) in rows {
                snapshot.accounts.insert(username, Account { id, banned: banned_at.is_some() });
            }
        }
        let mut people: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
        for submission in batch {
            let in_room = people.entry(submission.room_id).or_default();
            in_room.insert(submission.actor_id);
            in_room.extend(snapshot.accounts.values().map(|account| account.id));
        }
        let mut query = QueryBuilder::new("SELECT room_id, user_id, role FROM room_members WHERE ");
        push_in_rooms(&mut query, "room_id", "user_id", &people);
        let rows: Vec<(i64, i64, String)> = query.build_query_as().fetch_all(&mut *tx).await?;
        for (room_id, user_id, role) in rows {
            snapshot.members.insert((room_id, user_id), access::stored_role(&role));
        }

        // 2. What was stored before, by idempotency key: one index lookup per change.
        let mut lookup = stored_query(dialect, batch);
        let stored: Vec<(i64, String, String, i64)> =
            lookup.build_query_as().fetch_all(&mut *tx).await?;
        for (actor_id, client_id, room, seq) in stored {
            snapshot.stored.insert((actor_id, client_id), (room, seq));
        }

        // 3. The messages the changes name, and the reactions on those reacted to.
        if !targets.is_empty() {
            // From the messages by primary key, then their authors (see `select`).
            let mut query = QueryBuilder::new(format!(
                "{select} m.room_id, m.seq, m.author_id, u.username, m.body FROM messages m \
                 JOIN users u ON u.id = m.author_id WHERE "
            ));
            push_in_rooms(&mut query, "m.room_id", "m.seq", &targets);
            let rows: Vec<(i64, i64, i64, String, Option<String>)> =
                query.build_query_as().fetch_all(&mut *tx).await?;
            for (room_id, seq, author_id, author, body) in rows {
                snapshot.targets.insert((room_id, seq), Target { author_id, author, body });
            }
        }
        if !reacted.is_empty() {
            let mut query = QueryBuilder::new(
                "SELECT room_id, message_seq, emoji, user_id FROM reactions WHERE ",
            );
            push_in_rooms(&mut query, "room_id", "message_seq", &reacted);
            let rows: Vec<(i64, i64, Vec<u8>, i64)> =
                query.build_query_as().fetch_all(&mut *tx).await?;
            for (room_id, seq, emoji, user_id) in rows {
                let emoji = String::from_utf8(emoji).unwrap_or_default();
                snapshot.reactions.entry((room_id, seq)).or_default().insert((emoji, user_id));
            }
        }

        // Uploads are claimed only in their own room, whose lock is held: two posts
        // claiming one upload are serialised by it.
        if !uploads.is_empty() {
            let mut query = QueryBuilder::new(
                "SELECT id, uploader_id, room_id, message_seq, name, size, content_type, width, height \
                 FROM files WHERE deleted_at IS NULL AND id IN (",
            );
            let mut list = query.separated(", ");
            for id in &uploads {
                list.push_bind(*id);
            }
            query.push(")");
            let rows: Vec<UploadRow> = query.build_query_as().fetch_all(&mut *tx).await?;
            for row in rows {
                snapshot.uploads.insert(row.file.id.clone(), Upload {
                    uploader_id: row.uploader_id,
                    room_id: row.room_id,
                    claimed: row.message_seq.is_some(),
                    file: row.file.attachment(),
                });
            }
        }

        // 4. Decide.
        let plan = plan(batch, &snapshot);
        let new: Vec<(&Submission, i64)> = batch
            .iter()
            .zip(&plan.decisions)
            .filter_map(|(s, d)| match d {
                Decision::New { seq, .. } => Some((s, *seq)),
                _ => None,
            })
            .collect();

        // 5. Write: counters, then the events, then the messages as they now stand.
        if !plan.last_seq.is_empty() {
            let mut update = QueryBuilder::new("UPDATE rooms SET last_seq = CASE id");
            for (room_id, last) in &plan.last_seq {
                update.push(" WHEN ").push_bind(*room_id).push(" THEN ").push_bind(*last);
            }
            update.push(" END WHERE id IN (");
            let mut ids = update.separated(", ");
            for room_id in plan.last_seq.keys() {
                ids.push_bind(*room_id);
            }
            update.push(")");
            update.build().execute(&mut *tx).await?;
        }
        for room_id in &plan.archived {
            sqlx::query("UPDATE rooms SET archived_at = ? WHERE id = ?")
                .bind(now)
                .bind(room_id)
                .execute(&mut *tx)
                .await?;
        }
        for ((room_id, user_id), now_is) in &plan.memberships {
            let was = snapshot.members.contains_key(&(*room_id, *user_id));
            match now_is {
                None => {
                    sqlx::query("DELETE FROM room_members WHERE room_id = ? AND user_id = ?")
                        .bind(room_id)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                Some((role, _)) if was => {
                    sqlx::query("UPDATE room_members SET role = ? WHERE room_id = ? AND user_id = ?")
                        .bind(role.as_str())
                        .bind(room_id)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                // A new member has read up to the event that let them in.
                Some((role, seq)) => {
                    sqlx::query(
                        "INSERT INTO room_members (room_id, user_id, joined_at, role, last_read_seq) \
                         VALUES (?, ?, ?, ?, ?)",
                    )
                    .bind(room_id)
                    .bind(user_id)
                    .bind(now)
                    .bind(role.as_str())
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        for (room_id, topic) in &plan.topics {
            sqlx::query("UPDATE rooms SET topic = ? WHERE id = ?")
                .bind(topic)
                .bind(room_id)
                .execute(&mut *tx)
                .await?;
        }
        // Posts are their messages' rows; every other event is a row of room_events.
        let others: Vec<&(&Submission, i64)> = new
            .iter()
            .filter(|(s, _)| !matches!(s.change, Change::Post { .. }))
            .collect();
        if !others.is_empty() {
            let mut insert = QueryBuilder::new(
                "INSERT INTO room_events \
                 (room_id, seq, kind, actor_id, client_id, target_seq, emoji, topic, at, subject_id, role) ",
            );
            insert.push_values(&others, |mut row, (s, seq)| {
                let (target, emoji, topic) = match &s.change {
                    Change::Edit { target, .. } | Change::Delete { target } => (Some(*target), None, None),
                    Change::React { target, emoji, .. } => (Some(*target), Some(emoji.as_bytes()), None),
                    Change::Topic { topic } => (None, None, Some(topic.as_str())),
                    _ => (None, None, None),
                };
                let subject = s.subject().and_then(|name| snapshot.accounts.get(name)).map(|a| a.id);
                let role = match &s.change {
                    Change::SetRole { role, .. } => Some(role.as_str()),
                    _ => None,
                };
                row.push_bind(s.room_id)
                    .push_bind(*seq)
                    .push_bind(EventKind::of(&s.change).as_str())
                    .push_bind(s.actor_id)
                    .push_bind(s.client_id.as_str())
                    .push_bind(target)
                    .push_bind(emoji)
                    .push_bind(topic)
                    .push_bind(now)
                    .push_bind(subject)
                    .push_bind(role);
            });
            insert.build().execute(&mut *tx).await?;
        }
        let posts: Vec<(&Submission, i64, &str, Option<i64>, bool)> = batch
            .iter()
            .zip(&plan.decisions)
            .filter_map(|(s, d)| match (&s.change, d) {
                (Change::Post { body, reply_to, .. }, Decision::New { seq, room_mention, .. }) => {
                    Some((s, *seq, body.as_str(), *reply_to, *room_mention))
                }
                _ => None,
            })
            .collect();
        if !posts.is_empty() {
            let mut insert = QueryBuilder::new(
                "INSERT INTO messages (room_id, seq, author_id, client_id, body, sent_at, reply_to, room_mention) ",
            );
            insert.push_values(&posts, |mut row, (s, seq, body, reply_to, room_mention)| {
                row.push_bind(s.room_id)
                    .push_bind(*seq)
                    .push_bind(s.actor_id)
                    .push_bind(s.client_id.as_str())
                    .push_bind(*body)
                    .push_bind(now)
                    .push_bind(*reply_to)
                    .push_bind(*room_mention);
            });
            insert.build().execute(&mut *tx).await?;
        }
        if !plan.mentions.is_empty() {
            let mut insert = QueryBuilder::new("INSERT INTO mentions (room_id, seq, user_id, at) ");
            insert.push_values(&plan.mentions, |mut row, (room_id, seq, user_id)| {
                row.push_bind(*room_id).push_bind(*seq).push_bind(*user_id).push_bind(now);
            });
            insert.build().execute(&mut *tx).await?;
        }
        for (room_id, seq, author_id) in &plan.room_mentions {
            // Every member but the author, besides those already mentioned by name.
            sqlx::query(
                "INSERT INTO mentions (room_id, seq, user_id, at) \
                 SELECT rm.room_id, ?, rm.user_id, ? FROM room_members rm \
                 WHERE rm.room_id = ? AND rm.user_id <> ? AND NOT EXISTS \
                 (SELECT 1 FROM mentions x WHERE x.user_id = rm.user_id AND x.room_id = rm.room_id AND x.seq = ?)",
            )
            .bind(seq)
            .bind(now)
            .bind(room_id)
            .bind(author_id)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
        for ((room_id, seq), body) in &plan.edits {
            sqlx::query("UPDATE messages SET body = ?, edited_at = ? WHERE room_id = ? AND seq = ?")
                .bind(body)
                .bind(now)
                .bind(room_id)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        for (room_id, seq) in &plan.deletes {
            // The body's only copy: after this it is gone from the database.
            sqlx::query(
                "UPDATE messages SET body = NULL, edited_at = NULL, deleted_at = ? \
                 WHERE room_id = ? AND seq = ?",
            )
            .bind(now)
            .bind(room_id)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
        for (id, room_id, seq, position) in &plan.claims {
            sqlx::query(
                "UPDATE files SET message_seq = ?, position = ? \
                 WHERE id = ? AND room_id = ? AND message_seq IS NULL",
            )
            .bind(seq)
            .bind(position)
            .bind(id)
            .bind(room_id)
            .execute(&mut *tx)
            .await?;
        }
        for (room_id, seq) in &plan.deletes {
            // Its files go with it: the collector erases them once this commits.
            sqlx::query(
                "UPDATE files SET deleted_at = ? \
                 WHERE room_id = ? AND message_seq = ? AND deleted_at IS NULL",
            )
            .bind(now)
            .bind(room_id)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
        for (room_id, seq, emoji, user_id) in &plan.reactions_off {
            sqlx::query(
                "DELETE FROM reactions WHERE room_id = ? AND message_seq = ? AND emoji = ? AND user_id = ?",
            )
            .bind(room_id)
            .bind(seq)
            .bind(emoji.as_bytes())
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        }
        if !plan.reactions_on.is_empty() {
            let mut insert =
                QueryBuilder::new("INSERT INTO reactions (room_id, message_seq, emoji, user_id) ");
            insert.push_values(&plan.reactions_on, |mut row, (room_id, seq, emoji, user_id)| {
                row.push_bind(*room_id)
                    .push_bind(*seq)
                    .push_bind(emoji.as_bytes())
                    .push_bind(*user_id);
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(plan.decisions)
    })
}

/// `(room = ? AND seq IN (?, …)) OR …` for the given rooms and seqs: a primary-key
/// lookup per message in both dialects.
fn push_in_rooms<'q, DB: sqlx::Database>(
    query: &mut QueryBuilder<'q, DB>,
    room_column: &str,
    seq_column: &str,
    seqs: &'q BTreeMap<i64, BTreeSet<i64>>,
) where
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for (i, (room_id, seqs)) in seqs.iter().enumerate() {
        if i > 0 {
            query.push(" OR ");
        }
        query
            .push(format!("({room_column} = "))
            .push_bind(*room_id)
            .push(format!(" AND {seq_column} IN ("));
        let mut list = query.separated(", ");
        for seq in seqs {
            list.push_bind(*seq);
        }
        query.push("))");
    }
}

/// The query finding the events of `batch` stored before, by `(actor, client_id)`, in
/// both halves of the log (posts in `messages`, the rest in `room_events`), spelt so
/// that each database does one index lookup per change and half: MySQL/MariaDB a
/// row-value IN list on each unique index, SQLite the pairs as a VALUES table joined to
/// them, since it scans for a row-value IN. MariaDB is told the join order and the
/// index: with the statistics of a young, fast-growing table it started from `rooms` and
/// read every message of each room.
fn stored_query<'q, DB: sqlx::Database>(
    dialect: Dialect,
    batch: &'q [Submission],
) -> QueryBuilder<'q, DB>
where
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    fn pairs<'q, DB: sqlx::Database>(query: &mut QueryBuilder<'q, DB>, batch: &'q [Submission])
    where
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        let mut pairs = query.separated(", ");
        for submission in batch {
            pairs.push("(");
            pairs.push_bind_unseparated(submission.actor_id);
            pairs.push_unseparated(", ");
            pairs.push_bind_unseparated(submission.client_id.as_str());
            pairs.push_unseparated(")");
        }
    }
    let mut query;
    match dialect {
        Dialect::MySql => {
            query = QueryBuilder::new(
                "SELECT STRAIGHT_JOIN m.author_id, m.client_id, r.name, m.seq \
                 FROM messages m FORCE INDEX (messages_client) JOIN rooms r ON r.id = m.room_id \
                 WHERE (m.author_id, m.client_id) IN (",
            );
            pairs(&mut query, batch);
            query.push(
                ") UNION ALL SELECT STRAIGHT_JOIN e.actor_id, e.client_id, r.name, e.seq \
                 FROM room_events e FORCE INDEX (room_events_client) \
                 JOIN rooms r ON r.id = e.room_id WHERE (e.actor_id, e.client_id) IN (",
            );
            pairs(&mut query, batch);
            query.push(")");
        }
        Dialect::Sqlite => {
            query = QueryBuilder::new("WITH k (actor_id, client_id) AS (VALUES ");
            pairs(&mut query, batch);
            query.push(
                ") SELECT m.author_id, m.client_id, r.name, m.seq FROM k \
                 JOIN messages m ON m.author_id = k.actor_id AND m.client_id = k.client_id \
                 JOIN rooms r ON r.id = m.room_id \
                 UNION ALL SELECT e.actor_id, e.client_id, r.name, e.seq FROM k \
                 JOIN room_events e ON e.actor_id = k.actor_id AND e.client_id = k.client_id \
                 JOIN rooms r ON r.id = e.room_id",
            );
        }
    }
    query
}
