//! `connections`: N authenticated idle connections, opened at a set rate and held,
//! spread over worker processes (each process may hold at most 20,000 open files here)
//! and, against a loopback server, over source addresses 127.0.0.1, .2, … so no one
//! address runs out of ephemeral ports. Reports the connect rate and, given the
//! server's pid, its resident memory per connection.

use std::{
    net::{IpAddr, Ipv4Addr},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::SinkExt;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
    sync::Semaphore,
};
use tokio_tungstenite::tungstenite::Message;

use crate::{client, procstat, report};

pub struct Args {
    pub count: usize,
    pub rate: u64,
    pub hold: u64,
    pub procs: usize,
    pub server_pid: Option<u32>,
}

/// Handshakes in flight at once per worker.
const CONCURRENT_CONNECTS: usize = 64;

struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    async fn say(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("worker alive");
        self.stdin.flush().await.expect("worker alive");
    }

    /// The worker's next report `word n…`, as numbers.
    async fn expect(&mut self, word: &str) -> Vec<f64> {
        let line = self
            .lines
            .next_line()
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("a worker ended before saying {word}"));
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some(word), "worker said {line:?}");
        parts.filter_map(|p| p.parse().ok()).collect()
    }
}

/// `false` when a connection failed to open or died while held.
pub async fn run(url: &str, args: Args) -> bool {
    let http = reqwest::Client::new();
    let token = client::register(&http, url, &format!("lt{}-idle", client::run_id())).await;
    let before = args.server_pid.and_then(procstat::rss_kib);
    // One source address per process, 127.0.0.1 up to 127.0.0.64.
    let procs = args.procs.clamp(1, args.count.min(64));
    let loopback = url_is_loopback(url);

    let exe = std::env::current_exe().expect("own path");
    let mut workers = Vec::new();
    for k in 0..procs {
        let count = args.count / procs + usize::from(k < args.count % procs);
        let mut command = Command::new(&exe);
        command
            .args(["--url", url, "connections-worker"])
            .args(["--count", &count.to_string()])
            .args(["--rate", &(args.rate as f64 / procs as f64).to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if loopback {
            command.args([
                "--source",
                &Ipv4Addr::new(127, 0, 0, 1 + k as u8).to_string(),
            ]);
        }
        let mut child = command.spawn().expect("worker starts");
        let stdin = child.stdin.take().expect("piped");
        let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut worker = Worker {
            child,
            stdin,
            lines,
        };
        // The token goes over a pipe: command lines are visible to every user.
        worker.say(&token).await;
        workers.push(worker);
    }

    let mut opened = 0.0;
    let mut ramp: f64 = 0.0;
    for worker in &mut workers {
        let ready = worker.expect("ready").await;
        opened += ready[0];
        ramp = ramp.max(ready[1]);
    }
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let after = args.server_pid.and_then(procstat::rss_kib);
    let mut alive = 0.0;
    for worker in &mut workers {
        worker.say("check").await;
    }
    for worker in &mut workers {
        alive += worker.expect("alive").await[0];
    }
    for mut worker in workers {
        worker.say("exit").await;
        let _ = worker.child.wait().await;
    }

    let (opened, alive) = (opened as usize, alive as usize);
    let rate = opened as f64 / ramp.max(1e-9);
    let per_connection = match (before, after) {
        (Some(before), Some(after)) => Some(format!(
            "{:.1} KiB",
            after.saturating_sub(before) as f64 / opened.max(1) as f64
        )),
        _ => None,
    };
    println!(
        "connections: {alive}/{} held for {} s over {procs} processes, opened at {rate:.0}/s, server RSS per connection {}",
        args.count,
        args.hold,
        report::or_na(per_connection.clone())
    );
    report::table(
        &[
            "connections",
            "processes",
            "connect rate /s",
            "alive after hold",
            "server RSS before KiB",
            "after KiB",
            "per connection",
        ],
        &[vec![
            args.count.to_string(),
            procs.to_string(),
            format!("{rate:.0}"),
            alive.to_string(),
            report::or_na(before.map(|v| v.to_string())),
            report::or_na(after.map(|v| v.to_string())),
            report::or_na(per_connection),
        ]],
    );
    alive == args.count
}

fn url_is_loopback(url: &str) -> bool {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .and_then(|host| host.parse::<Ipv4Addr>().ok())
        .is_some_and(|ip| ip.is_loopback())
}

/// The worker side: reads the token from stdin, opens `count` connections at `rate`,
/// says `ready <opened> <seconds>`, and on `check` pings each and says `alive <n>`.
pub async fn worker(url: &str, count: usize, rate: f64, source: Option<IpAddr>) {
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let token = stdin
        .next_line()
        .await
        .ok()
        .flatten()
        .expect("a token on stdin");
    let token = Arc::new(token);
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    let gate = Arc::new(Semaphore::new(CONCURRENT_CONNECTS));
    let mut opening = Vec::with_capacity(count);
    for _ in 0..count {
        tick.tick().await;
        let permit = gate.clone().acquire_owned().await.expect("never closed");
        let (url, token) = (url.to_string(), token.clone());
        opening.push(tokio::spawn(async move {
            let _permit = permit;
            let mut socket = client::connect(&url, &token, source).await.ok()?;
            // The hello proves the server authenticated and set the connection up.
            client::until(&mut socket, "hello").await?;
            Some(socket)
        }));
    }
    let mut sockets = Vec::with_capacity(count);
    for task in opening {
        if let Ok(Some(socket)) = task.await {
            sockets.push(socket);
        }
    }
    println!(
        "ready {} {}",
        sockets.len(),
        started.elapsed().as_secs_f64()
    );

    let _ = stdin.next_line().await; // "check"
    let checks: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let ping = serde_json::json!({"type": "ping"}).to_string();
                socket.send(Message::text(ping)).await.ok()?;
                let pong = tokio::time::timeout(
                    Duration::from_secs(30),
                    client::until(&mut socket, "pong"),
                );
                pong.await.ok().flatten()?;
                Some(socket)
            })
        })
        .collect();
    let mut alive = Vec::new();
    for check in checks {
        if let Ok(Some(socket)) = check.await {
            alive.push(socket);
        }
    }
    println!("alive {}", alive.len());
    let _ = stdin.next_line().await; // "exit"
                                     // Closing politely lets the server account for each connection as it goes.
    for mut socket in alive {
        let _ = socket.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::url_is_loopback;

    #[test]
    fn loopback_urls_are_recognised() {
        assert!(url_is_loopback("http://127.0.0.1:3000"));
        assert!(url_is_loopback("http://127.0.0.1"));
        assert!(!url_is_loopback("http://chat.example.com:3000"));
        assert!(!url_is_loopback("http://10.0.0.1:3000/"));
    }
}
