//! How times read in the feed: relative ("2 hours ago") or absolute in the viewer's
//! time zone (a toggle, remembered in the browser), the exact UTC time on hover, and
//! the day separators between entries.

use chrono::{DateTime, Utc};

pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    if secs < 0 {
        return "in the future".to_owned();
    }
    let (n, unit) = match secs {
        0..=44 => return "just now".to_owned(),
        45..=3_599 => ((secs + 30) / 60, "minute"),
        3_600..=86_399 => ((secs + 1_800) / 3_600, "hour"),
        86_400..=2_591_999 => ((secs + 43_200) / 86_400, "day"),
        2_592_000..=31_535_999 => ((secs + 1_296_000) / 2_592_000, "month"),
        _ => (secs / 31_536_000, "year"),
    };
    let n = n.max(1);
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

pub fn utc_title(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

/// The viewer's local time.
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// What a time shows on hover: local time, and UTC.
pub fn time_title(t: DateTime<Utc>) -> String {
    format!("{} local · {}", local(t), utc_title(t))
}

/// The viewer's time zone as an offset from UTC, e.g. `UTC+01:00`.
pub fn zone_name() -> String {
    format!("UTC{}", chrono::Local::now().format("%:z"))
}

/// A feed time as the viewer chose to read them.
pub fn shown(t: DateTime<Utc>, now: DateTime<Utc>, absolute: bool) -> String {
    if absolute {
        local(t)
    } else {
        relative(t, now)
    }
}

/// The heading of a day in the feed: "Today", "Yesterday", or the date in words.
pub fn day_label(day: chrono::NaiveDate, today: chrono::NaiveDate) -> String {
    if day == today {
        "Today".to_owned()
    } else if today.pred_opt() == Some(day) {
        "Yesterday".to_owned()
    } else {
        day.format("%A %-d %B %Y").to_string()
    }
}

/// The local day of a time.
pub fn local_day(t: DateTime<Utc>) -> chrono::NaiveDate {
    t.with_timezone(&chrono::Local).date_naive()
}

const TIMES_KEY: &str = "stele.times";

/// Whether the viewer last chose absolute times (stored in the browser).
pub fn absolute_remembered() -> bool {
    storage()
        .and_then(|s| s.get_item(TIMES_KEY).ok().flatten())
        .is_some_and(|v| v == "absolute")
}

pub fn remember_absolute(absolute: bool) {
    if let Some(s) = storage() {
        let _ = s.set_item(TIMES_KEY, if absolute { "absolute" } else { "relative" });
    }
}

fn storage() -> Option<web_sys::Storage> {
    #[cfg(target_arch = "wasm32")]
    {
        web_sys::window().and_then(|w| w.local_storage().ok().flatten())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc::now();
        assert_eq!(relative(now - Duration::seconds(10), now), "just now");
        assert_eq!(relative(now - Duration::minutes(1), now), "1 minute ago");
        assert_eq!(relative(now - Duration::hours(2), now), "2 hours ago");
        assert_eq!(relative(now - Duration::days(3), now), "3 days ago");
        assert_eq!(relative(now - Duration::days(400), now), "1 year ago");
    }

    #[test]
    fn days_are_named_near_today_and_dated_before() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert_eq!(day_label(today, today), "Today");
        assert_eq!(day_label(today.pred_opt().unwrap(), today), "Yesterday");
        assert_eq!(
            day_label(
                chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
                today
            ),
            "Monday 30 November 2026"
        );
    }
}
