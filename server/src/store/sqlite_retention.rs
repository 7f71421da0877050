//! Retention on SQLite: the single path that deletes entries. A purge records its
//! range first (the DELETE trigger lets through only recorded ranges), then removes
//! content oldest first in short batches, so readers and writers wait at most one
//! batch. Chain links and Merkle subtrees stay. Afterwards nothing of the content can
//! be read back from the file: `secure_delete` zeroes freed space, the search index
//! removes terms at once (FTS5 `secure-delete`), and the write-ahead log is
//! checkpointed and truncated.

use super::internal;
use app::store::StoreError;
use sqlx::SqlitePool;
use uuid::Uuid;

/// After a purge's deletes: makes the deleted bytes unrecoverable from the
/// write-ahead log.
pub async fn truncate_wal(pool: &SqlitePool, tenant_id: Uuid) -> Result<(), StoreError> {
    // Older pages of the deleted rows may still sit in the write-ahead log: copy it
    // into the (zeroed) database file and truncate it. Readers holding an old
    // snapshot can keep this from completing; the next purge (or SQLite's own
    // checkpoints) finish the job, and the outcome is logged.
    let (busy, log, done): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(pool)
        .await
        .map_err(internal)?;
    if busy != 0 {
        tracing::warn!(%tenant_id, log_frames = log, checkpointed = done,
            "purge: the write-ahead log could not be truncated yet (readers were active)");
    }
    Ok(())
}
