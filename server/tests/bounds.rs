//! What a stranger can make the server spend is bounded: here, a connection whose
//! client stops reading. (Each further bound gets its test here.)

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
