//! Frames waiting for one connection's socket. Writing is polled alongside everything
//! else the connection waits on, so a client that reads slowly delays only itself, and
//! frames that become ready together go out in one flush (one write call).

use std::{
    collections::VecDeque,
    future::poll_fn,
    task::{Context, Poll},
    time::Duration,
};

use tokio::time::Instant;

use axum::extract::ws::Message;
use futures_util::{Sink, SinkExt};

/// Frames queued for the socket. When full, the connection reads nothing more until
/// the socket takes some, and its room feeds lag.
const OUTBOUND: usize = 256;

/// Generic over the sink so that the connection loop can be driven through channels in
/// its tests; the server passes the WebSocket's write half.
pub struct Outbox<S> {
    sink: S,
    queue: VecDeque<Message>,
    /// Frames handed to the socket but not yet flushed.
    unflushed: bool,
    /// When a flush last completed, or the outbox last started from empty. (Not
    /// stamped per frame: reading the clock for every delivery showed in profiles.)
    progress: Instant,
}

impl<S: Sink<Message, Error = axum::Error> + Unpin> Outbox<S> {
    pub fn new(sink: S) -> Self {
        Outbox {
            sink,
            queue: VecDeque::new(),
            unflushed: false,
            progress: Instant::now(),
        }
    }

    /// How long the socket has taken nothing while there was something to write.
    pub fn stalled_for(&self) -> Duration {
        if self.is_busy() {
            self.progress.elapsed()
        } else {
            Duration::ZERO
        }
    }

    /// When the current stall (if the outbox is busy) began.
    pub fn stalled_since(&self) -> Instant {
        self.progress
    }

    pub fn is_full(&self) -> bool {
        self.queue.len() >= OUTBOUND
    }

    pub fn is_busy(&self) -> bool {
        self.unflushed || !self.queue.is_empty()
    }

    /// Queues a frame. Callers make room first when [`Outbox::is_full`] (by
    /// [`Outbox::write_all`]), so long replays and catch-ups go out page by page.
    pub fn push(&mut self, message: Message) {
        if !self.is_busy() {
            self.progress = Instant::now();
        }
        self.queue.push_back(message);
    }

    /// Writes what is queued; ready once all of it is flushed. Safe to drop at any
    /// point: what is not yet handed to the socket stays queued.
    pub fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        while !self.queue.is_empty() {
            std::task::ready!(self.sink.poll_ready_unpin(cx))?;
            let message = self.queue.pop_front().expect("not empty");
            self.sink.start_send_unpin(message)?;
            self.unflushed = true;
        }
        if self.unflushed {
            std::task::ready!(self.sink.poll_flush_unpin(cx))?;
            self.unflushed = false;
            self.progress = Instant::now();
            // A burst may have grown the queue; an idle connection should not keep that.
            if self.queue.capacity() > 64 {
                self.queue.shrink_to(8);
            }
        }
        Poll::Ready(Ok(()))
    }

    pub async fn write_all(&mut self) -> Result<(), axum::Error> {
        poll_fn(|cx| self.poll_write(cx)).await
    }

    /// Sends a last frame (a close) after what is queued, and closes the socket, all
    /// within `within`: a peer that reads nothing cannot hold the task.
    pub async fn finish(mut self, last: Option<Message>, within: Duration) {
        let _ = tokio::time::timeout(within, async {
            if let Some(last) = last {
                self.queue.push_back(last);
                let _ = self.write_all().await;
            }
            let _ = self.sink.close().await;
        })
        .await;
    }
}
