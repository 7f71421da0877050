//! Retention on SQLite: the single path that deletes entries. A purge records its
//! range first (the DELETE trigger lets through only recorded ranges), then removes
//! content oldest first in short batches, so readers and writers wait at most one
//! batch. Chain links and Merkle subtrees stay.

use super::internal;
use app::store::StoreError;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use tokio::sync::Mutex;
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

async fn delete_range(
    pool: &SqlitePool,
    tenant: &str,
    from: i64,
    to: i64,
    batch: u32,
) -> Result<(), StoreError> {
    let mut start = from;
    while start <= to {
        let end = (start + i64::from(batch.max(1)) - 1).min(to);
        sqlx::query("DELETE FROM entries WHERE tenant_id = ? AND seq BETWEEN ? AND ?")
            .bind(tenant)
            .bind(start)
            .bind(end)
            .execute(pool)
            .await
            .map_err(internal)?;
        start = end + 1;
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// Purges the content of the tenant's entries recorded before `cutoff`, from the
/// oldest end; returns the seq range it recorded, if any.
pub async fn purge_before(
    pool: &SqlitePool,
    write_lock: &Mutex<()>,
    tenant_id: Uuid,
    cutoff: DateTime<Utc>,
    batch: u32,
) -> Result<Option<(i64, i64)>, StoreError> {
    let tenant = tenant_id.to_string();
    // Finish a range an interrupted purge recorded but did not empty.
    if let Some(&(from, to)) = ranges(pool, tenant_id).await?.last() {
        delete_range(pool, &tenant, from, to, batch).await?;
    }
    let range = {
        let _writer = write_lock.lock().await;
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(internal)?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT max(to_seq) FROM purged_ranges WHERE tenant_id = ?")
                .bind(&tenant)
                .fetch_one(&mut *tx)
                .await
                .map_err(internal)?;
        let start = done.unwrap_or(0) + 1;
        // Entries are appended in time order, so everything up to the newest old
        // entry is old: the range is contiguous from the oldest end.
        let end: Option<i64> = sqlx::query_scalar(
            "SELECT max(seq) FROM entries WHERE tenant_id = ? AND recorded_at < ?",
        )
        .bind(&tenant)
        .bind(cutoff.timestamp_millis())
        .fetch_one(&mut *tx)
        .await
        .map_err(internal)?;
        match end.filter(|e| *e >= start) {
            None => None,
            Some(end) => {
                sqlx::query(
                    "INSERT INTO purged_ranges (tenant_id, from_seq, to_seq, purged_at) VALUES (?, ?, ?, ?)",
                )
                .bind(&tenant)
                .bind(start)
                .bind(end)
                .bind(Utc::now().timestamp_millis())
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
                tx.commit().await.map_err(internal)?;
                Some((start, end))
            }
        }
    };
    if let Some((from, to)) = range {
        delete_range(pool, &tenant, from, to, batch).await?;
    }
    Ok(range)
}
