//! Each room's live feed in this process: one broadcast channel carrying frames encoded
//! once (every member gets the same bytes), the [`Sequencer`] that puts the room's log
//! events in order, and the gauge of how late members receive them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use tokio::sync::broadcast;

use super::{sequencer::Sequencer, Event, LogEvent};
use crate::chat::rules::load::RoomLoad;

struct RoomFeed {
    id: i64,
    tx: broadcast::Sender<Event>,
    load: Arc<RoomLoad>,
    order: Sequencer<LogEvent>,
}

/// A room whose feed has a gap due for reading from the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub room_id: i64,
    pub room: String,
    /// The last seq passed on: the read starts after it.
    pub after: i64,
}

/// Where a followed room's feed stands, for the cluster's check that no node missed a
/// notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedPosition {
    pub room_id: i64,
    pub room: String,
    /// The last seq the feed passed on.
    pub delivered: i64,
}

/// What [`Feeds::publish`] did.
pub struct Published {
    /// The room's feed was waiting on no gap before and is now.
    pub gap_opened: bool,
}

/// The room feeds, by room name. The lock is taken last: presence holds its
/// own while it sends on a feed, never the other way round.
pub struct Feeds {
    buffer: usize,
    rooms: Mutex<HashMap<String, RoomFeed>>,
}

impl Feeds {
    pub fn new(buffer: usize) -> Feeds {
        Feeds {
            buffer: buffer.max(1),
            rooms: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, RoomFeed>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes to room `room_id` called `room`. `present`: whether anyone here is
    /// counted in the room. When nobody was, what its feed knew may be stale (no
    /// notices are followed for a room nobody here is in): the count starts again with
    /// the next baseline, and the answer says so.
    pub fn subscribe(
        &self,
        room_id: i64,
        room: &str,
        present: bool,
    ) -> (broadcast::Receiver<Event>, bool) {
        let mut rooms = self.lock();
        let feed = rooms.entry(room.to_string()).or_insert_with(|| RoomFeed {
            id: room_id,
            tx: broadcast::channel(self.buffer).0,
            load: Arc::default(),
            order: Sequencer::default(),
        });
        let afresh = !present && feed.tx.receiver_count() == 0;
        if afresh {
            feed.order.reset();
        }
        (feed.tx.subscribe(), afresh)
    }

    /// Sends an event outside the log (presence, typing) to `room`'s members here;
    /// `false` when nobody here has ever joined the room.
    pub fn send(&self, room: &str, event: Event) -> bool {
        match self.lock().get(room) {
            Some(feed) => {
                // No receivers is no error: nobody here is in the room now.
                let _ = feed.tx.send(event);
                true
            }
            None => false,
        }
    }

    /// Says that a member joining `room` read its log up to `seq`, so its feed owes
    /// what follows (unless the feed is already under way).
    pub fn baseline(&self, room: &str, seq: i64) {
        if let Some(feed) = self.lock().get_mut(room) {
            feed.order.baseline(seq);
        }
    }

    /// Offers a stored event of room `room_id` to its members: the sequencer passes
    /// it on in order, once.
    pub fn publish(&self, room_id: i64, room: &str, event: LogEvent) -> Published {
        let mut rooms = self.lock();
        let unchanged = Published { gap_opened: false };
        let Some(feed) = rooms.get_mut(room) else {
            return unchanged; // nobody here has joined it
        };
        if feed.id != room_id {
            // Not this database's room of that name: a notice from another deployment
            // sharing the Redis. Never let it shadow a real seq.
            return unchanged;
        }
        if feed.tx.receiver_count() == 0 {
            // Nobody listens: the next joiner's baseline starts the count afresh.
            feed.order.reset();
            return unchanged;
        }
        let had_gap = feed.order.due_at().is_some();
        let tx = &feed.tx;
        let now = tokio::time::Instant::now();
        feed.order.offer(event.seq, event, now, |seq, event| {
            let _ = tx.send(Event {
                seq: Some(seq),
                frame: event.frame,
                at: Some(now.into_std()),
                ends: event.ends,
            });
        });
        Published {
            gap_opened: !had_gap && feed.order.due_at().is_some(),
        }
    }

    /// The rooms whose gaps are due for reading, and when the next one not yet due is.
    pub fn due_gaps(&self, now: tokio::time::Instant) -> (Vec<Gap>, Option<tokio::time::Instant>) {
        let rooms = self.lock();
        let mut due = Vec::new();
        let mut next: Option<tokio::time::Instant> = None;
        for (name, feed) in rooms.iter() {
            let (Some(after), Some(at)) = (feed.order.delivered(), feed.order.due_at()) else {
                continue;
            };
            if feed.order.fill_due(now) {
                due.push(Gap {
                    room_id: feed.id,
                    room: name.clone(),
                    after,
                });
            } else {
                next = Some(next.map_or(at, |next| next.min(at)));
            }
        }
        (due, next)
    }

    /// The rooms someone here follows, with the last seq their feed passed on.
    pub fn positions(&self) -> Vec<FeedPosition> {
        self.lock()
            .iter()
            .filter(|(_, feed)| feed.tx.receiver_count() > 0)
            .filter_map(|(name, feed)| {
                Some(FeedPosition {
                    room_id: feed.id,
                    room: name.clone(),
                    delivered: feed.order.delivered()?,
                })
            })
            .collect()
    }

    /// The last seq `room`'s feed passed on.
    pub fn delivered(&self, room: &str) -> Option<i64> {
        self.lock().get(room)?.order.delivered()
    }

    /// The delivery delay gauge of `room`, for its members to feed.
    pub fn load(&self, room: &str) -> Option<Arc<RoomLoad>> {
        self.lock().get(room).map(|feed| feed.load.clone())
    }
}
