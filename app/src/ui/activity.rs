//! The picture of activity above a feed: entries over time for the current filters,
//! one bar per bucket (its count on hover and to screen readers). Dragging over a
//! span, or clicking a bar, makes that span the timeframe.

use super::filters::ViewQuery;
use crate::api::ViewSummary;
use chrono::{DateTime, Local, Utc};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

/// How a bucket length reads: "1 hour", "7 days".
pub fn bucket_words(ms: i64) -> String {
    let minutes = ms / 60_000;
    let (n, unit) = match minutes {
        m if m % 1_440 == 0 => (m / 1_440, "day"),
        m if m % 60 == 0 => (m / 60, "hour"),
        m => (m, "minute"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// A bucket's start, `i` buckets after the first.
pub fn bucket_start(s: &ViewSummary, i: usize) -> DateTime<Utc> {
    s.from + chrono::Duration::milliseconds(s.bucket_ms * i as i64)
}

/// A bound as the custom range's `from`/`to` hold a time: local, to the minute.
pub fn local_minute(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%dT%H:%M").to_string()
}

/// The view with buckets `a..=b` (in either order) as its timeframe.
pub fn spanned(q: &ViewQuery, s: &ViewSummary, a: usize, b: usize) -> ViewQuery {
    let (lo, hi) = (a.min(b), a.max(b));
    q.with("range", "custom")
        .with("from", &local_minute(bucket_start(s, lo)))
        .with("to", &local_minute(bucket_start(s, hi + 1)))
}

fn when(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%a %-d %b %Y %H:%M")
        .to_string()
}

#[component]
pub fn Activity(summary: ViewSummary, path: String, view_query: Memo<ViewQuery>) -> impl IntoView {
    let navigate = use_navigate();
    let n = summary.counts.len().max(1);
    let max = summary.counts.iter().copied().max().unwrap_or(0).max(1);
    let total: u64 = summary.counts.iter().sum();
    let drag = RwSignal::new(None::<(usize, usize)>);
    let area = NodeRef::<leptos::html::Div>::new();
    // The bucket under a pointer's x.
    let bucket_at = move |client_x: i32| -> usize {
        #[cfg(target_arch = "wasm32")]
        {
            let Some(el) = area.get_untracked() else {
                return 0;
            };
            let rect = el.get_bounding_client_rect();
            let f =
                ((f64::from(client_x) - rect.left()) / rect.width().max(1.0)).clamp(0.0, 0.999_999);
            (f * n as f64) as usize
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = (client_x, area);
            0
        }
    };
    let s = StoredValue::new(summary.clone());
    let finish = move |b: usize| {
        if let Some((a, _)) = drag.get_untracked() {
            drag.set(None);
            let next = spanned(&view_query.get_untracked(), &s.get_value(), a, b);
            navigate(&next.href(&path), Default::default());
        }
    };
    let bars = summary
        .counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let h = if count == 0 {
                0.0
            } else {
                (count as f64 / max as f64 * 100.0).max(3.0)
            };
            let tip = format!(
                "{} – {}: {count} entr{}",
                when(bucket_start(&summary, i)),
                when(bucket_start(&summary, i + 1)),
                if count == 1 { "y" } else { "ies" }
            );
            view! {
                <rect class="bar" x=format!("{:.3}", i as f64 + 0.1) width="0.8"
                    y=format!("{:.3}", 100.0 - h) height=format!("{h:.3}") data-count=count>
                    <title>{tip}</title>
                </rect>
            }
        })
        .collect_view();
    let label = format!(
        "{total} entries from {} to {}, one bar per {}. Drag over a span, or click a bar, to show only that time.",
        when(summary.from),
        when(bucket_start(&summary, n)),
        bucket_words(summary.bucket_ms)
    );
    view! {
        <figure class="activity">
            <div class="activity-area" node_ref=area
                on:pointerdown=move |ev| {
                    ev.prevent_default();
                    let b = bucket_at(ev.client_x());
                    drag.set(Some((b, b)));
                }
                on:pointermove=move |ev| {
                    if drag.get_untracked().is_some() {
                        let b = bucket_at(ev.client_x());
                        drag.update(|d| if let Some(d) = d { d.1 = b });
                    }
                }
                on:pointerup=move |ev| finish(bucket_at(ev.client_x()))
                on:pointerleave=move |_| drag.set(None)>
                <svg viewBox=format!("0 0 {n} 100") preserveAspectRatio="none" role="img" aria-label=label.clone()>
                    {bars}
                </svg>
                {move || drag.get().map(|(a, b)| {
                    let (lo, hi) = (a.min(b), a.max(b));
                    view! {
                        <div class="activity-selection" style=format!(
                            "left:{:.3}%;width:{:.3}%",
                            lo as f64 * 100.0 / n as f64,
                            (hi - lo + 1) as f64 * 100.0 / n as f64
                        )></div>
                    }
                })}
            </div>
            <figcaption>
                <span>{when(summary.from)}</span>
                <span class="activity-total">{format!("{total} entries · one bar per {}", bucket_words(summary.bucket_ms))}</span>
                <span>{when(bucket_start(&summary, n))}</span>
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_read_in_words() {
        assert_eq!(bucket_words(60_000), "1 minute");
        assert_eq!(bucket_words(15 * 60_000), "15 minutes");
        assert_eq!(bucket_words(3 * 3_600_000), "3 hours");
        assert_eq!(bucket_words(7 * 86_400_000), "7 days");
    }

    #[test]
    fn a_drag_in_either_direction_sets_the_same_span() {
        let s = ViewSummary {
            from: DateTime::parse_from_rfc3339("2026-11-30T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            bucket_ms: 3_600_000,
            counts: vec![1; 24],
            ..ViewSummary::default()
        };
        let q = ViewQuery::default();
        let forward = spanned(&q, &s, 14, 16);
        assert_eq!(forward, spanned(&q, &s, 16, 14));
        assert_eq!(forward.get("range"), Some("custom"));
        let f = forward.filter(Utc::now());
        assert_eq!(f.since, Some(bucket_start(&s, 14)));
        assert_eq!(
            f.until,
            Some(bucket_start(&s, 17)),
            "the last bar counts whole"
        );
    }
}
