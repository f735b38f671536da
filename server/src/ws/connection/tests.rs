//! The connection loop over channels instead of a socket, against a real chat on a
//! fresh SQLite database: what a slow or stuck client does to others and to itself.

use std::time::Duration;

use app::protocol::MemberChange;
use futures_channel::mpsc;
use futures_util::SinkExt;
use tokio::sync::watch;

use super::*;
use crate::{accounts::live::LiveSessions, chat::ChatLimits, db::Db};

/// How long a test waits for a frame before failing: a bound, not a measure.
const PATIENCE: Duration = Duration::from_secs(20);

struct Harness {
    chat: Arc<Chat>,
    db: Db,
    sessions: LiveSessions,
    path: std::path::PathBuf,
    _stop: watch::Sender<bool>,
    _in_use: tokio::sync::mpsc::Receiver<()>,
}

impl Harness {
    async fn start(limits: ChatLimits) -> Harness {
        let path =
            std::env::temp_dir().join(format!("banter-connection-{}.db", uuid::Uuid::new_v4()));
        let db = Db::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let (stop, stopping) = watch::channel(false);
        let (in_use, released) = tokio::sync::mpsc::channel(1);
        let sessions = LiveSessions::default();
        let chat = Chat::start(db.clone(), limits, None, sessions.clone(), stopping, in_use)
            .await
            .unwrap();
        Harness {
            chat,
            db,
            sessions,
            path,
            _stop: stop,
            _in_use: released,
        }
    }

    /// Stores `n` posts by `user` in `room` through the chat itself, one after the
    /// other: no connection of theirs reads (or lags behind) the room meanwhile.
    async fn posts(&self, user: &User, room: &str, n: usize) {
        // Their membership, as a first join stores it; the feed itself is not kept.
        drop(self.chat.join(user, room, None).await.unwrap());
        for n in 0..n {
            let change = Change::Post {
                body: format!("m{n}"),
                reply_to: None,
                files: vec![],
            };
            let queued = self
                .chat
                .queue(user, room, &format!("c{n}"), change)
                .await
                .unwrap();
            queued.await.unwrap();
        }
    }

    async fn user(&self, name: &str) -> User {
        let id = crate::accounts::store::insert_user(&self.db, name, "x", 0)
            .await
            .unwrap();
        User {
            id,
            username: name.into(),
            admin: false,
        }
    }

    /// Opens a connection for `user`, its frames going into a channel with room for
    /// one: a peer that stops reading blocks the connection's writes at once.
    fn connect(&self, user: &User, limits: SocketLimits) -> Peer {
        let (to_peer, from_server) = mpsc::channel::<Message>(0);
        let (to_server, from_peer) = mpsc::unbounded();
        let session = self
            .sessions
            .watch([user.id as u8; 32], Duration::from_secs(3600));
        let task = tokio::spawn(serve(
            to_peer.sink_map_err(axum::Error::new),
            from_peer,
            user.clone(),
            self.chat.clone(),
            limits,
            session,
        ));
        Peer {
            to_server,
            from_server,
            task,
        }
    }

    /// A connection of `user` that has joined `room`: its `joined` frame is read.
    async fn in_room(&self, user: &User, room: &str, limits: SocketLimits) -> Peer {
        let mut peer = self.connect(user, limits);
        peer.join(room);
        peer.until(|f| matches!(f, ServerFrame::Joined { room: r, .. } if r == room))
            .await;
        peer
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

fn generous() -> SocketLimits {
    SocketLimits {
        write_deadline: Duration::from_secs(30),
        max_rooms: 10,
        frames: (10_000.0, 10_000.0),
    }
}

fn fast_senders(room_buffer: usize) -> ChatLimits {
    ChatLimits {
        room_buffer,
        send_rate: 10_000.0,
        send_burst: 10_000.0,
    }
}

struct Peer {
    to_server: mpsc::UnboundedSender<Result<Message, axum::Error>>,
    from_server: mpsc::Receiver<Message>,
    task: tokio::task::JoinHandle<()>,
}

impl Peer {
    fn send(&self, frame: ClientFrame) {
        let text = serde_json::to_string(&frame).unwrap();
        self.to_server
            .unbounded_send(Ok(Message::Text(text.into())))
            .unwrap();
    }

    fn join(&self, room: &str) {
        self.send(ClientFrame::Join {
            room: room.into(),
            since: None,
        });
    }

    /// The next frame the server sends, decoded; pings are skipped.
    async fn next(&mut self) -> ServerFrame {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.from_server.next())
                .await
                .expect("a frame in time")
                .expect("the connection is open");
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Ping(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Frames up to and including the first that `done` accepts.
    async fn until(&mut self, mut done: impl FnMut(&ServerFrame) -> bool) -> Vec<ServerFrame> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            let last = done(&frame);
            frames.push(frame);
            if last {
                return frames;
            }
        }
    }
}

fn is_presence(frame: &ServerFrame, who: &str, now: bool) -> bool {
    matches!(frame, ServerFrame::Presence { user, online, .. } if user == who && *online == now)
}

fn is_message(frame: &ServerFrame, body: &str) -> bool {
    matches!(frame, ServerFrame::Message(m) if m.body.as_deref() == Some(body))
}

fn messages(frames: &[ServerFrame]) -> Vec<(i64, String)> {
    frames
        .iter()
        .filter_map(|frame| match frame {
            ServerFrame::Message(message) => Some((message.seq, message.body.clone()?)),
            _ => None,
        })
        .collect()
}

fn bodies(n: usize) -> Vec<String> {
    (0..n).map(|n| format!("m{n}")).collect()
}

#[tokio::test]
async fn a_member_who_stops_reading_holds_up_nobody_else() {
    let harness = Harness::start(fast_senders(1024)).await;
    let alice = harness.user("alice").await;
    let (bob, carol) = (harness.user("bob").await, harness.user("carol").await);
    let stuck = harness.in_room(&bob, "general", generous()).await;
    let mut reader = harness.in_room(&carol, "general", generous()).await;
    // Bob reads nothing from here, while far more is posted than his outbox holds.
    harness.posts(&alice, "general", 400).await;
    let frames = reader.until(|f| is_message(f, "m399")).await;
    let got: Vec<String> = messages(&frames)
        .into_iter()
        .map(|(_, body)| body)
        .collect();
    assert_eq!(got, bodies(400), "carol got every message, in order, once");
    assert!(!stuck.task.is_finished(), "bob is slow, not gone");
}

#[tokio::test]
async fn a_peer_that_takes_nothing_for_the_write_deadline_is_dropped_and_leaves() {
    let harness = Harness::start(fast_senders(1024)).await;
    let (alice, bob) = (harness.user("alice").await, harness.user("bob").await);
    let mut watcher = harness.in_room(&alice, "general", generous()).await;
    let strict = SocketLimits {
        write_deadline: Duration::from_millis(200),
        ..generous()
    };
    // Bob joins and never reads: the hello fills the channel, and nothing more fits.
    let stuck = harness.connect(&bob, strict);
    stuck.join("general");
    watcher.until(|f| is_presence(f, "bob", true)).await;
    watcher.until(|f| is_presence(f, "bob", false)).await;
    tokio::time::timeout(PATIENCE, stuck.task)
        .await
        .expect("the connection's task ends")
        .unwrap();
}

#[tokio::test]
async fn a_member_who_lagged_past_the_room_buffer_catches_up_in_order_once() {
    let harness = Harness::start(fast_senders(8)).await;
    let (alice, bob) = (harness.user("alice").await, harness.user("bob").await);
    let mut slow = harness.in_room(&bob, "general", generous()).await;
    // 8 in the room's buffer, 256 in bob's outbox and one in the channel: 300 posts
    // while he reads nothing cannot all wait in memory for him.
    harness.posts(&alice, "general", 300).await;
    let frames = slow.until(|f| is_message(f, "m299")).await;
    let got = messages(&frames);
    assert!(
        got.windows(2).all(|pair| pair[1].0 == pair[0].0 + 1),
        "contiguous seqs, no repeats: {got:?}"
    );
    let got: Vec<String> = got.into_iter().map(|(_, body)| body).collect();
    assert_eq!(got, bodies(300));
}

#[tokio::test]
async fn a_membership_ended_elsewhere_ends_the_rooms_feed_here() {
    let harness = Harness::start(fast_senders(1024)).await;
    let (alice, bob) = (harness.user("alice").await, harness.user("bob").await);
    let mut tab = harness.in_room(&bob, "general", generous()).await;
    let other_tab = harness.connect(&bob, generous());
    other_tab.join("general");
    other_tab.send(ClientFrame::Leave {
        room: "general".into(),
    });
    tab.until(|f| {
        matches!(f, ServerFrame::Member(m) if m.user == "bob" && m.change == MemberChange::Left)
    })
    .await;
    // Nothing of the room reaches bob after his `left`, and the room counts as left.
    harness.posts(&alice, "general", 1).await;
    tab.send(ClientFrame::Typing {
        room: "general".into(),
    });
    let answer = tab.next().await;
    assert!(
        matches!(
            answer,
            ServerFrame::Error {
                code: ErrorCode::NotJoined,
                ..
            }
        ),
        "{answer:?}"
    );
    tab.send(ClientFrame::Ping {});
    let rest = tab.until(|f| matches!(f, ServerFrame::Pong)).await;
    assert_eq!(
        rest,
        [ServerFrame::Pong],
        "no frame of the room after `left`"
    );
}
