//! Banter's server as a library, so that tests can start the real thing in process and
//! the binary in `main.rs` stays a thin shell around [`run`].

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::serve::ListenerExt;
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;

/// Accounts and sessions: hashing, tokens, throttling, their SQL.
pub mod accounts;
/// Rooms and messages: storage, group commit, fan-out.
pub mod chat;
/// Command-line flags and environment variables.
pub mod config;
/// Connection pools for MySQL/MariaDB and SQLite, and their migrations.
pub mod db;
/// The error type of the plain HTTP routes.
pub mod error;
/// The router: health check, server functions, pages, static files.
pub mod routes;
/// Waiting for SIGINT/SIGTERM.
pub mod shutdown;
/// The state shared by handlers and server functions.
pub mod state;
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
}

/// Password hashes run at once: as configured, else one per core.
fn hashing_concurrency(config: &Config) -> usize {
    config.hashing_concurrency.map_or_else(
        || std::thread::available_parallelism().map_or(2, usize::from),
        |n| n as usize,
    )
}

/// The cluster settings, if `REDIS_URL` asks for cluster mode; the default node name is
/// the host's name and the port served.
fn cluster_settings(config: &Config, addr: SocketAddr) -> Option<chat::cluster::Settings> {
    let redis_url = config.redis_url.clone()?;
    let node_name = config.node_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .unwrap_or_else(|_| "banter".into());
        format!("{host}:{}", addr.port())
    });
    Some(chat::cluster::Settings {
        redis_url,
        namespace: config.cluster_name.clone(),
        node_name,
        presence_ttl: Duration::from_secs(config.presence_ttl),
        skip_publish_every: config.skip_publish_every,
        check_every: config
            .position_check_every
            .map_or(chat::cluster::CHECK_EVERY, Duration::from_secs),
    })
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
        .site_pkg_dir(Arc::<str>::from("pkg"))
        .site_addr(addr)
        .env(env)
        .reload_port(reload_port)
        .build()
}

/// Connects and migrates the database, then serves until SIGINT or SIGTERM, finishing
/// the requests in flight before returning.
pub async fn run(config: Config) -> Result<(), StartupError> {
    let db = Db::connect(&config.database_url).await?;
    // Before migrating anything: a refused start leaves the database as it was.
    if config.redis_url.is_some() && db.dialect() == db::Dialect::Sqlite {
        return Err(StartupError::ClusterOnSqlite);
    }
    db.migrate().await?;
    tracing::info!(database = db.dialect().name(), "database ready");

    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| StartupError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(StartupError::Serve)?;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (in_use, mut released) = tokio::sync::mpsc::channel::<()>(1);
    let limits = chat::Limits {
        room_buffer: config.room_buffer,
        send_rate: config.send_rate,
        send_burst: config.send_burst,
    };
    let cluster = cluster_settings(&config, addr);
    let chat = chat::Chat::start(db.clone(), limits, cluster, stopping, in_use).await?;
    let membership = chat.membership();
    let session_lifetime = Duration::from_secs(u64::from(config.session_days) * 24 * 3600);
    let state = AppState {
        leptos_options: leptos_options(&config, addr),
        db: db.clone(),
        accounts: Arc::new(accounts::Accounts::new(
            db.clone(),
            session_lifetime,
            hashing_concurrency(&config),
        )),
        chat,
        secure_cookies: config.secure_cookies,
        write_deadline: Duration::from_secs(config.write_deadline),
    };
    let sweeper = tokio::spawn(sweep_expired_sessions(db.clone()));

    // Tests and scripts read this line to learn the port when started with port 0.
    tracing::info!("listening on http://{addr}");
    let app = routes::app(state).into_make_service_with_connect_info::<SocketAddr>();
    // Chat frames are small and must go out at once: with Nagle's algorithm a frame
    // written while the previous one is unacknowledged waited for the peer's delayed
    // ACK, up to 40 ms, which was most of the fan-out latency tail.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown::signal().await;
            // WebSockets are not requests axum waits for: tell them to close.
            let _ = stop.send(true);
        })
        .await
        .map_err(StartupError::Serve)?;
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

/// Deletes expired sessions once an hour (they are refused on sight anyway; this only
/// keeps the table small).
async fn sweep_expired_sessions(db: Db) {
    let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        match accounts::store::delete_expired_sessions(&db, accounts::now_ms()).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired sessions removed"),
            Err(error) => tracing::warn!(%error, "removing expired sessions failed"),
        }
    }
}
