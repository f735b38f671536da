//! Accounts and sessions: the server's implementation of [`app::accounts::port::AccountService`].

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use app::{
    accounts::port::{AccountService, NewSession},
    error::ApiError,
    model::{Invitation, User},
};
use async_trait::async_trait;

use crate::{client, clock::now_ms, db::Db, error::internal};

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
/// Sign-ups are counted over this window, per address and for the whole server.
pub const SIGNUP_WINDOW: Duration = Duration::from_secs(600);
/// Sessions record their use at most this often, so that reads do not all turn into writes.
const TOUCH_INTERVAL_MS: i64 = 60_000;
/// How long a sign-up invitation can be used.
const INVITE_LIFETIME_MS: i64 = 7 * 86_400_000;

/// Who may create an account on the web (`--registration`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Registration {
    /// Anyone.
    #[default]
    Open,
    /// Whoever has a single-use invitation from an admin (and the very first account).
    Invite,
    /// Nobody: accounts are made with `server user add`.
    Closed,
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

/// The operator's settings for accounts.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a session lives without use; each use extends it.
    pub session_lifetime: Duration,
    /// How long a session lives at most, however often it is used.
    pub session_max_age: Duration,
    /// Password hashes run at once (see [`password::HashPool`]).
    pub hashing: usize,
    /// Sign-ups per client address, and for the whole server, per [`SIGNUP_WINDOW`].
    pub signups_per_address: usize,
    pub signups: usize,
    pub registration: Registration,
}

/// A session's expiry when used `now`: the sliding lifetime from now, but never past
/// its absolute end (`max_age` after it was created).
fn expiry(created_at: i64, now: i64, lifetime: Duration, max_age: Duration) -> i64 {
    let sliding = now + lifetime.as_millis() as i64;
    sliding.min(created_at + max_age.as_millis() as i64)
}

pub struct Accounts {
    db: Db,
    session_lifetime: Duration,
    session_max_age: Duration,
    by_username: Throttle,
    by_address: Throttle,
    signups_by_address: Throttle,
    signups: Throttle,
    hashing: password::HashPool,
    live: live::LiveSessions,
    registration: Registration,
}

impl Accounts {
    /// `live` tracks the sessions with sockets open (shared with the cluster, which
    /// closes them when another node ends their session).
    pub fn new(db: Db, settings: &Settings, live: live::LiveSessions) -> Self {
        Accounts {
            db,
            session_lifetime: settings.session_lifetime,
            session_max_age: settings.session_max_age,
            hashing: password::HashPool::new(settings.hashing),
            live,
            by_username: Throttle::new(FAILURES_PER_USERNAME, FAILURE_WINDOW),
            by_address: Throttle::new(FAILURES_PER_ADDRESS, FAILURE_WINDOW),
            signups_by_address: Throttle::new(settings.signups_per_address, SIGNUP_WINDOW),
            signups: Throttle::new(settings.signups, SIGNUP_WINDOW),
            registration: settings.registration,
        }
    }

    /// `user` as the server sees it, with whether it is an admin.
    async fn with_role(&self, user: User) -> Result<User, ApiError> {
        let admin = store::is_admin(&self.db, user.id)
            .await
            .map_err(|e| internal("looking up an account failed", e))?;
        Ok(User { admin, ..user })
    }

    /// Refuses anyone but a server admin.
    async fn require_admin(&self, user: &User) -> Result<(), ApiError> {
        if self.with_role(user.clone()).await?.admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "Only a server admin can do that.".into(),
            ))
        }
    }

    /// Forgets stale throttle keys; the server runs it every minute.
    pub fn sweep_throttles(&self) {
        let now = Instant::now();
        for throttle in [
            &self.by_username,
            &self.by_address,
            &self.signups_by_address,
            &self.signups,
        ] {
            throttle.sweep(now);
        }
    }

    fn expiry(&self, created_at: i64, now: i64) -> i64 {
        expiry(created_at, now, self.session_lifetime, self.session_max_age)
    }

    async fn start_session(&self, user: User) -> Result<NewSession, ApiError> {
        let token =
            token::generate().map_err(|e| internal("no randomness for a session token", e))?;
        let now = now_ms();
        let expires_at = self.expiry(now, now);
        store::insert_session(&self.db, &token::digest(&token), user.id, now, expires_at)
            .await
            .map_err(|e| internal("storing a session failed", e))?;
        Ok(NewSession {
            user,
            token,
            lifetime: self.session_lifetime,
        })
    }

    /// What a WebSocket of the session with `token`, which expires at `expires_at`,
    /// holds to learn that the session ended (a log-out here, or its expiry) and close.
    pub fn session_end(&self, token: &str, expires_at: i64) -> live::SessionEnd {
        let left = u64::try_from(expires_at - now_ms()).unwrap_or(0);
        self.live
            .watch(token::digest(token), Duration::from_millis(left))
    }

    /// The user of a live session and the session's expiry (ms since the epoch),
    /// extending it when it was last used a while ago.
    pub async fn session(&self, token: &str) -> Result<Option<(User, i64)>, ApiError> {
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
        let mut expires_at = session.expires_at;
        if now - session.last_seen_at >= TOUCH_INTERVAL_MS {
            expires_at = self.expiry(session.created_at, now);
            store::touch_session(&self.db, session.id, now, expires_at)
                .await
                .map_err(|e| internal("refreshing a session failed", e))?;
        }
        let user = User {
            id: session.user_id,
            username: session.username,
            admin: session.admin != 0,
        };
        Ok(Some((user, expires_at)))
    }

    /// Counts an attempt against every key, or against none if one has used up its
    /// attempts (then `Err(wait)`); before the slow part (the password hash), so that
    /// attempts in parallel cannot all pass (see [`Throttle::try_count`]).
    fn count_attempt(keys: &[(&Throttle, String)], now: Instant) -> Result<(), Duration> {
        for (i, (throttle, key)) in keys.iter().enumerate() {
            if let Err(wait) = throttle.try_count(key, now) {
                for (counted, key) in &keys[..i] {
                    counted.undo(key, now);
                }
                return Err(wait);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl AccountService for Accounts {
    async fn register(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
        invite: Option<&str>,
    ) -> Result<NewSession, ApiError> {
        let first = !store::any_user(&self.db)
            .await
            .map_err(|e| internal("counting accounts failed", e))?;
        let invite = invite.filter(|code| !code.is_empty());
        match self.registration {
            Registration::Open => {}
            // The first account makes the invitations, so it needs none.
            Registration::Invite if first || invite.is_some() => {}
            Registration::Invite => {
                return Err(ApiError::Forbidden(
                    "This server signs people up by invitation: ask an admin for a link.".into(),
                ))
            }
            Registration::Closed => {
                return Err(ApiError::Forbidden(
                    "This server does not take sign-ups; an admin creates accounts.".into(),
                ))
            }
        }
        // Every sign-up costs a hash and a row: counted, whatever becomes of it.
        let mut keys = vec![(&self.signups, String::new())];
        keys.extend(client.map(|ip| (&self.signups_by_address, client::address_key(ip))));
        Self::count_attempt(&keys, Instant::now()).map_err(|wait| {
            ApiError::RateLimited(format!(
                "Too many new accounts from here. Try again in {} min.",
                wait.as_secs().div_ceil(60).max(1)
            ))
        })?;
        let hash = self
            .hashing
            .hash(password.to_string())
            .await
            .map_err(|e| hashing_failed("hashing a password failed", e))?;
        let inserted = match invite.filter(|_| self.registration == Registration::Invite) {
            Some(code) => store::insert_invited_user(
                &self.db,
                &token::digest(code),
                username,
                &hash,
                now_ms(),
            )
            .await
            .map(|id| id.ok_or(())),
            None => store::insert_user(&self.db, username, &hash, now_ms())
                .await
                .map(Ok),
        };
        let id = match inserted {
            Ok(Ok(id)) => id,
            Ok(Err(())) => {
                return Err(ApiError::Forbidden(
                    "That invitation is used up or has expired: ask an admin for another.".into(),
                ))
            }
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(ApiError::Conflict(format!(
                    "The username {username} is taken. Please choose another."
                )))
            }
            Err(e) => return Err(internal("creating a user failed", e)),
        };
        tracing::info!(user_id = id, "account created");
        let user = self
            .with_role(User {
                id,
                username: username.to_string(),
                admin: false,
            })
            .await?;
        self.start_session(user).await
    }

    async fn login(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<NewSession, ApiError> {
        let mut keys = vec![(&self.by_username, username.to_string())];
        keys.extend(client.map(|ip| (&self.by_address, client::address_key(ip))));
        let now = Instant::now();
        Self::count_attempt(&keys, now).map_err(|wait| {
            crate::monitoring::login_failed();
            ApiError::RateLimited(format!(
                "Too many failed log-in attempts. Try again in {} s.",
                wait.as_secs().max(1)
            ))
        })?;

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
                if credentials.banned_at.is_some() {
                    return Err(ApiError::Forbidden("This account is banned.".into()));
                }
                let user = self
                    .with_role(User {
                        id: credentials.id,
                        username: credentials.username,
                        admin: false,
                    })
                    .await?;
                self.start_session(user).await
            }
            // The attempt stays counted.
            _ => {
                crate::monitoring::login_failed();
                Err(ApiError::wrong_credentials())
            }
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
        Ok(self.session(token).await?.map(|(user, _)| user))
    }

    async fn ban(&self, admin: &User, username: &str) -> Result<(), ApiError> {
        self.require_admin(admin).await?;
        let username = app::accounts::rules::normalize_username(username)
            .map_err(|_| ApiError::NotFound(format!("There is no account named {username:?}.")))?;
        if username == admin.username {
            return Err(ApiError::Invalid("You cannot ban yourself.".into()));
        }
        let banned = store::ban(&self.db, &username, now_ms())
            .await
            .map_err(|e| internal("banning an account failed", e))?;
        let Some((user_id, sessions)) = banned else {
            return Err(ApiError::NotFound(format!(
                "There is no account named {username:?}."
            )));
        };
        for digest in sessions {
            if let Ok(digest) = <[u8; 32]>::try_from(digest.as_slice()) {
                self.live.end(&digest);
            }
        }
        tracing::info!(user_id, by = admin.id, "account banned");
        Ok(())
    }

    async fn create_invite(&self, admin: &User) -> Result<Invitation, ApiError> {
        self.require_admin(admin).await?;
        let code = token::generate().map_err(|e| internal("no randomness for an invitation", e))?;
        let now = now_ms();
        let expires_at = now + INVITE_LIFETIME_MS;
        store::insert_invite(&self.db, &token::digest(&code), admin.id, now, expires_at)
            .await
            .map_err(|e| internal("storing an invitation failed", e))?;
        Ok(Invitation {
            path: format!("/register?invite={code}"),
            code,
            expires_at: crate::clock::rfc3339_ms(expires_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn use_extends_a_session_up_to_its_absolute_end() {
        let days = |n: u64| Duration::from_secs(n * 86_400);
        let (lifetime, max_age) = (days(30), days(90));
        assert_eq!(expiry(0, 0, lifetime, max_age), 30 * DAY);
        assert_eq!(expiry(0, 50 * DAY, lifetime, max_age), 80 * DAY);
        assert_eq!(expiry(0, 70 * DAY, lifetime, max_age), 90 * DAY, "capped");
        assert_eq!(expiry(0, 89 * DAY, lifetime, max_age), 90 * DAY);
    }
}
