//! Fan-out within one process. Each concern keeps its own state behind its own lock:
//! the room [`feeds`] (broadcast channels, log order, delivery delay), [`presence`]
//! (connections counted per user, merged with other nodes' view), [`typing`]
//! throttles and the [`users`]' own feeds. What other nodes must hear of (presence
//! changes, typing, frames for a user) goes out as [`News`] on a channel the
//! [`cluster`] bus reads; nothing here knows of Redis.

use std::{collections::HashSet, sync::Arc, time::Instant};

use app::protocol::ServerFrame;
use axum::extract::ws::Utf8Bytes;
use tokio::sync::{broadcast, mpsc, Notify};

use super::rules::load::{RoomLoad, ServerLoad};

/// Fan-out across server processes through Redis.
pub mod cluster;
/// Each room's broadcast channel, sequencer and load gauge.
mod feeds;
/// Filling gaps in room feeds from the database.
pub mod gaps;
/// Who is online in each room.
mod presence;
/// Putting a room's feed in log order.
mod sequencer;
/// Typing notices, throttled.
mod typing;
/// Each user's own feed.
mod users;

pub use feeds::{FeedPosition, Gap};

/// What a room's members receive: the encoded frame, and the seq for events of the
/// room's log so that each connection can drop what it already has and notice what it
/// is missing.
#[derive(Clone, Debug)]
pub struct Event {
    pub seq: Option<i64>,
    pub frame: Utf8Bytes,
    /// When a live event was published to the room's feed (not for replays).
    pub at: Option<Instant>,
    /// Whose membership of the room this event ends (they left or were removed):
    /// nothing after it is theirs to receive.
    pub ends: Option<Arc<str>>,
}

impl Event {
    pub fn encode(frame: &ServerFrame) -> Utf8Bytes {
        Utf8Bytes::from(serde_json::to_string(frame).expect("frames always serialise"))
    }

    /// An event of no log (presence, typing): nobody skips it or waits for it.
    pub fn outside_log(frame: &ServerFrame) -> Event {
        Event {
            seq: None,
            frame: Event::encode(frame),
            at: None,
            ends: None,
        }
    }
}

/// An event as stored in a room's log, on its way to the room's members.
#[derive(Clone, Debug)]
pub struct LogEvent {
    pub seq: i64,
    pub frame: Utf8Bytes,
    /// Whose membership it ends (see [`Event::ends`]).
    pub ends: Option<Arc<str>>,
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

struct Parts {
    feeds: feeds::Feeds,
    presence: presence::Rooms,
    typing: typing::Typing,
    users: users::UserFeeds,
}

#[derive(Clone)]
pub struct Hub {
    parts: Arc<Parts>,
    /// Where [`News`] goes in cluster mode.
    news: Option<mpsc::Sender<News>>,
    /// Woken when a room's feed opens a gap.
    gap_opened: Arc<Notify>,
    /// What loads the whole server: the writer records its queue's wait here.
    server_load: Arc<ServerLoad>,
}

impl Hub {
    /// A hub whose room feeds buffer `room_buffer` frames for their slowest member.
    pub fn new(room_buffer: usize, news: Option<mpsc::Sender<News>>) -> Hub {
        Hub {
            parts: Arc::new(Parts {
                feeds: feeds::Feeds::new(room_buffer),
                presence: presence::Rooms::default(),
                typing: typing::Typing::default(),
                users: users::UserFeeds::default(),
            }),
            news,
            gap_opened: Arc::new(Notify::new()),
            server_load: Arc::default(),
        }
    }

    /// What loads the whole server, for the writer and the saturation watch to feed.
    pub fn server_load(&self) -> &Arc<ServerLoad> {
        &self.server_load
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
        let arrival = self
            .parts
            .presence
            .arrive(&self.parts.feeds, room_id, room, user);
        if arrival.first_here {
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
        (presence, arrival.feed, arrival.online)
    }

    /// The reverse of [`Hub::join`] for one connection.
    fn leave(&self, room: &str, user: &str) {
        if self.parts.presence.depart(&self.parts.feeds, room, user) {
            self.parts.typing.forget(room, user);
            self.tell(News::Presence {
                room: room.to_string(),
                user: user.to_string(),
                online: false,
            });
        }
    }

    /// The feed of frames for every connection of `user` ([`Hub::to_user`]).
    pub fn user_feed(&self, user: &str) -> broadcast::Receiver<Utf8Bytes> {
        self.parts.users.subscribe(user)
    }

    /// Forgets `user`'s feed once no connection of theirs follows it (called as each
    /// connection ends).
    pub fn user_feed_closed(&self, user: &str) {
        self.parts.users.closed(user);
    }

    /// Sends `frame` to every connection of `user`, on every node.
    pub fn to_user(&self, user: &str, frame: &ServerFrame) {
        let frame = Event::encode(frame);
        self.parts.users.send(user, frame.clone());
        self.tell(News::User {
            user: user.to_string(),
            frame,
        });
    }

    /// Sends `frame` to `user`'s connections on this node.
    pub fn to_user_here(&self, user: &str, frame: Utf8Bytes) {
        self.parts.users.send(user, frame);
    }

    /// Says that a member joining `room` read its log up to `seq`, so its feed owes
    /// what follows (unless the feed is already under way).
    pub fn baseline(&self, room: &str, seq: i64) {
        self.parts.feeds.baseline(room, seq);
    }

    /// Offers a stored event of room `room_id` to the room's members, from this node's writer, another
    /// node's notice or a read of the log: the room's sequencer passes it on in order,
    /// once.
    pub fn publish(&self, room_id: i64, room: &str, event: LogEvent) {
        let published = self.parts.feeds.publish(room_id, room, event);
        if published.gap_opened {
            self.gap_opened.notify_one();
        }
    }

    /// Waits until some room's feed opens a gap.
    pub async fn gap_opened(&self) {
        self.gap_opened.notified().await;
    }

    /// The rooms whose gaps are due for reading, and when the next one not yet due is.
    pub fn due_gaps(&self, now: tokio::time::Instant) -> (Vec<Gap>, Option<tokio::time::Instant>) {
        self.parts.feeds.due_gaps(now)
    }

    /// The rooms someone here listens to, with the last seq their feed passed on (for
    /// the cluster's position check).
    pub fn positions(&self) -> Vec<FeedPosition> {
        self.parts.feeds.positions()
    }

    /// The last seq `room`'s feed passed on.
    pub fn delivered(&self, room: &str) -> Option<i64> {
        self.parts.feeds.delivered(room)
    }

    /// Every (room, user) online through this node's own connections.
    pub fn local_presence(&self) -> Vec<(String, String)> {
        self.parts.presence.local()
    }

    /// Replaces the users online in `room` through other nodes, announcing each one
    /// whose presence that changes.
    pub fn set_remote(&self, room: &str, users: HashSet<String>) {
        self.parts
            .presence
            .set_remote(&self.parts.feeds, room, users);
    }

    /// Forgets every other node's presence (Redis is unreachable: this node's own view
    /// is all that can be known).
    pub fn clear_remote(&self) {
        for room in self.parts.presence.rooms() {
            self.set_remote(&room, HashSet::new());
        }
    }

    /// Tells the room that `user` is typing, unless they did so very recently.
    pub fn typing(&self, room: &str, user: &str, now: Instant) {
        if self.parts.typing.notice(&self.parts.feeds, room, user, now) {
            self.tell(News::Typing {
                room: room.to_string(),
                user: user.to_string(),
            });
        }
    }

    /// Shows this node's members that `user`, on another node, is typing.
    pub fn remote_typing(&self, room: &str, user: &str, now: Instant) {
        self.parts.typing.notice(&self.parts.feeds, room, user, now);
    }

    /// The delivery delay gauge of `room`, for its members to feed.
    pub fn load(&self, room: &str) -> Option<Arc<RoomLoad>> {
        self.parts.feeds.load(room)
    }
}

#[cfg(test)]
impl Default for Hub {
    fn default() -> Self {
        Hub::new(1024, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use typing::TYPING_EVERY;

    fn logged(seq: i64, frame: Utf8Bytes) -> LogEvent {
        LogEvent {
            seq,
            frame,
            ends: None,
        }
    }

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
        assert_eq!(hub.parts.presence.online("general"), ["alice", "watcher"]);
        drop(tab2);
        assert_eq!(
            decode(&watcher.try_recv().unwrap()),
            ServerFrame::Presence {
                room: "general".into(),
                user: "alice".into(),
                online: false
            }
        );
        assert_eq!(hub.parts.presence.online("general"), ["watcher"]);
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
        let hub = Hub::new(1024, Some(tx));
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
        assert_eq!(hub.parts.presence.online("general"), ["alice", "watcher"]);

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
            hub.publish(7, "general", logged(seq, frame(seq)));
        }
        let seqs: Vec<Option<i64>> = std::iter::from_fn(|| feed.try_recv().ok())
            .map(|event| event.seq)
            .collect();
        assert!(seqs.is_empty(), "12 waits for 11: {seqs:?}");
        let now = tokio::time::Instant::now();
        let (due, next) = hub.due_gaps(now);
        assert!(due.is_empty());
        assert!(next.is_some());
        let (due, _) = hub.due_gaps(now + super::sequencer::GAP_WAIT);
        assert_eq!(
            due,
            [Gap {
                room_id: 7,
                room: "general".into(),
                after: 10
            }]
        );
        hub.publish(7, "general", logged(11, frame(11)));
        hub.publish(8, "general", logged(14, frame(14))); // another database's "general"
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
        hub.publish(3, "quiet", logged(46, Utf8Bytes::from_static("{}")));
        let seqs: Vec<Option<i64>> = std::iter::from_fn(|| feed.try_recv().ok())
            .map(|event| event.seq)
            .filter(Option::is_some)
            .collect();
        assert_eq!(seqs, [Some(46)]);
    }

    #[test]
    fn remote_typing_is_not_told_back() {
        let (tx, mut news) = mpsc::channel(16);
        let hub = Hub::new(1024, Some(tx));
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
        assert!(hub.parts.users.has("alice"), "one connection left");
        drop(two);
        hub.user_feed_closed("alice");
        assert!(!hub.parts.users.has("alice"));
    }
}
