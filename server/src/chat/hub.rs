//! Fan-out within one process: a broadcast channel per room carrying frames encoded
//! once (every member gets the same bytes), per-room presence counted per connection,
//! typing throttles, and the per-user send rate limit.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use app::protocol::ServerFrame;
use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

/// A user's typing notice in a room goes out at most this often.
const TYPING_EVERY: Duration = Duration::from_secs(2);

/// The hub's tunables (see `Config`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Frames a room buffers for its slowest member before that member lags and
    /// catches up from the database instead.
    pub room_buffer: usize,
    /// Sends per second per user, and the burst allowed above that rate.
    pub send_rate: f64,
    pub send_burst: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            room_buffer: 1024,
            send_rate: 10.0,
            send_burst: 20.0,
        }
    }
}

/// What a room's members receive: the encoded frame, and the seq for events of the
/// room's log so that each connection can drop what it already has and notice what it
/// is missing.
#[derive(Clone, Debug)]
pub struct Event {
    pub seq: Option<i64>,
    pub frame: Utf8Bytes,
}

impl Event {
    pub fn encode(frame: &ServerFrame) -> Utf8Bytes {
        Utf8Bytes::from(serde_json::to_string(frame).expect("frames always serialise"))
    }

    fn presence(room: &str, user: &str, online: bool) -> Event {
        let frame = ServerFrame::Presence {
            room: room.to_string(),
            user: user.to_string(),
            online,
        };
        Event {
            seq: None,
            frame: Event::encode(&frame),
        }
    }
}

/// One connection's presence in a room: counted while it lives, released on drop, so
/// no path out of a connection (a leave, a rejoin, an error, a panic) can leave a user
/// online.
pub struct Presence {
    hub: Hub,
    room: String,
    user: String,
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.hub.leave(&self.room, &self.user);
    }
}

struct Room {
    tx: broadcast::Sender<Event>,
    /// Connections in the room per username; online while above zero.
    online: HashMap<String, usize>,
    typing: HashMap<String, Instant>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
struct Inner {
    limits: Limits,
    rooms: HashMap<String, Room>,
    buckets: HashMap<i64, Bucket>,
}

#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Mutex<Inner>>,
}

impl Hub {
    pub fn new(limits: Limits) -> Hub {
        Hub {
            inner: Arc::new(Mutex::new(Inner {
                limits,
                ..Inner::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn room<'a>(inner: &'a mut Inner, name: &str) -> &'a mut Room {
        let buffer = inner.limits.room_buffer.max(1);
        inner.rooms.entry(name.to_string()).or_insert_with(|| Room {
            tx: broadcast::channel(buffer).0,
            online: HashMap::new(),
            typing: HashMap::new(),
        })
    }

    /// Subscribes a connection of `user` to `room`: returns its presence (which ends
    /// when dropped), the live feed (subscribed before anything is replayed, so nothing
    /// falls between replay and live) and the users online, announcing `user` if this
    /// is their first connection there.
    pub fn join(
        &self,
        room: &str,
        user: &str,
    ) -> (Presence, broadcast::Receiver<Event>, Vec<String>) {
        let mut inner = self.lock();
        let state = Self::room(&mut inner, room);
        let feed = state.tx.subscribe();
        let count = state.online.entry(user.to_string()).or_default();
        *count += 1;
        if *count == 1 {
            let _ = state.tx.send(Event::presence(room, user, true));
        }
        let mut online: Vec<String> = state.online.keys().cloned().collect();
        online.sort();
        let presence = Presence {
            hub: self.clone(),
            room: room.to_string(),
            user: user.to_string(),
        };
        (presence, feed, online)
    }

    /// The reverse of [`Hub::join`] for one connection.
    fn leave(&self, room: &str, user: &str) {
        let mut inner = self.lock();
        let Some(state) = inner.rooms.get_mut(room) else {
            return;
        };
        let Some(count) = state.online.get_mut(user) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            state.online.remove(user);
            state.typing.remove(user);
            let _ = state.tx.send(Event::presence(room, user, false));
        }
    }

    #[cfg(test)]
    fn online(&self, room: &str) -> Vec<String> {
        let inner = self.lock();
        let mut online: Vec<String> = inner
            .rooms
            .get(room)
            .map(|state| state.online.keys().cloned().collect())
            .unwrap_or_default();
        online.sort();
        online
    }

    /// Sends a stored event (its seq and frame) to the room's members.
    pub fn publish(&self, room: &str, seq: i64, frame: &ServerFrame) {
        let frame = Event::encode(frame);
        let mut inner = self.lock();
        let _ = Self::room(&mut inner, room).tx.send(Event {
            seq: Some(seq),
            frame,
        });
    }

    /// Tells the room that `user` is typing, unless they did so very recently.
    pub fn typing(&self, room: &str, user: &str, now: Instant) {
        let mut inner = self.lock();
        let state = Self::room(&mut inner, room);
        if let Some(last) = state.typing.get(user) {
            if now.duration_since(*last) < TYPING_EVERY {
                return;
            }
        }
        state.typing.insert(user.to_string(), now);
        let frame = ServerFrame::Typing {
            room: room.to_string(),
            user: user.to_string(),
        };
        let _ = state.tx.send(Event {
            seq: None,
            frame: Event::encode(&frame),
        });
    }

    /// Takes one send token from `user_id`'s bucket; `false` when they are flooding.
    pub fn allow_send(&self, user_id: i64, now: Instant) -> bool {
        let mut inner = self.lock();
        let Limits {
            send_rate,
            send_burst,
            ..
        } = inner.limits;
        let bucket = inner.buckets.entry(user_id).or_insert(Bucket {
            tokens: send_burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * send_rate;
        bucket.tokens = (bucket.tokens + refill).min(send_burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(event: &Event) -> ServerFrame {
        serde_json::from_str(event.frame.as_str()).unwrap()
    }

    #[test]
    fn presence_counts_connections_not_users() {
        let hub = Hub::default();
        let (_me, mut watcher, _) = hub.join("general", "watcher");
        let own = decode(&watcher.try_recv().unwrap());
        assert!(
            matches!(own, ServerFrame::Presence { ref user, online: true, .. } if user == "watcher")
        );
        let (tab1, _feed1, online) = hub.join("general", "alice");
        assert_eq!(online, ["alice", "watcher"]);
        let (tab2, _feed2, _) = hub.join("general", "alice");
        // One announcement for two tabs.
        assert!(matches!(
            decode(&watcher.try_recv().unwrap()),
            ServerFrame::Presence { online: true, .. }
        ));
        assert!(watcher.try_recv().is_err());

        drop(tab1);
        assert!(watcher.try_recv().is_err(), "one tab closed, still online");
        assert_eq!(hub.online("general"), ["alice", "watcher"]);
        drop(tab2);
        assert_eq!(
            decode(&watcher.try_recv().unwrap()),
            ServerFrame::Presence {
                room: "general".into(),
                user: "alice".into(),
                online: false
            }
        );
        assert_eq!(hub.online("general"), ["watcher"]);
    }

    #[test]
    fn typing_is_throttled_per_user() {
        let hub = Hub::default();
        let (_bob, mut feed, _) = hub.join("general", "bob");
        let _ = feed.try_recv(); // bob's own presence
        let now = Instant::now();
        hub.typing("general", "alice", now);
        hub.typing("general", "alice", now + Duration::from_millis(500));
        hub.typing("general", "carol", now + Duration::from_millis(600));
        hub.typing("general", "alice", now + TYPING_EVERY);
        let users: Vec<String> = std::iter::from_fn(|| feed.try_recv().ok())
            .map(|event| match decode(&event) {
                ServerFrame::Typing { user, .. } => user,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(users, ["alice", "carol", "alice"]);
    }

    #[test]
    fn send_rate_allows_a_burst_then_ten_a_second() {
        let hub = Hub::default();
        let now = Instant::now();
        let allowed = (0..30).filter(|_| hub.allow_send(1, now)).count();
        assert_eq!(allowed, 20);
        assert!(!hub.allow_send(1, now));
        assert!(hub.allow_send(2, now), "another user has their own bucket");
        // 100 ms later one token is back.
        assert!(hub.allow_send(1, now + Duration::from_millis(100)));
        assert!(!hub.allow_send(1, now + Duration::from_millis(100)));
    }
}
