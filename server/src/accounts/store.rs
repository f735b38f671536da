//! The SQL behind accounts and sessions. Both dialects share every statement except
//! reading back an inserted id.

use crate::{
    db::{Db, Dialect},
    insert_id, with_pool,
};

#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
}

#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// Inserts a user and returns its id. A taken username fails with a unique violation.
pub async fn insert_user(
    db: &Db,
    username: &str,
    password_hash: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    Ok(insert_id!(
        db,
        sqlx::query("INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)")
            .bind(username)
            .bind(password_hash)
            .bind(now)
    ))
}

/// The account named exactly `username`, byte for byte. MySQL's column collation
/// (`utf8mb4_unicode_ci`) would also match `ALICE` or `alicé` to `alice`; the second,
/// binary comparison rules those out while the first still finds the row by index.
/// (A `utf8mb4_bin` column would do it too, but sqlx then reads the name as bytes.)
pub async fn credentials(db: &Db, username: &str) -> Result<Option<Credentials>, sqlx::Error> {
    // SQLite's NOCASE column folds ASCII case only, and names are stored lower-case.
    let exactly = match db.dialect() {
        Dialect::MySql => " AND username = CAST(? AS BINARY)",
        Dialect::Sqlite => "",
    };
    let sql = format!("SELECT id, username, password_hash FROM users WHERE username = ?{exactly}");
    with_pool!(db, pool => {
        let mut query = sqlx::query_as(&sql).bind(username);
        if !exactly.is_empty() {
            query = query.bind(username);
        }
        query.fetch_optional(pool).await
    })
}

pub async fn insert_session(
    db: &Db,
    token_hash: &[u8],
    user_id: i64,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(drop)
    })
}

pub async fn session(db: &Db, token_hash: &[u8]) -> Result<Option<SessionRow>, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT s.id, s.user_id, u.username, s.created_at, s.last_seen_at, s.expires_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await
    })
}

/// Records use of a session and slides its expiry forward.
pub async fn touch_session(db: &Db, id: i64, now: i64, expires_at: i64) -> Result<(), sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query("UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?")
            .bind(now)
            .bind(expires_at)
            .bind(id)
            .execute(pool)
            .await
            .map(drop)
    })
}

pub async fn delete_session(db: &Db, token_hash: &[u8]) -> Result<(), sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(pool)
            .await
            .map(drop)
    })
}

/// Removes every expired session; run now and then so the table does not only grow.
pub async fn delete_expired_sessions(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })
}
