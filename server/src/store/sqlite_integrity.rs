//! The backfill that gives a SQLite database from before the integrity tables its
//! Merkle subtrees and verification tokens (SQLite-only by nature: PostgreSQL
//! deployments start with them).

use super::internal;
use app::merkle::{leaf_hash, Frontier, Hash};
use app::store::StoreError;
use sqlx::{Row, SqliteConnection, SqlitePool};

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored row has an unreadable {what}").into())
}
use uuid::Uuid;

fn to_hash(bytes: &[u8]) -> Result<Hash, StoreError> {
    bytes.try_into().map_err(|_| corrupt("merkle node"))
}

fn hex_hash(text: &str) -> Result<Hash, StoreError> {
    hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt("entry digest"))
}

/// One stored perfect subtree `(level, idx)` of the tenant's tree.
async fn node(
    conn: &mut SqliteConnection,
    tenant_id: Uuid,
    level: u32,
    idx: u64,
) -> Result<Option<Hash>, StoreError> {
    let hash: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT hash FROM merkle_nodes WHERE tenant_id = ? AND level = ? AND idx = ?",
    )
    .bind(tenant_id.to_string())
    .bind(i64::from(level))
    .bind(i64::try_from(idx).map_err(internal)?)
    .fetch_optional(conn)
    .await
    .map_err(internal)?;
    hash.map(|h| to_hash(&h)).transpose()
}

/// The tenant's frontier for a tree of `size` leaves, read from the stored peaks.
async fn frontier(
    conn: &mut SqliteConnection,
    tenant_id: Uuid,
    size: u64,
) -> Result<Frontier, StoreError> {
    let mut peaks = Vec::new();
    for (level, idx) in Frontier::peak_positions(size) {
        let hash = node(conn, tenant_id, level, idx)
            .await?
            .ok_or_else(|| corrupt("merkle frontier (missing node)"))?;
        peaks.push((level, hash));
    }
    Ok(Frontier { size, peaks })
}

async fn push_leaf(
    conn: &mut SqliteConnection,
    tenant_id: Uuid,
    frontier: &mut Frontier,
    digest: &Hash,
) -> Result<(), StoreError> {
    for (level, idx, hash) in frontier.push(leaf_hash(digest)) {
        sqlx::query("INSERT INTO merkle_nodes (tenant_id, level, idx, hash) VALUES (?, ?, ?, ?)")
            .bind(tenant_id.to_string())
            .bind(i64::from(level))
            .bind(i64::try_from(idx).map_err(internal)?)
            .bind(hash.to_vec())
            .execute(&mut *conn)
            .await
            .map_err(internal)?;
    }
    Ok(())
}

/// Gives every tenant the Merkle subtrees of its chain links (databases created
/// before they existed) and a verification token.
pub async fn backfill(pool: &SqlitePool) -> Result<(), StoreError> {
    let tenants: Vec<String> = sqlx::query_scalar("SELECT id FROM tenants")
        .fetch_all(pool)
        .await
        .map_err(internal)?;
    for tenant in tenants {
        let tenant_id = Uuid::parse_str(&tenant).map_err(|_| corrupt("tenant id"))?;
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(internal)?;
        let leaves: i64 = sqlx::query_scalar(
            // Leaves and links are gap-free from the start: their largest position is
            // their count, read from the primary key without a scan.
            "SELECT coalesce(max(idx) + 1, 0) FROM merkle_nodes WHERE tenant_id = ? AND level = 0",
        )
        .bind(&tenant)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal)?;
        let links: i64 =
            sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM chain_links WHERE tenant_id = ?")
                .bind(&tenant)
                .fetch_one(&mut *tx)
                .await
                .map_err(internal)?;
        if leaves < links {
            let mut f = frontier(&mut tx, tenant_id, u64::try_from(leaves).unwrap_or(0)).await?;
            let rows = sqlx::query(
                "SELECT entry_digest FROM chain_links WHERE tenant_id = ? AND seq > ? ORDER BY seq",
            )
            .bind(&tenant)
            .bind(leaves)
            .fetch_all(&mut *tx)
            .await
            .map_err(internal)?;
            for row in rows {
                let digest: String = row.try_get("entry_digest").map_err(internal)?;
                push_leaf(&mut tx, tenant_id, &mut f, &hex_hash(&digest)?).await?;
            }
            tracing::info!(tenant = %tenant, leaves = links - leaves, "built the Merkle tree of existing entries");
        }
        sqlx::query(
            "UPDATE tenants SET verification_token = ? WHERE id = ? AND verification_token IS NULL",
        )
        .bind(app::ssr::secrets::random_token())
        .bind(&tenant)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
    }
    Ok(())
}
