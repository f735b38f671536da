//! Who may see what, on SQLite and MariaDB, through the real server: every operation on
//! a private room (WebSocket frames and server functions, search included) by each of
//! owner, moderator, member, outsider, admin (not a member) and a banned account, with
//! the answer each must get; an outsider's answers compared word for word with those
//! for a room that does not exist. Then read positions across two connections and a
//! reconnect, conversations reused for the same people, and a ban closing live sockets.

use std::collections::HashMap;

use crate::common::{
    run_to_exit,
    ws::{api, call, delete, second_token_for, send, token_for, Client},
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
    /// Any of the above. Typing in a room one could not join is "not joined": to an
    /// outsider the private room is no more joinable than one that does not exist.
    Any,
    /// Not asked: a banned account has no socket to send on, and no room list.
    NotAsked,
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

/// The people of the scenario, in the order of [`RULES`]' columns and of the run.
const PEOPLE: [Who; 6] = [
    Who::Owner,
    Who::Moderator,
    Who::Member,
    Who::Outsider,
    Who::Admin,
    Who::Banned,
];

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

/// What one person asks of the private room, in the order each person asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    // Server functions; each is asked about `NOWHERE` too, by an outsider.
    History,
    Members,
    Post,
    SetTopic,
    /// Of someone already in: nothing changes, but only a manager may ask.
    Invite,
    SetRole,
    RemoveMember,
    /// Someone else's message.
    DeleteOthers,
    MarkRead,
    Mute,
    /// A search limited to the room (`in:#secret`).
    SearchInRoom,
    // The socket: each frame is sent about `NOWHERE` too.
    Connect,
    Join,
    Send,
    React,
    DeleteOthersLive,
    Typing,
    /// Every refusal left the connection open.
    StillConnected,
    // What shows the room: the room list, and a plain search for its words.
    Listed,
    FoundBySearch,
}

/// Each action, and the answer each of [`PEOPLE`] gets.
#[rustfmt::skip]
const RULES: &[(Action, [Answer; 6])] = {
    use Action::*;
    use Answer::*;
    &[
        //               owner moderator  member     outsider admin    banned
        (History,       [Ok,   Ok,        Ok,        Unknown, Unknown, Unauthorized]),
        (Members,       [Ok,   Ok,        Ok,        Unknown, Unknown, Unauthorized]),
        (Post,          [Ok,   Ok,        Ok,        Unknown, Unknown, Unauthorized]),
        (SetTopic,      [Ok,   Ok,        Forbidden, Unknown, Unknown, Unauthorized]),
        (Invite,        [Ok,   Ok,        Forbidden, Unknown, Unknown, Unauthorized]),
        (SetRole,       [Ok,   Forbidden, Forbidden, Unknown, Unknown, Unauthorized]),
        (RemoveMember,  [Ok,   Ok,        Forbidden, Unknown, Unknown, Unauthorized]),
        (DeleteOthers,  [Ok,   Ok,        Forbidden, Unknown, Unknown, Unauthorized]),
        (MarkRead,      [Ok,   Ok,        Ok,        Unknown, Unknown, Unauthorized]),
        (Mute,          [Ok,   Ok,        Ok,        Unknown, Unknown, Unauthorized]),
        (SearchInRoom,  [Ok,   Ok,        Ok,        Unknown, Unknown, Unauthorized]),
        // A banned account cannot even connect.
        (Connect,       [Ok,   Ok,        Ok,        Ok,      Ok,      Unauthorized]),
        (Join,          [Ok,   Ok,        Ok,        Unknown, Unknown, NotAsked]),
        (Send,          [Ok,   Ok,        Ok,        Unknown, Unknown, NotAsked]),
        (React,         [Ok,   Ok,        Ok,        Unknown, Unknown, NotAsked]),
        (DeleteOthersLive, [Ok, Ok,       Forbidden, Unknown, Unknown, NotAsked]),
        (Typing,        [Ok,   Ok,        Ok,        Any,     Any,     NotAsked]),
        (StillConnected, [Ok,  Ok,        Ok,        Ok,      Ok,      NotAsked]),
        (Listed,        [Ok,   Ok,        Ok,        Unknown, Unknown, NotAsked]),
        (FoundBySearch, [Ok,   Ok,        Ok,        Unknown, Unknown, NotAsked]),
    ]
};

/// Every (person, action, expected answer), person by person.
fn rows() -> impl Iterator<Item = (Who, Action, Answer)> {
    PEOPLE.into_iter().enumerate().flat_map(|(column, who)| {
        RULES
            .iter()
            .map(move |&(action, answers)| (who, action, answers[column]))
    })
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

/// The socket's answer as an [`Answer`]; an error about an unknown room must be word
/// for word the one about [`NOWHERE`] (`unknown`).
fn classify_frame(answer: &Value, unknown: &Value, what: &str) -> Answer {
    match answer.get("type").and_then(Value::as_str) {
        Some("ack" | "joined") | None => Answer::Ok,
        Some("error") if answer["code"] == "forbidden" => Answer::Forbidden,
        Some("error") if answer["code"] == "unknown_message" => Answer::Ok,
        Some("error") => {
            let renamed: Value =
                serde_json::from_str(&answer.to_string().replace(SECRET, NOWHERE)).unwrap();
            assert_eq!(
                renamed["code"], unknown["code"],
                "{what}: {answer} vs {unknown}"
            );
            assert_eq!(renamed["message"], unknown["message"], "{what}");
            Answer::Unknown
        }
        _ => panic!("{what}: {answer}"),
    }
}

/// The private room with its people, and the socket of the person asking now.
struct Scenario<'a> {
    server: &'a TestServer,
    tokens: HashMap<&'static str, String>,
    /// A message of the owner's per person, for deleting someone else's message.
    others_message: HashMap<&'static str, i64>,
    socket: Option<Client>,
}

impl Scenario<'_> {
    /// The server function and form of an HTTP action.
    fn request(&self, who: Who, action: Action) -> Option<(&'static str, Form)> {
        let name = who.name();
        let guest = format!("guest-{name}");
        let room = ("room", SECRET.to_string());
        Some(match action {
            Action::History => ("history", vec![room]),
            Action::Members => ("room_members", vec![room]),
            Action::Post => (
                "post_message",
                vec![
                    room,
                    ("client_id", format!("http-{name}")),
                    ("body", "hello".into()),
                ],
            ),
            Action::SetTopic => ("set_topic", vec![room, ("topic", format!("by {name}"))]),
            Action::Invite => ("invite", vec![room, ("username", guest)]),
            Action::SetRole => (
                "set_role",
                vec![room, ("username", guest), ("role", "moderator".into())],
            ),
            Action::RemoveMember => ("remove_member", vec![room, ("username", guest)]),
            Action::DeleteOthers => (
                "delete_message",
                vec![
                    room,
                    ("target", self.others_message[name].to_string()),
                    ("client_id", format!("del-{name}")),
                ],
            ),
            Action::MarkRead => ("mark_read", vec![room, ("seq", "1".into())]),
            Action::Mute => ("mute_room", vec![room, ("muted", "false".into())]),
            Action::SearchInRoom => ("search", vec![("q", format!("classified in:#{SECRET}"))]),
            _ => return None,
        })
    }

    /// The frame of a socket action.
    fn frame(&self, who: Who, action: Action) -> Option<Value> {
        let name = who.name();
        Some(match action {
            Action::Join => json!({"type": "join", "room": SECRET}),
            Action::Send => send(SECRET, "over the socket", &format!("ws-{name}")),
            Action::React => {
                json!({"type": "react", "room": SECRET, "target": self.others_message["owner"], "emoji": "👍", "on": true, "client_id": format!("r-{name}")})
            }
            Action::DeleteOthersLive => {
                delete(SECRET, self.others_message[name], &format!("wsdel-{name}"))
            }
            Action::Typing => json!({"type": "typing", "room": SECRET}),
            _ => return None,
        })
    }

    /// Asks as `who`: the answer, and what came, for a failure's message.
    async fn ask(&mut self, who: Who, action: Action) -> (Answer, String) {
        let server = self.server;
        let token = self.tokens[who.name()].clone();
        if let Some((endpoint, form)) = self.request(who, action) {
            // What a room that does not exist answers, asked by an outsider.
            let renamed: Vec<(&str, String)> = form
                .iter()
                .map(|(k, v)| (*k, v.replace(SECRET, NOWHERE)))
                .collect();
            let renamed: Vec<(&str, &str)> =
                renamed.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let unknown = call(server, &self.tokens["outsider"], endpoint, &renamed).await;
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, body) = call(server, &token, endpoint, &form).await;
            return (
                classify(status, &body, &unknown),
                format!("{status} {body}"),
            );
        }
        if let Some(frame) = self.frame(who, action) {
            let socket = self.socket.as_mut().expect("connected");
            let answer = socket_answer(socket, frame.clone()).await;
            let nowhere: Value =
                serde_json::from_str(&frame.to_string().replace(SECRET, NOWHERE)).unwrap();
            let unknown = socket_answer(socket, nowhere).await;
            let what = format!("{action:?} by {who:?}");
            return (classify_frame(&answer, &unknown, &what), answer.to_string());
        }
        match action {
            Action::Connect => {
                self.socket = None;
                match Client::try_connect(server, &token).await {
                    Ok(socket) => {
                        self.socket = Some(socket);
                        (Answer::Ok, "connected".into())
                    }
                    Err(401) => (Answer::Unauthorized, "401".into()),
                    Err(status) => panic!("{action:?} by {who:?}: {status}"),
                }
            }
            Action::StillConnected => {
                self.socket
                    .as_mut()
                    .expect("connected")
                    .assert_alive()
                    .await;
                (Answer::Ok, "alive".into())
            }
            Action::Listed => {
                let rooms: Vec<Value> = api(server, &token, "list_rooms", &[]).await;
                let listed = rooms.iter().any(|r| r["name"] == SECRET);
                (seen(listed), format!("{rooms:?}"))
            }
            Action::FoundBySearch => {
                let found: Value = api(server, &token, "search", &[("q", "classified")]).await;
                let hits = found["hits"].as_array().unwrap().len();
                (seen(hits > 0), format!("{hits} hits"))
            }
            _ => unreachable!("{action:?} is asked above"),
        }
    }
}

/// Whether the room showed: as to a member, or as if it did not exist.
fn seen(shown: bool) -> Answer {
    if shown {
        Answer::Ok
    } else {
        Answer::Unknown
    }
}

async fn a_private_room_answers_each_person_as_their_role_allows(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    // The first account is the server's admin.
    let admin = token_for(&server, "admin").await;
    let mut tokens = HashMap::new();
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
    let mut others_message = HashMap::new();
    for who in PEOPLE {
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

    let mut scenario = Scenario {
        server: &server,
        tokens,
        others_message,
        socket: None,
    };
    for (who, action, expected) in rows() {
        if expected == Answer::NotAsked {
            continue;
        }
        let (got, came) = scenario.ask(who, action).await;
        if expected != Answer::Any {
            assert_eq!(got, expected, "{action:?} by {who:?}: {came}");
        }
    }
    let member = scenario.tokens["member"].clone();
    drop(scenario);

    // Archiving: by a member refused; by the owner, then everything is read-only.
    let (status, _) = call(&server, &member, "archive_room", &[("room", SECRET)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let _: Value = api(&server, &owner, "archive_room", &[("room", SECRET)]).await;
    owner_socket.until(|f| f["type"] == "archived").await;
    let late = owner_socket.change(send(SECRET, "too late", "late")).await;
    assert_eq!(late["code"], "forbidden", "{late}");
    let history: Value = api(&server, &member, "history", &[("room", SECRET)]).await;
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
    let first = second_token_for(&server, "first").await;
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
    let second = second_token_for(&server, "second").await;
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
        let mut command = vec!["--database-url", url.as_str()];
        command.extend_from_slice(args);
        run_to_exit(&command, stdin)
    };
    let (made, log) = cli(&["user", "add", "Fourth"], "correct horse battery\n");
    assert!(made.success(), "{log}");
    let (taken, _) = cli(&["user", "add", "fourth"], "correct horse battery\n");
    assert!(!taken.success());
    let (short, _) = cli(&["user", "add", "fifth"], "short\n");
    assert!(!short.success());
    let (granted, log) = cli(&["admin", "grant", "fourth"], "");
    assert!(granted.success(), "{log}");
    assert!(!cli(&["admin", "grant", "nobody"], "").0.success());
    let server = TestServer::start_with(&url, &["--registration", "closed"]);
    let fourth = second_token_for(&server, "fourth").await;
    let me: Value = api(&server, &fourth, "me", &[]).await;
    assert_eq!(me["admin"], true);
    let second = second_token_for(&server, "second").await;
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
