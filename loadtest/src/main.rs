//! Banter's load generator. It talks to a running server through the public API only:
//! `/api/register`, `/api/create_room`, then `/ws`.
//!
//! Start the server with the flood guard lifted (the generator sends far faster than a
//! person), e.g. `target/release/server --send-rate 1000000 --send-burst 1000000`, then:
//!
//! ```text
//! cargo run --release -p loadtest -- ingest --url http://127.0.0.1:3000 --senders 50 --seconds 10
//! cargo run --release -p loadtest -- fanout --url http://127.0.0.1:3000 --members 100 --rate 1000 --seconds 30
//! cargo run --release -p loadtest -- connections --url http://127.0.0.1:3000 --count 5000 --server-pid $(pgrep -f target/release/server)
//! ```
//!
//! Each scenario prints a one-line summary and a table. See docs/benchmarks.md.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Message};

#[derive(Parser)]
#[command(about = "Load generator for a running Banter server")]
struct Cli {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000", global = true)]
    url: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Many senders across many rooms, each keeping a window of unacknowledged
    /// messages: durable messages per second and post→ack latency.
    Ingest {
        #[arg(long, default_value_t = 20)]
        senders: usize,
        #[arg(long, default_value_t = 4)]
        rooms: usize,
        /// Messages each sender keeps in flight.
        #[arg(long, default_value_t = 16)]
        window: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// N authenticated idle connections opened at a set rate and held: connect rate and
    /// the server's resident memory per connection (with `--server-pid`).
    Connections {
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// New connections per second.
        #[arg(long, default_value_t = 500)]
        rate: u64,
        /// Seconds to hold them all open before measuring.
        #[arg(long, default_value_t = 5)]
        hold: u64,
        /// The server's process id, to read its RSS from /proc.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// M members in one room, S senders posting at a fixed total rate: deliveries per
    /// second, send→receive latency, lost and duplicated messages.
    Fanout {
        #[arg(long, default_value_t = 100)]
        members: usize,
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Total posts per second.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}", nanos % 0xffff_ffff)
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

async fn register(http: &reqwest::Client, url: &str, username: &str) -> String {
    let response = http
        .post(format!("{url}/api/register"))
        .form(&[("username", username), ("password", "load test password")])
        .send()
        .await
        .expect("server unreachable");
    assert!(
        response.status().is_success(),
        "register {username}: {}",
        response.status()
    );
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

async fn create_room(http: &reqwest::Client, url: &str, token: &str, name: &str) {
    let response = http
        .post(format!("{url}/api/create_room"))
        .bearer_auth(token)
        .form(&[("name", name), ("topic", "load test")])
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "create room {name}: {}",
        response.status()
    );
}

async fn connect(url: &str, token: &str) -> Socket {
    let mut request = format!("{}/ws", url.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade refused");
    socket
}

async fn next_json(socket: &mut Socket) -> Option<Value> {
    while let Some(message) = socket.next().await {
        match message.ok()? {
            Message::Text(text) => return serde_json::from_str(&text).ok(),
            Message::Close(_) => return None,
            _ => {}
        }
    }
    None
}

async fn join(socket: &mut Socket, room: &str) {
    // The room is new: `since: 0` replays nothing and goes live.
    let frame = json!({"type": "join", "room": room, "since": 0});
    socket.send(Message::text(frame.to_string())).await.unwrap();
    while let Some(frame) = next_json(socket).await {
        if frame["type"] == "joined" {
            return;
        }
    }
    panic!("connection ended before joining {room}");
}

fn micros(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

async fn ingest(url: &str, senders: usize, rooms: usize, window: usize, seconds: u64) {
    let http = reqwest::Client::new();
    let run = run_id();
    let owner = register(&http, url, &format!("lt{run}-owner")).await;
    let room_names: Vec<String> = (0..rooms).map(|r| format!("lt{run}-{r}")).collect();
    for name in &room_names {
        create_room(&http, url, &owner, name).await;
    }
    let mut tokens = Vec::new();
    for s in 0..senders {
        tokens.push(register(&http, url, &format!("lt{run}-s{s}")).await);
    }
    let acked = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(s, token)| {
            let (url, room) = (url.to_string(), room_names[s % rooms].clone());
            let (acked, errors, latency) = (acked.clone(), errors.clone(), latency.clone());
            tokio::spawn(async move {
                let mut socket = connect(&url, &token).await;
                let mut in_flight: HashMap<String, Instant> = HashMap::new();
                let mut local = Histogram::<u64>::new(3).unwrap();
                let mut n = 0u64;
                loop {
                    while in_flight.len() < window && Instant::now() < deadline {
                        let id = format!("s{s}-{n}");
                        n += 1;
                        let frame = json!({"type": "send", "room": room, "client_id": id, "body": format!("load {n}")});
                        socket.send(Message::text(frame.to_string())).await.unwrap();
                        in_flight.insert(id, Instant::now());
                    }
                    if in_flight.is_empty() {
                        break;
                    }
                    let Some(frame) = next_json(&mut socket).await else { break };
                    let id = frame["client_id"].as_str().unwrap_or_default();
                    if let Some(sent) = in_flight.remove(id) {
                        if frame["type"] == "ack" {
                            acked.fetch_add(1, Ordering::Relaxed);
                            local.record(sent.elapsed().as_micros() as u64).unwrap();
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                latency.lock().unwrap().add(&local).unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let acked = acked.load(Ordering::Relaxed);
    let errors = errors.load(Ordering::Relaxed);
    let latency = latency.lock().unwrap();
    let per_second = acked as f64 / elapsed;
    let (p50, p99, p999) = (
        micros(&latency, 0.5),
        micros(&latency, 0.99),
        micros(&latency, 0.999),
    );
    println!(
        "ingest: {per_second:.0} durable messages/s ({acked} in {elapsed:.1} s), post→ack p50 {p50:.1} ms p99 {p99:.1} ms, {errors} errors"
    );
    println!("| senders | rooms | window | messages/s | p50 ms | p99 ms | p99.9 ms | max ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {senders} | {rooms} | {window} | {per_second:.0} | {p50:.1} | {p99:.1} | {p999:.1} | {:.1} |",
        latency.max() as f64 / 1000.0
    );
    if acked == 0 || errors > 0 {
        eprintln!("ingest: FAILED (nothing acknowledged, or refusals)");
        std::process::exit(1);
    }
}

async fn fanout(url: &str, members: usize, senders: usize, rate: u64, seconds: u64) {
    let http = reqwest::Client::new();
    let run = run_id();
    let room = format!("lt{run}-fan");
    let owner = register(&http, url, &format!("lt{run}-owner")).await;
    create_room(&http, url, &owner, &room).await;
    // Members share a handful of accounts: connections, not registrations, are measured.
    let member_tokens: Vec<String> = {
        let mut tokens = Vec::new();
        for m in 0..members.min(10) {
            tokens.push(register(&http, url, &format!("lt{run}-m{m}")).await);
        }
        tokens
    };
    let expected = rate * seconds;
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new(3).unwrap()));
    let lost = Arc::new(AtomicU64::new(0));
    let duplicated = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));

    let mut member_tasks = Vec::new();
    for m in 0..members {
        let mut socket = connect(url, &member_tokens[m % member_tokens.len()]).await;
        join(&mut socket, &room).await;
        let (latency, lost, duplicated, delivered) = (
            latency.clone(),
            lost.clone(),
            duplicated.clone(),
            delivered.clone(),
        );
        member_tasks.push(tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            let mut local = Histogram::<u64>::new(3).unwrap();
            let idle = Duration::from_secs(5);
            while (seen.len() as u64) < expected {
                let Ok(Some(frame)) = tokio::time::timeout(idle, next_json(&mut socket)).await
                else {
                    break;
                };
                if frame["type"] != "message" {
                    continue;
                }
                let body = frame["body"].as_str().unwrap_or_default();
                let sent: u64 = body
                    .split(' ')
                    .next()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                if !seen.insert(frame["client_id"].as_str().unwrap_or_default().to_string()) {
                    duplicated.fetch_add(1, Ordering::Relaxed);
                }
                local.record(now_micros().saturating_sub(sent)).unwrap();
            }
            delivered.fetch_add(seen.len() as u64, Ordering::Relaxed);
            lost.fetch_add(
                expected.saturating_sub(seen.len() as u64),
                Ordering::Relaxed,
            );
            latency.lock().unwrap().add(&local).unwrap();
        }));
    }

    let started = Instant::now();
    let per_sender = rate / senders as u64;
    let sender_tasks: Vec<_> = (0..senders)
        .map(|s| {
            let url = url.to_string();
            let room = room.clone();
            let token = member_tokens[s % member_tokens.len()].clone();
            tokio::spawn(async move {
                let socket = connect(&url, &token).await;
                let (mut write, mut read) = socket.split();
                // Acks are read and dropped, so the server never waits on this socket.
                tokio::spawn(async move { while read.next().await.is_some() {} });
                let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_sender as f64));
                for n in 0..per_sender * seconds {
                    tick.tick().await;
                    let frame = json!({"type": "send", "room": room, "client_id": format!("f{s}-{n}"), "body": format!("{} {n}", now_micros())});
                    if write.send(Message::text(frame.to_string())).await.is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    for task in sender_tasks {
        task.await.unwrap();
    }
    for task in member_tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let latency = latency.lock().unwrap();
    let per_second = delivered.load(Ordering::Relaxed) as f64 / elapsed;
    let (p50, p99, p999) = (
        micros(&latency, 0.5),
        micros(&latency, 0.99),
        micros(&latency, 0.999),
    );
    let (lost, duplicated) = (
        lost.load(Ordering::Relaxed),
        duplicated.load(Ordering::Relaxed),
    );
    println!(
        "fanout: {per_second:.0} deliveries/s to {members} members at {rate} posts/s, send→receive p50 {p50:.1} ms p99 {p99:.1} ms p99.9 {p999:.1} ms, lost {lost}, duplicated {duplicated}"
    );
    println!(
        "| members | posts/s | deliveries/s | p50 ms | p99 ms | p99.9 ms | lost | duplicated |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    println!("| {members} | {rate} | {per_second:.0} | {p50:.1} | {p99:.1} | {p999:.1} | {lost} | {duplicated} |");
    if lost + duplicated > 0 {
        eprintln!("fanout: FAILED (messages lost or duplicated)");
        std::process::exit(1);
    }
}

/// Resident memory of a process in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn connections(url: &str, count: usize, rate: u64, hold: u64, server_pid: Option<u32>) {
    let http = reqwest::Client::new();
    let token = register(&http, url, &format!("lt{}-idle", run_id())).await;
    let before = server_pid.and_then(rss_kib);
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        tick.tick().await;
        let mut socket = connect(url, &token).await;
        // The hello proves the server authenticated and set up the connection.
        let hello = next_json(&mut socket).await.unwrap_or_default();
        assert_eq!(hello["type"], "hello", "{hello}");
        sockets.push(socket);
    }
    let ramp = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let after = server_pid.and_then(rss_kib);
    // Every connection must still be alive after the hold.
    let mut alive = 0;
    for socket in &mut sockets {
        socket
            .send(Message::text(json!({"type": "ping"}).to_string()))
            .await
            .ok();
    }
    for socket in &mut sockets {
        while let Some(frame) = next_json(socket).await {
            if frame["type"] == "pong" {
                alive += 1;
                break;
            }
        }
    }
    let per_connection = match (before, after) {
        (Some(before), Some(after)) => format!(
            "{:.1} KiB",
            after.saturating_sub(before) as f64 / count as f64
        ),
        _ => "n/a (no --server-pid)".to_string(),
    };
    println!(
        "connections: {alive}/{count} held for {hold} s, opened at {:.0}/s, server RSS per connection {per_connection}",
        count as f64 / ramp
    );
    println!("| connections | connect rate /s | alive after hold | RSS before KiB | RSS after KiB | per connection |");
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "| {count} | {:.0} | {alive} | {} | {} | {per_connection} |",
        count as f64 / ramp,
        before.map_or("n/a".into(), |v| v.to_string()),
        after.map_or("n/a".into(), |v| v.to_string()),
    );
    if alive != count {
        eprintln!("connections: FAILED ({} connections died)", count - alive);
        std::process::exit(1);
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let url = cli.url.trim_end_matches('/');
    match cli.scenario {
        Scenario::Ingest {
            senders,
            rooms,
            window,
            seconds,
        } => ingest(url, senders, rooms.max(1), window.max(1), seconds).await,
        Scenario::Connections {
            count,
            rate,
            hold,
            server_pid,
        } => connections(url, count.max(1), rate.max(1), hold, server_pid).await,
        Scenario::Fanout {
            members,
            senders,
            rate,
            seconds,
        } => {
            fanout(
                url,
                members.max(1),
                senders.max(1),
                rate.max(senders.max(1) as u64),
                seconds,
            )
            .await
        }
    }
}
