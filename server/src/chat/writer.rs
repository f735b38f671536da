//! Group commit: one task per process stores every posted message. While a transaction
//! is in flight, new messages queue up and go into the next one together, so throughput
//! follows the database's commits per second times the batch size rather than one
//! commit per message. Each message is durable before its sender is answered and
//! before anyone else is shown it.

use std::{collections::HashMap, time::Duration};

use app::error::ApiError;
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

use super::{
    hub::Hub,
    store::{self, MessageRow, NewMessage, Outcome},
};
use crate::{accounts::now_ms, db::Db};

/// Most messages stored in one transaction.
const MAX_BATCH: usize = 512;
/// Batches start at most this often. A message arriving after a quiet spell is stored at
/// once; under load each batch gathers what arrives within this time, so one commit and
/// one socket write per member carry several messages. Delivering messages one by one
/// cost a kernel send per member per message, and that CPU, not the database, is what
/// made fan-out latency climb with the rate (docs/benchmarks.md).
const PACE: Duration = Duration::from_millis(2);
/// Messages waiting for the writer; senders wait (backpressure) beyond this.
const QUEUE: usize = 8192;

pub struct Request {
    pub message: NewMessage,
    pub room: String,
    pub author: String,
    pub reply: oneshot::Sender<Result<Outcome, ApiError>>,
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Request>,
}

impl Writer {
    /// Starts the writer task; it ends when every [`Writer`] handle is dropped.
    pub fn start(db: Db, hub: Hub) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, hub, rx));
        Writer { tx }
    }

    /// Stores a message (or finds the original of a resend) and, when new, publishes it.
    /// Connections await this inside their own set of pending acks, so they keep
    /// reading while their messages wait for the next commit.
    pub async fn store(
        &self,
        message: NewMessage,
        room: String,
        author: String,
    ) -> Result<Outcome, ApiError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            message,
            room,
            author,
            reply,
        };
        if self.tx.send(request).await.is_err() {
            return Err(ApiError::Internal);
        }
        answer.await.unwrap_or(Err(ApiError::Internal))
    }
}

async fn run(db: Db, hub: Hub, mut rx: mpsc::Receiver<Request>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    let mut last_start = Instant::now() - PACE;
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let since = last_start.elapsed();
        if since < PACE && batch.len() < MAX_BATCH {
            tokio::time::sleep(PACE - since).await;
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
        }
        last_start = Instant::now();
        store_and_publish(&db, &hub, std::mem::take(&mut batch)).await;
    }
}

async fn store_and_publish(db: &Db, hub: &Hub, batch: Vec<Request>) {
    let usernames: HashMap<i64, String> = batch
        .iter()
        .map(|r| (r.message.author_id, r.author.clone()))
        .collect();
    let room_names: HashMap<i64, String> = batch
        .iter()
        .map(|r| (r.message.room_id, r.room.clone()))
        .collect();
    let messages: Vec<NewMessage> = batch.iter().map(|r| r.message.clone()).collect();

    match store::store_batch(db, &messages, &usernames, &room_names, now_ms()).await {
        Ok(outcomes) => {
            // Publish in input order: within a room that is seq order.
            for outcome in &outcomes {
                if let Outcome::Stored(row) = outcome {
                    hub.publish(row);
                }
            }
            for (request, outcome) in batch.into_iter().zip(outcomes) {
                let _ = request.reply.send(Ok(outcome));
            }
        }
        Err(error) => {
            tracing::error!(%error, size = batch.len(), "storing a batch of messages failed");
            for request in batch {
                let _ = request.reply.send(Err(ApiError::Internal));
            }
        }
    }
}

/// The wire form of a stored message.
pub fn to_wire(row: &MessageRow) -> app::protocol::ChatMessage {
    app::protocol::ChatMessage {
        room: row.room.clone(),
        seq: row.seq,
        author: row.author.clone(),
        body: row.body.clone(),
        sent_at: super::timefmt::rfc3339_ms(row.sent_at),
        client_id: row.client_id.clone(),
    }
}
