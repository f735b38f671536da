//! The browser's side of the live protocol: one WebSocket per tab that reconnects by
//! itself (exponential backoff with jitter), rejoins the rooms it had open with their
//! last seq, resends unacknowledged messages with their original `client_id`, and keeps
//! per-room state in signals for the views.
//!
//! The types compile on the server too (pages render from them); only the socket is
//! browser-only.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use leptos::prelude::*;

use crate::{
    protocol::{ChatMessage, ClientFrame},
    rooms::HistoryPage,
};

/// How long a typing notice stays visible without a new one.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const TYPING_SHOWN_MS: f64 = 5_000.0;
/// The composer sends a typing notice at most this often.
const TYPING_EVERY_MS: f64 = 2_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// No connection wanted yet (server rendering, or not logged in).
    Idle,
    Connecting,
    Online,
    /// Lost; the next attempt is in this many seconds.
    Reconnecting {
        seconds: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PendingState {
    Sending,
    Failed(String),
}

/// A message sent from this tab and not yet seen back from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub client_id: String,
    pub body: String,
    pub state: PendingState,
}

/// Everything a room view shows, as signals.
#[derive(Clone, Copy)]
pub struct RoomState {
    pub messages: RwSignal<BTreeMap<i64, ChatMessage>>,
    pub pending: RwSignal<Vec<Pending>>,
    pub online: RwSignal<BTreeSet<String>>,
    /// Who is typing, until when (browser clock, ms).
    pub typing: RwSignal<BTreeMap<String, f64>>,
    pub unread: RwSignal<u32>,
    pub has_more: RwSignal<bool>,
    /// Whether the socket has joined this room.
    pub joined: RwSignal<bool>,
    /// The last message from someone else, for the screen-reader announcement.
    pub announcement: RwSignal<String>,
    last_typing_sent: StoredValue<f64>,
}

impl RoomState {
    fn new() -> Self {
        RoomState {
            messages: RwSignal::new(BTreeMap::new()),
            pending: RwSignal::new(Vec::new()),
            online: RwSignal::new(BTreeSet::new()),
            typing: RwSignal::new(BTreeMap::new()),
            unread: RwSignal::new(0),
            has_more: RwSignal::new(false),
            joined: RwSignal::new(false),
            announcement: RwSignal::new(String::new()),
            last_typing_sent: StoredValue::new(f64::NEG_INFINITY),
        }
    }

    pub fn last_seq(&self) -> Option<i64> {
        self.messages
            .with_untracked(|m| m.keys().next_back().copied())
    }

    pub fn first_seq(&self) -> Option<i64> {
        self.messages.with_untracked(|m| m.keys().next().copied())
    }

    /// Adds messages from a history page (older or the same ones: seqs decide).
    pub fn absorb(&self, page: &HistoryPage, older: bool) {
        self.messages.update(|messages| {
            for message in &page.messages {
                messages
                    .entry(message.seq)
                    .or_insert_with(|| message.clone());
            }
        });
        if older || self.first_seq() == page.messages.first().map(|m| m.seq) {
            self.has_more.set(page.has_more);
        }
    }

    /// Who is typing now, excluding `me`.
    pub fn typing_now(&self, me: Option<&str>, now: f64) -> Vec<String> {
        self.typing.with(|typing| {
            typing
                .iter()
                .filter(|(user, until)| **until > now && Some(user.as_str()) != me)
                .map(|(user, _)| user.clone())
                .collect()
        })
    }
}

/// "alice is typing…", "alice and bob are typing…", "3 people are typing…".
pub fn typing_sentence(users: &[String]) -> Option<String> {
    match users {
        [] => None,
        [one] => Some(format!("{one} is typing…")),
        [one, two] => Some(format!("{one} and {two} are typing…")),
        many => Some(format!("{} people are typing…", many.len())),
    }
}

// Frames only arrive in the browser; the server renders from the same state without them.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Clone, Copy)]
pub struct Live {
    pub status: RwSignal<Status>,
    pub me: RwSignal<Option<String>>,
    /// The room on screen; messages elsewhere count as unread.
    pub active: RwSignal<Option<String>>,
    /// The last error not tied to a message, for the banner.
    pub notice: RwSignal<Option<String>>,
    rooms: RwSignal<HashMap<String, RoomState>>,
    owner: StoredValue<Owner>,
    outbox: StoredValue<Option<futures::channel::mpsc::UnboundedSender<String>>>,
    started: StoredValue<bool>,
}

impl Live {
    pub fn provide() -> Live {
        let live = Live {
            status: RwSignal::new(Status::Idle),
            me: RwSignal::new(None),
            active: RwSignal::new(None),
            notice: RwSignal::new(None),
            rooms: RwSignal::new(HashMap::new()),
            owner: StoredValue::new(Owner::current().expect("Live is created inside the app")),
            // Thread-safe storage: the server renders with this type too, on any thread.
            outbox: StoredValue::new(None),
            started: StoredValue::new(false),
        };
        provide_context(live);
        live
    }

    /// The state of `name`, created on first use. Its signals belong to the app, not to
    /// the page that asked, so they outlive navigation.
    pub fn room(&self, name: &str) -> RoomState {
        if let Some(state) = self.rooms.with_untracked(|rooms| rooms.get(name).copied()) {
            return state;
        }
        let state = self.owner.get_value().with(RoomState::new);
        self.rooms.update(|rooms| {
            rooms.insert(name.to_string(), state);
        });
        state
    }

    pub fn unread(&self, name: &str) -> u32 {
        self.rooms
            .with(|rooms| rooms.get(name).map(|state| state.unread.get()))
            .unwrap_or(0)
    }

    fn send_frame(&self, frame: &ClientFrame) -> bool {
        let Ok(text) = serde_json::to_string(frame) else {
            return false;
        };
        self.outbox.with_value(|outbox| {
            outbox
                .as_ref()
                .is_some_and(|tx| tx.unbounded_send(text).is_ok())
        })
    }

    /// Shows `name`, joining it (once) so its traffic arrives.
    pub fn open(&self, name: &str) {
        let state = self.room(name);
        self.active.set(Some(name.to_string()));
        state.unread.set(0);
        if !state.joined.get_untracked() {
            self.join(name, state);
        }
    }

    fn join(&self, name: &str, state: RoomState) {
        let frame = ClientFrame::Join {
            room: name.to_string(),
            since: state.last_seq(),
        };
        if self.send_frame(&frame) {
            state.joined.set(true);
        }
    }

    /// Leaves `name`: no more traffic from it, and the user is no longer a member.
    pub fn leave(&self, name: &str) {
        let state = self.room(name);
        self.send_frame(&ClientFrame::Leave {
            room: name.to_string(),
        });
        state.joined.set(false);
        state.online.set(BTreeSet::new());
        state.typing.set(BTreeMap::new());
        if self
            .active
            .with_untracked(|active| active.as_deref() == Some(name))
        {
            self.active.set(None);
        }
    }

    /// Posts `body`; it shows at once as pending and turns normal when the server echoes it.
    pub fn post(&self, room: &str, body: String) {
        let client_id = new_client_id();
        self.room(room).pending.update(|pending| {
            pending.push(Pending {
                client_id: client_id.clone(),
                body: body.clone(),
                state: PendingState::Sending,
            })
        });
        self.send_frame(&ClientFrame::Send {
            room: room.to_string(),
            client_id,
            body,
        });
    }

    /// Sends a failed message again under its original `client_id`.
    pub fn retry(&self, room: &str, client_id: &str) {
        let state = self.room(room);
        let mut body = None;
        state.pending.update(|pending| {
            if let Some(p) = pending.iter_mut().find(|p| p.client_id == client_id) {
                p.state = PendingState::Sending;
                body = Some(p.body.clone());
            }
        });
        if let Some(body) = body {
            self.send_frame(&ClientFrame::Send {
                room: room.to_string(),
                client_id: client_id.to_string(),
                body,
            });
        }
    }

    /// Tells the room we are typing, at most every two seconds.
    pub fn typing(&self, room: &str) {
        let state = self.room(room);
        let now = now_ms();
        if now - state.last_typing_sent.get_value() >= TYPING_EVERY_MS {
            state.last_typing_sent.set_value(now);
            self.send_frame(&ClientFrame::Typing {
                room: room.to_string(),
            });
        }
    }

    /// Applies one frame from the server.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn receive(&self, frame: crate::protocol::ServerFrame) {
        use crate::protocol::ServerFrame;
        match frame {
            ServerFrame::Hello { user } => {
                self.me.set(Some(user.username));
                self.status.set(Status::Online);
                self.notice.set(None);
                self.resume();
            }
            ServerFrame::Joined { room, online, .. } => {
                self.room(&room).online.set(online.into_iter().collect());
            }
            ServerFrame::Message(message) => {
                let state = self.room(&message.room);
                let mine = self
                    .me
                    .with_untracked(|me| me.as_deref() == Some(message.author.as_str()));
                state
                    .pending
                    .update(|pending| pending.retain(|p| p.client_id != message.client_id));
                state.typing.update(|typing| {
                    typing.remove(&message.author);
                });
                let is_new = state
                    .messages
                    .with_untracked(|m| !m.contains_key(&message.seq));
                if is_new && !mine {
                    let active = self
                        .active
                        .with_untracked(|a| a.as_deref() == Some(message.room.as_str()));
                    if active {
                        state
                            .announcement
                            .set(format!("{}: {}", message.author, message.body));
                    } else {
                        state.unread.update(|n| *n += 1);
                    }
                }
                state.messages.update(|messages| {
                    messages.insert(message.seq, message);
                });
            }
            ServerFrame::Ack { .. } => {
                // The message itself arrives through the room feed (joined rooms) and
                // clears the pending entry then; nothing else to do.
            }
            ServerFrame::Presence { room, user, online } => {
                self.room(&room).online.update(|set| {
                    if online {
                        set.insert(user);
                    } else {
                        set.remove(&user);
                    }
                });
            }
            ServerFrame::Typing { room, user } => {
                let until = now_ms() + TYPING_SHOWN_MS;
                self.room(&room).typing.update(|typing| {
                    typing.insert(user, until);
                });
            }
            ServerFrame::Error {
                message,
                client_id: Some(client_id),
                room: Some(room),
                ..
            } => {
                self.room(&room).pending.update(|pending| {
                    if let Some(p) = pending.iter_mut().find(|p| p.client_id == client_id) {
                        p.state = PendingState::Failed(message.clone());
                    }
                });
            }
            ServerFrame::Error { message, .. } => self.notice.set(Some(message)),
            ServerFrame::Pong => {}
        }
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    /// After (re)connecting: rejoin the rooms we had, from their last seq, and resend
    /// what was never acknowledged.
    fn resume(&self) {
        let rooms: Vec<(String, RoomState)> = self
            .rooms
            .with_untracked(|rooms| rooms.iter().map(|(n, s)| (n.clone(), *s)).collect());
        let active = self.active.get_untracked();
        for (name, state) in rooms {
            let wanted = state.joined.get_untracked() || active.as_deref() == Some(name.as_str());
            if wanted {
                self.join(&name, state);
                for pending in state.pending.get_untracked() {
                    if pending.state == PendingState::Sending {
                        self.send_frame(&ClientFrame::Send {
                            room: name.clone(),
                            client_id: pending.client_id,
                            body: pending.body,
                        });
                    }
                }
            }
        }
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn disconnected(&self) {
        self.outbox.set_value(None);
        let rooms: Vec<RoomState> = self
            .rooms
            .with_untracked(|rooms| rooms.values().copied().collect());
        for state in rooms {
            // Still wanted: `resume` rejoins rooms marked joined.
            state.online.set(BTreeSet::new());
            state.typing.set(BTreeMap::new());
        }
    }
}

/// Browser clock in ms (0 on the server, where nothing time-based is rendered).
pub fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

/// A fresh UUID v4 for a message's `client_id`.
pub fn new_client_id() -> String {
    #[cfg(feature = "hydrate")]
    {
        window()
            .crypto()
            .map(|crypto| crypto.random_uuid())
            .unwrap_or_else(|_| {
                format!(
                    "{:x}{:x}",
                    js_sys::Date::now() as u64,
                    (js_sys::Math::random() * 1e16) as u64
                )
            })
    }
    #[cfg(all(feature = "ssr", not(feature = "hydrate")))]
    {
        uuid::Uuid::new_v4().to_string()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        String::from("00000000-0000-4000-8000-000000000000")
    }
}

#[cfg(feature = "hydrate")]
mod socket {
    use futures::{SinkExt, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message};
    use leptos::task::spawn_local;

    use super::*;

    const BACKOFF_START_MS: f64 = 500.0;
    const BACKOFF_MAX_MS: f64 = 30_000.0;

    async fn sleep_ms(ms: f64) {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        set_timeout(
            move || {
                let _ = tx.send(());
            },
            std::time::Duration::from_millis(ms as u64),
        );
        let _ = rx.await;
    }

    fn socket_url() -> String {
        let location = window().location();
        let scheme = if location.protocol().as_deref() == Ok("https:") {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}/ws", location.host().unwrap_or_default())
    }

    impl Live {
        /// Starts the connection loop once per tab.
        pub fn start(&self) {
            if self.started.get_value() {
                return;
            }
            self.started.set_value(true);
            let live = *self;
            spawn_local(async move { live.run().await });
        }

        async fn run(self) {
            let mut failures: i32 = 0;
            loop {
                self.status.set(Status::Connecting);
                if let Ok(socket) = WebSocket::open(&socket_url()) {
                    let (mut write, mut read) = socket.split();
                    let (tx, mut rx) = futures::channel::mpsc::unbounded::<String>();
                    self.outbox.set_value(Some(tx));
                    spawn_local(async move {
                        while let Some(text) = rx.next().await {
                            if write.send(Message::Text(text)).await.is_err() {
                                break;
                            }
                        }
                    });
                    while let Some(Ok(message)) = read.next().await {
                        if let Message::Text(text) = message {
                            if let Ok(frame) = serde_json::from_str(&text) {
                                if matches!(frame, crate::protocol::ServerFrame::Hello { .. }) {
                                    failures = 0;
                                }
                                self.receive(frame);
                            }
                        }
                    }
                    self.disconnected();
                }
                failures += 1;
                // Exponential backoff with full jitter, so a restarted server is not
                // hit by every client in the same instant.
                let ceiling = (BACKOFF_START_MS * 2f64.powi(failures.min(10))).min(BACKOFF_MAX_MS);
                let delay = ceiling * (0.5 + js_sys::Math::random() / 2.0);
                self.status.set(Status::Reconnecting {
                    seconds: (delay / 1000.0).ceil() as u32,
                });
                sleep_ms(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_sentences() {
        assert_eq!(typing_sentence(&[]), None);
        assert_eq!(typing_sentence(&["bob".into()]).unwrap(), "bob is typing…");
        assert_eq!(
            typing_sentence(&["a".into(), "b".into()]).unwrap(),
            "a and b are typing…"
        );
        assert_eq!(
            typing_sentence(&["a".into(), "b".into(), "c".into()]).unwrap(),
            "3 people are typing…"
        );
    }
}
