//! Accounts and sessions: the server's implementation of [`app::accounts::port::AccountService`].

use std::{
    net::IpAddr,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use app::{
    accounts::port::{AccountService, NewSession},
    error::ApiError,
    model::User,
};
use async_trait::async_trait;

use crate::{db::Db, error::internal};

/// Sessions with sockets open, to close them when the session ends.
pub mod live;
/// Argon2id hashing and verification off the async threads.
pub mod password;
/// The SQL for users and sessions.
pub mod store;
/// Failed-login counting.
pub mod throttle;
/// Session token generation and digests.
pub mod token;

use throttle::Throttle;

/// Failed log-ins allowed per username, and per client address, in [`FAILURE_WINDOW`].
/// An address gets more: several people may share one behind a NAT.
const FAILURES_PER_USERNAME: usize = 5;
const FAILURES_PER_ADDRESS: usize = 20;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Sessions record their use at most this often, so that reads do not all turn into writes.
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// Milliseconds since the Unix epoch, the time representation of the schema.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis() as i64)
        .unwrap_or_default()
}

/// A hashing failure as the caller sees it: busy (503, try again) or a fault.
fn hashing_failed(context: &str, error: password::PasswordError) -> ApiError {
    match error {
        password::PasswordError::Busy => {
            ApiError::Busy("The server is busy. Please try again in a moment.".into())
        }
        error => internal(context, error),
    }
}

pub struct Accounts {
    db: Db,
    session_lifetime: Duration,
    by_username: Throttle,
    by_address: Throttle,
    hashing: password::HashPool,
    live: live::LiveSessions,
}

impl Accounts {
    /// `hashing` bounds the password hashes run at once (see [`password::HashPool`]).
    pub fn new(db: Db, session_lifetime: Duration, hashing: usize) -> Self {
        Accounts {
            db,
            session_lifetime,
            hashing: password::HashPool::new(hashing),
            live: live::LiveSessions::default(),
            by_username: Throttle::new(FAILURES_PER_USERNAME, FAILURE_WINDOW),
            by_address: Throttle::new(FAILURES_PER_ADDRESS, FAILURE_WINDOW),
        }
    }

    async fn start_session(&self, user: User) -> Result<NewSession, ApiError> {
        let token =
            token::generate().map_err(|e| internal("no randomness for a session token", e))?;
        let now = now_ms();
        let expires_at = now + self.session_lifetime.as_millis() as i64;
        store::insert_session(&self.db, &token::digest(&token), user.id, now, expires_at)
            .await
            .map_err(|e| internal("storing a session failed", e))?;
        Ok(NewSession {
            user,
            token,
            lifetime: self.session_lifetime,
        })
    }

    /// Counts a log-in attempt against every key before the password is checked (see
    /// [`Throttle::try_count`]); refused when any key has used up its attempts.
    /// What a WebSocket of the session with `token` holds, to learn that the session
    /// ended (a log-out here) and close.
    pub fn session_end(&self, token: &str) -> live::SessionEnd {
        self.live.watch(token::digest(token))
    }

    fn count_attempt(&self, keys: &[(&Throttle, String)], now: Instant) -> Result<(), ApiError> {
        for (i, (throttle, key)) in keys.iter().enumerate() {
            if let Err(wait) = throttle.try_count(key, now) {
                for (counted, key) in &keys[..i] {
                    counted.undo(key, now);
                }
                return Err(ApiError::RateLimited(format!(
                    "Too many failed log-in attempts. Try again in {} s.",
                    wait.as_secs().max(1)
                )));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl AccountService for Accounts {
    async fn register(&self, username: &str, password: &str) -> Result<NewSession, ApiError> {
        let hash = self
            .hashing
            .hash(password.to_string())
            .await
            .map_err(|e| hashing_failed("hashing a password failed", e))?;
        let id = match store::insert_user(&self.db, username, &hash, now_ms()).await {
            Ok(id) => id,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(ApiError::Conflict(format!(
                    "The username {username} is taken. Please choose another."
                )))
            }
            Err(e) => return Err(internal("creating a user failed", e)),
        };
        tracing::info!(user_id = id, "account created");
        self.start_session(User {
            id,
            username: username.to_string(),
        })
        .await
    }

    async fn login(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<NewSession, ApiError> {
        let mut keys = vec![(&self.by_username, username.to_string())];
        keys.extend(client.map(|ip| (&self.by_address, ip.to_string())));
        let now = Instant::now();
        self.count_attempt(&keys, now)?;

        let found = store::credentials(&self.db, username)
            .await
            .map_err(|e| internal("looking up a user failed", e))?;
        let stored_hash = found.as_ref().map(|c| c.password_hash.clone());
        let matches = self
            .hashing
            .verify(password.to_string(), stored_hash)
            .await
            .map_err(|e| hashing_failed("verifying a password failed", e));
        let matches = match matches {
            Ok(matches) => matches,
            Err(error) => {
                // Not a guess that failed: the server could not check it.
                for (throttle, key) in &keys {
                    throttle.undo(key, now);
                }
                return Err(error);
            }
        };
        match found {
            Some(credentials) if matches => {
                self.by_username.clear(username);
                for (throttle, key) in &keys[1..] {
                    throttle.undo(key, now);
                }
                self.start_session(User {
                    id: credentials.id,
                    username: credentials.username,
                })
                .await
            }
            // The attempt stays counted.
            _ => Err(ApiError::wrong_credentials()),
        }
    }

    async fn revoke(&self, token: &str) -> Result<(), ApiError> {
        let digest = token::digest(token);
        store::delete_session(&self.db, &digest)
            .await
            .map_err(|e| internal("revoking a session failed", e))?;
        self.live.end(&digest);
        Ok(())
    }

    async fn authenticate(&self, token: &str) -> Result<Option<User>, ApiError> {
        let digest = token::digest(token);
        let Some(session) = store::session(&self.db, &digest)
            .await
            .map_err(|e| internal("looking up a session failed", e))?
        else {
            return Ok(None);
        };
        let now = now_ms();
        if session.expires_at <= now {
            store::delete_session(&self.db, &digest)
                .await
                .map_err(|e| internal("removing an expired session failed", e))?;
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_INTERVAL_MS {
            let expires_at = now + self.session_lifetime.as_millis() as i64;
            store::touch_session(&self.db, session.id, now, expires_at)
                .await
                .map_err(|e| internal("refreshing a session failed", e))?;
        }
        Ok(Some(User {
            id: session.user_id,
            username: session.username,
        }))
    }
}
