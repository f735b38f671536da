//! Counting failed log-ins per key (a username, a client address) in a sliding window.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

/// Past this many tracked keys, stale ones are swept on the next attempt, so an
/// attacker spraying usernames cannot grow the map without bound.
const SWEEP_ABOVE: usize = 10_000;

pub struct Throttle {
    limit: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    /// Allows `limit` failures per `window`; the next attempt is refused until the
    /// oldest of them leaves the window.
    pub fn new(limit: usize, window: Duration) -> Self {
        Throttle {
            limit,
            window,
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
        self.sweep_if_large(&mut failures, now);
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

    fn sweep_if_large(&self, failures: &mut HashMap<String, VecDeque<Instant>>, now: Instant) {
        if failures.len() > SWEEP_ABOVE {
            let window = self.window;
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|&t| now.duration_since(t) < window)
            });
        }
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
    fn stale_keys_are_swept_when_many() {
        let throttle = Throttle::new(1, MINUTE);
        let then = Instant::now();
        for i in 0..=SWEEP_ABOVE {
            assert!(throttle.try_count(&format!("user{i}"), then).is_ok());
        }
        assert!(throttle.try_count("fresh", then + 2 * MINUTE).is_ok());
        assert_eq!(throttle.lock().len(), 1);
    }
}
