//! Accounts over HTTP against the real server binary, on SQLite and on MariaDB:
//! register, log in, log out, `me`, cookies and bearer tokens, the rules, throttling,
//! revocation and expiry.

use crate::common::TestServer;
use reqwest::{header, Client, StatusCode};
use serde_json::Value;
use server::{db::Db, with_pool};

const PASSWORD: &str = "correct horse battery";

struct Api<'a> {
    server: &'a TestServer,
    client: Client,
}

impl<'a> Api<'a> {
    /// A client that keeps cookies, like a browser.
    fn browser(server: &'a TestServer) -> Self {
        Api {
            server,
            client: Client::builder().cookie_store(true).build().unwrap(),
        }
    }

    /// A client without cookies, like a script.
    fn script(server: &'a TestServer) -> Self {
        Api {
            server,
            client: Client::new(),
        }
    }

    async fn post(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        bearer: Option<&str>,
    ) -> (StatusCode, Value, header::HeaderMap) {
        let mut request = self
            .client
            .post(self.server.url(&format!("/api/{endpoint}")))
            .form(form);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body, headers)
    }

    async fn register(&self, username: &str, password: &str) -> (StatusCode, Value) {
        let (status, body, _) = self
            .post(
                "register",
                &[("username", username), ("password", password)],
                None,
            )
            .await;
        (status, body)
    }

    async fn login(&self, username: &str, password: &str) -> (StatusCode, Value) {
        let (status, body, _) = self
            .post(
                "login",
                &[("username", username), ("password", password)],
                None,
            )
            .await;
        (status, body)
    }

    async fn me(&self, bearer: Option<&str>) -> Value {
        let (status, body, _) = self.post("me", &[], bearer).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

async fn register_me_logout_me(url: String) {
    let server = TestServer::start(&url);
    let api = Api::browser(&server);
    let (status, _, headers) = api
        .post(
            "register",
            &[("username", "Alice"), ("password", PASSWORD)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cookie.starts_with("banter_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP must not get a Secure cookie: {cookie}"
    );

    let me = api.me(None).await;
    assert_eq!(me["username"], "alice", "usernames are stored lower-case");

    let (status, _, headers) = api.post("logout", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(api.me(None).await, Value::Null);

    // And back in with the password.
    let (status, body) = api.login("ALICE", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(api.me(None).await["username"], "alice");

    let log = server.log();
    assert!(!log.contains(PASSWORD), "the password reached the log");
    assert!(
        !log.contains(body["token"].as_str().unwrap()),
        "the token reached the log"
    );
}

async fn bearer_tokens_work_and_revocation_is_final(url: String) {
    let server = TestServer::start(&url);
    let api = Api::script(&server);
    let (status, body) = api.register("bot_1", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 22, "at least 128 bits of token");
    assert_eq!(body["user"]["username"], "bot_1");
    assert!(body["user"]["id"].is_i64());

    assert_eq!(
        api.me(None).await,
        Value::Null,
        "a script without a token is nobody"
    );
    assert_eq!(api.me(Some(&token)).await["username"], "bot_1");
    assert_eq!(api.me(Some("not-a-real-token")).await, Value::Null);

    // A second session is independent of the first.
    let (_, second) = api.login("bot_1", PASSWORD).await;
    let second = second["token"].as_str().unwrap().to_string();
    assert_ne!(second, token);

    let (status, _, _) = api.post("logout", &[], Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.me(Some(&token)).await,
        Value::Null,
        "a revoked token must fail"
    );
    assert_eq!(api.me(Some(&second)).await["username"], "bot_1");
}

async fn expired_tokens_fail(url: String) {
    let server = TestServer::start(&url);
    let api = Api::script(&server);
    let (_, body) = api.register("carol", PASSWORD).await;
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(api.me(Some(&token)).await["username"], "carol");

    let db = Db::connect(&url).await.unwrap();
    with_pool!(&db, pool => {
        sqlx::query("UPDATE sessions SET expires_at = 1").execute(pool).await.unwrap();
    });
    db.close().await;
    assert_eq!(api.me(Some(&token)).await, Value::Null);
}

async fn usernames_are_unique_whatever_the_case(url: String) {
    let server = TestServer::start(&url);
    let api = Api::script(&server);
    assert_eq!(api.register("dave", PASSWORD).await.0, StatusCode::OK);
    let (status, body) = api.register("DaVe", "another password").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "conflict");
    assert!(
        body["message"].as_str().unwrap().contains("taken"),
        "{body}"
    );
    // The original password still works: nothing was overwritten.
    assert_eq!(api.login("dave", PASSWORD).await.0, StatusCode::OK);
}

async fn broken_rules_are_refused_readably_and_change_nothing(url: String) {
    let server = TestServer::start(&url);
    let api = Api::script(&server);
    for (username, password, expect) in [
        ("ab", PASSWORD, "3 to 32 characters"),
        (&"x".repeat(33) as &str, PASSWORD, "3 to 32 characters"),
        ("bad name", PASSWORD, "a-z"),
        ("émile", PASSWORD, "a-z"),
        ("erin", "short", "at least 8 characters"),
    ] {
        let (status, body) = api.register(username, password).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{username}: {body}");
        assert_eq!(body["error"], "invalid");
        assert!(
            body["message"].as_str().unwrap().contains(expect),
            "{username}: {body}"
        );
    }
    // Nothing was created: the names are all still free and none can log in.
    assert_eq!(api.login("erin", "short").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(api.register("erin", PASSWORD).await.0, StatusCode::OK);

    // A request without the fields is a readable client error too.
    let (status, body, _) = api.post("register", &[], None).await;
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{status}"
    );
    assert_ne!(status, StatusCode::OK);
    assert!(body["message"].is_string(), "{body}");
}

async fn wrong_password_and_unknown_user_look_the_same(url: String) {
    let server = TestServer::start(&url);
    let api = Api::script(&server);
    api.register("frank", PASSWORD).await;
    let (status, wrong_password) = api.login("frank", "not the password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, unknown_user) = api.login("nobody_here", "not the password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password["message"], "Wrong username or password.");
}

async fn repeated_failures_are_throttled(url: String) {
    let server = TestServer::start(&url);
    let api = Api::script(&server);
    api.register("grace", PASSWORD).await;
    for attempt in 1..=5 {
        let (status, body) = api.login("grace", "guessing wrong").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
    }
    // Even the right password is refused now, with a time to wait.
    let (status, body) = api.login("grace", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "rate_limited");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("Try again in") && message.ends_with(" s."),
        "{message}"
    );
    // Other accounts are not locked by grace's failures.
    api.register("heidi", PASSWORD).await;
    assert_eq!(api.login("heidi", PASSWORD).await.0, StatusCode::OK);
}

async fn plain_html_forms_log_in_with_redirects(url: String) {
    let server = TestServer::start(&url);
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Api::script(&server).register("ivan", PASSWORD).await;

    let post = |password: &'static str| {
        client
            .post(server.url("/api/login"))
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .header(header::REFERER, server.url("/login"))
            .form(&[("username", "ivan"), ("password", password)])
            .send()
    };
    let ok = post(PASSWORD).await.unwrap();
    assert_eq!(ok.status(), StatusCode::FOUND);
    assert_eq!(ok.headers()[header::LOCATION], "/r/general");
    assert!(ok.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .starts_with("banter_session="));

    let failed = post("wrong password").await.unwrap();
    assert_eq!(
        failed.status(),
        StatusCode::FOUND,
        "the error goes back to the form page"
    );
    let location = failed.headers()[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with(&server.url("/login")) && location.contains("__err="),
        "{location}"
    );
    assert!(failed.headers().get(header::SET_COOKIE).is_none());
}

on_both_backends!(
    register_me_logout_me,
    bearer_tokens_work_and_revocation_is_final,
    expired_tokens_fail,
    usernames_are_unique_whatever_the_case,
    broken_rules_are_refused_readably_and_change_nothing,
    wrong_password_and_unknown_user_look_the_same,
    repeated_failures_are_throttled,
    plain_html_forms_log_in_with_redirects,
);
