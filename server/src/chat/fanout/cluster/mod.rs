//! Cluster mode: several server processes share one MySQL/MariaDB database and tell each
//! other over Redis pub/sub what they stored. The database stays the one source of
//! order (each node's writer takes seqs under the room's row lock); a notice only saves
//! other nodes a read. Each node feeds what it hears into its hub, whose per-room
//! sequencer drops duplicates and holds early events until the gap is filled, from a
//! later notice or from the database; a position check, every few seconds and every
//! second while Redis is down, catches a lost last event that no later one reveals.
//! So losing Redis slows delivery across nodes and loses nothing. Presence lives in
//! Redis sorted sets with expiry ([`presence`]); typing is pub/sub only. Every key and
//! the channel start with the cluster's namespace, so clusters can share a Redis.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use redis::{
    aio::{ConnectionManager, ConnectionManagerConfig},
    AsyncCommands,
};
use tokio::sync::{mpsc, Notify, OnceCell};

use super::{gaps, Gap, Hub, LogEvent, News};
use crate::{
    accounts::live::{Digest, LiveSessions},
    chat::read::store,
    db::Db,
};

/// What nodes publish to each other.
mod notice;
/// Presence entries in Redis sorted sets.
pub mod presence;

pub use notice::Stored;
use notice::{channel, Notice};
use presence::{Node, Whose};
use serde_json::value::RawValue;

/// How often the position check runs while Redis is reachable (the default), and while
/// it is not.
pub const CHECK_EVERY: Duration = Duration::from_secs(3);
const CHECK_EVERY_DOWN: Duration = Duration::from_secs(1);
/// A subscription that cannot answer a ping within [`RESPONSE_TIMEOUT`], asked this
/// often, is taken for dead (a silent network, not a closed socket) and made again.
const PING_EVERY: Duration = Duration::from_secs(5);
/// Notices waiting to be published; beyond this they are dropped (the position check
/// delivers what they announced).
const OUTBOX: usize = 4096;
/// Bounds on every Redis round trip, so that a hung Redis is an outage, not a stall.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Waits between attempts to subscribe again.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(1);

/// How this node joins the cluster (see `Config`).
#[derive(Clone, Debug)]
pub struct Settings {
    pub redis_url: String,
    /// Prefixes the channel and keys: the same for every node of one cluster.
    pub namespace: String,
    /// Stable across restarts (so a restart can remove what its predecessor left).
    pub node_name: String,
    /// How long a presence entry lives without being refreshed.
    pub presence_ttl: Duration,
    /// A test switch: drop every Nth batch notice instead of publishing it (0: never).
    pub skip_publish_every: u64,
    /// How often the position check runs while Redis is up ([`CHECK_EVERY`]; tests
    /// lengthen it to prove that notices alone deliver).
    pub check_every: Duration,
}

/// The writer's way to tell other nodes what it stored. Never waits.
#[derive(Clone)]
pub struct Announcer {
    tx: mpsc::Sender<Notice>,
    node: Arc<str>,
    skip_every: u64,
    batches: Arc<AtomicU64>,
}

impl Announcer {
    /// Announces the events of one committed batch, in commit order.
    pub fn announce(&self, events: Vec<Stored>) {
        if events.is_empty() {
            return;
        }
        let batch = self.batches.fetch_add(1, Ordering::Relaxed) + 1;
        if self.skip_every > 0 && batch.is_multiple_of(self.skip_every) {
            tracing::debug!(batch, "not publishing this notice (test switch)");
            return;
        }
        let notice = Notice::Events {
            node: self.node.to_string(),
            events,
        };
        if self.tx.try_send(notice).is_err() {
            tracing::debug!("the notice outbox is full; the position check will deliver");
        }
    }
}

/// The channel on which the hub reports [`News`] for the cluster.
pub fn news_channel() -> (mpsc::Sender<News>, mpsc::Receiver<News>) {
    mpsc::channel(OUTBOX)
}

struct Shared {
    client: redis::Client,
    commands: OnceCell<ConnectionManager>,
    node: Node,
    node_id: String,
    channel: String,
    hub: Hub,
    db: Db,
    ttl: Duration,
    check_every: Duration,
    /// Whether the subscription is live.
    up: AtomicBool,
    /// Wakes the position check (after a resubscription).
    check_now: Notify,
    /// Wakes the presence task; rooms whose presence another node changed.
    presence_now: Notify,
    presence_rooms: Mutex<HashSet<String>>,
    /// Whether the next presence pass must put every own entry back (at the start,
    /// and after Redis was unreachable: it may have restarted empty).
    re_add: AtomicBool,
    /// The sessions with sockets open here, to close those another node ended.
    sessions: LiveSessions,
}

impl Shared {
    /// The connection for commands, made on first use; it reconnects by itself.
    async fn commands(&self) -> Option<ConnectionManager> {
        self.commands
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(RECONNECT_MAX);
                self.client.get_connection_manager_with_config(config)
            })
            .await
            .ok()
            .cloned()
    }

    /// Redis cannot be reached: only this node's own users can be shown online, and
    /// its entries are put back once it answers again (it may have restarted empty).
    fn unreachable(&self) {
        self.hub.clear_remote();
        self.re_add.store(true, Ordering::Relaxed);
    }

    /// Tells the other nodes that this node's entries in `rooms` changed.
    async fn tell_presence_changed(&self, conn: &mut ConnectionManager, rooms: Vec<String>) {
        for room in rooms {
            let notice = Notice::Presence {
                node: self.node_id.clone(),
                room,
            };
            self.publish(conn, &notice).await;
        }
    }

    /// Has the presence task read `room`'s entries from Redis again soon.
    fn reread_presence(&self, room: String) {
        self.presence_rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(room);
        self.presence_now.notify_one();
    }

    async fn publish(&self, conn: &mut ConnectionManager, notice: &Notice) -> bool {
        conn.publish::<_, _, ()>(&self.channel, notice.encode())
            .await
            .is_ok()
    }
}

/// This node's membership of the cluster, to leave it when stopping.
#[derive(Clone)]
pub struct Membership {
    shared: Arc<Shared>,
}

impl Membership {
    /// Removes this node's presence entries at once and tells the others, so that a
    /// node stopped on purpose does not leave its users online until they expire.
    pub async fn withdraw(&self) {
        let shared = &self.shared;
        let Some(mut conn) = shared.commands().await else {
            return;
        };
        match presence::remove_all(&mut conn, &shared.node, Whose::Mine).await {
            Ok(rooms) => shared.tell_presence_changed(&mut conn, rooms).await,
            Err(error) => tracing::debug!(%error, "removing this node's presence failed"),
        }
    }
}

/// Joins the cluster: starts the tasks that publish, subscribe, keep presence and check
/// positions, and returns the writer's [`Announcer`]. Redis need not be up yet: the
/// tasks keep trying, and meanwhile delivery runs through the database.
pub fn start(
    settings: Settings,
    db: Db,
    hub: Hub,
    news: mpsc::Receiver<News>,
    sessions: LiveSessions,
) -> Result<(Announcer, Membership), redis::RedisError> {
    let client = redis::Client::open(settings.redis_url.as_str())?;
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS gives random bytes");
    let node = Node {
        namespace: settings.namespace.clone(),
        name: settings.node_name,
        incarnation: format!("{:016x}", u64::from_le_bytes(bytes)),
    };
    let node_id = node.id();
    tracing::info!(node = node_id, "cluster mode: fan-out through Redis");
    let shared = Arc::new(Shared {
        client,
        commands: OnceCell::new(),
        node,
        node_id: node_id.clone(),
        channel: channel(&settings.namespace),
        hub,
        db,
        ttl: settings.presence_ttl,
        check_every: settings.check_every,
        up: AtomicBool::new(false),
        check_now: Notify::new(),
        presence_now: Notify::new(),
        presence_rooms: Mutex::new(HashSet::new()),
        re_add: AtomicBool::new(true),
        sessions: sessions.clone(),
    });
    let (tx, notices) = mpsc::channel(OUTBOX);
    let (ended, sessions_ended) = mpsc::channel(OUTBOX);
    sessions.spread_to(ended);
    tokio::spawn(outbound(shared.clone(), notices, news, sessions_ended));
    tokio::spawn(inbound(shared.clone()));
    tokio::spawn(keep_presence(shared.clone()));
    tokio::spawn(check_positions(shared.clone()));
    let announcer = Announcer {
        tx,
        node: node_id.into(),
        skip_every: settings.skip_publish_every,
        batches: Arc::new(AtomicU64::new(0)),
    };
    Ok((announcer, Membership { shared }))
}

/// Publishes this node's notices and records its presence changes, in the order they
/// happened (an entry is in Redis before its notice tells others to read it).
async fn outbound(
    shared: Arc<Shared>,
    mut notices: mpsc::Receiver<Notice>,
    mut news: mpsc::Receiver<News>,
    mut sessions_ended: mpsc::Receiver<Digest>,
) {
    let mut failing = false;
    loop {
        let notice = tokio::select! {
            Some(notice) = notices.recv() => notice,
            Some(digest) = sessions_ended.recv() => Notice::SessionEnded {
                node: shared.node_id.clone(),
                session: notice::session_to_hex(&digest),
            },
            Some(news) = news.recv() => match news {
                News::Presence { room, user, online } => {
                    if let Some(mut conn) = shared.commands().await {
                        let node = &shared.node;
                        let stored = if online {
                            match presence::now(&mut conn).await {
                                Ok(now) => {
                                    let expires = now + shared.ttl.as_millis() as i64;
                                    presence::add(&mut conn, node, &room, &user, expires).await
                                }
                                Err(error) => Err(error),
                            }
                        } else {
                            presence::remove(&mut conn, node, &room, &user).await
                        };
                        if let Err(error) = stored {
                            tracing::debug!(%error, "recording presence in Redis failed");
                        }
                    }
                    if online {
                        // The room may be new here: learn who is in it elsewhere.
                        shared.reread_presence(room.clone());
                    }
                    Notice::Presence { node: shared.node_id.clone(), room }
                }
                News::Typing { room, user } => Notice::Typing {
                    node: shared.node_id.clone(),
                    room,
                    user,
                },
                News::User { user, frame } => match RawValue::from_string(frame.to_string()) {
                    Ok(frame) => Notice::User {
                        node: shared.node_id.clone(),
                        user,
                        frame,
                    },
                    Err(_) => continue,
                },
            },
            else => return,
        };
        let published = match shared.commands().await {
            Some(mut conn) => shared.publish(&mut conn, &notice).await,
            None => false,
        };
        if published == failing {
            failing = !published;
            if failing {
                tracing::warn!("cannot publish to Redis; other nodes will read from the database");
            } else {
                tracing::info!("publishing to Redis again");
            }
        }
    }
}

/// Subscribes, and hands every notice from other nodes to the hub; subscribes again
/// whenever the subscription is lost, then has positions and presence checked at once.
async fn inbound(shared: Arc<Shared>) {
    let mut delay = RECONNECT_MIN;
    let mut warned = false;
    loop {
        let subscribed = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let mut pubsub = shared.client.get_async_pubsub().await?;
            pubsub.subscribe(&shared.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match subscribed {
            Ok(Ok(pubsub)) => {
                tracing::info!("subscribed to the cluster's notices");
                warned = false;
                delay = RECONNECT_MIN;
                shared.up.store(true, Ordering::Relaxed);
                shared.re_add.store(true, Ordering::Relaxed);
                // Whatever was missed while unsubscribed is read now.
                shared.check_now.notify_one();
                shared.presence_now.notify_one();
                let (mut sink, mut messages) = pubsub.split();
                let mut ping = tokio::time::interval(PING_EVERY);
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(message) => receive(&shared, message.get_payload_bytes()),
                            None => break,
                        },
                        _ = ping.tick() => {
                            let answer = tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<redis::Value>()).await;
                            if !matches!(answer, Ok(Ok(_))) {
                                break;
                            }
                        }
                    }
                }
                tracing::warn!("lost the Redis subscription; reading other nodes' events from the database until it is back");
            }
            Ok(Err(error)) if !warned => {
                tracing::warn!(%error, "cannot subscribe to Redis; reading other nodes' events from the database");
                warned = true;
            }
            Err(_) if !warned => {
                tracing::warn!(
                    "subscribing to Redis timed out; reading other nodes' events from the database"
                );
                warned = true;
            }
            _ => {}
        }
        if shared.up.swap(false, Ordering::Relaxed) {
            shared.presence_now.notify_one();
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RECONNECT_MAX);
    }
}

fn receive(shared: &Shared, payload: &[u8]) {
    let notice = match Notice::decode(payload) {
        Ok(notice) => notice,
        Err(error) => {
            tracing::warn!(%error, "ignoring a notice that does not decode");
            return;
        }
    };
    if notice.node() == shared.node_id {
        return;
    }
    match notice {
        Notice::Events { events, .. } => {
            for event in events {
                let frame: Box<str> = event.frame.into();
                let frame = Utf8Bytes::from(String::from(frame));
                let logged = LogEvent {
                    seq: event.seq,
                    frame,
                    ends: event.ends.map(Into::into),
                };
                shared.hub.publish(event.room_id, &event.room, logged);
            }
        }
        Notice::Presence { room, .. } => shared.reread_presence(room),
        Notice::Typing { room, user, .. } => {
            shared
                .hub
                .remote_typing(&room, &user, std::time::Instant::now())
        }
        Notice::SessionEnded { session, .. } => match notice::session_from_hex(&session) {
            Some(digest) => shared.sessions.end_here(&digest),
            None => tracing::warn!("ignoring a session notice that names no session"),
        },
        Notice::User { user, frame, .. } => {
            let frame: Box<str> = frame.into();
            shared
                .hub
                .to_user_here(&user, Utf8Bytes::from(String::from(frame)));
        }
    }
}

/// Keeps this node's presence entries alive and its view of other nodes' current:
/// every third of the TTL, a full pass (refresh every own entry, re-read every room
/// someone here is in); between, the rooms other nodes said changed. Redis's own clock
/// scores every entry, so the nodes' clocks need not agree.
async fn keep_presence(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.ttl / 3);
    let mut buried = false;
    loop {
        let full = tokio::select! {
            _ = tick.tick() => true,
            () = shared.presence_now.notified() => false,
        };
        let changed: HashSet<String> = std::mem::take(
            &mut *shared
                .presence_rooms
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        // A wake with no rooms named is a resubscription or a loss: look at everything.
        let full = full || changed.is_empty();
        let Some(mut conn) = shared.commands().await else {
            shared.unreachable();
            continue;
        };
        let now = match presence::now(&mut conn).await {
            Ok(now) => now,
            Err(error) => {
                tracing::debug!(%error, "reading Redis's clock failed");
                shared.unreachable();
                continue;
            }
        };
        if !buried {
            match presence::remove_all(&mut conn, &shared.node, Whose::Predecessors).await {
                Ok(rooms) => {
                    buried = true;
                    shared.tell_presence_changed(&mut conn, rooms).await;
                }
                Err(error) => tracing::debug!(%error, "removing a previous run's presence failed"),
            }
        }
        let rooms: HashSet<String> = if full {
            let mine = shared.hub.local_presence();
            let expires = now + shared.ttl.as_millis() as i64;
            let re_add = shared.re_add.swap(false, Ordering::Relaxed);
            let refreshed =
                presence::refresh(&mut conn, &shared.node, &mine, expires, re_add).await;
            if let Err(error) = refreshed {
                tracing::debug!(%error, "refreshing presence in Redis failed");
                shared.unreachable();
                continue;
            }
            mine.into_iter().map(|(room, _)| room).collect()
        } else {
            changed
        };
        for room in rooms {
            match presence::others(&mut conn, &shared.node, &room, now).await {
                Ok(users) => shared.hub.set_remote(&room, users),
                // One room unread keeps its last view until the next pass.
                Err(error) => tracing::debug!(%error, room, "reading presence from Redis failed"),
            }
        }
    }
}

/// Compares each listened room's feed with the room's last seq in the database and
/// reads what is missing: the notices of it were lost.
async fn check_positions(shared: Arc<Shared>) {
    loop {
        let every = if shared.up.load(Ordering::Relaxed) {
            shared.check_every
        } else {
            CHECK_EVERY_DOWN
        };
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shared.check_now.notified() => {}
        }
        let positions = shared.hub.positions();
        let ids: Vec<i64> = positions.iter().map(|feed| feed.room_id).collect();
        let last = match store::last_seqs(&shared.db, &ids).await {
            Ok(last) => last,
            Err(error) => {
                tracing::warn!(%error, "checking room positions failed");
                continue;
            }
        };
        for feed in positions {
            let behind = last
                .iter()
                .any(|(id, last)| *id == feed.room_id && *last > feed.delivered);
            if behind {
                tracing::debug!(
                    room = feed.room,
                    after = feed.delivered,
                    "a notice was lost; reading the room's log"
                );
                let gap = Gap {
                    room_id: feed.room_id,
                    room: feed.room,
                    after: feed.delivered,
                };
                gaps::fill(&shared.db, &shared.hub, &gap).await;
            }
        }
    }
}
