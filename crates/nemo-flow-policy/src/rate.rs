//! Token buckets for `rate_limit` policies: `rate` calls per `per` seconds, up to `burst`
//! at once, one bucket per key. A mutex per policy keeps them exact under threads and
//! tasks; the clock is injectable so tests need no sleeps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What a bucket is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    /// The tool (or LLM call) name.
    Tool,
    /// The capability (the tool name when unmapped).
    Capability,
    /// The run: the call's `root_uuid`.
    Run,
    /// The value of the n-th bound variable.
    Bound(usize),
}

/// Monotonic seconds.
pub trait Clock: Send + Sync {
    /// Seconds since an arbitrary origin.
    fn now(&self) -> f64;
}

/// The process's monotonic clock.
pub struct SystemClock(Instant);

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// The shared system clock.
pub fn system_clock() -> Arc<dyn Clock> {
    static C: std::sync::LazyLock<Arc<SystemClock>> =
        std::sync::LazyLock::new(|| Arc::new(SystemClock(Instant::now())));
    C.clone()
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: f64,
}

/// One policy's buckets.
pub struct Limiter {
    /// Calls allowed per `per` seconds.
    pub rate: f64,
    /// Window in seconds.
    pub per: f64,
    /// Bucket capacity.
    pub burst: f64,
    /// Bucket key.
    pub key: RateKey,
    buckets: Mutex<HashMap<String, Bucket>>,
    clock: Mutex<Arc<dyn Clock>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Limiter({}/{}s, burst {}, {:?})",
            self.rate, self.per, self.burst, self.key
        )
    }
}

impl Limiter {
    /// A limiter on the system clock.
    pub fn new(rate: f64, per: f64, burst: f64, key: RateKey) -> Self {
        Self {
            rate,
            per,
            burst,
            key,
            buckets: Mutex::new(HashMap::new()),
            clock: Mutex::new(system_clock()),
        }
    }

    /// Replaces the clock (tests, backtests replaying recorded timestamps).
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = clock;
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Takes one token for `key`; `Err(seconds until one is available)` when empty.
    pub fn acquire(&self, key: &str) -> Result<(), f64> {
        let now = self.clock.lock().unwrap_or_else(|e| e.into_inner()).now();
        let refill = self.rate / self.per;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens = (b.tokens + (now - b.at).max(0.0) * refill).min(self.burst);
        b.at = b.at.max(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - b.tokens) / refill)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A clock that moves only when told to.
    pub struct ManualClock(pub AtomicU64);

    impl Clock for ManualClock {
        fn now(&self) -> f64 {
            self.0.load(Ordering::SeqCst) as f64 / 1000.0
        }
    }

    #[test]
    fn burst_then_refill_with_retry_hint() {
        let clock = Arc::new(ManualClock(AtomicU64::new(0)));
        let l = Limiter::new(2.0, 1.0, 3.0, RateKey::Tool);
        l.set_clock(clock.clone());
        assert!((0..3).all(|_| l.acquire("t").is_ok()));
        let wait = l.acquire("t").unwrap_err();
        assert!((wait - 0.5).abs() < 1e-9, "{wait}");
        assert!(l.acquire("other").is_ok(), "buckets are per key");
        clock.0.store(500, Ordering::SeqCst);
        assert!(l.acquire("t").is_ok());
        assert!(l.acquire("t").is_err());
    }

    #[test]
    fn exact_count_under_threads() {
        let clock = Arc::new(ManualClock(AtomicU64::new(0)));
        let l = Arc::new(Limiter::new(10.0, 60.0, 25.0, RateKey::Tool));
        l.set_clock(clock);
        let allowed = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        if l.acquire("k").is_ok() {
                            allowed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.load(Ordering::Relaxed), 25);
    }
}
