//! Typing notices, throttled per user and room. Its lock is taken before the feeds'
//! (to send the notice) and never while presence's is held.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use app::protocol::ServerFrame;

use super::{feeds::Feeds, Event};

/// A user's typing notice in a room goes out at most this often.
pub const TYPING_EVERY: Duration = Duration::from_secs(2);

/// When each (room, user) last had a notice sent.
#[derive(Default)]
pub struct Typing {
    last: Mutex<HashMap<(String, String), Instant>>,
}

impl Typing {
    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Instant>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Shows `room`'s members here that `user` is typing, unless a notice went out
    /// very recently or nobody here has been in the room; `true` when one went out.
    pub fn notice(&self, feeds: &Feeds, room: &str, user: &str, now: Instant) -> bool {
        let mut last = self.lock();
        let key = (room.to_string(), user.to_string());
        if last
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < TYPING_EVERY)
        {
            return false;
        }
        let frame = ServerFrame::Typing {
            room: room.to_string(),
            user: user.to_string(),
        };
        if !feeds.send(room, Event::outside_log(&frame)) {
            return false;
        }
        last.insert(key, now);
        true
    }

    /// Forgets `user`'s throttle in `room` (their last connection there left).
    pub fn forget(&self, room: &str, user: &str) {
        self.lock().remove(&(room.to_string(), user.to_string()));
    }
}
