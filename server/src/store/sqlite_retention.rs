//! Retention on SQLite: the single path that deletes entries. A purge records its
//! range first (the DELETE trigger lets through only recorded ranges), then removes
//! content oldest first in short batches, so readers and writers wait at most one
//! batch. Chain links and Merkle subtrees stay. Afterwards nothing of the content can
//! be read back from the file: `secure_delete` zeroes freed space, the search index
//! removes terms at once (FTS5 `secure-delete`) and is then merged into one segment
//! (a deleted term can outlive its rows as the separator key of an index page until
//! its segment is rewritten), and the write-ahead log is checkpointed and truncated.

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

/// After a purge's deletes: rewrites the search index into one segment, in steps of
/// a few hundred pages each in its own transaction (appends go on between them),
/// until a step changes nothing (FTS5's documented incremental optimize), or until
/// it has written the index twice over: appends that keep adding small segments
/// must not keep it going forever.
pub async fn merge_search_index(pool: &SqlitePool) -> Result<(), StoreError> {
    const STEP: i64 = 500;
    let mut conn = pool.acquire().await.map_err(internal)?;
    let blocks: i64 = sqlx::query_scalar("SELECT count(*) FROM entries_fts_data")
        .fetch_one(&mut *conn)
        .await
        .map_err(internal)?;
    let changes = "SELECT total_changes()";
    let mut before: i64 = sqlx::query_scalar(changes)
        .fetch_one(&mut *conn)
        .await
        .map_err(internal)?;
    for _ in 0..(2 * blocks / STEP + 10) {
        sqlx::query("INSERT INTO entries_fts (entries_fts, rank) VALUES ('merge', $1)")
            .bind(-STEP)
            .execute(&mut *conn)
            .await
            .map_err(internal)?;
        let after: i64 = sqlx::query_scalar(changes)
            .fetch_one(&mut *conn)
            .await
            .map_err(internal)?;
        if after - before < 2 {
            return Ok(());
        }
        before = after;
    }
    tracing::warn!("purge: the search index merge did not finish; the next purge goes on");
    Ok(())
}
