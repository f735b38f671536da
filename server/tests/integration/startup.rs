//! The server binary starts on each backend, answers its health check, renders pages,
//! shuts down cleanly on SIGTERM and starts again on the same database.

use std::process::Command;

use crate::common::{temp_dir, TestServer};
use serde_json::Value;

async fn health(server: &TestServer) -> (u16, Value) {
    let response = reqwest::get(server.url("/healthz")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn starts_migrates_and_restarts(url: String) {
    let expected_dialect = if url.starts_with("mysql") {
        "mysql"
    } else {
        "sqlite"
    };

    let server = TestServer::start(&url);
    let (status, body) = health(&server).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], expected_dialect);
    let status = server.stop();
    assert!(
        status.success(),
        "graceful shutdown should exit 0, got {status}"
    );

    // The second start finds every migration applied and must neither fail nor redo them.
    let server = TestServer::start(&url);
    let (status, body) = health(&server).await;
    assert_eq!(status, 200, "{body}");
    assert!(server.stop().success());
}

async fn renders_pages_server_side(url: String) {
    let server = TestServer::start(&url);

    let response = reqwest::get(server.url("/")).await.unwrap();
    assert_eq!(response.status(), 200);
    // Security headers on pages (and on everything else: the layer is router-wide);
    // pages have a full Content-Security-Policy.
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.contains("script-src 'self' 'nonce-"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
    ] {
        assert_eq!(
            response.headers().get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{name}"
        );
    }
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1>Banter</h1>"), "{html}");
    // The site is not built for these tests: the bundle keeps its plain names.
    assert!(
        html.contains("/pkg/banter.js"),
        "the page must load the hydration script"
    );
    assert!(html.contains("/pkg/banter.css"));

    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(
        health.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );

    let response = reqwest::get(server.url("/no/such/page")).await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Page not found"));

    assert!(server.stop().success());
}

on_both_backends!(starts_migrates_and_restarts, renders_pages_server_side);

/// A password in the URLs of the tests below: it must appear nowhere in the output.
const SECRET: &str = "hunter2secret";

/// Starts the server against `database_url` with `flags`, which it must refuse, saying
/// `why`; returns all it wrote.
fn refusal(database_url: &str, flags: &[&str], why: &str) -> String {
    let log = TestServer::refused_start(database_url, flags);
    assert!(log.contains(why), "{log}");
    log
}

#[test]
fn a_bad_database_url_stops_start_up_with_a_clear_message() {
    let why = "DATABASE_URL must start with sqlite:// or mysql://";
    refusal("postgres://nowhere/x", &[], why);
}

#[test]
fn an_unreachable_mysql_stops_start_up_without_leaking_the_password() {
    // Port 9 (discard) is closed here, so the connection is refused at once.
    let url = format!("mysql://root:{SECRET}@127.0.0.1:9/banter");
    let log = refusal(&url, &[], "cannot connect to the mysql database");
    assert!(!log.contains(SECRET), "{log}");
}

#[test]
fn cluster_mode_on_sqlite_is_refused_with_a_clear_message() {
    let dir = temp_dir("banter_cluster_sqlite");
    let redis = format!("redis://:{SECRET}@127.0.0.1:6379");
    let log = TestServer::refused_start(
        &format!("sqlite://{}/banter.db", dir.display()),
        &["--redis-url", &redis],
    );
    let _ = std::fs::remove_dir_all(&dir);
    let why = "cluster mode (REDIS_URL) needs MySQL/MariaDB: SQLite is single-node";
    assert!(log.contains(why), "{log}");
    assert!(!log.contains(SECRET), "{log}");
}

#[test]
fn help_shows_no_secret_from_the_environment() {
    let output = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("--help")
        .env("DATABASE_URL", "mysql://root:hunter2secret@db/banter")
        .env("REDIS_URL", "redis://:hunter2secret@cache:6379")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--redis-url"), "{help}");
    assert!(!help.contains("hunter2secret"), "{help}");
}
