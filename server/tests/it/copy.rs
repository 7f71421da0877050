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
