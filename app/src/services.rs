//! What the server functions get from the server, and who is calling: the one place
//! both the accounts and the rooms functions reach for. Server-only.

use std::{net::IpAddr, sync::Arc};

use http::{header, request::Parts};
use leptos::prelude::*;

use crate::{
    accounts::port::AccountService, attachments::port::FileService, error::ApiError, model::User,
    rooms::port::RoomService,
};

pub const SESSION_COOKIE: &str = "banter_session";

/// Provided as context to every server function and page render.
#[derive(Clone)]
pub struct Services {
    pub accounts: Arc<dyn AccountService>,
    pub rooms: Arc<dyn RoomService>,
    pub files: Arc<dyn FileService>,
    /// Mark the session cookie `Secure` (the site is served over TLS).
    pub secure_cookies: bool,
}

/// Who a request came from, put into the request's extensions by the server: the
/// client's address (behind a trusted proxy, the one it forwarded) and whether the
/// client reached the site over HTTPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    pub https: bool,
}

pub fn services() -> Result<Services, ApiError> {
    use_context::<Services>().ok_or_else(|| {
        leptos::logging::error!("server functions were called without the Services context");
        ApiError::Internal
    })
}

/// Who sent the current request, when the server recorded it.
pub fn client_addr() -> Option<ClientAddr> {
    use_context::<Parts>().and_then(|parts| parts.extensions.get::<ClientAddr>().copied())
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

/// The token of the current request, if it has one.
pub fn current_token() -> Option<String> {
    use_context::<Parts>().and_then(|parts| request_token(&parts.headers))
}

/// The logged-in user of the current request, if any.
pub async fn current_user() -> Result<Option<User>, ApiError> {
    let Some(token) = current_token() else {
        return Ok(None);
    };
    services()?.accounts.authenticate(&token).await
}

/// For server functions that need a logged-in caller: the services and who it is.
pub async fn require_user() -> Result<(Services, User), ApiError> {
    let user = current_user().await?.ok_or_else(ApiError::login_required)?;
    Ok((services()?, user))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

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
}
