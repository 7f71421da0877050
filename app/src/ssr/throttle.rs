//! Login throttling, shared by every server on the database: attempts are kept by
//! the store ([`Store::login_attempt`]), counted *before* the password is checked
//! under one lock, so parallel tries, on one server or several, cannot outrun the
//! limit. Failures count per account and source (a stranger's failures do not lock
//! the owner out from elsewhere), per source (one address trying many accounts),
//! and per account across all sources, where they only slow attempts down instead
//! of locking the account. Keys are stored as hashes (what was typed as an email
//! may be a password), and attempts older than the window are dropped as new ones
//! come, so the table holds at most one window of attempts.

use crate::store::{AttemptCount, Store, StoreError};
use chrono::{DateTime, Duration, Utc};

pub const WINDOW: Duration = Duration::minutes(15);
/// Attempts per account from one source, per window.
pub const MAX_PER_ACCOUNT: u64 = 5;
/// Attempts per source, whatever the account, per window.
pub const MAX_PER_IP: u64 = 20;
/// After this many failures on an account from anywhere in a window, attempts on
/// it are spaced by [`SLOW_DOWN`] (a slow-down, never a lock).
pub const ACCOUNT_SLOW_AFTER: u64 = 10;
pub const SLOW_DOWN: Duration = Duration::seconds(30);

/// A counted attempt: report its success with [`succeeded`] (a failure needs
/// nothing more: it was counted already).
#[derive(Debug)]
pub struct Attempt {
    pair_key: String,
    id: String,
}

/// The three keys an attempt counts under: account+source, source, account.
fn keys(account: &str, ip: Option<&str>) -> [String; 3] {
    let account = account.trim().to_lowercase();
    let ip = ip.unwrap_or("-");
    [
        format!("pair:{account}|{ip}"),
        format!("ip:{ip}"),
        format!("account:{account}"),
    ]
    .map(|k| super::secrets::token_hash(&k))
}

/// The rules: `Err(seconds to wait)` when the attempt must not go ahead. `counts`
/// are the attempts in the window under the keys of [`keys`], in that order.
pub fn decide(counts: &[AttemptCount], now: DateTime<Utc>) -> Result<(), u64> {
    let mut wait = Duration::zero();
    for (count, max) in counts.iter().zip([MAX_PER_ACCOUNT, MAX_PER_IP]) {
        if count.count >= max {
            if let Some(oldest) = count.oldest {
                wait = wait.max(WINDOW - (now - oldest));
            }
        }
    }
    if let Some(account) = counts.get(2) {
        if account.count >= ACCOUNT_SLOW_AFTER {
            if let Some(newest) = account.newest {
                wait = wait.max(SLOW_DOWN - (now - newest));
            }
        }
    }
    if wait > Duration::zero() {
        Err(u64::try_from(wait.num_seconds()).unwrap_or(0).max(1))
    } else {
        Ok(())
    }
}

/// Counts an attempt, or answers `Err(seconds to wait)` without counting it.
pub async fn attempt(
    store: &dyn Store,
    account: &str,
    ip: Option<&str>,
) -> Result<Result<Attempt, u64>, StoreError> {
    let keys = keys(account, ip);
    let id = super::secrets::random_token();
    let now = store.clock().now();
    let answer = store
        .login_attempt(&keys, now - WINDOW, &id, &decide)
        .await?;
    let [pair_key, ..] = keys;
    Ok(answer.map(|()| Attempt { pair_key, id }))
}

/// The attempt logged in: it and the account's earlier failures from this source
/// no longer count.
pub async fn succeeded(store: &dyn Store, attempt: Attempt) -> Result<(), StoreError> {
    store.login_succeeded(&attempt.pair_key, &attempt.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn count(count: u64, oldest: i64, newest: i64) -> AttemptCount {
        AttemptCount {
            count,
            oldest: (count > 0).then(|| at(oldest)),
            newest: (count > 0).then(|| at(newest)),
        }
    }

    #[test]
    fn five_per_account_and_source_then_wait_for_the_oldest_to_leave_the_window() {
        let none = count(0, 0, 0);
        assert!(decide(&[count(4, 0, 1), count(4, 0, 1), count(4, 0, 1)], at(1)).is_ok());
        let wait = decide(&[count(5, 0, 1), count(5, 0, 1), count(5, 0, 1)], at(1)).unwrap_err();
        assert_eq!(wait, (WINDOW - Duration::minutes(1)).num_seconds() as u64);
        // Another source (its pair and source keys are empty) goes ahead.
        assert!(decide(&[none.clone(), none, count(5, 0, 1)], at(1)).is_ok());
    }

    #[test]
    fn one_source_trying_many_accounts_waits() {
        let none = count(0, 0, 0);
        assert!(decide(&[none.clone(), count(20, 0, 2), none.clone()], at(2)).is_err());
        assert!(decide(&[none.clone(), count(19, 0, 2), none], at(2)).is_ok());
    }

    #[test]
    fn failures_from_everywhere_slow_an_account_down_but_never_lock_it() {
        let none = count(0, 0, 0);
        let wait = decide(&[none.clone(), none.clone(), count(10, 0, 3)], at(3)).unwrap_err();
        assert_eq!(wait, SLOW_DOWN.num_seconds() as u64);
        let later = at(3) + SLOW_DOWN;
        assert!(decide(&[none.clone(), none, count(50, 0, 3)], later).is_ok());
    }

    #[test]
    fn keys_do_not_keep_what_was_typed() {
        let typed = "Plantedtypedpw!9";
        for key in keys(typed, Some("192.0.2.1")) {
            assert!(!key.to_lowercase().contains("planted"), "{key}");
            assert_eq!(key.len(), 64);
        }
        assert_eq!(keys(" Jane@X ", None), keys("jane@x", None));
    }
}
