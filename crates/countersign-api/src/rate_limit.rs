//! Per-API-key rate limit: a fixed one-minute window, counted in this process.
//!
//! Dropbox Sign answers every authenticated call with `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-Ratelimit-Reset` (sic), and with `429 exceeded_rate` once the window's budget is spent. With
//! several nodes on one PostgreSQL database each node counts on its own, so the effective limit is
//! per node; a shared counter can come with the multi-node work.

use std::collections::HashMap;
use std::sync::Mutex;

use countersign_domain::time::unix_now;

pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<Vec<u8>, Window>>,
}

struct Window {
    started: i64,
    used: u32,
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds at which the window resets.
    pub reset_at: i64,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, windows: Mutex::new(HashMap::new()) }
    }

    pub fn enabled(&self) -> bool {
        self.per_minute > 0
    }

    /// Counts one request for `key` (an API key digest) at time `now`.
    pub fn check_at(&self, key: &[u8], now: i64) -> RateDecision {
        let window_start = now - now.rem_euclid(60);
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, w| w.started == window_start);
        }
        let window = windows.entry(key.to_vec()).or_insert(Window { started: window_start, used: 0 });
        if window.started != window_start {
            *window = Window { started: window_start, used: 0 };
        }
        let allowed = window.used < self.per_minute;
        if allowed {
            window.used += 1;
        }
        RateDecision {
            allowed,
            limit: self.per_minute,
            remaining: self.per_minute - window.used,
            reset_at: window_start + 60,
        }
    }

    pub fn check(&self, key: &[u8]) -> RateDecision {
        self.check_at(key, unix_now())
    }

    /// Whether `key`'s budget for this window is spent, without counting a request.
    pub fn exhausted_at(&self, key: &[u8], now: i64) -> Option<RateDecision> {
        let window_start = now - now.rem_euclid(60);
        let windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let window = windows.get(key).filter(|w| w.started == window_start)?;
        (window.used >= self.per_minute).then_some(RateDecision {
            allowed: false,
            limit: self.per_minute,
            remaining: 0,
            reset_at: window_start + 60,
        })
    }

    pub fn exhausted(&self, key: &[u8]) -> Option<RateDecision> {
        self.exhausted_at(key, unix_now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_spent_then_refilled_next_minute() {
        let limiter = RateLimiter::new(2);
        let t = 1_700_000_040;
        assert_eq!(limiter.check_at(b"k", t).remaining, 1);
        assert!(limiter.check_at(b"k", t + 1).allowed);
        let refused = limiter.check_at(b"k", t + 2);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset_at, 1_700_000_100);
        assert!(limiter.check_at(b"other", t + 2).allowed, "keys are counted apart");
        assert!(limiter.check_at(b"k", t + 61).allowed);
    }

    #[test]
    fn exhausted_looks_without_counting() {
        let limiter = RateLimiter::new(1);
        let t = 1_700_000_040;
        assert!(limiter.exhausted_at(b"ip", t).is_none());
        assert!(limiter.exhausted_at(b"ip", t).is_none(), "looking spends nothing");
        limiter.check_at(b"ip", t);
        assert_eq!(limiter.exhausted_at(b"ip", t + 1).unwrap().reset_at, 1_700_000_100);
        assert!(limiter.exhausted_at(b"ip", t + 60).is_none(), "a new window starts afresh");
    }
}
