//! Shape: "anything Stele accepts, it can verify" as a property. Random events —
//! any Unicode text, numbers at the edges of what JSON can say, times with offsets,
//! fractions and leap seconds, nested metadata — go through the ingestion checks and
//! the store; every accepted one must verify in the app (the log walk) and offline
//! (its JSON, read back, gives its digest).

use super::{fresh_store, tenant};
use app::entry::{Actor, Context, Entry};
use app::store::{EntryQuery, Order};
use proptest::prelude::*;
use serde_json::{json, Value};
use server::ingest::{validate_event, Known};
use std::collections::HashMap;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        "[a-z ]{1,12}",
        Just("\u{202E}gpj.exe".to_owned()),
        Just("nul\u{0}inside".to_owned()),
        Just("e\u{301}\u{1F600}\u{FFFD}\"\\\n\t".to_owned()),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e300f64..1e300).prop_map(|f| json!(f)),
        Just(json!(9_007_199_254_740_993u64)),
        Just(json!(0.1)),
        Just(json!(-0.0)),
        Just(json!(1e21)),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::String),
        number(),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn time() -> impl Strategy<Value = String> {
    (
        1971i32..2026,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..=60,
        0u32..1_000_000_000,
        prop_oneof![Just("Z"), Just("+05:30"), Just("-08:00"), Just("+14:00")],
    )
        .prop_map(|(y, mo, d, h, s, nanos, off)| {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:59:{s:02}.{nanos:09}{off}")
        })
}

/// Built-in, pack and tenant types (see [`open_catalog`]).
const TYPES: &[&str] = &[
    "extension.updated",
    "host_service.ack",
    "byok.kms.rotate",
    "custom.backup.completed",
];

/// A catalog with both packs on and one own type with a schema.
fn open_catalog() -> app::catalog::TenantCatalog {
    app::catalog::TenantCatalog {
        packs: vec!["monitoring".into(), "api_gateway".into()],
        types: vec![app::catalog::TenantType {
            name: "custom.backup.completed".into(),
            category: "backups".into(),
            category_label: Some("Backups".into()),
            action: app::catalog::Action::Complete,
            description: "Backup completed".into(),
            schema: Some(json!({"type": "object"})),
            critical: true,
            retired: false,
        }],
    }
}

fn targets() -> impl Strategy<Value = Value> {
    // Names of any printable text (the other fields carry NULs and empties).
    prop::collection::vec(("[a-z_]{1,8}", "[A-Za-z0-9_./-]{1,12}", "\\PC{0,16}"), 0..3).prop_map(
        |ts| {
            Value::Array(
                ts.into_iter()
                    .map(|(kind, id, name)| {
                        let id = if id.trim().is_empty() {
                            "1".to_owned()
                        } else {
                            id
                        };
                        let name = (!name.trim().is_empty()).then_some(name);
                        json!({"kind": kind, "id": id, "name": name})
                    })
                    .collect(),
            )
        },
    )
}

fn event() -> impl Strategy<Value = Value> {
    (
        (text(), text(), tree(), tree(), tree(), time(), text()),
        (0..TYPES.len(), targets()),
    )
        .prop_map(
        |((description, name, before, after, metadata, occurred, label), (type_index, targets))| {
            let metadata = match metadata {
                Value::Object(m) => Value::Object(m),
                other => json!({ "value": other }),
            };
            json!({
                "event_type": TYPES[type_index],
                "targets": targets,
                "description": if description.trim().is_empty() { "x".to_owned() } else { description },
                "actor": {"kind": "user", "id": "tech-1", "name": label},
                "instance": {"id": "pbx-1", "name": if name.trim().is_empty() { "PBX".to_owned() } else { name }},
                "before": {"config": before},
                "after": {"config": after},
                "metadata": metadata,
                "occurred_at": occurred,
            })
        },
    )
}

#[test]
fn every_accepted_event_verifies_in_the_app_and_offline() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_dir, store) = runtime.block_on(fresh_store());
    let t = runtime.block_on(tenant(&*store, "acme"));
    let instances = HashMap::new();
    let key_actor = Actor::api_key("k1", "PBX sync");
    let context = Context::default();
    let no_users = std::collections::HashSet::new();
    let catalog = open_catalog();
    let accepted = std::cell::Cell::new(0usize);
    // About one generated event in six passes the checks (NULs, empty names and
    // the like are refused on purpose): 512 cases keep well over 100 accepted ones.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    });
    runner
        .run(&prop::collection::vec(event(), 1..6), |events| {
            let schemas = server::ingest::schemas_for(&events, &catalog);
            let known = Known {
                instances: &instances,
                key_actor: &key_actor,
                request_context: &context,
                now: chrono::Utc::now(),
                stele_users: &no_users,
                catalog: &catalog,
                schemas: &schemas,
            };
            // What the API receives is bytes: through the same strict parser.
            let bytes = serde_json::to_vec(&events).unwrap();
            let parsed = server::strict_json::from_slice(&bytes).unwrap();
            let batch: Vec<_> = parsed
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| {
                    let r = validate_event(e, &known);
                    if let Err(errs) = &r {
                        if std::env::var_os("SHAPES_DEBUG").is_some() {
                            eprintln!("REJECT {errs:?}");
                        }
                    }
                    r.ok()
                })
                .collect();
            accepted.set(accepted.get() + batch.len());
            let appended = runtime.block_on(store.append(t.id, batch)).unwrap();
            for a in appended {
                let e: Entry = runtime.block_on(store.get(t.id, a.id)).unwrap().unwrap();
                let digest = hex::encode(app::canonical::entry_digest(&e));
                prop_assert_eq!(&digest, &e.entry_digest, "in the app: {:?}", e);
                let line = serde_json::to_string(&e).unwrap();
                let back: Entry = serde_json::from_str(&line).unwrap();
                prop_assert_eq!(
                    hex::encode(app::canonical::entry_digest(&back)),
                    digest,
                    "offline: {}",
                    line
                );
            }
            Ok(())
        })
        .unwrap();
    let accepted = accepted.get();
    assert!(
        accepted > 100,
        "the generator mostly makes acceptable events ({accepted})"
    );
    let report = runtime
        .block_on(app::ssr::integrity::verify_log(&*store, t.id, &[]))
        .unwrap();
    assert!(report.ok, "{report:?}");
    let entries = runtime
        .block_on(store.list(&EntryQuery {
            tenant_id: Some(t.id),
            order: Order::OldestFirst,
            limit: 1000,
            ..EntryQuery::default()
        }))
        .unwrap();
    // Nothing that cannot be stored unchanged got in.
    for e in entries {
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("\\u0000"), "a NUL was stored: {text}");
    }
}

/// One event of a generated request.
#[derive(Debug, Clone)]
enum Ev {
    Plain,
    /// An idempotency key (of five) sent with one of two request hashes.
    Keyed(u8, u8),
    /// Refused by the database at insert (the poison trigger).
    Poison,
}

/// What one-by-one commits in submission order answer for a request.
#[derive(Debug, PartialEq)]
enum Expect {
    Ok(Vec<(i64, bool)>),
    Conflict,
    Refused,
}

/// Shape of concurrency: any mix of concurrent requests (two tenants, batches of 0–3
/// events, repeated and conflicting idempotency keys, requests the database refuses)
/// is answered by group commit exactly as committing them one by one in submission
/// order would: the same seqs, replays and errors, and each tenant's log gap-free
/// and verifying.
#[test]
fn any_mix_of_concurrent_requests_is_answered_as_one_by_one_commits_would() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_db, store) = runtime.block_on(fresh_store());
    runtime.block_on(store.poison_inserts("poison"));
    let store = store.shared();
    let case = std::cell::Cell::new(0u32);
    let ev = prop_oneof![
        3 => Just(Ev::Plain),
        3 => (0u8..5, 0u8..2).prop_map(|(k, h)| Ev::Keyed(k, h)),
        1 => Just(Ev::Poison),
    ];
    let request = (any::<bool>(), prop::collection::vec(ev, 0..4));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    });
    runner
        .run(&prop::collection::vec(request, 1..24), |requests| {
            case.set(case.get() + 1);
            let tenants = [
                runtime
                    .block_on(tenant(&*store, &format!("a{}", case.get())))
                    .id,
                runtime
                    .block_on(tenant(&*store, &format!("b{}", case.get())))
                    .id,
            ];
            // The model: per tenant, the next seq and the keys written (key → hash, seq).
            let mut next = [1i64, 1];
            let mut keys: [HashMap<u8, (u8, i64)>; 2] = Default::default();
            let mut expected = Vec::new();
            for (on_b, events) in &requests {
                let t = usize::from(*on_b);
                let (mut seq, mut fresh, mut out) = (next[t], HashMap::new(), Vec::new());
                let mut answer = None;
                for e in events {
                    match e {
                        Ev::Keyed(k, h) => match fresh.get(k).or(keys[t].get(k)) {
                            Some(&(stored, _)) if stored != *h => {
                                answer = Some(Expect::Conflict);
                                break;
                            }
                            Some(&(_, original)) => out.push((original, true)),
                            None => {
                                fresh.insert(*k, (*h, seq));
                                out.push((seq, false));
                                seq += 1;
                            }
                        },
                        Ev::Plain | Ev::Poison => {
                            out.push((seq, false));
                            seq += 1;
                        }
                    }
                }
                let answer = answer.unwrap_or_else(|| {
                    if events.iter().any(|e| matches!(e, Ev::Poison)) {
                        Expect::Refused
                    } else {
                        next[t] = seq;
                        keys[t].extend(fresh);
                        Expect::Ok(out)
                    }
                });
                expected.push(answer);
            }
            let batches: Vec<_> = requests
                .iter()
                .map(|(on_b, events)| {
                    let batch: Vec<_> = events
                        .iter()
                        .enumerate()
                        .map(|(i, e)| {
                            let mut n = super::entry(i);
                            match e {
                                Ev::Plain => {}
                                Ev::Poison => n.description = "poison".into(),
                                Ev::Keyed(k, h) => {
                                    n.idempotency_key = Some(format!("k{k}"));
                                    n.idempotency_scope = Some("producer".into());
                                    n.request_hash = Some(format!("h{h}"));
                                }
                            }
                            n
                        })
                        .collect();
                    (tenants[usize::from(*on_b)], batch)
                })
                .collect();
            let answers = runtime.block_on(futures::future::join_all(batches.into_iter().map(
                |(t, batch)| {
                    let store = store.clone();
                    async move { store.append(t, batch).await }
                },
            )));
            for (i, (answer, want)) in answers.iter().zip(&expected).enumerate() {
                let got = match answer {
                    Ok(a) => Expect::Ok(a.iter().map(|x| (x.seq, x.replayed)).collect()),
                    Err(app::store::StoreError::Conflict(_)) => Expect::Conflict,
                    Err(app::store::StoreError::Internal(_)) => Expect::Refused,
                    Err(other) => panic!("request {i}: {other:?}"),
                };
                prop_assert_eq!(&got, want, "request {} of {:?}", i, requests);
            }
            for (t, n) in tenants.iter().zip(next) {
                let stored = runtime.block_on(super::all_entries(&*store, *t));
                prop_assert_eq!(
                    stored.iter().map(|e| e.seq).collect::<Vec<_>>(),
                    (1..n).collect::<Vec<_>>()
                );
                let report = runtime
                    .block_on(app::ssr::integrity::verify_log(&*store, *t, &[]))
                    .unwrap();
                prop_assert!(report.ok, "{:?}", report);
            }
            Ok(())
        })
        .unwrap();
}
