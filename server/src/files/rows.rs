//! The SQL of the `files` table, spelt once for both dialects. Claiming uploads and
//! marking a deleted message's files is the writer's (chat/write/batch.rs), in the
//! transaction that stores the post or the deletion.

use crate::{chat::FileColumns, db::Db, with_pool};

/// A new upload's row.
pub struct NewFile<'a> {
    pub id: &'a str,
    pub uploader_id: i64,
    pub room_id: i64,
    pub name: &'a str,
    pub size: u64,
    pub sha256: &'a [u8],
    pub content_type: &'a str,
    pub image: Option<(u32, u32)>,
    pub thumb_type: Option<&'a str>,
    pub now: i64,
}

/// A stored file with what deciding who may read it needs.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FileRow {
    #[sqlx(flatten)]
    pub file: FileColumns,
    pub uploader_id: i64,
    pub message_seq: Option<i64>,
    pub sha256: Vec<u8>,
    pub thumb_type: Option<String>,
    pub room_kind: String,
    /// Whether the reader is a member of the file's room (0/1).
    pub member: i64,
}

/// A room's file as the Files view lists it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ListedFile {
    #[sqlx(flatten)]
    pub file: FileColumns,
    pub message_seq: i64,
    pub position: i64,
    pub uploader: String,
    pub created_at: i64,
}

pub async fn insert(db: &Db, file: &NewFile<'_>) -> Result<(), sqlx::Error> {
    let (width, height) = file.image.map_or((None, None), |(w, h)| (Some(w), Some(h)));
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO files (id, uploader_id, room_id, message_seq, position, name, size, sha256, \
             content_type, width, height, thumb_type, created_at) \
             VALUES (?, ?, ?, NULL, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(file.id)
        .bind(file.uploader_id)
        .bind(file.room_id)
        .bind(file.name)
        .bind(i64::try_from(file.size).unwrap_or(i64::MAX))
        .bind(file.sha256)
        .bind(file.content_type)
        .bind(width)
        .bind(height)
        .bind(file.thumb_type)
        .bind(file.now)
        .execute(pool)
        .await
        .map(drop)
    })
}

/// A live (not deleted) file, with whether `reader_id` is a member of its room.
pub async fn find(db: &Db, id: &str, reader_id: i64) -> Result<Option<FileRow>, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT f.id, f.uploader_id, f.room_id, f.message_seq, f.name, f.size, f.sha256, \
                    f.content_type, f.width, f.height, f.thumb_type, r.kind AS room_kind, \
                    (SELECT COUNT(*) FROM room_members rm WHERE rm.room_id = f.room_id AND rm.user_id = ?) AS member \
             FROM files f JOIN rooms r ON r.id = f.room_id \
             WHERE f.id = ? AND f.deleted_at IS NULL",
        )
        .bind(reader_id)
        .bind(id)
        .fetch_optional(pool)
        .await
    })
}

/// Bytes `user_id` holds in uploads no message has claimed yet.
pub async fn unclaimed_bytes(db: &Db, user_id: i64) -> Result<u64, sqlx::Error> {
    let total: Option<i64> = with_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT CAST(SUM(size) AS SIGNED) FROM files \
             WHERE uploader_id = ? AND message_seq IS NULL AND deleted_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(pool)
        .await
    })?;
    Ok(u64::try_from(total.unwrap_or_default()).unwrap_or_default())
}

/// Marks an unclaimed upload of `user_id`'s deleted (the collector erases it); whether
/// there was one.
pub async fn discard(db: &Db, id: &str, user_id: i64, now: i64) -> Result<bool, sqlx::Error> {
    let done = with_pool!(db, pool => {
        sqlx::query(
            "UPDATE files SET deleted_at = ? \
             WHERE id = ? AND uploader_id = ? AND message_seq IS NULL AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
    })?;
    Ok(done > 0)
}

/// The live files of a room's messages before `(seq, position)`, newest first.
pub async fn in_room(
    db: &Db,
    room_id: i64,
    before: Option<(i64, i64)>,
    limit: i64,
) -> Result<Vec<ListedFile>, sqlx::Error> {
    let (seq, position) = before.unwrap_or((i64::MAX, 0));
    with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT f.id, f.name, f.size, f.content_type, f.width, f.height, f.message_seq, \
                    f.position, u.username AS uploader, f.created_at \
             FROM files f JOIN users u ON u.id = f.uploader_id \
             WHERE f.room_id = ? AND f.message_seq IS NOT NULL AND f.deleted_at IS NULL \
               AND (f.message_seq < ? OR (f.message_seq = ? AND f.position < ?)) \
             ORDER BY f.message_seq DESC, f.position DESC LIMIT ?",
        )
        .bind(room_id)
        .bind(seq)
        .bind(seq)
        .bind(position)
        .bind(limit)
        .fetch_all(pool)
        .await
    })
}

/// Marks uploads left unclaimed since before `cutoff` deleted.
pub async fn expire_unclaimed(db: &Db, cutoff: i64, now: i64) -> Result<u64, sqlx::Error> {
    let done = with_pool!(db, pool => {
        sqlx::query(
            "UPDATE files SET deleted_at = ? \
             WHERE message_seq IS NULL AND created_at < ? AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(cutoff)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
    })?;
    Ok(done)
}

/// Up to `limit` files marked deleted: their ids and whether a thumbnail is stored.
pub async fn deleted(db: &Db, limit: i64) -> Result<Vec<(String, Option<String>)>, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_as("SELECT id, thumb_type FROM files WHERE deleted_at IS NOT NULL LIMIT ?")
            .bind(limit)
            .fetch_all(pool)
            .await
    })
}

/// Forgets files whose blobs are erased.
pub async fn forget(db: &Db, ids: &[String]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    with_pool!(db, pool => {
        let mut query = sqlx::QueryBuilder::new("DELETE FROM files WHERE deleted_at IS NOT NULL AND id IN (");
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(id.as_str());
        }
        query.push(")");
        query.build().execute(pool).await.map(drop)
    })
}
