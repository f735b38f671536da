//! Cluster mode: server processes sharing one MariaDB database, fanning out through a
//! private `redis-server`. Every member on every node receives every event once, in
//! the database's order, whatever happens to Redis or to a node; presence follows
//! nodes that live and forgets nodes that die.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::Duration,
};

use crate::common::{
    eventually,
    moto::Moto,
    nginx::Nginx,
    redis::RedisServer,
    with_test_db,
    ws::{
        api, history_page, is_event_in, is_event_of, second_token_for, seqs, token_for,
        whole_history, Client,
    },
    Backend, TestServer, PATIENCE,
};
use app::protocol::ServerFrame;
use serde_json::{json, Value};

const ROOM: &str = "general";
/// The channel nodes publish their notices on.
const NOTICES: &str = "banter:notices";

/// Starts a node of the cluster named `name`.
fn node(db: &str, redis: &RedisServer, name: &str, extra: &[&str]) -> TestServer {
    let url = redis.url();
    let mut flags = vec![
        "--redis-url",
        &url,
        "--node-name",
        name,
        "--send-rate",
        "100000",
        "--send-burst",
        "100000",
    ];
    flags.extend_from_slice(extra);
    TestServer::start_with(db, &flags)
}

fn nodes(db: &str, redis: &RedisServer, count: usize, extra: &[&str]) -> Vec<TestServer> {
    (0..count)
        .map(|i| node(db, redis, &format!("n{i}"), extra))
        .collect()
}

/// A client of `server` in `room` from its beginning.
async fn member(server: &TestServer, username: &str, room: &str) -> Client {
    member_at(server, username, room).await.0
}

/// [`member`], and the room's `last_seq` as its `joined` frame gave it (the joining,
/// an event of the log, included).
async fn member_at(server: &TestServer, username: &str, room: &str) -> (Client, i64) {
    let mut client = Client::new_user(server, username).await;
    let joined = client.join(room, Some(0)).await;
    (client, joined["last_seq"].as_i64().unwrap())
}

/// Sends `count` messages into `room` without waiting between them, then collects the
/// acks: `client_id → seq`. Any error fails the test.
async fn send_burst(
    client: &mut Client,
    room: &str,
    tag: &str,
    count: usize,
) -> BTreeMap<String, i64> {
    let ids: Vec<String> = (0..count).map(|i| format!("{tag}-{i}")).collect();
    for id in &ids {
        client
            .send(json!({"type": "send", "room": room, "client_id": id, "body": format!("{id} says hi")}))
            .await;
    }
    let mut acks = BTreeMap::new();
    for id in &ids {
        let answer = client
            .until(|f| (f["type"] == "ack" || f["type"] == "error") && f["client_id"] == *id)
            .await;
        assert_eq!(answer["type"], "ack", "{}: {answer}", client.username);
        acks.insert(id.clone(), answer["seq"].as_i64().unwrap());
    }
    acks
}

/// Reads `room`'s events (the members' joinings, then the messages) until seq `last`,
/// asserting that they arrive as 1, 2, 3 … in order, each once, that each message is
/// the one its sender was acked for, and that every message acked up to `last` came.
async fn receives_in_order(
    client: &mut Client,
    room: &str,
    last: i64,
    acks: &HashMap<String, i64>,
) {
    let mut expected = 1;
    let mut delivered = 0;
    while expected <= last {
        let frame = client.frame_until(|f| is_event_in(f, room)).await;
        let (_, seq) = frame.event_seq().unwrap();
        assert_eq!(
            seq, expected,
            "{} got seq {seq} where {expected} was due",
            client.username
        );
        if let ServerFrame::Message(message) = &frame {
            let id = &message.client_id;
            assert_eq!(acks.get(id), Some(&seq), "{id} was acked with another seq");
            delivered += 1;
        }
        expected += 1;
    }
    let due = acks.values().filter(|&&seq| seq <= last).count();
    assert_eq!(
        delivered, due,
        "{}: an acked seq held another event",
        client.username
    );
}

async fn on_mariadb<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    with_test_db(Backend::MySql, test).await;
}

/// Senders on all three nodes into one room: every member on every node receives
/// 1..N, contiguous, in the database's order. The position check is put off for an
/// hour, so the notices alone (and the gaps they reveal) must deliver everything.
async fn one_order_across_nodes(db: String) {
    let redis = RedisServer::start();
    let nodes = nodes(&db, &redis, 3, &["--position-check-every", "3600"]);
    let mut senders = Vec::new();
    let mut watchers = Vec::new();
    // Where the log stands once everybody is in (each joining is an event of it).
    let mut start = 0;
    for (i, server) in nodes.iter().enumerate() {
        senders.push(member(server, &format!("sender{i}"), ROOM).await);
        let (watcher, position) = member_at(server, &format!("watcher{i}"), ROOM).await;
        watchers.push(watcher);
        start = start.max(position);
    }
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, mut sender)| {
            tokio::spawn(async move {
                let acks = send_burst(&mut sender, ROOM, &format!("s{i}"), 100).await;
                (sender, acks)
            })
        })
        .collect();
    let mut acks = HashMap::new();
    let mut senders = Vec::new();
    for task in tasks {
        let (sender, mine) = task.await.unwrap();
        acks.extend(mine);
        senders.push(sender);
    }
    let seqs: BTreeSet<i64> = acks.values().copied().collect();
    let last = start + 300;
    assert_eq!(
        seqs,
        (start + 1..=last).collect(),
        "acks are the 300 seqs after the joinings"
    );
    for client in watchers.iter_mut().chain(senders.iter_mut()) {
        receives_in_order(client, ROOM, last, &acks).await;
    }
    // One more from the first node, with nothing after it to reveal it as a gap
    // elsewhere: only its notice can bring it to the other nodes.
    let ack = senders[0].post(ROOM, "last", "the last word").await;
    assert_eq!(ack["seq"], last + 1, "{ack}");
    for client in watchers.iter_mut().chain(senders.iter_mut().skip(1)) {
        let next = client.until(|f| is_event_of(f, ROOM)).await;
        assert_eq!(next["seq"], last + 1, "{}: {next}", client.username);
    }
}

/// Redis killed mid-stream and started again, the subscriptions killed, and every fifth
/// notice of one node never published: nothing is lost, nothing doubled.
async fn redis_faults_lose_nothing(db: String) {
    let mut redis = RedisServer::start();
    let nodes = vec![
        node(&db, &redis, "n0", &["--skip-publish-every", "5"]),
        node(&db, &redis, "n1", &[]),
        node(&db, &redis, "n2", &[]),
    ];
    let mut a = member(&nodes[0], "alice", ROOM).await;
    let mut b = member(&nodes[1], "bob", ROOM).await;
    let mut watchers = Vec::new();
    // Where the log stands once everybody is in (each joining is an event of it).
    let mut start = 0;
    for (i, server) in nodes.iter().enumerate() {
        let (watcher, position) = member_at(server, &format!("watcher{i}"), ROOM).await;
        watchers.push(watcher);
        start = start.max(position);
    }
    let mut acks = HashMap::new();
    for step in ["before", "down", "restarted", "unsubscribed"] {
        match step {
            "down" => redis.kill(),
            "restarted" => redis.restart(),
            "unsubscribed" => {
                redis.wait_for_subscribers(NOTICES, nodes.len());
                let killed = redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
                assert_ne!(killed, "0", "the nodes had subscribed again");
            }
            _ => {}
        }
        let (tag_a, tag_b) = (format!("a-{step}"), format!("b-{step}"));
        let (from_a, from_b) = tokio::join!(
            send_burst(&mut a, ROOM, &tag_a, 30),
            send_burst(&mut b, ROOM, &tag_b, 30),
        );
        acks.extend(from_a);
        acks.extend(from_b);
    }
    // The 240 posts, and nothing else, after the joinings.
    let last = acks.values().copied().max().unwrap();
    assert_eq!(last, start + 240);
    for watcher in watchers.iter_mut() {
        receives_in_order(watcher, ROOM, last, &acks).await;
    }
    // The faults happened: each node lost its subscription at least twice.
    for server in &nodes {
        let lost = server.log().matches("lost the Redis subscription").count();
        assert!(lost >= 2, "lost {lost} times:\n{}", server.log());
    }
    // And no duplicate trails behind: the next message is the very next frame.
    let ack = a.post(ROOM, "final", "the end").await;
    assert_eq!(ack["seq"], last + 1, "{ack}");
    for watcher in watchers.iter_mut() {
        let next = watcher.until(|f| is_event_of(f, ROOM)).await;
        assert_eq!(next["seq"], last + 1, "{next}");
    }
}

/// A node whose notices are all lost (the test switch at 1): a last event that no later
/// one reveals still reaches the other nodes, through their position check.
async fn a_lost_last_notice_is_caught_by_the_position_check(db: String) {
    let redis = RedisServer::start();
    let silent = node(&db, &redis, "silent", &["--skip-publish-every", "1"]);
    let other = node(&db, &redis, "other", &[]);
    let mut alice = member(&silent, "alice", ROOM).await;
    let (mut watcher, start) = member_at(&other, "watcher", ROOM).await;
    let ack = alice.post(ROOM, "unannounced", "nobody announced me").await;
    assert_eq!(ack["seq"], start + 1, "{ack}");
    let got = watcher.events_until(ROOM, start + 1).await;
    assert_eq!(seqs(&got), (1..=start + 1).collect::<Vec<_>>());
    assert_eq!(got.last().unwrap()["client_id"], "unannounced");
}

/// Follows `room`'s presence as a client sees it: the `joined` list, then changes.
struct Online {
    users: BTreeSet<String>,
}

impl Online {
    fn from_joined(joined: &Value) -> Online {
        Online {
            users: joined["online"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap().to_string())
                .collect(),
        }
    }

    /// Reads presence frames until `user` is `online` (or already is), failing if
    /// `steady` goes offline meanwhile.
    async fn until(&mut self, client: &mut Client, user: &str, online: bool, steady: &[&str]) {
        while self.users.contains(user) != online {
            let frame = client
                .frame_until(|f| matches!(f, ServerFrame::Presence { .. }))
                .await;
            let ServerFrame::Presence {
                user: who, online, ..
            } = frame
            else {
                unreachable!("a presence frame")
            };
            if online {
                self.users.insert(who);
            } else {
                assert!(!steady.contains(&who.as_str()), "{who} went offline");
                self.users.remove(&who);
            }
        }
    }
}

/// A node killed with SIGKILL: every acked message is stored once; its users leave
/// presence within the TTL, but a user also connected to a living node stays online.
async fn a_dead_nodes_users_go_offline(db: String) {
    let redis = RedisServer::start();
    let ttl = ["--presence-ttl", "5"];
    let mut nodes = nodes(&db, &redis, 3, &ttl);
    let alice_a = token_for(&nodes[0], "alice").await;
    let alice_b = second_token_for(&nodes[1], "alice").await;
    let mut alice_on_a = Client::connect(&nodes[0], &alice_a).await;
    let mut alice_on_b = Client::connect(&nodes[1], &alice_b).await;
    alice_on_a.join(ROOM, Some(0)).await;
    alice_on_b.join(ROOM, Some(0)).await;
    let mut carol = member(&nodes[0], "carol", ROOM).await;
    let mut watcher = Client::new_user(&nodes[2], "watcher").await;
    let mut online = Online::from_joined(&watcher.join(ROOM, Some(0)).await);
    online.until(&mut watcher, "carol", true, &[]).await;
    online.until(&mut watcher, "alice", true, &[]).await;

    let acks = send_burst(&mut carol, ROOM, "carol", 40).await;
    nodes.remove(0).kill();

    online.until(&mut watcher, "carol", false, &["alice"]).await;
    assert!(online.users.contains("alice"));
    // Alice's node still works, and a newcomer sees her online and Carol not.
    let ack = alice_on_b.post(ROOM, "still-here", "still here").await;
    assert_eq!(ack["type"], "ack");
    let mut newcomer = Client::new_user(&nodes[1], "newcomer").await;
    let seen = Online::from_joined(&newcomer.join(ROOM, None).await);
    assert!(
        seen.users.contains("alice") && !seen.users.contains("carol"),
        "{:?}",
        seen.users
    );

    let token = token_for(&nodes[1], "reader").await;
    let (history, _) = whole_history(&nodes[1], &token, ROOM).await;
    for (id, seq) in &acks {
        let stored: Vec<_> = history.iter().filter(|m| m.client_id == *id).collect();
        assert_eq!(stored.len(), 1, "{id} stored {} times", stored.len());
        assert_eq!(stored[0].seq, *seq);
    }
    drop(alice_on_a);
}

/// A node killed and started again under its name removes what its previous run left
/// in Redis at once (long before the TTL), so its dead users do not linger as ghosts.
async fn a_restarted_node_brings_back_no_ghost(db: String) {
    let redis = RedisServer::start();
    let ttl = ["--presence-ttl", "600"];
    let first = node(&db, &redis, "restarting", &ttl);
    let other = node(&db, &redis, "steady", &ttl);
    let _carol = member(&first, "carol", ROOM).await;
    let mut watcher = Client::new_user(&other, "watcher").await;
    let mut online = Online::from_joined(&watcher.join(ROOM, None).await);
    online.until(&mut watcher, "carol", true, &[]).await;

    first.kill();
    let _again = node(&db, &redis, "restarting", &ttl);
    online.until(&mut watcher, "carol", false, &[]).await;
    // A newcomer on the node that stayed (which would see any entry left) sees no Carol.
    let mut newcomer = Client::new_user(&other, "newcomer").await;
    let seen = Online::from_joined(&newcomer.join(ROOM, None).await);
    assert!(!seen.users.contains("carol"), "{:?}", seen.users);
}

/// A node stopped on purpose (SIGTERM) takes its users offline on the other nodes at
/// once, long before their entries would expire.
async fn a_stopped_nodes_users_go_offline_at_once(db: String) {
    let redis = RedisServer::start();
    let ttl = ["--presence-ttl", "600"];
    let stopping = node(&db, &redis, "stopping", &ttl);
    let other = node(&db, &redis, "staying", &ttl);
    let _carol = member(&stopping, "carol", ROOM).await;
    let mut watcher = Client::new_user(&other, "watcher").await;
    let mut online = Online::from_joined(&watcher.join(ROOM, None).await);
    online.until(&mut watcher, "carol", true, &[]).await;
    assert!(stopping.stop().success());
    online.until(&mut watcher, "carol", false, &[]).await;
}

/// The same `(author, client_id)` sent through two nodes at once is one message.
async fn one_client_id_through_two_nodes_is_one_message(db: String) {
    let redis = RedisServer::start();
    let nodes = nodes(&db, &redis, 2, &[]);
    let token_a = token_for(&nodes[0], "alice").await;
    let token_b = second_token_for(&nodes[1], "alice").await;
    let mut on_a = Client::connect(&nodes[0], &token_a).await;
    let mut on_b = Client::connect(&nodes[1], &token_b).await;
    let start = on_a.join(ROOM, None).await["last_seq"].as_i64().unwrap();
    let again = on_b.join(ROOM, None).await["last_seq"].as_i64().unwrap();
    assert_eq!(again, start, "a member joining again stores nothing");
    for i in 0..25 {
        let id = format!("twice-{i}");
        let frame = json!({"type": "send", "room": ROOM, "client_id": id, "body": format!("only once {i}")});
        on_a.send(frame.clone()).await;
        on_b.send(frame).await;
    }
    for i in 0..25 {
        let id = format!("twice-{i}");
        let want = |f: &Value| (f["type"] == "ack" || f["type"] == "error") && f["client_id"] == id;
        let (from_a, from_b) = (on_a.until(want).await, on_b.until(want).await);
        assert_eq!(from_a["type"], "ack", "{from_a}");
        assert_eq!(from_a, from_b, "both ways get the same ack");
    }
    let page = history_page(&nodes[0], &token_a, ROOM, None).await;
    assert_eq!(page.messages.len(), 25);
    assert_eq!(page.last_seq, start + 25, "nothing else stored");
}

/// Files in cluster mode: uploaded and posted through one node, delivered and served by
/// the other, and erased by whichever collects once the message is deleted, all
/// through the shared bucket.
async fn any_node_serves_any_file(db: String) {
    let redis = RedisServer::start();
    let moto = Moto::start().await;
    let flags = moto.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let nodes = nodes(&db, &redis, 2, &flags);
    redis.wait_for_subscribers(NOTICES, 2);
    let alice = token_for(&nodes[0], "alice").await;
    let bob = token_for(&nodes[1], "bob").await;
    let mut watcher = Client::connect(&nodes[1], &bob).await;
    watcher.join(ROOM, None).await;
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let uploaded = reqwest::Client::new()
        .post(nodes[0].url("/api/files"))
        .query(&[("room", ROOM), ("name", "shared.bin")])
        .bearer_auth(&alice)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), reqwest::StatusCode::CREATED);
    let file: Value = uploaded.json().await.unwrap();
    let id = file["id"].as_str().unwrap().to_string();
    let mut author = Client::connect(&nodes[0], &alice).await;
    let ack = author
        .change(json!({"type": "send", "room": ROOM, "client_id": "shared", "body": "from node 0", "files": [id]}))
        .await;
    let seq = ack["seq"].as_i64().unwrap();
    let live = watcher
        .frame_until(|f| matches!(f, ServerFrame::Message(m) if m.seq == seq))
        .await;
    let ServerFrame::Message(live) = live else {
        unreachable!()
    };
    assert_eq!(
        live.files[0].id, id,
        "node 1 delivers the file with the message"
    );
    let served = reqwest::Client::new()
        .get(nodes[1].url(&live.files[0].url()))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), reqwest::StatusCode::OK);
    assert_eq!(
        served.bytes().await.unwrap().to_vec(),
        bytes,
        "node 1 serves node 0's upload"
    );
    author
        .change(json!({"type": "delete", "room": ROOM, "target": seq, "client_id": "unshare"}))
        .await;
    eventually(
        PATIENCE,
        "the deleted message's file to be erased",
        || async { !moto.holds(&id).await },
    )
    .await;
}

/// Every node writing to the same rooms in overlapping batches (each batch locks
/// several rooms): no user ever sees an error, and every room's log is gap-free.
async fn overlapping_batches_from_every_node(db: String) {
    let redis = RedisServer::start();
    let nodes = nodes(&db, &redis, 3, &[]);
    let rooms = ["r0", "r1", "r2", "r3"];
    let token = token_for(&nodes[0], "owner").await;
    for room in rooms {
        let _: Value = api(
            &nodes[0],
            &token,
            "create_room",
            &[("name", room), ("topic", "")],
        )
        .await;
    }
    let mut clients = Vec::new();
    for (i, server) in nodes.iter().enumerate() {
        for j in 0..2 {
            let mut client = Client::new_user(server, &format!("u{i}{j}")).await;
            for room in rooms {
                client.join(room, None).await;
            }
            clients.push(client);
        }
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(k, mut client)| {
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0..40 {
                    let room = rooms[(k + n) % rooms.len()];
                    let id = format!("c{k}-{n}");
                    client
                        .send(json!({"type": "send", "room": room, "client_id": id, "body": "overlap"}))
                        .await;
                    ids.push(id);
                }
                for id in ids {
                    let answer = client
                        .until(|f| (f["type"] == "ack" || f["type"] == "error") && f["client_id"] == id)
                        .await;
                    assert_eq!(answer["type"], "ack", "{answer}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // Each room's whole log (joinings and messages), as a join from its beginning
    // replays it, is 1, 2, 3 … with no gap; its messages are those history shows.
    let mut reader = Client::connect(&nodes[1], &token).await;
    let mut total = 0;
    for room in rooms {
        let joined = reader.join(room, Some(0)).await;
        let last = joined["last_seq"].as_i64().unwrap();
        let log = reader.events_until(room, last).await;
        assert_eq!(
            seqs(&log),
            (1..=last).collect::<Vec<_>>(),
            "{room} has gaps"
        );
        let (history, last_seq) = whole_history(&nodes[1], &token, room).await;
        assert_eq!(last_seq, last, "{room}");
        let posted: Vec<i64> = log
            .iter()
            .filter(|event| event["type"] == "message")
            .map(|event| event["seq"].as_i64().unwrap())
            .collect();
        let listed: Vec<i64> = history.iter().map(|m| m.seq).collect();
        assert_eq!(posted, listed, "{room}: the log's messages are history's");
        total += listed.len();
    }
    assert_eq!(total, 6 * 40);
}

/// Whether `client`'s connection still works: a ping answered, or the connection gone.
async fn answers_ping(client: &mut Client) -> bool {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let ping = json!({"type": "ping"}).to_string();
    if client.socket.send(Message::text(ping)).await.is_err() {
        return false;
    }
    loop {
        match tokio::time::timeout(PATIENCE, client.socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.contains(r#""type":"pong""#) => return true,
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => return false,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!("{}: neither a pong nor a close", client.username),
        }
    }
}

/// Two nodes behind nginx configured as docs/deploy.md says (without TLS): connections
/// spread over both, a message reaches everyone whichever node they landed on, and when
/// one node stops, its clients reconnect through nginx to the other and catch up with
/// `since`: no sticky sessions needed.
async fn two_nodes_behind_nginx(db: String) {
    let redis = RedisServer::start();
    let mut nodes = nodes(&db, &redis, 2, &[]);
    let upstreams: Vec<String> = nodes
        .iter()
        .map(|node| node.base_url.trim_start_matches("http://").to_string())
        .collect();
    let nginx = Nginx::start(&upstreams);
    let mut people = Vec::new();
    // Where the log stands once everybody is in (each joining is an event of it).
    let mut start = 0;
    for i in 0..4 {
        let token = token_for(&nodes[i % 2], &format!("person{i}")).await;
        let mut client = Client::connect_to(&nginx.url(), &token).await;
        let joined = client.join(ROOM, Some(0)).await;
        start = start.max(joined["last_seq"].as_i64().unwrap());
        people.push((token, client));
    }
    let ack = people[0]
        .1
        .post(ROOM, "hello-all", "hello through nginx")
        .await;
    let hello = start + 1;
    assert_eq!(ack["seq"], hello, "{ack}");
    for (_, client) in people.iter_mut() {
        let got = client.until(|f| f["type"] == "message").await;
        assert_eq!(got["client_id"], "hello-all");
    }

    // One node stops: whoever nginx had sent there is disconnected, the rest are not.
    assert!(nodes.remove(1).stop().success());
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for (token, mut client) in people {
        if answers_ping(&mut client).await {
            kept.push(client);
        } else {
            dropped.push(token);
        }
    }
    assert!(
        !kept.is_empty() && !dropped.is_empty(),
        "least_conn spreads connections: {} kept, {} dropped",
        kept.len(),
        dropped.len()
    );
    let ack = kept[0]
        .post(ROOM, "meanwhile", "sent while you were away")
        .await;
    assert_eq!(ack["seq"], hello + 1, "{ack}");
    // The dropped reconnect through the same address and catch up from where they were:
    // the first event after `since` is the one they missed.
    for token in dropped {
        let mut client = Client::connect_to(&nginx.url(), &token).await;
        client.join(ROOM, Some(hello)).await;
        let got = client.until(|f| is_event_of(f, ROOM)).await;
        assert_eq!(
            (got["seq"].as_i64(), got["client_id"].as_str()),
            (Some(hello + 1), Some("meanwhile"))
        );
    }
}

/// The errors that another node's writer can cause a batch (a deadlock, a lock-wait
/// timeout, a unique key taken first) are recognised as worth a retry; others are not.
async fn lock_conflicts_are_recognised(db: String) {
    use server::db::is_contention;
    use sqlx::{Connection, Executor, MySqlConnection};

    let mut one = MySqlConnection::connect(&db).await.unwrap();
    let mut two = MySqlConnection::connect(&db).await.unwrap();
    one.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
        .await
        .unwrap();
    one.execute("INSERT INTO t VALUES (1, 0), (2, 0)")
        .await
        .unwrap();
    two.execute("SET SESSION innodb_lock_wait_timeout = 1")
        .await
        .unwrap();

    // Lock-wait timeout: `two` waits for a row `one` holds.
    one.execute("BEGIN").await.unwrap();
    one.execute("UPDATE t SET v = 1 WHERE id = 1")
        .await
        .unwrap();
    let timeout = two
        .execute("UPDATE t SET v = 2 WHERE id = 1")
        .await
        .unwrap_err();
    assert!(is_contention(&timeout), "{timeout}");

    // Deadlock: each holds the row the other wants.
    two.execute("BEGIN").await.unwrap();
    two.execute("UPDATE t SET v = 2 WHERE id = 2")
        .await
        .unwrap();
    let waiting = tokio::spawn(async move {
        let outcome = one
            .execute("UPDATE t SET v = 1 WHERE id = 2")
            .await
            .map(drop);
        (one, outcome)
    });
    // `one` is now waiting for row 2 (InnoDB shows the wait before we close the cycle).
    let probe = sqlx::MySqlPool::connect(&db).await.unwrap();
    eventually(Duration::from_secs(20), "a lock wait", || async {
        let waits: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'",
        )
        .fetch_one(&probe)
        .await
        .unwrap();
        waits > 0
    })
    .await;
    let closing = two.execute("UPDATE t SET v = 2 WHERE id = 1").await;
    let (mut one, waited) = waiting.await.unwrap();
    let deadlock = closing
        .err()
        .or(waited.err())
        .expect("one of them is the victim");
    assert!(is_contention(&deadlock), "{deadlock}");
    let _ = one.execute("ROLLBACK").await;
    let _ = two.execute("ROLLBACK").await;

    let duplicate = one
        .execute("INSERT INTO t VALUES (1, 9)")
        .await
        .unwrap_err();
    assert!(is_contention(&duplicate), "{duplicate}");
    let syntax = one.execute("SELEKT 1").await.unwrap_err();
    assert!(!is_contention(&syntax), "{syntax}");
}

/// Logging out through one node closes that session's sockets on every node at once
/// (1008), and only that session's: the same user's other session keeps its socket.
async fn logging_out_on_one_node_closes_the_sessions_sockets_everywhere(db: String) {
    let redis = RedisServer::start();
    let cluster = nodes(&db, &redis, 2, &[]);
    let first = token_for(&cluster[0], "alice").await;
    let second = second_token_for(&cluster[0], "alice").await;
    let mut here = Client::connect(&cluster[0], &first).await;
    let mut there = Client::connect(&cluster[1], &first).await;
    let mut other_session = Client::connect(&cluster[1], &second).await;
    tokio::task::block_in_place(|| redis.wait_for_subscribers(NOTICES, 2));
    let response = reqwest::Client::new()
        .post(cluster[0].url("/api/logout"))
        .bearer_auth(&first)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(here.close_code().await.map(u16::from), Some(1008));
    assert_eq!(
        there.close_code().await.map(u16::from),
        Some(1008),
        "the other node closed it too"
    );
    other_session.assert_alive().await;
}

macro_rules! on_mariadb {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    super::on_mariadb(super::$name).await;
                }
            }
        )+
    };
}

on_mariadb!(
    logging_out_on_one_node_closes_the_sessions_sockets_everywhere,
    one_order_across_nodes,
    redis_faults_lose_nothing,
    a_lost_last_notice_is_caught_by_the_position_check,
    a_dead_nodes_users_go_offline,
    a_restarted_node_brings_back_no_ghost,
    a_stopped_nodes_users_go_offline_at_once,
    one_client_id_through_two_nodes_is_one_message,
    overlapping_batches_from_every_node,
    lock_conflicts_are_recognised,
    two_nodes_behind_nginx,
    any_node_serves_any_file,
);
