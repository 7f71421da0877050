//! Login throttling. An attempt is counted *before* the password is checked, under
//! one lock, so parallel tries cannot outrun the limit. Failures count per account
//! and source (a stranger's failures do not lock the owner out from elsewhere), per
//! source (one address trying many accounts), and per account across all sources,
//! where they only slow attempts down instead of locking the account. Memory is
//! bounded: expired windows are dropped, and past a cap the stalest keys go first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Attempts per account from one source, per window.
pub const MAX_PER_ACCOUNT: usize = 5;
/// Attempts per source, whatever the account, per window.
pub const MAX_PER_IP: usize = 20;
/// After this many failures on an account from anywhere in a window, attempts on
/// it are spaced by [`SLOW_DOWN`] (a slow-down, never a lock).
pub const ACCOUNT_SLOW_AFTER: usize = 10;
pub const SLOW_DOWN: Duration = Duration::from_secs(30);
/// At most this many keys are remembered.
pub const MAX_KEYS: usize = 10_000;

#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// A counted attempt: report its outcome with [`Throttle::succeeded`] (a failure
/// needs nothing more: it was counted already).
#[derive(Debug)]
pub struct Attempt {
    account: String,
    ip: String,
    at: Instant,
}

fn account_key(account: &str) -> String {
    account.trim().to_lowercase()
}

fn drop_expired(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
    {
        times.pop_front();
    }
}

impl Throttle {
    /// Counts an attempt, or answers `Err(seconds to wait)` without counting it.
    pub fn attempt(&self, account: &str, ip: Option<&str>, now: Instant) -> Result<Attempt, u64> {
        let account = account_key(account);
        let ip = ip.unwrap_or("-").to_owned();
        let pair = format!("pair:{account}|{ip}");
        let source = format!("ip:{ip}");
        let global = format!("account:{account}");
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for (key, max) in [(&pair, MAX_PER_ACCOUNT), (&source, MAX_PER_IP)] {
            if let Some(times) = map.get_mut(key) {
                drop_expired(times, now);
                if times.len() >= max {
                    if let Some(oldest) = times.front() {
                        wait =
                            wait.max(WINDOW.saturating_sub(now.saturating_duration_since(*oldest)));
                    }
                }
            }
        }
        if let Some(times) = map.get_mut(&global) {
            drop_expired(times, now);
            if times.len() >= ACCOUNT_SLOW_AFTER {
                if let Some(last) = times.back() {
                    wait = wait.max(SLOW_DOWN.saturating_sub(now.saturating_duration_since(*last)));
                }
            }
        }
        if !wait.is_zero() {
            return Err(wait.as_secs().max(1));
        }
        for key in [pair, source, global] {
            map.entry(key).or_default().push_back(now);
        }
        if map.len() > MAX_KEYS {
            map.retain(|_, times| {
                drop_expired(times, now);
                !times.is_empty()
            });
            while map.len() > MAX_KEYS {
                let stalest = map
                    .iter()
                    .min_by_key(|(_, t)| t.back().copied())
                    .map(|(k, _)| k.clone());
                match stalest {
                    Some(k) => map.remove(&k),
                    None => break,
                };
            }
        }
        Ok(Attempt {
            account,
            ip,
            at: now,
        })
    }

    /// The attempt logged in: it and the account's earlier failures from this source
    /// no longer count.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("pair:{}|{}", attempt.account, attempt.ip));
        for key in [
            format!("ip:{}", attempt.ip),
            format!("account:{}", attempt.account),
        ] {
            if let Some(times) = map.get_mut(&key) {
                if let Some(i) = times.iter().rposition(|t| *t == attempt.at) {
                    times.remove(i);
                }
            }
        }
    }

    /// How many keys are remembered (for tests of the memory bound).
    pub fn len(&self) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_attempts_per_account_and_source_then_wait() {
        let t = Throttle::default();
        let start = Instant::now();
        for _ in 0..MAX_PER_ACCOUNT {
            assert!(t.attempt("Jane@x", Some("1.1.1.1"), start).is_ok());
        }
        let wait = t
            .attempt("jane@x", Some("1.1.1.1"), start + Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(wait, WINDOW.as_secs() - 60);
        // The owner, from elsewhere, still gets in.
        assert!(t.attempt("jane@x", Some("2.2.2.2"), start).is_ok());
        assert!(t.attempt("other@x", Some("1.1.1.1"), start).is_ok());
        assert!(t.attempt("jane@x", Some("1.1.1.1"), start + WINDOW).is_ok());
    }

    #[test]
    fn many_accounts_from_one_source_make_it_wait() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..MAX_PER_IP {
            t.attempt(&format!("user{i}@x"), Some("9.9.9.9"), now)
                .unwrap();
        }
        assert!(t.attempt("fresh@x", Some("9.9.9.9"), now).is_err());
        assert!(t.attempt("fresh@x", Some("8.8.8.8"), now).is_ok());
    }

    #[test]
    fn failures_from_everywhere_slow_an_account_down_but_never_lock_it() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..ACCOUNT_SLOW_AFTER {
            t.attempt("jane@x", Some(&format!("10.0.0.{i}")), now)
                .unwrap();
        }
        let wait = t.attempt("jane@x", Some("192.0.2.1"), now).unwrap_err();
        assert_eq!(wait, SLOW_DOWN.as_secs());
        assert!(t
            .attempt("jane@x", Some("192.0.2.1"), now + SLOW_DOWN)
            .is_ok());
    }

    #[test]
    fn parallel_attempts_cannot_outrun_the_limit() {
        let t = std::sync::Arc::new(Throttle::default());
        let now = Instant::now();
        let allowed: usize = (0..40)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || t.attempt("jane@x", Some("1.1.1.1"), now).is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum();
        assert_eq!(allowed, MAX_PER_ACCOUNT);
    }

    #[test]
    fn memory_is_bounded() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..(MAX_KEYS + 500) {
            let _ = t.attempt(&format!("u{i}@x"), Some(&format!("ip{i}")), now);
        }
        assert!(t.len() <= MAX_KEYS, "{}", t.len());
    }
}
