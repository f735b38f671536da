use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Username and password rules, shared by the forms and the server.
pub mod rules;
/// Server-side plumbing: the port the server implements, cookies, the caller's identity.
#[cfg(feature = "ssr")]
pub mod ssr;

/// A person with an account, as everyone else may see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
}

/// What `register` and `login` return. The token also arrives as the session cookie;
/// scripts send it back as `Authorization: Bearer <token>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticated {
    pub user: User,
    pub token: String,
}

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
    ssr::current_user().await
}
