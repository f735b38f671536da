//! One WebSocket connection, driven by one task: it reads the client's frames, the room
//! feeds and the acks of stored messages, queues the frames to send in an [`Outbox`],
//! and writes them whenever the socket can take them, everything that is ready in one
//! flush. A slow client only fills its own outbox; its room feeds then lag, and it
//! catches up from the database instead of holding up the room.

use std::{
    collections::{HashMap, VecDeque},
    future::{poll_fn, Future},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use app::{
    accounts::User,
    error::ApiError,
    protocol::{
        check_body, normalize_client_id, ClientFrame, ErrorCode, HelloUser, ServerFrame,
        RECENT_ON_JOIN,
    },
};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{
    stream::{FuturesUnordered, SplitSink, SplitStream},
    SinkExt, StreamExt,
};
use tokio::time::Instant;
use tokio_stream::{
    wrappers::{errors::BroadcastStreamRecvError, BroadcastStream},
    StreamMap,
};

use crate::chat::{
    hub::Event,
    store::{self, MessageRow, Outcome},
    writer::to_wire,
    Chat, RoomRef,
};

/// Frames queued for the socket. When full, nothing more is read until the socket takes
/// some, and room feeds lag.
const OUTBOUND: usize = 256;
/// How long a closing connection may take to write what it still has queued.
const FINAL_FLUSH: Duration = Duration::from_secs(5);
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// Rows fetched per query when replaying or catching up.
const REPLAY_PAGE: i64 = 500;

const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_TOO_BIG: u16 = 1009;
const CLOSE_INTERNAL: u16 = 1011;

type Acking = Pin<Box<dyn Future<Output = (String, Result<Outcome, ApiError>)> + Send>>;

/// Why the reader stopped.
enum End {
    /// The client closed, or the socket failed; nothing more can be sent.
    Gone,
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
}

struct Joined {
    room: RoomRef,
    /// Highest seq sent to this connection; later feed events at or below it are dropped.
    last: i64,
}

struct Connection {
    user: User,
    chat: Arc<Chat>,
    out: Outbox,
    joined: HashMap<String, Joined>,
}

/// Frames waiting for the socket. Writing is polled alongside everything else the
/// connection waits on, so a client that reads slowly delays only itself, and frames
/// that become ready together go out in one flush (one write call).
struct Outbox {
    sink: SplitSink<WebSocket, Message>,
    queue: VecDeque<Message>,
    /// Frames handed to the socket but not yet flushed.
    unflushed: bool,
}

impl Outbox {
    fn is_full(&self) -> bool {
        self.queue.len() >= OUTBOUND
    }

    fn is_busy(&self) -> bool {
        self.unflushed || !self.queue.is_empty()
    }

    /// Writes what is queued; ready once all of it is flushed. Safe to drop at any
    /// point: what is not yet handed to the socket stays queued.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        while !self.queue.is_empty() {
            std::task::ready!(self.sink.poll_ready_unpin(cx))?;
            let message = self.queue.pop_front().expect("not empty");
            self.sink.start_send_unpin(message)?;
            self.unflushed = true;
        }
        if self.unflushed {
            std::task::ready!(self.sink.poll_flush_unpin(cx))?;
            self.unflushed = false;
            // A burst may have grown the queue; an idle connection should not keep that.
            if self.queue.capacity() > 64 {
                self.queue.shrink_to(8);
            }
        }
        Poll::Ready(Ok(()))
    }

    async fn write_all(&mut self) -> Result<(), axum::Error> {
        poll_fn(|cx| self.poll_write(cx)).await
    }
}

pub async fn run(socket: WebSocket, user: User, chat: Arc<Chat>) {
    let (sink, stream) = socket.split();
    tracing::debug!(user = %user.username, "connected");
    let mut connection = Connection {
        user,
        chat,
        out: Outbox {
            sink,
            queue: VecDeque::new(),
            unflushed: false,
        },
        joined: HashMap::new(),
    };
    let end = connection.read_loop(stream).await;
    for (name, _) in connection.joined.drain() {
        connection.chat.hub.leave(&name, &connection.user.username);
    }
    tracing::debug!(user = %connection.user.username, "disconnected");
    if let End::Close(code, reason) = end {
        connection
            .out
            .queue
            .push_back(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })));
        let _ = tokio::time::timeout(FINAL_FLUSH, connection.out.write_all()).await;
    }
    let _ = connection.out.sink.close().await;
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
        let mut feeds: StreamMap<String, BroadcastStream<Event>> = StreamMap::new();
        let mut acking: FuturesUnordered<Acking> = FuturesUnordered::new();
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let mut stopping = self.chat.stopping.clone();
        let silence = tokio::time::sleep(SILENCE_LIMIT);
        tokio::pin!(silence);

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
                            Message::Text(text) => self.on_text(&text, &mut feeds, &mut acking).await,
                            Message::Binary(_) => self.refuse(ErrorCode::BadFrame, "Frames are JSON text, not binary.").await,
                            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => Ok(()),
                        }
                    }
                },
                Some((room, event)) = feeds.next(), if !full && !feeds.is_empty() => {
                    self.on_event(&room, event).await
                }
                Some((client_id, outcome)) = acking.next(), if !full && !acking.is_empty() => {
                    self.on_stored(client_id, outcome).await
                }
                written = poll_fn(|cx| self.out.poll_write(cx)), if self.out.is_busy() => {
                    written.map_err(|_| End::Gone)
                }
                _ = ping.tick() => self.queue(Message::Ping(Default::default())).await,
                () = &mut silence => Err(End::Close(CLOSE_GOING_AWAY, "no traffic for 60 s")),
                _ = stopping.changed() => Err(End::Close(CLOSE_GOING_AWAY, "server restarting")),
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Queues a frame; when the outbox is full, first waits for the socket to take
    /// what is queued (long replays and catch-ups go out page by page this way).
    async fn queue(&mut self, message: Message) -> Result<(), End> {
        if self.out.is_full() {
            self.out.write_all().await.map_err(|_| End::Gone)?;
        }
        self.out.queue.push_back(message);
        Ok(())
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), End> {
        self.queue(Message::Text(Event::encode(frame))).await
    }

    async fn refuse(&mut self, code: ErrorCode, message: impl Into<String>) -> Result<(), End> {
        self.send(&ServerFrame::error(code, message)).await
    }

    async fn refuse_about(
        &mut self,
        code: ErrorCode,
        message: impl Into<String>,
        room: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<(), End> {
        self.send(&ServerFrame::Error {
            code,
            message: message.into(),
            room: room.map(str::to_string),
            client_id: client_id.map(str::to_string),
        })
        .await
    }

    /// The room called `name`, or `None` once the client has been told why not.
    async fn room_or_refuse(
        &mut self,
        name: &str,
        client_id: Option<&str>,
    ) -> Result<Option<RoomRef>, End> {
        let (code, message) = match self.chat.room(name).await {
            Ok(Some(room)) => return Ok(Some(room)),
            Ok(None) => (
                ErrorCode::UnknownRoom,
                format!("There is no room named {name:?}."),
            ),
            Err(_) => (
                ErrorCode::Internal,
                "The room could not be reached; try again.".to_string(),
            ),
        };
        self.refuse_about(code, message, Some(name), client_id)
            .await?;
        Ok(None)
    }

    async fn on_text(
        &mut self,
        text: &str,
        feeds: &mut StreamMap<String, BroadcastStream<Event>>,
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
        match frame {
            ClientFrame::Ping {} => self.send(&ServerFrame::Pong).await,
            ClientFrame::Join { room, since } => self.join(room, since, feeds).await,
            ClientFrame::Leave { room } => {
                if let Some(left) = self.joined.remove(&room) {
                    feeds.remove(&room);
                    self.chat.hub.leave(&room, &self.user.username);
                    // Membership is what member counts show; the leave itself already happened.
                    if let Err(error) =
                        store::remove_member(&self.chat.db, left.room.id, self.user.id).await
                    {
                        tracing::warn!(%error, "recording a leave failed");
                    }
                }
                Ok(())
            }
            ClientFrame::Typing { room } => {
                if self.joined.contains_key(&room) {
                    self.chat
                        .hub
                        .typing(&room, &self.user.username, std::time::Instant::now());
                    Ok(())
                } else {
                    self.refuse_about(
                        ErrorCode::NotJoined,
                        format!("Join {room:?} first."),
                        Some(&room),
                        None,
                    )
                    .await
                }
            }
            ClientFrame::Send {
                room,
                client_id,
                body,
            } => self.post(room, client_id, body, acking).await,
        }
    }

    async fn join(
        &mut self,
        name: String,
        since: Option<i64>,
        feeds: &mut StreamMap<String, BroadcastStream<Event>>,
    ) -> Result<(), End> {
        if since.is_some_and(|since| since < 0) {
            return self
                .refuse_about(
                    ErrorCode::BadFrame,
                    "since is a seq, 0 or more.",
                    Some(&name),
                    None,
                )
                .await;
        }
        let Some(room) = self.room_or_refuse(&name, None).await? else {
            return Ok(());
        };

        // Subscribe before reading the database: whatever is stored from here on is in
        // the feed, whatever was stored before is in the query, and seqs sort out the overlap.
        let (feed, online) = self.chat.hub.join(&room.name, &self.user.username);
        if self.joined.remove(&room.name).is_some() {
            // A rejoin (to catch up): keep one presence count for this connection.
            self.chat.hub.leave(&room.name, &self.user.username);
        }
        feeds.insert(room.name.clone(), BroadcastStream::new(feed));

        let db = &self.chat.db;
        let now = crate::accounts::now_ms();
        let prepared = async {
            store::add_member(db, room.id, self.user.id, now).await?;
            let last_seq = store::room_by_name(db, &room.name)
                .await?
                .map_or(0, |r| r.last_seq);
            let first = match since {
                Some(since) => store::messages_after(db, room.id, since, REPLAY_PAGE).await?,
                None => store::messages_before(db, room.id, None, RECENT_ON_JOIN as i64).await?,
            };
            Ok::<_, sqlx::Error>((last_seq, first))
        }
        .await;
        let (last_seq, first) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                tracing::error!(%error, "joining a room failed");
                feeds.remove(&room.name);
                self.chat.hub.leave(&room.name, &self.user.username);
                return self
                    .refuse_about(
                        ErrorCode::Internal,
                        "Could not join; try again.",
                        Some(&name),
                        None,
                    )
                    .await;
            }
        };

        self.send(&ServerFrame::Joined {
            room: room.name.clone(),
            last_seq,
            online,
        })
        .await?;
        // A `since` beyond the room's end (a client remembering a database since reset)
        // counts from the end, or it would drop every live message as already seen.
        let baseline = match since {
            Some(since) => since.min(last_seq),
            None => first.first().map_or(last_seq, |m| m.seq - 1),
        };
        self.joined.insert(
            room.name.clone(),
            Joined {
                room: room.clone(),
                last: baseline,
            },
        );
        let more = since.is_some() && first.len() as i64 == REPLAY_PAGE;
        self.deliver_rows(&room.name, &first).await?;
        if more {
            self.catch_up(&room.name).await?;
        }
        Ok(())
    }

    /// Sends rows not yet delivered, in order, advancing the room's high-water mark.
    async fn deliver_rows(&mut self, room: &str, rows: &[MessageRow]) -> Result<(), End> {
        for row in rows {
            let fresh = self
                .joined
                .get(room)
                .is_some_and(|joined| row.seq > joined.last);
            if fresh {
                self.send(&ServerFrame::Message(to_wire(row))).await?;
                if let Some(joined) = self.joined.get_mut(room) {
                    joined.last = row.seq;
                }
            }
        }
        Ok(())
    }

    /// Reads from the database everything after the room's high-water mark.
    async fn catch_up(&mut self, room: &str) -> Result<(), End> {
        loop {
            let Some(joined) = self.joined.get(room) else {
                return Ok(());
            };
            let rows = match store::messages_after(
                &self.chat.db,
                joined.room.id,
                joined.last,
                REPLAY_PAGE,
            )
            .await
            {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::error!(%error, "catching up failed");
                    return Err(End::Close(CLOSE_INTERNAL, "could not catch up; reconnect"));
                }
            };
            let full = rows.len() as i64 == REPLAY_PAGE;
            self.deliver_rows(room, &rows).await?;
            if !full {
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
            Ok(Event { seq: None, frame }) => self.queue(Message::Text(frame)).await,
            Ok(Event {
                seq: Some(seq),
                frame,
            }) => {
                let Some(last) = self.joined.get(room).map(|joined| joined.last) else {
                    return Ok(());
                };
                if seq <= last {
                    return Ok(()); // already sent by the replay
                }
                if seq > last + 1 {
                    // Something between was not seen here: fetch it rather than leave a gap.
                    self.catch_up(room).await?;
                }
                if self
                    .joined
                    .get(room)
                    .is_some_and(|joined| seq > joined.last)
                {
                    self.queue(Message::Text(frame)).await?;
                    if let Some(joined) = self.joined.get_mut(room) {
                        joined.last = seq;
                    }
                }
                Ok(())
            }
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                tracing::debug!(user = %self.user.username, room, missed, "lagging; catching up from the database");
                self.catch_up(room).await
            }
        }
    }

    async fn post(
        &mut self,
        room: String,
        client_id: String,
        body: String,
        acking: &mut FuturesUnordered<Acking>,
    ) -> Result<(), End> {
        let stored_id = match normalize_client_id(&client_id) {
            Ok(id) => id,
            Err(problem) => {
                return self
                    .refuse_about(ErrorCode::InvalidMessage, problem, Some(&room), None)
                    .await
            }
        };
        let body = match check_body(&body) {
            Ok(body) => body.to_string(),
            Err(problem) => {
                return self
                    .refuse_about(
                        ErrorCode::InvalidMessage,
                        problem,
                        Some(&room),
                        Some(&client_id),
                    )
                    .await
            }
        };
        let Some(target) = self.room_or_refuse(&room, Some(&client_id)).await? else {
            return Ok(());
        };
        if !self
            .chat
            .hub
            .allow_send(self.user.id, std::time::Instant::now())
        {
            return self
                .refuse_about(
                    ErrorCode::RateLimited,
                    "You are sending too fast; this message was not sent.",
                    Some(&room),
                    Some(&client_id),
                )
                .await;
        }
        let message = Chat::new_message(&target, &self.user, &stored_id, &body);
        let writer = self.chat.writer.clone();
        let author = self.user.username.clone();
        acking.push(Box::pin(async move {
            (client_id, writer.store(message, target.name, author).await)
        }));
        Ok(())
    }

    async fn on_stored(
        &mut self,
        client_id: String,
        outcome: Result<Outcome, ApiError>,
    ) -> Result<(), End> {
        match outcome {
            Ok(Outcome::Stored(row) | Outcome::Duplicate(row)) => {
                self.send(&ServerFrame::Ack {
                    room: row.room,
                    client_id,
                    seq: row.seq,
                })
                .await
            }
            Err(_) => {
                self.send(&ServerFrame::Error {
                    code: ErrorCode::Internal,
                    message: "The message could not be stored; retrying it is safe.".into(),
                    client_id: Some(client_id),
                    room: None,
                })
                .await
            }
        }
    }
}
