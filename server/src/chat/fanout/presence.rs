//! Who is online in each room: this node's connections counted per user, merged with
//! the users other nodes report (cluster mode). Changes are announced on the room's
//! feed, so this lock is held while [`Feeds`]'s is taken (presence, then feeds; never
//! the reverse), which keeps announcements in the order the counts changed.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::{Mutex, MutexGuard},
};

use app::protocol::ServerFrame;

use super::{feeds::Feeds, Event};

#[derive(Default)]
struct RoomPresence {
    /// Connections in the room per username; online while above zero.
    here: HashMap<String, usize>,
    /// Users online in the room through other nodes.
    remote: HashSet<String>,
}

impl RoomPresence {
    fn is_online(&self, user: &str) -> bool {
        self.here.contains_key(user) || self.remote.contains(user)
    }

    /// Everyone online in the room, here or through other nodes, sorted.
    fn users_online(&self) -> Vec<String> {
        let users: BTreeSet<&String> = self.here.keys().chain(&self.remote).collect();
        users.into_iter().cloned().collect()
    }
}

fn announcement(room: &str, user: &str, online: bool) -> Event {
    Event::outside_log(&ServerFrame::Presence {
        room: room.to_string(),
        user: user.to_string(),
        online,
    })
}

/// What [`Rooms::arrive`] found.
pub struct Arrival {
    pub feed: tokio::sync::broadcast::Receiver<Event>,
    /// Everyone online in the room now, sorted.
    pub online: Vec<String>,
    /// This is the user's first connection to the room on this node.
    pub first_here: bool,
}

#[derive(Default)]
pub struct Rooms {
    rooms: Mutex<HashMap<String, RoomPresence>>,
}

impl Rooms {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, RoomPresence>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a connection of `user` into room `room_id` called `room` and subscribes
    /// it to the room's feed (before anything is replayed, so nothing falls between
    /// replay and live), announcing `user` if they were not online.
    pub fn arrive(&self, feeds: &Feeds, room_id: i64, room: &str, user: &str) -> Arrival {
        let mut rooms = self.lock();
        let state = rooms.entry(room.to_string()).or_default();
        let (feed, afresh) = feeds.subscribe(room_id, room, !state.here.is_empty());
        if afresh {
            // The presence task re-reads the room when it hears of this join.
            state.remote.clear();
        }
        let was_online = state.is_online(user);
        let count = state.here.entry(user.to_string()).or_default();
        *count += 1;
        let first_here = *count == 1;
        if !was_online {
            feeds.send(room, announcement(room, user, true));
        }
        Arrival {
            feed,
            online: state.users_online(),
            first_here,
        }
    }

    /// The reverse of [`Rooms::arrive`] for one connection; `true` when it was the
    /// user's last here.
    pub fn depart(&self, feeds: &Feeds, room: &str, user: &str) -> bool {
        let mut rooms = self.lock();
        let Some(state) = rooms.get_mut(room) else {
            return false;
        };
        let Some(count) = state.here.get_mut(user) else {
            return false;
        };
        *count -= 1;
        if *count > 0 {
            return false;
        }
        state.here.remove(user);
        if !state.remote.contains(user) {
            feeds.send(room, announcement(room, user, false));
        }
        true
    }

    /// Everyone online in `room`.
    #[cfg(test)]
    pub fn online(&self, room: &str) -> Vec<String> {
        self.lock()
            .get(room)
            .map(RoomPresence::users_online)
            .unwrap_or_default()
    }

    /// Every (room, user) online through this node's own connections.
    pub fn local(&self) -> Vec<(String, String)> {
        self.lock()
            .iter()
            .flat_map(|(room, state)| {
                state
                    .here
                    .keys()
                    .map(move |user| (room.clone(), user.clone()))
            })
            .collect()
    }

    /// Replaces the users online in `room` through other nodes, announcing each one
    /// whose presence that changes.
    pub fn set_remote(&self, feeds: &Feeds, room: &str, users: HashSet<String>) {
        let mut rooms = self.lock();
        let Some(state) = rooms.get_mut(room) else {
            return;
        };
        let before = std::mem::replace(&mut state.remote, users);
        let mut changes: Vec<(&String, bool)> = state
            .remote
            .difference(&before)
            .map(|user| (user, true))
            .chain(before.difference(&state.remote).map(|user| (user, false)))
            .filter(|(user, _)| !state.here.contains_key(*user))
            .collect();
        changes.sort();
        for (user, online) in changes {
            feeds.send(room, announcement(room, user, online));
        }
    }

    /// The rooms anyone here has been in.
    pub fn rooms(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}
