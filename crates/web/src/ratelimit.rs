//! Per-client request budgets for the token endpoint (fixed one-minute windows, in memory).
//!
//! Per replica on purpose: the token endpoint is hot, and a database round trip per request to
//! share a counter would cost more than the abuse it stops. Guessing, of user passwords and of
//! client credentials alike, is throttled in the database instead (shared by every replica,
//! see `Provider::client_gate`); this limit only protects the service from a client that calls
//! too often with valid credentials.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; beyond that, finished windows are dropped, and if that is not enough
/// the map starts over (made-up client ids cannot grow it without bound, nor lock out real
/// clients: the limit fails open for one window instead).
const MAX_ENTRIES: usize = 10_000;
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// `per_minute == 0` turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request for `key`. `Err(retry_after)` when the budget is spent.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() >= MAX_ENTRIES && !windows.contains_key(key) {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if windows.len() >= MAX_ENTRIES {
                windows.clear();
            }
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_minute {
            return Err(WINDOW.saturating_sub(now.duration_since(entry.0)));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_per_key_and_refills_each_window() {
        let rl = RateLimiter::new(2);
        let t0 = Instant::now();
        assert!(rl.check("a", t0).is_ok());
        assert!(rl.check("a", t0).is_ok());
        let wait = rl.check("a", t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(
            rl.check("b", t0).is_ok(),
            "another client has its own budget"
        );
        assert!(rl.check("a", t0 + WINDOW).is_ok(), "a new window starts");
    }

    #[test]
    fn a_full_map_never_refuses_a_newcomer() {
        let rl = RateLimiter::new(1);
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES {
            assert!(rl.check(&format!("junk{i}"), t0).is_ok());
        }
        assert!(rl.check("real", t0).is_ok());
    }

    #[test]
    fn zero_means_unlimited() {
        let rl = RateLimiter::new(0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(rl.check("a", t0).is_ok());
        }
    }
}
