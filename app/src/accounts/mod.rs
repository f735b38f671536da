use crate::error::ApiError;
use leptos::prelude::*;

/// What the server implements for accounts.
#[cfg(feature = "ssr")]
pub mod port;
/// Username and password rules, shared by the forms and the server.
pub mod rules;
/// The HTTP side of the account server functions: cookies and sessions.
#[cfg(feature = "ssr")]
pub mod ssr;

pub use crate::model::{Authenticated, User};

/// Creates an account and logs it in. `invite` is the code of a sign-up invitation,
/// needed when the server signs people up by invitation only.
#[server(endpoint = "register")]
pub async fn register(
    username: String,
    password: String,
    #[server(default)] invite: Option<String>,
) -> Result<Authenticated, ApiError> {
    ssr::register(username, password, invite).await
}

/// Starts a session for an existing account.
#[server(endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<Authenticated, ApiError> {
    ssr::login(username, password).await
}

/// Revokes the caller's session (if any) and clears the cookie.
#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    ssr::logout().await
}

/// The caller's account, or `None` when not logged in.
#[server(endpoint = "me")]
pub async fn me() -> Result<Option<User>, ApiError> {
    crate::services::current_user().await
}

/// Bans `username` (server admins only): its sessions end, its sockets close at once,
/// and it cannot log in again.
#[server(endpoint = "ban")]
pub async fn ban(username: String) -> Result<(), ApiError> {
    let (services, user) = crate::services::require_user().await?;
    services.accounts.ban(&user, &username).await
}

/// A single-use sign-up invitation, valid for a week (server admins only).
#[server(endpoint = "create_invite")]
pub async fn create_invite() -> Result<crate::model::Invitation, ApiError> {
    let (services, user) = crate::services::require_user().await?;
    services.accounts.create_invite(&user).await
}
