//! `fanout`: M members in one room and S senders posting at a fixed total rate, one
//! step per rate. Every message carries its send time; every member must receive every
//! message exactly once. Given several nodes of a cluster, members and senders are
//! spread over them in turn, and each node's CPU is reported against the deliveries it
//! made.

use std::{
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
    pub members: usize,
    pub senders: usize,
    pub rates: Vec<u64>,
    pub seconds: u64,
    /// One per node, in the order of the URLs (may be empty).
    pub server_pids: Vec<u32>,
}

struct Step {
    rate: u64,
    deliveries_per_second: f64,
    latency: Histogram<u64>,
    lost: u64,
    duplicated: u64,
    /// Posts the server refused (`rate_limited`: shed because the room was too busy).
    refused: u64,
    /// Seconds from the last post sent to the last delivery anywhere: how long members
    /// took to catch up once the load ended.
    drain: f64,
    /// Per node: CPU seconds used, and deliveries made to its members.
    server_cpu: Vec<Option<f64>>,
    node_deliveries: Vec<u64>,
    generator_cpu: Option<f64>,
    elapsed: f64,
}

impl Step {
    /// Each node's figure, `a / b` for several.
    fn per_node(&self, figure: impl Fn(f64, u64) -> String) -> String {
        let figures: Vec<String> = self
            .server_cpu
            .iter()
            .zip(&self.node_deliveries)
            .filter_map(|(cpu, deliveries)| Some(figure((*cpu)?, *deliveries)))
            .collect();
        report::or_na((!figures.is_empty()).then(|| figures.join(" / ")))
    }
}

/// Runs every step; `false` when any lost or duplicated a message.
pub async fn run(urls: &[String], args: Args) -> bool {
    let url = urls[0].as_str();
    let http = reqwest::Client::new();
    let run = client::run_id();
    let owner = client::register(&http, url, &format!("lt{run}-owner")).await;
    // Members share a handful of accounts: connections, not registrations, are measured.
    let mut tokens = Vec::new();
    for m in 0..args.members.clamp(1, 10) {
        tokens.push(client::register(&http, url, &format!("lt{run}-m{m}")).await);
    }
    let mut steps = Vec::new();
    for (i, &rate) in args.rates.iter().enumerate() {
        let room = format!("lt{run}-fan{i}");
        client::create_room(&http, url, &owner, &room).await;
        let step = step(urls, &args, &tokens, &room, i, rate).await;
        println!(
            "fanout: {:.0} deliveries/s to {} members at {} posts/s, send→receive p50 {:.1} ms p99 {:.1} ms p99.9 {:.1} ms, lost {}, duplicated {}, refused {}, caught up {:.1} s after the last post",
            step.deliveries_per_second,
            args.members,
            rate,
            report::ms(&step.latency, 0.5),
            report::ms(&step.latency, 0.99),
            report::ms(&step.latency, 0.999),
            step.lost,
            step.duplicated,
            step.refused,
            step.drain,
        );
        steps.push(step);
    }
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            vec![
                args.members.to_string(),
                s.rate.to_string(),
                format!("{:.0}", s.deliveries_per_second),
                format!("{:.1}", report::ms(&s.latency, 0.5)),
                format!("{:.1}", report::ms(&s.latency, 0.99)),
                format!("{:.1}", report::ms(&s.latency, 0.999)),
                s.lost.to_string(),
                s.duplicated.to_string(),
                s.refused.to_string(),
                format!("{:.1}", s.drain),
                s.per_node(|cpu, deliveries| {
                    format!("{:.2} µs", cpu * 1e6 / deliveries.max(1) as f64)
                }),
                s.per_node(|cpu, _| format!("{:.0} %", 100.0 * cpu / s.elapsed)),
                report::or_na(
                    s.generator_cpu
                        .map(|cpu| format!("{:.0} %", 100.0 * cpu / s.elapsed)),
                ),
            ]
        })
        .collect();
    report::table(
        &[
            "members",
            "posts/s",
            "deliveries/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "lost",
            "duplicated",
            "refused",
            "caught up s",
            "server CPU per delivery",
            "server CPU",
            "generator CPU",
        ],
        &rows,
    );
    let refused: u64 = steps.iter().map(|s| s.refused).sum();
    if refused > 0 {
        eprintln!(
            "fanout: the server refused {refused} posts (shed because the room was too busy, \
             or the flood guard is not lifted)"
        );
    }
    steps.iter().all(|s| s.lost + s.duplicated == 0)
}

/// Parses the client ids senders give, `f{step}-{sender}-{n}`, into (sender, n). The step
/// is part of the id because the senders post as the same accounts in every step, and a
/// repeated (author, client_id) is, rightly, stored once and not delivered again.
fn message_key(client_id: &str) -> Option<(u64, u64)> {
    let mut parts = client_id.strip_prefix('f')?.split('-');
    let (_step, sender, n) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((sender.parse().ok()?, n.parse().ok()?))
}

/// The messages one member has received, a bit per (sender, n). A hash set of 120,000
/// keys per member took a fifth of the generator's CPU at 400,000 deliveries/s.
struct Seen {
    bits: Vec<u64>,
    senders: u64,
    per_sender: u64,
    count: u64,
}

impl Seen {
    fn new(senders: u64, per_sender: u64) -> Seen {
        Seen {
            bits: vec![0; (senders * per_sender).div_ceil(64) as usize],
            senders,
            per_sender,
            count: 0,
        }
    }

    /// Records a message: `Some(true)` the first time, `Some(false)` for a duplicate,
    /// `None` for a key that no sender of this step sends.
    fn insert(&mut self, (sender, n): (u64, u64)) -> Option<bool> {
        if sender >= self.senders || n >= self.per_sender {
            return None;
        }
        let index = sender * self.per_sender + n;
        let word = &mut self.bits[(index / 64) as usize];
        let bit = 1 << (index % 64);
        let fresh = *word & bit == 0;
        *word |= bit;
        self.count += u64::from(fresh);
        Some(fresh)
    }
}

struct Tally {
    latency: Histogram<u64>,
    lost: u64,
    duplicated: u64,
    delivered: u64,
    /// Deliveries per node.
    by_node: Vec<u64>,
}

async fn step(
    urls: &[String],
    args: &Args,
    tokens: &[String],
    room: &str,
    index: usize,
    rate: u64,
) -> Step {
    let per_sender = (rate / args.senders as u64).max(1);
    let expected = per_sender * args.senders as u64 * args.seconds;
    let (senders, seconds) = (args.senders as u64, args.seconds);
    let tally = Arc::new(Mutex::new(Tally {
        latency: report::histogram(),
        lost: 0,
        duplicated: 0,
        delivered: 0,
        by_node: vec![0; urls.len()],
    }));

    // What each member must receive; lowered by the posts refused once they are known.
    let (target_tx, target_rx) = tokio::sync::watch::channel(expected);
    let mut members = Vec::new();
    for m in 0..args.members {
        let node = m % urls.len();
        let mut socket = client::connect(&urls[node], &tokens[m % tokens.len()], None)
            .await
            .expect("member connects");
        client::join(&mut socket, room).await;
        let tally = tally.clone();
        let mut target = target_rx.clone();
        members.push(tokio::spawn(async move {
            let mut seen = Seen::new(senders, per_sender * seconds);
            let mut duplicated = 0;
            let mut latency = report::histogram();
            let mut last = 0;
            // Long enough for any honest delay; a member that hears nothing this long
            // has lost the rest.
            let idle = Duration::from_secs(10);
            // Until every stored post is in: all sent, less those the server refused
            // (known once every sender has its answers).
            while seen.count < (*target.borrow()).min(expected) {
                let next = tokio::select! {
                    next = tokio::time::timeout(idle, client::next_text(&mut socket)) => next,
                    _ = target.changed() => continue,
                };
                let Ok(Some(text)) = next else {
                    break;
                };
                let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
                    continue;
                };
                if frame.kind != "message" {
                    continue;
                }
                let Some(fresh) = frame
                    .client_id
                    .as_deref()
                    .and_then(message_key)
                    .and_then(|key| seen.insert(key))
                else {
                    continue;
                };
                if !fresh {
                    duplicated += 1;
                }
                let sent: u64 = frame
                    .body
                    .as_deref()
                    .and_then(|body| body.split(' ').next()?.parse().ok())
                    .unwrap_or(0);
                last = client::now_micros();
                latency.saturating_record(last.saturating_sub(sent));
            }
            let mut tally = tally.lock().expect("tally");
            tally.latency.add(&latency).expect("same bounds");
            tally.duplicated += duplicated;
            tally.delivered += seen.count;
            tally.by_node[node] += seen.count;
            tally.lost += (*target.borrow()).min(expected).saturating_sub(seen.count);
            last
        }));
    }

    // Every sender is connected and greeted before the clock starts, so that setting
    // connections up is not measured as delivery latency.
    let mut sockets = Vec::new();
    for s in 0..args.senders {
        let mut socket = client::connect(&urls[s % urls.len()], &tokens[s % tokens.len()], None)
            .await
            .expect("sender connects");
        client::until(&mut socket, "hello")
            .await
            .expect("sender greeted");
        sockets.push(socket);
    }

    let server_cpu: Vec<CpuMeter> = args
        .server_pids
        .iter()
        .map(|&pid| CpuMeter::start(pid))
        .collect();
    let generator_cpu = CpuMeter::start(std::process::id());
    let started = Instant::now();
    let started_micros = client::now_micros();
    let period = Duration::from_secs_f64(1.0 / per_sender as f64);
    let mut senders = Vec::new();
    for (s, socket) in sockets.into_iter().enumerate() {
        let (mut write, mut read) = socket.split();
        let (room, seconds) = (room.to_string(), args.seconds);
        // Acks are read so the server never waits on this socket; refusals are
        // counted. Every post gets an answer, so this ends when all are answered.
        let posts = per_sender * seconds;
        let acks = tokio::spawn(async move {
            let (mut answered, mut refused) = (0u64, 0u64);
            while answered < posts {
                let Some(Ok(message)) = read.next().await else {
                    break;
                };
                if let Message::Text(text) = message {
                    match serde_json::from_str::<Frame>(&text) {
                        Ok(f) if f.kind == "ack" => answered += 1,
                        Ok(f) if f.kind == "error" => {
                            answered += 1;
                            refused += 1;
                        }
                        _ => {}
                    }
                }
            }
            (refused, read)
        });
        // Senders take turns within each period, so posts arrive evenly spread.
        let first = tokio::time::Instant::from_std(started)
            + period.mul_f64(s as f64 / args.senders as f64);
        senders.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(first, period);
            for n in 0..posts {
                tick.tick().await;
                let frame = client::send_frame(
                    &room,
                    &format!("f{index}-{s}-{n}"),
                    &format!("{} {n}", client::now_micros()),
                );
                if write.send(frame).await.is_err() {
                    break;
                }
            }
            (write, acks, client::now_micros())
        }));
    }
    let mut open = Vec::new();
    let mut sending_ended = 0;
    for sender in senders {
        let (write, acks, ended) = sender.await.expect("sender task");
        sending_ended = sending_ended.max(ended);
        open.push((write, acks));
    }
    let mut refused = 0;
    let mut sockets = Vec::new();
    for (write, acks) in open {
        let (refused_here, read) = acks.await.expect("ack task");
        refused += refused_here;
        sockets.push((write, read));
    }
    let _ = target_tx.send(expected - refused);
    // From the start to the last delivery anywhere (wall-clock microseconds, the clock
    // the messages are stamped with).
    let mut finished = 0;
    for member in members {
        finished = finished.max(member.await.expect("member task"));
    }
    let elapsed = match finished.checked_sub(started_micros) {
        Some(micros) if micros > 0 => micros as f64 / 1e6,
        _ => started.elapsed().as_secs_f64(),
    };
    let drain = finished.saturating_sub(sending_ended) as f64 / 1e6;
    let server_cpu = server_cpu.iter().map(CpuMeter::used).collect();
    let generator_cpu = generator_cpu.used();
    for (mut write, _read) in sockets {
        let _ = write.close().await;
    }
    let tally = Arc::try_unwrap(tally)
        .ok()
        .expect("members done")
        .into_inner()
        .expect("tally");
    Step {
        rate: per_sender * args.senders as u64,
        deliveries_per_second: tally.delivered as f64 / elapsed,
        latency: tally.latency,
        lost: tally.lost,
        duplicated: tally.duplicated,
        refused,
        drain,
        server_cpu,
        node_deliveries: tally.by_node,
        generator_cpu,
        elapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::{message_key, Seen};

    #[test]
    fn message_keys_name_sender_and_number() {
        assert_eq!(message_key("f0-0-0"), Some((0, 0)));
        assert_eq!(message_key("f3-1-5"), Some((1, 5)));
        assert_eq!(message_key("x0-1-5"), None);
        assert_eq!(message_key("f0-1"), None);
        assert_eq!(message_key("f0-1-2-3"), None);
    }

    #[test]
    fn seen_counts_each_message_once_and_flags_repeats() {
        let mut seen = Seen::new(3, 100);
        assert_eq!(seen.insert((0, 0)), Some(true));
        assert_eq!(seen.insert((2, 99)), Some(true));
        assert_eq!(seen.insert((1, 0)), Some(true), "another sender's 0th");
        assert_eq!(seen.insert((0, 0)), Some(false));
        assert_eq!(seen.count, 3);
        assert_eq!(seen.insert((3, 0)), None, "no fourth sender");
        assert_eq!(seen.insert((0, 100)), None, "past the last number");
    }
}
