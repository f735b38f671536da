//! What a stranger can make the server spend is bounded, each bound with its test: a
//! connection whose client stops reading, password hashing, log-in guessing.

use crate::common::{
    eventually, with_test_db,
    ws::{api, is_presence, second_token_for, token_for, Client},
    Backend, TestServer, PATIENCE,
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
    watcher.frame_until(|f| is_presence(f, "stuck", true)).await;

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
        .frame_until(|f| is_presence(f, "stuck", false))
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
    let rooms: serde_json::Value = api(&server, &bob, "list_rooms", &[]).await;
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
    let second = second_token_for(&server, "alice").await;
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

/// Posts a sign-up as a client behind the trusted proxy at 127.0.0.1 would arrive.
async fn sign_up_from(server: &TestServer, username: &str, client: &str) -> u16 {
    sign_up_forwarded(server, username, client, "http")
        .await
        .status()
        .as_u16()
}

/// Signs `username` up as a proxy forwards a client at `client` that came over `proto`.
async fn sign_up_forwarded(
    server: &TestServer,
    username: &str,
    client: &str,
    proto: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/register"))
        .header("x-forwarded-for", client)
        .header("x-forwarded-proto", proto)
        .form(&[
            ("username", username),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap()
}

/// Sign-ups are limited per client address (an IPv6 address by its /64) and for the
/// whole server, counted before the password is hashed; a refused sign-up creates
/// nothing.
async fn sign_ups_are_limited_per_address_and_overall(url: String) {
    let server = TestServer::start_with(
        &url,
        &[
            "--registrations-per-address",
            "3",
            "--registrations",
            "5",
            "--trusted-proxy",
            "127.0.0.1",
        ],
    );
    // Three addresses of one /64 are one address.
    for (i, ip) in ["2001:db8:0:1::a", "2001:db8:0:1::b", "2001:db8:0:1:ffff::c"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            sign_up_from(&server, &format!("six{i}"), ip).await,
            200,
            "{ip}"
        );
    }
    assert_eq!(sign_up_from(&server, "six3", "2001:db8:0:1::d").await, 429);
    // Another address has its own count, until the server's is used up.
    assert_eq!(sign_up_from(&server, "four0", "198.51.100.1").await, 200);
    assert_eq!(sign_up_from(&server, "four1", "198.51.100.1").await, 200);
    assert_eq!(sign_up_from(&server, "four2", "198.51.100.1").await, 429);
    assert_eq!(sign_up_from(&server, "other", "198.51.100.2").await, 429);
    let login = reqwest::Client::new()
        .post(server.url("/api/login"))
        .form(&[("username", "six3"), ("password", "correct horse battery")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status().as_u16(),
        401,
        "the refused sign-up made no account"
    );
}

on_both_backends!(sign_ups_are_limited_per_address_and_overall);

/// Failed log-ins from many names, as seen by the per-address limit (20 a minute).
async fn fail_logins(server: &TestServer, forwarded_for: &str, n: usize) -> Vec<u16> {
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..n {
        let status = http
            .post(server.url("/api/login"))
            .header("x-forwarded-for", forwarded_for)
            .form(&[
                ("username", format!("nobody{i}").as_str()),
                ("password", "wrong guess 1234"),
            ])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        statuses.push(status);
    }
    statuses
}

/// Signs `username` up as a proxy would forward a client at `client` that came over
/// HTTPS; the session cookie set, and whether HSTS was sent.
async fn sign_up_over_https(server: &TestServer, username: &str, client: &str) -> (String, bool) {
    let response = sign_up_forwarded(server, username, client, "https").await;
    let hsts = response.headers().contains_key("strict-transport-security");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    (cookie, hsts)
}

/// `X-Forwarded-For` and `X-Forwarded-Proto` are believed only from `--trusted-proxy`
/// peers: behind a trusted proxy each client has its own log-in limit and HTTPS gets
/// `Secure` cookies and HSTS; from anyone else the headers change nothing, so a client
/// cannot dodge its limit by inventing addresses.
async fn forwarded_headers_count_only_from_trusted_proxies(url: String) {
    let direct = TestServer::start(&url);
    let statuses = fail_logins(&direct, "198.51.100.1", 20).await;
    assert!(statuses.iter().all(|&s| s == 401), "{statuses:?}");
    let statuses = fail_logins(&direct, "198.51.100.2", 1).await;
    assert_eq!(statuses, [429], "the invented address is ignored");
    let (cookie, hsts) = sign_up_over_https(&direct, "carol", "198.51.100.3").await;
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(!hsts);

    let proxied = TestServer::start_with(&url, &["--trusted-proxy", "10.0.0.0/8,127.0.0.1"]);
    let statuses = fail_logins(&proxied, "198.51.100.1, 10.1.1.1", 20).await;
    assert!(statuses.iter().all(|&s| s == 401), "{statuses:?}");
    assert_eq!(fail_logins(&proxied, "198.51.100.1", 1).await, [429]);
    // The client put an address of its own choosing in front: the proxy's entry counts.
    assert_eq!(
        fail_logins(&proxied, "203.0.113.5, 198.51.100.1", 1).await,
        [429]
    );
    assert_eq!(
        fail_logins(&proxied, "198.51.100.2", 1).await,
        [401],
        "another client"
    );
    let (cookie, hsts) = sign_up_over_https(&proxied, "dave", "198.51.100.3").await;
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(hsts);
}

on_both_backends!(forwarded_headers_count_only_from_trusted_proxies);

/// Posts `form` to a server function with the session cookie of `token`, the way a
/// browser would, from `origin` (or with `sec-fetch-site`).
async fn post_as_browser(
    server: &TestServer,
    endpoint: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> u16 {
    let mut request = reqwest::Client::new()
        .post(server.url(&format!("/api/{endpoint}")))
        .form(&[
            ("username", "mallory"),
            ("password", "correct horse battery"),
        ]);
    if let Some(token) = token {
        request = request.header("cookie", format!("banter_session={token}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Cookie-authenticated calls that change something must come from the site's own
/// pages (CSRF): another origin cannot log a browser out, or log it into an account of
/// its choosing; the site's own pages and bearer-token scripts can.
async fn cross_site_posts_are_refused(url: String) {
    let server = TestServer::start(&url);
    let host = server.base_url.trim_start_matches("http://").to_string();
    let own = server.base_url.clone();
    let token = token_for(&server, "alice").await;
    token_for(&server, "mallory").await;
    let evil = [("origin", "https://evil.example")];
    assert_eq!(
        post_as_browser(&server, "logout", Some(&token), &evil).await,
        403
    );
    let cross = [("sec-fetch-site", "cross-site"), ("origin", own.as_str())];
    assert_eq!(
        post_as_browser(&server, "logout", Some(&token), &cross).await,
        403
    );
    assert_eq!(post_as_browser(&server, "login", None, &evil).await, 403);
    let alice: serde_json::Value = api(&server, &token, "me", &[]).await;
    assert_eq!(alice["username"], "alice", "the session survived");
    // Bearer calls are deliberate, whatever their origin.
    let status = reqwest::Client::new()
        .post(server.url("/api/me"))
        .bearer_auth(&token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
    // The site's own pages.
    let same = [("origin", own.as_str()), ("host", host.as_str())];
    assert_eq!(post_as_browser(&server, "login", None, &same).await, 200);
    let fetch = [("sec-fetch-site", "same-origin")];
    assert_eq!(
        post_as_browser(&server, "logout", Some(&token), &fetch).await,
        200
    );

    // Behind a proxy that rewrites Host, the configured public origin is the reference
    // (a second server on the same database: mallory exists).
    let public = TestServer::start_with(&url, &["--public-origin", "https://chat.example.com"]);
    let own = public.base_url.clone();
    assert_eq!(
        post_as_browser(&public, "login", None, &[("origin", own.as_str())]).await,
        403
    );
    let origin = [("origin", "https://chat.example.com")];
    assert_eq!(post_as_browser(&public, "login", None, &origin).await, 200);
}

on_both_backends!(cross_site_posts_are_refused);

/// WebSockets are capped per user and per client address: beyond a cap the upgrade is
/// refused with 429; a closed socket frees its slot.
async fn connections_are_capped_per_user_and_address(url: String) {
    let server = TestServer::start_with(
        &url,
        &[
            "--max-connections-per-user",
            "2",
            "--max-connections-per-address",
            "4",
        ],
    );
    let alice = token_for(&server, "alice").await;
    let bob = token_for(&server, "bob").await;
    // A dropped socket's slot is freed when the server sees it close.
    let connect = |token: String| {
        let server = &server;
        async move {
            eventually(PATIENCE, "a free slot", || async {
                match Client::try_connect(server, &token).await {
                    Err(429) => Err("refused with 429"),
                    Err(status) => panic!("refused: {status}"),
                    Ok(client) => Ok(client),
                }
            })
            .await
        }
    };
    let first = connect(alice.clone()).await;
    let second = connect(alice.clone()).await;
    let status = Client::try_connect(&server, &alice).await.err();
    assert_eq!(status, Some(429), "a third socket for one user");
    let _b1 = connect(bob.clone()).await;
    let _b2 = connect(bob.clone()).await;
    assert_eq!(
        Client::try_connect(&server, &bob).await.err(),
        Some(429),
        "the address is full"
    );
    drop(first);
    let _again = connect(alice.clone()).await;
    drop(second);
}

on_both_backends!(connections_are_capped_per_user_and_address);

/// Every frame kind counts against a connection's frame rate, not only sends: a flood
/// of pings is answered with `rate_limited`, and a client that ignores that is cut off
/// (1008) while others carry on.
async fn every_frame_kind_is_rate_limited(url: String) {
    let server = TestServer::start(&url);
    let mut flooder = Client::new_user(&server, "flooder").await;
    let mut bystander = Client::new_user(&server, "bystander").await;
    let ping = json!({"type": "ping"}).to_string();
    for _ in 0..2000 {
        use futures_util::SinkExt;
        if flooder
            .socket
            .send(tokio_tungstenite::tungstenite::Message::text(ping.clone()))
            .await
            .is_err()
        {
            break;
        }
    }
    let refused = flooder
        .until(|f| f["type"] == "error" && f["code"] == "rate_limited")
        .await;
    assert!(refused["message"].as_str().unwrap().contains("frames"));
    assert_eq!(flooder.close_code().await.map(u16::from), Some(1008));
    bystander.assert_alive().await;
}

on_both_backends!(every_frame_kind_is_rate_limited);

/// A connection may be in a bounded number of rooms at once; leaving one makes room.
async fn rooms_per_connection_are_capped(url: String) {
    let server = TestServer::start_with(&url, &["--max-rooms-per-connection", "2"]);
    let token = token_for(&server, "alice").await;
    for room in ["two", "three"] {
        let _: serde_json::Value = api(
            &server,
            &token,
            "create_room",
            &[("name", room), ("topic", "")],
        )
        .await;
    }
    let mut client = Client::connect(&server, &token).await;
    client.join("general", None).await;
    client.join("two", None).await;
    client.send(json!({"type": "join", "room": "three"})).await;
    let refused = client.until_type("error").await;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    assert_eq!(refused["room"], "three");
    client.send(json!({"type": "leave", "room": "two"})).await;
    client.join("three", None).await;
}

on_both_backends!(rooms_per_connection_are_capped);

/// `list_rooms` answers a page at a time (at most 500 rooms), by name; the next page
/// starts after the last name of the one before.
async fn list_rooms_is_paged(url: String) {
    let server = TestServer::start(&url);
    let token = token_for(&server, "alice").await;
    for i in 0..6 {
        let name = format!("room-{i}");
        let _: serde_json::Value = api(
            &server,
            &token,
            "create_room",
            &[("name", &name), ("topic", "")],
        )
        .await;
    }
    let page = |after: String, limit: &'static str| {
        let server = &server;
        let token = token.clone();
        async move {
            let rooms: serde_json::Value = api(
                server,
                &token,
                "list_rooms",
                &[("after", after.as_str()), ("limit", limit)],
            )
            .await;
            rooms
                .as_array()
                .unwrap()
                .iter()
                .map(|room| room["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let first = page(String::new(), "4").await;
    assert_eq!(first, ["general", "room-0", "room-1", "room-2"]);
    let second = page(first.last().unwrap().clone(), "4").await;
    assert_eq!(second, ["room-3", "room-4", "room-5"]);
    let all = page(String::new(), "1000000").await;
    assert_eq!(all.len(), 7, "a limit above 500 is 500");
}

on_both_backends!(list_rooms_is_paged);
