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
    pub banned_at: Option<i64>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    /// 1 for a server admin.
    pub admin: i64,
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
    let sql = format!(
        "SELECT id, username, password_hash, banned_at FROM users WHERE username = ?{exactly}"
    );
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
            "SELECT s.id, s.user_id, u.username, s.created_at, s.last_seen_at, s.expires_at, \
                    CASE WHEN u.is_admin OR u.id = (SELECT MIN(f.id) FROM users f) THEN 1 ELSE 0 END AS admin \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ? AND u.banned_at IS NULL",
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

/// Whether `user_id` is a server admin: marked so, or the first account there was.
pub async fn is_admin(db: &Db, user_id: i64) -> Result<bool, sqlx::Error> {
    let admin: Option<i64> = with_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT CASE WHEN is_admin OR id = (SELECT MIN(f.id) FROM users f) THEN 1 ELSE 0 END \
             FROM users WHERE id = ?",
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await
    })?;
    Ok(admin == Some(1))
}

/// Whether any account exists.
pub async fn any_user(db: &Db) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = with_pool!(db, pool => {
        sqlx::query_scalar("SELECT 1 FROM users LIMIT 1").fetch_optional(pool).await
    })?;
    Ok(found.is_some())
}

/// Makes `username` a server admin; false when there is no such account.
pub async fn grant_admin(db: &Db, username: &str) -> Result<bool, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query("UPDATE users SET is_admin = TRUE WHERE username = ?")
            .bind(username)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() > 0)
    })
}

/// Bans `username` and ends its sessions: returns its id and the digests of the
/// sessions ended (to close their sockets), or `None` when there is no such account.
pub async fn ban(
    db: &Db,
    username: &str,
    now: i64,
) -> Result<Option<(i64, Vec<Vec<u8>>)>, sqlx::Error> {
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        sqlx::query("UPDATE users SET banned_at = ? WHERE id = ? AND banned_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let sessions: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM sessions WHERE user_id = ?")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some((id, sessions)))
    })
}

pub async fn insert_invite(
    db: &Db,
    code_hash: &[u8],
    created_by: i64,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query("INSERT INTO invites (code_hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(code_hash)
            .bind(created_by)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(drop)
    })
}

/// Inserts a user on an invitation, using it up in the same transaction: `Ok(None)`
/// when the invitation is unknown, used or expired. A taken username fails with a
/// unique violation and leaves the invitation unused.
pub async fn insert_invited_user(
    db: &Db,
    code_hash: &[u8],
    username: &str,
    password_hash: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let used = sqlx::query("DELETE FROM invites WHERE code_hash = ? AND expires_at > ?")
            .bind(code_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if used.rows_affected() != 1 {
            return Ok(None);
        }
        sqlx::query("INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)")
            .bind(username)
            .bind(password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
            .bind(username)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(id))
    })
}
