//! The browser's side of the live protocol: one WebSocket per tab that reconnects by
//! itself (exponential backoff with jitter), rejoins the rooms it had open from their
//! position in the log, resends unacknowledged changes with their original
//! `client_id`, and keeps each room's state in signals for the views. A room's
//! messages live in a [`Timeline`], changed only by its reducer.
//!
//! The types compile on the server too (pages render from them); only the socket is
//! browser-only.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use leptos::prelude::*;

use crate::{
    model::{HistoryPage, ReadState, RoomSummary},
    protocol::{ClientFrame, MemberChange, ServerFrame},
    timeline::{Applied, Timeline},
};

/// Most rooms one connection follows at once (the server's default limit).
const MAX_FOLLOWED: usize = 200;

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

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PendingState {
    Sending,
    Failed(String),
}

/// A message sent from this tab and not yet seen back from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub client_id: String,
    pub body: String,
    pub reply_to: Option<i64>,
    pub state: PendingState,
}

impl Pending {
    /// The `send` frame for this message, sent (and resent) under its `client_id`.
    fn frame(&self, room: &str) -> ClientFrame {
        ClientFrame::Send {
            room: room.to_string(),
            client_id: self.client_id.clone(),
            body: self.body.clone(),
            reply_to: self.reply_to,
        }
    }
}

/// An edit, deletion or reaction sent from this tab and not yet in the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingOp {
    pub client_id: String,
    pub target: i64,
    /// The frame, kept to resend after a reconnect.
    pub frame: ClientFrame,
    /// The seq the server stored it as; the op is done once the timeline reaches it.
    pub acked: Option<i64>,
}

impl PendingOp {
    /// The new body of a pending edit.
    pub fn edit_body(&self) -> Option<&str> {
        match &self.frame {
            ClientFrame::Edit { body, .. } => Some(body),
            _ => None,
        }
    }

    pub fn is_delete(&self) -> bool {
        matches!(self.frame, ClientFrame::Delete { .. })
    }
}

/// Everything a room view shows, as signals.
#[derive(Clone, Copy)]
pub struct RoomState {
    pub timeline: RwSignal<Timeline>,
    pub pending: RwSignal<Vec<Pending>>,
    pub ops: RwSignal<Vec<PendingOp>>,
    pub online: RwSignal<BTreeSet<String>>,
    /// Who is typing, until when (browser clock, ms).
    pub typing: RwSignal<BTreeMap<String, f64>>,
    /// Messages from others after the read position, and those that mention me.
    pub unread: RwSignal<i64>,
    pub mentions: RwSignal<i64>,
    /// The read position, as the server keeps it.
    pub last_read: RwSignal<i64>,
    /// Where the "new messages" divider goes: the read position when the room opened.
    pub divider: RwSignal<Option<i64>>,
    pub muted: RwSignal<bool>,
    /// A direct conversation: every message in it notifies.
    pub dm: RwSignal<bool>,
    /// How the room is named on screen (`#name`, or a conversation's people).
    pub label: RwSignal<String>,
    /// Whether the user is a member (followed from the start, counted).
    pub member: RwSignal<bool>,
    /// Read-only (as the room list said; the timeline knows of later archiving).
    pub archived: RwSignal<bool>,
    /// Only moderators and the owner may notify everyone with `@room`.
    pub room_mentions_restricted: RwSignal<bool>,
    pub has_more: RwSignal<bool>,
    /// Whether the socket has joined this room.
    pub joined: RwSignal<bool>,
    /// The last message from someone else, for the screen-reader announcement.
    pub announcement: RwSignal<String>,
    /// The message being edited here, and the edit's text so far.
    pub editing: RwSignal<Option<i64>>,
    pub draft: RwSignal<String>,
    /// The message the composer's next message answers.
    pub replying: RwSignal<Option<i64>>,
    /// The message whose emoji picker is open.
    pub picking: RwSignal<Option<i64>>,
    /// The message whose deletion waits for a confirmation.
    pub confirming: RwSignal<Option<i64>>,
    /// The message just jumped to, highlighted for a moment.
    pub flash: RwSignal<Option<i64>>,
    last_typing_sent: StoredValue<f64>,
    /// The highest seq whose message is in `unread` (or was before the counts).
    counted_to: StoredValue<i64>,
    /// The highest seq a notification was considered for; `None` until the room list
    /// said where to start.
    notified_to: StoredValue<Option<i64>>,
    /// Where to follow the room from when this tab has none of it yet.
    since_hint: StoredValue<i64>,
    /// A `mark_read` on its way.
    reading: StoredValue<bool>,
}

impl RoomState {
    fn new() -> Self {
        RoomState {
            timeline: RwSignal::new(Timeline::new()),
            pending: RwSignal::new(Vec::new()),
            ops: RwSignal::new(Vec::new()),
            online: RwSignal::new(BTreeSet::new()),
            typing: RwSignal::new(BTreeMap::new()),
            unread: RwSignal::new(0),
            mentions: RwSignal::new(0),
            last_read: RwSignal::new(0),
            divider: RwSignal::new(None),
            muted: RwSignal::new(false),
            dm: RwSignal::new(false),
            label: RwSignal::new(String::new()),
            member: RwSignal::new(false),
            archived: RwSignal::new(false),
            room_mentions_restricted: RwSignal::new(false),
            has_more: RwSignal::new(false),
            joined: RwSignal::new(false),
            announcement: RwSignal::new(String::new()),
            editing: RwSignal::new(None),
            draft: RwSignal::new(String::new()),
            replying: RwSignal::new(None),
            picking: RwSignal::new(None),
            confirming: RwSignal::new(None),
            flash: RwSignal::new(None),
            last_typing_sent: StoredValue::new(f64::NEG_INFINITY),
            counted_to: StoredValue::new(0),
            notified_to: StoredValue::new(None),
            since_hint: StoredValue::new(0),
            reading: StoredValue::new(false),
        }
    }

    /// How the room called `name` is titled: its label (`#name`, or a conversation's
    /// people) once the room list gave one.
    pub fn title(&self, name: &str) -> String {
        let label = self.label.get();
        match (label.is_empty(), name.starts_with('@')) {
            (false, _) => label,
            (true, true) => "Direct message".to_string(),
            (true, false) => format!("#{name}"),
        }
    }

    /// Takes a read position and the counts after it, as of seq `counted_to`.
    pub fn absorb_read(&self, state: &ReadState) {
        if state.seq >= self.last_read.get_untracked() {
            self.last_read.set(state.seq);
        }
        // Counts older than what this tab already counted would undo live ones.
        if state.last_seq >= self.counted_to.get_value() {
            self.unread.set(state.unread);
            self.mentions.set(state.mentions);
            self.counted_to.set_value(state.last_seq);
        } else if state.seq >= self.counted_to.get_value() {
            self.unread.set(0);
            self.mentions.set(0);
        }
    }

    pub fn first_seq(&self) -> Option<i64> {
        self.timeline.with_untracked(Timeline::first_seq)
    }

    /// Adds a history page (older, or the newest on first render).
    pub fn absorb(&self, page: &HistoryPage, older: bool) {
        self.timeline
            .update(|timeline| timeline.absorb(&page.messages, page.last_seq));
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

    /// Drops the ops the timeline now includes.
    fn settle_ops(&self) {
        let position = self.timeline.with_untracked(Timeline::position);
        if self.ops.with_untracked(|ops| {
            ops.iter()
                .any(|op| op.acked.is_some_and(|seq| seq <= position))
        }) {
            self.ops
                .update(|ops| ops.retain(|op| op.acked.is_none_or(|seq| seq > position)));
        }
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
    /// The last error not tied to a pending message, for the banner.
    pub notice: RwSignal<Option<String>>,
    /// Bumped when the room list should be read again (a room added or gone, a
    /// reconnect).
    pub list_wanted: RwSignal<u64>,
    /// Whether notifications are on in this tab.
    pub notifications: RwSignal<bool>,
    /// Whether a room list was taken in yet: what was there at first does not notify.
    listed_once: StoredValue<bool>,
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
            list_wanted: RwSignal::new(0),
            notifications: RwSignal::new(false),
            listed_once: StoredValue::new(false),
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

    /// Unread messages and mentions in `name`.
    pub fn unread(&self, name: &str) -> (i64, i64) {
        self.rooms
            .with(|rooms| {
                rooms
                    .get(name)
                    .map(|state| (state.unread.get(), state.mentions.get()))
            })
            .unwrap_or((0, 0))
    }

    /// What waits for the person, for the title: mentions, and every message of
    /// conversations, outside muted rooms.
    pub fn attention(&self) -> i64 {
        self.rooms.with(|rooms| {
            rooms
                .values()
                .filter(|state| state.member.get() && !state.muted.get())
                .map(|state| {
                    if state.dm.get() {
                        state.unread.get().max(state.mentions.get())
                    } else {
                        state.mentions.get()
                    }
                })
                .sum()
        })
    }

    /// Takes in the room list: each room's counts, position and settings, as of the
    /// list; then follows every room the user is in, so its counts stay live.
    pub fn absorb_list(&self, list: &[RoomSummary]) {
        let first = !self.listed_once.get_value();
        self.listed_once.set_value(true);
        for summary in list {
            let state = self.room(&summary.name);
            let member = summary.role.is_some();
            state.member.set(member);
            state.muted.set(summary.muted);
            state.dm.set(summary.dm);
            state.label.set(summary.label());
            state.archived.set(summary.archived);
            state
                .room_mentions_restricted
                .set(summary.mention_room_moderators);
            if !member {
                continue;
            }
            state.absorb_read(&summary.read_state());
            if state.notified_to.get_value().is_none() {
                // What was there when the page loaded is not news; in a room that
                // appears later, whatever is unread is.
                let from = if first {
                    summary.last_seq
                } else {
                    summary.last_read_seq
                };
                state.notified_to.set_value(Some(from));
            }
            if state.since_hint.get_value() == 0 {
                // A conversation that appears later is followed from the read
                // position, so its unread messages can notify.
                let from = if summary.dm && !first {
                    summary.last_read_seq
                } else {
                    summary.last_seq
                };
                state.since_hint.set_value(from);
            }
        }
        self.follow_members();
    }

    /// Joins every room the user is in that this tab does not follow yet.
    fn follow_members(&self) {
        let rooms: Vec<(String, RoomState)> = self
            .rooms
            .with_untracked(|rooms| rooms.iter().map(|(n, s)| (n.clone(), *s)).collect());
        let mut followed = rooms
            .iter()
            .filter(|(_, state)| state.joined.get_untracked())
            .count();
        for (name, state) in rooms {
            if followed >= MAX_FOLLOWED {
                break;
            }
            if state.member.get_untracked() && !state.joined.get_untracked() {
                self.join(&name, state);
                followed += 1;
            }
        }
    }

    /// Records that the user read `room` up to `seq` (on screen and scrolled to the
    /// end); the server keeps it and tells the user's other tabs.
    pub fn read_to(&self, room: &str, seq: i64) {
        let state = self.room(room);
        if !state.member.get_untracked()
            || seq <= state.last_read.get_untracked()
            || state.reading.get_value()
        {
            return;
        }
        state.reading.set_value(true);
        let room = room.to_string();
        leptos::task::spawn_local(async move {
            let answer = crate::rooms::mark_read(room, seq).await;
            state.reading.set_value(false);
            if let Ok(read) = answer {
                state.absorb_read(&read);
            }
        });
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

    /// Shows `name`, joining it (once) so its traffic arrives; the "new messages"
    /// divider goes where the user's reading stands now.
    pub fn open(&self, name: &str) {
        let state = self.room(name);
        self.active.set(Some(name.to_string()));
        let read = state.last_read.get_untracked();
        let newest = state
            .timeline
            .with_untracked(|t| t.messages().next_back().map(|m| m.seq))
            .unwrap_or(0);
        state
            .divider
            .set((state.member.get_untracked() && read < newest).then_some(read));
        if !state.joined.get_untracked() {
            self.join(name, state);
        }
    }

    fn join(&self, name: &str, state: RoomState) {
        let position = state
            .timeline
            .with_untracked(Timeline::position)
            .max(state.since_hint.get_value());
        let frame = ClientFrame::Join {
            room: name.to_string(),
            // A room never loaded here starts from its recent messages.
            since: (position > 0).then_some(position),
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

    /// Posts `body` (answering `reply_to`); it shows at once as pending and turns
    /// normal when the server echoes it.
    pub fn post(&self, room: &str, body: String, reply_to: Option<i64>) {
        let pending = Pending {
            client_id: new_client_id(),
            body,
            reply_to,
            state: PendingState::Sending,
        };
        let frame = pending.frame(room);
        self.room(room).pending.update(|list| list.push(pending));
        self.send_frame(&frame);
    }

    /// Sends a failed message again under its original `client_id`.
    pub fn retry(&self, room: &str, client_id: &str) {
        let mut frame = None;
        self.room(room).pending.update(|pending| {
            if let Some(p) = pending.iter_mut().find(|p| p.client_id == client_id) {
                p.state = PendingState::Sending;
                frame = Some(p.frame(room));
            }
        });
        if let Some(frame) = frame {
            self.send_frame(&frame);
        }
    }

    /// Sends an edit, deletion or reaction about message `target` under a new
    /// `client_id`, keeping it (to resend after a reconnect) until the timeline has it.
    fn change(&self, room: &str, target: i64, frame: impl FnOnce(String) -> ClientFrame) {
        let client_id = new_client_id();
        let frame = frame(client_id.clone());
        self.room(room).ops.update(|ops| {
            ops.push(PendingOp {
                client_id,
                target,
                frame: frame.clone(),
                acked: None,
            })
        });
        self.send_frame(&frame);
    }

    /// Replaces the body of one's own message `target`.
    pub fn edit(&self, room: &str, target: i64, body: String) {
        self.change(room, target, |client_id| ClientFrame::Edit {
            room: room.to_string(),
            target,
            body,
            client_id,
        });
    }

    /// Deletes one's own message `target`.
    pub fn delete(&self, room: &str, target: i64) {
        self.change(room, target, |client_id| ClientFrame::Delete {
            room: room.to_string(),
            target,
            client_id,
        });
    }

    /// Adds (`on`) or removes one's `emoji` on message `target`.
    pub fn react(&self, room: &str, target: i64, emoji: String, on: bool) {
        self.change(room, target, |client_id| ClientFrame::React {
            room: room.to_string(),
            target,
            emoji,
            on,
            client_id,
        });
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
    fn receive(&self, frame: ServerFrame) {
        if let Some((room, _)) = frame.event_seq() {
            let state = self.room(room);
            let active = self
                .active
                .with_untracked(|active| active.as_deref() == Some(room));
            self.apply_event(state, active, frame);
            return;
        }
        match frame {
            ServerFrame::Hello { user } => {
                self.me.set(Some(user.username));
                self.status.set(Status::Online);
                self.notice.set(None);
                self.notifications.set(super::notify::enabled());
                self.resume();
                // Counts may have moved while away.
                self.list_wanted.update(|n| *n += 1);
            }
            ServerFrame::Read {
                room,
                seq,
                unread,
                mentions,
                last_seq,
            } => {
                self.room(&room).absorb_read(&ReadState {
                    room: room.clone(),
                    seq,
                    unread,
                    mentions,
                    last_seq,
                });
            }
            ServerFrame::RoomsChanged {} => self.list_wanted.update(|n| *n += 1),
            ServerFrame::Joined { room, online, .. } => {
                self.room(&room).online.set(online.into_iter().collect());
            }
            ServerFrame::Ack {
                room,
                client_id,
                seq,
            } => {
                // A sent message clears when it arrives through the room's feed; an
                // edit, deletion or reaction once the timeline includes its seq.
                let state = self.room(&room);
                state.ops.update(|ops| {
                    if let Some(op) = ops.iter_mut().find(|op| op.client_id == client_id) {
                        op.acked = Some(seq);
                    }
                });
                state.settle_ops();
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
                let state = self.room(&room);
                let mut was_send = false;
                state.pending.update(|pending| {
                    if let Some(p) = pending.iter_mut().find(|p| p.client_id == client_id) {
                        p.state = PendingState::Failed(message.clone());
                        was_send = true;
                    }
                });
                if !was_send {
                    // A refused edit, deletion or reaction: nothing changed; say why.
                    state
                        .ops
                        .update(|ops| ops.retain(|op| op.client_id != client_id));
                    self.notice.set(Some(message));
                }
            }
            ServerFrame::Error { message, .. } => self.notice.set(Some(message)),
            _ => {}
        }
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn apply_event(&self, state: RoomState, active: bool, frame: ServerFrame) {
        if let ServerFrame::Member(event) = &frame {
            let me = self
                .me
                .with_untracked(|me| me.as_deref() == Some(event.user.as_str()));
            if me && matches!(event.change, MemberChange::Left | MemberChange::Removed) {
                // The server stops sending the room after this.
                state.joined.set(false);
                state.member.set(false);
                state.online.set(BTreeSet::new());
            }
        }
        if let ServerFrame::Message(message) = &frame {
            state
                .pending
                .update(|pending| pending.retain(|p| p.client_id != message.client_id));
            state.typing.update(|typing| {
                typing.remove(&message.author);
            });
        }
        let applied = state.timeline.try_update(|timeline| timeline.apply(&frame));
        if let (Some(Applied::NewMessage), ServerFrame::Message(message)) = (applied, &frame) {
            let me = self.me.get_untracked().unwrap_or_default();
            if message.author != me {
                if active {
                    // Only new messages are announced; edits of old ones are not news.
                    state.announcement.set(format!(
                        "{}: {}",
                        message.author,
                        message.body.as_deref().unwrap_or_default()
                    ));
                }
                self.count(state, message, &me);
            }
        }
        state.settle_ops();
    }

    /// Counts a new message from someone else, and notifies when it is for me.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn count(&self, state: RoomState, message: &crate::protocol::ChatMessage, me: &str) {
        if !state.member.get_untracked() {
            return;
        }
        let body = message.body.as_deref().unwrap_or_default();
        let mentions_me = message.room_mention || crate::mentions::parse(body).names(me);
        if message.seq > state.counted_to.get_value() {
            state.counted_to.set_value(message.seq);
            if message.seq > state.last_read.get_untracked() {
                state.unread.update(|n| *n += 1);
                if mentions_me {
                    state.mentions.update(|n| *n += 1);
                }
            }
        }
        let for_me = mentions_me || state.dm.get_untracked();
        let news = state
            .notified_to
            .get_value()
            .is_some_and(|notified| message.seq > notified);
        if for_me && news && message.seq > state.last_read.get_untracked() {
            state.notified_to.set_value(Some(message.seq));
            if !state.muted.get_untracked()
                && self.notifications.get_untracked()
                && super::notify::tab_hidden()
            {
                let title = if state.dm.get_untracked() {
                    message.author.clone()
                } else {
                    format!("{} in {}", message.author, state.label.get_untracked())
                };
                super::notify::show(&title, &crate::protocol::excerpt(body), &message.room);
            }
        }
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    /// After (re)connecting: rejoin the rooms we had, from their position, and resend
    /// what was never acknowledged.
    fn resume(&self) {
        let rooms: Vec<(String, RoomState)> = self
            .rooms
            .with_untracked(|rooms| rooms.iter().map(|(n, s)| (n.clone(), *s)).collect());
        let active = self.active.get_untracked();
        let mut followed = 0;
        for (name, state) in rooms {
            let is_active = active.as_deref() == Some(name.as_str());
            let wanted = state.joined.get_untracked() || state.member.get_untracked() || is_active;
            if !wanted || (followed >= MAX_FOLLOWED && !is_active) {
                continue;
            }
            followed += 1;
            self.join(&name, state);
            for pending in state.pending.get_untracked() {
                if pending.state == PendingState::Sending {
                    self.send_frame(&pending.frame(&name));
                }
            }
            for op in state.ops.get_untracked() {
                if op.acked.is_none() {
                    self.send_frame(&op.frame);
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

/// A fresh UUID v4 for a change's `client_id`.
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
                                if matches!(frame, ServerFrame::Hello { .. }) {
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
