//! Banter's load generator. It talks to a running server through the public API only:
//! `/api/register`, `/api/create_room`, then `/ws`. `scripts/bench.sh` starts a pinned
//! release server and runs a scenario against it; see docs/benchmarks.md.
//!
//! Against a server of your own, lift its per-user and per-address limits first (the
//! generator posts far faster than people do, from one address, with many sockets per
//! account): start it with the flags `load_generator_flags` lists in
//! `scripts/local-server.sh`.
//!
//! Each scenario prints a one-line summary and a Markdown table, and exits non-zero if
//! a message was lost, duplicated or refused, or a connection failed.

use std::net::IpAddr;

use clap::{Parser, Subcommand};

mod client;
mod connections;
mod fanout;
mod ingest;
mod procstat;
mod report;
mod search;
mod uploads;

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
    /// Many senders across many rooms: durable messages per second and post→ack latency.
    Ingest {
        #[arg(long, default_value_t = 20)]
        senders: usize,
        #[arg(long, default_value_t = 4)]
        rooms: usize,
        /// Messages each sender keeps unacknowledged (when no --rate is given).
        #[arg(long, default_value_t = 16)]
        window: usize,
        /// Post at this total rate per second instead of as fast as acks allow.
        #[arg(long)]
        rate: Option<u64>,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The server's process id, for its CPU time per message.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// M members in one room, S senders posting at a fixed total rate, one step per
    /// rate: deliveries per second, send→receive latency, lost and duplicated messages.
    Fanout {
        #[arg(long, default_value_t = 100)]
        members: usize,
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Total posts per second; several (comma-separated) run as successive steps.
        #[arg(long, value_delimiter = ',', default_value = "200")]
        rate: Vec<u64>,
        /// Seconds per step.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Cluster mode: the nodes' base URLs (comma-separated); members and senders
        /// are spread over them in turn. Default: --url alone.
        #[arg(long, value_delimiter = ',')]
        urls: Vec<String>,
        /// The server processes' ids (one per URL, same order), for each one's CPU
        /// time per delivery it made.
        #[arg(long, value_delimiter = ',')]
        server_pid: Vec<u32>,
    },
    /// N authenticated idle connections opened at a set rate and held: connect rate and
    /// the server's resident memory per connection.
    Connections {
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// New connections per second, over all processes.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Seconds to hold them all open before measuring.
        #[arg(long, default_value_t = 5)]
        hold: u64,
        /// Worker processes to spread the connections over.
        #[arg(long, default_value_t = 1)]
        procs: usize,
        /// The server's process id, to read its resident memory.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// One account's searches, each asked ROUNDS times: `/api/search` latency per query.
    Search {
        #[arg(long)]
        username: String,
        #[arg(long, env = "LOADTEST_PASSWORD", hide_env_values = true)]
        password: String,
        /// A query as typed in the search box; repeat for several.
        #[arg(long = "query", required = true)]
        queries: Vec<String>,
        #[arg(long, default_value_t = 50)]
        rounds: usize,
    },
    /// Files: one big upload streamed (the server's RSS growth during it), many files
    /// of one size (files and MB per second), then photos (server CPU per image).
    Uploads {
        /// MB of the streamed file; 0 skips it.
        #[arg(long, default_value_t = 50)]
        big_mb: u64,
        /// Bytes of each of the many files.
        #[arg(long, default_value_t = 1_000_000)]
        size: usize,
        #[arg(long, default_value_t = 200)]
        count: usize,
        /// Uploads in flight at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Photos (3000×2000 PNG) uploaded one at a time; 0 skips them.
        #[arg(long, default_value_t = 10)]
        images: usize,
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// One process's share of `connections` (started by it; talks over stdin/stdout).
    #[command(hide = true)]
    ConnectionsWorker {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        rate: f64,
        #[arg(long)]
        source: Option<IpAddr>,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let url = cli.url.trim_end_matches('/');
    let ok = match cli.scenario {
        Scenario::Ingest {
            senders,
            rooms,
            window,
            rate,
            seconds,
            server_pid,
        } => {
            let args = ingest::Args {
                senders: senders.max(1),
                rooms: rooms.max(1),
                window: window.max(1),
                rate: rate.filter(|&r| r > 0),
                seconds,
                server_pid,
            };
            ingest::run(url, args).await
        }
        Scenario::Fanout {
            members,
            senders,
            rate,
            seconds,
            urls,
            server_pid,
        } => {
            let urls: Vec<String> = if urls.is_empty() {
                vec![url.to_string()]
            } else {
                urls.iter()
                    .map(|url| url.trim_end_matches('/').to_string())
                    .collect()
            };
            let args = fanout::Args {
                members: members.max(1),
                senders: senders.max(1),
                rates: rate,
                seconds,
                server_pids: server_pid,
            };
            fanout::run(&urls, args).await
        }
        Scenario::Connections {
            count,
            rate,
            hold,
            procs,
            server_pid,
        } => {
            let args = connections::Args {
                count: count.max(1),
                rate: rate.max(1),
                hold,
                procs: procs.max(1),
                server_pid,
            };
            connections::run(url, args).await
        }
        Scenario::Search {
            username,
            password,
            queries,
            rounds,
        } => {
            let args = search::Args {
                username,
                password,
                queries,
                rounds: rounds.max(1),
            };
            search::run(url, args).await
        }
        Scenario::Uploads {
            big_mb,
            size,
            count,
            concurrency,
            images,
            server_pid,
        } => {
            let args = uploads::Args {
                big_mb,
                size,
                count,
                concurrency,
                images,
                server_pid,
            };
            uploads::run(url, args).await
        }
        Scenario::ConnectionsWorker {
            count,
            rate,
            source,
        } => {
            connections::worker(url, count, rate, source).await;
            true
        }
    };
    if !ok {
        eprintln!("loadtest: FAILED");
        std::process::exit(1);
    }
}
