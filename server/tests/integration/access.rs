//! Who may see what, on SQLite and MariaDB, through the real server: every operation on
//! a private room (WebSocket frames and server functions, search included) by each of
//! owner, moderator, member, outsider, admin (not a member) and a banned account, with
//! the answer each must get; an outsider's answers compared word for word with those
//! for a room that does not exist. Then read positions across two connections and a
//! reconnect, conversations reused for the same people, and a ban closing live sockets.

mod common;

use common::{
    ws::{api, call, delete, send, token_for, Client},
    TestServer,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const NO_RATE_LIMIT: &[&str] = &["--send-rate", "100000", "--send-burst", "100000"];
const SECRET: &str = "secret";
/// A room that does not exist: outsiders of `SECRET` must get its answers, renamed.
const NOWHERE: &str = "nowhere";

/// A server function's form fields.
type Form = Vec<(&'static str, String)>;

/// What an operation may answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Ok,
    Forbidden,
    /// Exactly as for a room that does not exist.
    Unknown,
    /// Not logged in (the session was revoked).
    Unauthorized,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Owner,
    Moderator,
    Member,
    Outsider,
    Admin,
    Banned,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Owner => "owner",
            Who::Moderator => "moder",
            Who::Member => "member",
            Who::Outsider => "outsider",
            Who::Admin => "admin",
            Who::Banned => "banned",
        }
    }
}

/// The expected answer of each operation for each person.
fn expected(op: &str, who: Who) -> Answer {
    use Answer::*;
    match who {
        Who::Outsider | Who::Admin => Unknown,
        Who::Banned => Unauthorized,
        Who::Owner => Ok,
        Who::Moderator => match op {
            "set_role" => Forbidden,
            _ => Ok,
        },
        Who::Member => match op {
            "set_topic" | "invite" | "remove_member" | "set_role" | "delete_others" => Forbidden,
            _ => Ok,
        },
    }
}

/// The HTTP answer as an [`Answer`]; an unknown room's body must be the same as for
/// [`NOWHERE`] (`unknown` holds that body).
fn classify(status: StatusCode, body: &str, unknown: &(StatusCode, String)) -> Answer {
    if status.is_success() {
        return Answer::Ok;
    }
    match status {
        StatusCode::UNAUTHORIZED => Answer::Unauthorized,
        StatusCode::FORBIDDEN => Answer::Forbidden,
        _ if (status, body.replace(SECRET, NOWHERE)) == (unknown.0, unknown.1.clone()) => {
            Answer::Unknown
        }
        _ => panic!("unexpected answer {status}: {body}"),
    }
}

async fn a_private_room_answers_each_person_as_their_role_allows(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    // The first account is the server's admin.
    let admin = token_for(&server, "admin").await;
    let mut tokens = std::collections::HashMap::new();
    for who in [
        Who::Owner,
        Who::Moderator,
        Who::Member,
        Who::Outsider,
        Who::Banned,
    ] {
        tokens.insert(who.name(), token_for(&server, who.name()).await);
    }
    tokens.insert("admin", admin.clone());
    let owner = tokens["owner"].clone();
    let room: Value = api(
        &server,
        &owner,
        "create_room",
        &[("name", SECRET), ("private", "true")],
    )
    .await;
    assert_eq!(room["private"], true);
    assert_eq!(room["role"], "owner");
    for who in ["moder", "member", "banned"] {
        let _: Value = api(
            &server,
            &owner,
            "invite",
            &[("room", SECRET), ("username", who)],
        )
        .await;
    }
    let _: Value = api(
        &server,
        &owner,
        "set_role",
        &[
            ("room", SECRET),
            ("username", "moder"),
            ("role", "moderator"),
        ],
    )
    .await;
    // A guest per person, for the operations on someone else's membership, and a
    // message of the owner's per person, for deleting someone else's message.
    let mut owner_socket = Client::connect(&server, &owner).await;
    owner_socket.join(SECRET, None).await;
    let people = [
        Who::Owner,
        Who::Moderator,
        Who::Member,
        Who::Outsider,
        Who::Admin,
        Who::Banned,
    ];
    let mut others_message = std::collections::HashMap::new();
    for who in people {
        let guest = format!("guest-{}", who.name());
        token_for(&server, &guest).await;
        let _: Value = api(
            &server,
            &owner,
            "invite",
            &[("room", SECRET), ("username", &guest)],
        )
        .await;
        let ack = owner_socket
            .change(send(
                SECRET,
                &format!("classified {}", who.name()),
                &format!("o-{}", who.name()),
            ))
            .await;
        others_message.insert(who.name(), ack["seq"].as_i64().unwrap());
    }
    let ban: (StatusCode, String) = call(&server, &admin, "ban", &[("username", "banned")]).await;
    assert!(ban.0.is_success(), "{ban:?}");

    // What a room that does not exist answers, over HTTP and over the socket.
    let probe = tokens["outsider"].clone();
    let unknown_http = |endpoint: &'static str, form: Vec<(&'static str, String)>| {
        let server = &server;
        let probe = probe.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            call(server, &probe, endpoint, &form).await
        }
    };

    for who in people {
        let token = &tokens[who.name()];
        let guest = format!("guest-{}", who.name());
        let target = others_message[who.name()].to_string();
        let ops: Vec<(&str, &'static str, Form)> = vec![
            ("history", "history", vec![("room", SECRET.into())]),
            (
                "room_members",
                "room_members",
                vec![("room", SECRET.into())],
            ),
            (
                "post_message",
                "post_message",
                vec![
                    ("room", SECRET.into()),
                    ("client_id", format!("http-{}", who.name())),
                    ("body", "hello".into()),
                ],
            ),
            (
                "set_topic",
                "set_topic",
                vec![
                    ("room", SECRET.into()),
                    ("topic", format!("by {}", who.name())),
                ],
            ),
            // Already in: nothing changes, but only a manager may ask.
            (
                "invite",
                "invite",
                vec![("room", SECRET.into()), ("username", guest.clone())],
            ),
            (
                "set_role",
                "set_role",
                vec![
                    ("room", SECRET.into()),
                    ("username", guest.clone()),
                    ("role", "moderator".into()),
                ],
            ),
            (
                "remove_member",
                "remove_member",
                vec![("room", SECRET.into()), ("username", guest.clone())],
            ),
            (
                "delete_others",
                "delete_message",
                vec![
                    ("room", SECRET.into()),
                    ("target", target.clone()),
                    ("client_id", format!("del-{}", who.name())),
                ],
            ),
            (
                "mark_read",
                "mark_read",
                vec![("room", SECRET.into()), ("seq", "1".into())],
            ),
            (
                "mute_room",
                "mute_room",
                vec![("room", SECRET.into()), ("muted", "false".into())],
            ),
            (
                "search",
                "search",
                vec![("q", format!("classified in:#{SECRET}"))],
            ),
        ];
        for (op, endpoint, form) in ops {
            let renamed: Vec<(&'static str, String)> = form
                .iter()
                .map(|(k, v)| (*k, v.replace(SECRET, NOWHERE)))
                .collect();
            let unknown = unknown_http(endpoint, renamed).await;
            let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, body) = call(&server, token, endpoint, &form_ref).await;
            let answer = classify(status, &body, &unknown);
            assert_eq!(
                answer,
                expected(op, who),
                "{op} by {who:?}: {status} {body}"
            );
        }

        // The socket: banned accounts cannot even connect.
        if who == Who::Banned {
            let request = reqwest::Client::new()
                .get(server.url("/ws"))
                .bearer_auth(token)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                .send()
                .await
                .unwrap();
            assert_eq!(request.status(), StatusCode::UNAUTHORIZED);
            continue;
        }
        let mut socket = Client::connect(&server, token).await;
        let frames = [
            ("join", json!({"type": "join", "room": SECRET})),
            (
                "send",
                send(SECRET, "over the socket", &format!("ws-{}", who.name())),
            ),
            (
                "react",
                json!({"type": "react", "room": SECRET, "target": others_message["owner"], "emoji": "👍", "on": true, "client_id": format!("r-{}", who.name())}),
            ),
            (
                "delete_others",
                delete(
                    SECRET,
                    others_message[who.name()],
                    &format!("wsdel-{}", who.name()),
                ),
            ),
            ("typing", json!({"type": "typing", "room": SECRET})),
        ];
        for (op, frame) in frames {
            let answer = socket_answer(&mut socket, frame.clone()).await;
            let nowhere: Value =
                serde_json::from_str(&frame.to_string().replace(SECRET, NOWHERE)).unwrap();
            let unknown = socket_answer(&mut socket, nowhere).await;
            let got = match answer.get("type").and_then(Value::as_str) {
                Some("ack" | "joined") | None => Answer::Ok,
                Some("error") if answer["code"] == "forbidden" => Answer::Forbidden,
                Some("error") if answer["code"] == "unknown_message" => Answer::Ok,
                Some("error") => {
                    let renamed: Value =
                        serde_json::from_str(&answer.to_string().replace(SECRET, NOWHERE)).unwrap();
                    assert_eq!(
                        renamed["code"], unknown["code"],
                        "{op} by {who:?}: {answer} vs {unknown}"
                    );
                    assert_eq!(renamed["message"], unknown["message"], "{op} by {who:?}");
                    Answer::Unknown
                }
                _ => panic!("{op} by {who:?}: {answer}"),
            };
            // Typing in a room one could not join is "not joined": to an outsider the
            // private room is no more joinable than one that does not exist.
            let want = match (op, expected(op, who)) {
                ("typing", Answer::Unknown) => got,
                (_, want) => want,
            };
            assert_eq!(got, want, "{op} by {who:?} over the socket: {answer}");
        }
        socket.assert_alive().await;
    }

    // The room list: the room is there for members only.
    for who in people {
        if who == Who::Banned {
            continue;
        }
        let rooms: Vec<Value> = api(&server, &tokens[who.name()], "list_rooms", &[]).await;
        let listed = rooms.iter().any(|r| r["name"] == SECRET);
        let member = matches!(who, Who::Owner | Who::Moderator | Who::Member);
        assert_eq!(listed, member, "{who:?} sees the room listed");
        // A plain search finds the room's words for members only.
        let found: Value = api(
            &server,
            &tokens[who.name()],
            "search",
            &[("q", "classified")],
        )
        .await;
        let hits = found["hits"].as_array().unwrap().len();
        assert_eq!(hits > 0, member, "{who:?} finds {hits}");
    }

    // Archiving: by a member refused; by the owner, then everything is read-only.
    let (status, _) = call(
        &server,
        &tokens["member"],
        "archive_room",
        &[("room", SECRET)],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let _: Value = api(&server, &owner, "archive_room", &[("room", SECRET)]).await;
    owner_socket.until(|f| f["type"] == "archived").await;
    let late = owner_socket.change(send(SECRET, "too late", "late")).await;
    assert_eq!(late["code"], "forbidden", "{late}");
    let history: Value = api(&server, &tokens["member"], "history", &[("room", SECRET)]).await;
    assert!(history["messages"].as_array().unwrap().len() > 1);
}

/// Sends `frame` and returns what answers it: an ack or error naming its client_id, a
/// `joined` or error naming its room, or (typing, which has no answer) a pong.
async fn socket_answer(client: &mut Client, frame: Value) -> Value {
    let room = frame["room"].as_str().unwrap_or_default().to_string();
    if frame["type"] == "typing" {
        client.send(frame).await;
        client.send(json!({"type": "ping"})).await;
        let answer = client
            .until(|f| f["type"] == "pong" || (f["type"] == "error" && f["room"] == room.as_str()))
            .await;
        if answer["type"] == "error" {
            client.until_type("pong").await;
            return answer;
        }
        return json!({});
    }
    if let Some(client_id) = frame["client_id"].as_str() {
        let client_id = client_id.to_string();
        client.send(frame).await;
        return client
            .until(|f| {
                (f["type"] == "ack" || f["type"] == "error") && f["client_id"] == client_id.as_str()
            })
            .await;
    }
    client.send(frame).await;
    client
        .until(|f| (f["type"] == "joined" || f["type"] == "error") && f["room"] == room.as_str())
        .await
}

async fn read_positions_follow_the_user_and_conversations_are_reused(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    let alice = token_for(&server, "alice").await;
    let bob = token_for(&server, "bob").await;
    let carol = token_for(&server, "carol").await;

    // The same people always get the same conversation, whoever opens it.
    let ab: Value = api(&server, &alice, "open_dm", &[("usernames", "bob")]).await;
    let ba: Value = api(&server, &bob, "open_dm", &[("usernames", "Alice")]).await;
    assert_eq!(ab["name"], ba["name"]);
    assert_eq!(ab["dm"], true);
    assert_eq!(ab["people"], json!(["bob"]));
    let abc: Value = api(&server, &carol, "open_dm", &[("usernames", "bob,alice")]).await;
    let acb: Value = api(&server, &alice, "open_dm", &[("usernames", "carol, bob")]).await;
    assert_eq!(abc["name"], acb["name"]);
    assert_ne!(abc["name"], ab["name"]);
    let dm = ab["name"].as_str().unwrap().to_string();
    // Carol is not in alice and bob's conversation.
    let (status, _) = call(&server, &carol, "history", &[("room", &dm)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&server, &alice, "open_dm", &[("usernames", "nobody-here")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bob has two connections; alice writes three messages, one mentioning him.
    let mut bob_one = Client::connect(&server, &bob).await;
    let mut bob_two = Client::connect(&server, &bob).await;
    bob_one.join(&dm, None).await;
    let mut alice_socket = Client::connect(&server, &alice).await;
    alice_socket.join(&dm, None).await;
    alice_socket.join("general", None).await;
    for (i, body) in ["one", "two", "three @bob"].iter().enumerate() {
        alice_socket.change(send(&dm, body, &format!("a{i}"))).await;
    }
    let mention = alice_socket
        .change(send("general", "hey @bob, and @room", "g1"))
        .await;
    assert_eq!(mention["type"], "ack");
    let last = bob_one.messages(&dm, 3).await.last().unwrap()["seq"]
        .as_i64()
        .unwrap();
    let rooms: Vec<Value> = api(&server, &bob, "list_rooms", &[]).await;
    let listed = rooms.iter().find(|r| r["name"] == dm.as_str()).unwrap();
    assert_eq!(listed["unread"], 3);
    assert_eq!(listed["mentions"], 1);
    // Bob never joined general: the mention still reaches his Mentions view.
    let mentions: Value = api(&server, &bob, "mentions", &[]).await;
    let hits = mentions["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2, "{mentions}");
    assert_eq!(hits[0]["room"], "general");

    // Reading on one connection moves the other, live.
    let state: Value = api(
        &server,
        &bob,
        "mark_read",
        &[("room", &dm), ("seq", &(last - 1).to_string())],
    )
    .await;
    assert_eq!(state["unread"], 1);
    assert_eq!(state["mentions"], 1);
    let seen = bob_two
        .until(|f| f["type"] == "read" && f["room"] == dm.as_str())
        .await;
    assert_eq!(seen["seq"], last - 1);
    assert_eq!(seen["unread"], 1);
    // Never backwards, never past the end.
    let state: Value = api(&server, &bob, "mark_read", &[("room", &dm), ("seq", "1")]).await;
    assert_eq!(state["seq"], last - 1);
    let state: Value = api(
        &server,
        &bob,
        "mark_read",
        &[("room", &dm), ("seq", "100000")],
    )
    .await;
    assert_eq!(state["seq"], last);
    assert_eq!(state["unread"], 0);
    assert_eq!(state["mentions"], 0);

    // A reconnect finds the same position; new messages count again.
    drop(bob_two);
    alice_socket.change(send(&dm, "four", "a4")).await;
    let bob_three = Client::connect(&server, &bob).await;
    drop(bob_three);
    let rooms: Vec<Value> = api(&server, &bob, "list_rooms", &[]).await;
    let listed = rooms.iter().find(|r| r["name"] == dm.as_str()).unwrap();
    assert_eq!(listed["last_read_seq"], last);
    assert_eq!(listed["unread"], 1);
    assert_eq!(listed["mentions"], 0);
    // Mark all as read.
    let _: Value = api(&server, &bob, "mark_all_read", &[]).await;
    let rooms: Vec<Value> = api(&server, &bob, "list_rooms", &[]).await;
    assert!(
        rooms.iter().all(|r| r["unread"] == 0 && r["mentions"] == 0),
        "{rooms:?}"
    );
    // A conversation cannot be left.
    let (status, _) = call(&server, &bob, "leave_room", &[("room", &dm)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn a_ban_closes_live_sockets_and_removal_stops_the_feed(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    let admin = token_for(&server, "admin").await;
    let mallory = token_for(&server, "mallory").await;
    let dave = token_for(&server, "dave").await;
    // Only admins ban.
    let (status, _) = call(&server, &dave, "ban", &[("username", "mallory")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Removal from a private room: the feed stops at the removal.
    let _: Value = api(
        &server,
        &admin,
        "create_room",
        &[("name", "ops"), ("private", "true")],
    )
    .await;
    let _: Value = api(&server, &admin, "create_room", &[("name", "lobby-after")]).await;
    let mut dave_socket = Client::connect(&server, &dave).await;
    // Invited while connected: told to read the room list again.
    let _: Value = api(
        &server,
        &admin,
        "invite",
        &[("room", "ops"), ("username", "dave")],
    )
    .await;
    dave_socket.until_type("rooms_changed").await;
    dave_socket.join("ops", None).await;
    dave_socket.join("lobby-after", None).await;
    let mut admin_socket = Client::connect(&server, &admin).await;
    admin_socket.join("ops", None).await;
    admin_socket.join("lobby-after", None).await;
    let _: Value = api(
        &server,
        &admin,
        "remove_member",
        &[("room", "ops"), ("username", "dave")],
    )
    .await;
    let removed = dave_socket
        .until(|f| f["type"] == "member" && f["change"] == "removed")
        .await;
    assert_eq!(removed["user"], "dave");
    dave_socket.until_type("rooms_changed").await;
    admin_socket
        .change(send("ops", "after dave left", "after"))
        .await;
    admin_socket
        .change(send("lobby-after", "marker", "marker"))
        .await;
    dave_socket
        .until(|f| f["type"] == "message" && f["body"] == "marker")
        .await;
    dave_socket.assert_alive().await;
    // Nothing of the room after the removal reached dave.
    dave_socket.send(json!({"type": "ping"})).await;
    let next = dave_socket
        .until(|f| f["type"] == "pong" || f["body"] == "after dave left")
        .await;
    assert_eq!(next["type"], "pong", "{next}");
    let joined_again =
        socket_answer(&mut dave_socket, json!({"type": "join", "room": "ops"})).await;
    assert_eq!(joined_again["code"], "unknown_room");

    // A ban: every socket of the account closes at once, its sessions are gone.
    let mut one = Client::connect(&server, &mallory).await;
    let mut two = Client::connect(&server, &mallory).await;
    let _: Value = api(&server, &admin, "ban", &[("username", "mallory")]).await;
    assert!(one.close_code().await.is_some());
    assert!(two.close_code().await.is_some());
    let me: Value = reqwest::Client::new()
        .post(server.url("/api/me"))
        .bearer_auth(&mallory)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me, Value::Null);
    let login = reqwest::Client::new()
        .post(server.url("/api/login"))
        .form(&[
            ("username", "mallory"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::FORBIDDEN);
}

async fn registration_follows_the_policy(url: String) {
    let register = |server: &TestServer, name: &str, invite: Option<&str>| {
        let mut form = vec![
            ("username", name.to_string()),
            ("password", "correct horse battery".to_string()),
        ];
        if let Some(code) = invite {
            form.push(("invite", code.to_string()));
        }
        let url = server.url("/api/register");
        async move {
            reqwest::Client::new()
                .post(url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let server = TestServer::start_with(&url, &["--registration", "invite"]);
    // The first account needs no invitation (someone must make them).
    assert!(register(&server, "first", None).await.is_success());
    let first = common::ws::second_token_for(&server, "first").await;
    assert_eq!(
        register(&server, "second", None).await,
        StatusCode::FORBIDDEN
    );
    let invitation: Value = api(&server, &first, "create_invite", &[]).await;
    let code = invitation["code"].as_str().unwrap().to_string();
    assert!(invitation["path"].as_str().unwrap().contains(&code));
    assert_eq!(
        register(&server, "second", Some("not-a-code")).await,
        StatusCode::FORBIDDEN
    );
    assert!(register(&server, "second", Some(&code)).await.is_success());
    // Single use.
    assert_eq!(
        register(&server, "third", Some(&code)).await,
        StatusCode::FORBIDDEN
    );
    let second = common::ws::second_token_for(&server, "second").await;
    let (status, _) = call(&server, &second, "create_invite", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    drop(server);

    // Closed: nobody signs up on the web; the command line makes accounts and admins.
    let server = TestServer::start_with(&url, &["--registration", "closed"]);
    assert_eq!(
        register(&server, "fourth", None).await,
        StatusCode::FORBIDDEN
    );
    drop(server);
    let cli = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--database-url", &url])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let made = cli(&["user", "add", "Fourth"], "correct horse battery\n");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let taken = cli(&["user", "add", "fourth"], "correct horse battery\n");
    assert!(!taken.status.success());
    let short = cli(&["user", "add", "fifth"], "short\n");
    assert!(!short.status.success());
    let granted = cli(&["admin", "grant", "fourth"], "");
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    assert!(!cli(&["admin", "grant", "nobody"], "").status.success());
    let server = TestServer::start_with(&url, &["--registration", "closed"]);
    let fourth = common::ws::second_token_for(&server, "fourth").await;
    let me: Value = api(&server, &fourth, "me", &[]).await;
    assert_eq!(me["admin"], true);
    let second = common::ws::second_token_for(&server, "second").await;
    let me: Value = api(&server, &second, "me", &[]).await;
    assert_eq!(me["admin"], false);
}

async fn searches_and_conversations_are_bounded(url: String) {
    let server = TestServer::start(&url);
    let alice = token_for(&server, "alice").await;
    let long = "x".repeat(201);
    let (status, body) = call(&server, &alice, "search", &[("q", &long)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = call(&server, &alice, "search", &[("q", "  ")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&server, &alice, "search", &[("q", "x"), ("before", "junk")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut names = Vec::new();
    for i in 0..12 {
        let name = format!("friend{i:02}");
        token_for(&server, &name).await;
        names.push(name);
    }
    // Seven others is the most; eight is refused, and so is nobody.
    let seven: Value = api(
        &server,
        &alice,
        "open_dm",
        &[("usernames", &names[..7].join(","))],
    )
    .await;
    assert_eq!(seven["people"].as_array().unwrap().len(), 7);
    let (status, _) = call(
        &server,
        &alice,
        "open_dm",
        &[("usernames", &names[..8].join(","))],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&server, &alice, "open_dm", &[("usernames", "alice")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Completion answers at most ten names, and nothing for what no name can be.
    let found: Vec<String> = api(&server, &alice, "find_users", &[("prefix", "f")]).await;
    assert_eq!(found.len(), 10);
    let found: Vec<String> = api(&server, &alice, "find_users", &[("prefix", "%")]).await;
    assert!(found.is_empty());
}

async fn search_follows_edits_and_never_finds_deleted_messages(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    let alice = token_for(&server, "alice").await;
    let mut socket = Client::connect(&server, &alice).await;
    socket.join("general", None).await;
    let hits = |q: &'static str| {
        let server = &server;
        let alice = alice.clone();
        async move {
            let page: Value = api(server, &alice, "search", &[("q", q)]).await;
            page["hits"].as_array().unwrap().clone()
        }
    };
    let first = socket
        .change(send("general", "the zebra crossing", "z1"))
        .await;
    let seq = first["seq"].as_i64().unwrap();
    socket
        .change(send("general", "zebras elsewhere", "z2"))
        .await;
    let found = hits("zebra").await;
    assert_eq!(found.len(), 2, "{found:?}");
    // Newest first, the match marked in the snippet.
    assert_eq!(found[0]["snippet"], "zebras elsewhere");
    assert_eq!(found[1]["marks"], json!([[4, 9]]));
    assert_eq!(found[1]["seq"], seq);

    socket
        .change(json!({"type": "edit", "room": "general", "target": seq, "body": "the giraffe crossing", "client_id": "z3"}))
        .await;
    assert_eq!(hits("zebra").await.len(), 1);
    assert_eq!(hits("giraffe").await.len(), 1);
    socket.change(delete("general", seq, "z4")).await;
    assert!(hits("giraffe").await.is_empty());
    assert!(hits("crossing").await.is_empty());
    // The filters.
    assert_eq!(hits("zebra from:@alice").await.len(), 1);
    assert!(hits("zebra from:@nobody").await.is_empty());
    assert_eq!(hits("zebra in:#general").await.len(), 1);
}

on_both_backends!(
    search_follows_edits_and_never_finds_deleted_messages,
    searches_and_conversations_are_bounded,
    a_private_room_answers_each_person_as_their_role_allows,
    read_positions_follow_the_user_and_conversations_are_reused,
    a_ban_closes_live_sockets_and_removal_stops_the_feed,
    registration_follows_the_policy,
);
