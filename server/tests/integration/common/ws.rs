//! A real WebSocket client for tests, with helpers that wait for events (never sleep):
//! frames as raw JSON, for tests that check the wire's fields, or decoded as the
//! server's [`ServerFrame`], for tests that look at what kind of frame came.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{
        client::IntoClientRequest, http::HeaderValue, protocol::frame::coding::CloseCode, Message,
    },
    MaybeTlsStream, WebSocketStream,
};

use app::{
    model::HistoryPage,
    protocol::{MessageView, ServerFrame},
    timeline::Timeline,
};

use super::{TestServer, PATIENCE};

/// A session as `register` or `login` answers it.
pub struct Session {
    /// The bearer token.
    pub token: String,
    /// The `Set-Cookie` header that came with it.
    pub cookie: Option<String>,
}

/// Opens a session for `username` through `endpoint` (`register` or `login`) of the
/// server (or proxy) at `base_url`, with `http` (a client that trusts a test's own
/// certificate, for HTTPS).
pub async fn open_session(
    http: &reqwest::Client,
    base_url: &str,
    endpoint: &str,
    username: &str,
) -> Session {
    let response = http
        .post(format!("{base_url}/api/{endpoint}"))
        .form(&[
            ("username", username),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{endpoint} {username}: {}",
        response.status()
    );
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|cookie| cookie.to_str().unwrap().to_string());
    let body: Value = response.json().await.unwrap();
    Session {
        token: body["token"].as_str().unwrap().to_string(),
        cookie,
    }
}

async fn session_token(server: &TestServer, endpoint: &str, username: &str) -> String {
    open_session(
        &reqwest::Client::new(),
        &server.base_url,
        endpoint,
        username,
    )
    .await
    .token
}

/// Registers `username` and returns its bearer token.
pub async fn token_for(server: &TestServer, username: &str) -> String {
    session_token(server, "register", username).await
}

/// Logs an existing `username` in again: a second session.
pub async fn second_token_for(server: &TestServer, username: &str) -> String {
    session_token(server, "login", username).await
}

pub struct Client {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub username: String,
    /// Frames read while waiting for another one; later waits see them first, so no
    /// frame is ever lost to a helper.
    backlog: std::collections::VecDeque<Value>,
}

impl Client {
    /// Connects with a bearer token and reads the `hello`.
    pub async fn connect(server: &TestServer, token: &str) -> Client {
        Client::connect_to(&server.base_url, token).await
    }

    /// [`Client::connect`] to the server (or proxy) at `base_url`.
    pub async fn connect_to(base_url: &str, token: &str) -> Client {
        Client::connect_via(base_url, token, None).await
    }

    /// [`Client::connect_to`] an `https://` or `http://` base URL, with TLS set up by
    /// `connector` (a test's own certificate authority).
    pub async fn connect_via(
        base_url: &str,
        token: &str,
        connector: Option<tokio_tungstenite::Connector>,
    ) -> Client {
        let url = format!("{base_url}/ws")
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        let (socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector)
                .await
                .expect("upgrade refused");
        Client::greeted(socket).await
    }

    /// Tries to open a WebSocket to `server` with `token`: the client, or the HTTP
    /// status the upgrade was refused with.
    pub async fn try_connect(server: &TestServer, token: &str) -> Result<Client, u16> {
        let url = format!("{}/ws", server.base_url.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Client::greeted(socket).await),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(error) => panic!("{error}"),
        }
    }

    /// A client on an upgraded `socket`, once its `hello` is read.
    pub async fn greeted(socket: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        let mut client = Client {
            socket,
            username: String::new(),
            backlog: Default::default(),
        };
        match client.next_frame().await {
            ServerFrame::Hello { user } => client.username = user.username,
            other => panic!("a hello first, not {other:?}"),
        }
        client
    }

    /// Registers a new user and connects as them.
    pub async fn new_user(server: &TestServer, username: &str) -> Client {
        let token = token_for(server, username).await;
        Client::connect(server, &token).await
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.socket.send(Message::text(text)).await.unwrap();
    }

    /// The next JSON frame (control frames are skipped).
    pub async fn next_json(&mut self) -> Value {
        if let Some(frame) = self.backlog.pop_front() {
            return frame;
        }
        self.read_frame(tokio::time::Instant::now() + PATIENCE)
            .await
    }

    /// Reads the next text frame, failing the test at `deadline` (pings do not extend it).
    async fn read_frame(&mut self, deadline: tokio::time::Instant) -> Value {
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("{}: no frame within {PATIENCE:?}", self.username))
                .expect("connection ended")
                .expect("connection failed");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Close(frame) => {
                    panic!("{}: closed unexpectedly: {frame:?}", self.username)
                }
                _ => continue,
            }
        }
    }

    /// The first frame (buffered or new) that satisfies `want`; the frames before it
    /// stay buffered for later.
    pub async fn until(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(at) = self.backlog.iter().position(&want) {
            return self.backlog.remove(at).unwrap();
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let frame = self.read_frame(deadline).await;
            if want(&frame) {
                return frame;
            }
            self.backlog.push_back(frame);
        }
    }

    /// Skips frames until one of `kind` arrives.
    pub async fn until_type(&mut self, kind: &str) -> Value {
        self.until(|f| f["type"] == kind).await
    }

    /// The next frame, decoded.
    pub async fn next_frame(&mut self) -> ServerFrame {
        decode(self.next_json().await)
    }

    /// [`Client::until`], decoded: the first frame that satisfies `want`; the frames
    /// before it stay buffered for later.
    pub async fn frame_until(&mut self, want: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
        let wanted = |frame: &Value| {
            serde_json::from_value::<ServerFrame>(frame.clone()).is_ok_and(|frame| want(&frame))
        };
        decode(self.until(wanted).await)
    }

    /// Joins and returns the `joined` frame (replayed messages follow it).
    pub async fn join(&mut self, room: &str, since: Option<i64>) -> Value {
        let mut frame = json!({"type": "join", "room": room});
        if let Some(since) = since {
            frame["since"] = json!(since);
        }
        self.send(frame).await;
        self.until(|f| f["type"] == "joined" && f["room"] == room)
            .await
    }

    /// Sends a message and returns its ack.
    pub async fn post(&mut self, room: &str, client_id: &str, body: &str) -> Value {
        self.send(json!({"type": "send", "room": room, "client_id": client_id, "body": body}))
            .await;
        self.until(|f| (f["type"] == "ack" || f["type"] == "error") && f["client_id"] == client_id)
            .await
    }

    /// Collects the next `n` messages of `room`.
    pub async fn messages(&mut self, room: &str, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.push(
                self.until(|f| f["type"] == "message" && f["room"] == room)
                    .await,
            );
        }
        out
    }

    /// A ping answered by a pong proves the connection still works.
    pub async fn assert_alive(&mut self) {
        self.send(json!({"type": "ping"})).await;
        self.until_type("pong").await;
    }

    /// Waits for the server to close the connection and returns the close code.
    pub async fn close_code(&mut self) -> Option<CloseCode> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("no close in time");
            match next {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

pub fn seqs(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

impl Client {
    /// Sends a mutating frame and returns its answer: the `ack` or `error` naming its
    /// `client_id`. Frames that arrive meanwhile stay buffered, in order.
    pub async fn change(&mut self, frame: Value) -> Value {
        let client_id = frame["client_id"].as_str().unwrap().to_string();
        self.send(frame).await;
        self.until(|f| {
            (f["type"] == "ack" || f["type"] == "error") && f["client_id"] == client_id.as_str()
        })
        .await
    }

    /// Applies the events of `room` to `timeline`, in the order they arrived, until
    /// it includes seq `upto`.
    pub async fn sync(&mut self, timeline: &mut Timeline, room: &str, upto: i64) {
        while timeline.position() < upto {
            let frame = decode(self.until(|f| is_event_of(f, room)).await);
            timeline.apply(&frame);
        }
    }
}

impl Client {
    /// Every event of `room` that reaches this client until one at seq `last` or later,
    /// in the order they arrive (messages, joinings, …: the whole log, not only its
    /// messages).
    pub async fn events_until(&mut self, room: &str, last: i64) -> Vec<Value> {
        let mut events: Vec<Value> = Vec::new();
        while events
            .last()
            .is_none_or(|event| event["seq"].as_i64().unwrap() < last)
        {
            events.push(self.until(|f| is_event_of(f, room)).await);
        }
        events
    }

    /// [`Client::events_until`], decoded.
    pub async fn frames_until(&mut self, room: &str, last: i64) -> Vec<ServerFrame> {
        let events = self.events_until(room, last).await;
        events.into_iter().map(decode).collect()
    }
}

/// A frame as the server's type: every frame the server sends must decode.
pub fn decode(frame: Value) -> ServerFrame {
    serde_json::from_value(frame.clone())
        .unwrap_or_else(|error| panic!("not a server frame ({error}): {frame}"))
}

/// Whether `frame` is an event of `room`'s log.
pub fn is_event_in(frame: &ServerFrame, room: &str) -> bool {
    frame.event_seq().is_some_and(|(of, _)| of == room)
}

/// Whether `frame` says that `user` came `online` (or went offline).
pub fn is_presence(frame: &ServerFrame, user: &str, online: bool) -> bool {
    matches!(frame, ServerFrame::Presence { user: who, online: now, .. } if who == user && *now == online)
}

/// Whether `frame` (raw) is an event of `room`'s log.
pub fn is_event_of(frame: &Value, room: &str) -> bool {
    matches!(
        frame["type"].as_str(),
        Some("message" | "edited" | "deleted" | "reaction" | "topic" | "member" | "archived")
    ) && frame["room"] == room
}

pub fn edit(room: &str, target: i64, body: &str, client_id: &str) -> Value {
    json!({"type": "edit", "room": room, "target": target, "body": body, "client_id": client_id})
}

pub fn delete(room: &str, target: i64, client_id: &str) -> Value {
    json!({"type": "delete", "room": room, "target": target, "client_id": client_id})
}

pub fn react(room: &str, target: i64, emoji: &str, on: bool, client_id: &str) -> Value {
    json!({"type": "react", "room": room, "target": target, "emoji": emoji, "on": on, "client_id": client_id})
}

pub fn send(room: &str, body: &str, client_id: &str) -> Value {
    json!({"type": "send", "room": room, "body": body, "client_id": client_id})
}

pub fn reply(room: &str, body: &str, reply_to: i64, client_id: &str) -> Value {
    json!({"type": "send", "room": room, "body": body, "reply_to": reply_to, "client_id": client_id})
}

/// Calls a server function as a script would (form in, bearer token) and returns its
/// JSON answer, which must be a success.
pub async fn api<T: serde::de::DeserializeOwned>(
    server: &TestServer,
    token: &str,
    endpoint: &str,
    form: &[(&str, &str)],
) -> T {
    let (status, body) = call(server, token, endpoint, form).await;
    assert!(status.is_success(), "{endpoint}: {status} {body}");
    serde_json::from_str(&body).unwrap()
}

/// Calls a server function with a bearer token: its status and body, whatever they are.
pub async fn call(
    server: &TestServer,
    token: &str,
    endpoint: &str,
    form: &[(&str, &str)],
) -> (reqwest::StatusCode, String) {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/api/{endpoint}")))
        .bearer_auth(token)
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// One page of `history` through the HTTP API.
pub async fn history_page(
    server: &TestServer,
    token: &str,
    room: &str,
    before: Option<i64>,
) -> HistoryPage {
    let before = before.map(|seq| seq.to_string());
    let mut form = vec![("room", room), ("limit", "100")];
    if let Some(before) = &before {
        form.push(("before", before));
    }
    api(server, token, "history", &form).await
}

/// Alice (with her token) and Bob, both in `room`.
pub async fn alice_and_bob(server: &TestServer, room: &str) -> (String, Client, Client) {
    let token = token_for(server, "alice").await;
    let mut alice = Client::connect(server, &token).await;
    let mut bob = Client::new_user(server, "bob").await;
    alice.join(room, None).await;
    bob.join(room, None).await;
    (token, alice, bob)
}

/// Every message of `room` as `history` says it now stands, oldest first, and the
/// room's position when the newest page was read.
pub async fn whole_history(
    server: &TestServer,
    token: &str,
    room: &str,
) -> (Vec<MessageView>, i64) {
    let newest = history_page(server, token, room, None).await;
    let last_seq = newest.last_seq;
    let mut messages = newest.messages;
    let mut has_more = newest.has_more;
    while has_more {
        let page = history_page(server, token, room, messages.first().map(|m| m.seq)).await;
        has_more = page.has_more;
        messages.splice(0..0, page.messages);
    }
    (messages, last_seq)
}

/// A timeline's messages, to compare with another's or with history.
pub fn state(timeline: &Timeline) -> Vec<MessageView> {
    timeline.messages().cloned().collect()
}
