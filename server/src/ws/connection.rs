//! One WebSocket connection, driven by one task. It only speaks the socket: it decodes
//! each frame and hands it to the [`Chat`], queues what comes back (answers, the user's
//! own feed, the [`RoomFeed`] of each room joined) in its [`Outbox`], and writes
//! whenever the socket can take it. While the outbox is full it takes nothing from the
//! feeds, so a slow client only delays itself: its room feeds lag, and catch up from
//! the database instead of holding up the room.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use app::{
    model::{Receipt, User},
    protocol::{Change, ClientFrame, ErrorCode, HelloUser, ServerFrame},
};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{stream::FuturesUnordered, Sink, Stream, StreamExt};
use tokio::time::Instant;
use tokio_stream::{
    wrappers::{errors::BroadcastStreamRecvError, BroadcastStream},
    StreamMap,
};

use super::{limits::SocketLimits, outbox::Outbox};
use crate::{
    accounts::live::{Ended, SessionEnd},
    chat::{CatchUpFailed, Chat, Delivery, Refusal, RoomFeed, RoomRef},
    monitoring,
    rate::Bucket,
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

/// The rooms joined, by name: dropping a feed leaves the room's presence.
type Feeds = StreamMap<String, RoomFeed>;

/// Why the reader stopped.
enum End {
    /// The client closed, or the socket failed; nothing more can be sent.
    Gone,
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
}

struct Connection<S> {
    user: User,
    chat: Arc<Chat>,
    out: Outbox<S>,
    /// How long the socket may take nothing of what is queued for it.
    write_deadline: Duration,
    max_rooms: usize,
    /// Frames of every kind the client may send; each refused one counts a strike.
    frames: Bucket,
    strikes: f64,
    strikes_allowed: f64,
    /// Resolves when the session the socket was opened with ends.
    session: SessionEnd,
}

/// Serves an upgraded WebSocket until either side ends it.
pub async fn run(
    socket: WebSocket,
    user: User,
    chat: Arc<Chat>,
    limits: SocketLimits,
    session: SessionEnd,
) {
    let (sink, stream) = socket.split();
    serve(sink, stream, user, chat, limits, session).await;
}

/// The connection over any sink and stream of messages: the server's WebSocket halves,
/// or channels in the tests.
async fn serve<S, R>(
    sink: S,
    stream: R,
    user: User,
    chat: Arc<Chat>,
    limits: SocketLimits,
    session: SessionEnd,
) where
    S: Sink<Message, Error = axum::Error> + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    tracing::debug!(user = %user.username, "connected");
    let (rate, burst) = limits.frames;
    let mut connection = Connection {
        user,
        chat,
        out: Outbox::new(sink),
        write_deadline: limits.write_deadline,
        max_rooms: limits.max_rooms,
        frames: Bucket::new(rate, burst, std::time::Instant::now()),
        strikes: 0.0,
        strikes_allowed: burst,
        session,
    };
    // Every room is left (the feeds dropped) when the loop returns, not after the
    // goodbye has been written.
    let end = connection.read_loop(stream).await;
    // The loop's own feed is gone with it.
    connection.chat.user_feed_closed(&connection.user);
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

impl<S: Sink<Message, Error = axum::Error> + Unpin> Connection<S> {
    async fn read_loop<R>(&mut self, mut stream: R) -> End
    where
        R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    {
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
                Some((room, delivery)) = feeds.next(), if !full && !feeds.is_empty() => {
                    self.on_delivery(&room, delivery, &mut feeds).await
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
        self.queue(Message::Text(crate::chat::encode(frame))).await
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
            ClientFrame::Typing { room } => {
                let joined = feeds
                    .iter()
                    .find(|(name, _)| **name == room)
                    .map(|(_, feed)| feed.room().clone());
                self.typing(room, joined).await
            }
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
        if feeds.len() >= self.max_rooms && !feeds.contains_key(&name) {
            let refusal = Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "A connection may be in {} rooms at once; leave one first.",
                    self.max_rooms
                ),
            );
            return self.refuse_about(refusal, Some(&name), None).await;
        }
        match self.chat.join(&self.user, &name, since).await {
            Ok(feed) => {
                // A rejoin (to catch up) replaces the feed: the old presence ends after
                // the new one began, so the user never flickers offline.
                feeds.insert(feed.room().name.clone(), feed);
                Ok(())
            }
            Err(refusal) => self.refuse_about(refusal, Some(&name), None).await,
        }
    }

    async fn leave(&mut self, room: String, feeds: &mut Feeds) -> Result<(), End> {
        if let Some(feed) = feeds.remove(&room) {
            let room = feed.room().clone();
            // Out of the room's presence before the `left` event goes out.
            drop(feed);
            // A conversation cannot be left: the connection only stops following it.
            if let Err(refusal) = self.chat.leave(&self.user, &room).await {
                tracing::debug!(%refusal, "a leave changed no membership");
            }
        }
        Ok(())
    }

    /// `joined`: the room as this connection joined it, if it did.
    async fn typing(&mut self, room: String, joined: Option<RoomRef>) -> Result<(), End> {
        match joined {
            Some(joined) => {
                self.chat.typing(&joined, &self.user);
                Ok(())
            }
            None => {
                let refusal = Refusal::new(ErrorCode::NotJoined, format!("Join {room:?} first."));
                self.refuse_about(refusal, Some(&room), None).await
            }
        }
    }

    /// Sends a frame of a room's feed; after the one that ends the user's membership
    /// the feed is dropped at once, so that no frame of the room follows it and the
    /// room counts as left for every frame the client sends next.
    async fn on_delivery(
        &mut self,
        room: &str,
        delivery: Result<Delivery, CatchUpFailed>,
        feeds: &mut Feeds,
    ) -> Result<(), End> {
        let Ok(delivery) = delivery else {
            return Err(End::Close(CLOSE_INTERNAL, "could not catch up; reconnect"));
        };
        self.queue(Message::Text(delivery.frame)).await?;
        if delivery.ends_membership {
            feeds.remove(room);
        }
        Ok(())
    }

    async fn submit(
        &mut self,
        room: String,
        client_id: String,
        change: Change,
        acking: &mut FuturesUnordered<Acking>,
    ) -> Result<(), End> {
        match self.chat.queue(&self.user, &room, &client_id, change).await {
            Ok(queued) => {
                acking.push(Box::pin(async move { (room, client_id, queued.await) }));
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

#[cfg(test)]
mod tests;
