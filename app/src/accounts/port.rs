//! What the account server functions need from the server: `server/` implements it
//! (persistence and hashing live there). Server-only.

use std::{net::IpAddr, time::Duration};

use async_trait::async_trait;

use crate::{error::ApiError, model::User};

/// A session that was just created: the token is shown to the client once, here.
pub struct NewSession {
    pub user: User,
    pub token: String,
    pub lifetime: Duration,
}

#[async_trait]
pub trait AccountService: Send + Sync + 'static {
    /// `username` is already normalised and both inputs already pass `accounts::rules`.
    /// `client` is the address sign-ups are counted against.
    async fn register(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
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
}
