//! One connection's view of one room, from `Chat::join`: the `joined` frame,
//! the replay, then the live feed, each log event exactly once and in order. Whatever
//! the live feed cannot give (it lagged past the room's buffer, or an event arrived
//! with a gap before it) is read from the database first. The feed counts the
//! connection as present while it lives, measures how late live events reach the
//! member, and ends after the event that ends the member's membership.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use axum::extract::ws::Utf8Bytes;
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

use super::{
    fanout::{Event, Presence},
    read::Reader,
    room::RoomRef,
    rules::load::{RoomLoad, SAMPLE_EVERY},
};
use crate::monitoring;

/// Where a connection is in one room's log.
mod cursor;

use cursor::{LogCursor, Place};

/// A frame for the connection to send.
#[derive(Debug)]
pub struct Delivery {
    pub frame: Utf8Bytes,
    /// The member is no longer in the room: this was the last frame of the feed.
    pub ends_membership: bool,
}

/// Reading the room's log failed: the feed cannot go on without a hole, so it ends.
#[derive(Debug, thiserror::Error)]
#[error("reading the room's log to catch up failed")]
pub struct CatchUpFailed;

type Reading = Pin<Box<dyn Future<Output = Result<(Vec<Event>, bool), sqlx::Error>> + Send>>;

/// What the feed starts from, read by `Chat::join`.
pub struct Start {
    pub room: RoomRef,
    pub user: Arc<str>,
    pub joined: Utf8Bytes,
    pub live: tokio::sync::broadcast::Receiver<Event>,
    pub presence: Presence,
    pub load: Arc<RoomLoad>,
    pub reader: Reader,
    /// The seq the replay starts after.
    pub start: i64,
    /// The first page of the replay, and whether more of it is to be read.
    pub replay: Vec<Event>,
    pub more: bool,
}

pub struct RoomFeed {
    room: RoomRef,
    user: Arc<str>,
    /// The `joined` frame, until sent.
    joined: Option<Utf8Bytes>,
    /// Log events read from the database, placed against the cursor already.
    ready: VecDeque<Event>,
    /// A live event that came with a gap before it, offered once the read is done.
    held: Option<Event>,
    reading: Option<Reading>,
    live: BroadcastStream<Event>,
    cursor: LogCursor,
    reader: Reader,
    load: Arc<RoomLoad>,
    /// Fell behind the live feed: the next live event says by how much.
    measure_next: bool,
    /// Live deliveries until the next delay sample.
    until_sample: u32,
    deliveries: metrics::Counter,
    /// Past the end of the membership, or a read failed.
    over: bool,
    /// Keeps the user present in the room while the feed lives.
    _presence: Presence,
    _gauge: monitoring::Held,
}

impl RoomFeed {
    pub(super) fn new(start: Start) -> RoomFeed {
        let mut feed = RoomFeed {
            room: start.room,
            user: start.user,
            joined: Some(start.joined),
            ready: VecDeque::new(),
            held: None,
            reading: None,
            live: BroadcastStream::new(start.live),
            cursor: LogCursor::after(start.start),
            reader: start.reader,
            load: start.load,
            measure_next: false,
            until_sample: SAMPLE_EVERY,
            deliveries: monitoring::deliveries(),
            over: false,
            _presence: start.presence,
            _gauge: monitoring::Held::joined_room(),
        };
        feed.take_read(start.replay, start.more);
        feed
    }

    /// The room, as the chat found it for this member.
    pub fn room(&self) -> &RoomRef {
        &self.room
    }

    /// Starts reading the log after the cursor.
    fn read(&mut self) {
        let reading = self.reader.after(self.room.clone(), self.cursor.last());
        self.reading = Some(Box::pin(reading));
    }

    /// Takes a page read from the log: what was not sent yet is queued in order, and
    /// the next page read or, at the end, the held live event offered.
    fn take_read(&mut self, events: Vec<Event>, more: bool) {
        for event in events {
            self.place_read(event);
        }
        if more {
            self.read();
        } else if let Some(held) = self.held.take() {
            self.place_read(held);
        }
    }

    fn place_read(&mut self, event: Event) {
        let Some(seq) = event.seq else { return };
        if self.cursor.place(seq) != Place::Sent {
            self.cursor.advance(seq);
            self.ready.push_back(event);
        }
    }

    /// The frame of a log event going out.
    fn deliver(&mut self, event: Event) -> Delivery {
        self.deliveries.increment(1);
        let ends_membership = event.ends.as_deref() == Some(&*self.user);
        self.over |= ends_membership;
        Delivery {
            frame: event.frame,
            ends_membership,
        }
    }

    /// Samples how late a live event reached the member, for the room's load gauge.
    fn measure(&self, event: &Event) {
        if let Some(at) = event.at {
            let now = std::time::Instant::now();
            self.load.record(now.saturating_duration_since(at), now);
        }
    }

    /// A live log event: sent if next, read around if a gap comes before it.
    fn on_live(&mut self, event: Event, seq: i64) -> Option<Delivery> {
        if self.measure_next && event.at.is_some() {
            // The oldest event the feed still held: its age is how late this member is.
            self.measure(&event);
            self.measure_next = false;
        }
        match self.cursor.place(seq) {
            Place::Sent => None,
            Place::Next => {
                self.cursor.advance(seq);
                self.until_sample -= 1;
                if self.until_sample == 0 {
                    self.until_sample = SAMPLE_EVERY;
                    self.measure(&event);
                }
                Some(self.deliver(event))
            }
            Place::Gap => {
                // Something between was not seen here: read it from the database
                // rather than leave a gap (this event comes with it or after it).
                self.held = Some(event);
                self.read();
                None
            }
        }
    }
}

impl Stream for RoomFeed {
    type Item = Result<Delivery, CatchUpFailed>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.over {
            return Poll::Ready(None);
        }
        if let Some(frame) = this.joined.take() {
            return Poll::Ready(Some(Ok(Delivery {
                frame,
                ends_membership: false,
            })));
        }
        loop {
            if let Some(event) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(this.deliver(event))));
            }
            if let Some(reading) = this.reading.as_mut() {
                let outcome = ready!(reading.as_mut().poll(cx));
                this.reading = None;
                match outcome {
                    Ok((events, more)) => this.take_read(events, more),
                    Err(error) => {
                        tracing::warn!(%error, room = this.room.name, "catching up failed");
                        this.over = true;
                        return Poll::Ready(Some(Err(CatchUpFailed)));
                    }
                }
                continue;
            }
            match ready!(this.live.poll_next_unpin(cx)) {
                // The hub is gone: the server is stopping.
                None => return Poll::Ready(None),
                Some(Ok(event)) => match event.seq {
                    None => {
                        return Poll::Ready(Some(Ok(Delivery {
                            frame: event.frame,
                            ends_membership: false,
                        })))
                    }
                    Some(seq) => {
                        if let Some(delivery) = this.on_live(event, seq) {
                            return Poll::Ready(Some(Ok(delivery)));
                        }
                    }
                },
                Some(Err(BroadcastStreamRecvError::Lagged(missed))) => {
                    tracing::debug!(user = %this.user, room = this.room.name, missed, "lagging; catching up from the database");
                    monitoring::resynced();
                    this.measure_next = true;
                    this.read();
                }
            }
        }
    }
}
