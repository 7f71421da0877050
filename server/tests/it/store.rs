use super::{all_entries, entry, fresh_store, tenant, MerkleRows};
use app::api::FeedFilter;
use app::canonical::ChainVerifier;
use app::catalog::{Category, CategoryName, EventType};
use app::entry::{Actor, Entry, NewEntry};
use app::store::{EntryQuery, Order, Store, StoreError};
use std::str::FromStr;
use std::sync::Arc;

#[tokio::test]
async fn update_and_delete_by_raw_sql_are_refused() {
    let (_dir, store) = fresh_store().await;
    let t = tenant(&*store, "acme").await;
    let appended = store.append(t.id, vec![entry(1)]).await.unwrap();
    let id = appended[0].id.to_string();

    let update = store
        .exec(&format!(
            "UPDATE entries SET description = 'rewritten' WHERE id = '{id}'"
        ))
        .await;
    let err = update.expect_err("UPDATE must be refused");
    assert!(err.contains("append-only"), "unexpected error: {err}");

    let delete = store
        .exec(&format!("DELETE FROM entries WHERE id = '{id}'"))
        .await;
    let err = delete.expect_err("DELETE must be refused");
    assert!(err.contains("append-only"), "unexpected error: {err}");
    if store.is_postgres() {
        // TRUNCATE skips row triggers: it is refused by a statement trigger.
        let err = store
            .exec("TRUNCATE entries")
            .await
            .expect_err("TRUNCATE must be refused");
        assert!(err.contains("append-only"), "unexpected error: {err}");
    }

    let still = store.get(t.id, appended[0].id).await.unwrap().unwrap();
    assert_eq!(still.description, "Updated extension 1");
    assert_eq!(all_entries(&*store, t.id).await.len(), 1);
}

#[tokio::test]
async fn concurrent_appends_leave_no_gap_and_a_verifying_chain() {
    let (dir, store) = fresh_store().await;
    let t = tenant(&*store, "busy").await;
    // Two store instances on one database (as two servers would be): their
    // in-process state is independent, so only the database's lock (SQLite's write
    // lock, PostgreSQL's lock on the tenant's row) keeps seq gap-free between them.
    let a: Arc<dyn Store> = store.shared();
    let b: Arc<dyn Store> = dir.open(Arc::new(app::clock::SystemClock)).await.shared();
    let mut tasks = Vec::new();
    for task in 0..8usize {
        let s = if task % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::with_capacity(1000);
            for i in 0..1000 {
                let appended = s.append(t.id, vec![entry(task * 1000 + i)]).await.unwrap();
                seqs.push(appended[0].seq);
            }
            seqs
        }));
    }
    let mut reported: Vec<i64> = Vec::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "a task saw seq go backwards"
        );
        reported.extend(seqs);
    }
    reported.sort_unstable();
    assert_eq!(reported, (1..=8000).collect::<Vec<i64>>());

    let entries = all_entries(a.as_ref(), t.id).await;
    assert_eq!(entries.len(), 8000);
    let mut verifier = ChainVerifier::default();
    for e in &entries {
        verifier
            .push(e)
            .unwrap_or_else(|err| panic!("chain broken: {err}"));
    }
    assert_eq!(verifier.count(), 8000);
    assert_eq!(verifier.head(), entries[7999].hash);
}

#[tokio::test]
async fn a_batch_returns_id_seq_and_hash_in_order_and_chains_from_genesis() {
    let (_dir, store) = fresh_store().await;
    let t = tenant(&*store, "acme").await;
    let first = store.append(t.id, vec![entry(1), entry(2)]).await.unwrap();
    let second = store.append(t.id, vec![entry(3)]).await.unwrap();
    assert_eq!(
        first
            .iter()
            .chain(&second)
            .map(|a| a.seq)
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let stored = all_entries(&*store, t.id).await;
    assert_eq!(stored[0].prev_hash, "0".repeat(64));
    for (a, e) in first.iter().chain(&second).zip(&stored) {
        assert_eq!((a.id, a.seq, &a.hash), (e.id, e.seq, &e.hash));
    }
    assert_eq!(stored[1].prev_hash, stored[0].hash);
    assert_eq!(stored[2].prev_hash, stored[1].hash);
    // ids are UUIDv7, so time-ordered
    assert_eq!(stored[0].id.get_version_num(), 7);
    assert!(stored[0].id < stored[2].id);
}

#[tokio::test]
async fn each_tenant_has_its_own_sequence_and_nothing_crosses() {
    let (_dir, store) = fresh_store().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    store.append(a.id, vec![entry(1), entry(2)]).await.unwrap();
    let in_b = store.append(b.id, vec![entry(3)]).await.unwrap();
    assert_eq!(in_b[0].seq, 1);
    assert!(store.get(a.id, in_b[0].id).await.unwrap().is_none());
    assert!(store.get(b.id, in_b[0].id).await.unwrap().is_some());
    assert_eq!(all_entries(&*store, a.id).await.len(), 2);

    let unknown = store.append(uuid::Uuid::now_v7(), vec![entry(9)]).await;
    assert!(matches!(unknown, Err(StoreError::NotFound(_))));
    let dup = store.create_tenant("a", "again").await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
}

#[tokio::test]
async fn a_failing_batch_writes_nothing() {
    let (_dir, store) = fresh_store().await;
    let t = tenant(&*store, "acme").await;
    store.append(t.id, vec![entry(1)]).await.unwrap();
    // Make the database refuse one entry of the next batch, mid-way.
    store.poison_inserts("poison").await;
    let mut poison = entry(3);
    poison.description = "poison".into();
    let result = store.append(t.id, vec![entry(2), poison, entry(4)]).await;
    assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
    assert_eq!(
        all_entries(&*store, t.id).await.len(),
        1,
        "the batch rolled back"
    );
    store.cure_inserts().await;
    // and seq continues without a gap afterwards
    assert_eq!(store.append(t.id, vec![entry(5)]).await.unwrap()[0].seq, 2);
}

#[tokio::test]
async fn an_idempotency_key_is_written_once_and_replayed_after() {
    let (_dir, store) = fresh_store().await;
    let t = tenant(&*store, "acme").await;
    let mut keyed = entry(1);
    keyed.idempotency_key = Some("k-1".into());
    let first = store.append(t.id, vec![keyed.clone()]).await.unwrap();
    assert!(!first[0].replayed);
    let again = store
        .append(t.id, vec![entry(2), keyed.clone(), keyed])
        .await
        .unwrap();
    assert_eq!(again.len(), 3);
    assert_eq!((again[0].seq, again[0].replayed), (2, false));
    for replay in &again[1..] {
        assert!(replay.replayed);
        assert_eq!(
            (replay.id, replay.seq, &replay.hash),
            (first[0].id, 1, &first[0].hash)
        );
    }
    assert_eq!(all_entries(&*store, t.id).await.len(), 2);
}

#[tokio::test]
async fn list_filters_and_pages_newest_first() {
    let (_dir, store) = fresh_store().await;
    let t = tenant(&*store, "acme").await;
    let mut batch = Vec::new();
    for i in 0..30 {
        batch.push(if i % 3 == 0 {
            NewEntry::new(
                EventType::AlertAutoResolved,
                Actor::system(),
                format!("alert {i}"),
            )
            .instance("pbx-2", "Birchwood")
        } else {
            entry(i)
        });
    }
    store.append(t.id, batch).await.unwrap();

    let page = |cursor, filter: FeedFilter| {
        let store = &store;
        async move {
            store
                .list(&EntryQuery {
                    tenant_id: Some(t.id),
                    filter,
                    order: Order::NewestFirst,
                    cursor,
                    limit: 4,
                    ..EntryQuery::default()
                })
                .await
                .unwrap()
        }
    };
    let alerts = FeedFilter {
        category: Some(CategoryName::Builtin(Category::Alerts)),
        ..FeedFilter::default()
    };
    let p1 = page(None, alerts.clone()).await;
    let p2 = page(Some(p1.last().unwrap().seq), alerts.clone()).await;
    let p3 = page(Some(p2.last().unwrap().seq), alerts).await;
    let seqs: Vec<i64> = p1.iter().chain(&p2).chain(&p3).map(|e| e.seq).collect();
    assert_eq!(seqs, vec![28, 25, 22, 19, 16, 13, 10, 7, 4, 1]);
    assert!(p1
        .iter()
        .chain(&p2)
        .all(|e| *e.category() == Category::Alerts && e.actor.label == "System"));

    let by_instance = page(
        None,
        FeedFilter {
            instance_id: Some("pbx-1".into()),
            ..FeedFilter::default()
        },
    )
    .await;
    assert_eq!(
        by_instance.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![30, 29, 27, 26]
    );
    let by_type = page(
        None,
        FeedFilter {
            event_type: Some(EventType::ExtensionDeleted.into()),
            ..FeedFilter::default()
        },
    )
    .await;
    assert!(by_type.is_empty());
}

#[tokio::test]
async fn entries_read_back_exactly_as_written() {
    let (_dir, store) = fresh_store().await;
    let t = tenant(&*store, "acme").await;
    let new = entry(5).target("extension", "105", Some("Reception")).meta(
        "nested",
        serde_json::json!({"a": [1, 2, {"b": null}], "ü": "ß"}),
    );
    let appended = store.append(t.id, vec![new.clone()]).await.unwrap();
    let e = store.get(t.id, appended[0].id).await.unwrap().unwrap();
    assert_eq!(e.description, new.description);
    assert_eq!(e.actor, new.actor);
    assert_eq!(e.instance, new.instance);
    assert_eq!(e.target, new.target);
    assert_eq!(e.changes, new.changes);
    assert_eq!(e.metadata, new.metadata);
    assert_eq!(e.occurred_at, e.recorded_at);
    ChainVerifier::default().push(&e).unwrap();
}

/// What a filter means, written the slow, obvious way.
fn naive_match(e: &Entry, f: &FeedFilter) -> bool {
    let query = f.query();
    // Each word is a phrase of its tokens, the last one a prefix, inside one field.
    let tokens = |text: &str| -> Vec<String> {
        text.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let value_text = |v: &Option<serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let targets: Vec<String> = e
        .target
        .iter()
        .chain(&e.other_targets)
        .map(|t| format!("{} {} {}", t.kind, t.id, t.name.as_deref().unwrap_or("")))
        .collect();
    let changes: Vec<String> = e
        .changes
        .iter()
        .map(|c| format!("{} {} {}", c.path, value_text(&c.old), value_text(&c.new)))
        .collect();
    let fields = [
        tokens(&e.description),
        tokens(e.event_type.as_str()),
        tokens(e.instance.as_ref().map_or("", |i| i.name.as_str())),
        tokens(&e.actor.label),
        tokens(&targets.join(" ")),
        tokens(&changes.join(" ")),
    ];
    let phrase_in = |field: &Vec<String>, phrase: &[String]| {
        (0..field.len()).any(|i| {
            phrase
                .iter()
                .enumerate()
                .all(|(j, p)| match field.get(i + j) {
                    Some(t) if j + 1 == phrase.len() => t.starts_with(p.as_str()),
                    Some(t) => t == p,
                    None => false,
                })
        })
    };
    let words_match = |q: &str| {
        q.split_whitespace()
            .map(tokens)
            .filter(|p| !p.is_empty())
            .all(|p| fields.iter().any(|f| phrase_in(f, &p)))
    };
    f.category.as_ref().is_none_or(|c| e.category() == c)
        && f.action.is_none_or(|a| e.action() == a)
        && f.event_type.as_ref().is_none_or(|t| &e.event_type == t)
        && f.instance_id
            .as_ref()
            .is_none_or(|i| e.instance.as_ref().is_some_and(|x| &x.id == i))
        && (f.target_kind.is_none() && f.target_id.is_none()
            || e.target.iter().chain(&e.other_targets).any(|t| {
                f.target_kind.as_ref().is_none_or(|k| &t.kind == k)
                    && f.target_id.as_ref().is_none_or(|i| &t.id == i)
            }))
        && f.actor.as_ref().is_none_or(|a| match a.as_str() {
            "system" => e.actor.kind == app::entry::ActorKind::System,
            id => e.actor.id.as_deref() == Some(id),
        })
        && f.resource.as_ref().is_none_or(|r| {
            let r = r.to_lowercase();
            e.instance
                .as_ref()
                .is_some_and(|i| i.name.to_lowercase() == r)
                || e.target
                    .iter()
                    .chain(&e.other_targets)
                    .filter_map(|t| t.name.as_ref())
                    .any(|n| n.to_lowercase() == r)
        })
        && f.since.is_none_or(|s| e.occurred_at >= s)
        && f.until.is_none_or(|u| e.occurred_at < u)
        && query.text().as_deref().is_none_or(words_match)
        && query
            .terms
            .iter()
            .filter(|t| !t.field.is_time())
            .all(|t| t.values.iter().any(|v| naive_term(e, t.field, v)) != t.negated)
        && query.after().is_none_or(|a| e.occurred_at >= a)
        && query.before().is_none_or(|b| e.occurred_at < b)
}

/// What one value of a `field:value` term means, the slow, obvious way.
fn naive_term(e: &Entry, field: app::query::Field, value: &str) -> bool {
    use app::query::Field;
    let lower = value.to_lowercase();
    let targets = || e.target.iter().chain(&e.other_targets);
    match field {
        Field::Actor if lower == "system" => e.actor.kind == app::entry::ActorKind::System,
        Field::Actor => {
            let label = e.actor.label.to_lowercase();
            e.actor.id.as_deref() == Some(value)
                || label == lower
                || label.ends_with(&format!("<{lower}>"))
        }
        Field::Action => e.action().as_str() == value,
        Field::Category => e.category().as_str() == value,
        Field::Event => e.event_type.as_str() == value,
        Field::Instance => e
            .instance
            .as_ref()
            .is_some_and(|i| i.id == value || i.name.to_lowercase() == lower),
        Field::Source => e.source.as_ref().is_some_and(|s| {
            if lower == "stele" {
                s.kind == app::entry::SourceKind::Stele
            } else {
                s.id.as_deref() == Some(value) || s.name.to_lowercase() == lower
            }
        }),
        Field::Target => match value.split_once('/') {
            Some((kind, id)) if !kind.is_empty() && !id.is_empty() => {
                targets().any(|t| t.kind == kind && t.id == id)
            }
            _ => targets().any(|t| {
                t.id == value || t.name.as_ref().is_some_and(|n| n.to_lowercase() == lower)
            }),
        },
        Field::After | Field::Before => true,
    }
}

#[tokio::test]
async fn every_filter_and_the_search_select_exactly_the_matching_entries() {
    let (_dir, first) = fresh_store().await;
    // Timeframes with more than 12 entries walk seq; smaller ones use the time index.
    let store: Arc<dyn Store> = _dir.open_dense(12).await.shared();
    drop(first);
    let a = tenant(store.as_ref(), "a").await;
    let b = tenant(store.as_ref(), "b").await;
    let people = vec![
        (
            "u-1".to_owned(),
            "Jane Doe".to_owned(),
            "jane@a.example".to_owned(),
        ),
        (
            "u-2".to_owned(),
            "Marco Rossi".to_owned(),
            "marco@a.example".to_owned(),
        ),
    ];
    let plan = server::demo::DemoPlan {
        events: 600,
        seed: 11,
        days: 60,
    };
    server::demo::history(
        store.as_ref(),
        &a,
        &server::demo::NORTHWIND,
        people.clone(),
        &plan,
    )
    .await
    .unwrap();
    // The other tenant holds the same words: none of them may leak into a's results.
    server::demo::history(store.as_ref(), &b, &server::demo::NORTHWIND, people, &plan)
        .await
        .unwrap();
    // A producer's entries, naming several targets (the query's source: and
    // target: terms and the search reach them).
    let producer: Vec<NewEntry> = (0..6)
        .map(|n| {
            let mut e = NewEntry::new(
                EventType::ExtensionUpdated,
                Actor::api_key("key-7", "PBX sync"),
                format!("Synced route {n}"),
            )
            .instance("pbx-acme-hq", "Acme HQ")
            .target("trunk", format!("SIP-{n}"), Some("Main trunk"))
            .change(
                "outbound.gateway",
                Some("gw-old".into()),
                Some("gw-new".into()),
            );
            e.other_targets = vec![app::entry::Target {
                kind: "extension".into(),
                id: "105".into(),
                name: Some("Reception".into()),
            }];
            e.source = app::entry::Source::api_key("key-7", "PBX sync");
            e
        })
        .collect();
    store.append(a.id, producer).await.unwrap();
    let all = all_entries(store.as_ref(), a.id).await;
    let now = chrono::Utc::now();
    let sample = &all[all.len() / 2];
    let filters = vec![
        FeedFilter {
            category: Some(CategoryName::Builtin(Category::Config)),
            ..FeedFilter::default()
        },
        FeedFilter {
            action: Some(app::catalog::Action::Delete),
            ..FeedFilter::default()
        },
        FeedFilter {
            event_type: Some(EventType::ExtensionUpdated.into()),
            ..FeedFilter::default()
        },
        FeedFilter {
            target_kind: Some("extension".into()),
            target_id: Some("105".into()),
            ..FeedFilter::default()
        },
        FeedFilter {
            actor: Some("u-2".into()),
            ..FeedFilter::default()
        },
        FeedFilter {
            actor: Some("system".into()),
            ..FeedFilter::default()
        },
        FeedFilter {
            resource: Some("acme hq".into()),
            ..FeedFilter::default()
        },
        FeedFilter {
            resource: Some("Reception".into()),
            ..FeedFilter::default()
        },
        FeedFilter {
            since: Some(now - chrono::Duration::days(7)),
            ..FeedFilter::default()
        },
        FeedFilter {
            since: Some(sample.occurred_at - chrono::Duration::days(3)),
            until: Some(sample.occurred_at),
            ..FeedFilter::default()
        },
        FeedFilter {
            since: Some(sample.occurred_at - chrono::Duration::hours(2)),
            until: Some(sample.occurred_at + chrono::Duration::hours(2)),
            ..FeedFilter::default()
        },
        FeedFilter {
            since: Some(now - chrono::Duration::days(20)),
            category: Some(CategoryName::Builtin(Category::Extensions)),
            ..FeedFilter::default()
        },
        FeedFilter {
            until: Some(now - chrono::Duration::days(700)),
            ..FeedFilter::default()
        },
        FeedFilter {
            q: Some("ring timeout".into()),
            ..FeedFilter::default()
        },
        FeedFilter {
            q: Some("Birchw".into()),
            ..FeedFilter::default()
        },
        FeedFilter {
            q: Some("parameter_pushed".into()),
            ..FeedFilter::default()
        },
        FeedFilter {
            q: Some("marco".into()),
            category: Some(CategoryName::Builtin(Category::Extensions)),
            ..FeedFilter::default()
        },
        FeedFilter {
            q: Some("\"quoted\" AND OR NEAR(".into()),
            ..FeedFilter::default()
        },
    ];
    // The query language: several values, negation, every field and its spellings,
    // free words beside terms, and the words reaching targets and changed values.
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d").to_string();
    let queries = [
        "actor:marco@a.example".to_owned(),
        "actor:\"Jane Doe <jane@a.example>\"".to_owned(),
        "actor:u-1,system -category:extensions".to_owned(),
        "-actor:system action:update,delete".to_owned(),
        "instance:\"acme hq\" action:update".to_owned(),
        "-instance:\"Acme HQ\" -instance:pbx-birchwood".to_owned(),
        "target:extension/105".to_owned(),
        "target:Reception,105".to_owned(),
        "-target:extension/105 category:extensions".to_owned(),
        format!("type:{}", EventType::ExtensionUpdated.as_str()),
        format!(
            "event:{},{} ring",
            EventType::ExtensionUpdated.as_str(),
            EventType::ExtensionCreated.as_str()
        ),
        "source:stele".to_owned(),
        "-source:stele".to_owned(),
        "source:\"pbx sync\" target:trunk/SIP-3".to_owned(),
        "actor:\"PBX sync\" gw-new".to_owned(),
        "main trunk".to_owned(),
        "outbound".to_owned(),
        "registrar".to_owned(),
        "extension 105".to_owned(),
        format!(
            "after:{} before:{} category:config",
            day(sample.occurred_at - chrono::Duration::days(5)),
            day(sample.occurred_at + chrono::Duration::days(2))
        ),
        format!("after:{} marco", day(sample.occurred_at)),
    ];
    let filters: Vec<FeedFilter> = filters
        .into_iter()
        .chain(queries.iter().map(|q| FeedFilter {
            q: Some(q.clone()),
            ..FeedFilter::default()
        }))
        .collect();
    for q in &queries {
        app::query::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
    for f in filters {
        let expected: Vec<i64> = all
            .iter()
            .rev()
            .filter(|e| naive_match(e, &f))
            .map(|e| e.seq)
            .collect();
        // Newest first, in pages of 40 by the keyset cursor.
        let mut got = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list(&EntryQuery {
                    tenant_id: Some(a.id),
                    filter: f.clone(),
                    cursor,
                    limit: 40,
                    ..EntryQuery::default()
                })
                .await
                .unwrap();
            got.extend(page.iter().map(|e| e.seq));
            if page.len() < 40 {
                break;
            }
            cursor = page.last().map(|e| e.seq);
        }
        assert_eq!(got, expected, "{f:?}");
        let query = EntryQuery {
            tenant_id: Some(a.id),
            filter: f.clone(),
            ..EntryQuery::default()
        };
        assert_eq!(
            store.count(&query, 100_000).await.unwrap(),
            (expected.len() as u64, true),
            "{f:?}"
        );
        // The histogram counts the same entries, each in its bucket of the span;
        // the facets' sample is the newest matching entries.
        let (from, bucket) = (
            (now - chrono::Duration::days(90)).timestamp_millis(),
            6 * 3_600_000,
        );
        let to = now.timestamp_millis() + 1;
        let mut naive_bars = std::collections::BTreeMap::new();
        for e in all.iter().filter(|e| naive_match(e, &f)) {
            let t = e.occurred_at.timestamp_millis();
            if (from..to).contains(&t) {
                *naive_bars.entry((t - from) / bucket).or_insert(0u64) += 1;
            }
        }
        let bars: std::collections::BTreeMap<i64, u64> = store
            .histogram(&query, (from, to), bucket)
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(bars, naive_bars, "histogram of {f:?}");
        let sample = store.facet_sample(&query, 25).await.unwrap();
        let newest: Vec<String> = all
            .iter()
            .rev()
            .filter(|e| naive_match(e, &f))
            .take(25)
            .map(|e| e.event_type.as_str().to_owned())
            .collect();
        let got_types: Vec<String> = sample.iter().map(|r| r.event_type.clone()).collect();
        assert_eq!(got_types, newest, "facet sample of {f:?}");
        let timed = f.since.is_some()
            || f.until.is_some()
            || f.q.as_deref().is_some_and(|q| q.contains("after:"));
        if !timed && (f.q.is_none() || f.q.as_ref().is_some_and(|q| queries.contains(q))) {
            assert!(
                !expected.is_empty(),
                "the demo history should hold matches for {f:?}"
            );
            assert!(
                (expected.len() as u64) < all.len() as u64,
                "{f:?} should not match everything"
            );
        }
    }
    // The count stops at its cap, and says so.
    let everything = EntryQuery {
        tenant_id: Some(a.id),
        ..EntryQuery::default()
    };
    assert_eq!(store.count(&everything, 10).await.unwrap(), (10, false));
    // Master paging by offset across tenants: pages do not overlap and cover all.
    let mut seen = std::collections::HashSet::new();
    for page in 0..3 {
        let rows = store
            .list(&EntryQuery {
                page_by_id: true,
                limit: 25,
                offset: page * 25,
                ..EntryQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), 25);
        assert!(rows.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        for r in rows {
            assert!(seen.insert(r.id));
        }
    }
    assert!(store.find(sample.id).await.unwrap().is_some());
}

#[tokio::test]
async fn purge_removes_old_content_from_the_oldest_end_only_and_nothing_else_can_delete() {
    let clock = super::clock();
    let (_dir, store) = super::fresh_store_with(clock.clone()).await;
    let t = tenant(&*store, "acme").await;
    for n in 0..5 {
        store
            .append(
                t.id,
                (n * 10 + 1..=n * 10 + 10)
                    .map(|i| entry(i as usize))
                    .collect(),
            )
            .await
            .unwrap();
        clock.advance(chrono::Duration::minutes(1));
    }
    let all = all_entries(&*store, t.id).await;
    assert_eq!(all.len(), 50);
    // Everything recorded before the fourth batch is older than the cutoff.
    let cutoff = all[30].recorded_at;
    let range = store.record_purge(t.id, cutoff).await.unwrap();
    assert_eq!(range, Some((1, 30)));
    assert_eq!(store.unaudited_purges(t.id).await.unwrap(), vec![(1, 30)]);
    store.purge_range(t.id, (1, 30), 7).await.unwrap();
    let left = all_entries(&*store, t.id).await;
    assert_eq!(left.first().map(|e| e.seq), Some(31));
    assert_eq!(left.len(), 20);
    // The links stay, whole.
    assert_eq!(store.chain_links(t.id, 0, 1000).await.unwrap().len(), 50);
    // Nothing newer than the cutoff goes, and a second run finds nothing new.
    assert_eq!(store.record_purge(t.id, cutoff).await.unwrap(), None);
    assert_eq!(store.purged_ranges(t.id).await.unwrap(), vec![(1, 30)]);
    // Outside a recorded range, DELETE is still refused.
    let refused = store.exec("DELETE FROM entries WHERE seq = 40").await;
    assert!(refused.is_err());
    // Search no longer finds purged content.
    let found = store
        .list(&EntryQuery {
            tenant_id: Some(t.id),
            filter: FeedFilter {
                q: Some("extension".into()),
                ..FeedFilter::default()
            },
            limit: 100,
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 20);
}

#[tokio::test]
async fn each_round_of_a_job_is_claimed_by_exactly_one_of_several_servers() {
    let (db, first) = fresh_store().await;
    let second = db.open(Arc::new(app::clock::SystemClock)).await;
    let servers = [first.shared(), second.shared()];
    for round in [7_i64, 8] {
        let mut claims = Vec::new();
        for i in 0..12 {
            let s = servers[i % 2].clone();
            claims.push(tokio::spawn(async move {
                s.claim_round("checkpoint", round).await
            }));
        }
        let mut won = 0;
        for c in claims {
            won += usize::from(c.await.unwrap().unwrap());
        }
        assert_eq!(won, 1, "round {round}");
    }
    // Another job's round of the same number is its own.
    assert!(servers[0].claim_round("purge", 7).await.unwrap());
}

#[tokio::test]
async fn login_throttling_counts_across_servers_and_forgets_by_the_clock() {
    use app::ssr::throttle::{attempt, succeeded, MAX_PER_ACCOUNT, WINDOW};
    let clock = super::clock();
    let (db, first) = super::fresh_store_with(clock.clone()).await;
    let second = db.open(clock.clone()).await;
    // Attempts alternate between two servers: the limit is one limit.
    let mut allowed = 0;
    for i in 0..(MAX_PER_ACCOUNT + 3) {
        let server: &dyn Store = if i % 2 == 0 { &*first } else { &*second };
        if attempt(server, "jane@x.example", Some("192.0.2.7"))
            .await
            .unwrap()
            .is_ok()
        {
            allowed += 1;
        }
    }
    assert_eq!(allowed, MAX_PER_ACCOUNT);
    // In parallel, on both servers at once, no attempt slips past the limit.
    let mut racing = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 {
            first.shared()
        } else {
            second.shared()
        };
        racing.push(tokio::spawn(async move {
            attempt(s.as_ref(), "ann@x.example", Some("192.0.2.8"))
                .await
                .unwrap()
                .is_ok()
        }));
    }
    let mut raced = 0;
    for r in racing {
        raced += u64::from(r.await.unwrap());
    }
    assert_eq!(raced, MAX_PER_ACCOUNT);
    // The window passes by the clock: Jane may try again, and a success clears
    // her failures from that source.
    clock.advance(WINDOW);
    let ok = attempt(&*second, "jane@x.example", Some("192.0.2.7"))
        .await
        .unwrap()
        .unwrap();
    succeeded(&*first, ok).await.unwrap();
    for _ in 0..MAX_PER_ACCOUNT {
        assert!(attempt(&*first, "jane@x.example", Some("192.0.2.7"))
            .await
            .unwrap()
            .is_ok());
    }
    // Expired attempts are gone from the table, and no key holds what was typed.
    let kept = first
        .scalar("SELECT count(*) FROM login_attempts WHERE key LIKE '%jane%'")
        .await;
    assert_eq!(kept, 0);
}

#[tokio::test]
async fn a_purge_across_months_removes_exactly_the_expired_entries() {
    let clock = super::clock(); // 2026-03-01
    let (_db, store) = super::fresh_store_with(clock.clone()).await;
    let t = tenant(&*store, "acme").await;
    let mut n = 0;
    let mut batch = |size: usize| {
        let b: Vec<_> = (n..n + size).map(entry).collect();
        n += size;
        b
    };
    // March, April, two days of May, June: 10 + 10 + (10 + 5) + 10 entries.
    for days in [0, 31, 31, 1, 31] {
        clock.advance(chrono::Duration::days(days));
        let size = if days == 1 { 5 } else { 10 };
        store.append(t.id, batch(size)).await.unwrap();
    }
    let may_2 = app::clock::Clock::now(super::clock().as_ref()) + chrono::Duration::days(62);
    let range = store
        .record_purge(t.id, may_2 + chrono::Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(range, Some((1, 30)));
    store.purge_range(t.id, (1, 30), 4).await.unwrap();
    let left: Vec<i64> = all_entries(&*store, t.id)
        .await
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(left, (31..=45).collect::<Vec<_>>());
    assert_eq!(store.chain_links(t.id, 0, 100).await.unwrap().len(), 45);
    if store.is_postgres() {
        // March and April went as whole partitions; May lost only its old rows.
        let months = store
            .scalar(&format!(
                "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent \
                 WHERE p.relname = 'entries_t{}'",
                t.id.simple()
            ))
            .await;
        assert_eq!(months, 2, "May and June remain");
    }
    let state = super::state_for(store.shared(), t.id, 2);
    let report = app::ssr::integrity::verify_log(&*store, t.id, &state.trusted_keys())
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.purged, 30);
    // The log goes on in the current month.
    assert_eq!(store.append(t.id, batch(1)).await.unwrap()[0].seq, 46);
}

#[tokio::test]
async fn a_tenants_writers_wait_for_its_lock_and_on_postgres_only_for_its_own() {
    let (_db, store) = fresh_store().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let mut held = store.begin().await.unwrap();
    held.lock_tenant(a.id).await.unwrap();
    let (s1, s2) = (store.shared(), store.shared());
    let mut same = tokio::spawn(async move { s1.append(a.id, vec![entry(1)]).await });
    let other = tokio::spawn(async move { s2.append(b.id, vec![entry(2)]).await });
    let mut other = Some(other);
    if store.is_postgres() {
        // Tenants append in parallel: b's writer does not wait for a's lock.
        let done = tokio::time::timeout(std::time::Duration::from_secs(20), other.take().unwrap())
            .await
            .expect("another tenant's append must not wait for this lock");
        assert_eq!(done.unwrap().unwrap()[0].seq, 1);
    }
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), &mut same)
            .await
            .is_err(),
        "a's writer waits while the lock is held"
    );
    drop(held); // rolls back, releasing the lock
    assert_eq!(same.await.unwrap().unwrap()[0].seq, 1);
    if let Some(other) = other {
        // SQLite has one writer at a time: b went after the lock was gone.
        assert_eq!(other.await.unwrap().unwrap()[0].seq, 1);
    }
}

#[tokio::test]
async fn a_sqlite_database_missing_merkle_subtrees_gets_them_back_when_opened() {
    // SQLite only by nature: databases from before the subtrees existed (or with
    // part of them) are completed on open, from the stored frontier on.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stele.db").display());
    let store = server::store::SqliteStore::open(&url).await.unwrap();
    let t = tenant(&store, "acme").await;
    store
        .append(t.id, (1..=50).map(entry).collect())
        .await
        .unwrap();
    let pool = store.pool().clone();
    let before = store.merkle_rows().await;
    drop(store);
    sqlx::query("DROP TRIGGER merkle_nodes_refuse_delete")
        .execute(&pool)
        .await
        .unwrap();
    // Keep only the subtrees of the first 16 leaves (levels below 4 are not stored).
    let gone = sqlx::query("DELETE FROM merkle_nodes WHERE ((idx + 1) << level) > 16")
        .execute(&pool)
        .await
        .unwrap();
    assert!(gone.rows_affected() > 0, "the test can fail");
    pool.close().await;
    let reopened = server::store::SqliteStore::open(&url).await.unwrap();
    assert_eq!(reopened.merkle_rows().await, before);
    let report = app::ssr::integrity::verify_log(&reopened, t.id, &[])
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
}

/// Group commit (`app::ssr::group`): requests submitted together share one
/// transaction, yet each stays all-or-nothing on its own, in order, gap-free.
#[tokio::test]
async fn concurrent_requests_commit_in_groups_and_a_bad_one_fails_alone() {
    let (_db, store) = fresh_store().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    store.poison_inserts("poison").await;
    let mut used = entry(0);
    used.idempotency_key = Some("used".into());
    used.request_hash = Some("first".into());
    store.append(a.id, vec![used.clone()]).await.unwrap();
    let before = store.group_stats();

    // 60 requests at once over two tenants, of three shapes: good batches, batches
    // the database refuses mid-way, and batches reusing a key for another event.
    let mut requests = Vec::new();
    for i in 0..60usize {
        let t = if i % 2 == 0 { a.id } else { b.id };
        let mut batch = vec![entry(i * 10 + 1), entry(i * 10 + 2)];
        let kind = i % 5;
        if kind == 3 {
            batch[1].description = "poison".into();
        }
        if kind == 4 && t == a.id {
            let mut reused = used.clone();
            reused.request_hash = Some("another".into());
            batch.push(reused);
        }
        requests.push((i, t, kind, batch));
    }
    let results = futures::future::join_all(requests.iter().map(|(_, t, _, batch)| {
        let store = store.shared();
        let (t, batch) = (*t, batch.clone());
        async move { store.append(t, batch).await }
    }))
    .await;
    let after = store.group_stats();
    assert!(
        after.groups - before.groups < 60,
        "60 concurrent requests were written in {} transactions",
        after.groups - before.groups
    );

    let mut expected: std::collections::HashMap<uuid::Uuid, Vec<(uuid::Uuid, i64)>> =
        Default::default();
    for ((i, t, kind, _), result) in requests.iter().zip(&results) {
        let bad = *kind == 3 || (*kind == 4 && *t == a.id);
        match result {
            Err(StoreError::Internal(_)) if *kind == 3 => {}
            Err(StoreError::Conflict(m)) if *kind == 4 => {
                assert!(m.contains("used"), "{m}")
            }
            Ok(appended) if !bad => {
                assert_eq!(appended.len(), 2, "request {i}");
                assert_eq!(appended[1].seq, appended[0].seq + 1, "request {i}");
                expected
                    .entry(*t)
                    .or_default()
                    .extend(appended.iter().map(|x| (x.id, x.seq)));
            }
            other => panic!("request {i} (kind {kind}): {other:?}"),
        }
    }
    for (t, first) in [(a.id, 2i64), (b.id, 1)] {
        let stored = all_entries(&*store, t).await;
        let mut acked = expected.remove(&t).unwrap();
        // Answered in submission order, so seq follows it too.
        assert!(acked.windows(2).all(|w| w[0].1 < w[1].1), "order kept");
        acked.sort_by_key(|x| x.1);
        let written: Vec<(uuid::Uuid, i64)> = stored
            .iter()
            .filter(|e| e.seq >= first)
            .map(|e| (e.id, e.seq))
            .collect();
        assert_eq!(written, acked, "exactly the good requests, gap-free");
        assert_eq!(
            stored.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=stored.len() as i64).collect::<Vec<_>>()
        );
        assert!(stored.iter().all(|e| e.description != "poison"));
        let mut verifier = ChainVerifier::default();
        for e in &stored {
            verifier.push(e).unwrap();
        }
    }
    store.cure_inserts().await;
    let head_a = store.head(a.id).await.unwrap();
    let next = store.append(a.id, vec![entry(999)]).await.unwrap();
    assert_eq!(next[0].seq as u64, head_a + 1);
}

/// Idempotency inside a group: requests in one transaction that share a key replay
/// the first one's entry, or are refused for another event, exactly as if they had
/// been committed one by one; also when a poisoned request sends the group down the
/// one-by-one path.
#[tokio::test]
async fn requests_sharing_a_key_in_one_group_replay_or_conflict() {
    let (_db, store) = fresh_store().await;
    let t = tenant(&*store, "a").await;
    store.poison_inserts("poison").await;
    let before = store.group_stats();
    // 48 requests: keys k0..k7 each sent by six requests; every sixth request sends
    // its key for another event; requests 20 and 41 carry a poisoned second event.
    let mut requests = Vec::new();
    for i in 0..48usize {
        let key = i % 8;
        let mut keyed = entry(key);
        keyed.idempotency_key = Some(format!("k{key}"));
        keyed.idempotency_scope = Some("producer".into());
        // (after the first eight, so each key's first request is the real one)
        let other = i >= 8 && i % 6 == 5;
        keyed.request_hash = Some(if other {
            format!("other{i}")
        } else {
            format!("h{key}")
        });
        let mut batch = vec![keyed, entry(100 + i)];
        if i == 20 || i == 41 {
            batch[1].description = "poison".into();
        }
        requests.push((i, key, other, batch));
    }
    let results = futures::future::join_all(requests.iter().map(|(_, _, _, batch)| {
        let store = store.shared();
        let batch = batch.clone();
        async move { store.append(t.id, batch).await }
    }))
    .await;
    assert!(
        store.group_stats().groups - before.groups < 48,
        "requests were grouped"
    );
    // The first successful request of each key decides its entry.
    let mut first: std::collections::HashMap<usize, (uuid::Uuid, i64)> = Default::default();
    let mut created = 0usize;
    for ((i, key, other, _), result) in requests.iter().zip(&results) {
        let poisoned = *i == 20 || *i == 41;
        match result {
            Err(StoreError::Internal(_)) if poisoned => {}
            Err(StoreError::Conflict(m)) if *other => {
                assert!(m.contains(&format!("k{key}")), "{m}")
            }
            Ok(a) if !poisoned && !*other => {
                let original = *first.entry(*key).or_insert((a[0].id, a[0].seq));
                if a[0].replayed {
                    assert_eq!((a[0].id, a[0].seq), original, "request {i} replays k{key}");
                } else {
                    assert_eq!((a[0].id, a[0].seq), original, "k{key} written once");
                    created += 1;
                }
                assert!(!a[1].replayed);
                created += 1;
            }
            other => panic!("request {i}: {other:?}"),
        }
    }
    let stored = all_entries(&*store, t.id).await;
    assert_eq!(
        stored.len(),
        created,
        "one entry per key and per unkeyed event"
    );
    assert_eq!(
        stored.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=stored.len() as i64).collect::<Vec<_>>()
    );
    assert!(stored.iter().all(|e| e.description != "poison"));
    let keyed: Vec<_> = stored
        .iter()
        .filter(|e| e.idempotency_key.is_some())
        .collect();
    assert_eq!(keyed.len(), 8, "each key once");
    let mut verifier = ChainVerifier::default();
    for e in &stored {
        verifier.push(e).unwrap();
    }
    store.cure_inserts().await;
}

/// A mutation inside a group changes what the requests after it are masked with,
/// exactly as if they had been committed one by one.
#[tokio::test]
async fn a_sensitive_field_added_in_a_group_masks_the_requests_after_it() {
    let (_db, store) = fresh_store().await;
    let t = tenant(&*store, "a").await;
    let with_pin = |n| {
        let mut e = entry(n);
        e.metadata
            .insert("door_pin".into(), serde_json::json!("4711"));
        e
    };
    let set = store.commit(
        t.id,
        app::store::Mutation::SetSensitiveFields {
            tenant_id: t.id,
            fields: vec!["door_pin".into()],
        },
        vec![with_pin(1)],
    );
    let after = store.append(t.id, vec![with_pin(2)]);
    let (set, after) = tokio::join!(set, after);
    let (set, after) = (set.unwrap(), after.unwrap());
    let first = store.get(t.id, set[0].id).await.unwrap().unwrap();
    let second = store.get(t.id, after[0].id).await.unwrap().unwrap();
    assert_eq!(
        first.metadata["door_pin"], "4711",
        "masked with the list before"
    );
    assert_ne!(
        second.metadata["door_pin"], "4711",
        "masked with the new list"
    );
}

/// A database of the schema before issue 13 (hex hashes in entries and chain links,
/// every Merkle level stored) is migrated in place when opened: the same entries
/// with the same hashes, the same tree, and it verifies.
#[tokio::test]
async fn a_sqlite_database_of_the_earlier_schema_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let current_url = format!("sqlite://{}", dir.path().join("current.db").display());
    let current = server::store::SqliteStore::open(&current_url)
        .await
        .unwrap();
    let log = super::write_migration_log(&current).await;
    let (t, expected) = (&log.tenant, &log.entries);
    drop(current);

    // The earlier schema: migrations up to 0011, filled with the same log as it
    // stored it then.
    let old_path = dir.path().join("old.db");
    let old_url = format!("sqlite://{}", old_path.display());
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&old_url)
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    super::migrations_up_to(sqlx::migrate!("../migrations/sqlite"), 11)
        .run(&pool)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let current_file = dir.path().join("current.db");
    sqlx::query(&format!(
        "ATTACH DATABASE '{}' AS cur",
        current_file.display()
    ))
    .execute(&mut *conn)
    .await
    .unwrap();
    for sql in [
        "INSERT INTO tenants (id, slug, name, created_at, sensitive_fields, verification_token, \
         retention_days) SELECT id, slug, name, created_at, sensitive_fields, verification_token, \
         retention_days FROM cur.tenants",
        "INSERT INTO instances SELECT * FROM cur.instances",
        "INSERT INTO entries (id, tenant_id, seq, recorded_at, occurred_at, event_type, category, \
         action, description, actor_kind, actor_id, actor_label, instance_id, instance_name, \
         target_kind, target_id, target_name, changes, metadata, ctx_ip, ctx_user_agent, \
         ctx_session_id, ctx_request_id, idempotency_key, entry_digest, prev_hash, hash, \
         canonical_version, source_kind, source_id, source_name) \
         SELECT e.id, e.tenant_id, e.seq, e.recorded_at, e.occurred_at, e.event_type, e.category, \
         e.action, e.description, e.actor_kind, e.actor_id, e.actor_label, e.instance_id, \
         e.instance_name, e.target_kind, e.target_id, e.target_name, e.changes, e.metadata, \
         e.ctx_ip, e.ctx_user_agent, e.ctx_session_id, e.ctx_request_id, e.idempotency_key, \
         lower(hex(c.entry_digest)), coalesce(lower(hex(p.hash)), printf('%064d', 0)), \
         lower(hex(c.hash)), e.canonical_version, e.source_kind, e.source_id, e.source_name \
         FROM cur.entries e JOIN cur.chain_links c ON c.tenant_id = e.tenant_id AND c.seq = e.seq \
         LEFT JOIN cur.chain_links p ON p.tenant_id = e.tenant_id AND p.seq = e.seq - 1 \
         ORDER BY e.seq",
        "INSERT INTO chain_links SELECT tenant_id, seq, lower(hex(entry_digest)), lower(hex(hash)) \
         FROM cur.chain_links ORDER BY seq",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
    // Then every level of the tree was stored, leaves included.
    let mut frontier = app::merkle::Frontier::default();
    for e in expected {
        let digest: [u8; 32] = hex::decode(&e.entry_digest).unwrap().try_into().unwrap();
        for (level, idx, hash) in frontier.push(app::merkle::leaf_hash(&digest)) {
            sqlx::query(
                "INSERT INTO merkle_nodes (tenant_id, level, idx, hash) VALUES (?, ?, ?, ?)",
            )
            .bind(t.id.to_string())
            .bind(i64::from(level))
            .bind(i64::try_from(idx).unwrap())
            .bind(hash.to_vec())
            .execute(&mut *conn)
            .await
            .unwrap();
        }
    }
    let old_hash: String = sqlx::query_scalar("SELECT hash FROM entries WHERE seq = 45")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(old_hash, expected[44].hash, "the old layout holds hex text");
    drop(conn);
    pool.close().await;

    let migrated = server::store::SqliteStore::open(&old_url).await.unwrap();
    super::check_migrated(&migrated, &log).await;
    // The earlier layout is gone: no hash columns left on entries, bytes in links.
    let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('entries')")
        .fetch_all(migrated.pool())
        .await
        .unwrap();
    assert!(!columns
        .iter()
        .any(|c| c.contains("hash") || c == "entry_digest"));
    let kind: String = sqlx::query_scalar("SELECT typeof(hash) FROM chain_links LIMIT 1")
        .fetch_one(migrated.pool())
        .await
        .unwrap();
    assert_eq!(kind, "blob");
}
