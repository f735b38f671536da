//! What the account server functions need from the server: `server/` implements it
//! (persistence and hashing live there). Server-only.

use std::{net::IpAddr, time::Duration};

use async_trait::async_trait;

use crate::{
    error::ApiError,
    model::{Invitation, User},
};

/// A session that was just created: the token is shown to the client once, here.
pub struct NewSession {
    pub user: User,
    pub token: String,
    pub lifetime: Duration,
}

#[async_trait]
pub trait AccountService: Send + Sync + 'static {
    /// `username` is already normalised and both inputs already pass `accounts::rules`.
    /// `client` is the address sign-ups are counted against; `invite` the invitation
    /// code, needed when the server signs people up by invitation only.
    async fn register(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
        invite: Option<&str>,
    ) -> Result<NewSession, ApiError>;
    async fn login(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<NewSession, ApiError>;
    /// Revokes the session of `token`; unknown tokens are not an error.
    async fn revoke(&self, token: &str) -> Result<(), ApiError>;
    /// The user of a live session, `None` for unknown, revoked or expired tokens.
    async fn authenticate(&self, token: &str) -> Result<Option<User>, ApiError>;
    /// Bans `username` (admins only): its sessions end and its sockets close at once,
    /// and it can no longer log in.
    async fn ban(&self, admin: &User, username: &str) -> Result<(), ApiError>;
    /// A single-use sign-up invitation (admins only).
    async fn create_invite(&self, admin: &User) -> Result<Invitation, ApiError>;
}
