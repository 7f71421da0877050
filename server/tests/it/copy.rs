//! Moving a deployment: `stele copy` from a SQLite file into an empty PostgreSQL
//! database, verified end to end; refused into a non-empty one; a tampered source
//! is caught before success is reported. Store-specific by nature (it needs both
//! stores), so it runs in both passes against the local PostgreSQL server.

use super::{all_entries, clock, entry, postgres_server};
use app::clock::Clock;
use app::entry::Actor;
use app::store::{Mutation, Store};
use server::demo::{self, DemoPlan};
use server::store::{PgStore, SqliteStore};
use std::process::Command;
use std::sync::Arc;

struct Database {
    server: String,
    name: String,
}

impl Database {
    async fn new() -> Self {
        let server =
            postgres_server().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into());
        let name = super::create_database(&server, "stele_copy").await;
        Database { server, name }
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    async fn drop_it(self) {
        let mut admin: sqlx::PgConnection =
            sqlx::Connection::connect(&format!("{}/postgres", self.server))
                .await
                .unwrap();
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

fn copy(from: &str, to: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stele"))
        .args(["copy", "--from", from, "--to", to])
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn a_sqlite_deployment_moves_to_postgres_whole_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let from = format!("sqlite://{}", dir.path().join("stele.db").display());
    let clock = clock();
    let source: Arc<dyn Store> = Arc::new(
        SqliteStore::open_with_clock(&from, clock.clone())
            .await
            .unwrap(),
    );
    demo::seed_all(
        source.as_ref(),
        &DemoPlan {
            events: 150,
            ..DemoPlan::default()
        },
    )
    .await
    .unwrap();
    let platform = server::cli::platform_tenant(source.as_ref()).await.unwrap();
    let state = super::state_for(source.clone(), platform.id, 9);
    std::fs::write(dir.path().join("signing.key"), hex::encode([9u8; 32])).unwrap();
    let tenants = source.tenants().await.unwrap();
    for t in &tenants {
        super::sign(&state, t.id).await;
    }
    // One tenant with a purged range, so the copy carries one.
    let first = tenants[0].id;
    source
        .commit(
            first,
            Mutation::SetRetention {
                tenant_id: first,
                days: Some(30),
            },
            vec![],
        )
        .await
        .unwrap();
    clock.advance(chrono::Duration::days(45));
    source
        .append(first, (1..=3).map(entry).collect())
        .await
        .unwrap();
    app::ssr::retention::purge_tenant(
        &state,
        first,
        clock.now() - chrono::Duration::days(30),
        Actor::system(),
        Default::default(),
        "test",
    )
    .await
    .unwrap();
    assert!(!source.purged_ranges(first).await.unwrap().is_empty());

    let db = Database::new().await;
    let (ok, out) = copy(&from, &db.url());
    assert!(ok, "{out}");
    assert!(out.contains("copied and verified"), "{out}");

    let dest = PgStore::open(&db.url()).await.unwrap();
    for t in &tenants {
        assert_eq!(
            all_entries(&dest, t.id).await,
            all_entries(source.as_ref(), t.id).await,
            "{}",
            t.slug
        );
        assert_eq!(
            dest.checkpoints(t.id).await.unwrap(),
            source.checkpoints(t.id).await.unwrap()
        );
        assert_eq!(
            dest.users_of(t.id).await.unwrap(),
            source.users_of(t.id).await.unwrap()
        );
        assert_eq!(
            dest.verification_token(t.id).await.unwrap(),
            source.verification_token(t.id).await.unwrap()
        );
    }
    // The moved deployment goes on where the old one stopped.
    let head = dest.head(first).await.unwrap();
    let next = dest.append(first, vec![entry(99)]).await.unwrap();
    assert_eq!(next[0].seq, i64::try_from(head).unwrap() + 1);
    let dest: Arc<dyn Store> = Arc::new(dest);
    let moved = super::state_for(dest.clone(), platform.id, 9);
    let report = app::ssr::integrity::verify_log(dest.as_ref(), first, &moved.trusted_keys())
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
    assert!(report.purged > 0, "{report:?}");

    // Never into a database that holds a deployment already.
    let (ok, out) = copy(&from, &db.url());
    assert!(!ok);
    assert!(out.contains("not empty"), "{out}");
    drop(dest);
    db.drop_it().await;
}

#[tokio::test]
async fn a_tampered_source_is_not_reported_as_copied() {
    let dir = tempfile::tempdir().unwrap();
    let from = format!("sqlite://{}", dir.path().join("stele.db").display());
    let source = SqliteStore::open(&from).await.unwrap();
    let t = super::tenant(&source, "acme").await;
    source
        .append(t.id, (1..=10).map(entry).collect())
        .await
        .unwrap();
    std::fs::write(dir.path().join("signing.key"), hex::encode([4u8; 32])).unwrap();
    let pool = source.pool().clone();
    drop(source);
    sqlx::query("DROP TRIGGER entries_refuse_update")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE entries SET description = 'rewritten' WHERE seq = 4")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let db = Database::new().await;
    let (ok, out) = copy(&from, &db.url());
    assert!(!ok, "{out}");
    assert!(
        out.contains("does not verify") && out.contains("content changed"),
        "{out}"
    );
    db.drop_it().await;
}

/// A PostgreSQL database of the schema before issue 13 (hex hashes in entries and
/// chain links, every Merkle level stored) is migrated in place by `0002_lean` when
/// a store opens it: the same entries and hashes, the same tree, and it verifies.
#[tokio::test]
async fn a_postgres_database_of_the_earlier_schema_is_migrated_in_place() {
    use chrono::Datelike;
    // The log as the current schema writes it, for comparison.
    let current = Database::new().await;
    let store = PgStore::open(&current.url()).await.unwrap();
    let log = super::write_migration_log(&store).await;
    let (t, expected) = (&log.tenant, &log.entries);
    let tenant_row: (i64, String) =
        sqlx::query_as("SELECT created_at, verification_token FROM tenants WHERE id = $1")
            .bind(t.id.to_string())
            .fetch_one(store.pool())
            .await
            .unwrap();
    drop(store);
    current.drop_it().await;

    // The earlier schema: migration 0001 only, filled as it stored the log then.
    let old = Database::new().await;
    let pool = sqlx::PgPool::connect(&old.url()).await.unwrap();
    super::migrations_up_to(sqlx::migrate!("../migrations/postgres"), 1)
        .run(&pool)
        .await
        .unwrap();
    let tenant = t.id.to_string();
    let parent = format!("entries_t{}", t.id.simple());
    sqlx::query(
        "INSERT INTO tenants (id, slug, name, created_at, verification_token) \
         VALUES ($1, 'acme', 'Acme MSP', $2, $3)",
    )
    .bind(&tenant)
    .bind(tenant_row.0)
    .bind(&tenant_row.1)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "CREATE TABLE {parent} PARTITION OF entries FOR VALUES IN ('{tenant}') \
         PARTITION BY RANGE (recorded_at)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let mut months = std::collections::BTreeSet::new();
    for e in expected {
        months.insert((e.recorded_at.year(), e.recorded_at.month()));
    }
    for (y, m) in months {
        let start = chrono::NaiveDate::from_ymd_opt(y, m, 1).unwrap();
        let end = if m == 12 {
            chrono::NaiveDate::from_ymd_opt(y + 1, 1, 1).unwrap()
        } else {
            chrono::NaiveDate::from_ymd_opt(y, m + 1, 1).unwrap()
        };
        let ms =
            |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
        sqlx::query(&format!(
            "CREATE TABLE {parent}_{y:04}{m:02} PARTITION OF {parent} FOR VALUES FROM ({}) TO ({})",
            ms(start),
            ms(end)
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    let mut frontier = app::merkle::Frontier::default();
    for e in expected {
        sqlx::query(
            "INSERT INTO entries (id, tenant_id, seq, recorded_at, occurred_at, event_type, \
             category, action, description, actor_kind, actor_id, actor_label, instance_id, \
             instance_name, target_kind, target_id, target_name, changes, metadata, ctx_ip, \
             ctx_user_agent, ctx_session_id, ctx_request_id, idempotency_key, entry_digest, \
             prev_hash, hash, canonical_version, source_kind, source_id, source_name) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31)",
        )
        .bind(e.id.to_string())
        .bind(&tenant)
        .bind(e.seq)
        .bind(e.recorded_at.timestamp_millis())
        .bind(e.occurred_at.timestamp_millis())
        .bind(e.event_type.as_str())
        .bind(e.category().as_str())
        .bind(e.action().as_str())
        .bind(&e.description)
        .bind(e.actor.kind.as_str())
        .bind(&e.actor.id)
        .bind(&e.actor.label)
        .bind(e.instance.as_ref().map(|i| i.id.clone()))
        .bind(e.instance.as_ref().map(|i| i.name.clone()))
        .bind(e.target.as_ref().map(|x| x.kind.clone()))
        .bind(e.target.as_ref().map(|x| x.id.clone()))
        .bind(e.target.as_ref().and_then(|x| x.name.clone()))
        .bind(serde_json::to_string(&e.changes).unwrap())
        .bind(serde_json::to_string(&e.metadata).unwrap())
        .bind(&e.context.ip)
        .bind(&e.context.user_agent)
        .bind(&e.context.session_id)
        .bind(&e.context.request_id)
        .bind(&e.idempotency_key)
        .bind(&e.entry_digest)
        .bind(&e.prev_hash)
        .bind(&e.hash)
        .bind(i64::try_from(e.v).unwrap())
        .bind(e.source.as_ref().map(|s| s.kind.as_str()))
        .bind(e.source.as_ref().and_then(|s| s.id.clone()))
        .bind(e.source.as_ref().map(|s| s.name.clone()))
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO chain_links (tenant_id, seq, entry_digest, hash) VALUES ($1, $2, $3, $4)",
        )
        .bind(&tenant)
        .bind(e.seq)
        .bind(&e.entry_digest)
        .bind(&e.hash)
        .execute(&pool)
        .await
        .unwrap();
        let digest: [u8; 32] = hex::decode(&e.entry_digest).unwrap().try_into().unwrap();
        for (level, idx, hash) in frontier.push(app::merkle::leaf_hash(&digest)) {
            sqlx::query(
                "INSERT INTO merkle_nodes (tenant_id, level, idx, hash) VALUES ($1, $2, $3, $4)",
            )
            .bind(&tenant)
            .bind(i64::from(level))
            .bind(i64::try_from(idx).unwrap())
            .bind(hash.to_vec())
            .execute(&pool)
            .await
            .unwrap();
        }
    }
    let old_kind: String = sqlx::query_scalar(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'chain_links' AND column_name = 'hash'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(old_kind, "text", "the old layout holds hex text");
    pool.close().await;

    let migrated = PgStore::open(&old.url()).await.unwrap();
    super::check_migrated(&migrated, &log).await;
    let kind: String = sqlx::query_scalar(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'chain_links' AND column_name = 'hash'",
    )
    .fetch_one(migrated.pool())
    .await
    .unwrap();
    assert_eq!(kind, "bytea");
    let hash_columns: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'entries' \
         AND column_name IN ('entry_digest', 'prev_hash', 'hash')",
    )
    .fetch_one(migrated.pool())
    .await
    .unwrap();
    assert_eq!(hash_columns, 0);
    drop(migrated);
    old.drop_it().await;
}
