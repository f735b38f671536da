//! Catching up, shared by a room's lagging members. When the server falls behind, all
//! members of a busy room fall behind together, each a few events from the others;
//! reading the log for each of them (and encoding every frame again) multiplied the
//! database's work by the member count just when the server had least time for it, and
//! delivery collapsed (docs/benchmarks.md, "Overload"). Here one member reads a page
//! and the others take their part of it: pages of the log never change once written.
//!
//! A page answers only for the events it holds, and always says that more may follow:
//! only a real read can say a member has caught up with the log.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::chat::fanout::Event;

/// Pages kept per room: the span members of one room lag apart by.
const PAGES_PER_ROOM: usize = 8;
/// Rooms whose pages are kept; the one least recently read is forgotten first.
const ROOMS: usize = 32;
/// A room's pages are forgotten when none was read for this long.
const IDLE: Duration = Duration::from_secs(10);

/// A page of a room's log: the events after seq `after`, in order, without gaps.
struct Page {
    after: i64,
    events: Arc<[Event]>,
}

impl Page {
    /// The events after `seq` this page holds, if it holds any.
    fn after(&self, seq: i64) -> Option<Vec<Event>> {
        let last = self.events.last()?.seq?;
        if seq < self.after || seq >= last {
            return None;
        }
        let skip = (seq - self.after) as usize;
        Some(self.events.get(skip..)?.to_vec())
    }
}

#[derive(Default)]
struct RoomPages {
    pages: VecDeque<Page>,
}

/// A room's pages, locked while one member reads, and when they were last used.
type Shared = (Arc<tokio::sync::Mutex<RoomPages>>, Instant);

/// Per room, one read at a time; whoever waited finds the page the first one read.
#[derive(Default)]
pub struct CatchUp {
    rooms: Mutex<HashMap<i64, Shared>>,
}

impl CatchUp {
    fn room(&self, room_id: i64, now: Instant) -> Arc<tokio::sync::Mutex<RoomPages>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms.retain(|_, (_, used)| now.saturating_duration_since(*used) < IDLE);
        if !rooms.contains_key(&room_id) && rooms.len() >= ROOMS {
            let oldest = rooms
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                rooms.remove(&oldest);
            }
        }
        let (pages, used) = rooms
            .entry(room_id)
            .or_insert_with(|| (Arc::default(), now));
        *used = now;
        pages.clone()
    }

    /// The events of room `room_id` after seq `after`, and whether more may follow:
    /// from a page another member read, or else by `read` (which returns what it read
    /// and whether more follows), keeping the page for the others.
    pub async fn after<F, Fut, E>(
        &self,
        room_id: i64,
        after: i64,
        read: F,
    ) -> Result<(Vec<Event>, bool), E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<Event>, bool), E>>,
    {
        let room = self.room(room_id, Instant::now());
        let mut pages = room.lock().await;
        if let Some(events) = pages.pages.iter().find_map(|page| page.after(after)) {
            return Ok((events, true));
        }
        let (events, more) = read().await?;
        let contiguous = events
            .iter()
            .zip(after + 1..)
            .all(|(event, seq)| event.seq == Some(seq));
        if contiguous && !events.is_empty() {
            if pages.pages.len() >= PAGES_PER_ROOM {
                pages.pages.pop_front();
            }
            pages.pages.push_back(Page {
                after,
                events: events.clone().into(),
            });
        }
        Ok((events, more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(from: i64, to: i64) -> Vec<Event> {
        (from..=to)
            .map(|seq| Event {
                seq: Some(seq),
                frame: format!("{seq}").into(),
                at: None,
                ends: None,
            })
            .collect()
    }

    fn seqs(events: &[Event]) -> Vec<i64> {
        events.iter().filter_map(|e| e.seq).collect()
    }

    #[tokio::test]
    async fn members_share_one_read_and_only_a_read_says_caught_up() {
        let catch_up = CatchUp::default();
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let read = |from: i64, to: i64, more: bool| {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { Ok::<_, ()>((events(from, to), more)) }
        };
        // The first lagging member reads 11..=20.
        let (first, more) = catch_up.after(1, 10, || read(11, 20, false)).await.unwrap();
        assert_eq!((seqs(&first), more), ((11..=20).collect(), false));
        // Others a few events apart take their part of it, without a read.
        let (second, more) = catch_up.after(1, 14, || read(0, 0, false)).await.unwrap();
        assert_eq!(
            (seqs(&second), more),
            ((15..=20).collect(), true),
            "more may follow"
        );
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
        // At the page's end only a read can tell.
        let (rest, more) = catch_up.after(1, 20, || read(21, 21, false)).await.unwrap();
        assert_eq!((seqs(&rest), more), (vec![21], false));
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Another room has its own pages.
        let (other, _) = catch_up.after(2, 14, || read(15, 16, false)).await.unwrap();
        assert_eq!(seqs(&other), vec![15, 16]);
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn pages_with_holes_are_not_kept() {
        let catch_up = CatchUp::default();
        let mut holed = events(11, 12);
        holed.extend(events(14, 15));
        let _ = catch_up
            .after(1, 10, || async { Ok::<_, ()>((holed, false)) })
            .await;
        let (again, _) = catch_up
            .after(1, 11, || async { Ok::<_, ()>((events(12, 15), false)) })
            .await
            .unwrap();
        assert_eq!(
            seqs(&again),
            vec![12, 13, 14, 15],
            "read, not taken from the holed page"
        );
    }
}
