//! Counting attempts per key (a username, a client address, the whole server) in a
//! sliding window: log-in failures and sign-ups.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

/// Keys tracked at most. Stale keys are swept on a timer ([`Throttle::sweep`]); an
/// attacker spraying fresh usernames faster than they go stale meets this cap, and
/// then attempts under new keys are refused until the sweep frees room (memory stays
/// bounded: about 16 MiB at the cap). Keys already tracked are unaffected.
pub const MAX_KEYS: usize = 100_000;

pub struct Throttle {
    limit: usize,
    window: Duration,
    max_keys: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    /// Allows `limit` failures per `window`; the next attempt is refused until the
    /// oldest of them leaves the window.
    pub fn new(limit: usize, window: Duration) -> Self {
        Self::with_max_keys(limit, window, MAX_KEYS)
    }

    fn with_max_keys(limit: usize, window: Duration, max_keys: usize) -> Self {
        Throttle {
            limit,
            window,
            max_keys,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        // The map holds counters only; one from a panicked thread is still usable.
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts an attempt for `key` now, unless `key` has used up its failures
    /// (`Err(wait)`): checking and counting in one step, before the slow password
    /// check, so that guesses sent in parallel cannot all pass the check before any of
    /// them is counted. A successful attempt takes its count back with [`Throttle::undo`].
    pub fn try_count(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut failures = self.lock();
        if !failures.contains_key(key) && failures.len() >= self.max_keys {
            return Err(self.window);
        }
        let times = failures.entry(key.to_string()).or_default();
        while times
            .front()
            .is_some_and(|&t| now.duration_since(t) >= self.window)
        {
            times.pop_front();
        }
        if times.len() >= self.limit {
            let oldest = *times.front().expect("limit is at least one");
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        times.push_back(now);
        Ok(())
    }

    /// Forgets the keys with no attempt left in the window; run on a timer.
    pub fn sweep(&self, now: Instant) {
        let window = self.window;
        self.lock().retain(|_, times| {
            times
                .back()
                .is_some_and(|&t| now.duration_since(t) < window)
        });
    }

    /// Takes back one attempt counted at `at` (it succeeded).
    pub fn undo(&self, key: &str, at: Instant) {
        let mut failures = self.lock();
        if let Some(times) = failures.get_mut(key) {
            if let Some(position) = times.iter().rposition(|&t| t == at) {
                times.remove(position);
            }
            if times.is_empty() {
                failures.remove(key);
            }
        }
    }

    pub fn clear(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn refuses_after_the_limit_until_the_window_passes() {
        let throttle = Throttle::new(5, MINUTE);
        let start = Instant::now();
        for i in 0..5 {
            let at = start + Duration::from_secs(i);
            assert!(throttle.try_count("alice", at).is_ok(), "attempt {i}");
        }
        let wait = throttle
            .try_count("alice", start + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // Other keys are unaffected.
        assert!(throttle.try_count("bob", start).is_ok());
        // The oldest failure leaves the window after 60 s: one more try is allowed.
        assert!(throttle.try_count("alice", start + MINUTE).is_ok());
    }

    #[test]
    fn success_clears_the_count() {
        let throttle = Throttle::new(2, MINUTE);
        let now = Instant::now();
        assert!(throttle.try_count("k", now).is_ok());
        assert!(throttle.try_count("k", now).is_ok());
        assert!(throttle.try_count("k", now).is_err());
        throttle.clear("k");
        assert!(throttle.try_count("k", now).is_ok());
    }

    #[test]
    fn counting_before_the_check_lets_only_the_limit_through() {
        let throttle = Throttle::new(3, MINUTE);
        let now = Instant::now();
        let passed = (0..10)
            .filter(|_| throttle.try_count("k", now).is_ok())
            .count();
        assert_eq!(passed, 3, "attempts in flight count at once");
        // A success takes its count back.
        throttle.undo("k", now);
        assert!(throttle.try_count("k", now).is_ok());
        assert!(throttle.try_count("k", now).is_err());
    }

    #[test]
    fn the_sweep_forgets_stale_keys_only() {
        let throttle = Throttle::new(1, MINUTE);
        let then = Instant::now();
        for i in 0..100 {
            assert!(throttle.try_count(&format!("user{i}"), then).is_ok());
        }
        assert!(throttle.try_count("fresh", then + MINUTE).is_ok());
        throttle.sweep(then + MINUTE);
        assert_eq!(throttle.lock().len(), 1, "only the fresh key is left");
        assert!(throttle.try_count("fresh", then + MINUTE).is_err());
    }

    #[test]
    fn beyond_the_key_cap_new_keys_wait_for_the_sweep() {
        let throttle = Throttle::with_max_keys(5, MINUTE, 3);
        let then = Instant::now();
        for key in ["a", "b", "c"] {
            assert!(throttle.try_count(key, then).is_ok());
        }
        assert_eq!(throttle.try_count("d", then), Err(MINUTE), "map full");
        assert!(
            throttle.try_count("a", then).is_ok(),
            "known keys still count"
        );
        assert_eq!(throttle.lock().len(), 3);
        throttle.sweep(then + MINUTE);
        assert!(throttle.try_count("d", then + MINUTE).is_ok());
    }
}
