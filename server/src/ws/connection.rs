//! One WebSocket connection, driven by one task. It only speaks the socket: it decodes
//! each frame and hands it to the [`Chat`], queues what comes back (answers, replays,
//! room feeds) in its [`Outbox`], and writes whenever the socket can take it. A slow
//! client only fills its own outbox; its room feeds then lag, and it catches up from
//! the database instead of holding up the room.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use app::{
    model::{Receipt, User},
    protocol::{Change, ClientFrame, ErrorCode, HelloUser, MemberChange, ServerFrame},
};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{
    stream::{FuturesUnordered, SplitStream},
    StreamExt,
};
use tokio::time::Instant;
use tokio_stream::{
    wrappers::{errors::BroadcastStreamRecvError, BroadcastStream},
    StreamMap,
};

use super::{
    cursor::{Cursor, Place},
    limits::Limits,
    outbox::Outbox,
};
use crate::{
    accounts::live::{Ended, SessionEnd},
    chat::{
        load::{RoomLoad, SAMPLE_EVERY},
        rate::Bucket,
        refusal::Refusal,
        Chat, Event, Joining, Presence, RoomRef,
    },
    monitoring,
};

/// How long a closing connection may take to write what it still has queued.
const FINAL_FLUSH: Duration = Duration::from_secs(5);
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENCE_LIMIT: Duration = Duration::from_secs(60);

const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;
const CLOSE_INTERNAL: u16 = 1011;

/// A change on its way to the database: the room and `client_id` as the client sent
/// them (an answer echoes them), and what became of it.
type Acking = Pin<Box<dyn Future<Output = (String, String, Result<Receipt, Refusal>)> + Send>>;

type Feeds = StreamMap<String, BroadcastStream<Event>>;

/// Why the reader stopped.
enum End {
    /// The client closed, or the socket failed; nothing more can be sent.
    Gone,
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
}

struct Joined {
    room: RoomRef,
    cursor: Cursor,
    load: Arc<RoomLoad>,
    /// Fell behind the feed: the next live event says by how much.
    measure_next: bool,
    /// Keeps the user present in the room while the connection is in it.
    _presence: Presence,
    _gauge: monitoring::Held,
}

struct Connection {
    user: User,
    chat: Arc<Chat>,
    out: Outbox,
    joined: HashMap<String, Joined>,
    /// How long the socket may take nothing of what is queued for it.
    write_deadline: Duration,
    max_rooms: usize,
    /// Frames of every kind the client may send; each refused one counts a strike.
    frames: Bucket,
    strikes: f64,
    strikes_allowed: f64,
    /// Resolves when the session the socket was opened with ends.
    session: SessionEnd,
    deliveries: metrics::Counter,
    /// Live deliveries until the next delay sample.
    until_sample: u32,
    /// Rooms the user left or was removed from while this connection was in them:
    /// their feeds are dropped after the step that saw it.
    dropped: Vec<String>,
}

/// Whether `frame` (an event, as sent) says that `user` is no longer in its room.
fn ends_membership(frame: &str, user: &str) -> bool {
    // Only membership events are decoded; every other frame passes untouched.
    if !frame.starts_with(r#"{"type":"member""#) {
        return false;
    }
    matches!(
        serde_json::from_str::<ServerFrame>(frame),
        Ok(ServerFrame::Member(event))
            if event.user == user && matches!(event.change, MemberChange::Left | MemberChange::Removed)
    )
}

pub async fn run(
    socket: WebSocket,
    user: User,
    chat: Arc<Chat>,
    limits: Limits,
    session: SessionEnd,
) {
    let (sink, stream) = socket.split();
    tracing::debug!(user = %user.username, "connected");
    let (rate, burst) = limits.frames;
    let mut connection = Connection {
        user,
        chat,
        out: Outbox::new(sink),
        joined: HashMap::new(),
        write_deadline: limits.write_deadline,
        max_rooms: limits.max_rooms,
        frames: Bucket::new(rate, burst, std::time::Instant::now()),
        strikes: 0.0,
        strikes_allowed: burst,
        session,
        deliveries: monitoring::deliveries(),
        until_sample: SAMPLE_EVERY,
        dropped: Vec::new(),
    };
    let end = connection.read_loop(stream).await;
    // The loop's own feed is gone with it.
    connection.chat.user_feed_closed(&connection.user);
    // Leave every room now, not after the goodbye has been written.
    connection.joined.clear();
    tracing::debug!(user = %connection.user.username, "disconnected");
    let last = match end {
        End::Close(code, reason) => Some(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }))),
        End::Gone => None,
    };
    connection.out.finish(last, FINAL_FLUSH).await;
}

/// Whether a read error was a frame over the size limit.
fn too_big(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(tungstenite::Error::Capacity(_)) = current.downcast_ref::<tungstenite::Error>()
        {
            return true;
        }
        source = current.source();
    }
    false
}

impl Connection {
    async fn read_loop(&mut self, mut stream: SplitStream<WebSocket>) -> End {
        let mut feeds = Feeds::new();
        let mut own = BroadcastStream::new(self.chat.user_feed(&self.user));
        let mut acking: FuturesUnordered<Acking> = FuturesUnordered::new();
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let mut stopping = self.chat.stopping();
        let silence = tokio::time::sleep(SILENCE_LIMIT);
        tokio::pin!(silence);
        // Fires at most once per deadline while there is something to write; the
        // outbox says whether the socket took anything meanwhile.
        let stall = tokio::time::sleep(self.write_deadline);
        tokio::pin!(stall);

        let hello = ServerFrame::Hello {
            user: HelloUser {
                id: self.user.id,
                username: self.user.username.clone(),
            },
        };
        if self.send(&hello).await.is_err() {
            return End::Gone;
        }

        loop {
            let full = self.out.is_full();
            let step = tokio::select! {
                // Everything that is ready is read before writing, so it goes out in
                // one flush; the outbox limit (and tokio's task budget) bound a batch.
                biased;
                incoming = stream.next(), if !full => match incoming {
                    None | Some(Ok(Message::Close(_))) => Err(End::Gone),
                    Some(Err(error)) if too_big(&error) => {
                        Err(End::Close(CLOSE_TOO_BIG, "frame larger than 64 KiB"))
                    }
                    Some(Err(_)) => Err(End::Gone),
                    Some(Ok(message)) => {
                        silence.as_mut().reset(Instant::now() + SILENCE_LIMIT);
                        match message {
                            Message::Text(_) | Message::Binary(_) if !self.frame_allowed() => {
                                self.refuse_flood().await
                            }
                            Message::Text(text) => self.on_text(&text, &mut feeds, &mut acking).await,
                            Message::Binary(_) => self.refuse(ErrorCode::BadFrame, "Frames are JSON text, not binary.").await,
                            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => Ok(()),
                        }
                    }
                },
                // Before the rooms' feeds: a frame here was sent before the events after it.
                Some(frame) = own.next(), if !full => match frame {
                    Ok(frame) => self.queue(Message::Text(frame)).await,
                    // Hints only: the client reads the room list again when it matters.
                    Err(BroadcastStreamRecvError::Lagged(_)) => Ok(()),
                },
                Some((room, event)) = feeds.next(), if !full && !feeds.is_empty() => {
                    self.on_event(&room, event).await
                }
                Some((room, client_id, outcome)) = acking.next(), if !full && !acking.is_empty() => {
                    self.on_stored(room, client_id, outcome).await
                }
                written = std::future::poll_fn(|cx| self.out.poll_write(cx)), if self.out.is_busy() => {
                    written.map_err(|_| End::Gone)
                }
                _ = ping.tick() => self.queue(Message::Ping(Default::default())).await,
                () = &mut silence => Err(End::Close(CLOSE_GOING_AWAY, "no traffic for 60 s")),
                () = &mut stall, if self.out.is_busy() => {
                    if self.out.stalled_for() >= self.write_deadline {
                        tracing::debug!(user = %self.user.username, "not reading; closing");
                        Err(End::Gone)
                    } else {
                        stall.as_mut().reset(self.out.stalled_since() + self.write_deadline);
                        Ok(())
                    }
                }
                _ = stopping.changed() => Err(End::Close(CLOSE_GOING_AWAY, "server restarting")),
                ended = self.session.ended() => Err(End::Close(CLOSE_POLICY, match ended {
                    Ended::LoggedOut => "logged out",
                    Ended::Expired => "session expired",
                })),
            };
            if let Err(end) = step {
                return end;
            }
            for room in self.dropped.drain(..) {
                feeds.remove(&room);
            }
        }
    }

    async fn queue(&mut self, message: Message) -> Result<(), End> {
        if self.out.is_full() {
            // Room is made by writing, but never waiting past the write deadline.
            let left = self.write_deadline.saturating_sub(self.out.stalled_for());
            match tokio::time::timeout(left, self.out.write_all()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(End::Gone),
            }
        }
        self.out.push(message);
        Ok(())
    }

    /// Takes a token for a frame from the client. Refused frames add a strike; a
    /// frame's token, when there is one, takes a strike back.
    fn frame_allowed(&mut self) -> bool {
        if self.frames.allow(std::time::Instant::now()) {
            self.strikes = (self.strikes - 1.0).max(0.0);
            true
        } else {
            self.strikes += 1.0;
            false
        }
    }

    /// Answers a frame over the rate with `rate_limited`; a client that keeps sending
    /// regardless (a burst's worth of refusals unheeded) is cut off.
    async fn refuse_flood(&mut self) -> Result<(), End> {
        if self.strikes > self.strikes_allowed {
            return Err(End::Close(CLOSE_POLICY, "too many frames"));
        }
        self.refuse(
            ErrorCode::RateLimited,
            "Too many frames; slow down and retry.",
        )
        .await
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), End> {
        self.queue(Message::Text(Event::encode(frame))).await
    }

    async fn refuse(&mut self, code: ErrorCode, message: impl Into<String>) -> Result<(), End> {
        monitoring::refused(code.as_str());
        self.send(&ServerFrame::error(code, message)).await
    }

    async fn refuse_about(
        &mut self,
        refusal: Refusal,
        room: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<(), End> {
        monitoring::refused(refusal.code.as_str());
        self.send(&ServerFrame::Error {
            code: refusal.code,
            message: refusal.message,
            room: room.map(str::to_string),
            client_id: client_id.map(str::to_string),
        })
        .await
    }

    async fn on_text(
        &mut self,
        text: &str,
        feeds: &mut Feeds,
        acking: &mut FuturesUnordered<Acking>,
    ) -> Result<(), End> {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(error) => {
                return self
                    .refuse(
                        ErrorCode::BadFrame,
                        format!("Could not read that frame: {error}."),
                    )
                    .await
            }
        };
        let frame = match frame.into_change() {
            Ok((room, client_id, change)) => {
                return self.submit(room, client_id, change, acking).await
            }
            Err(frame) => frame,
        };
        match frame {
            ClientFrame::Ping {} => self.send(&ServerFrame::Pong).await,
            ClientFrame::Join { room, since } => self.join(room, since, feeds).await,
            ClientFrame::Leave { room } => self.leave(room, feeds).await,
            ClientFrame::Typing { room } => self.typing(room).await,
            // `into_change` took every frame that changes a room.
            ClientFrame::Send { .. }
            | ClientFrame::Edit { .. }
            | ClientFrame::Delete { .. }
            | ClientFrame::React { .. } => Ok(()),
        }
    }

    async fn join(
        &mut self,
        name: String,
        since: Option<i64>,
        feeds: &mut Feeds,
    ) -> Result<(), End> {
        if self.joined.len() >= self.max_rooms && !self.joined.contains_key(&name) {
            let refusal = Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "A connection may be in {} rooms at once; leave one first.",
                    self.max_rooms
                ),
            );
            return self.refuse_about(refusal, Some(&name), None).await;
        }
        let Joining {
            room,
            presence,
            feed,
            load,
            joined,
            start,
            replay,
            more,
        } = match self.chat.join(&self.user, &name, since).await {
            Ok(joining) => joining,
            Err(refusal) => return self.refuse_about(refusal, Some(&name), None).await,
        };
        let key = room.name.clone();
        feeds.insert(key.clone(), BroadcastStream::new(feed));
        // A rejoin (to catch up) replaces the entry: the old presence ends after the
        // new one began, so the user never flickers offline.
        self.joined.insert(
            key.clone(),
            Joined {
                room,
                cursor: Cursor::after(start),
                load,
                measure_next: false,
                _presence: presence,
                _gauge: monitoring::Held::joined_room(),
            },
        );
        self.send(&joined).await?;
        self.deliver(&key, replay).await?;
        if more {
            self.catch_up(&key).await?;
        }
        Ok(())
    }

    async fn leave(&mut self, room: String, feeds: &mut Feeds) -> Result<(), End> {
        if let Some(left) = self.joined.remove(&room) {
            feeds.remove(&room);
            // A conversation cannot be left: the connection only stops following it.
            if let Err(refusal) = self.chat.leave(&self.user, &left.room).await {
                tracing::debug!(%refusal, "a leave changed no membership");
            }
        }
        Ok(())
    }

    /// Sends an event of `room` and, when it ends the user's membership, stops
    /// following the room: nothing after it reaches someone no longer in the room.
    async fn send_event(&mut self, room: &str, frame: Utf8Bytes) -> Result<(), End> {
        let ends = ends_membership(frame.as_str(), &self.user.username);
        self.deliveries.increment(1);
        self.queue(Message::Text(frame)).await?;
        if ends {
            self.joined.remove(room);
            self.dropped.push(room.to_string());
        }
        Ok(())
    }

    async fn typing(&mut self, room: String) -> Result<(), End> {
        match self.joined.get(&room) {
            Some(joined) => {
                self.chat.typing(&joined.room, &self.user);
                Ok(())
            }
            None => {
                let refusal = Refusal::new(ErrorCode::NotJoined, format!("Join {room:?} first."));
                self.refuse_about(refusal, Some(&room), None).await
            }
        }
    }

    /// Sends the events not yet sent, in order, advancing the room's cursor.
    async fn deliver(&mut self, room: &str, events: Vec<Event>) -> Result<(), End> {
        for event in events {
            let Some(seq) = event.seq else { continue };
            let Some(joined) = self.joined.get_mut(room) else {
                return Ok(());
            };
            if joined.cursor.place(seq) == Place::Sent {
                continue;
            }
            joined.cursor.advance(seq);
            self.send_event(room, event.frame).await?;
        }
        Ok(())
    }

    /// Reads from the database everything after the room's cursor.
    async fn catch_up(&mut self, room: &str) -> Result<(), End> {
        loop {
            let Some(joined) = self.joined.get(room) else {
                return Ok(());
            };
            let (target, after) = (joined.room.clone(), joined.cursor.last());
            let Ok((events, more)) = self.chat.read_after(&target, after).await else {
                return Err(End::Close(CLOSE_INTERNAL, "could not catch up; reconnect"));
            };
            self.deliver(room, events).await?;
            if !more {
                return Ok(());
            }
        }
    }

    async fn on_event(
        &mut self,
        room: &str,
        event: Result<Event, BroadcastStreamRecvError>,
    ) -> Result<(), End> {
        match event {
            Ok(Event {
                seq: None, frame, ..
            }) => self.queue(Message::Text(frame)).await,
            Ok(Event {
                seq: Some(seq),
                frame,
                at,
            }) => {
                // The hot path of fan-out: one lookup, no allocation.
                let Some(joined) = self.joined.get_mut(room) else {
                    return Ok(());
                };
                if joined.measure_next {
                    // The oldest event the feed still held: its age is how late this
                    // member is.
                    if let Some(at) = at {
                        let now = std::time::Instant::now();
                        joined.load.record(now.saturating_duration_since(at), now);
                        joined.measure_next = false;
                    }
                }
                match joined.cursor.place(seq) {
                    Place::Sent => Ok(()),
                    Place::Next => {
                        joined.cursor.advance(seq);
                        self.until_sample -= 1;
                        if self.until_sample == 0 {
                            self.until_sample = SAMPLE_EVERY;
                            if let Some(at) = at {
                                let now = std::time::Instant::now();
                                joined.load.record(now.saturating_duration_since(at), now);
                            }
                        }
                        self.send_event(room, frame).await
                    }
                    Place::Gap => {
                        // Something between was not seen here: read it from the
                        // database rather than leave a gap (this event comes with it).
                        self.catch_up(room).await?;
                        let event = Event {
                            seq: Some(seq),
                            frame,
                            at,
                        };
                        self.deliver(room, vec![event]).await
                    }
                }
            }
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                tracing::debug!(user = %self.user.username, room, missed, "lagging; catching up from the database");
                monitoring::resynced();
                if let Some(joined) = self.joined.get_mut(room) {
                    joined.measure_next = true;
                }
                self.catch_up(room).await
            }
        }
    }

    async fn submit(
        &mut self,
        room: String,
        client_id: String,
        change: Change,
        acking: &mut FuturesUnordered<Acking>,
    ) -> Result<(), End> {
        match self
            .chat
            .submit(&self.user, &room, &client_id, change)
            .await
        {
            Ok(pending) => {
                acking.push(Box::pin(async move { (room, client_id, pending.await) }));
                Ok(())
            }
            Err(refusal) => {
                self.refuse_about(refusal, Some(&room), Some(&client_id))
                    .await
            }
        }
    }

    async fn on_stored(
        &mut self,
        room: String,
        client_id: String,
        outcome: Result<Receipt, Refusal>,
    ) -> Result<(), End> {
        match outcome {
            Ok(receipt) => {
                self.send(&ServerFrame::Ack {
                    room: receipt.room,
                    client_id,
                    seq: receipt.seq,
                })
                .await
            }
            Err(refusal) => {
                self.refuse_about(refusal, Some(&room), Some(&client_id))
                    .await
            }
        }
    }
}
