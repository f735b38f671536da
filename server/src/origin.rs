//! Same-origin checks for what a browser sends on its own: a session cookie rides
//! along on requests that any site's page can make (a form posted to `/api/logout`, a
//! WebSocket opened to `/ws`), so such requests must come from our own pages. A bearer
//! token was given on purpose and needs no check.

use axum::{
    extract::Request,
    http::{header, HeaderMap, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error::AppError;

/// A `--public-origin` value: `scheme://host[:port]`, nothing after it.
pub fn parse_public_origin(value: &str) -> Result<String, String> {
    let origin = value.trim().trim_end_matches('/');
    let Some((scheme, host)) = origin.split_once("://") else {
        return Err(format!("{value:?} is not scheme://host[:port]"));
    };
    if !matches!(scheme, "http" | "https") || host.is_empty() || host.contains(['/', '?', '#']) {
        return Err(format!("{value:?} is not http(s)://host[:port]"));
    }
    Ok(origin.to_ascii_lowercase())
}

/// Whether a request the browser may have sent on another site's behalf comes from our
/// own pages. Modern browsers say so in `Sec-Fetch-Site`; otherwise `Origin` must name
/// the public origin or, without one configured, the host the request was sent to. A
/// request with neither header is not from a browser, which sends no cookie unasked.
pub fn is_same_origin(headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        // `none`: the user's own action (typed, bookmarked), never another page's.
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    if let Some(public) = public_origin {
        return origin.eq_ignore_ascii_case(public);
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin.split_once("://"), host) {
        (Some((_, origin_host)), Some(host)) => origin_host.eq_ignore_ascii_case(host),
        _ => false,
    }
}

/// Whether a request authenticates by bearer token rather than by cookie.
pub fn has_bearer(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
}

/// CSRF protection for the server functions: a call under `/api/` that may change
/// something (any method but GET, HEAD and OPTIONS) and carries no bearer token must
/// pass [`is_same_origin`]. Log-in is covered too, so that no other site can log a
/// browser into an account of its choosing.
pub async fn guard_api(public_origin: Option<String>, request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe
        && request.uri().path().starts_with("/api/")
        && !has_bearer(request.headers())
        && !is_same_origin(request.headers(), public_origin.as_deref())
    {
        return AppError::Forbidden("Cross-site requests are not accepted.".into()).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn origin_must_name_the_host() {
        let same = |origin: &str, host: &str| {
            is_same_origin(&headers(&[("origin", origin), ("host", host)]), None)
        };
        assert!(same("http://127.0.0.1:3000", "127.0.0.1:3000"));
        assert!(same("https://chat.example.com", "chat.example.com"));
        assert!(!same("http://evil.example", "127.0.0.1:3000"));
        assert!(!same("http://127.0.0.1:3001", "127.0.0.1:3000"));
        assert!(!same("null", "127.0.0.1:3000"));
        assert!(
            is_same_origin(&headers(&[("host", "127.0.0.1:3000")]), None),
            "no browser"
        );
    }

    #[test]
    fn a_public_origin_is_what_origin_must_match() {
        let public = Some("https://chat.example.com");
        let h = |origin: &str| headers(&[("origin", origin), ("host", "10.0.0.5:3000")]);
        assert!(is_same_origin(&h("https://chat.example.com"), public));
        assert!(!is_same_origin(&h("http://chat.example.com"), public));
        assert!(!is_same_origin(&h("http://10.0.0.5:3000"), public));
    }

    #[test]
    fn fetch_metadata_decides_when_sent() {
        let h = |site: &str| {
            headers(&[
                ("sec-fetch-site", site),
                ("origin", "http://127.0.0.1:3000"),
                ("host", "127.0.0.1:3000"),
            ])
        };
        assert!(is_same_origin(&h("same-origin"), None));
        assert!(is_same_origin(&h("none"), None));
        assert!(
            !is_same_origin(&h("same-site"), None),
            "a sibling subdomain"
        );
        assert!(!is_same_origin(&h("cross-site"), None));
    }

    #[test]
    fn public_origins_are_checked() {
        assert_eq!(
            parse_public_origin("https://Chat.Example.com/").unwrap(),
            "https://chat.example.com"
        );
        assert!(parse_public_origin("http://localhost:3000").is_ok());
        assert!(parse_public_origin("chat.example.com").is_err());
        assert!(parse_public_origin("https://chat.example.com/app").is_err());
        assert!(parse_public_origin("ftp://chat.example.com").is_err());
    }
}
