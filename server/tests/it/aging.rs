//! Time: tenants aged past their retention with the injectable clock (no sleeping,
//! no dependence on today's date), on real database files. A quiet tenant purged
//! entirely keeps working; the daily job serves each tenant on its own; purged bytes
//! are gone from the file and its WAL; exports made after a purge verify offline.

use super::export::export;
use super::http::TestApp;
use super::{clock, entry, fresh_store_with, tenant};
use app::catalog::EventType;
use app::clock::Clock;
use app::ssr::integrity::{sign_changed, verify_log};
use app::ssr::retention::{purge_due, purge_tenant};
use app::ssr::AppState;
use app::store::{EntryQuery, Mutation, Order, Store};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Duration;
use serde_json::json;

use uuid::Uuid;

const JANE: &str = "jane@northwind.example";

async fn set_retention(store: &dyn Store, tenant: Uuid, days: u32) {
    store
        .commit(
            tenant,
            Mutation::SetRetention {
                tenant_id: tenant,
                days: Some(days),
            },
            vec![],
        )
        .await
        .unwrap();
}

async fn all(store: &dyn Store, tenant: Uuid) -> Vec<app::entry::Entry> {
    store
        .list(&EntryQuery {
            tenant_id: Some(tenant),
            order: Order::OldestFirst,
            limit: 1000,
            ..EntryQuery::default()
        })
        .await
        .unwrap()
}

fn keys(state: &AppState) -> Vec<ed25519_dalek::VerifyingKey> {
    state.trusted_keys()
}

#[tokio::test]
async fn a_quiet_tenant_purged_entirely_keeps_working() {
    let clock = clock();
    let app = TestApp::with_clock(clock.clone()).await;
    let t = app.tenant("northwind").await;
    set_retention(app.store.as_ref(), t.id, 30).await;
    let head = app.store.head(t.id).await.unwrap();
    assert!(head > 100);
    // Critical entries (access changes, Stele's audit events) keep their content.
    let before = all(app.store.as_ref(), t.id).await;
    let critical: Vec<_> = before
        .iter()
        .filter(|e| e.event_type.builtin().is_some_and(|t| t.is_critical()))
        .cloned()
        .collect();
    assert!(
        !critical.is_empty() && critical.len() < before.len(),
        "the demo holds both kinds"
    );
    let kept = u64::try_from(critical.len()).unwrap();

    // 31 quiet days later the daily job purges every other entry the tenant has.
    clock.advance(Duration::days(31));
    let report = purge_due(&app.state).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(report.done.contains(&t.id));
    let left = all(app.store.as_ref(), t.id).await;
    let (purge_entry, kept_entries) = left.split_last().unwrap();
    assert_eq!(
        kept_entries,
        critical.as_slice(),
        "critical entries, unchanged"
    );
    assert_eq!(purge_entry.event_type, EventType::AuditPurged);
    assert_eq!(purge_entry.seq, i64::try_from(head).unwrap() + 1);
    assert_eq!(purge_entry.metadata["to_seq"], json!(head));
    assert_eq!(purge_entry.metadata["kept_critical"], json!(kept));
    assert!(
        purge_entry
            .description
            .contains(&format!("keeping {kept} critical entries")),
        "{}",
        purge_entry.description
    );
    assert_eq!(
        app.store.purged_ranges(t.id).await.unwrap(),
        vec![(1, i64::try_from(head).unwrap())]
    );

    // The tenant keeps working: login (an append), verify, sign, export.
    let jane = app.login(JANE).await;
    let newest = all(app.store.as_ref(), t.id).await;
    assert_eq!(
        newest.last().unwrap().event_type,
        EventType::AuthLoginSucceeded
    );
    assert_eq!(newest.last().unwrap().seq, i64::try_from(head).unwrap() + 2);
    let verified = verify_log(app.store.as_ref(), t.id, &keys(&app.state))
        .await
        .unwrap();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.purged, head - kept);
    assert_eq!(verified.kept_critical, kept);
    let cp = super::sign(&app.state, t.id).await;
    assert_eq!(cp.tree_size, head + 2);
    assert_eq!(cp.signed_at, clock.now());
    let (status, body, _) = export(&app, Some(&jane), "format=ndjson").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let offline = app::verify::verify_export(body.lines(), None, &keys(&app.state)).unwrap();
    assert!(offline.complete && offline.signature_checked, "{offline:?}");
    // The export holds the kept entries among the proof nodes of the purged ones.
    assert_eq!(offline.window.unwrap().0, 1);
    assert_eq!(offline.kept_critical, kept);
    let window_end = offline.window.unwrap().1;
    let with_content = all(app.store.as_ref(), t.id)
        .await
        .iter()
        .filter(|e| e.seq <= window_end)
        .count();
    assert_eq!(offline.entries, u64::try_from(with_content).unwrap());
    assert_eq!(
        offline.purged_ranges,
        vec![(1, i64::try_from(head).unwrap())]
    );

    // The periodic job signs the grown tenant, stamped with the clock's time.
    clock.advance(Duration::minutes(10));
    let round = sign_changed(&app.state).await.unwrap();
    assert!(
        round.failed.is_empty() && round.done.contains(&t.id),
        "{round:?}"
    );

    // A super admin's manual purge of the quiet tenant, right away: the same.
    clock.advance(Duration::days(2));
    let root = app.login(server::demo::DEMO_SUPER_ADMIN).await;
    let manual = app
        .call(
            Some(&root),
            "manual_purge",
            json!({"tenant": "northwind", "older_than_days": 1, "confirm": "northwind"}),
        )
        .await;
    assert_eq!(manual.status, StatusCode::OK, "{}", manual.body);
    let after = all(app.store.as_ref(), t.id).await;
    // The first purge's entry is critical too (audit), and stays with the others.
    let (last, rest) = after.split_last().unwrap();
    assert_eq!(last.event_type, EventType::AuditPurged);
    assert!(
        rest.iter()
            .all(|e| e.event_type.builtin().is_some_and(|t| t.is_critical())),
        "{rest:?}"
    );
    assert!(rest.len() > critical.len());
    app.login(JANE).await;
    // A huge day count is a clear 400, not a panic.
    let huge = app
        .call(
            Some(&root),
            "manual_purge",
            json!({"tenant": "northwind", "older_than_days": u32::MAX, "confirm": "northwind"}),
        )
        .await;
    assert_eq!(huge.status, StatusCode::BAD_REQUEST, "{}", huge.body);

    // 400 days on, the platform tenant (super admins' logins) is purged too, and
    // super admins still log in.
    clock.advance(Duration::days(400));
    let report = purge_due(&app.state).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(report.done.contains(&app.state.platform_tenant));
    app.login(server::demo::DEMO_SUPER_ADMIN).await;
    for tenant in app.store.tenants().await.unwrap() {
        let v = verify_log(app.store.as_ref(), tenant.id, &keys(&app.state))
            .await
            .unwrap();
        assert!(v.ok, "{}: {v:?}", tenant.slug);
    }
}

#[tokio::test]
async fn sessions_expire_by_the_clock() {
    let clock = clock();
    let app = TestApp::with_clock(clock.clone()).await;
    let jane = app.login(JANE).await;
    let users = app.call(Some(&jane), "users", json!({})).await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.body);
    clock.advance(Duration::hours(app::ssr::session::SESSION_HOURS) - Duration::seconds(1));
    let users = app.call(Some(&jane), "users", json!({})).await;
    assert_eq!(
        users.status,
        StatusCode::OK,
        "just before expiry: {}",
        users.body
    );
    clock.advance(Duration::seconds(2));
    let users = app.call(Some(&jane), "users", json!({})).await;
    assert_eq!(users.status, StatusCode::UNAUTHORIZED, "{}", users.body);
}

#[tokio::test]
async fn the_daily_job_purges_every_tenant_even_when_the_first_fails() {
    let clock = clock();
    let (_dir, raw) = fresh_store_with(clock.clone()).await;
    let store = raw.shared();
    let first = tenant(store.as_ref(), "a-first").await;
    let second = tenant(store.as_ref(), "b-second").await;
    let third = tenant(store.as_ref(), "c-third").await;
    for t in [&first, &second, &third] {
        store
            .append(t.id, (1..=10).map(entry).collect())
            .await
            .unwrap();
        set_retention(store.as_ref(), t.id, 30).await;
    }
    let state = super::state_for(store.clone(), first.id, 3);
    // The first tenant's deletes fail (a disk error, say) after its range is recorded,
    // while the fault is on. The fault is switched by a row, not by dropping the
    // trigger: changing the schema under the pool's cached statements is not what a
    // disk fault looks like.
    raw.fail_purges_of(first.id).await;
    clock.advance(Duration::days(31));
    let report = purge_due(&state).await.unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].0, first.id);
    assert!(
        !report.failed[0].1.contains("simulated"),
        "no internals in the report"
    );
    for t in [&second, &third] {
        assert!(report.done.contains(&t.id));
        let left = all(store.as_ref(), t.id).await;
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].event_type, EventType::AuditPurged);
    }
    assert_eq!(
        store.unaudited_purges(first.id).await.unwrap(),
        vec![(1, 10)]
    );
    assert_eq!(all(store.as_ref(), first.id).await.len(), 10);

    // Once the fault is gone, the next run finishes the interrupted purge and
    // writes its `audit.purged`.
    raw.exec("UPDATE fault SET active = 0").await.unwrap();
    let report = purge_due(&state).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(report.done.contains(&first.id));
    let left = all(store.as_ref(), first.id).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event_type, EventType::AuditPurged);
    assert_eq!(left[0].metadata["from_seq"], json!(1));
    assert_eq!(left[0].metadata["to_seq"], json!(10));
    assert!(
        left[0].description.contains("interrupted"),
        "{}",
        left[0].description
    );
    assert!(store.unaudited_purges(first.id).await.unwrap().is_empty());
    // Nothing is audited twice.
    assert!(purge_due(&state).await.unwrap().done.is_empty());
    for t in [&first, &second, &third] {
        let v = verify_log(store.as_ref(), t.id, &keys(&state))
            .await
            .unwrap();
        assert!(v.ok, "{v:?}");
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[tokio::test]
async fn purged_content_cannot_be_found_in_the_file_or_its_wal() {
    let clock = clock();
    let (dir, store) = fresh_store_with(clock.clone()).await;
    let store = store.shared();
    let t = tenant(store.as_ref(), "acme").await;
    // The marker sits in every place content is kept: description (and so the search
    // index), target name, a changed value and metadata.
    let marker = "zqxsecretmarker";
    let marked: Vec<_> = (1..=40)
        .map(|n| {
            app::entry::NewEntry::new(
                EventType::TrunkUpdated,
                app::entry::Actor::user("u1", Some("Jane Doe"), Some("jane@msp.example")),
                format!("Moved trunk {n} to {marker}{n} registrar"),
            )
            .instance("pbx-1", "Acme HQ")
            .target(
                "trunk",
                format!("SIP-{n}"),
                Some(&format!("{marker} trunk {n}")),
            )
            .change(
                "registrar",
                Some(json!("old.example")),
                Some(json!(format!("{marker}.example"))),
            )
            .meta("note", json!(format!("{marker} in metadata {n}")))
        })
        .collect();
    store.append(t.id, marked).await.unwrap();
    assert!(
        contains(&super::stored_bytes(&dir), marker),
        "the test can fail"
    );
    clock.advance(Duration::days(40));
    store
        .append(t.id, (1..=5).map(entry).collect())
        .await
        .unwrap();
    let state = super::state_for(store.clone(), t.id, 3);
    let range = purge_tenant(
        &state,
        t.id,
        clock.now() - Duration::days(30),
        app::entry::Actor::system(),
        Default::default(),
        "test",
    )
    .await
    .unwrap();
    assert_eq!(range, Some((1, 40)));
    let bytes = super::stored_bytes(&dir);
    for needle in [marker, "secretmarker", "old.example"] {
        assert!(!contains(&bytes, needle), "`{needle}` is still in the file");
    }
    // What was not purged is still there, and the log verifies.
    assert!(contains(&bytes, "Updated extension 5") || all(store.as_ref(), t.id).await.len() == 6);
    let v = verify_log(store.as_ref(), t.id, &keys(&state))
        .await
        .unwrap();
    assert!(v.ok, "{v:?}");
}

fn run_verify(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stele"))
        .arg("verify")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn get_public(app: &TestApp, path: &str) -> String {
    let a = app
        .send(Request::get(path).body(Body::empty()).unwrap())
        .await;
    assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.body);
    a.body
}

#[tokio::test]
async fn exports_made_after_a_purge_verify_offline_for_any_window() {
    let clock = clock();
    let app = TestApp::with_clock(clock.clone()).await;
    let t = app.tenant("northwind").await;
    set_retention(app.store.as_ref(), t.id, 30).await;
    clock.advance(Duration::days(20));
    let middle = clock.now();
    app.store
        .append(t.id, (1..=30).map(entry).collect())
        .await
        .unwrap();
    clock.advance(Duration::days(11));
    // The demo history is older than 30 days now; the 30 new entries are not.
    purge_due(&app.state).await.unwrap();
    let purged = app.store.purged_ranges(t.id).await.unwrap();
    assert_eq!(purged.len(), 1);
    app.store
        .append(t.id, (31..=40).map(entry).collect())
        .await
        .unwrap();
    let jane = app.login(JANE).await;
    let token = app.store.verification_token(t.id).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = hex::encode(app.state.signer.verifying_key().as_bytes());
    let from = (middle - Duration::hours(1))
        .to_rfc3339()
        .replace('+', "%2B");
    for (query, expect) in [
        (
            "format=ndjson".to_owned(),
            "the export holds every entry of seq",
        ),
        (
            "format=ndjson&event_type=extension.updated".to_owned(),
            "a filtered export",
        ),
        (format!("format=ndjson&from={from}"), "a filtered export"),
        ("format=ndjson&q=extension".to_owned(), "a filtered export"),
    ] {
        let (status, body, _) = export(&app, Some(&jane), &query).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        let file = dir.path().join("export.ndjson");
        std::fs::write(&file, &body).unwrap();
        let (ok, out, err) = run_verify(&[file.as_os_str(), "--public-key".as_ref(), key.as_ref()]);
        assert!(ok, "{query}: {err}");
        assert!(out.contains(expect), "{query}: {out}");
        assert!(out.contains("purged by retention"), "{query}: {out}");
        assert!(out.contains("signatures valid"), "{query}: {out}");
        let lines = body.lines().filter(|l| l.starts_with("{\"id\"")).count();
        assert!(lines > 0, "{query}: the export holds entries");

        // The checkpoint as the public endpoint publishes it (JSON) and as a C2SP
        // note: both are accepted and must agree with the export.
        let published = dir.path().join("published.json");
        std::fs::write(
            &published,
            get_public(&app, &format!("/api/v1/verify/{token}")).await,
        )
        .unwrap();
        let (ok, _, err) = run_verify(&[
            file.as_os_str(),
            "--checkpoint".as_ref(),
            published.as_os_str(),
            "--public-key".as_ref(),
            key.as_ref(),
        ]);
        assert!(ok, "{query} with the endpoint's JSON: {err}");
        let note = get_public(&app, &format!("/api/v1/verify/{token}/checkpoint")).await;
        let note_file = dir.path().join("checkpoint.note");
        std::fs::write(&note_file, &note).unwrap();
        let (ok, _, err) = run_verify(&[
            file.as_os_str(),
            "--checkpoint".as_ref(),
            note_file.as_os_str(),
            "--public-key".as_ref(),
            key.as_ref(),
        ]);
        assert!(ok, "{query} with the C2SP note: {err}");
    }
}

/// Rewrites one line of an export as an attacker with the file (but not the key)
/// would: the entry's digest and chain hash recomputed so the line is consistent.
fn rewrite_entry(line: &str, f: impl FnOnce(&mut app::entry::Entry)) -> String {
    let mut e: app::entry::Entry = serde_json::from_str(line).unwrap();
    f(&mut e);
    e.entry_digest = hex::encode(app::canonical::entry_digest(&e));
    let prev: [u8; 32] = hex::decode(&e.prev_hash).unwrap().try_into().unwrap();
    let digest: [u8; 32] = hex::decode(&e.entry_digest).unwrap().try_into().unwrap();
    e.hash = hex::encode(app::canonical::chain_hash(&prev, &digest));
    serde_json::to_string(&e).unwrap()
}

/// Re-seals the closing line over the edited lines, as an attacker can (the
/// SHA-256 needs no key; the signature is copied, and can no longer verify).
fn reclose(lines: &mut Vec<String>) {
    let end = lines.pop().unwrap();
    let mut h = sha2::Sha256::new();
    use sha2::Digest;
    for l in lines.iter() {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    let entries = lines.iter().filter(|l| l.starts_with("{\"id\"")).count();
    let mut v: serde_json::Value = serde_json::from_str(&end).unwrap();
    v["stele_export_end"]["sha256"] = json!(hex::encode(h.finalize()));
    v["stele_export_end"]["entries"] = json!(entries);
    lines.push(v.to_string());
}

#[tokio::test]
async fn lines_appended_or_edited_after_the_checkpoint_are_caught() {
    let app = TestApp::new().await;
    let jane = app.login(JANE).await;
    let (_, body, _) = export(&app, Some(&jane), "format=ndjson").await;
    let keys = keys(&app.state);
    let lines: Vec<String> = body.lines().map(str::to_owned).collect();
    let check = |l: &[String], keys: &[ed25519_dalek::VerifyingKey]| {
        app::verify::verify_export(l.iter().map(String::as_str), None, keys)
    };
    assert!(check(&lines, &keys).is_ok());
    let last_entry = lines.len() - 2;
    assert!(
        lines[last_entry].starts_with("{\"id\""),
        "the line before the closing one"
    );

    // An entry appended after the export's signed end, consistent with the chain.
    let mut appended = lines.clone();
    let forged = rewrite_entry(&lines[last_entry], |e| {
        e.prev_hash = e.hash.clone();
        e.seq += 1;
        e.id = Uuid::now_v7();
        e.description = "Deleted every trunk".into();
    });
    appended.insert(last_entry + 1, forged);
    reclose(&mut appended);
    for k in [&keys[..], &[]] {
        let p = check(&appended, k).unwrap_err();
        assert!(p.reason.contains("outside the export's window"), "{p}");
    }
    // …or after the closing line.
    let mut after = lines.clone();
    after.push(lines[last_entry].clone());
    assert!(check(&after, &keys)
        .unwrap_err()
        .reason
        .contains("after the closing line"));

    // The last entry rewritten and re-chained, closing hash re-sealed: the signature
    // catches it, and without a key the Merkle root still does.
    let mut edited = lines.clone();
    edited[last_entry] = rewrite_entry(&lines[last_entry], |e| {
        e.description = "Nothing happened".into()
    });
    let unsealed = check(&edited, &[]).unwrap_err();
    assert!(unsealed.reason.starts_with("altered"), "{unsealed}");
    reclose(&mut edited);
    let p = check(&edited, &keys).unwrap_err();
    assert!(
        p.reason.contains("closing signature does not verify"),
        "{p}"
    );
    let p = check(&edited, &[]).unwrap_err();
    assert!(p.reason.starts_with("checkpoint mismatch"), "{p}");

    // An entry taken out and replaced by a proof node for it (the attacker can hash
    // the leaf): the closing signature refuses the file.
    let mut removed = lines.clone();
    let victim: app::entry::Entry = serde_json::from_str(&removed[last_entry]).unwrap();
    let leaf = app::merkle::leaf_hash(
        &hex::decode(&victim.entry_digest)
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let idx = u64::try_from(victim.seq - 1).unwrap();
    removed[last_entry] = app::verify::proof_line(idx, idx + 1, &leaf)
        .trim_end()
        .to_owned();
    reclose(&mut removed);
    let p = check(&removed, &keys).unwrap_err();
    assert!(p.reason.contains("closing signature"), "{p}");

    // Cut short: no closing line.
    let p = check(&lines[..lines.len() - 1], &keys).unwrap_err();
    assert!(p.reason.starts_with("incomplete"), "{p}");
    // The header's window stretched.
    let mut stretched = lines.clone();
    stretched[0] = stretched[0].replace("\"filtered\":false", "\"filtered\":true");
    assert!(check(&stretched, &keys)
        .unwrap_err()
        .reason
        .starts_with("altered"));
}

/// Reading the log is recorded: `audit.viewed` at most once per session, view and
/// filters per hour, also when the same view is asked for in parallel; another
/// filter, another session or the next hour is another reading.
#[tokio::test]
async fn reading_the_log_is_recorded_once_per_session_view_and_hour() {
    let clock = clock();
    let app = TestApp::with_clock(clock.clone()).await;
    let northwind = app.tenant("northwind").await;
    let viewed = |tenant: Uuid| {
        let store = app.store.clone();
        async move {
            store
                .list(&EntryQuery {
                    tenant_id: Some(tenant),
                    filter: app::api::FeedFilter {
                        event_type: Some(EventType::AuditViewed.into()),
                        ..Default::default()
                    },
                    limit: 1000,
                    ..EntryQuery::default()
                })
                .await
                .unwrap()
        }
    };
    let jane = app.login(JANE).await;
    let read = |cookie: String, filter: serde_json::Value| {
        let app = &app;
        async move {
            let a = app
                .call(
                    Some(&cookie),
                    "tenant_feed",
                    json!({"tenant": "northwind", "filter": filter}),
                )
                .await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        }
    };
    assert!(viewed(northwind.id).await.is_empty());
    read(jane.clone(), json!({})).await;
    read(jane.clone(), json!({})).await;
    let first = viewed(northwind.id).await;
    assert_eq!(first.len(), 1, "once per session and view");
    assert_eq!(
        first[0].actor.id,
        Some(
            app.store
                .user_by_email(JANE)
                .await
                .unwrap()
                .unwrap()
                .id
                .to_string()
        )
    );
    assert_eq!(first[0].metadata["view"], json!("tenant feed"));
    assert!(
        first[0].context.session_id.is_some(),
        "the session's reference"
    );
    // Eight parallel readings of a new filter are one.
    let filter = json!({"category": "config", "q": "trunk"});
    futures::future::join_all((0..8).map(|_| read(jane.clone(), filter.clone()))).await;
    let second = viewed(northwind.id).await;
    assert_eq!(second.len(), 2, "one per filters, however many ask at once");
    assert_eq!(second[0].metadata["filters"]["q"], json!("trunk"));
    assert_eq!(second[0].description, "Viewed the tenant feed, filtered");
    // A refused reading is no reading.
    let bad = app
        .call(
            Some(&jane),
            "tenant_feed",
            json!({"tenant": "northwind", "filter": {"q": "acter:x"}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(viewed(northwind.id).await.len(), 2);
    // Another session of the same person, and the next hour, are new readings.
    let again = app.login(JANE).await;
    read(again, json!({})).await;
    assert_eq!(viewed(northwind.id).await.len(), 3);
    let raw = app.dir.open(clock.clone()).await;
    let claims = "SELECT count(*) FROM job_rounds WHERE job LIKE 'viewed:%'";
    assert_eq!(
        raw.scalar(claims).await,
        3,
        "one claim per reading recorded"
    );
    clock.advance(Duration::minutes(61));
    read(jane.clone(), json!({})).await;
    assert_eq!(viewed(northwind.id).await.len(), 4);
    // The past hour's claims are forgotten as the next hour's come.
    assert_eq!(raw.scalar(claims).await, 1);
    // The master view, looking at one tenant: the platform's log and the tenant's.
    let root = app.login(server::demo::DEMO_SUPER_ADMIN).await;
    let platform = app.state.platform_tenant;
    let before = viewed(platform).await.len();
    for _ in 0..2 {
        let a = app
            .call(
                Some(&root),
                "master_feed",
                json!({"tenant": "northwind", "filter": {}, "page": 1, "page_size": 50}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    assert_eq!(viewed(platform).await.len(), before + 1);
    let tenant_side = viewed(northwind.id).await;
    assert_eq!(tenant_side.len(), 5);
    assert_eq!(tenant_side[0].metadata["view"], json!("master view"));
}
