//! Token buckets: how fast someone may do a thing, with a burst above that.

use std::{collections::HashMap, time::Instant};

/// One token bucket, refilled at `rate` tokens a second up to `burst`.
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Bucket {
            rate,
            burst,
            tokens: burst,
            at: now,
        }
    }

    /// Takes one token; `false` when the bucket is empty.
    pub fn allow(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One bucket per user id, refilled at `rate` tokens a second up to `burst`.
pub struct Buckets {
    rate: f64,
    burst: f64,
    buckets: HashMap<i64, Bucket>,
}

impl Buckets {
    pub fn new(rate: f64, burst: f64) -> Self {
        Buckets {
            rate,
            burst,
            buckets: HashMap::new(),
        }
    }

    /// Takes one token from `user_id`'s bucket; `false` when it is empty.
    pub fn allow(&mut self, user_id: i64, now: Instant) -> bool {
        let (rate, burst) = (self.rate, self.burst);
        self.buckets
            .entry(user_id)
            .or_insert_with(|| Bucket::new(rate, burst, now))
            .allow(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let mut buckets = Buckets::new(10.0, 20.0);
        let now = Instant::now();
        assert_eq!((0..30).filter(|_| buckets.allow(1, now)).count(), 20);
        assert!(buckets.allow(2, now), "another user has their own bucket");
        // 100 ms later one token is back.
        assert!(buckets.allow(1, now + Duration::from_millis(100)));
        assert!(!buckets.allow(1, now + Duration::from_millis(100)));
    }
}
