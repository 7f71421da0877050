//! Integration tests: the real SQLite store on a real file, and the real router.

mod aging;
mod export;
mod http;
mod ingest;
mod integrity;
mod secrets;
mod shapes;
mod store;

use app::catalog::EventType;
use app::clock::ManualClock;
use app::entry::{Actor, NewEntry, Tenant};
use app::store::Store;
use server::store::SqliteStore;
use std::sync::Arc;
use tempfile::TempDir;

/// A fresh database file in its own temporary directory.
pub async fn fresh_store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&url(&dir)).await.unwrap();
    (dir, store)
}

/// A clock standing at a fixed day (not today), for tests that age things.
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at(
        chrono::DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .into(),
    ))
}

/// A fresh database file whose store reads time from `clock`.
pub async fn fresh_store_with(clock: Arc<ManualClock>) -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with_clock(&url(&dir), clock)
        .await
        .unwrap();
    (dir, store)
}

pub fn url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("stele.db").display())
}

/// The server functions' state over `store`, with a fixed signing key.
pub fn state_for(
    store: Arc<dyn Store>,
    platform_tenant: uuid::Uuid,
    seed: u8,
) -> app::ssr::AppState {
    app::ssr::AppState {
        store,
        platform_tenant,
        throttle: Arc::default(),
        secure_cookies: false,
        public_url: "http://stele.test".into(),
        signer: Arc::new(ed25519_dalek::SigningKey::from_bytes(&[seed; 32])),
        previous_keys: Arc::default(),
    }
}

/// Signs the tenant's head as the periodic job would.
pub async fn sign(state: &app::ssr::AppState, tenant: uuid::Uuid) -> app::checkpoint::Checkpoint {
    app::ssr::integrity::sign_checkpoint(state, tenant, Actor::system(), Default::default())
        .await
        .unwrap()
}

pub async fn tenant(store: &dyn Store, slug: &str) -> Tenant {
    store
        .create_tenant(slug, &format!("{slug} MSP"))
        .await
        .unwrap()
}

pub fn entry(n: usize) -> NewEntry {
    NewEntry::new(
        EventType::ExtensionUpdated,
        Actor::user("u1", Some("Jane Doe"), Some("jane@msp.example")),
        format!("Updated extension {n}"),
    )
    .instance("pbx-1", "Acme HQ")
    .change(
        "ring_timeout_s",
        Some(serde_json::json!(20)),
        Some(serde_json::json!(n)),
    )
}
