//! What operators run the server with: Prometheus metrics on their own address,
//! request ids in the logs and in responses, and JSON logs.

use crate::common::{eventually, free_port, temp_dir, ws::Client, TestServer, PATIENCE};
use serde_json::json;

/// The value of an unlabelled (or exactly labelled) sample in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse().ok())?
        })
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("text/plain"), "{kind}");
    response.text().await.unwrap()
}

/// Scrapes the metrics until `name` has `want` (gauges settle as sockets close).
async fn until_sample(url: &str, name: &str, want: f64) -> String {
    eventually(PATIENCE, format!("{name} to be {want}"), || async {
        let text = scrape(url).await;
        if sample(&text, name) == Some(want) {
            Ok(text)
        } else {
            Err(text)
        }
    })
    .await
}

/// `--metrics-addr` serves the counters an operator needs, on its own listener; the
/// public address does not serve them.
async fn metrics_count_what_happens(url: String) {
    let port = free_port();
    let server = TestServer::start_with(&url, &["--metrics-addr", &format!("127.0.0.1:{port}")]);
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let mut alice = Client::new_user(&server, "alice").await;
    let mut bob = Client::new_user(&server, "bob").await;
    alice.join("general", None).await;
    bob.join("general", None).await;
    for i in 0..3 {
        alice.post("general", &format!("m{i}"), "counted").await;
    }
    bob.messages("general", 3).await;
    alice.send_text("not json".into()).await;
    alice.until_type("error").await;
    let wrong = reqwest::Client::new()
        .post(server.url("/api/login"))
        .form(&[("username", "alice"), ("password", "wrong password 1")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let text = until_sample(&metrics, "banter_connections_open", 2.0).await;
    assert_eq!(sample(&text, "banter_rooms_joined"), Some(2.0), "{text}");
    assert!(
        sample(&text, "banter_messages_stored_total").unwrap() >= 3.0,
        "{text}"
    );
    assert!(
        sample(&text, "banter_deliveries_total").unwrap() >= 6.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"banter_refused_frames_total{code="bad_frame"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "banter_login_failures_total"),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "banter_commit_batch_size_count").unwrap() >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("banter_commit_seconds_bucket{le=\"0.01\"}"),
        "{text}"
    );
    assert_eq!(
        sample(&text, "banter_password_hashes_running"),
        Some(0.0),
        "{text}"
    );

    drop(alice);
    drop(bob);
    let text = until_sample(&metrics, "banter_connections_open", 0.0).await;
    assert_eq!(sample(&text, "banter_rooms_joined"), Some(0.0), "{text}");

    let public = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(
        public.status(),
        404,
        "metrics are not on the public address"
    );
}

on_both_backends!(metrics_count_what_happens);

/// Every response carries a request id (a proxy's own is kept), and with
/// `--log-format json` the request's log line is JSON carrying that id.
async fn requests_have_ids_in_json_logs(url: String) {
    let server = TestServer::start_with(&url, &["--log-format", "json"]);
    let response = reqwest::get(server.url("/healthz")).await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let response = reqwest::Client::new()
        .get(server.url("/healthz"))
        .header("x-request-id", "from-the-proxy-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "from-the-proxy-42");

    let line = server
        .log_line(|line| line.contains("from-the-proxy-42"))
        .await;
    let entry: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(entry["span"]["id"], "from-the-proxy-42", "{entry}");
    assert_eq!(entry["span"]["path"], "/healthz", "{entry}");
    assert_eq!(entry["fields"]["status"], json!(200), "{entry}");
}

on_both_backends!(requests_have_ids_in_json_logs);

/// A site directory of the test's own, as cargo-leptos lays it out.
fn fake_site() -> std::path::PathBuf {
    let root = temp_dir("banter_site");
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    let wasm: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
    std::fs::write(root.join("pkg/banter.wasm"), wasm).unwrap();
    std::fs::write(
        root.join("pkg/banter.js"),
        "export function hydrate() {}\n".repeat(500),
    )
    .unwrap();
    std::fs::write(
        root.join("pkg/banter.css"),
        "body { margin: 0 }\n".repeat(500),
    )
    .unwrap();
    std::fs::write(
        root.join("favicon.svg"),
        "<svg xmlns='http://www.w3.org/2000/svg'/>",
    )
    .unwrap();
    root
}

/// Pages link the bundle by content-hashed names, served with a year's immutable
/// caching, brotli or gzip as the browser accepts; plain names are revalidated; a
/// stale hash is not found. The page's Content-Security-Policy allows its own scripts
/// by nonce and nothing inline besides.
async fn the_bundle_is_versioned_compressed_and_cached(url: String) {
    let site = fake_site();
    let site_arg = site.display().to_string();
    let server = TestServer::start_with(&url, &["--site-root", &site_arg]);
    let page = reqwest::get(server.url("/login")).await.unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let html = page.text().await.unwrap();
    let wasm = html
        .split('"')
        .find(|part| part.starts_with("/pkg/banter.") && part.ends_with(".wasm"))
        .unwrap_or_else(|| panic!("no versioned wasm in {html}"))
        .to_string();
    assert_eq!(wasm.len(), "/pkg/banter..wasm".len() + 16, "{wasm}");
    for ext in ["js", "css"] {
        let prefix = "/pkg/banter.";
        assert!(
            html.split('"')
                .any(|p| p.starts_with(prefix) && p.ends_with(&format!(".{ext}")) && p.len() > 20),
            "no versioned {ext}: {html}"
        );
    }
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {policy}"));
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "{html}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");

    let http = reqwest::Client::new();
    let fetch = |path: String, encoding: &'static str| {
        let request = http
            .get(server.url(&path))
            .header("accept-encoding", encoding);
        async move { request.send().await.unwrap() }
    };
    // The compressed copies are written in the background at start.
    let brotli = eventually(PATIENCE, "the compressed copy", || async {
        let response = fetch(wasm.clone(), "br").await;
        assert_eq!(response.status(), 200);
        response
            .headers()
            .contains_key("content-encoding")
            .then_some(response)
    })
    .await;
    assert_eq!(brotli.headers()["content-encoding"], "br");
    assert_eq!(
        brotli.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let packed = brotli.bytes().await.unwrap();
    let mut unpacked = Vec::new();
    brotli::BrotliDecompress(&mut packed.as_ref(), &mut unpacked).unwrap();
    assert_eq!(
        unpacked,
        std::fs::read(site.join("pkg/banter.wasm")).unwrap()
    );
    assert!(packed.len() < unpacked.len() / 10, "{} bytes", packed.len());

    let gzip = fetch(wasm.clone(), "gzip").await;
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    let plain = fetch(wasm.clone(), "identity").await;
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await.unwrap().len(), 200_000);

    let unversioned = fetch("/pkg/banter.wasm".into(), "br").await;
    assert_eq!(unversioned.status(), 200);
    assert_eq!(unversioned.headers()["cache-control"], "no-cache");
    let stale = fetch("/pkg/banter.0123456789abcdef.wasm".into(), "br").await;
    assert_eq!(stale.status(), 404);
    let _ = std::fs::remove_dir_all(&site);
}

on_both_backends!(the_bundle_is_versioned_compressed_and_cached);
