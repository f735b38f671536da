//! Argon2id password hashing, always on the blocking pool: one hash costs tens of
//! milliseconds of CPU, which would stall every connection sharing an async worker.
//! A [`HashPool`] bounds how many run at once: each takes a core and 19 MiB, so a
//! hundred simultaneous sign-ups would otherwise take every core and gigabytes.

use std::sync::{Arc, LazyLock};

use tokio::sync::Semaphore;

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
    /// Every hashing slot is taken: refused at once rather than queued.
    #[error("every password hashing slot is busy")]
    Busy,
}

/// At most `size` hashes or verifications at once; one more is refused at once with
/// [`PasswordError::Busy`] (which callers answer with 503 and `Retry-After`), so a
/// flood of sign-ups or log-ins costs a bounded amount of CPU and memory and queues
/// nothing.
#[derive(Clone)]
pub struct HashPool {
    slots: Arc<Semaphore>,
}

impl HashPool {
    pub fn new(size: usize) -> Self {
        HashPool {
            slots: Arc::new(Semaphore::new(size.max(1))),
        }
    }

    /// A PHC string (`$argon2id$v=19$…`) for `password`.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| busy())?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let _running = crate::monitoring::Held::hashing();
            hash_now(&password)
        })
        .await?
    }

    /// Whether `password` matches `stored` (see [`verify`]).
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let _slot = self.slots.try_acquire().map_err(|_| busy())?;
        let _running = crate::monitoring::Held::hashing();
        verify(password, stored).await
    }
}

fn busy() -> PasswordError {
    crate::monitoring::hashing_refused();
    PasswordError::Busy
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

/// Whether `password` matches `stored`. With `stored = None` (no such user) it checks
/// against a fixed hash anyway, so both failures take the same time and a stopwatch
/// cannot tell which usernames exist.
async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
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
        let pool = HashPool::new(2);
        let first = pool.hash("correct horse".into()).await.unwrap();
        let second = pool.hash("correct horse".into()).await.unwrap();
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert_ne!(first, second, "each hash has its own salt");
        assert!(pool
            .verify("correct horse".into(), Some(first.clone()))
            .await
            .unwrap());
        assert!(!pool
            .verify("wrong horse".into(), Some(first))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_full_pool_refuses_at_once_and_frees_its_slot() {
        let pool = HashPool::new(1);
        let held = pool.slots.clone().try_acquire_owned().unwrap();
        assert!(matches!(
            pool.hash("x".repeat(8)).await,
            Err(PasswordError::Busy)
        ));
        assert!(matches!(
            pool.verify("x".repeat(8), None).await,
            Err(PasswordError::Busy)
        ));
        drop(held);
        assert!(pool.hash("x".repeat(8)).await.is_ok(), "the slot came back");
        assert_eq!(pool.slots.available_permits(), 1);
    }

    #[tokio::test]
    async fn unknown_users_and_garbage_hashes_never_verify() {
        assert!(!verify("anything".into(), None).await.unwrap());
        assert!(!verify("anything".into(), Some("not a phc string".into()))
            .await
            .unwrap());
    }
}
