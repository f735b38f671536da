//! The chat: the one API through which the WebSocket, the forms and the server
//! functions read and change rooms. Behind it: the rooms' event logs in the database,
//! the group-commit writer that appends to them, and the in-process hub that fans
//! events out (across nodes, in cluster mode, through Redis). Its parts are private;
//! callers speak to [`Chat`] only.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use app::{
    model::{Receipt, User},
    protocol::{normalize_client_id, Change, ErrorCode, Role, ServerFrame, RECENT_ON_JOIN},
    rooms::rules::DEFAULT_ROOM,
};
use tokio::sync::{broadcast, mpsc, watch};

use crate::{accounts::live::LiveSessions, accounts::now_ms, db::Db};

/// Kinds of room, and the names of direct conversations.
pub mod access;
/// Storing a batch of changes in one transaction.
mod batch;
/// Catching up, one read shared by a room's lagging members.
mod catchup;
/// The checks a change passes before it is queued.
mod change;
/// Fan-out across server processes through Redis.
pub mod cluster;
/// Filling gaps in room feeds from the database.
mod gaps;
/// Fan-out within the process: room feeds, presence, typing, the send rate limit.
mod hub;
/// How late a room's members receive its events; refusing changes past a limit.
pub mod load;
/// Deciding each change of a batch against what is stored.
pub mod plan;
/// Token buckets per user.
pub mod rate;
/// Why the chat refused something.
pub mod refusal;
/// Reading a room's log as members receive it.
mod replay;
/// Full-text search and the Mentions view.
pub mod search;
/// Putting a room's feed in log order.
mod sequencer;
/// The room server functions' side of the chat.
mod service;
/// The SQL for rooms, membership and reading logs.
mod store;
/// Wire timestamps.
pub mod timefmt;
/// Rows and new events as frames.
mod wire;
/// The group-commit writer.
mod writer;

/// The batch store on its own: the writer's one way into the database, public so that
/// its test can drive it directly (server/tests/store.rs).
pub use batch::store_batch;
use hub::Hub;
pub use hub::{Event, Limits, Presence};
use refusal::Refusal;
pub use writer::Pending;
use writer::Writer;

/// Why the chat could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("preparing the rooms failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("REDIS_URL cannot be used: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Rooms one user may create at once, and then one a minute: enough for anyone
/// setting up a team, not for filling the room list by script.
const ROOMS_BURST: f64 = 10.0;
const ROOMS_PER_SECOND: f64 = 1.0 / 60.0;

/// A room as callers hold it once found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomRef {
    pub id: i64,
    pub name: String,
    pub kind: access::Kind,
}

/// A connection's entry into a room, from [`Chat::join`].
pub struct Joining {
    pub room: RoomRef,
    /// Counts the connection as present until dropped.
    pub presence: Presence,
    /// Live events, subscribed before the replay was read.
    pub feed: broadcast::Receiver<Event>,
    /// Where the connection reports how late it receives the room's events.
    pub load: Arc<load::RoomLoad>,
    /// The `joined` frame to send first.
    pub joined: ServerFrame,
    /// The seq the replay starts after: nothing at or below it is owed.
    pub start: i64,
    /// The first page of the replay, in order.
    pub replay: Vec<Event>,
    /// Whether more of the replay is to be read with [`Chat::read_after`].
    pub more: bool,
}

pub struct Chat {
    db: Db,
    hub: Hub,
    writer: Writer,
    /// Turns true when the server begins shutting down; connections then close politely.
    stopping: watch::Receiver<bool>,
    /// Never sent on: the channel closes when the last `Chat` (held by every open
    /// connection) is dropped, which is how shutdown knows the sockets are done.
    _in_use: mpsc::Sender<()>,
    /// Room ids and kinds by name. Rooms are never renamed, deleted or changed in kind,
    /// so entries never go stale.
    room_ids: Mutex<HashMap<String, (i64, access::Kind)>>,
    /// In cluster mode, this node's place in the cluster.
    membership: Option<cluster::Membership>,
    /// Room creations per user.
    creations: Mutex<rate::Buckets>,
    catch_up: catchup::CatchUp,
}

impl Chat {
    /// Creates the default room if needed and starts the writer, the gap filler and,
    /// given cluster settings, the Redis bus (which also tells the other nodes of the
    /// `sessions` that end here, and ends here those they end).
    pub async fn start(
        db: Db,
        limits: Limits,
        cluster: Option<cluster::Settings>,
        sessions: LiveSessions,
        stopping: watch::Receiver<bool>,
        in_use: mpsc::Sender<()>,
    ) -> Result<Arc<Chat>, StartError> {
        store::ensure_room(&db, DEFAULT_ROOM, "Everyone, everything", now_ms()).await?;
        let (hub, announcer, membership) = match cluster {
            Some(settings) => {
                let (news, heard) = cluster::news_channel();
                let hub = Hub::new(limits, Some(news));
                let (announcer, membership) =
                    cluster::start(settings, db.clone(), hub.clone(), heard, sessions)?;
                (hub, Some(announcer), Some(membership))
            }
            None => (Hub::new(limits, None), None, None),
        };
        tokio::spawn(load::watch_saturation(hub.server_load()));
        let writer = Writer::start(db.clone(), hub.clone(), announcer);
        tokio::spawn(gaps::fill_due_gaps(db.clone(), hub.clone()));
        Ok(Arc::new(Chat {
            db,
            hub,
            writer,
            stopping,
            _in_use: in_use,
            room_ids: Mutex::new(HashMap::new()),
            membership,
            creations: Mutex::new(rate::Buckets::new(ROOMS_PER_SECOND, ROOMS_BURST)),
            catch_up: catchup::CatchUp::default(),
        }))
    }

    /// In cluster mode, this node's membership, to withdraw from when stopping (it
    /// does not keep the chat alive).
    pub fn membership(&self) -> Option<cluster::Membership> {
        self.membership.clone()
    }

    /// Turns true when the server is shutting down.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.clone()
    }

    /// The room called `name` as `user` may use it: the one place that says no to a
    /// room that does not exist, and in the same words to a private room or
    /// conversation `user` is not in.
    async fn room_for(&self, user: &User, name: &str) -> Result<RoomRef, Refusal> {
        let cached = self
            .room_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied();
        let room = match cached {
            Some((id, kind)) => RoomRef {
                id,
                name: name.to_string(),
                kind,
            },
            None => {
                let row = store::room_by_name(&self.db, name)
                    .await
                    .map_err(|e| Refusal::internal("looking up a room failed", e))?
                    .ok_or_else(|| Refusal::unknown_room(name))?;
                let kind = access::Kind::parse(&row.kind);
                self.room_ids
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(row.name.clone(), (row.id, kind));
                RoomRef {
                    id: row.id,
                    name: row.name,
                    kind,
                }
            }
        };
        if room.kind != access::Kind::Public && self.stored_role(&room, user).await?.is_none() {
            return Err(Refusal::unknown_room(name));
        }
        Ok(room)
    }

    /// `user`'s membership of `room` as stored: `Member` or `Moderator`.
    async fn stored_role(&self, room: &RoomRef, user: &User) -> Result<Option<Role>, Refusal> {
        let role = store::member_role(&self.db, room.id, user.id)
            .await
            .map_err(|e| Refusal::internal("looking up a membership failed", e))?;
        Ok(role.as_deref().map(access::stored_role))
    }

    /// Stores a change the server makes for `user` (joining, leaving) through the
    /// writer, like any other, without counting against their send rate.
    async fn change_for(
        &self,
        user: &User,
        room: &RoomRef,
        change: Change,
    ) -> Result<Receipt, Refusal> {
        let pending = self
            .writer
            .submit(plan::Submission {
                room_id: room.id,
                room: room.name.clone(),
                actor_id: user.id,
                actor: user.username.clone(),
                client_id: uuid::Uuid::new_v4().to_string(),
                change,
            })
            .await?;
        pending.await
    }

    /// Enters a room: membership (a `joined` event the first time), presence, the live
    /// feed, and the replay of every event after `since` (without it, from the
    /// [`RECENT_ON_JOIN`]th newest message).
    pub async fn join(
        &self,
        user: &User,
        name: &str,
        since: Option<i64>,
    ) -> Result<Joining, Refusal> {
        if since.is_some_and(|since| since < 0) {
            return Err(Refusal::new(
                ErrorCode::BadFrame,
                "since is a seq, 0 or more.",
            ));
        }
        let room = self.room_for(user, name).await?;
        if room.kind == access::Kind::Public && self.stored_role(&room, user).await?.is_none() {
            self.change_for(user, &room, Change::Join).await?;
        }
        // Subscribe before reading the database: whatever is stored from here on is in
        // the feed, whatever was stored before is in the query, and seqs sort out the
        // overlap.
        let (presence, feed, online) = self.hub.join(room.id, &room.name, &user.username);
        let load = self.hub.load(&room.name).unwrap_or_default();
        let db = &self.db;
        let read = async {
            let last_seq = store::last_seq(db, room.id).await?;
            // A `since` beyond the room's end (remembered from a database since reset)
            // counts from the end, or every live event would look already seen.
            let start = match since {
                Some(since) => since.min(last_seq),
                None => store::recent_start(db, room.id, RECENT_ON_JOIN as i64).await?,
            };
            let (replay, more) = self.log_page(&room, start).await?;
            Ok::<_, sqlx::Error>((last_seq, start, replay, more))
        };
        let (last_seq, start, replay, more) = read
            .await
            .map_err(|e| Refusal::internal("joining a room failed", e))?;
        // The replay covers the log to `last_seq` at least; the feed owes what follows.
        self.hub.baseline(&room.name, last_seq);
        Ok(Joining {
            joined: ServerFrame::Joined {
                room: room.name.clone(),
                last_seq,
                online,
            },
            room,
            presence,
            feed,
            load,
            start,
            replay,
            more,
        })
    }

    /// Stops being a member of `room` (a `left` event; presence ends with the
    /// connection's [`Presence`]).
    pub async fn leave(&self, user: &User, room: &RoomRef) -> Result<(), Refusal> {
        self.change_for(user, room, Change::Leave).await.map(drop)
    }

    /// Frames for every connection of `user`: read positions moving, the room list
    /// changing.
    pub fn user_feed(&self, user: &User) -> broadcast::Receiver<axum::extract::ws::Utf8Bytes> {
        self.hub.user_feed(&user.username)
    }

    /// Says that a connection of `user` has dropped its [`Chat::user_feed`].
    pub fn user_feed_closed(&self, user: &User) {
        self.hub.user_feed_closed(&user.username);
    }

    /// The next page of `room`'s log after seq `after`, and whether more follows: how a
    /// connection catches up after lagging behind or noticing a gap.
    pub async fn read_after(
        &self,
        room: &RoomRef,
        after: i64,
    ) -> Result<(Vec<Event>, bool), Refusal> {
        self.catch_up
            .after(room.id, after, || self.log_page(room, after))
            .await
            .map_err(|e| Refusal::internal("catching up failed", e))
    }

    /// One page of `room`'s log after `after`, and whether more follows: what a join
    /// replays first and a catch-up reads.
    async fn log_page(
        &self,
        room: &RoomRef,
        after: i64,
    ) -> Result<(Vec<Event>, bool), sqlx::Error> {
        replay::page(&self.db, room.id, &room.name, after).await
    }

    /// Checks a change and queues it for the writer; the returned [`Pending`] resolves
    /// once it is stored (or refused under the room's lock: someone else's message, a
    /// deleted one, too many emoji). The same path for a socket frame and a form post.
    pub async fn submit(
        &self,
        user: &User,
        room: &str,
        client_id: &str,
        change: Change,
    ) -> Result<Pending, Refusal> {
        let client_id = normalize_client_id(client_id).map_err(Refusal::invalid)?;
        let change = change::check(change)?;
        let room = self.room_for(user, room).await?;
        match self
            .hub
            .admit(user.id, &room.name, std::time::Instant::now())
        {
            hub::Admission::Admitted => {}
            hub::Admission::TooFast => {
                return Err(Refusal::new(
                    ErrorCode::RateLimited,
                    "You are sending too fast; this was not sent.",
                ))
            }
            hub::Admission::Busy => {
                return Err(Refusal::new(
                    ErrorCode::RateLimited,
                    "This room is too busy right now; this was not sent. Try again in a moment.",
                ))
            }
        }
        self.writer
            .submit(plan::Submission {
                room_id: room.id,
                room: room.name,
                actor_id: user.id,
                actor: user.username.clone(),
                client_id,
                change,
            })
            .await
    }

    /// Tells `room` that `user` is typing (throttled per user).
    pub fn typing(&self, room: &RoomRef, user: &User) {
        self.hub
            .typing(&room.name, &user.username, std::time::Instant::now());
    }
}
