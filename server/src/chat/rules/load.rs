//! How far behind a room's members are in receiving its events, so that a room the
//! server cannot keep up with refuses new changes instead of falling further behind.
//!
//! Past its capacity a server that accepts every post only grows the backlog between
//! posting and delivery: members lag, lagging members catch up from the database, which
//! costs more than live delivery, and delivery collapses (docs/benchmarks.md,
//! "Overload"). Refusing the excess at the door (`rate_limited`, nothing stored) keeps
//! delivery at its peak rate and the delay bounded.
//!
//! Members measure the delay themselves: now and then a connection compares the time
//! it writes a live event with the time the event was published. A member that stopped
//! reading takes no samples, so one stuck client does not close the room to everyone.
//!
//! That delay starts at publishing; a post the server is too busy to store waits before
//! it, in the writer's queue, or unread in its sender's socket when fan-out takes all
//! the CPU. So two server-wide measures count as well: how long changes wait for the
//! writer, and whether the runtime's workers were busy all the time lately, which
//! lowers the share of changes admitted until they are not ([`watch_saturation`]).

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// From this average delivery delay on, a share of new changes to the room is refused,
/// growing with the delay until at [`LAG_LIMIT`] all are: a gradual door finds the rate
/// the members can take, where an on-off one swung between idle and swamped.
pub const LAG_SHED_FROM: Duration = Duration::from_millis(100);
pub const LAG_LIMIT: Duration = Duration::from_millis(400);
/// Samples older than this say nothing about now (the room went quiet).
const FRESH: Duration = Duration::from_secs(1);
/// One sample in this many deliveries is taken.
pub const SAMPLE_EVERY: u32 = 16;

/// How often the runtime's saturation is measured.
const SATURATION_EVERY: Duration = Duration::from_millis(100);
/// Workers busy this share of the time (in thousandths) are saturated.
const SATURATED: u64 = 970;
/// Measures in a row the workers must be saturated before any change is refused for
/// it: a burst that keeps them busy for a moment is no overload.
const SATURATED_FOR: u64 = 3;
/// The least share of changes admitted however busy the server is, in thousandths:
/// what else keeps it busy must not silence every room.
const MIN_SHARE: u64 = 100;

/// What loads the whole server, whatever the room.
pub struct ServerLoad {
    /// How long changes wait in the writer's queue, lately.
    queue_wait: Average,
    /// The share of changes admitted while the runtime is saturated, in thousandths.
    share: AtomicU64,
    /// Saturated measures in a row.
    saturated: AtomicU64,
}

impl Default for ServerLoad {
    fn default() -> Self {
        ServerLoad {
            queue_wait: Average::default(),
            share: AtomicU64::new(1000),
            saturated: AtomicU64::new(0),
        }
    }
}

impl ServerLoad {
    /// Records how long the oldest change of a batch waited for the writer.
    pub fn record_queue_wait(&self, wait: Duration, now: Instant) {
        self.queue_wait.record(wait, now);
    }

    /// The average wait, unless the last measure is from before a quiet spell (which
    /// says nothing, and nothing would come to correct while every change is refused).
    fn queue_wait(&self, now: Instant) -> u64 {
        self.queue_wait.lately(now)
    }

    /// Adjusts the admitted share after a measure of how busy the workers were (in
    /// thousandths of the time), in proportion to how far that is from [`SATURATED`],
    /// once the workers have been saturated [`SATURATED_FOR`] measures in a row: about
    /// a tenth down per measure while over it, more up while well under it. A
    /// gentle step finds the rate the server can take; halving swung between idle and
    /// swamped and admitted less on average than the server could carry.
    fn saturation(&self, busy: u64) {
        let in_a_row = if busy >= SATURATED {
            self.saturated.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.saturated.store(0, Ordering::Relaxed);
            0
        };
        if busy >= SATURATED && in_a_row < SATURATED_FOR {
            return;
        }
        let share = self.share.load(Ordering::Relaxed) as i64;
        let error = SATURATED as i64 - busy.min(1000) as i64;
        // Down twice as fast as up: a lasting overload is met within a second.
        let gain = if error < 0 { 250 } else { 500 };
        let share = (share + share * error / gain).clamp(MIN_SHARE as i64, 1000);
        self.share.store(share as u64, Ordering::Relaxed);
    }

    fn share(&self) -> u64 {
        self.share.load(Ordering::Relaxed)
    }
}

/// Measures, for as long as the server runs, how busy the runtime's workers were, and
/// adjusts `load`'s admitted share. Busy time is wall time a worker did not park, so a
/// server held back by a CPU quota or a noisy neighbour counts as busy too.
pub async fn watch_saturation(load: std::sync::Arc<ServerLoad>) {
    let metrics = tokio::runtime::Handle::current().metrics();
    let busy = || -> Duration {
        (0..metrics.num_workers())
            .map(|worker| metrics.worker_total_busy_duration(worker))
            .sum()
    };
    let mut every = tokio::time::interval(SATURATION_EVERY);
    let (mut last_busy, mut last_at) = (busy(), Instant::now());
    loop {
        every.tick().await;
        let (now_busy, now) = (busy(), Instant::now());
        let wall = now.saturating_duration_since(last_at) * metrics.num_workers() as u32;
        let spent = now_busy.saturating_sub(last_busy);
        if !wall.is_zero() {
            load.saturation((spent.as_micros() * 1000 / wall.as_micros()) as u64);
        }
        (last_busy, last_at) = (now_busy, now);
    }
}

/// A moving average of delays (in microseconds) that goes stale after [`FRESH`].
struct Average {
    micros: AtomicU64,
    /// When the last sample was taken, in milliseconds since `epoch`.
    sampled_at: AtomicU64,
    epoch: Instant,
}

impl Default for Average {
    fn default() -> Self {
        Average {
            micros: AtomicU64::new(0),
            sampled_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl Average {
    fn is_fresh(&self, now: Instant) -> bool {
        let sampled = Duration::from_millis(self.sampled_at.load(Ordering::Relaxed));
        now.saturating_duration_since(self.epoch) < sampled + FRESH
    }

    /// Racing samples may overwrite each other; an average needs no more. A stale
    /// average starts again from the sample.
    fn record(&self, delay: Duration, now: Instant) {
        let sample = delay.as_micros().min(u128::from(u32::MAX)) as u64;
        let old = self.micros.load(Ordering::Relaxed);
        let new = if self.is_fresh(now) {
            old - old / 8 + sample / 8
        } else {
            sample
        };
        self.micros.store(new, Ordering::Relaxed);
        let at = now.saturating_duration_since(self.epoch).as_millis() as u64;
        self.sampled_at.store(at, Ordering::Relaxed);
    }

    fn lately(&self, now: Instant) -> u64 {
        if self.is_fresh(now) {
            self.micros.load(Ordering::Relaxed)
        } else {
            0
        }
    }
}

pub struct RoomLoad {
    /// How late members receive the room's events.
    lag: Average,
    /// Admissions owed, in thousandths: each change adds the share admitted now and
    /// is admitted when a whole one is owed, so the shares add up without randomness.
    owed: AtomicU64,
}

impl Default for RoomLoad {
    fn default() -> Self {
        RoomLoad {
            lag: Average::default(),
            owed: AtomicU64::new(0),
        }
    }
}

impl RoomLoad {
    /// Records that an event published `lag` ago was delivered `now`.
    pub fn record(&self, lag: Duration, now: Instant) {
        self.lag.record(lag, now);
    }

    /// The share of new changes to admit now, in thousandths: all while members
    /// receive the room's events within [`LAG_SHED_FROM`] (or nothing was measured
    /// lately) and changes wait no longer for the writer, none from [`LAG_LIMIT`] on,
    /// and in between in proportion; never more than the server's saturation allows.
    fn admitted_share(&self, server: &ServerLoad, now: Instant) -> u64 {
        let lag = self.lag.lately(now).max(server.queue_wait(now));
        let (from, limit) = (
            LAG_SHED_FROM.as_micros() as u64,
            LAG_LIMIT.as_micros() as u64,
        );
        let by_lag = match lag {
            lag if lag <= from => 1000,
            lag if lag >= limit => 0,
            lag => 1000 - (lag - from) * 1000 / (limit - from),
        };
        by_lag.min(server.share())
    }

    /// Whether to admit one more change to the room now.
    pub fn admit(&self, server: &ServerLoad, now: Instant) -> bool {
        let share = self.admitted_share(server, now);
        if share >= 1000 {
            return true;
        }
        let owed = self.owed.fetch_add(share, Ordering::Relaxed) + share;
        if owed >= 1000 {
            self.owed.fetch_sub(1000, Ordering::Relaxed);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_lasting_delay_refuses_and_a_quiet_room_recovers() {
        let load = RoomLoad::default();
        let start = load.lag.epoch;
        let queue = ServerLoad::default();
        assert!(load.admit(&queue, start), "no samples: admitted");
        for i in 0..40 {
            load.record(600 * MS, start + i * MS);
        }
        let at = start + 40 * MS;
        assert!(
            (0..10).all(|_| !load.admit(&queue, at)),
            "past the limit: none"
        );
        // Fast deliveries bring the average back down.
        for i in 40..80 {
            load.record(5 * MS, start + i * MS);
        }
        assert!((0..10).all(|_| load.admit(&queue, start + 80 * MS)));
        // A stale average says nothing.
        for i in 80..120 {
            load.record(600 * MS, start + i * MS);
        }
        assert!(!load.admit(&queue, start + 120 * MS));
        assert!(load.admit(&queue, start + 120 * MS + FRESH));
    }

    #[test]
    fn between_the_marks_a_share_is_admitted() {
        let load = RoomLoad::default();
        let start = load.lag.epoch;
        let queue = ServerLoad::default();
        // Halfway between 100 and 400 ms: half admitted, spread evenly.
        for i in 0..60 {
            load.record(250 * MS, start + i * MS);
        }
        let at = start + 60 * MS;
        let admitted = (0..1000).filter(|_| load.admit(&queue, at)).count();
        assert!((480..=520).contains(&admitted), "{admitted}");
    }

    #[test]
    fn one_late_sample_among_many_passes() {
        let load = RoomLoad::default();
        let start = load.lag.epoch;
        let queue = ServerLoad::default();
        for i in 0..100 {
            let lag = if i == 50 { 10_000 * MS } else { 3 * MS };
            load.record(lag, start + i * MS);
        }
        assert!((0..10).all(|_| load.admit(&queue, start + 100 * MS)));
    }

    #[test]
    fn a_long_wait_for_the_writer_sheds_until_it_is_stale() {
        let load = RoomLoad::default();
        let queue = ServerLoad::default();
        let now = Instant::now();
        for _ in 0..40 {
            queue.record_queue_wait(Duration::from_secs(2), now);
        }
        assert!(
            !load.admit(&queue, now),
            "changes wait too long for the writer"
        );
        assert!(load.admit(&queue, now + FRESH), "stale: admitted again");
        for _ in 0..40 {
            queue.record_queue_wait(Duration::ZERO, now);
        }
        assert!(load.admit(&queue, now));
    }

    #[test]
    fn a_saturated_runtime_admits_less_until_it_has_time_again() {
        let load = RoomLoad::default();
        let server = ServerLoad::default();
        let now = Instant::now();
        let admitted = |n: usize| (0..n).filter(|_| load.admit(&server, now)).count();
        assert_eq!(admitted(100), 100);
        for _ in 0..SATURATED_FOR - 1 {
            server.saturation(1000);
        }
        assert_eq!(admitted(100), 100, "a moment's burst refuses nothing");
        for _ in 0..10 {
            server.saturation(1000);
        }
        // 12 % less per fully busy measure after that: 1000 → 0.88^10.
        let share = admitted(1000);
        assert!((270..=290).contains(&share), "{share}");
        for _ in 0..60 {
            server.saturation(1000);
        }
        let least = admitted(1000);
        assert!((95..=105).contains(&least), "never below a tenth: {least}");
        for _ in 0..30 {
            server.saturation(500);
        }
        assert_eq!(admitted(100), 100, "back to all");
        server.saturation(960);
        assert_eq!(admitted(100), 100, "just under saturation changes nothing");
    }
}
