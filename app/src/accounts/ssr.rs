//! The HTTP side of the account server functions: rules, then the service, then the
//! session cookie. Server-only.

use std::time::Duration;

use http::{header, HeaderValue};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

use super::{port::NewSession, rules};
use crate::{
    error::ApiError,
    model::Authenticated,
    services::{client_addr, current_token, services, Services, SESSION_COOKIE},
};

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

fn set_cookie(value: String) {
    if let (Some(response), Ok(value)) = (
        use_context::<ResponseOptions>(),
        HeaderValue::from_str(&value),
    ) {
        response.append_header(header::SET_COOKIE, value);
    }
}

fn start_session(services: &Services, session: NewSession) -> Authenticated {
    let tls = client_addr().is_some_and(|client| client.https);
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

pub async fn register(
    username: String,
    password: String,
    invite: Option<String>,
) -> Result<Authenticated, ApiError> {
    let username = rules::normalize_username(&username).map_err(ApiError::Invalid)?;
    rules::check_password(&password).map_err(ApiError::Invalid)?;
    let services = services()?;
    let session = services
        .accounts
        .register(
            &username,
            &password,
            client_addr().map(|client| client.ip),
            invite.as_deref(),
        )
        .await?;
    Ok(start_session(&services, session))
}

pub async fn login(username: String, password: String) -> Result<Authenticated, ApiError> {
    if username.trim().is_empty() || password.is_empty() {
        return Err(ApiError::Invalid(
            "Enter your username and password.".into(),
        ));
    }
    // The rules registration applies: a name they refuse cannot be an account (and
    // never reaches a database whose collation might match it to one, as MySQL's
    // matches `alicé` to `alice`), and an over-long password is never hashed.
    let (Ok(username), true) = (
        rules::normalize_username(&username),
        password.chars().count() <= rules::PASSWORD_MAX,
    ) else {
        return Err(ApiError::wrong_credentials());
    };
    let services = services()?;
    let session = services
        .accounts
        .login(&username, &password, client_addr().map(|client| client.ip))
        .await?;
    Ok(start_session(&services, session))
}

pub async fn logout() -> Result<(), ApiError> {
    let services = services()?;
    if let Some(token) = current_token() {
        services.accounts.revoke(&token).await?;
    }
    set_cookie(session_cookie("", Duration::ZERO, services.secure_cookies));
    leptos_axum::redirect("/");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
