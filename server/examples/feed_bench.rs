//! Feed latency benchmark: times the store's answer to each kind of feed query on a
//! real database and prints p50 / p95 / max per kind.
//!
//! ```sh
//! target/release/stele demo --data-dir /tmp/bench --tenant bench --events 1000000 --days 365
//! cargo run --release -p server --example feed_bench -- /tmp/bench/stele.db bench
//! # the same data on PostgreSQL:
//! createdb -h 127.0.0.1 -U postgres stele_bench
//! target/release/stele copy --from sqlite:///tmp/bench/stele.db --to postgres://postgres@127.0.0.1/stele_bench
//! cargo run --release -p server --example feed_bench -- postgres://postgres@127.0.0.1/stele_bench bench
//! ```

use app::api::{FeedFilter, COUNT_CAP};
use app::catalog::{Action, Category, EventType};
use app::store::EntryQuery;
use chrono::{Duration, Utc};
use std::time::Instant;

const RUNS: usize = 40;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn print_row(name: &str, mut times: Vec<f64>) {
    times.sort_by(f64::total_cmp);
    println!(
        "{name:<34} {:>9.2} {:>9.2} {:>9.2}",
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        times[times.len() - 1]
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(slug)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: feed_bench DB_FILE|DATABASE_URL TENANT_SLUG");
    };
    let started = Instant::now();
    let url = if path.contains("://") {
        path.clone()
    } else {
        format!("sqlite://{path}")
    };
    let store = server::store::open(&url).await?;
    println!(
        "opened (and migrated) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let tenant = store
        .tenant_by_slug(slug)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tenant {slug}"))?;
    let (total, _) = store
        .count(
            &EntryQuery {
                tenant_id: Some(tenant.id),
                ..EntryQuery::default()
            },
            u64::MAX - 1,
        )
        .await?;
    println!("tenant {slug}: {total} entries");
    let newest = store
        .list(&EntryQuery {
            tenant_id: Some(tenant.id),
            limit: 1,
            ..EntryQuery::default()
        })
        .await?;
    let head = newest.first().map_or(1, |e| e.seq);
    let sample = store
        .list(&EntryQuery {
            tenant_id: Some(tenant.id),
            cursor: Some(head / 2),
            limit: 1,
            ..EntryQuery::default()
        })
        .await?;
    let mid = sample
        .first()
        .map(|e| e.occurred_at)
        .unwrap_or_else(Utc::now);
    let actor = sample
        .first()
        .and_then(|e| e.actor.id.clone())
        .unwrap_or_default();
    let now = Utc::now();

    let f = FeedFilter::default;
    let kinds: Vec<(&str, Vec<FeedFilter>)> = vec![
        ("first page", vec![f()]),
        (
            "category",
            Category::ALL
                .iter()
                .map(|c| FeedFilter {
                    category: Some((*c).into()),
                    ..f()
                })
                .collect(),
        ),
        (
            "action",
            [Action::Create, Action::Update, Action::Delete]
                .iter()
                .map(|a| FeedFilter {
                    action: Some(*a),
                    ..f()
                })
                .collect(),
        ),
        (
            "event type",
            [
                EventType::ExtensionUpdated,
                EventType::TrunkDeleted,
                EventType::AuthMfaFailed,
            ]
            .iter()
            .map(|t| FeedFilter {
                event_type: Some((*t).into()),
                ..f()
            })
            .collect(),
        ),
        (
            "target kind + id",
            vec![FeedFilter {
                target_kind: Some("extension".into()),
                target_id: Some("142".into()),
                ..f()
            }],
        ),
        (
            "actor",
            vec![
                FeedFilter {
                    actor: Some(actor.clone()),
                    ..f()
                },
                FeedFilter {
                    actor: Some("system".into()),
                    ..f()
                },
            ],
        ),
        (
            "resource name",
            vec![
                FeedFilter {
                    resource: Some("Acme HQ".into()),
                    ..f()
                },
                FeedFilter {
                    resource: Some("Reception".into()),
                    ..f()
                },
            ],
        ),
        (
            "timeframe 24h/7d/30d/90d/365d",
            [1, 7, 30, 90, 365]
                .iter()
                .map(|d| FeedFilter {
                    since: Some(now - Duration::days(*d)),
                    ..f()
                })
                .collect(),
        ),
        (
            "timeframe all time (since 1970)",
            vec![FeedFilter {
                since: Some(chrono::DateTime::UNIX_EPOCH),
                ..f()
            }],
        ),
        (
            "custom range (mid-history week)",
            vec![FeedFilter {
                since: Some(mid - Duration::days(7)),
                until: Some(mid),
                ..f()
            }],
        ),
        (
            "search",
            [
                "ring timeout",
                "Birchwood",
                "after_hours_start",
                "deleted trunk",
                "greeting",
            ]
            .iter()
            .map(|q| FeedFilter {
                q: Some((*q).into()),
                ..f()
            })
            .collect(),
        ),
        (
            "search + category",
            vec![FeedFilter {
                q: Some("acme".into()),
                category: Some(Category::Config.into()),
                ..f()
            }],
        ),
        (
            "search, rare word",
            vec![FeedFilter {
                q: Some("recovery code".into()),
                ..f()
            }],
        ),
        (
            "search, changed value",
            vec![FeedFilter {
                q: Some("registrar".into()),
                ..f()
            }],
        ),
        (
            "query terms",
            [
                "action:delete,disable -category:security",
                "instance:\"Acme HQ\" -actor:system",
                "target:extension/142",
                "actor:system category:alerts after:2026-01-01",
            ]
            .iter()
            .map(|q| FeedFilter {
                q: Some((*q).into()),
                ..f()
            })
            .collect(),
        ),
    ];
    // The histogram and facets of a view (`feed_summary`): one aggregate query over
    // its timeframe and a sample of its newest 10,000 entries.
    let summaries: Vec<(&str, FeedFilter)> = vec![
        ("summary: all time", f()),
        (
            "summary: last 7 days",
            FeedFilter {
                since: Some(now - Duration::days(7)),
                ..f()
            },
        ),
        (
            "summary: last 90 days",
            FeedFilter {
                since: Some(now - Duration::days(90)),
                ..f()
            },
        ),
        (
            "summary: category, all time",
            FeedFilter {
                category: Some(Category::Config.into()),
                ..f()
            },
        ),
        (
            "summary: query terms, all time",
            FeedFilter {
                q: Some("-actor:system action:update".into()),
                ..f()
            },
        ),
        (
            "summary: search, all time",
            FeedFilter {
                q: Some("acme".into()),
                ..f()
            },
        ),
    ];
    println!(
        "{:<34} {:>9} {:>9} {:>9}",
        "query (first page of 51)", "p50 ms", "p95 ms", "max ms"
    );
    for (name, filters) in kinds {
        let mut times = Vec::new();
        for run in 0..RUNS {
            let filter = filters[run % filters.len()].clone();
            let t = Instant::now();
            let page = store
                .list(&EntryQuery {
                    tenant_id: Some(tenant.id),
                    filter,
                    limit: 51,
                    ..EntryQuery::default()
                })
                .await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(page);
        }
        print_row(name, times);
    }
    for (name, filter) in summaries {
        let mut times = Vec::new();
        let query = EntryQuery {
            tenant_id: Some(tenant.id),
            filter,
            ..EntryQuery::default()
        };
        for _ in 0..RUNS / 2 {
            let t = Instant::now();
            let summary = app::ssr::feeds::summarize(&*store, tenant.id, &query).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(summary);
        }
        print_row(name, times);
    }
    // Load more: a page deep in the history, by cursor.
    let mut times = Vec::new();
    for run in 0..RUNS {
        let cursor = head - (run as i64 * head / RUNS as i64);
        let t = Instant::now();
        let page = store
            .list(&EntryQuery {
                tenant_id: Some(tenant.id),
                cursor: Some(cursor.max(2)),
                limit: 51,
                ..EntryQuery::default()
            })
            .await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(page);
    }
    print_row("load more (cursor anywhere)", times);
    // The master view: count (capped) + page, across tenants.
    let mut times = Vec::new();
    for run in 0..RUNS {
        let query = EntryQuery {
            page_by_id: true,
            limit: 50,
            offset: (run as u32 % 5) * 50,
            filter: if run % 2 == 0 {
                f()
            } else {
                FeedFilter {
                    q: Some("extension".into()),
                    ..f()
                }
            },
            ..EntryQuery::default()
        };
        let t = Instant::now();
        let count = store.count(&query, COUNT_CAP).await?;
        let page = store.list(&query).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box((count, page));
    }
    print_row("master page + count", times);
    // Integrity: an inclusion proof and a consistency proof from stored subtrees.
    let size = u64::try_from(head).unwrap_or(1);
    let mut times = Vec::new();
    for run in 0..RUNS as u64 {
        let t = Instant::now();
        let proof =
            app::ssr::integrity::inclusion_proof(&*store, tenant.id, (run * 7919) % size, size)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(proof);
    }
    print_row("inclusion proof", times);
    let mut times = Vec::new();
    for run in 1..=RUNS as u64 {
        let t = Instant::now();
        let proof = app::ssr::integrity::consistency_proof(
            &*store,
            tenant.id,
            (run * 7919) % size + 1,
            size,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(proof);
    }
    print_row("consistency proof", times);
    Ok(())
}
