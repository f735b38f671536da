//! Argon2id password hashing, always on the blocking pool: one hash costs tens of
//! milliseconds of CPU, which would stall every connection sharing an async worker.

use std::sync::LazyLock;

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    #[error("no randomness for the salt: {0}")]
    Random(getrandom::Error),
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's baseline).
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(PasswordError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(PasswordError::Hash)?;
    Ok(hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(PasswordError::Hash)?
        .to_string())
}

fn verify_now(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A PHC string (`$argon2id$v=19$…`) for `password`.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_now(&password)).await?
}

/// Whether `password` matches `stored`. With `stored = None` (no such user) it checks
/// against a fixed hash anyway, so both failures take the same time and a stopwatch
/// cannot tell which usernames exist.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
    static DECOY: LazyLock<String> =
        LazyLock::new(|| hash_now("decoy password for unknown users").unwrap_or_default());
    Ok(tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify_now(&password, &stored),
        None => {
            verify_now(&password, &DECOY);
            false
        }
    })
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let first = hash("correct horse".into()).await.unwrap();
        let second = hash("correct horse".into()).await.unwrap();
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert_ne!(first, second, "each hash has its own salt");
        assert!(verify("correct horse".into(), Some(first.clone()))
            .await
            .unwrap());
        assert!(!verify("wrong horse".into(), Some(first)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_users_and_garbage_hashes_never_verify() {
        assert!(!verify("anything".into(), None).await.unwrap());
        assert!(!verify("anything".into(), Some("not a phc string".into()))
            .await
            .unwrap());
    }
}
