//! `search`: one account's searches, each query asked again and again, one at a time:
//! the latency of `/api/search` over the HTTP API as a person's browser calls it, and
//! how many messages the first page found. `scripts/search-bench.sh` fills a MariaDB
//! database with a million messages and runs it.

use std::time::Instant;

use serde_json::Value;

use crate::report::{histogram, ms, table};

pub struct Args {
    pub username: String,
    pub password: String,
    pub queries: Vec<String>,
    /// Times each query is asked (after one warm-up).
    pub rounds: usize,
}

pub async fn run(url: &str, args: Args) -> bool {
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{url}/api/login"))
        .form(&[
            ("username", args.username.as_str()),
            ("password", args.password.as_str()),
        ])
        .send()
        .await
        .unwrap_or_else(|e| panic!("server unreachable at {url}: {e}"));
    if !login.status().is_success() {
        eprintln!("log-in as {} failed: {}", args.username, login.status());
        return false;
    }
    let token = login.json::<Value>().await.expect("login answers JSON")["token"]
        .as_str()
        .expect("login answers a token")
        .to_string();

    let mut rows = Vec::new();
    let mut ok = true;
    let mut all = histogram();
    for query in &args.queries {
        let mut latency = histogram();
        let mut hits = 0;
        for round in 0..=args.rounds {
            let started = Instant::now();
            let response = http
                .post(format!("{url}/api/search"))
                .bearer_auth(&token)
                .form(&[("q", query.as_str())])
                .send()
                .await;
            let elapsed = started.elapsed().as_micros() as u64;
            let page: Value = match response {
                Ok(response) if response.status().is_success() => {
                    response.json().await.unwrap_or(Value::Null)
                }
                Ok(response) => {
                    eprintln!("search {query:?}: {}", response.status());
                    ok = false;
                    break;
                }
                Err(error) => {
                    eprintln!("search {query:?}: {error}");
                    ok = false;
                    break;
                }
            };
            hits = page["hits"].as_array().map_or(0, Vec::len);
            // The first round warms the caches; it is not counted.
            if round > 0 {
                latency.saturating_record(elapsed.max(1));
                all.saturating_record(elapsed.max(1));
            }
        }
        rows.push(vec![
            format!("`{query}`"),
            hits.to_string(),
            format!("{:.1}", ms(&latency, 0.5)),
            format!("{:.1}", ms(&latency, 0.95)),
            format!("{:.1}", latency.max() as f64 / 1000.0),
        ]);
    }
    println!(
        "search: {} queries × {} rounds: p50 {:.1} ms, p95 {:.1} ms over all",
        args.queries.len(),
        args.rounds,
        ms(&all, 0.5),
        ms(&all, 0.95)
    );
    table(
        &["query", "hits on page 1", "p50 ms", "p95 ms", "max ms"],
        &rows,
    );
    ok
}
