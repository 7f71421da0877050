//! Store backends. Everything above this module talks to `app::store::Store` only.

pub mod copy;
pub mod postgres;
pub mod sqlite;
mod sqlite_retention;

use app::store::{Store, StoreError};
use std::sync::Arc;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Opens (creating and migrating) the store a database URL names.
pub async fn open(database_url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(database_url).await?))
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        Ok(Arc::new(PgStore::open(database_url).await?))
    } else {
        anyhow::bail!(
            "unsupported database URL scheme in `{database_url}`: expected sqlite: or postgres:"
        )
    }
}

/// Wraps any backend error as an internal store error (logged, never shown).
pub(crate) fn internal<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Internal(Box::new(e))
}
