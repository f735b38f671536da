use std::{net::IpAddr, sync::Arc, time::Duration};

use async_trait::async_trait;
use http::{header, request::Parts, HeaderValue};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

use super::{rules, Authenticated, User};
use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "banter_session";

/// The address a request came from, put into the request's extensions by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// A session that was just created: the token is shown to the client once, here.
pub struct NewSession {
    pub user: User,
    pub token: String,
    pub lifetime: Duration,
}

/// What the server functions need from the server's account store. `server/` implements
/// it (persistence and hashing live there); the functions here deal with HTTP.
#[async_trait]
pub trait AccountService: Send + Sync + 'static {
    /// `username` is already normalised and both inputs already pass [`rules`].
    async fn register(&self, username: &str, password: &str) -> Result<NewSession, ApiError>;
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

/// Provided as context to every server function and page render.
#[derive(Clone)]
pub struct Services {
    pub accounts: Arc<dyn AccountService>,
    pub rooms: Arc<dyn crate::rooms::ssr::RoomService>,
    /// Mark the session cookie `Secure` (the site is served over TLS).
    pub secure_cookies: bool,
}

pub fn services() -> Result<Services, ApiError> {
    use_context::<Services>().ok_or_else(|| {
        leptos::logging::error!("server functions were called without the Services context");
        ApiError::Internal
    })
}

fn cookie_value<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    cookies.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

/// The session token a request carries: `Authorization: Bearer …` first, else the cookie.
pub fn request_token(headers: &http::HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let token = bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(|cookies| cookie_value(cookies, SESSION_COOKIE))
    })?;
    (!token.is_empty()).then(|| token.to_string())
}

fn session_cookie(token: &str, max_age: Duration, secure: bool) -> String {
    let mut cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        max_age.as_secs()
    );
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

fn served_over_tls(parts: &Parts) -> bool {
    parts
        .headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn set_cookie(value: String) {
    if let (Some(response), Ok(value)) = (
        use_context::<ResponseOptions>(),
        HeaderValue::from_str(&value),
    ) {
        response.append_header(header::SET_COOKIE, value);
    }
}

fn start_session(services: &Services, session: NewSession) -> Authenticated {
    let tls = use_context::<Parts>().is_some_and(|parts| served_over_tls(&parts));
    set_cookie(session_cookie(
        &session.token,
        session.lifetime,
        services.secure_cookies || tls,
    ));
    // A plain form post gets a 302 into the app; the hydrated app follows the same
    // instruction with client-side navigation.
    leptos_axum::redirect(&format!("/r/{}", crate::rooms::rules::DEFAULT_ROOM));
    Authenticated {
        user: session.user,
        token: session.token,
    }
}

pub async fn register(username: String, password: String) -> Result<Authenticated, ApiError> {
    let username = rules::normalize_username(&username).map_err(ApiError::Invalid)?;
    rules::check_password(&password).map_err(ApiError::Invalid)?;
    let services = services()?;
    let session = services.accounts.register(&username, &password).await?;
    Ok(start_session(&services, session))
}

pub async fn login(username: String, password: String) -> Result<Authenticated, ApiError> {
    let username = username.trim().to_lowercase();
    if username.is_empty() || password.is_empty() {
        return Err(ApiError::Invalid(
            "Enter your username and password.".into(),
        ));
    }
    let services = services()?;
    let client = use_context::<Parts>()
        .and_then(|parts| parts.extensions.get::<ClientAddr>().copied())
        .map(|ClientAddr(ip)| ip);
    let session = services
        .accounts
        .login(&username, &password, client)
        .await?;
    Ok(start_session(&services, session))
}

pub async fn logout() -> Result<(), ApiError> {
    let services = services()?;
    if let Some(token) = use_context::<Parts>().and_then(|parts| request_token(&parts.headers)) {
        services.accounts.revoke(&token).await?;
    }
    set_cookie(session_cookie("", Duration::ZERO, services.secure_cookies));
    leptos_axum::redirect("/");
    Ok(())
}

/// The logged-in user of the current request, if any.
pub async fn current_user() -> Result<Option<User>, ApiError> {
    let Some(token) = use_context::<Parts>().and_then(|parts| request_token(&parts.headers)) else {
        return Ok(None);
    };
    services()?.accounts.authenticate(&token).await
}

/// For server functions that need a logged-in caller.
pub async fn require_user() -> Result<User, ApiError> {
    current_user().await?.ok_or_else(ApiError::login_required)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap()))
            .collect()
    }

    #[test]
    fn bearer_wins_over_cookie() {
        let h = headers(&[
            (header::AUTHORIZATION, "Bearer abc"),
            (header::COOKIE, "banter_session=xyz"),
        ]);
        assert_eq!(request_token(&h).as_deref(), Some("abc"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[(header::COOKIE, "theme=dark; banter_session=tok123; other=1")]);
        assert_eq!(request_token(&h).as_deref(), Some("tok123"));
        let h = headers(&[(header::COOKIE, "xbanter_session=nope")]);
        assert_eq!(request_token(&h), None);
    }

    #[test]
    fn empty_or_foreign_credentials_are_no_token() {
        assert_eq!(
            request_token(&headers(&[(header::COOKIE, "banter_session=")])),
            None
        );
        assert_eq!(
            request_token(&headers(&[(header::AUTHORIZATION, "Basic dXNlcg==")])),
            None
        );
        assert_eq!(request_token(&http::HeaderMap::new()), None);
    }

    #[test]
    fn cookie_is_http_only_and_lax_and_secure_when_asked() {
        let cookie = session_cookie("t", Duration::from_secs(60), false);
        assert_eq!(
            cookie,
            "banter_session=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        assert!(session_cookie("t", Duration::from_secs(60), true).ends_with("; Secure"));
    }
}
