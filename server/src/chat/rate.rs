//! Token buckets per user: how fast someone may do a thing, with a burst above that.

use std::{collections::HashMap, time::Instant};

struct Bucket {
    tokens: f64,
    at: Instant,
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
        let bucket = self.buckets.entry(user_id).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
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
