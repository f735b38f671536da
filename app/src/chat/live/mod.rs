//! The browser's side of the live protocol: one WebSocket per tab that reconnects by
//! itself (exponential backoff with jitter), rejoins the rooms it had open from their
//! position in the log, resends unacknowledged changes with their original
//! `client_id`, and keeps each room's state in signals for the views.
//!
//! Everything here compiles on the server too (pages render from the same state) and
//! is tested natively; only the WebSocket, its timer and the browser's clock are
//! browser-only.
//!
//! [`Live`] is one value with its methods grouped by concern: following rooms
//! (`follow`), what the person sends (`send`), what the server sends (`dispatch`) and
//! the connection (`socket`), over the leaves that hold the data and the rules
//! (`state`, `outbox`, `attention`).

use std::collections::HashMap;

use leptos::prelude::*;

/// Unread counts, mentions, the title's count, the divider, what notifies.
mod attention;
/// Server frames into room state.
mod dispatch;
/// Which rooms this tab follows, and from where.
mod follow;
/// What this tab sends and has not seen stored yet, and the queue to the socket.
mod outbox;
/// The changes the person makes from the views.
mod send;
/// The connection loop with its reconnect backoff, and the browser's WebSocket.
mod socket;
/// A room's state: the server's half and the view's half.
mod state;
/// What the tests here share.
#[cfg(test)]
mod testing;
/// Unsent messages and drafts kept in the browser across reloads.
pub mod unsent;

use self::outbox::Outbox;
pub use self::{
    outbox::{new_client_id, PendingMessage, PendingOp, SendState},
    state::{typing_sentence, RoomState, ViewState},
};
use crate::model::RoomSummary;

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

/// One room's two halves, created together.
#[derive(Clone, Copy)]
struct Room {
    state: RoomState,
    view: ViewState,
}

/// The tab's live connection and every room's state, as context for the whole app.
#[derive(Clone, Copy)]
pub struct Live {
    // The connection.
    pub status: RwSignal<Status>,
    outbox: Outbox,
    /// Whether the connection loop runs: one per tab.
    started: StoredValue<bool>,
    /// The last error not tied to a pending message, for the banner.
    pub notice: RwSignal<Option<String>>,
    // The person.
    pub me: RwSignal<Option<String>>,
    /// Whether notifications are on in this tab.
    pub notifications: RwSignal<bool>,
    // The rooms.
    rooms: RwSignal<HashMap<String, Room>>,
    /// What the rooms' signals belong to: the app, not the page that first asked.
    owner: StoredValue<Owner>,
    /// The room on screen; messages elsewhere count as unread.
    pub active: RwSignal<Option<String>>,
    /// Bumped when the room list should be read again (a room added or gone, a
    /// reconnect).
    pub list_wanted: RwSignal<u64>,
    /// Whether a room list was taken in yet: what was there at first does not notify.
    listed_once: StoredValue<bool>,
    /// Whose unsent messages this tab keeps in the browser (`unsent`), once known.
    keeper: StoredValue<Option<String>>,
}

impl Live {
    pub fn provide() -> Live {
        let live = Live {
            status: RwSignal::new(Status::Idle),
            outbox: Outbox::new(),
            started: StoredValue::new(false),
            notice: RwSignal::new(None),
            me: RwSignal::new(None),
            notifications: RwSignal::new(false),
            rooms: RwSignal::new(HashMap::new()),
            owner: StoredValue::new(Owner::current().expect("Live is created inside the app")),
            active: RwSignal::new(None),
            list_wanted: RwSignal::new(0),
            listed_once: StoredValue::new(false),
            keeper: StoredValue::new(None),
        };
        provide_context(live);
        live
    }

    /// The room called `name`, created on first use, so that it outlives navigation.
    fn entry(&self, name: &str) -> Room {
        if let Some(room) = self.rooms.with_untracked(|rooms| rooms.get(name).copied()) {
            return room;
        }
        let room = self.owner.get_value().with(|| Room {
            state: RoomState::new(),
            view: ViewState::new(),
        });
        self.rooms.update(|rooms| {
            rooms.insert(name.to_string(), room);
        });
        room
    }

    /// What the server says of `name`.
    pub fn room(&self, name: &str) -> RoomState {
        self.entry(name).state
    }

    /// What the person is doing in the view of `name`.
    pub fn view(&self, name: &str) -> ViewState {
        self.entry(name).view
    }

    /// Every room this tab has state for, by name, read without tracking.
    fn states(&self) -> Vec<(String, RoomState)> {
        self.rooms.with_untracked(|rooms| {
            rooms
                .iter()
                .map(|(name, room)| (name.clone(), room.state))
                .collect()
        })
    }

    /// Unread messages and mentions in `name`.
    pub fn unread(&self, name: &str) -> (i64, i64) {
        self.rooms
            .with(|rooms| {
                rooms
                    .get(name)
                    .map(|room| (room.state.unread.get(), room.state.mentions.get()))
            })
            .unwrap_or((0, 0))
    }

    /// Unread messages and mentions in the rooms the person is in, but `here`, outside
    /// muted rooms: what the room list's button on a phone shows.
    pub fn waiting_elsewhere(&self, here: &str) -> (i64, i64) {
        self.rooms.with(|rooms| {
            rooms
                .iter()
                .filter(|(name, room)| {
                    name.as_str() != here && room.state.member.get() && !room.state.muted.get()
                })
                .fold((0, 0), |(unread, mentions), (_, room)| {
                    (
                        unread + room.state.unread.get(),
                        mentions + room.state.mentions.get(),
                    )
                })
        })
    }

    /// What waits for the person, for the title: mentions, and every message of
    /// conversations, outside muted rooms.
    pub fn attention(&self) -> i64 {
        self.rooms.with(|rooms| {
            rooms
                .values()
                .map(|Room { state, .. }| {
                    attention::waiting(
                        state.member.get(),
                        state.muted.get(),
                        state.dm.get(),
                        state.unread.get(),
                        state.mentions.get(),
                    )
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
            self.room(&summary.name).absorb_summary(summary, first);
        }
        self.follow_members();
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
}

/// The browser's clock in ms (0 on the server, where nothing time-based is rendered).
pub fn browser_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}
