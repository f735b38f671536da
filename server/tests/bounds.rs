//! What a stranger can make the server spend is bounded, each bound with its test: a
//! connection whose client stops reading, password hashing, log-in guessing.

mod common;

use common::{
    with_test_db,
    ws::{token_for, Client},
    Backend, TestServer,
};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A client that stops reading while its room is busy: once the server could write
/// nothing to it for the write deadline, the connection is closed and its user leaves
/// presence (before, its task waited on the socket forever, keeping the user "online"
/// and its buffers allocated).
async fn a_connection_that_stops_reading_is_closed(url: String) {
    let server = TestServer::start_with(
        &url,
        &[
            "--write-deadline",
            "2",
            "--send-rate",
            "100000",
            "--send-burst",
            "100000",
        ],
    );
    let mut watcher = Client::new_user(&server, "watcher").await;
    watcher.join("general", None).await;

    // The stuck client: a small receive buffer, one join, then it never reads again.
    let token = token_for(&server, "stuck").await;
    let addr = server
        .base_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut request = format!("{}/ws", server.base_url.replacen("http://", "ws://", 1))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut stuck, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    use futures_util::SinkExt;
    stuck
        .send(tokio_tungstenite::tungstenite::Message::text(
            json!({"type": "join", "room": "general"}).to_string(),
        ))
        .await
        .unwrap();
    watcher
        .until(|f| f["type"] == "presence" && f["user"] == "stuck" && f["online"] == true)
        .await;

    // Much more than the socket buffers and the outbox hold (about 12 MB).
    let mut flooder = Client::new_user(&server, "flooder").await;
    let body = "x".repeat(4000);
    for window in 0..30 {
        for n in 0..100 {
            flooder
                .send(json!({"type": "send", "room": "general", "client_id": format!("f{window}-{n}"), "body": body}))
                .await;
        }
        let last = format!("f{window}-99");
        flooder
            .until(|f| f["type"] == "ack" && f["client_id"] == last)
            .await;
    }
    watcher
        .until(|f| f["type"] == "presence" && f["user"] == "stuck" && f["online"] == false)
        .await;
    drop(stuck);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_stops_reading_is_closed_sqlite() {
    with_test_db(Backend::Sqlite, a_connection_that_stops_reading_is_closed).await;
}

/// Password hashing is bounded: with one slot, sign-ups that arrive together are not
/// queued; those beyond the slot are refused at once with 503 and `Retry-After`, and
/// nothing is created for them (the same name can register afterwards).
async fn password_hashing_beyond_the_pool_is_refused_at_once(url: String) {
    let server = TestServer::start_with(&url, &["--hashing-concurrency", "1"]);
    let http = reqwest::Client::new();
    let attempts = (0..12).map(|i| {
        let http = http.clone();
        let endpoint = server.url("/api/register");
        async move {
            let name = format!("crowd{i}");
            let response = http
                .post(endpoint)
                .form(&[
                    ("username", name.as_str()),
                    ("password", "correct horse battery"),
                ])
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let retry = response.headers().get("retry-after").cloned();
            let body: serde_json::Value = response.json().await.unwrap();
            (name, status, retry, body)
        }
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let created = outcomes
        .iter()
        .filter(|(_, status, ..)| *status == 200)
        .count();
    let refused: Vec<_> = outcomes
        .iter()
        .filter(|(_, status, ..)| *status == 503)
        .collect();
    assert!(created >= 1, "{outcomes:?}");
    assert!(
        !refused.is_empty(),
        "twelve at once with one slot: {outcomes:?}"
    );
    assert_eq!(created + refused.len(), outcomes.len(), "{outcomes:?}");
    for (name, _, retry, body) in &refused {
        assert_eq!(retry.as_ref().map(|v| v.to_str().unwrap()), Some("1"));
        assert_eq!(body["error"], "busy", "{body}");
        // Nothing was kept of the refused attempt.
        token_for(&server, name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_hashing_beyond_the_pool_is_refused_at_once_sqlite() {
    with_test_db(
        Backend::Sqlite,
        password_hashing_beyond_the_pool_is_refused_at_once,
    )
    .await;
}

/// Guesses sent in parallel are counted before the slow password check, so no more
/// than the limit (5 per username) get a verdict; and a name that breaks the username
/// rules (an accent, which MySQL's collation would match to `alice`, or too long) is
/// refused before it reaches the database or the throttle's keys.
async fn parallel_guesses_are_counted_before_the_password_check(url: String) {
    let server = TestServer::start_with(&url, &["--hashing-concurrency", "64"]);
    token_for(&server, "alice").await;
    let http = reqwest::Client::new();
    let login = |username: &'static str, password: &'static str| {
        let http = http.clone();
        let endpoint = server.url("/api/login");
        async move {
            http.post(endpoint)
                .form(&[("username", username), ("password", password)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let statuses =
        futures_util::future::join_all((0..20).map(|_| login("alice", "wrong guess 1234"))).await;
    let judged = statuses.iter().filter(|&&s| s == 401).count();
    let throttled = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((judged, throttled), (5, 15), "{statuses:?}");
    // The right password under an accented or capitalised spelling changes nothing.
    assert_eq!(login("alicé", "correct horse battery").await, 401);
    assert_eq!(login("ALICE", "correct horse battery").await, 429);
    let long: &'static str = "a".repeat(200).leak();
    assert_eq!(login(long, "correct horse battery").await, 401);
}

on_both_backends!(parallel_guesses_are_counted_before_the_password_check);

/// Room creation is rate-limited per user: ten at once, then one a minute; another
/// user is unaffected, and a refused creation creates nothing.
async fn room_creation_is_rate_limited_per_user(url: String) {
    let server = TestServer::start(&url);
    let alice = token_for(&server, "alice").await;
    let bob = token_for(&server, "bob").await;
    let http = reqwest::Client::new();
    let create = |token: &str, name: String| {
        let request = http
            .post(server.url("/api/create_room"))
            .bearer_auth(token)
            .form(&[("name", name.as_str()), ("topic", "")]);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    for i in 0..10 {
        assert_eq!(create(&alice, format!("room-{i}")).await, 200, "room {i}");
    }
    assert_eq!(create(&alice, "one-too-many".into()).await, 429);
    assert_eq!(create(&bob, "bobs-room".into()).await, 200);
    let rooms: serde_json::Value = common::ws::api(&server, &bob, "list_rooms", &[]).await;
    let names: Vec<&str> = rooms
        .as_array()
        .unwrap()
        .iter()
        .map(|room| room["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"one-too-many"), "{names:?}");
    assert_eq!(names.len(), 12, "general, ten of Alice's, Bob's: {names:?}");
}

on_both_backends!(room_creation_is_rate_limited_per_user);

/// Logging out ends the session everywhere at once: its open WebSockets are closed
/// (1008), while the same user's other sessions keep theirs.
async fn logging_out_closes_that_sessions_sockets(url: String) {
    let server = TestServer::start(&url);
    let first = token_for(&server, "alice").await;
    let second = common::ws::second_token_for(&server, "alice").await;
    let mut tab = Client::connect(&server, &first).await;
    let mut other_tab = Client::connect(&server, &first).await;
    let mut phone = Client::connect(&server, &second).await;
    for client in [&mut tab, &mut other_tab, &mut phone] {
        client.join("general", None).await;
    }
    let response = reqwest::Client::new()
        .post(server.url("/api/logout"))
        .bearer_auth(&first)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    for client in [&mut tab, &mut other_tab] {
        assert_eq!(
            client.close_code().await.map(u16::from),
            Some(1008),
            "the logged-out session's sockets close"
        );
    }
    phone.assert_alive().await;
}

on_both_backends!(logging_out_closes_that_sessions_sockets);
