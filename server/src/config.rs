use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::accounts::Registration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the server can be told at start-up, by flag or by environment variable.
///
/// The site address and root use cargo-leptos's variable names so that
/// `cargo leptos watch` and `cargo leptos serve` configure the server without flags.
#[derive(Clone, Debug, Parser)]
#[command(name = "banter", version, about = "Banter: self-hosted team chat")]
pub struct Config {
    /// Where the data lives: `sqlite://path/to/file.db` (created if missing) or
    /// `mysql://user:password@host/database`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/banter.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Address and port to listen on. Port 0 picks a free port and prints it.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Directory holding the built site (the wasm bundle, CSS and public assets).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Log filter in tracing's `EnvFilter` syntax, e.g. `info` or `info,server=debug`.
    #[arg(
        long,
        env = "BANTER_LOG",
        default_value = "info,sqlx=warn,tower_http=info"
    )]
    pub log: String,

    /// How log lines are written: `text` for people, `json` (one object per line) for
    /// log collectors.
    #[arg(long, env = "BANTER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Serve Prometheus metrics at `/metrics` on this address (e.g. `127.0.0.1:9090`);
    /// a separate listener, so that it need not be reachable from the internet. Off
    /// unless given.
    #[arg(long, env = "BANTER_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// How long a session lasts without being used; each use extends it again.
    #[arg(long, env = "BANTER_SESSION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub session_days: u32,

    /// Mark the session cookie `Secure`. Set it when users reach Banter over HTTPS
    /// (a proxy sending `X-Forwarded-Proto: https` turns it on per request as well).
    #[arg(long, env = "BANTER_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Serve HTTPS (and the WebSocket as wss) on `--addr` with this certificate chain,
    /// a PEM file; needs `--tls-key`. Session cookies are then `Secure` and responses
    /// carry `Strict-Transport-Security`. Renewed files are picked up within a minute.
    #[arg(long, env = "BANTER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of `--tls-cert`, a PEM file (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "BANTER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// With TLS: also listen here for plain HTTP, answering every request with a
    /// permanent redirect to the HTTPS address (e.g. `0.0.0.0:80`).
    #[arg(long, env = "BANTER_REDIRECT_ADDR", requires = "tls_cert")]
    pub redirect_addr: Option<SocketAddr>,

    /// Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed,
    /// as addresses or CIDR blocks (`127.0.0.1`, `10.0.0.0/8`, `::1`), comma-separated.
    /// The client is the right-most address in `X-Forwarded-For` that is not one of
    /// them. From any other peer those headers are ignored.
    #[arg(long, env = "BANTER_TRUSTED_PROXY", value_delimiter = ',', value_parser = crate::client::parse_trusted_proxy)]
    pub trusted_proxy: Vec<ipnet::IpNet>,

    /// The address users type, e.g. `https://chat.example.com`: browsers' `Origin`
    /// must match it on cookie-authenticated requests that change something. Without
    /// it the request's own `Host` is the reference, which is right unless a proxy
    /// rewrites `Host`.
    #[arg(long, env = "BANTER_PUBLIC_ORIGIN", value_parser = crate::origin::parse_public_origin)]
    pub public_origin: Option<String>,

    /// Messages per second each user may send (a token bucket; beyond it, `rate_limited`).
    #[arg(long, env = "BANTER_SEND_RATE", default_value_t = 10.0)]
    pub send_rate: f64,

    /// How many messages above the rate a user may send in a burst.
    #[arg(long, env = "BANTER_SEND_BURST", default_value_t = 20.0)]
    pub send_burst: f64,

    /// Password hashes (sign-ups, log-ins) run at once; more are refused with 503 and
    /// `Retry-After` rather than queued. Default: the number of CPU cores.
    #[arg(long, env = "BANTER_HASHING_CONCURRENCY", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub hashing_concurrency: Option<u64>,

    /// Accounts one client address may create in ten minutes (an IPv6 address counts
    /// by its /64). An office behind one NAT signing up on its first day needs a few.
    #[arg(long, env = "BANTER_REGISTRATIONS_PER_ADDRESS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub registrations_per_address: u32,

    /// Accounts the whole server may create in ten minutes, from all addresses.
    #[arg(long, env = "BANTER_REGISTRATIONS", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub registrations: u32,

    /// Who may create an account on the web: `open` (anyone), `invite` (whoever has a
    /// single-use invitation link from an admin; the very first account needs none) or
    /// `closed` (nobody: accounts are made with `server user add`).
    #[arg(long, env = "BANTER_REGISTRATION", value_enum, default_value_t = Registration::Open)]
    pub registration: Registration,

    /// Instead of serving: an administrative task on the database, then exit.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Open WebSockets one user may have on this server (tabs, devices).
    #[arg(long, env = "BANTER_MAX_CONNECTIONS_PER_USER", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_user: u32,

    /// Open WebSockets one client address (an IPv6 /64) may have on this server.
    #[arg(long, env = "BANTER_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_address: u32,

    /// Rooms one WebSocket may be joined to at once.
    #[arg(long, env = "BANTER_MAX_ROOMS_PER_CONNECTION", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rooms_per_connection: u32,

    /// An absolute bound on a session's life, however often it is used; then its user
    /// logs in again and its open WebSockets are closed.
    #[arg(long, env = "BANTER_SESSION_MAX_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub session_max_days: u32,

    /// Seconds a WebSocket may go without taking any of what the server writes to it;
    /// then it is closed and its user leaves presence (a client that stopped reading
    /// must not hold its task and buffers forever).
    #[arg(long, env = "BANTER_WRITE_DEADLINE", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub write_deadline: u64,

    /// Frames each room buffers for its slowest connection; one further behind catches
    /// up from the database.
    #[arg(long, env = "BANTER_ROOM_BUFFER", default_value_t = 1024)]
    pub room_buffer: usize,

    /// Where uploaded files are kept when not in S3. Default: `uploads` beside the
    /// SQLite database file, or `data/uploads` with MySQL.
    #[arg(long, env = "BANTER_UPLOADS_DIR")]
    pub uploads_dir: Option<PathBuf>,

    /// Keep uploaded files in this bucket of an S3-compatible store instead of on disk
    /// (what a cluster needs: every node serves every file). Credentials come from
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, the region from `AWS_REGION`.
    #[arg(long, env = "BANTER_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// The S3-compatible service's address, for anything but Amazon's own (MinIO,
    /// Garage, Ceph: `http://minio.internal:9000`); addressed by path.
    #[arg(long, env = "BANTER_S3_ENDPOINT", requires = "s3_bucket")]
    pub s3_endpoint: Option<String>,

    /// The bucket's region, if `AWS_REGION` does not say it.
    #[arg(long, env = "BANTER_S3_REGION", requires = "s3_bucket")]
    pub s3_region: Option<String>,

    /// The largest file one may upload, in MB (2^20 bytes); a bigger one is refused
    /// with 413 and nothing of it is kept.
    #[arg(long, env = "BANTER_MAX_UPLOAD_MB", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=102_400))]
    pub max_upload_mb: u64,

    /// MB one user may hold in uploads not yet sent in a message.
    #[arg(long, env = "BANTER_UPLOAD_QUOTA_MB", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub upload_quota_mb: u64,

    /// Uploads one user may start a minute.
    #[arg(long, env = "BANTER_UPLOADS_PER_MINUTE", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub uploads_per_minute: u32,

    /// Uploads received at once by this server; more are refused with 503.
    #[arg(long, env = "BANTER_CONCURRENT_UPLOADS", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrent_uploads: u32,

    /// The most pixels (in millions) an image may have to be shown inline: its
    /// header is read first, so a decompression bomb is refused before decoding.
    #[arg(long, env = "BANTER_MAX_IMAGE_MEGAPIXELS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub max_image_megapixels: u64,

    /// Test switch: seconds an upload may wait for a message (default a day).
    #[arg(long, env = "BANTER_TEST_UNCLAIMED_SECS", hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub unclaimed_secs: Option<u64>,

    /// Cluster mode: several server processes sharing one MySQL/MariaDB database fan
    /// out through this Redis (`redis://host:6379`). Without it, fan-out stays in this
    /// process. SQLite is single-node and refuses it.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// This node's name in cluster mode, the same across its restarts (a restart
    /// removes what its predecessor left in Redis) and unique among the cluster's live
    /// nodes. Default: host name and port.
    #[arg(long, env = "BANTER_NODE_NAME")]
    pub node_name: Option<String>,

    /// The cluster's name in cluster mode, the same on all its nodes: it prefixes every
    /// Redis key and channel, so that several clusters can share one Redis.
    #[arg(long, env = "BANTER_CLUSTER_NAME", default_value = "banter")]
    pub cluster_name: String,

    /// Seconds a node's presence entries outlive it in cluster mode: a node that dies
    /// takes its users offline after at most this (and a third of it).
    #[arg(long, env = "BANTER_PRESENCE_TTL", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub presence_ttl: u64,

    /// Test switch: drop every Nth batch notice instead of publishing it, to prove that
    /// a lost notice loses nothing. 0 (the default) publishes all.
    #[arg(
        long,
        env = "BANTER_TEST_SKIP_PUBLISH",
        default_value_t = 0,
        hide = true
    )]
    pub skip_publish_every: u64,

    /// Test switch: seconds between position checks while Redis is up (default 3), so
    /// that a test can show that notices alone deliver.
    #[arg(long, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub position_check_every: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::CommandFactory;

    // Read from the declaration rather than parsing, so that a DATABASE_URL in the
    // test's own environment cannot change the answer.
    fn default_of(id: &str) -> String {
        let command = Config::command();
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_id() == id)
            .unwrap();
        arg.get_default_values()[0].to_string_lossy().into_owned()
    }

    #[test]
    fn defaults_run_on_sqlite_on_loopback() {
        assert_eq!(default_of("database_url"), "sqlite://data/banter.db");
        assert_eq!(default_of("addr"), "127.0.0.1:3000");
    }

    #[test]
    fn flags_override_defaults() {
        let config = Config::try_parse_from([
            "banter",
            "--database-url",
            "mysql://root@127.0.0.1/test",
            "--addr",
            "0.0.0.0:8080",
        ])
        .unwrap();
        assert_eq!(config.database_url, "mysql://root@127.0.0.1/test");
        assert_eq!(config.addr.port(), 8080);
    }

    #[test]
    fn help_never_shows_secret_values() {
        let command = Config::command();
        for id in ["database_url", "redis_url"] {
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_id() == id)
                .unwrap();
            assert!(arg.is_hide_env_values_set(), "{id} would print its value");
        }
    }

    #[test]
    fn a_bad_address_is_refused() {
        assert!(Config::try_parse_from(["banter", "--addr", "nowhere"]).is_err());
    }
}

/// Administrative tasks run from the command line against the configured database.
#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Server administration.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Clone, Debug, Subcommand)]
pub enum AdminAction {
    /// Makes an existing account a server admin (the first account is one already).
    Grant { username: String },
}

#[derive(Clone, Debug, Subcommand)]
pub enum UserAction {
    /// Creates an account; its password is read from the first line of standard input
    /// (`printf '%s\n' "$PASSWORD" | server user add alice`).
    Add {
        username: String,
        /// Make it a server admin too.
        #[arg(long)]
        admin: bool,
    },
}
