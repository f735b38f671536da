//! Group commit: one task per process stores every change to every room. While a
//! transaction is in flight, new changes queue up and go into the next one together,
//! so throughput follows the database's commits per second times the batch size
//! rather than one commit per change. Each change is durable before its sender is
//! answered and before anyone else is shown it: the writer publishes only after the
//! commit. In cluster mode it also announces each committed batch to the other nodes;
//! a batch that meets another node's in a lock conflict is tried again.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use tokio::{
    sync::{mpsc, oneshot, Notify},
    time::Instant,
};

use crate::{
    chat::{
        fanout::{
            cluster::{Announcer, Stored},
            Event, Hub, LogEvent,
        },
        refusal::Refusal,
        wire::{membership_ended, new_event},
    },
    clock::now_ms,
    db::{is_contention, Db},
};

/// Storing a batch of changes in one transaction.
mod batch;
/// The checks a change passes before it is queued.
pub mod check;
/// Deciding each change of a batch against what is stored.
pub mod plan;
/// Changes outside the logs: rooms created, read positions, settings.
pub mod rooms;

use app::{
    model::Receipt,
    protocol::{Change, ErrorCode, ServerFrame},
};
pub use batch::store_batch;
pub use plan::{Decision, Submission};

/// Most changes stored in one transaction.
const MAX_BATCH: usize = 512;
/// Batches start at most this often. A change arriving after a quiet spell is stored at
/// once; under load each batch gathers what arrives within this time, so one commit and
/// one socket write per member carry several events. Delivering messages one by one
/// cost a kernel send per member per message, and that CPU, not the database, is what
/// made fan-out latency climb with the rate (docs/benchmarks.md).
const PACE: Duration = Duration::from_millis(2);
/// Changes waiting for the writer; submitters wait (backpressure) beyond this.
const QUEUE: usize = 8192;
/// Attempts at a batch that loses a lock conflict (a deadlock, a lock-wait timeout, a
/// key another node stored first) before its changes are refused.
const ATTEMPTS: u32 = 5;

/// What a submitted change becomes: its receipt once stored, or why not.
pub type Queued = Pin<Box<dyn Future<Output = Result<Receipt, Refusal>> + Send>>;

struct Request {
    submission: Submission,
    reply: oneshot::Sender<Result<Receipt, Refusal>>,
    /// When it was queued: how long changes wait for the writer is part of the load
    /// the door measures ([`super::load`]).
    queued: Instant,
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Request>,
}

impl Writer {
    /// Starts the writer task; it ends when every [`Writer`] handle is dropped.
    /// `released` is rung after a commit that deleted messages: their files are now
    /// the collector's to erase.
    pub fn start(db: Db, hub: Hub, announcer: Option<Announcer>, released: Arc<Notify>) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, hub, announcer, released, rx));
        Writer { tx }
    }

    /// Queues a change. A full queue refuses it at once (`rate_limited`, retry-safe):
    /// waiting there held the sender's whole connection, and the posts behind it in its
    /// socket, for as long as the server was behind. The answer comes after the commit
    /// that stores it (or finds the original of a retry). Connections keep these among
    /// their pending acks, so they go on reading while their changes wait for the
    /// next commit.
    pub async fn queue(&self, submission: Submission) -> Result<Queued, Refusal> {
        let stopped = || Refusal::internal("the writer has stopped", "shutting down");
        let (reply, answer) = oneshot::channel();
        let request = Request {
            submission,
            reply,
            queued: Instant::now(),
        };
        match self.tx.try_send(request) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                return Err(Refusal::new(
                    ErrorCode::RateLimited,
                    "The server is too busy right now; this was not sent. Try again in a moment.",
                ))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(stopped()),
        }
        Ok(Box::pin(async move {
            answer.await.unwrap_or_else(|_| Err(stopped()))
        }))
    }
}

async fn run(
    db: Db,
    hub: Hub,
    announcer: Option<Announcer>,
    released: Arc<Notify>,
    mut rx: mpsc::Receiver<Request>,
) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    let mut last_start = Instant::now() - PACE;
    let server_load = hub.server_load().clone();
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
        if let Some(oldest) = batch.first() {
            server_load.record_queue_wait(
                last_start.saturating_duration_since(oldest.queued),
                last_start.into_std(),
            );
        }
        let deletes = batch
            .iter()
            .any(|r| matches!(r.submission.change, Change::Delete { .. }));
        store_and_publish(&db, &hub, announcer.as_ref(), std::mem::take(&mut batch)).await;
        if deletes {
            released.notify_one();
        }
    }
}

/// Stores a batch, trying again (from the start: nothing of a failed attempt was
/// committed) while it loses lock conflicts to other nodes' writers.
async fn store_with_retries(
    db: &Db,
    submissions: &[Submission],
    now: i64,
) -> Result<Vec<Decision>, sqlx::Error> {
    let mut attempt = 1;
    loop {
        match store_batch(db, submissions, now).await {
            Err(error) if attempt < ATTEMPTS && is_contention(&error) => {
                tracing::debug!(%error, attempt, "a batch lost a lock conflict; trying again");
                tokio::time::sleep(Duration::from_millis(1 << attempt)).await;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// The account whose list of rooms a stored change alters.
fn whose_rooms_changed(submission: &Submission) -> Option<&str> {
    match &submission.change {
        Change::Join | Change::Leave => Some(&submission.actor),
        Change::Invite { user } | Change::Remove { user } | Change::SetRole { user, .. } => {
            Some(user)
        }
        _ => None,
    }
}

async fn store_and_publish(db: &Db, hub: &Hub, announcer: Option<&Announcer>, batch: Vec<Request>) {
    let (submissions, replies): (Vec<Submission>, Vec<_>) = batch
        .into_iter()
        .map(|request| (request.submission, request.reply))
        .unzip();
    let now = now_ms();
    let started = Instant::now();
    match store_with_retries(db, &submissions, now).await {
        Ok(decisions) => {
            let stored = decisions
                .iter()
                .filter(|d| matches!(d, Decision::New { .. }))
                .count();
            crate::monitoring::committed(submissions.len(), stored, started.elapsed());
            // Publish in input order: within a room that is seq order.
            let mut stored = Vec::new();
            for (submission, decision) in submissions.iter().zip(&decisions) {
                if let Decision::New {
                    seq,
                    parent,
                    room_mention,
                    files,
                } = decision
                {
                    let event = new_event(
                        submission,
                        *seq,
                        parent.clone(),
                        *room_mention,
                        files.clone(),
                        now,
                    );
                    let ends = membership_ended(&event);
                    let frame = Event::encode(&event);
                    if announcer.is_some() {
                        stored.push(Stored::new(
                            submission.room_id,
                            &submission.room,
                            *seq,
                            frame.as_str(),
                            ends.as_deref(),
                        ));
                    }
                    let event = LogEvent {
                        seq: *seq,
                        frame,
                        ends,
                    };
                    hub.publish(submission.room_id, &submission.room, event);
                }
            }
            if let Some(announcer) = announcer {
                announcer.announce(stored);
            }
            // Whoever's rooms changed reads their list again, on every tab and device.
            for (submission, decision) in submissions.iter().zip(&decisions) {
                if matches!(decision, Decision::New { .. }) {
                    if let Some(user) = whose_rooms_changed(submission) {
                        hub.to_user(user, &ServerFrame::RoomsChanged {});
                    }
                }
            }
            for ((submission, decision), reply) in
                submissions.into_iter().zip(decisions).zip(replies)
            {
                let answer = match decision {
                    Decision::New { seq, .. } => Ok(Receipt {
                        room: submission.room,
                        seq,
                    }),
                    Decision::Repeat { room, seq } => Ok(Receipt { room, seq }),
                    Decision::Refused(refusal) => Err(refusal),
                };
                let _ = reply.send(answer);
            }
        }
        Err(error) => {
            let refusal = Refusal::internal(
                &format!("storing a batch of {} changes failed", submissions.len()),
                error,
            );
            for reply in replies {
                let _ = reply.send(Err(refusal.clone()));
            }
        }
    }
}
