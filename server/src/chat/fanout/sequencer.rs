//! One room's feed kept in log order on this node. Events reach a node from its own
//! writer and, in cluster mode, from other nodes' notices, in whatever order those
//! arrive: the sequencer passes on the next seq, drops what was passed on already, and
//! holds what comes early until the missing seqs arrive, or, after a short wait, are
//! read from the database. Members' connections then see one contiguous feed and need
//! not each read the database to fill the same gap.

use std::{collections::BTreeMap, time::Duration};

use tokio::time::Instant;

/// How long an early event waits for the ones before it before the gap is read from
/// the database. Notices from two nodes cross within a millisecond on a LAN; a notice
/// still missing after this was lost.
pub const GAP_WAIT: Duration = Duration::from_millis(50);

/// Most events held early per room. Beyond it later ones are dropped here: the gap
/// fill reads to the end of the log, so they are read back with it.
const MAX_HELD: usize = 4096;

#[derive(Debug)]
pub struct Sequencer<T> {
    /// The last seq passed on; `None` until the first event or baseline.
    delivered: Option<i64>,
    /// Whether any event has been passed on since the start or the last reset.
    started: bool,
    held: BTreeMap<i64, T>,
    /// Since when an event has been held (a gap has been open).
    gap_since: Option<Instant>,
}

// Not derived: the held events need no default of their own.
impl<T> Default for Sequencer<T> {
    fn default() -> Self {
        Sequencer {
            delivered: None,
            started: false,
            held: BTreeMap::new(),
            gap_since: None,
        }
    }
}

impl<T> Sequencer<T> {
    /// The last seq passed on, if any.
    pub fn delivered(&self) -> Option<i64> {
        self.delivered
    }

    /// Says that a joining member read the log up to `seq`, so only what follows must
    /// come through here. Until the first event is passed on, the lowest such position
    /// counts: members joining together read the log at different moments, and the
    /// one that read least must not have an event dropped as already passed on.
    /// (Others get it twice; their connections' cursors drop the copy.)
    pub fn baseline(&mut self, seq: i64) {
        if !self.started {
            self.delivered = Some(self.delivered.map_or(seq, |at| at.min(seq)));
        }
    }

    /// Forgets everything: nobody here listens to the room any more.
    pub fn reset(&mut self) {
        self.delivered = None;
        self.started = false;
        self.held.clear();
        self.gap_since = None;
    }

    /// Offers event `seq`; `pass` is called for each event now due, in seq order.
    pub fn offer(&mut self, seq: i64, event: T, now: Instant, mut pass: impl FnMut(i64, T)) {
        let next = match self.delivered {
            None => seq,
            Some(delivered) if seq <= delivered => return,
            Some(delivered) => delivered + 1,
        };
        if seq > next {
            if self.held.len() < MAX_HELD || seq < *self.held.keys().next_back().unwrap_or(&0) {
                self.held.insert(seq, event);
                if self.held.len() > MAX_HELD {
                    self.held.pop_last();
                }
            }
            self.gap_since.get_or_insert(now);
            return;
        }
        pass(seq, event);
        self.started = true;
        let mut delivered = seq;
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() > delivered + 1 {
                break;
            }
            let (held_seq, held) = entry.remove_entry();
            if held_seq == delivered + 1 {
                pass(held_seq, held);
                delivered = held_seq;
            }
        }
        self.delivered = Some(delivered);
        if self.held.is_empty() {
            self.gap_since = None;
        }
    }

    /// Whether a gap has been open long enough to read it from the database.
    pub fn fill_due(&self, now: Instant) -> bool {
        self.gap_since
            .is_some_and(|since| now.duration_since(since) >= GAP_WAIT)
    }

    /// When the open gap (if any) becomes due.
    pub fn due_at(&self) -> Option<Instant> {
        self.gap_since.map(|since| since + GAP_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer_all(seq: &mut Sequencer<i64>, seqs: &[i64], now: Instant) -> Vec<i64> {
        let mut out = Vec::new();
        for &s in seqs {
            seq.offer(s, s, now, |n, e| {
                assert_eq!(n, e);
                out.push(n)
            });
        }
        out
    }

    #[test]
    fn passes_the_next_drops_duplicates_and_holds_early_ones() {
        let now = Instant::now();
        let mut seq = Sequencer::default();
        seq.baseline(4);
        assert_eq!(offer_all(&mut seq, &[3, 4, 5, 5, 7, 8, 7], now), [5]);
        assert!(!seq.fill_due(now));
        assert!(seq.fill_due(now + GAP_WAIT));
        assert_eq!(offer_all(&mut seq, &[6], now), [6, 7, 8]);
        assert_eq!(seq.delivered(), Some(8));
        assert!(!seq.fill_due(now + GAP_WAIT), "no gap once filled");
    }

    #[test]
    fn members_joining_together_count_from_the_one_that_read_least() {
        let now = Instant::now();
        let mut seq = Sequencer::default();
        seq.baseline(11);
        // 11's notice arrives between the two baselines: not passed on yet ...
        assert!(offer_all(&mut seq, &[11], now).is_empty());
        seq.baseline(10);
        assert_eq!(seq.delivered(), Some(10));
        // ... so it is owed, and read as a gap when 12 comes.
        assert!(offer_all(&mut seq, &[12], now).is_empty());
        assert!(seq.fill_due(now + GAP_WAIT));
        assert_eq!(offer_all(&mut seq, &[11], now), [11, 12]);
        seq.baseline(5);
        assert_eq!(
            seq.delivered(),
            Some(12),
            "once under way, baselines change nothing"
        );
    }

    #[test]
    fn the_first_event_sets_the_position_without_a_baseline() {
        let now = Instant::now();
        let mut seq = Sequencer::default();
        assert_eq!(offer_all(&mut seq, &[10, 11], now), [10, 11]);
        seq.baseline(3);
        assert_eq!(seq.delivered(), Some(11), "a baseline never moves it back");
    }

    #[test]
    fn a_partial_fill_keeps_the_gap_open() {
        let now = Instant::now();
        let mut seq = Sequencer::default();
        seq.baseline(0);
        assert!(offer_all(&mut seq, &[3, 6], now).is_empty());
        assert_eq!(offer_all(&mut seq, &[1, 2], now), [1, 2, 3]);
        assert_eq!(seq.due_at(), Some(now + GAP_WAIT), "5 is still missing");
        assert_eq!(offer_all(&mut seq, &[4, 5], now), [4, 5, 6]);
        assert_eq!(seq.due_at(), None);
    }

    #[test]
    fn held_events_are_bounded_keeping_the_earliest() {
        let now = Instant::now();
        let mut seq = Sequencer::default();
        seq.baseline(0);
        let early: Vec<i64> = (2..MAX_HELD as i64 + 100).rev().collect();
        assert!(offer_all(&mut seq, &early, now).is_empty());
        assert_eq!(seq.held.len(), MAX_HELD);
        let passed = offer_all(&mut seq, &[1], now);
        assert_eq!(passed.len(), MAX_HELD + 1);
        assert_eq!(*passed.last().unwrap(), MAX_HELD as i64 + 1);
    }

    #[test]
    fn reset_forgets_the_position() {
        let now = Instant::now();
        let mut seq = Sequencer::default();
        seq.baseline(5);
        offer_all(&mut seq, &[9], now);
        seq.reset();
        assert_eq!(seq.delivered(), None);
        assert_eq!(seq.due_at(), None);
    }
}
