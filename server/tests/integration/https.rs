//! HTTPS served by the server itself and by nginx in front of it, with a certificate
//! each test makes: pages and server functions over https, chat over wss, `Secure`
//! cookies, HSTS, the plain-HTTP redirect, and a clear refusal of unusable files.

use crate::common::{
    free_port,
    nginx::Nginx,
    temp_dir,
    tls::TestCert,
    ws::{open_session, Client},
    TestServer,
};

/// The server terminates TLS itself: everything works over https and wss, the session
/// cookie is `Secure`, responses carry HSTS, and the plain-HTTP listener redirects.
async fn the_server_speaks_https_and_wss(url: String) {
    let cert = TestCert::new();
    let redirect_port = free_port();
    let mut flags = cert.flags();
    flags.extend([
        "--redirect-addr".into(),
        format!("127.0.0.1:{redirect_port}"),
    ]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = TestServer::start_with(&url, &flags);
    assert!(
        server.base_url.starts_with("https://"),
        "{}",
        server.base_url
    );
    let http = cert.http();

    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.headers()["strict-transport-security"],
        "max-age=63072000"
    );
    let page = http.get(server.url("/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);

    let alice = open_session(&http, &server.base_url, "register", "alice").await;
    let cookie = alice.cookie.unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let bob = open_session(&http, &server.base_url, "register", "bob").await;
    let mut a = Client::connect_via(&server.base_url, &alice.token, Some(cert.connector())).await;
    let mut b = Client::connect_via(&server.base_url, &bob.token, Some(cert.connector())).await;
    a.join("general", None).await;
    b.join("general", None).await;
    let ack = a.post("general", "over-tls-1", "hello over wss").await;
    let seq = ack["seq"].as_i64().unwrap();
    let got = b.until(|f| f["type"] == "message" && f["seq"] == seq).await;
    assert_eq!(got["body"], "hello over wss");

    // Plain HTTP on the redirect port goes to the same path over HTTPS.
    let port = server.base_url.rsplit(':').next().unwrap().to_string();
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{redirect_port}/r/general?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(
        response.headers()["location"],
        format!("https://127.0.0.1:{port}/r/general?x=1").as_str()
    );
    // Plain HTTP on the TLS port is not served.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(std::time::Duration::from_secs(15))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered on the TLS port");
}

on_both_backends!(the_server_speaks_https_and_wss);

/// A certificate that cannot be read, or a key that does not fit it, stops the start
/// with a message that says which file is wrong.
#[test]
fn unusable_certificates_stop_the_start() {
    let dir = temp_dir("banter_badtls");
    let db = format!("sqlite://{}/banter.db", dir.display());
    let missing = TestServer::try_start(
        &db,
        &[
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ],
    )
    .err()
    .expect("started without a certificate");
    assert!(missing.contains("/nonexistent/cert.pem"), "{missing}");

    let one = TestCert::new();
    let other = TestCert::new();
    let cert = one.cert_path.display().to_string();
    let key = other.key_path.display().to_string();
    let mismatch = TestServer::try_start(&db, &["--tls-cert", &cert, "--tls-key", &key])
        .err()
        .expect("started with a key that does not fit");
    assert!(mismatch.contains("do not fit"), "{mismatch}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// docs/deploy.md's nginx, terminating TLS in front of a plain server that trusts it
/// as a proxy: chat over wss through nginx, and the session cookie is `Secure` because
/// nginx said the client came over HTTPS.
async fn chat_through_nginx_over_wss(url: String) {
    let cert = TestCert::new();
    let server = TestServer::start_with(&url, &["--trusted-proxy", "127.0.0.1"]);
    let upstream = server.base_url.trim_start_matches("http://").to_string();
    let nginx = Nginx::start_with(&[upstream], Some(&cert));
    let http = cert.http();
    let alice = open_session(&http, &nginx.url(), "register", "alice").await;
    let cookie = alice.cookie.unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let response = http
        .get(format!("{}/healthz", nginx.url()))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("strict-transport-security"));
    let bob = open_session(&http, &nginx.url(), "register", "bob").await;
    let mut a = Client::connect_via(&nginx.url(), &alice.token, Some(cert.connector())).await;
    let mut b = Client::connect_via(&nginx.url(), &bob.token, Some(cert.connector())).await;
    a.join("general", None).await;
    b.join("general", None).await;
    let ack = a.post("general", "via-nginx-1", "through the proxy").await;
    let seq = ack["seq"].as_i64().unwrap();
    b.until(|f| f["type"] == "message" && f["seq"] == seq).await;
}

on_both_backends!(chat_through_nginx_over_wss);
