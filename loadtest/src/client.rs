//! Talking to the server as a client would: HTTP for accounts and rooms, then `/ws`.

use std::{borrow::Cow, net::IpAddr, time::SystemTime};

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    tungstenite::{
        client::IntoClientRequest, http::HeaderValue, protocol::WebSocketConfig, Message, Utf8Bytes,
    },
    WebSocketStream,
};

pub type Socket = WebSocketStream<TcpStream>;

/// Names unique to this run, so runs against the same database never collide.
pub fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{:x}", nanos % 0xffff_ffff)
}

/// Wall-clock microseconds: senders stamp messages with it, members subtract it. Both
/// run in this process, so the clocks agree.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as u64
}

pub const PASSWORD: &str = "load test password";

/// Registers `username` and returns its bearer token.
pub async fn register(http: &reqwest::Client, url: &str, username: &str) -> String {
    let response = http
        .post(format!("{url}/api/register"))
        .form(&[("username", username), ("password", PASSWORD)])
        .send()
        .await
        .unwrap_or_else(|e| panic!("server unreachable at {url}: {e}"));
    assert!(
        response.status().is_success(),
        "register {username}: {}",
        response.status()
    );
    let body: Value = response.json().await.expect("register answers JSON");
    body["token"]
        .as_str()
        .expect("register answers a token")
        .to_string()
}

pub async fn create_room(http: &reqwest::Client, url: &str, token: &str, name: &str) {
    let response = http
        .post(format!("{url}/api/create_room"))
        .bearer_auth(token)
        .form(&[("name", name), ("topic", "load test")])
        .send()
        .await
        .expect("server reachable");
    assert!(
        response.status().is_success(),
        "create room {name}: {}",
        response.status()
    );
}

/// Opens `/ws` with a bearer token, from `source` when given (spreading clients over
/// 127.0.0.x gives each address its own ephemeral ports).
pub async fn connect(url: &str, token: &str, source: Option<IpAddr>) -> Result<Socket, String> {
    let mut request = format!("{}/ws", url.replacen("http", "ws", 1))
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?,
    );
    let authority = request
        .uri()
        .authority()
        .ok_or("the URL has no host")?
        .to_string();
    let address = tokio::net::lookup_host(&authority)
        .await
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("the host did not resolve")?;
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    if let Some(source) = source {
        socket
            .bind((source, 0).into())
            .map_err(|e| format!("binding {source}: {e}"))?;
    }
    let stream = socket
        .connect(address)
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    // tungstenite zero-fills its whole read buffer before every read attempt; its
    // 128 KiB default made the generator, not the server, the bottleneck.
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let (socket, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| format!("upgrade refused: {e}"))?;
    Ok(socket)
}

/// The fields of a server frame the scenarios look at; the rest is skipped unparsed,
/// so that reading 400,000 frames a second does not make the generator the bottleneck.
#[derive(Deserialize, Debug)]
pub struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub client_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub body: Option<Cow<'a, str>>,
}

/// The next text frame, `None` when the connection ends.
pub async fn next_text(socket: &mut Socket) -> Option<Utf8Bytes> {
    while let Some(message) = socket.next().await {
        match message.ok()? {
            Message::Text(text) => return Some(text),
            Message::Close(_) => return None,
            _ => {}
        }
    }
    None
}

/// Reads frames until one of type `kind` comes; `None` if the connection ends first.
pub async fn until(socket: &mut Socket, kind: &str) -> Option<Utf8Bytes> {
    loop {
        let text = next_text(socket).await?;
        if serde_json::from_str::<Frame>(&text).is_ok_and(|frame| frame.kind == kind) {
            return Some(text);
        }
    }
}

/// A `send` frame, as every scenario posts.
pub fn send_frame(room: &str, client_id: &str, body: &str) -> Message {
    let frame =
        serde_json::json!({"type": "send", "room": room, "client_id": client_id, "body": body});
    Message::text(frame.to_string())
}

pub async fn join(socket: &mut Socket, room: &str) {
    use futures_util::SinkExt;
    // The room is new: `since: 0` replays nothing and goes live.
    let frame = serde_json::json!({"type": "join", "room": room, "since": 0});
    socket
        .send(Message::text(frame.to_string()))
        .await
        .expect("join sent");
    until(socket, "joined")
        .await
        .unwrap_or_else(|| panic!("connection ended before joining {room}"));
}
