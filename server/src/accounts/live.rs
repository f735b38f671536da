//! The sessions that have WebSockets open, so that ending a session (log-out) closes
//! its sockets at once instead of leaving them authenticated until they drop.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::watch;

type Digest = [u8; 32];

#[derive(Clone, Default)]
pub struct LiveSessions {
    open: Arc<Mutex<HashMap<Digest, watch::Sender<bool>>>>,
}

/// Held by a connection: resolves [`SessionEnd::ended`] when its session ends, and
/// forgets the session's entry when the last of its connections goes.
pub struct SessionEnd {
    digest: Digest,
    ended: watch::Receiver<bool>,
    sessions: LiveSessions,
}

impl SessionEnd {
    /// Waits until the session is ended (never returns while it lives).
    pub async fn ended(&mut self) {
        if self.ended.wait_for(|ended| *ended).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for SessionEnd {
    fn drop(&mut self) {
        let mut open = self.sessions.lock();
        // This receiver is still counted while it is being dropped.
        if open
            .get(&self.digest)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            open.remove(&self.digest);
        }
    }
}

impl LiveSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, watch::Sender<bool>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection of the session whose token hashes to `digest`.
    pub fn watch(&self, digest: Digest) -> SessionEnd {
        let ended = self
            .lock()
            .entry(digest)
            .or_insert_with(|| watch::channel(false).0)
            .subscribe();
        SessionEnd {
            digest,
            ended,
            sessions: self.clone(),
        }
    }

    /// Ends the session: each of its connections sees [`SessionEnd::ended`] resolve.
    pub fn end(&self, digest: &Digest) {
        if let Some(sender) = self.lock().remove(digest) {
            let _ = sender.send(true);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ending_a_session_ends_each_of_its_connections_only() {
        let sessions = LiveSessions::default();
        let mut first = sessions.watch([1; 32]);
        let mut second = sessions.watch([1; 32]);
        let mut other = sessions.watch([2; 32]);
        sessions.end(&[1; 32]);
        first.ended().await;
        second.ended().await;
        let still = tokio::time::timeout(std::time::Duration::from_millis(20), other.ended()).await;
        assert!(still.is_err(), "another session lives on");
        drop((first, second));
        drop(other);
        assert_eq!(sessions.len(), 0, "nothing kept for closed connections");
    }
}
