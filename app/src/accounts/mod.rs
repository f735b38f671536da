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

/// Creates an account and logs it in.
#[server(endpoint = "register")]
pub async fn register(username: String, password: String) -> Result<Authenticated, ApiError> {
    ssr::register(username, password).await
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
