//! Token buckets per key (a client address): `burst` requests at once, refilled at `rate`
//! per second. The table of keys is bounded; when it is full of active keys, new keys
//! share one overflow bucket, so a client with many addresses cannot grow it or escape the
//! limit entirely. Time is the caller's `now_ms`.

use std::collections::HashMap;
use std::sync::Mutex;

/// Most keys tracked at once.
const MAX_KEYS: usize = 10_000;
/// The key of the shared bucket for clients beyond [`MAX_KEYS`].
const OVERFLOW: &str = "*";

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

pub(crate) struct RateLimiter {
    rate_per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `rate_per_sec` 0: unlimited.
    pub(crate) fn new(rate_per_sec: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            rate_per_sec: f64::from(rate_per_sec),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, b: &mut Bucket, now_ms: i64) {
        let elapsed = (now_ms.saturating_sub(b.at_ms)).max(0) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * self.rate_per_sec).min(self.burst);
        b.at_ms = now_ms;
    }

    /// Takes one token for `key`; `false` when its bucket is empty.
    pub(crate) fn take(&self, key: &str, now_ms: i64) -> bool {
        if self.rate_per_sec <= 0.0 {
            return true;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(key) && buckets.len() >= MAX_KEYS {
            // Forget buckets that refilled completely: they are as good as new.
            let full_after_ms = (self.burst / self.rate_per_sec * 1000.0) as i64;
            buckets.retain(|k, b| k == OVERFLOW || now_ms.saturating_sub(b.at_ms) < full_after_ms);
        }
        let key = if buckets.contains_key(key) || buckets.len() < MAX_KEYS {
            key
        } else {
            OVERFLOW
        };
        let burst = self.burst;
        let b = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at_ms: now_ms,
        });
        let mut bucket = *b;
        self.refill(&mut bucket, now_ms);
        let ok = bucket.tokens >= 1.0;
        if ok {
            bucket.tokens -= 1.0;
        }
        *b = bucket;
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let r = RateLimiter::new(10, 5);
        for _ in 0..5 {
            assert!(r.take("a", 0));
        }
        assert!(!r.take("a", 0));
        assert!(r.take("b", 0), "keys are separate");
        assert!(!r.take("a", 50), "half a token");
        assert!(r.take("a", 100));
        assert!(!r.take("a", 100));
        for _ in 0..5 {
            assert!(r.take("a", 10_000));
        }
        assert!(!r.take("a", 10_000), "refills to the burst, not beyond");
        assert!(RateLimiter::new(0, 0).take("x", 0), "0: unlimited");
    }

    #[test]
    fn many_keys_share_one_overflow_bucket() {
        let r = RateLimiter::new(1, 2);
        for i in 0..MAX_KEYS {
            assert!(r.take(&format!("k{i}"), 0));
        }
        // Full of active keys: newcomers share the overflow bucket.
        assert!(r.take("new-1", 0));
        assert!(r.take("new-2", 0));
        assert!(!r.take("new-3", 0));
        assert!(r.buckets.lock().unwrap().len() <= MAX_KEYS + 1);
        // Once the old buckets refilled they are forgotten and new keys get their own.
        assert!(r.take("later", 10_000));
        assert!(r.take("later", 10_000));
        assert!(r.buckets.lock().unwrap().len() < 10);
    }
}
