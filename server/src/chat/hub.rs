//! Fan-out within one process: a broadcast channel per room carrying frames encoded
//! once (every member gets the same bytes), each room's feed put in log order by its
//! [`Sequencer`], per-room presence counted per connection (and, in cluster mode,
//! merged with the other nodes' view), typing throttles, and the per-user send rate
//! limit. What other nodes must hear of (presence changes, typing) goes out as
//! [`News`] on a channel the cluster bus reads; the hub itself knows nothing of Redis.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use app::protocol::ServerFrame;
use axum::extract::ws::Utf8Bytes;
use tokio::sync::{broadcast, mpsc, Notify};

use super::{
    load::{RoomLoad, ServerLoad},
    rate::Buckets,
    sequencer::Sequencer,
};

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
    /// When a live event was published to the room's feed (not for replays).
    pub at: Option<Instant>,
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
            at: None,
        }
    }
}

/// The answer to [`Hub::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// The user is over their send rate.
    TooFast,
    /// The room's members are receiving its events too late (see [`RoomLoad`]).
    Busy,
}

/// What happened here that other nodes should hear of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum News {
    /// `user`'s first connection to `room` on this node opened, or its last closed.
    Presence {
        room: String,
        user: String,
        online: bool,
    },
    /// `user` is typing in `room` (already throttled here).
    Typing { room: String, user: String },
    /// A frame for every connection of `user` (read positions, room list changes).
    User { user: String, frame: Utf8Bytes },
}

/// A room whose feed has a gap due for reading from the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub room_id: i64,
    pub room: String,
    /// The last seq passed on: the read starts after it.
    pub after: i64,
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
    id: i64,
    tx: broadcast::Sender<Event>,
    /// How late members receive the room's events.
    load: Arc<RoomLoad>,
    order: Sequencer<Utf8Bytes>,
    /// Connections in the room per username; online while above zero.
    online: HashMap<String, usize>,
    /// Users online in the room through other nodes (cluster mode).
    remote: HashSet<String>,
    typing: HashMap<String, Instant>,
}

impl Room {
    fn is_online(&self, user: &str) -> bool {
        self.online.contains_key(user) || self.remote.contains(user)
    }

    /// Everyone online in the room, here or through other nodes, sorted.
    fn users_online(&self) -> Vec<String> {
        let users: std::collections::BTreeSet<&String> =
            self.online.keys().chain(&self.remote).collect();
        users.into_iter().cloned().collect()
    }

    fn send(&self, event: Event) {
        let _ = self.tx.send(event);
    }
}

#[derive(Default)]
struct Inner {
    limits: Limits,
    rooms: HashMap<String, Room>,
    sends: Option<Buckets>,
    /// Each connected user's own feed, by username.
    users: HashMap<String, broadcast::Sender<Utf8Bytes>>,
}

/// Frames one user's own feed buffers; one that falls further behind misses some (they
/// are hints: a client reads the room list again on reconnecting).
const USER_BUFFER: usize = 64;

#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Mutex<Inner>>,
    /// Where [`News`] goes in cluster mode.
    news: Option<mpsc::Sender<News>>,
    /// Woken when a room's feed opens a gap.
    gap_opened: Arc<Notify>,
    /// What loads the whole server: the writer records its queue's wait here.
    server_load: Arc<ServerLoad>,
}

impl Hub {
    pub fn new(limits: Limits, news: Option<mpsc::Sender<News>>) -> Hub {
        Hub {
            inner: Arc::new(Mutex::new(Inner {
                limits,
                ..Inner::default()
            })),
            news,
            gap_opened: Arc::new(Notify::new()),
            server_load: Arc::default(),
        }
    }

    /// What loads the whole server, for the writer and the saturation watch to feed.
    pub fn server_load(&self) -> Arc<ServerLoad> {
        self.server_load.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tells other nodes, if there are any. Never waits: a full channel drops the news,
    /// and the bus's periodic presence refresh repairs what a dropped change missed.
    fn tell(&self, news: News) {
        if let Some(tx) = &self.news {
            let _ = tx.try_send(news);
        }
    }

    /// Subscribes a connection of `user` to room `room_id` called `room`: returns its
    /// presence (which ends when dropped), the live feed (subscribed before anything is
    /// replayed, so nothing falls between replay and live) and the users online,
    /// announcing `user` if this is their first connection there.
    pub fn join(
        &self,
        room_id: i64,
        room: &str,
        user: &str,
    ) -> (Presence, broadcast::Receiver<Event>, Vec<String>) {
        let mut inner = self.lock();
        let buffer = inner.limits.room_buffer.max(1);
        let state = inner.rooms.entry(room.to_string()).or_insert_with(|| Room {
            id: room_id,
            tx: broadcast::channel(buffer).0,
            load: Arc::default(),
            order: Sequencer::default(),
            online: HashMap::new(),
            remote: HashSet::new(),
            typing: HashMap::new(),
        });
        if state.tx.receiver_count() == 0 && state.online.is_empty() {
            // Nobody was here: what the room's feed and presence knew may be stale (no
            // notices are followed for a room nobody here is in). Start afresh; the
            // presence task re-reads the room when it hears of this join.
            state.order.reset();
            state.remote.clear();
        }
        let feed = state.tx.subscribe();
        let was_online = state.is_online(user);
        let count = state.online.entry(user.to_string()).or_default();
        *count += 1;
        let first_here = *count == 1;
        if !was_online {
            state.send(Event::presence(room, user, true));
        }
        let online = state.users_online();
        drop(inner);
        if first_here {
            self.tell(News::Presence {
                room: room.to_string(),
                user: user.to_string(),
                online: true,
            });
        }
        let presence = Presence {
            hub: self.clone(),
            room: room.to_string(),
            user: user.to_string(),
        };
        (presence, feed, online)
    }

    /// The feed of frames for every connection of `user` ([`Hub::to_user`]).
    pub fn user_feed(&self, user: &str) -> broadcast::Receiver<Utf8Bytes> {
        let mut inner = self.lock();
        inner
            .users
            .entry(user.to_string())
            .or_insert_with(|| broadcast::channel(USER_BUFFER).0)
            .subscribe()
    }

    /// Forgets `user`'s feed once no connection of theirs follows it (called as each
    /// connection ends), so that the feeds kept are those of the people connected.
    pub fn user_feed_closed(&self, user: &str) {
        let mut inner = self.lock();
        if inner
            .users
            .get(user)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            inner.users.remove(user);
        }
    }

    /// Sends `frame` to every connection of `user`, on every node.
    pub fn to_user(&self, user: &str, frame: &ServerFrame) {
        let frame = Event::encode(frame);
        self.to_user_here(user, frame.clone());
        self.tell(News::User {
            user: user.to_string(),
            frame,
        });
    }

    /// Sends `frame` to `user`'s connections on this node.
    pub fn to_user_here(&self, user: &str, frame: Utf8Bytes) {
        if let Some(tx) = self.lock().users.get(user) {
            // No error to act on: a feed nobody follows is removed as connections end.
            let _ = tx.send(frame);
        }
    }

    /// Says that a member joining `room` read its log up to `seq`, so its feed owes
    /// what follows (unless the feed is already under way).
    pub fn baseline(&self, room: &str, seq: i64) {
        if let Some(state) = self.lock().rooms.get_mut(room) {
            state.order.baseline(seq);
        }
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
        if *count > 0 {
            return;
        }
        state.online.remove(user);
        state.typing.remove(user);
        if !state.remote.contains(user) {
            state.send(Event::presence(room, user, false));
        }
        drop(inner);
        self.tell(News::Presence {
            room: room.to_string(),
            user: user.to_string(),
            online: false,
        });
    }

    #[cfg(test)]
    fn online(&self, room: &str) -> Vec<String> {
        self.lock()
            .rooms
            .get(room)
            .map(Room::users_online)
            .unwrap_or_default()
    }

    /// Offers a stored event of room `room_id` (its seq and encoded frame) to the room's
    /// members, from
    /// this node's writer, another node's notice or a read of the log: the room's
    /// sequencer passes it on in order, once.
    pub fn publish(&self, room_id: i64, room: &str, seq: i64, frame: Utf8Bytes) {
        let mut inner = self.lock();
        let Some(state) = inner.rooms.get_mut(room) else {
            return; // nobody here has joined it
        };
        if state.id != room_id {
            // Not this database's room of that name: a notice from another deployment
            // sharing the Redis. Never let it shadow a real seq.
            return;
        }
        if state.tx.receiver_count() == 0 {
            // Nobody listens: the next joiner's baseline starts the count afresh.
            state.order.reset();
            return;
        }
        let had_gap = state.order.due_at().is_some();
        let tx = &state.tx;
        let now = tokio::time::Instant::now();
        state.order.offer(seq, frame, now, |seq, frame| {
            let _ = tx.send(Event {
                seq: Some(seq),
                frame,
                at: Some(now.into_std()),
            });
        });
        let has_gap = state.order.due_at().is_some();
        drop(inner);
        if has_gap && !had_gap {
            self.gap_opened.notify_one();
        }
    }

    /// Waits until some room's feed opens a gap.
    pub async fn gap_opened(&self) {
        self.gap_opened.notified().await;
    }

    /// The rooms whose gaps are due for reading, and when the next one not yet due is.
    pub fn due_gaps(&self, now: tokio::time::Instant) -> (Vec<Gap>, Option<tokio::time::Instant>) {
        let inner = self.lock();
        let mut due = Vec::new();
        let mut next: Option<tokio::time::Instant> = None;
        for (name, state) in &inner.rooms {
            let (Some(after), Some(at)) = (state.order.delivered(), state.order.due_at()) else {
                continue;
            };
            if state.order.fill_due(now) {
                due.push(Gap {
                    room_id: state.id,
                    room: name.clone(),
                    after,
                });
            } else {
                next = Some(next.map_or(at, |next| next.min(at)));
            }
        }
        (due, next)
    }

    /// The rooms someone here listens to, with the last seq their feed passed on (for
    /// the cluster's position check).
    pub fn positions(&self) -> Vec<Gap> {
        self.lock()
            .rooms
            .iter()
            .filter(|(_, state)| state.tx.receiver_count() > 0)
            .filter_map(|(name, state)| {
                Some(Gap {
                    room_id: state.id,
                    room: name.clone(),
                    after: state.order.delivered()?,
                })
            })
            .collect()
    }

    /// The last seq `room`'s feed passed on.
    pub fn delivered(&self, room: &str) -> Option<i64> {
        self.lock().rooms.get(room)?.order.delivered()
    }

    /// Every (room, user) online through this node's own connections.
    pub fn local_presence(&self) -> Vec<(String, String)> {
        self.lock()
            .rooms
            .iter()
            .flat_map(|(room, state)| {
                state
                    .online
                    .keys()
                    .map(move |user| (room.clone(), user.clone()))
            })
            .collect()
    }

    /// Replaces the users online in `room` through other nodes, announcing each one
    /// whose presence that changes.
    pub fn set_remote(&self, room: &str, users: HashSet<String>) {
        let mut inner = self.lock();
        let Some(state) = inner.rooms.get_mut(room) else {
            return;
        };
        let before = std::mem::replace(&mut state.remote, users);
        let mut changes: Vec<(&String, bool)> = state
            .remote
            .difference(&before)
            .map(|user| (user, true))
            .chain(before.difference(&state.remote).map(|user| (user, false)))
            .filter(|(user, _)| !state.online.contains_key(*user))
            .collect();
        changes.sort();
        for (user, online) in changes {
            state.send(Event::presence(room, user, online));
        }
    }

    /// Forgets every other node's presence (Redis is unreachable: this node's own view
    /// is all that can be known).
    pub fn clear_remote(&self) {
        let rooms: Vec<String> = self.lock().rooms.keys().cloned().collect();
        for room in rooms {
            self.set_remote(&room, HashSet::new());
        }
    }

    /// Tells the room that `user` is typing, unless they did so very recently.
    pub fn typing(&self, room: &str, user: &str, now: Instant) {
        if self.typing_here(room, user, now) {
            self.tell(News::Typing {
                room: room.to_string(),
                user: user.to_string(),
            });
        }
    }

    /// Shows this node's members that `user`, on another node, is typing.
    pub fn remote_typing(&self, room: &str, user: &str, now: Instant) {
        self.typing_here(room, user, now);
    }

    fn typing_here(&self, room: &str, user: &str, now: Instant) -> bool {
        let mut inner = self.lock();
        let Some(state) = inner.rooms.get_mut(room) else {
            return false;
        };
        if let Some(last) = state.typing.get(user) {
            if now.duration_since(*last) < TYPING_EVERY {
                return false;
            }
        }
        state.typing.insert(user.to_string(), now);
        let frame = ServerFrame::Typing {
            room: room.to_string(),
            user: user.to_string(),
        };
        state.send(Event {
            seq: None,
            frame: Event::encode(&frame),
            at: None,
        });
        true
    }

    /// Takes one send token from `user_id`'s bucket; `false` when they are flooding.
    /// Whether `user_id` may change `room` now: within their send rate, and the room
    /// not so far behind in delivering that more would only deepen the backlog.
    pub fn admit(&self, user_id: i64, room: &str, now: Instant) -> Admission {
        let mut inner = self.lock();
        if inner
            .rooms
            .get(room)
            .is_some_and(|state| !state.load.admit(&self.server_load, now))
        {
            return Admission::Busy;
        }
        let Limits {
            send_rate,
            send_burst,
            ..
        } = inner.limits;
        let allowed = inner
            .sends
            .get_or_insert_with(|| Buckets::new(send_rate, send_burst))
            .allow(user_id, now);
        if allowed {
            Admission::Admitted
        } else {
            Admission::TooFast
        }
    }

    /// The delivery delay gauge of `room`, for its members to feed.
    pub fn load(&self, room: &str) -> Option<Arc<RoomLoad>> {
        self.lock().rooms.get(room).map(|state| state.load.clone())
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
        let (_me, mut watcher, _) = hub.join(1, "general", "watcher");
        let own = decode(&watcher.try_recv().unwrap());
        assert!(
            matches!(own, ServerFrame::Presence { ref user, online: true, .. } if user == "watcher")
        );
        let (tab1, _feed1, online) = hub.join(1, "general", "alice");
        assert_eq!(online, ["alice", "watcher"]);
        let (tab2, _feed2, _) = hub.join(1, "general", "alice");
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
        let (_bob, mut feed, _) = hub.join(1, "general", "bob");
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

    fn frames(feed: &mut broadcast::Receiver<Event>) -> Vec<ServerFrame> {
        std::iter::from_fn(|| feed.try_recv().ok())
            .map(|event| decode(&event))
            .collect()
    }

    fn presence(user: &str, online: bool) -> ServerFrame {
        ServerFrame::Presence {
            room: "general".into(),
            user: user.into(),
            online,
        }
    }

    #[test]
    fn other_nodes_presence_is_merged_and_announced_once() {
        let (tx, mut news) = mpsc::channel(16);
        let hub = Hub::new(Limits::default(), Some(tx));
        let (_me, mut feed, _) = hub.join(1, "general", "watcher");
        assert_eq!(
            news.try_recv().unwrap(),
            News::Presence {
                room: "general".into(),
                user: "watcher".into(),
                online: true
            }
        );
        frames(&mut feed);
        hub.set_remote("general", HashSet::from(["alice".to_string()]));
        assert_eq!(frames(&mut feed), [presence("alice", true)]);
        assert_eq!(hub.online("general"), ["alice", "watcher"]);

        // Alice opens a tab here too: she is online already, only the bus hears of it.
        let (tab, _alice_feed, online) = hub.join(1, "general", "alice");
        assert_eq!(online, ["alice", "watcher"]);
        assert!(frames(&mut feed).is_empty());
        assert!(matches!(
            news.try_recv().unwrap(),
            News::Presence { online: true, .. }
        ));
        // Her other node loses her: she is still here.
        hub.set_remote("general", HashSet::new());
        assert!(frames(&mut feed).is_empty());
        drop(tab);
        assert_eq!(frames(&mut feed), [presence("alice", false)]);
        assert!(matches!(
            news.try_recv().unwrap(),
            News::Presence { online: false, .. }
        ));

        hub.set_remote("general", HashSet::from(["bob".to_string()]));
        hub.clear_remote();
        assert_eq!(
            frames(&mut feed),
            [presence("bob", true), presence("bob", false)]
        );
    }

    #[test]
    fn the_feed_is_put_in_log_order() {
        let hub = Hub::default();
        let (_me, mut feed, _) = hub.join(7, "general", "watcher");
        frames(&mut feed);
        hub.baseline("general", 10);
        let frame = |seq: i64| Utf8Bytes::from(format!("{{\"seq\":{seq}}}"));
        for seq in [9, 10, 12, 13, 12] {
            hub.publish(7, "general", seq, frame(seq));
        }
        let seqs: Vec<Option<i64>> = std::iter::from_fn(|| feed.try_recv().ok())
            .map(|event| event.seq)
            .collect();
        assert!(seqs.is_empty(), "12 waits for 11: {seqs:?}");
        let now = tokio::time::Instant::now();
        let (due, next) = hub.due_gaps(now);
        assert!(due.is_empty());
        assert!(next.is_some());
        let (due, _) = hub.due_gaps(now + super::super::sequencer::GAP_WAIT);
        assert_eq!(
            due,
            [Gap {
                room_id: 7,
                room: "general".into(),
                after: 10
            }]
        );
        hub.publish(7, "general", 11, frame(11));
        hub.publish(8, "general", 14, frame(14)); // another database's "general"
        let seqs: Vec<Option<i64>> = std::iter::from_fn(|| feed.try_recv().ok())
            .map(|event| event.seq)
            .collect();
        assert_eq!(seqs, [Some(11), Some(12), Some(13)]);
        assert_eq!(hub.delivered("general"), Some(13));
    }

    #[test]
    fn a_room_nobody_was_in_starts_afresh() {
        let hub = Hub::default();
        let (me, feed, _) = hub.join(3, "quiet", "watcher");
        hub.baseline("quiet", 40);
        hub.set_remote("quiet", HashSet::from(["ghost".to_string()]));
        drop((me, feed));
        // Events came and went while nobody here listened; the next member reads the
        // log up to 45 and must get 46, not wait on a gap after 40.
        let (_me, mut feed, online) = hub.join(3, "quiet", "watcher");
        assert_eq!(online, ["watcher"], "no stale presence");
        hub.baseline("quiet", 45);
        hub.publish(3, "quiet", 46, Utf8Bytes::from_static("{}"));
        let seqs: Vec<Option<i64>> = std::iter::from_fn(|| feed.try_recv().ok())
            .map(|event| event.seq)
            .filter(Option::is_some)
            .collect();
        assert_eq!(seqs, [Some(46)]);
    }

    #[test]
    fn remote_typing_is_not_told_back() {
        let (tx, mut news) = mpsc::channel(16);
        let hub = Hub::new(Limits::default(), Some(tx));
        let (_me, mut feed, _) = hub.join(1, "general", "watcher");
        let _ = news.try_recv();
        frames(&mut feed);
        let now = Instant::now();
        hub.remote_typing("general", "alice", now);
        assert!(news.try_recv().is_err());
        hub.typing("general", "watcher", now);
        assert_eq!(
            news.try_recv().unwrap(),
            News::Typing {
                room: "general".into(),
                user: "watcher".into()
            }
        );
        assert_eq!(frames(&mut feed).len(), 2);
    }

    #[test]
    fn a_users_feed_reaches_each_connection_and_goes_with_the_last() {
        let hub = Hub::default();
        let mut one = hub.user_feed("alice");
        let mut two = hub.user_feed("alice");
        hub.to_user("alice", &ServerFrame::RoomsChanged {});
        assert!(one.try_recv().is_ok() && two.try_recv().is_ok());
        drop(one);
        hub.user_feed_closed("alice");
        assert!(
            hub.lock().users.contains_key("alice"),
            "one connection left"
        );
        drop(two);
        hub.user_feed_closed("alice");
        assert!(!hub.lock().users.contains_key("alice"));
    }
}
