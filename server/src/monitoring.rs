//! `/metrics` in Prometheus's text format, on a listen address of its own
//! (`--metrics-addr`), off unless asked for: what an operator graphs and alerts on.
//! Without it no recorder is installed and every measurement below costs nothing.
//!
//! Each metric is named here once; the code that measures calls these functions.

use std::{net::SocketAddr, time::Duration};

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const CONNECTIONS: &str = "banter_connections_open";
const ROOMS_JOINED: &str = "banter_rooms_joined";
const MESSAGES_STORED: &str = "banter_messages_stored_total";
const DELIVERIES: &str = "banter_deliveries_total";
const BATCH_SIZE: &str = "banter_commit_batch_size";
const COMMIT_SECONDS: &str = "banter_commit_seconds";
const RESYNCS: &str = "banter_lagging_resyncs_total";
const REFUSED: &str = "banter_refused_frames_total";
const LOGIN_FAILURES: &str = "banter_login_failures_total";
const HASHING: &str = "banter_password_hashes_running";
const HASHING_REFUSED: &str = "banter_password_hashes_refused_total";

/// Installs the process's recorder and serves it on `addr` until the process ends.
/// Returns the address actually bound.
pub async fn serve(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(COMMIT_SECONDS.into()),
            &[
                0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
            ],
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full(BATCH_SIZE.into()),
                &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0],
            )
        })
        .map_err(std::io::Error::other)?
        .install_recorder()
        .map_err(std::io::Error::other)?;
    describe();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        // Histograms drain their buffers here, not only when scraped.
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || render(handle.clone())),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(bound)
}

async fn render(handle: PrometheusHandle) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(CONNECTIONS, "Open WebSocket connections.");
    describe_gauge!(
        ROOMS_JOINED,
        "Rooms joined, summed over the open connections."
    );
    describe_counter!(
        MESSAGES_STORED,
        "Changes stored (messages, edits, deletions, reactions, topics)."
    );
    describe_counter!(DELIVERIES, "Room events written to connections.");
    describe_histogram!(BATCH_SIZE, Unit::Count, "Changes per group commit.");
    describe_histogram!(
        COMMIT_SECONDS,
        Unit::Seconds,
        "Time to store one group commit."
    );
    describe_counter!(
        RESYNCS,
        "Times a lagging connection caught up from the database."
    );
    describe_counter!(
        REFUSED,
        "Client frames answered with an error, by error code."
    );
    describe_counter!(
        LOGIN_FAILURES,
        "Log-ins refused: wrong credentials or throttled."
    );
    describe_gauge!(HASHING, "Password hashes running now.");
    describe_counter!(
        HASHING_REFUSED,
        "Sign-ups and log-ins refused because hashing was full."
    );
}

/// Something counted in a gauge while it lasts: one up when made, one down when
/// dropped.
pub struct Held(metrics::Gauge);

impl Held {
    fn new(gauge: metrics::Gauge) -> Self {
        gauge.increment(1.0);
        Held(gauge)
    }

    /// An open connection.
    pub fn connection() -> Self {
        Held::new(gauge!(CONNECTIONS))
    }

    /// A room joined by a connection.
    pub fn joined_room() -> Self {
        Held::new(gauge!(ROOMS_JOINED))
    }

    /// A password hash running.
    pub fn hashing() -> Self {
        Held::new(gauge!(HASHING))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// A connection's delivery counter: a handle taken once, so that the hot path of
/// fan-out is one atomic add, not a registry lookup per frame.
pub fn deliveries() -> metrics::Counter {
    counter!(DELIVERIES)
}

pub fn committed(batch: usize, stored: usize, took: Duration) {
    histogram!(BATCH_SIZE).record(batch as f64);
    histogram!(COMMIT_SECONDS).record(took.as_secs_f64());
    counter!(MESSAGES_STORED).increment(stored as u64);
}

pub fn resynced() {
    counter!(RESYNCS).increment(1);
}

pub fn refused(code: &'static str) {
    counter!(REFUSED, "code" => code).increment(1);
}

pub fn login_failed() {
    counter!(LOGIN_FAILURES).increment(1);
}

pub fn hashing_refused() {
    counter!(HASHING_REFUSED).increment(1);
}
