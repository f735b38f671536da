//! Each connected user's own feed: frames for every connection of theirs (read
//! positions moving, the room list changing), whatever rooms they are in.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

/// Frames one user's own feed buffers; one that falls further behind misses some (they
/// are hints: a client reads the room list again on reconnecting).
const USER_BUFFER: usize = 64;

/// The feeds by username. Its lock is taken alone.
#[derive(Default)]
pub struct UserFeeds {
    users: Mutex<HashMap<String, broadcast::Sender<Utf8Bytes>>>,
}

impl UserFeeds {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, broadcast::Sender<Utf8Bytes>>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self, user: &str) -> broadcast::Receiver<Utf8Bytes> {
        self.lock()
            .entry(user.to_string())
            .or_insert_with(|| broadcast::channel(USER_BUFFER).0)
            .subscribe()
    }

    /// Forgets `user`'s feed once no connection of theirs follows it, so that the
    /// feeds kept are those of the people connected.
    pub fn closed(&self, user: &str) {
        let mut users = self.lock();
        if users.get(user).is_some_and(|tx| tx.receiver_count() == 0) {
            users.remove(user);
        }
    }

    /// Sends `frame` to `user`'s connections here.
    pub fn send(&self, user: &str, frame: Utf8Bytes) {
        if let Some(tx) = self.lock().get(user) {
            // No error to act on: a feed nobody follows is removed as connections end.
            let _ = tx.send(frame);
        }
    }

    #[cfg(test)]
    pub fn has(&self, user: &str) -> bool {
        self.lock().contains_key(user)
    }
}
