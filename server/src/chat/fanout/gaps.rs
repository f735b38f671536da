//! Filling the gaps in room feeds from the database. A gap opens when an event arrives
//! before one it follows (another node's notice crossed ours, or was lost); after
//! [`GAP_WAIT`](super::sequencer::GAP_WAIT) without the missing event, this task reads
//! it from the log. The cluster's position check uses the same fill for a lost last
//! event, which no later event would reveal.

use std::time::Duration;

use tokio::time::Instant;

use super::{Gap, Hub, LogEvent};
use crate::chat::read::replay;
use crate::db::Db;

/// How long to wait before trying again when the database could not be read.
const RETRY: Duration = Duration::from_secs(1);

/// Runs for the life of the process, filling each gap once it is due.
pub async fn fill_due_gaps(db: Db, hub: Hub) {
    loop {
        let (due, next) = hub.due_gaps(Instant::now());
        let mut stuck = false;
        for gap in &due {
            stuck |= !fill(&db, &hub, gap).await;
        }
        // A gap the log could not close (the database unreachable, or events held
        // that it does not have) is tried again a second later, not in a tight loop.
        if stuck {
            tokio::time::sleep(RETRY).await;
            continue;
        }
        if !due.is_empty() {
            continue;
        }
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = hub.gap_opened() => {}
                }
            }
            None => hub.gap_opened().await,
        }
    }
}

/// Reads `gap.room`'s log after `gap.after` into its feed, to the end of the log;
/// `false` if the feed did not move past `gap.after`.
pub async fn fill(db: &Db, hub: &Hub, gap: &Gap) -> bool {
    let mut after = gap.after;
    loop {
        let (events, more) = match replay::page(db, gap.room_id, &gap.room, after).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, room = gap.room, "reading a gap in a room's feed failed");
                return false;
            }
        };
        for event in events {
            if let Some(seq) = event.seq {
                let logged = LogEvent {
                    seq,
                    frame: event.frame,
                    ends: event.ends,
                };
                hub.publish(gap.room_id, &gap.room, logged);
            }
        }
        let reached = hub.delivered(&gap.room).unwrap_or(after);
        if !more || reached <= after {
            return reached > gap.after;
        }
        after = reached;
    }
}
