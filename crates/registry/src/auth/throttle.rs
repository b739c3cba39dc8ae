//! Throttling of failed logins, per source address and per account: after `limit`
//! failures within a window, further password checks for that key are refused (429 with
//! `Retry-After`) until the window ends, without running the password hash. A correct
//! login from the verified-login cache is never throttled, so a client that logged in
//! before an attack keeps working while an attacker hammers its account.
//!
//! Kept per process (each replica throttles what it sees). The number of keys is bounded:
//! when the table is full and nothing in it has expired, the oldest window makes room.
//! Account keys are only ever names of accounts that exist (the caller checks), so only
//! sources can crowd the table.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Failed-login limits (`[auth]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Length of the window in which failures are counted.
    pub window: Duration,
    /// Failures from one source address per window before it is throttled; 0: off.
    pub per_source: u32,
    /// Failures for one account name per window before it is throttled; 0: off.
    pub per_account: u32,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            window: Duration::from_secs(300),
            per_source: 30,
            per_account: 10,
        }
    }
}

/// Most keys (sources plus accounts) tracked at once.
const MAX_KEYS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Source(String),
    Account(String),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: i64,
    failures: u32,
}

pub(super) struct Throttle {
    settings: ThrottleSettings,
    windows: Mutex<HashMap<Key, Window>>,
}

impl Throttle {
    pub(super) fn new(settings: ThrottleSettings) -> Throttle {
        Throttle {
            settings,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.settings.window.as_millis()).unwrap_or(i64::MAX)
    }

    fn limit(&self, key: &Key) -> u32 {
        match key {
            Key::Source(_) => self.settings.per_source,
            Key::Account(_) => self.settings.per_account,
        }
    }

    fn keys(source: &str, account: &str) -> [Key; 2] {
        [
            Key::Source(source.to_owned()),
            Key::Account(account.to_owned()),
        ]
    }

    /// `Some(seconds to wait)` when `source` or `account` used up its failures.
    pub(super) fn check(&self, source: &str, account: &str, now_ms: i64) -> Option<u64> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window_ms = self.window_ms();
        Self::keys(source, account)
            .iter()
            .filter_map(|k| {
                let limit = self.limit(k);
                let w = windows.get(k)?;
                let ends = w.start_ms.saturating_add(window_ms);
                (limit > 0 && w.failures >= limit && now_ms < ends)
                    .then(|| u64::try_from((ends - now_ms + 999) / 1000).unwrap_or(1))
            })
            .max()
    }

    /// Counts a failed login: against the source, and against the account when it exists.
    pub(super) fn failed(&self, source: &str, account: Option<&str>, now_ms: i64) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window_ms = self.window_ms();
        let keys = Self::keys(source, account.unwrap_or(""));
        let keys = if account.is_some() {
            &keys[..]
        } else {
            &keys[..1]
        };
        for key in keys.iter().cloned() {
            if self.limit(&key) == 0 {
                continue;
            }
            if !windows.contains_key(&key) && windows.len() >= MAX_KEYS {
                windows.retain(|_, w| now_ms < w.start_ms.saturating_add(window_ms));
                if windows.len() >= MAX_KEYS {
                    // Still full of live windows: the oldest goes, so that a new key is
                    // always tracked (filling the table must not switch throttling off).
                    let oldest = windows
                        .iter()
                        .min_by_key(|(_, w)| w.start_ms)
                        .map(|(k, _)| k.clone());
                    if let Some(k) = oldest {
                        windows.remove(&k);
                    }
                }
            }
            let w = windows.entry(key).or_insert(Window {
                start_ms: now_ms,
                failures: 0,
            });
            if now_ms >= w.start_ms.saturating_add(window_ms) {
                *w = Window {
                    start_ms: now_ms,
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
        }
    }

    /// A correct login clears the account's failures (not the source's: one right password
    /// must not reset a source that is guessing others).
    pub(super) fn succeeded(&self, account: &str) {
        self.windows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&Key::Account(account.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_throttle_until_the_window_ends() {
        let t = Throttle::new(ThrottleSettings {
            window: Duration::from_secs(60),
            per_source: 5,
            per_account: 3,
        });
        for i in 0..3 {
            assert_eq!(t.check("10.0.0.1", "alice", i), None);
            t.failed("10.0.0.1", Some("alice"), i);
        }
        // The account is used up; another account from the same source is not, yet.
        assert_eq!(t.check("10.0.0.9", "alice", 10), Some(60));
        assert_eq!(t.check("10.0.0.1", "bob", 10), None);
        t.failed("10.0.0.1", Some("bob"), 10);
        t.failed("10.0.0.1", Some("bob"), 10);
        assert_eq!(t.check("10.0.0.1", "carol", 10_000), Some(50));
        // Windows end; a success clears the account only.
        assert_eq!(t.check("10.0.0.2", "alice", 60_000), None);
        t.failed("10.0.0.2", Some("dave"), 1);
        t.failed("10.0.0.2", Some("dave"), 1);
        t.failed("10.0.0.2", Some("dave"), 1);
        t.succeeded("dave");
        assert_eq!(t.check("10.0.0.3", "dave", 2), None);
    }

    #[test]
    fn zero_turns_a_limit_off_and_the_table_is_bounded() {
        let t = Throttle::new(ThrottleSettings {
            window: Duration::from_secs(60),
            per_source: 0,
            per_account: 1,
        });
        t.failed("s", Some("a"), 0);
        assert_eq!(t.check("other", "a", 1), Some(60));
        assert_eq!(t.check("s", "b", 1), None);
        for i in 0..(MAX_KEYS + 10) {
            t.failed("s", Some(&format!("user{i}")), 0);
        }
        assert!(t.windows.lock().unwrap().len() <= MAX_KEYS);
        // A full table still tracks a new key (the oldest window made room).
        assert_eq!(t.check("s", &format!("user{}", MAX_KEYS + 9), 1), Some(60));
        // Expired windows make room again.
        t.failed("s", Some("late"), 61_000);
        assert_eq!(t.check("s", "late", 61_001), Some(60));
    }
}
