//! Retention on SQLite: the single path that deletes entries. A purge records its
//! range first (the DELETE trigger lets through only recorded ranges), then removes
//! content oldest first in short batches, so readers and writers wait at most one
//! batch. Chain links and Merkle subtrees stay. Afterwards nothing of the content can
//! be read back from the file: `secure_delete` zeroes freed space, the search index
//! removes terms at once (FTS5 `secure-delete`), and the write-ahead log is
//! checkpointed and truncated.

use super::internal;
use app::store::StoreError;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use uuid::Uuid;

pub async fn ranges(pool: &SqlitePool, tenant_id: Uuid) -> Result<Vec<(i64, i64)>, StoreError> {
    sqlx::query_as(
        "SELECT from_seq, to_seq FROM purged_ranges WHERE tenant_id = ? ORDER BY from_seq",
    )
    .bind(tenant_id.to_string())
    .fetch_all(pool)
    .await
    .map_err(internal)
}

pub async fn unaudited(pool: &SqlitePool, tenant_id: Uuid) -> Result<Vec<(i64, i64)>, StoreError> {
    sqlx::query_as(
        "SELECT r.from_seq, r.to_seq FROM purged_ranges r \
         LEFT JOIN purge_audits a ON a.tenant_id = r.tenant_id AND a.from_seq = r.from_seq \
         WHERE r.tenant_id = ? AND a.from_seq IS NULL ORDER BY r.from_seq",
    )
    .bind(tenant_id.to_string())
    .fetch_all(pool)
    .await
    .map_err(internal)
}

pub async fn delete_range(
    pool: &SqlitePool,
    tenant_id: Uuid,
    (from, to): (i64, i64),
    batch: u32,
) -> Result<(), StoreError> {
    let tenant = tenant_id.to_string();
    let mut start = from;
    while start <= to {
        let end = (start + i64::from(batch.max(1)) - 1).min(to);
        sqlx::query("DELETE FROM entries WHERE tenant_id = ? AND seq BETWEEN ? AND ?")
            .bind(&tenant)
            .bind(start)
            .bind(end)
            .execute(pool)
            .await
            .map_err(internal)?;
        start = end + 1;
        tokio::task::yield_now().await;
    }
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

/// Records the range to purge (the write lock is held by the caller): from the end of
/// the last recorded range to the newest entry recorded before `cutoff`.
pub async fn record(
    pool: &SqlitePool,
    tenant_id: Uuid,
    cutoff: DateTime<Utc>,
    now_ms: i64,
) -> Result<Option<(i64, i64)>, StoreError> {
    let tenant = tenant_id.to_string();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(internal)?;
    let done: Option<i64> =
        sqlx::query_scalar("SELECT max(to_seq) FROM purged_ranges WHERE tenant_id = ?")
            .bind(&tenant)
            .fetch_one(&mut *tx)
            .await
            .map_err(internal)?;
    let start = done.unwrap_or(0) + 1;
    // Entries are recorded in seq order, so everything up to the newest old entry is
    // old: the range is contiguous from the oldest end.
    let end: Option<i64> =
        sqlx::query_scalar("SELECT max(seq) FROM entries WHERE tenant_id = ? AND recorded_at < ?")
            .bind(&tenant)
            .bind(cutoff.timestamp_millis())
            .fetch_one(&mut *tx)
            .await
            .map_err(internal)?;
    let Some(end) = end.filter(|e| *e >= start) else {
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO purged_ranges (tenant_id, from_seq, to_seq, purged_at) VALUES (?, ?, ?, ?)",
    )
    .bind(&tenant)
    .bind(start)
    .bind(end)
    .bind(now_ms)
    .execute(&mut *tx)
    .await
    .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(Some((start, end)))
}
