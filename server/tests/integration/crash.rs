//! A crash in the middle of a stream of changes, on SQLite and MariaDB: two clients
//! post, reply, edit, delete and react while the server is killed with SIGKILL; it
//! restarts on the same database; the clients resend what was never answered and
//! rejoin with `since`. Every acknowledged change is stored exactly once, the seqs
//! have no gap, and both clients end with the room that `history` describes.

use std::{collections::HashMap, sync::Arc};

use crate::common::{
    ws::{
        decode, delete, edit, is_event_in, react, reply, send, state, token_for, whole_history,
        Client,
    },
    TestServer, PATIENCE,
};
use app::{
    protocol::{ErrorCode, ServerFrame},
    timeline::Timeline,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// The changes acknowledged so far, by both actors; the test waits on it for the kill.
type Acks = watch::Sender<usize>;

const ROOM: &str = "general";
const NO_RATE_LIMIT: &[&str] = &["--send-rate", "100000", "--send-burst", "100000"];
/// Changes each client makes in all.
const BUDGET: usize = 160;
/// Changes in flight per client.
const WINDOW: usize = 8;
/// The server dies once this many changes were acknowledged, in the thick of it.
const KILL_AFTER: usize = 120;

struct Actor {
    name: String,
    token: String,
    client: Client,
    timeline: Timeline,
    /// Sent and not answered yet, in the order sent.
    unanswered: Vec<(String, Value)>,
    acked: HashMap<String, i64>,
    refused: HashMap<String, String>,
    /// Own messages this client has not deleted, by seq.
    own: Vec<i64>,
    sent: usize,
    /// A small deterministic generator, so a failure can be replayed.
    dice: u64,
}

impl Actor {
    fn roll(&mut self, sides: u64) -> u64 {
        self.dice = self
            .dice
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.dice >> 33) % sides
    }

    fn next_change(&mut self) -> Value {
        let id = format!("{}-{}", self.name, self.sent);
        self.sent += 1;
        let live: Vec<i64> = self
            .timeline
            .messages()
            .filter(|m| !m.deleted)
            .map(|m| m.seq)
            .collect();
        match self.roll(10) {
            0 if !live.is_empty() => {
                let parent = live[self.roll(live.len() as u64) as usize];
                reply(ROOM, &format!("{id} answers {parent}"), parent, &id)
            }
            4 | 5 if !self.own.is_empty() => {
                let at = self.roll(self.own.len() as u64) as usize;
                let target = self.own[at];
                edit(ROOM, target, &format!("{id} edited {target}"), &id)
            }
            6..=8 if !live.is_empty() => {
                let target = live[self.roll(live.len() as u64) as usize];
                let emoji = ["👍", "🎉", "😂"][self.roll(3) as usize];
                let on = self.roll(3) > 0;
                react(ROOM, target, emoji, on, &id)
            }
            9 if !self.own.is_empty() => {
                let at = self.roll(self.own.len() as u64) as usize;
                let target = self.own.remove(at);
                delete(ROOM, target, &id)
            }
            _ => send(ROOM, &format!("{id} says hello 😀"), &id),
        }
    }

    /// Sends and reads until the budget is spent and answered (`true`) or the
    /// connection is gone (`false`).
    async fn work(&mut self, acks: &Acks) -> bool {
        loop {
            while self.unanswered.len() < WINDOW && self.sent < BUDGET {
                let frame = self.next_change();
                let id = frame["client_id"].as_str().unwrap().to_string();
                self.unanswered.push((id, frame.clone()));
                if self
                    .client
                    .socket
                    .send(Message::text(frame.to_string()))
                    .await
                    .is_err()
                {
                    return false;
                }
            }
            if self.sent == BUDGET && self.unanswered.is_empty() {
                return true;
            }
            let next = tokio::time::timeout(PATIENCE, self.client.socket.next())
                .await
                .unwrap_or_else(|_| panic!("{}: the server stopped answering", self.name));
            let text = match next {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return false,
                Some(Ok(_)) => continue,
            };
            let frame = decode(serde_json::from_str(&text).unwrap());
            self.absorb(frame, acks);
        }
    }

    fn absorb(&mut self, frame: ServerFrame, acks: &Acks) {
        match frame {
            ServerFrame::Ack { client_id, seq, .. } => {
                let Some(sent) = self.answered(&client_id) else {
                    return;
                };
                if sent["type"] == "send" {
                    self.own.push(seq);
                }
                self.acked.insert(client_id, seq);
                acks.send_modify(|acked| *acked += 1);
            }
            ServerFrame::Error {
                code, client_id, ..
            } => {
                let id = client_id.expect("a refused change names its client_id");
                let Some(sent) = self.answered(&id) else {
                    return;
                };
                // Another client deleted the message this change was about.
                assert_eq!(code, ErrorCode::UnknownMessage, "{code:?} for {sent}");
                self.refused.insert(id, code.as_str().to_string());
            }
            // Every event of the log (the joinings too), so the timeline's position,
            // where a rejoin resumes, is the last event this client has.
            event if is_event_in(&event, ROOM) => {
                self.timeline.apply(&event);
            }
            _ => {}
        }
    }

    /// The change sent as `id`, now answered; `None` if it was not waiting (a late
    /// answer to a resend).
    fn answered(&mut self, id: &str) -> Option<Value> {
        let at = self.unanswered.iter().position(|(sent, _)| sent == id)?;
        Some(self.unanswered.remove(at).1)
    }

    async fn reconnect(&mut self, server: &TestServer) {
        self.client = Client::connect(server, &self.token).await;
        self.client.join(ROOM, Some(self.timeline.position())).await;
        // Whatever the dead server never answered goes again, under the same ids.
        for (_, frame) in self.unanswered.clone() {
            self.client.send(frame).await;
        }
    }
}

async fn every_acked_change_survives_a_sigkill_exactly_once(url: String) {
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    let mut actors = Vec::new();
    for (name, dice) in [("alice", 7), ("bob", 11)] {
        let token = token_for(&server, name).await;
        let mut client = Client::connect(&server, &token).await;
        client.join(ROOM, None).await;
        actors.push(Actor {
            name: name.into(),
            token,
            client,
            timeline: Timeline::new(),
            unanswered: Vec::new(),
            acked: HashMap::new(),
            refused: HashMap::new(),
            own: Vec::new(),
            sent: 0,
            dice,
        });
    }

    // Phase 1: both work until the server is killed under them.
    let acks = Arc::new(Acks::new(0));
    let mut acked = acks.subscribe();
    let tasks: Vec<_> = actors
        .into_iter()
        .map(|mut actor| {
            let acks = acks.clone();
            tokio::spawn(async move {
                let finished = actor.work(&acks).await;
                assert!(!finished, "{} finished before the crash", actor.name);
                actor
            })
        })
        .collect();
    tokio::time::timeout(PATIENCE, acked.wait_for(|&acked| acked >= KILL_AFTER))
        .await
        .expect("too slow to reach the crash")
        .unwrap();
    server.kill();
    let mut actors = Vec::new();
    for task in tasks {
        actors.push(task.await.unwrap());
    }
    let acked_before: usize = actors.iter().map(|a| a.acked.len()).sum();
    let in_flight: usize = actors.iter().map(|a| a.unanswered.len()).sum();
    assert!(acked_before >= KILL_AFTER);

    // Phase 2: back on the same database; resend, rejoin, finish the work.
    let server = TestServer::start_with(&url, NO_RATE_LIMIT);
    for actor in &mut actors {
        actor.reconnect(&server).await;
    }
    let tasks: Vec<_> = actors
        .into_iter()
        .map(|mut actor| {
            let acks = acks.clone();
            tokio::spawn(async move {
                assert!(
                    actor.work(&acks).await,
                    "{} lost its connection",
                    actor.name
                );
                actor
            })
        })
        .collect();
    let mut actors = Vec::new();
    for task in tasks {
        actors.push(task.await.unwrap());
    }

    // Every change was answered; the log has each acknowledged one exactly once, at
    // the seq its ack gave, with no gaps, and none of the refused.
    let db = server::db::Db::connect(&url).await.unwrap();
    let log: Vec<(i64, String, String)> = server::with_pool!(&db, pool => {
        // The log's two halves: posts in messages, every other event in room_events.
        sqlx::query_as(
            "SELECT m.seq, m.client_id, 'message' AS kind FROM messages m \
             JOIN rooms r ON r.id = m.room_id WHERE r.name = ? \
             UNION ALL SELECT e.seq, e.client_id, e.kind FROM room_events e \
             JOIN rooms r ON r.id = e.room_id WHERE r.name = ? ORDER BY 1",
        )
        .bind(ROOM)
        .bind(ROOM)
        .fetch_all(pool)
        .await
        .unwrap()
    });
    db.close().await;
    let seqs: Vec<i64> = log.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(seqs, (1..=log.len() as i64).collect::<Vec<_>>(), "no gaps");
    let stored: HashMap<&str, i64> = log.iter().map(|(seq, id, _)| (id.as_str(), *seq)).collect();
    assert_eq!(stored.len(), log.len(), "no client_id twice");
    // Each actor's first joining is an event the server made, once, however often it
    // joined again after the kill.
    let joinings = log.iter().filter(|(_, _, kind)| kind == "joined").count();
    assert_eq!(joinings, actors.len(), "one joining per actor");
    let mut acked_total = 0;
    for actor in &actors {
        assert_eq!(actor.sent, BUDGET);
        assert!(actor.unanswered.is_empty());
        assert_eq!(actor.acked.len() + actor.refused.len(), BUDGET);
        for (id, seq) in &actor.acked {
            assert_eq!(stored.get(id.as_str()), Some(seq), "{id} acked as {seq}");
        }
        for id in actor.refused.keys() {
            assert!(
                !stored.contains_key(id.as_str()),
                "{id} was refused yet stored"
            );
        }
        acked_total += actor.acked.len();
    }
    assert_eq!(
        acked_total,
        log.len() - joinings,
        "nothing stored that was not acknowledged"
    );

    // Both clients hold the room as history has it.
    let (history, last) = whole_history(&server, &actors[0].token, ROOM).await;
    assert_eq!(last, log.len() as i64);
    for actor in &mut actors {
        actor.client.sync(&mut actor.timeline, ROOM, last).await;
        assert_eq!(state(&actor.timeline), history, "{}'s room", actor.name);
    }
    eprintln!("crash test: {acked_before} acked before the kill, {in_flight} in flight, {last} events in all");
}

on_both_backends!(every_acked_change_survives_a_sigkill_exactly_once);
