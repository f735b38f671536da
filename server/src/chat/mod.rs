//! The chat: the one API through which the WebSocket, the forms and the server
//! functions read and change rooms. A change travels down the folders in order:
//! [`write`] checks it, queues it for the group-commit writer and decides it against
//! what is stored (the pure rules of `write::plan`, the roles of [`rules`]); once
//! committed it goes out through [`fanout`] (this process's room feeds, other nodes
//! through Redis); each member receives it through their [`RoomFeed`], which catches
//! up from the logs in [`read`] whenever the live feed cannot serve it. The parts are
//! private; callers hold a [`Chat`], the [`RoomFeed`]s it gives and its [`Refusal`]s.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use app::{
    model::{Receipt, User},
    protocol::{normalize_client_id, Change, ErrorCode, Role, ServerFrame, RECENT_ON_JOIN},
    rooms::rules::DEFAULT_ROOM,
};
use tokio::sync::{broadcast, mpsc, watch, Notify};

use crate::{accounts::live::LiveSessions, clock::now_ms, db::Db, rate};

/// Fan-out of stored events: room feeds, presence, typing, users' own feeds, the
/// cluster bus.
mod fanout;
/// A member's view of a room: replay, live, catch-up.
mod feed;
/// Reading logs, rooms and search.
mod read;
/// Why the chat refused something.
mod refusal;
/// A room as callers hold it.
mod room;
/// Who may do what, how fast, and how much load the server takes.
mod rules;
/// The room server functions' side of the chat.
mod service;
/// Rows and new events as frames: shared by what reads logs and what writes them.
mod wire;
/// The path of a change into the logs.
mod write;

pub use fanout::cluster::{Membership, Settings as ClusterSettings, CHECK_EVERY};
pub use feed::{CatchUpFailed, Delivery, RoomFeed};
pub use refusal::Refusal;
pub use room::RoomRef;
pub use rules::access::RoomKind;
pub use wire::FileColumns;
pub use write::Queued;

use fanout::Hub;
use read::{replay, store, Reader};
use rules::{access, admission::Admission, load};
use write::{check, rooms, Submission, Writer};

/// What only the tests outside the crate reach: the writer's store on its own.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    pub use super::write::{store_batch, Decision, Submission};
}

/// A frame as connections send it.
pub fn encode(frame: &ServerFrame) -> axum::extract::ws::Utf8Bytes {
    fanout::Event::encode(frame)
}

/// The chat's tunables (see `Config`).
#[derive(Clone, Copy, Debug)]
pub struct ChatLimits {
    /// Frames a room buffers for its slowest member before that member lags and
    /// catches up from the database instead.
    pub room_buffer: usize,
    /// Sends per second per user, and the burst allowed above that rate.
    pub send_rate: f64,
    pub send_burst: f64,
}

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
    room_ids: Mutex<HashMap<String, (i64, RoomKind)>>,
    /// In cluster mode, this node's place in the cluster.
    membership: Option<Membership>,
    /// Room creations per user.
    creations: Mutex<rate::Buckets>,
    /// Send rates and load: whether a change may be queued at all.
    admission: Admission,
    reader: Reader,
    /// Rung when deleted messages leave files to erase.
    files_released: Arc<Notify>,
}

impl Chat {
    /// Creates the default room if needed and starts the writer, the gap filler and,
    /// given cluster settings, the Redis bus (which also tells the other nodes of the
    /// `sessions` that end here, and ends here those they end).
    pub async fn start(
        db: Db,
        limits: ChatLimits,
        cluster: Option<ClusterSettings>,
        sessions: LiveSessions,
        stopping: watch::Receiver<bool>,
        in_use: mpsc::Sender<()>,
    ) -> Result<Arc<Chat>, StartError> {
        rooms::ensure_room(&db, DEFAULT_ROOM, "Everyone, everything", now_ms()).await?;
        let (hub, announcer, membership) = match cluster {
            Some(settings) => {
                let (news, heard) = fanout::cluster::news_channel();
                let hub = Hub::new(limits.room_buffer, Some(news));
                let (announcer, membership) =
                    fanout::cluster::start(settings, db.clone(), hub.clone(), heard, sessions)?;
                (hub, Some(announcer), Some(membership))
            }
            None => (Hub::new(limits.room_buffer, None), None, None),
        };
        tokio::spawn(load::watch_saturation(hub.server_load().clone()));
        let files_released = Arc::new(Notify::new());
        let writer = Writer::start(db.clone(), hub.clone(), announcer, files_released.clone());
        tokio::spawn(fanout::gaps::fill_due_gaps(db.clone(), hub.clone()));
        Ok(Arc::new(Chat {
            hub,
            writer,
            stopping,
            _in_use: in_use,
            room_ids: Mutex::new(HashMap::new()),
            membership,
            creations: Mutex::new(rate::Buckets::new(ROOMS_PER_SECOND, ROOMS_BURST)),
            admission: Admission::new(limits.send_rate, limits.send_burst),
            reader: Reader::new(db.clone()),
            files_released,
            db,
        }))
    }

    /// In cluster mode, this node's membership, to withdraw from when stopping (it
    /// does not keep the chat alive).
    pub fn membership(&self) -> Option<Membership> {
        self.membership.clone()
    }

    /// What the file collector waits on: rung after a commit that deleted messages.
    pub fn files_released(&self) -> Arc<Notify> {
        self.files_released.clone()
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
                let kind = RoomKind::parse(&row.kind);
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
        // A public room is readable without asking the database who is in it.
        if room.kind != RoomKind::Public
            && !room
                .kind
                .readable(self.stored_role(&room, user).await?.is_some())
        {
            return Err(Refusal::unknown_room(name));
        }
        Ok(room)
    }

    /// The room called `name` if `user` may read it (for its files), else the refusal
    /// an unknown room gets.
    pub async fn readable_room(&self, user: &User, name: &str) -> Result<RoomRef, Refusal> {
        self.room_for(user, name).await
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
        let queued = self
            .writer
            .queue(Submission {
                room_id: room.id,
                room: room.name.clone(),
                actor_id: user.id,
                actor: user.username.clone(),
                client_id: uuid::Uuid::new_v4().to_string(),
                change,
            })
            .await?;
        queued.await
    }

    /// Enters a room: membership (a `joined` event the first time), presence, and the
    /// room's feed: the `joined` frame, the replay of every event after `since`
    /// (without it, from the [`RECENT_ON_JOIN`]th newest message), then live events.
    pub async fn join(
        &self,
        user: &User,
        name: &str,
        since: Option<i64>,
    ) -> Result<RoomFeed, Refusal> {
        if since.is_some_and(|since| since < 0) {
            return Err(Refusal::new(
                ErrorCode::BadFrame,
                "since is a seq, 0 or more.",
            ));
        }
        let room = self.room_for(user, name).await?;
        if room.kind == RoomKind::Public && self.stored_role(&room, user).await?.is_none() {
            self.change_for(user, &room, Change::Join).await?;
        }
        // Subscribe before reading the database: whatever is stored from here on is in
        // the feed, whatever was stored before is in the query, and seqs sort out the
        // overlap.
        let (presence, live, online) = self.hub.join(room.id, &room.name, &user.username);
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
            let (replay, more) = replay::page(db, room.id, &room.name, start).await?;
            Ok::<_, sqlx::Error>((last_seq, start, replay, more))
        };
        let (last_seq, start, replay, more) = read
            .await
            .map_err(|e| Refusal::internal("joining a room failed", e))?;
        // The replay covers the log to `last_seq` at least; the feed owes what follows.
        self.hub.baseline(&room.name, last_seq);
        let joined = fanout::Event::encode(&ServerFrame::Joined {
            room: room.name.clone(),
            last_seq,
            online,
        });
        Ok(RoomFeed::new(feed::Start {
            room,
            user: user.username.as_str().into(),
            joined,
            live,
            presence,
            load,
            reader: self.reader.clone(),
            start,
            replay,
            more,
        }))
    }

    /// Stops being a member of `room` (a `left` event; presence ends with the
    /// connection's [`RoomFeed`]).
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

    /// Checks a change and queues it for the writer; the returned [`Queued`] resolves
    /// once it is stored (or refused under the room's lock: someone else's message, a
    /// deleted one, too many emoji). The same path for a socket frame and a form post.
    pub async fn queue(
        &self,
        user: &User,
        room: &str,
        client_id: &str,
        change: Change,
    ) -> Result<Queued, Refusal> {
        let client_id = normalize_client_id(client_id).map_err(Refusal::invalid)?;
        let change = check::check(change)?;
        let room = self.room_for(user, room).await?;
        let load = self.hub.load(&room.name);
        self.admission.admit(
            user.id,
            load.as_deref(),
            self.hub.server_load(),
            std::time::Instant::now(),
        )?;
        self.writer
            .queue(Submission {
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
