//! The database goes away mid-traffic: the connection between the server and MariaDB
//! is cut for 10 s by a proxy the test controls. Sends answer with the retry-safe
//! `internal` error (or wait), `/healthz` says 503, nothing acked is lost, and once the
//! network is back the server recovers by itself: retries with the same `client_id`
//! store each message exactly once.

use std::{collections::BTreeMap, time::Duration};

use crate::common::{
    cut_proxy::CutProxy,
    eventually, with_test_db,
    ws::{token_for, whole_history, Client},
    Backend, TestServer, PATIENCE,
};
use serde_json::Value;

async fn health(server: &TestServer) -> u16 {
    reqwest::get(server.url("/healthz"))
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Asks `/healthz` until it answers `want` (readiness is only visible by asking).
async fn until_health(server: &TestServer, want: u16) {
    let what = format!("/healthz to say {want}");
    eventually(PATIENCE, what, || async { health(server).await == want }).await;
}

/// Each message's answer: the seq it was acked with, or a refusal to retry.
#[derive(Default)]
struct Outcomes {
    acked: BTreeMap<String, i64>,
    refused: Vec<String>,
}

impl Outcomes {
    fn record(&mut self, client_id: String, answer: Value) {
        if answer["type"] == "ack" {
            self.acked
                .insert(client_id, answer["seq"].as_i64().unwrap());
        } else {
            assert_eq!(answer["code"], "internal", "retry-safe: {answer}");
            self.refused.push(client_id);
        }
    }
}

async fn a_database_outage_loses_nothing_acked(url: String) {
    // The same database, reached through the proxy.
    let (_, rest) = url.split_once('@').unwrap();
    let (upstream, database) = rest.split_once('/').unwrap();
    let proxy = CutProxy::start(upstream).await;
    let through = format!(
        "{}@127.0.0.1:{}/{database}",
        url.split_once('@').unwrap().0,
        proxy.port
    );
    // Starting blocks this thread; the proxy's tasks must run meanwhile elsewhere.
    let server = tokio::task::block_in_place(|| {
        TestServer::start_with(
            &through,
            &["--send-rate", "100000", "--send-burst", "100000"],
        )
    });
    let alice_token = token_for(&server, "alice").await;
    let mut alice = Client::connect(&server, &alice_token).await;
    let mut bob = Client::new_user(&server, "bob").await;
    alice.join("general", None).await;
    bob.join("general", None).await;

    let mut outcomes = Outcomes::default();
    for i in 0..5 {
        let id = format!("before-{i}");
        outcomes.record(id.clone(), alice.post("general", &id, "before").await);
    }
    assert_eq!(health(&server).await, 200);

    proxy.cut();
    until_health(&server, 503).await;
    let outage = tokio::time::Instant::now();
    // Sent together: the writer meets the outage once for all of them.
    let during: Vec<String> = (0..5).map(|i| format!("during-{i}")).collect();
    for id in &during {
        alice
            .send(serde_json::json!({"type": "send", "room": "general", "client_id": id, "body": "during"}))
            .await;
    }
    for id in &during {
        let answer = alice
            .until(|f| {
                (f["type"] == "ack" || f["type"] == "error") && f["client_id"] == id.as_str()
            })
            .await;
        outcomes.record(id.clone(), answer);
    }
    assert!(
        !outcomes.refused.is_empty(),
        "sends during the outage were refused"
    );
    assert_eq!(health(&server).await, 503);
    tokio::time::sleep_until(outage + Duration::from_secs(10)).await;
    proxy.restore();

    // The server reconnects by itself; a client retries what was refused.
    until_health(&server, 200).await;
    // Shared with each retry (a probe cannot keep a `&mut` from one call to the next).
    let retrying = tokio::sync::Mutex::new(&mut alice);
    for id in std::mem::take(&mut outcomes.refused) {
        let seq = eventually(PATIENCE, format!("{id} to be stored"), || async {
            let answer = retrying.lock().await.post("general", &id, "during").await;
            answer["seq"]
                .as_i64()
                .filter(|_| answer["type"] == "ack")
                .ok_or(answer)
        })
        .await;
        outcomes.acked.insert(id, seq);
    }
    for i in 0..5 {
        let id = format!("after-{i}");
        outcomes.record(id.clone(), alice.post("general", &id, "after").await);
    }
    assert!(outcomes.refused.is_empty(), "{:?}", outcomes.refused);
    assert_eq!(outcomes.acked.len(), 15);

    // Stored exactly once each, under the seq that was acked; Bob saw every one.
    let (history, _) = whole_history(&server, &alice_token, "general").await;
    let mut stored: BTreeMap<String, i64> = BTreeMap::new();
    for message in &history {
        let previous = stored.insert(message.client_id.clone(), message.seq);
        assert!(previous.is_none(), "{} stored twice", message.client_id);
    }
    assert_eq!(stored, outcomes.acked);
    let seen = bob.messages("general", 15).await;
    let mut seqs: Vec<i64> = seen.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    let sorted = {
        let mut s = seqs.clone();
        s.sort();
        s
    };
    assert_eq!(seqs, sorted, "in order");
    seqs.dedup();
    assert_eq!(seqs.len(), 15, "each once");
    drop(proxy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_loses_nothing_acked_mysql() {
    with_test_db(Backend::MySql, a_database_outage_loses_nothing_acked).await;
}
