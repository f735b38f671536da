//! The sessions that have WebSockets open, so that ending a session (log-out) or its
//! expiry closes its sockets at once instead of leaving them authenticated until they
//! drop.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use tokio::sync::{mpsc, watch};

/// A session token's digest, as sessions are stored and named.
pub type Digest = [u8; 32];

#[derive(Clone, Default)]
pub struct LiveSessions {
    open: Arc<Mutex<HashMap<Digest, watch::Sender<bool>>>>,
    /// In cluster mode, where a session ended here is told, for the other nodes to
    /// close its sockets there too.
    spread: Arc<OnceLock<mpsc::Sender<Digest>>>,
}

/// Held by a connection: resolves [`SessionEnd::ended`] when its session ends, and
/// forgets the session's entry when the last of its connections goes.
pub struct SessionEnd {
    digest: Digest,
    ended: watch::Receiver<bool>,
    /// The session's expiry as it stood when the socket opened. Using the socket does
    /// not extend it: a socket open that long reconnects, which authenticates afresh.
    expires: tokio::time::Instant,
    sessions: LiveSessions,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    LoggedOut,
    Expired,
}

impl SessionEnd {
    /// Waits until the session is ended (never returns while it lives).
    pub async fn ended(&mut self) -> Ended {
        let expires = self.expires;
        let ended = &mut self.ended;
        // `false` when the sender is gone, which only happens once this entry is
        // forgotten; then only expiry is left.
        let logged_out = async move { ended.wait_for(|ended| *ended).await.is_ok() };
        tokio::select! {
            true = logged_out => Ended::LoggedOut,
            () = tokio::time::sleep_until(expires) => Ended::Expired,
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

    /// Registers a connection of the session whose token hashes to `digest`, which
    /// expires in `expires_in`.
    pub fn watch(&self, digest: Digest, expires_in: std::time::Duration) -> SessionEnd {
        let ended = self
            .lock()
            .entry(digest)
            .or_insert_with(|| watch::channel(false).0)
            .subscribe();
        SessionEnd {
            digest,
            ended,
            expires: tokio::time::Instant::now() + expires_in,
            sessions: self.clone(),
        }
    }

    /// Ends the session: each of its connections sees [`SessionEnd::ended`] resolve,
    /// here and, in cluster mode, on the other nodes.
    pub fn end(&self, digest: &Digest) {
        self.end_here(digest);
        if let Some(spread) = self.spread.get() {
            // Never waits; a full channel loses only the early close on other nodes
            // (their sockets are refused when they reconnect).
            let _ = spread.try_send(*digest);
        }
    }

    /// Ends the session's connections on this node only: told by another node.
    pub fn end_here(&self, digest: &Digest) {
        if let Some(sender) = self.lock().remove(digest) {
            let _ = sender.send(true);
        }
    }

    /// From now on, sessions ended here are also sent to `to` (in cluster mode).
    pub fn spread_to(&self, to: mpsc::Sender<Digest>) {
        let _ = self.spread.set(to);
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
        let day = std::time::Duration::from_secs(86_400);
        let mut first = sessions.watch([1; 32], day);
        let mut second = sessions.watch([1; 32], day);
        let mut other = sessions.watch([2; 32], day);
        sessions.end(&[1; 32]);
        assert_eq!(first.ended().await, Ended::LoggedOut);
        assert_eq!(second.ended().await, Ended::LoggedOut);
        let still = tokio::time::timeout(std::time::Duration::from_millis(20), other.ended()).await;
        assert!(still.is_err(), "another session lives on");
        drop((first, second));
        drop(other);
        assert_eq!(sessions.len(), 0, "nothing kept for closed connections");
    }

    #[tokio::test]
    async fn an_ended_session_is_told_to_the_cluster_and_a_told_one_is_not_retold() {
        let sessions = LiveSessions::default();
        let (tx, mut told) = mpsc::channel(4);
        sessions.spread_to(tx);
        let day = std::time::Duration::from_secs(86_400);
        let mut here = sessions.watch([4; 32], day);
        sessions.end(&[4; 32]);
        assert_eq!(here.ended().await, Ended::LoggedOut);
        assert_eq!(told.recv().await, Some([4; 32]));
        let mut elsewhere = sessions.watch([5; 32], day);
        sessions.end_here(&[5; 32]);
        assert_eq!(elsewhere.ended().await, Ended::LoggedOut);
        assert!(told.try_recv().is_err(), "not sent back to the cluster");
    }

    #[tokio::test(start_paused = true)]
    async fn an_expiring_session_ends_its_connections() {
        let sessions = LiveSessions::default();
        let mut soon = sessions.watch([3; 32], std::time::Duration::from_secs(5));
        let started = tokio::time::Instant::now();
        assert_eq!(soon.ended().await, Ended::Expired);
        assert_eq!(started.elapsed(), std::time::Duration::from_secs(5));
    }
}
