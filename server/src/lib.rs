//! Banter's server as a library: the binary in `main.rs` is a thin shell around
//! [`run`], and the integration tests reach the database helpers (and, with the
//! `testing` feature, the writer's store) directly while starting the binary itself.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::serve::ListenerExt;
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;

/// Accounts and sessions: hashing, tokens, throttling, their SQL.
pub mod accounts;
/// The built site's files: versioned names, compressed copies.
pub mod assets;
/// Rooms and messages: storage, group commit, fan-out.
pub mod chat;
/// The command-line tasks: `admin grant`, `user add`.
pub mod cli;
/// Who is calling: the client address and scheme, through trusted proxies.
pub mod client;
/// Wall-clock time as stored and as sent.
pub mod clock;
/// Command-line flags and environment variables.
pub mod config;
/// Connection pools for MySQL/MariaDB and SQLite, and their migrations.
pub mod db;
/// The error type of the plain HTTP routes.
pub mod error;
/// Files attached to messages: uploads, storage, who may read them.
pub mod files;
/// `/metrics` for Prometheus, and the measurements behind it.
pub mod monitoring;
/// Same-origin checks against cross-site requests.
pub mod origin;
/// Token buckets: how fast someone may do a thing.
pub mod rate;
/// The router: health check, server functions, pages, static files.
pub mod routes;
/// Waiting for SIGINT/SIGTERM.
pub mod shutdown;
/// The state shared by handlers and server functions.
pub mod state;
/// HTTPS served directly: certificates and the handshaking listener.
pub mod tls;
/// The WebSocket endpoint.
pub mod ws;

pub use config::Config;
use db::{Db, DbError};
use state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server stopped with an error: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Chat(#[from] chat::StartError),
    #[error("cluster mode (REDIS_URL) needs MySQL/MariaDB: SQLite is single-node")]
    ClusterOnSqlite,
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Storage(#[from] files::StorageError),
}

/// Where in the site the bundle lives (`[workspace.metadata.leptos] site-pkg-dir`).
const SITE_PKG_DIR: &str = "pkg";

/// Password hashes run at once: as configured, else one per core.
fn hashing_concurrency(config: &Config) -> usize {
    config.hashing_concurrency.map_or_else(
        || std::thread::available_parallelism().map_or(2, usize::from),
        |n| n as usize,
    )
}

/// The cluster settings, if `REDIS_URL` asks for cluster mode; the default node name is
/// the host's name and the port served.
fn cluster_settings(config: &Config, addr: SocketAddr) -> Option<chat::ClusterSettings> {
    let redis_url = config.redis_url.clone()?;
    let node_name = config.node_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .unwrap_or_else(|_| "banter".into());
        format!("{host}:{}", addr.port())
    });
    Some(chat::ClusterSettings {
        redis_url,
        namespace: config.cluster_name.clone(),
        node_name,
        presence_ttl: Duration::from_secs(config.presence_ttl),
        skip_publish_every: config.skip_publish_every,
        check_every: config
            .position_check_every
            .map_or(chat::CHECK_EVERY, Duration::from_secs),
    })
}

/// Where files are kept: the S3 bucket if one is named, else the uploads directory
/// (by default beside the SQLite file, or `data/uploads`).
fn uploads_backend(config: &Config) -> files::Backend {
    if let Some(bucket) = &config.s3_bucket {
        return files::Backend::S3 {
            bucket: bucket.clone(),
            endpoint: config.s3_endpoint.clone(),
            region: config.s3_region.clone(),
        };
    }
    let dir = config.uploads_dir.clone().unwrap_or_else(|| {
        config
            .database_url
            .strip_prefix("sqlite://")
            .map(|path| path.split('?').next().unwrap_or(path))
            .and_then(|path| std::path::Path::new(path).parent())
            .filter(|parent| !parent.as_os_str().is_empty())
            .map_or_else(|| std::path::PathBuf::from("data"), |p| p.to_path_buf())
            .join("uploads")
    });
    files::Backend::Disk(dir)
}

fn file_limits(config: &Config) -> files::FileLimits {
    const MB: u64 = 1024 * 1024;
    files::FileLimits {
        max_file_bytes: config.max_upload_mb * MB,
        quota_bytes: config.upload_quota_mb * MB,
        starts_per_minute: config.uploads_per_minute,
        max_pixels: config.max_image_megapixels * 1_000_000,
        concurrent_uploads: config.concurrent_uploads as usize,
        concurrent_decodes: std::thread::available_parallelism().map_or(2, usize::from),
        unclaimed_ttl: Duration::from_secs(config.unclaimed_secs.unwrap_or(24 * 3600)),
    }
}

/// Builds the Leptos options from our own configuration, taking cargo-leptos's
/// development settings (auto-reload) from its environment when it runs us.
fn leptos_options(config: &Config, addr: SocketAddr) -> LeptosOptions {
    let env = match std::env::var("LEPTOS_ENV").as_deref() {
        Ok("DEV") | Ok("dev") | Ok("development") => leptos::config::Env::DEV,
        _ => leptos::config::Env::PROD,
    };
    let reload_port = std::env::var("LEPTOS_RELOAD_PORT")
        .ok()
        .and_then(|port| port.parse().ok())
        .unwrap_or(3001);
    LeptosOptions::builder()
        .output_name(Arc::<str>::from(app::OUTPUT_NAME))
        .site_root(Arc::<str>::from(
            config.site_root.to_string_lossy().as_ref(),
        ))
        .site_pkg_dir(Arc::<str>::from(SITE_PKG_DIR))
        .site_addr(addr)
        .env(env)
        .reload_port(reload_port)
        .build()
}

/// Connects and migrates the database, then serves until SIGINT or SIGTERM, finishing
/// the requests in flight before returning.
pub async fn run(config: Config) -> Result<(), StartupError> {
    // Read the certificate before anything else: a bad one fails the start at once.
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::Tls::new(cert, key)?),
        _ => None,
    };
    let db = Db::connect(&config.database_url).await?;
    // Before migrating anything: a refused start leaves the database as it was.
    if config.redis_url.is_some() && db.dialect() == db::Dialect::Sqlite {
        return Err(StartupError::ClusterOnSqlite);
    }
    db.migrate().await?;
    tracing::info!(database = db.dialect().name(), "database ready");

    let listener = bind(config.addr).await?;
    let addr = listener.local_addr().map_err(StartupError::Serve)?;
    if let Some(metrics_addr) = config.metrics_addr {
        let bound = monitoring::serve(metrics_addr)
            .await
            .map_err(|source| StartupError::Bind {
                addr: metrics_addr,
                source,
            })?;
        tracing::info!("metrics on http://{bound}/metrics");
    }
    let redirect = match config.redirect_addr {
        Some(redirect_addr) => Some(bind(redirect_addr).await?),
        None => None,
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (in_use, mut released) = tokio::sync::mpsc::channel::<()>(1);
    let limits = chat::ChatLimits {
        room_buffer: config.room_buffer,
        send_rate: config.send_rate,
        send_burst: config.send_burst,
    };
    let cluster = cluster_settings(&config, addr);
    let sessions = accounts::live::LiveSessions::default();
    let chat = chat::Chat::start(
        db.clone(),
        limits,
        cluster,
        sessions.clone(),
        stopping,
        in_use,
    )
    .await?;
    let membership = chat.membership();
    let backend = uploads_backend(&config);
    if config.redis_url.is_some() && matches!(backend, files::Backend::Disk(_)) {
        tracing::warn!(
            "cluster mode keeps files on this node's disk: every node must share the uploads \
             directory, or use --s3-bucket"
        );
    }
    let files = files::Files::start(db.clone(), &backend, chat.clone(), file_limits(&config))?;
    let accounts = Arc::new(accounts::Accounts::new(
        db.clone(),
        &accounts::Settings {
            session_lifetime: days(config.session_days),
            session_max_age: days(config.session_max_days),
            hashing: hashing_concurrency(&config),
            signups_per_address: config.registrations_per_address as usize,
            signups: config.registrations as usize,
            registration: config.registration,
        },
        sessions,
    ));
    let state = AppState {
        leptos_options: leptos_options(&config, addr),
        db: db.clone(),
        accounts: accounts.clone(),
        chat,
        files,
        secure_cookies: config.secure_cookies || tls.is_some(),
        ws: ws::limits::SocketSettings {
            caps: ws::caps::Caps::new(
                config.max_connections_per_user,
                config.max_connections_per_address,
            ),
            limits: ws::limits::SocketLimits {
                write_deadline: Duration::from_secs(config.write_deadline),
                max_rooms: config.max_rooms_per_connection as usize,
                frames: frame_limits(&config),
            },
        },
        public_origin: config.public_origin.as_deref().map(Arc::from),
        bundle: Arc::new(assets::Bundle::read(&config.site_root, SITE_PKG_DIR)),
    };
    // A thread of its own rather than tokio's blocking pool, which shutdown would wait
    // for: a server stopped mid-way leaves only a temporary file.
    let site_root = config.site_root.clone();
    std::thread::spawn(move || match assets::precompress(&site_root) {
        Ok(0) => {}
        Ok(made) => tracing::info!(made, "compressed copies of the site's files written"),
        Err(error) => tracing::warn!(
            %error,
            site = %site_root.display(),
            "cannot write compressed copies of the site's files; serving them uncompressed"
        ),
    });
    let sweeper = tokio::spawn(sweep(db.clone(), accounts));
    let reach = client::Reach {
        tls: tls.is_some(),
        trusted_proxies: config.trusted_proxy.clone(),
    };

    let app = routes::app(state, reach);
    let shutdown = async move {
        shutdown::signal().await;
        // WebSockets are not requests axum waits for: tell them to close.
        let _ = stop.send(true);
    };
    let redirecting = redirect.map(|redirect| {
        if let Ok(from) = redirect.local_addr() {
            tracing::info!("redirecting http://{from} to HTTPS");
        }
        let app = tls::redirect_app(config.public_origin.clone(), addr.port());
        tokio::spawn(async move { axum::serve(redirect, app).await })
    });
    // Tests and scripts read this line to learn the port when started with port 0.
    match tls {
        Some(tls) => {
            tracing::info!("listening on https://{addr}");
            let listener = tls.listen(listener).map_err(StartupError::Serve)?;
            serve(listener, app, shutdown).await?;
        }
        None => {
            tracing::info!("listening on http://{addr}");
            serve(listener, app, shutdown).await?;
        }
    }
    if let Some(redirecting) = redirecting {
        redirecting.abort();
    }
    // Give the sockets, already told to close, a moment to send their close frames.
    if tokio::time::timeout(Duration::from_secs(5), released.recv())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after 5 s; closing anyway");
    }
    sweeper.abort();
    // The connections are closed: this node's users are shown offline on the other
    // nodes now, not when their entries expire.
    if let Some(membership) = membership {
        let withdrawn = tokio::time::timeout(Duration::from_secs(2), membership.withdraw());
        if withdrawn.await.is_err() {
            tracing::warn!("could not withdraw this node's presence from Redis within 2 s");
        }
    }

    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn days(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 24 * 3600)
}

/// Frames of any kind a WebSocket may send per second, and the burst: five times the
/// send limits (a client also joins, leaves, types and pings), and never under 50/s
/// with a burst of 250, enough to join the rooms of a busy sidebar at once.
fn frame_limits(config: &Config) -> (f64, f64) {
    (
        (config.send_rate * 5.0).max(50.0),
        (config.send_burst * 5.0).max(250.0),
    )
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the requests in
/// flight.
async fn serve<L>(
    listener: L,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    L::Io: NoDelay,
{
    // Chat frames are small and must go out at once: with Nagle's algorithm a frame
    // written while the previous one is unacknowledged waited for the peer's delayed
    // ACK, up to 40 ms, which was most of the fan-out latency tail.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.tcp().set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(StartupError::Serve)
}

/// The TCP stream under a connection, plain or TLS.
trait NoDelay {
    fn tcp(&self) -> &tokio::net::TcpStream;
}

impl NoDelay for tokio::net::TcpStream {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self
    }
}

impl NoDelay for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self.get_ref().0
    }
}

/// Forgets stale log-in and sign-up counts every minute, and deletes expired sessions
/// once an hour (they are refused on sight anyway; this only keeps the table small).
async fn sweep(db: Db, accounts: Arc<accounts::Accounts>) {
    let mut every_minute = tokio::time::interval(Duration::from_secs(60));
    for minute in 0u64.. {
        every_minute.tick().await;
        accounts.sweep_throttles();
        if minute % 60 != 0 {
            continue;
        }
        match accounts::store::delete_expired_sessions(&db, clock::now_ms()).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired sessions removed"),
            Err(error) => tracing::warn!(%error, "removing expired sessions failed"),
        }
    }
}
