//! Live chat over the real WebSocket against the real server, on SQLite and MariaDB:
//! ordering, acks, idempotent resends, catch-up with `since` (also across a restart),
//! bad input, limits, presence, lag recovery and concurrency.

use std::collections::HashSet;

use crate::common::{
    ws::{is_event_of, is_presence, second_token_for, seqs, token_for, Client},
    TestServer,
};
use app::protocol::ServerFrame;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{
    client::IntoClientRequest, http::HeaderValue, protocol::frame::coding::CloseCode, Message,
};

const ROOM: &str = "general";

/// The messages among `events`.
fn messages_in(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|event| event["type"] == "message")
        .cloned()
        .collect()
}

async fn two_users_see_one_order_and_acks_match(url: String) {
    let server = TestServer::start(&url);
    let mut alice = Client::new_user(&server, "alice").await;
    let mut bob = Client::new_user(&server, "bob").await;
    alice.join(ROOM, None).await;
    // Where the room's log stands once both are in (their joinings are events of it).
    let start = bob.join(ROOM, None).await["last_seq"].as_i64().unwrap();
    assert!(start > 0, "joining a public room is an event of its log");

    let mut acked = Vec::new();
    for i in 0..5 {
        let ack = alice
            .post(ROOM, &format!("a{i}"), &format!("from alice {i} 😀"))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        acked.push(ack["seq"].as_i64().unwrap());
        let ack = bob
            .post(ROOM, &format!("b{i}"), &format!("from bob {i} 𝄞"))
            .await;
        acked.push(ack["seq"].as_i64().unwrap());
    }
    let last = start + 10;
    assert_eq!(
        acked,
        (start + 1..=last).collect::<Vec<_>>(),
        "each post takes the room's next seq: no gap, no repeat"
    );

    // Both joined before anything was posted, so both see the whole log.
    let events_of_alice = alice.events_until(ROOM, last).await;
    let events_of_bob = bob.events_until(ROOM, last).await;
    assert_eq!(
        seqs(&events_of_alice),
        (1..=last).collect::<Vec<_>>(),
        "every event once, in order: 1, 2, 3 …"
    );
    assert_eq!(
        events_of_alice, events_of_bob,
        "every member sees one and the same order"
    );
    let seen_by_alice = messages_in(&events_of_alice);
    let seen_by_bob = messages_in(&events_of_bob);
    assert_eq!(
        seqs(&seen_by_alice),
        acked,
        "the delivered seq is the acked seq"
    );
    assert_eq!(seen_by_bob[0]["author"], "alice");
    assert_eq!(
        seen_by_bob[0]["body"], "from alice 0 😀",
        "astral-plane text round-trips"
    );
    assert_eq!(seen_by_alice[1]["body"], "from bob 0 𝄞");
    let sent_at = seen_by_bob[0]["sent_at"].as_str().unwrap();
    assert!(sent_at.ends_with('Z') && sent_at.len() == 24, "{sent_at}");
}

async fn a_resend_gets_the_original_ack_and_stores_nothing(url: String) {
    let server = TestServer::start(&url);
    let mut alice = Client::new_user(&server, "alice").await;
    let mut bob = Client::new_user(&server, "bob").await;
    alice.join(ROOM, None).await;
    bob.join(ROOM, None).await;

    let first = alice.post(ROOM, "retry-me", "once only").await;
    let again = alice.post(ROOM, "retry-me", "once only").await;
    assert_eq!(first, again);
    // Even from another connection (a retry after a reconnect).
    let token = second_token_for(&server, "alice").await;
    let mut alice_again = Client::connect(&server, &token).await;
    let third = alice_again.post(ROOM, "retry-me", "once only").await;
    assert_eq!(first, third);

    let marker = alice.post(ROOM, "after", "the next one").await;
    assert_eq!(
        marker["seq"].as_i64().unwrap(),
        first["seq"].as_i64().unwrap() + 1,
        "nothing stored in between"
    );
    let delivered = bob.messages(ROOM, 2).await;
    assert_eq!(delivered[0]["client_id"], "retry-me");
    assert_eq!(
        delivered[1]["client_id"], "after",
        "the resend was not delivered twice"
    );
}

/// Flags that lift the flood guard, for tests that post faster than a person.
const NO_RATE_LIMIT: &[&str] = &["--send-rate", "100000", "--send-burst", "100000"];

async fn rejoining_with_since_delivers_exactly_what_was_missed(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    let mut alice = Client::new_user(&server, "alice").await;
    let bob_token = token_for(&server, "bob").await;
    alice.join(ROOM, None).await;
    let before = alice.post(ROOM, "before", "seen by bob").await;

    let mut bob = Client::connect(&server, &bob_token).await;
    let joined = bob.join(ROOM, None).await["last_seq"].as_i64().unwrap();
    let seen = bob.events_until(ROOM, joined).await;
    assert_eq!(seqs(&seen), (1..=joined).collect::<Vec<_>>());
    assert_eq!(seqs(&messages_in(&seen)), [before["seq"].as_i64().unwrap()]);
    // Bob's position is the last event he has (his own joining), as a client keeps it.
    let last_seen = seen.last().unwrap()["seq"].as_i64().unwrap();
    drop(bob);

    let mut away = Vec::new();
    for i in 0..20 {
        let ack = alice
            .post(ROOM, &format!("away{i}"), &format!("missed {i}"))
            .await;
        away.push(ack["seq"].as_i64().unwrap());
    }
    let mut bob = Client::connect(&server, &bob_token).await;
    let joined = bob.join(ROOM, Some(last_seen)).await;
    let last_seq = joined["last_seq"].as_i64().unwrap();
    assert_eq!(Some(&last_seq), away.last(), "{joined}");
    // Everything after `since`, each once, in order; and that is the 20 messages.
    let missed = bob.events_until(ROOM, last_seq).await;
    assert_eq!(
        seqs(&missed),
        (last_seen + 1..=last_seq).collect::<Vec<_>>()
    );
    assert_eq!(seqs(&missed), away, "exactly the messages posted meanwhile");
    assert_eq!(missed[19]["body"], "missed 19");

    // Then live traffic, with nothing replayed twice: the very next event is it.
    let live = alice.post(ROOM, "live", "live now").await;
    assert_eq!(live["seq"], last_seq + 1, "{live}");
    let next = bob.until(|f| is_event_of(f, ROOM)).await;
    assert_eq!(next["client_id"], "live", "{next}");
    assert_eq!(next["seq"], live["seq"]);

    // A `since` beyond the end (remembered from a database since reset) still goes live.
    let mut carol = Client::new_user(&server, "carol").await;
    carol.join(ROOM, Some(1_000_000)).await;
    alice.post(ROOM, "future", "after a reset").await;
    assert_eq!(carol.messages(ROOM, 1).await[0]["client_id"], "future");
}

async fn catch_up_survives_a_server_restart(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    let alice_token = token_for(&server, "alice").await;
    let bob_token = token_for(&server, "bob").await;
    let mut alice = Client::connect(&server, &alice_token).await;
    alice.join(ROOM, None).await;
    let mut old = Vec::new();
    for i in 0..3 {
        let ack = alice
            .post(ROOM, &format!("old{i}"), "before the restart")
            .await;
        old.push(ack["seq"].as_i64().unwrap());
    }
    let mut bob = Client::connect(&server, &bob_token).await;
    let joined = bob.join(ROOM, None).await["last_seq"].as_i64().unwrap();
    let seen = bob.events_until(ROOM, joined).await;
    assert_eq!(seqs(&seen), (1..=joined).collect::<Vec<_>>());
    assert_eq!(seqs(&messages_in(&seen)), old);
    // Bob's position is the last event he has (his own joining), as a client keeps it.
    let last_seen = seen.last().unwrap()["seq"].as_i64().unwrap();

    // The server goes away; connections are told so.
    assert!(server.stop().success());
    assert_eq!(bob.close_code().await, Some(CloseCode::Away));

    let server = TestServer::start(&url);
    let mut alice = Client::connect(&server, &alice_token).await;
    let mut new = Vec::new();
    for i in 0..20 {
        let ack = alice
            .post(ROOM, &format!("new{i}"), &format!("after the restart {i}"))
            .await;
        new.push(ack["seq"].as_i64().unwrap());
    }
    let mut bob = Client::connect(&server, &bob_token).await;
    let joined = bob.join(ROOM, Some(last_seen)).await;
    let last_seq = joined["last_seq"].as_i64().unwrap();
    assert_eq!(Some(&last_seq), new.last(), "{joined}");
    // The restarted server goes on from the stored log: no seq reused or skipped.
    let missed = bob.events_until(ROOM, last_seq).await;
    assert_eq!(
        seqs(&missed),
        (last_seen + 1..=last_seq).collect::<Vec<_>>()
    );
    assert_eq!(seqs(&missed), new, "exactly the messages posted meanwhile");
    assert_eq!(missed[0]["body"], "after the restart 0");
}

async fn bad_input_gets_an_error_and_changes_nothing(url: String) {
    let server = TestServer::start(&url);
    let mut alice = Client::new_user(&server, "alice").await;
    let mut bob = Client::new_user(&server, "bob").await;
    alice.join(ROOM, None).await;
    let start = bob.join(ROOM, None).await["last_seq"].as_i64().unwrap();

    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "bad_frame"),
        (
            json!({"type": "shout", "room": ROOM}).to_string(),
            "bad_frame",
        ),
        (json!({"room": ROOM}).to_string(), "bad_frame"),
        (
            json!({"type": "send", "room": ROOM, "client_id": "e1", "body": ""}).to_string(),
            "invalid_message",
        ),
        (
            json!({"type": "send", "room": ROOM, "client_id": "e2", "body": " \n\t "}).to_string(),
            "invalid_message",
        ),
        (
            json!({"type": "send", "room": ROOM, "client_id": "e3", "body": "x".repeat(4001)})
                .to_string(),
            "invalid_message",
        ),
        (
            json!({"type": "send", "room": ROOM, "client_id": "", "body": "hi"}).to_string(),
            "invalid_message",
        ),
        (
            json!({"type": "send", "room": "no-such-room", "client_id": "e4", "body": "hi"})
                .to_string(),
            "unknown_room",
        ),
        (
            json!({"type": "join", "room": "no-such-room"}).to_string(),
            "unknown_room",
        ),
        (
            json!({"type": "join", "room": ROOM, "since": -1}).to_string(),
            "bad_frame",
        ),
        (
            json!({"type": "typing", "room": "elsewhere"}).to_string(),
            "not_joined",
        ),
    ];
    for (frame, code) in cases {
        alice.send_text(frame.clone()).await;
        let error = alice.until_type("error").await;
        assert_eq!(error["code"], code, "{frame} → {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        alice.assert_alive().await;
    }
    alice
        .socket
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    assert_eq!(alice.until_type("error").await["code"], "bad_frame");

    // 4,000 characters is allowed; nothing of the above was stored or delivered: the
    // post takes the seq after the one Bob joined at, and it is the next event he gets.
    let ack = alice.post(ROOM, "ok", &"é".repeat(4000)).await;
    assert_eq!(ack["seq"], start + 1, "{ack}");
    let delivered = bob.events_until(ROOM, start + 1).await;
    assert_eq!(seqs(&delivered), (1..=start + 1).collect::<Vec<_>>());
    assert_eq!(delivered.last().unwrap()["client_id"], "ok");
}

async fn an_oversized_frame_closes_only_that_connection(url: String) {
    let server = TestServer::start(&url);
    let mut alice = Client::new_user(&server, "alice").await;
    let mut bob = Client::new_user(&server, "bob").await;
    bob.join(ROOM, None).await;

    alice.send_text("x".repeat(70 * 1024)).await;
    assert_eq!(alice.close_code().await, Some(CloseCode::Size));

    bob.assert_alive().await;
    let ack = bob.post(ROOM, "still", "still here").await;
    assert_eq!(ack["type"], "ack");
}

async fn upgrades_need_credentials_and_our_origin(url: String) {
    let server = TestServer::start(&url);
    let ws_url = server.url("/ws").replacen("http://", "ws://", 1);

    let refused = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap_err();
    assert_http_status(refused, 401);

    let mut request = ws_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_static("Bearer not-a-token"),
    );
    assert_http_status(
        tokio_tungstenite::connect_async(request).await.unwrap_err(),
        401,
    );

    // A browser on a foreign site carrying the user's cookie.
    let token = token_for(&server, "alice").await;
    let with_cookie = |origin: &str| {
        let mut request = ws_url.as_str().into_client_request().unwrap();
        let headers = request.headers_mut();
        headers.insert(
            "cookie",
            HeaderValue::from_str(&format!("banter_session={token}")).unwrap(),
        );
        headers.insert("origin", HeaderValue::from_str(origin).unwrap());
        request
    };
    assert_http_status(
        tokio_tungstenite::connect_async(with_cookie("http://evil.example"))
            .await
            .unwrap_err(),
        403,
    );
    // The same cookie from our own origin works.
    let own = server.base_url.clone();
    let (mut socket, _) = tokio_tungstenite::connect_async(with_cookie(&own))
        .await
        .unwrap();
    socket.close(None).await.unwrap();
}

fn assert_http_status(error: tokio_tungstenite::tungstenite::Error, status: u16) {
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status().as_u16(), status)
        }
        other => panic!("expected HTTP {status}, got {other:?}"),
    }
}

async fn a_flood_is_rate_limited(url: String) {
    let server = TestServer::start(&url);
    let mut alice = Client::new_user(&server, "alice").await;
    alice.join(ROOM, None).await;
    for i in 0..40 {
        alice
            .send(json!({"type": "send", "room": ROOM, "client_id": format!("f{i}"), "body": "flood"}))
            .await;
    }
    let mut acks = 0;
    let mut limited = HashSet::new();
    while acks + limited.len() < 40 {
        let frame = alice
            .until(|f| f["type"] == "ack" || f["type"] == "error")
            .await;
        if frame["type"] == "ack" {
            acks += 1;
        } else {
            assert_eq!(frame["code"], "rate_limited", "{frame}");
            limited.insert(frame["client_id"].as_str().unwrap().to_string());
        }
    }
    assert!(
        !limited.is_empty(),
        "40 messages at once must hit the limit"
    );
    assert!(
        (20..40).contains(&acks),
        "the burst of 20 goes through: {acks}"
    );
    alice.assert_alive().await;
}

async fn presence_counts_tabs(url: String) {
    let server = TestServer::start(&url);
    let mut watcher = Client::new_user(&server, "watcher").await;
    watcher.join(ROOM, None).await;
    let token = token_for(&server, "alice").await;

    let mut tab1 = Client::connect(&server, &token).await;
    let joined = tab1.join(ROOM, None).await;
    assert_eq!(joined["online"], json!(["alice", "watcher"]));
    let about_alice =
        |f: &ServerFrame| matches!(f, ServerFrame::Presence { user, .. } if user == "alice");
    let online = watcher.frame_until(about_alice).await;
    assert!(is_presence(&online, "alice", true), "{online:?}");

    let mut tab2 = Client::connect(&server, &token).await;
    tab2.join(ROOM, None).await;
    drop(tab1); // one tab closes: alice is still online
    tab2.post(ROOM, "m1", "still here").await;
    let next = watcher
        .frame_until(|f| about_alice(f) || matches!(f, ServerFrame::Message(_)))
        .await;
    assert!(
        matches!(next, ServerFrame::Message(_)),
        "no offline notice while a tab remains: {next:?}"
    );

    drop(tab2);
    let offline = watcher.frame_until(about_alice).await;
    assert!(is_presence(&offline, "alice", false), "{offline:?}");

    // Typing notices reach the others.
    let mut bob = Client::new_user(&server, "bob").await;
    bob.join(ROOM, None).await;
    bob.send(json!({"type": "typing", "room": ROOM})).await;
    let typing = watcher
        .frame_until(|f| matches!(f, ServerFrame::Typing { .. }))
        .await;
    assert!(
        matches!(&typing, ServerFrame::Typing { user, .. } if user == "bob"),
        "{typing:?}"
    );
}

async fn a_lagging_client_recovers_without_gaps(url: String) {
    // A tiny room buffer and no rate limit make lagging certain.
    let server = TestServer::start_with(
        &url,
        &[
            "--room-buffer",
            "8",
            "--send-rate",
            "100000",
            "--send-burst",
            "100000",
        ],
    );
    let mut alice = Client::new_user(&server, "alice").await;
    let mut slow = Client::new_user(&server, "slow").await;
    alice.join(ROOM, None).await;
    let start = slow.join(ROOM, None).await["last_seq"].as_i64().unwrap();

    // The slow client reads nothing while 12 MB of messages go by.
    let body = "z".repeat(4000);
    let total = 3000;
    let mut acked = Vec::new();
    for chunk in 0..total / 100 {
        for i in 0..100 {
            alice
                .send(json!({"type": "send", "room": ROOM, "client_id": format!("l{}", chunk * 100 + i), "body": body}))
                .await;
        }
        for _ in 0..100 {
            acked.push(alice.until_type("ack").await["seq"].as_i64().unwrap());
        }
    }
    acked.sort_unstable();
    let last = start + total as i64;
    assert_eq!(acked, (start + 1..=last).collect::<Vec<_>>());
    // Every event of the log once, in order, whatever the slow client fell behind by.
    let received = slow.events_until(ROOM, last).await;
    assert_eq!(seqs(&received), (1..=last).collect::<Vec<_>>());
    assert_eq!(seqs(&messages_in(&received)), acked);
    slow.assert_alive().await;
}

async fn twenty_concurrent_senders_one_sequence(url: String) {
    // Generous limits: this is about concurrency, not the flood guard.
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    let mut clients = Vec::new();
    let mut start = 0;
    for i in 0..20 {
        let mut client = Client::new_user(&server, &format!("user{i:02}")).await;
        start = client.join(ROOM, None).await["last_seq"].as_i64().unwrap();
        clients.push(client);
    }
    // Everybody joined before anyone posts: the log then holds the 1,000 posts.
    let last = start + 1000;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0..50 {
                    let id = format!("{}-{n}", client.username);
                    let ack = client
                        .post(ROOM, &id, &format!("{} says {n}", client.username))
                        .await;
                    assert_eq!(ack["type"], "ack", "{ack}");
                    acked.push(ack["seq"].as_i64().unwrap());
                }
                (acked, client.events_until(ROOM, last).await)
            })
        })
        .collect();
    let mut acked = Vec::new();
    let mut views = Vec::new();
    for task in tasks {
        let (mine, view) = task.await.unwrap();
        acked.extend(mine);
        views.push(view);
    }
    acked.sort_unstable();
    assert_eq!(acked, (start + 1..=last).collect::<Vec<_>>());
    let expected: Vec<i64> = (1..=last).collect();
    for view in &views {
        assert_eq!(seqs(view), expected, "every event once, in order");
        assert_eq!(view, &views[0], "identical sequence for every member");
    }
    let messages = messages_in(&views[0]);
    assert_eq!(seqs(&messages), acked);
    let ids: HashSet<&str> = messages
        .iter()
        .map(|m| m["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1000, "nothing doubled");
}

on_both_backends!(
    two_users_see_one_order_and_acks_match,
    a_resend_gets_the_original_ack_and_stores_nothing,
    rejoining_with_since_delivers_exactly_what_was_missed,
    catch_up_survives_a_server_restart,
    bad_input_gets_an_error_and_changes_nothing,
    an_oversized_frame_closes_only_that_connection,
    upgrades_need_credentials_and_our_origin,
    a_flood_is_rate_limited,
    presence_counts_tabs,
    a_lagging_client_recovers_without_gaps,
    twenty_concurrent_senders_one_sequence,
);
