//! Login throttling per account and per IP: too many failures in a window answer
//! "try again in N s" without checking the password at all.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_PER_ACCOUNT: usize = 5;
pub const MAX_PER_IP: usize = 20;

#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    fn keys(account: &str, ip: Option<&str>) -> [(String, usize); 2] {
        [
            (
                format!("account:{}", account.trim().to_lowercase()),
                MAX_PER_ACCOUNT,
            ),
            (format!("ip:{}", ip.unwrap_or("-")), MAX_PER_IP),
        ]
    }

    /// `Err(seconds)` when the account or the IP must wait.
    pub fn check(&self, account: &str, ip: Option<&str>, now: Instant) -> Result<(), u64> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = 0u64;
        for (key, max) in Self::keys(account, ip) {
            if let Some(times) = map.get_mut(&key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    times.pop_front();
                }
                if times.len() >= max {
                    if let Some(oldest) = times.front() {
                        let left = WINDOW.saturating_sub(now.duration_since(*oldest));
                        wait = wait.max(left.as_secs().max(1));
                    }
                }
            }
        }
        if wait > 0 {
            Err(wait)
        } else {
            Ok(())
        }
    }

    pub fn record_failure(&self, account: &str, ip: Option<&str>, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for (key, _) in Self::keys(account, ip) {
            map.entry(key).or_default().push_back(now);
        }
    }

    pub fn record_success(&self, account: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("account:{}", account.trim().to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_account_for_the_rest_of_the_window() {
        let t = Throttle::default();
        let start = Instant::now();
        for _ in 0..MAX_PER_ACCOUNT {
            assert!(t.check("Jane@x", Some("1.1.1.1"), start).is_ok());
            t.record_failure("Jane@x", Some("1.1.1.1"), start);
        }
        let wait = t
            .check("jane@x", Some("2.2.2.2"), start + Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(wait, WINDOW.as_secs() - 60);
        assert!(t.check("other@x", Some("2.2.2.2"), start).is_ok());
        assert!(t.check("jane@x", None, start + WINDOW).is_ok());
    }

    #[test]
    fn many_accounts_from_one_ip_lock_the_ip() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..MAX_PER_IP {
            t.record_failure(&format!("user{i}@x"), Some("9.9.9.9"), now);
        }
        assert!(t.check("fresh@x", Some("9.9.9.9"), now).is_err());
        assert!(t.check("fresh@x", Some("8.8.8.8"), now).is_ok());
    }
}
