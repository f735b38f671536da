//! `ingest`: many senders across many rooms, each keeping a window of unacknowledged
//! messages (as fast as acks allow), or all together posting at a fixed total rate.
//! An ack means the message is durable, so acks per second is the durable rate.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;

use crate::{
    client::{self, Frame},
    procstat::CpuMeter,
    report,
};

pub struct Args {
    pub senders: usize,
    pub rooms: usize,
    pub window: usize,
    /// Total posts per second; `None` for as fast as the windows allow.
    pub rate: Option<u64>,
    pub seconds: u64,
    pub server_pid: Option<u32>,
}

/// The most a paced sender keeps unacknowledged before it stops to wait: a server that
/// cannot keep up shows as latency, not as unbounded memory here.
const PACED_WINDOW: usize = 10_000;
/// How long to wait for the last acks after sending stops.
const DRAIN: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Tally {
    acked: u64,
    refused: u64,
    unanswered: u64,
}

/// `false` when a message was refused or never acknowledged.
pub async fn run(url: &str, args: Args) -> bool {
    let http = reqwest::Client::new();
    let run = client::run_id();
    let owner = client::register(&http, url, &format!("lt{run}-owner")).await;
    let rooms: Vec<String> = (0..args.rooms).map(|r| format!("lt{run}-{r}")).collect();
    for room in &rooms {
        client::create_room(&http, url, &owner, room).await;
    }
    let mut sockets = Vec::new();
    for s in 0..args.senders {
        let token = client::register(&http, url, &format!("lt{run}-s{s}")).await;
        sockets.push(
            client::connect(url, &token, None)
                .await
                .expect("sender connects"),
        );
    }

    let tally = Arc::new(Mutex::new(Tally::default()));
    let latency = Arc::new(Mutex::new(report::histogram()));
    let server_cpu = args.server_pid.map(CpuMeter::start);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let (window, interval) = match args.rate {
        Some(rate) => (
            PACED_WINDOW,
            Some(Duration::from_secs_f64(args.senders as f64 / rate as f64)),
        ),
        None => (args.window, None),
    };
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(s, socket)| {
            let room = rooms[s % rooms.len()].clone();
            let (tally, latency) = (tally.clone(), latency.clone());
            tokio::spawn(async move {
                let (local, counts) = sender(socket, s, room, window, interval, deadline).await;
                latency
                    .lock()
                    .expect("latency")
                    .add(&local)
                    .expect("same bounds");
                let mut tally = tally.lock().expect("tally");
                tally.acked += counts.acked;
                tally.refused += counts.refused;
                tally.unanswered += counts.unanswered;
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("sender task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu = server_cpu.and_then(|meter| meter.used());
    let tally = tally.lock().expect("tally");
    let latency = latency.lock().expect("latency");
    let per_second = tally.acked as f64 / elapsed;
    let (p50, p99, p999) = (
        report::ms(&latency, 0.5),
        report::ms(&latency, 0.99),
        report::ms(&latency, 0.999),
    );
    let offered = args
        .rate
        .map_or("as fast as acks allow".to_string(), |r| format!("{r}/s"));
    println!(
        "ingest: {per_second:.0} durable messages/s ({} in {elapsed:.1} s, offered {offered}), post→ack p50 {p50:.1} ms p99 {p99:.1} ms, {} refused, {} unanswered",
        tally.acked, tally.refused, tally.unanswered
    );
    report::table(
        &[
            "senders",
            "rooms",
            "offered",
            "messages/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "server CPU per message",
        ],
        &[vec![
            args.senders.to_string(),
            args.rooms.to_string(),
            args.rate
                .map_or(format!("window {}", args.window), |r| format!("{r}/s")),
            format!("{per_second:.0}"),
            format!("{p50:.1}"),
            format!("{p99:.1}"),
            format!("{p999:.1}"),
            format!("{:.1}", latency.max() as f64 / 1000.0),
            report::or_na(
                server_cpu.map(|cpu| format!("{:.1} µs", cpu * 1e6 / tally.acked.max(1) as f64)),
            ),
        ]],
    );
    tally.acked > 0 && tally.refused == 0 && tally.unanswered == 0
}

/// One sender: posts until the deadline (paced by `interval`, or whenever its window
/// has room), then waits for the outstanding acks.
async fn sender(
    socket: client::Socket,
    s: usize,
    room: String,
    window: usize,
    interval: Option<Duration>,
    deadline: Instant,
) -> (Histogram<u64>, Tally) {
    let (mut write, mut read) = socket.split();
    let mut in_flight: HashMap<String, Instant> = HashMap::new();
    let mut latency = report::histogram();
    let mut tally = Tally::default();
    let mut tick = interval.map(tokio::time::interval);
    let mut n = 0u64;
    let mut sending = true;
    loop {
        if sending && Instant::now() >= deadline {
            sending = false;
        }
        if !sending && in_flight.is_empty() {
            break;
        }
        let may_send = sending && in_flight.len() < window;
        tokio::select! {
            // Paced: on each tick. Windowed: whenever the window has room.
            _ = async {
                if let Some(tick) = tick.as_mut() {
                    tick.tick().await;
                }
            }, if may_send => {
                let id = format!("s{s}-{n}");
                n += 1;
                let frame = client::send_frame(&room, &id, &format!("load {n}"));
                if write.send(frame).await.is_err() {
                    break;
                }
                in_flight.insert(id, Instant::now());
            }
            incoming = tokio::time::timeout(DRAIN, read.next()) => {
                let Ok(Some(Ok(Message::Text(text)))) = incoming else {
                    if matches!(incoming, Ok(Some(Ok(_)))) {
                        continue; // pings and the like
                    }
                    break; // closed, failed, or silent for too long
                };
                let Ok(frame) = serde_json::from_str::<Frame>(&text) else { continue };
                let Some(sent) = frame.client_id.as_deref().and_then(|id| in_flight.remove(id)) else {
                    continue;
                };
                if frame.kind == "ack" {
                    tally.acked += 1;
                    latency.saturating_record(sent.elapsed().as_micros() as u64);
                } else {
                    tally.refused += 1;
                }
            }
        }
    }
    tally.unanswered = in_flight.len() as u64;
    let _ = write.close().await;
    (latency, tally)
}
