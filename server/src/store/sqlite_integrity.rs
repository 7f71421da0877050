//! The SQLite side of integrity: chain links and Merkle subtrees written in the append
//! transaction, checkpoints, verification tokens, and the backfill that gives a
//! database from before these tables its links and subtrees.

use super::internal;
use super::sqlite::corrupt;
use app::checkpoint::Checkpoint;
use app::entry::Entry;
use app::merkle::{leaf_hash, Frontier, Hash};
use app::store::{ChainLink, StoreError};
use sqlx::{Row, SqliteConnection, SqlitePool};
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
pub async fn frontier(
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

/// Writes an appended entry's chain link and the subtrees its leaf completes.
pub async fn link(
    conn: &mut SqliteConnection,
    frontier: &mut Frontier,
    entry: &Entry,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO chain_links (tenant_id, seq, entry_digest, hash) VALUES (?, ?, ?, ?)")
        .bind(entry.tenant_id.to_string())
        .bind(entry.seq)
        .bind(&entry.entry_digest)
        .bind(&entry.hash)
        .execute(&mut *conn)
        .await
        .map_err(internal)?;
    push_leaf(
        conn,
        entry.tenant_id,
        frontier,
        &hex_hash(&entry.entry_digest)?,
    )
    .await
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

pub async fn level(
    pool: &SqlitePool,
    tenant_id: Uuid,
    level: u32,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, Hash)>, StoreError> {
    let rows = sqlx::query(
        "SELECT idx, hash FROM merkle_nodes WHERE tenant_id = ? AND level = ? \
         AND idx BETWEEN ? AND ? ORDER BY idx",
    )
    .bind(tenant_id.to_string())
    .bind(i64::from(level))
    .bind(i64::try_from(from).map_err(internal)?)
    .bind(i64::try_from(to).map_err(internal)?)
    .fetch_all(pool)
    .await
    .map_err(internal)?;
    rows.iter()
        .map(|r| {
            let idx: i64 = r.try_get("idx").map_err(internal)?;
            let hash: Vec<u8> = r.try_get("hash").map_err(internal)?;
            Ok((
                u64::try_from(idx).map_err(|_| corrupt("merkle node index"))?,
                to_hash(&hash)?,
            ))
        })
        .collect()
}

pub async fn perfect_nodes(
    pool: &SqlitePool,
    tenant_id: Uuid,
    positions: &[(u32, u64)],
) -> Result<Vec<Hash>, StoreError> {
    let mut conn = pool.acquire().await.map_err(internal)?;
    let mut out = Vec::with_capacity(positions.len());
    for &(level, idx) in positions {
        out.push(
            node(&mut conn, tenant_id, level, idx)
                .await?
                .ok_or_else(|| StoreError::NotFound("merkle subtree".to_owned()))?,
        );
    }
    Ok(out)
}

pub async fn chain_links(
    pool: &SqlitePool,
    tenant_id: Uuid,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<ChainLink>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, entry_digest, hash FROM chain_links WHERE tenant_id = ? AND seq > ? \
         ORDER BY seq LIMIT ?",
    )
    .bind(tenant_id.to_string())
    .bind(after_seq)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(internal)?;
    rows.iter()
        .map(|r| {
            Ok(ChainLink {
                seq: r.try_get("seq").map_err(internal)?,
                entry_digest: r.try_get("entry_digest").map_err(internal)?,
                hash: r.try_get("hash").map_err(internal)?,
            })
        })
        .collect()
}

/// Records a checkpoint. Two signers racing on the same head within the same
/// millisecond produce the very same checkpoint (Ed25519 is deterministic): the
/// second insert is then a no-op, not an error.
pub async fn insert_checkpoint(
    conn: &mut SqliteConnection,
    cp: &Checkpoint,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO checkpoints (tenant_id, tree_size, root_hash, signed_at, key_id, signature, note) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(cp.tenant_id.to_string())
    .bind(i64::try_from(cp.tree_size).map_err(internal)?)
    .bind(&cp.root_hash)
    .bind(cp.signed_at.timestamp_millis())
    .bind(&cp.key_id)
    .bind(&cp.signature)
    .bind(&cp.note)
    .execute(conn)
    .await
    .map_err(internal)?;
    Ok(())
}

pub async fn checkpoints(
    pool: &SqlitePool,
    tenant_id: Uuid,
) -> Result<Vec<Checkpoint>, StoreError> {
    let rows = sqlx::query(
        "SELECT tree_size, root_hash, signed_at, key_id, signature, note FROM checkpoints \
         WHERE tenant_id = ? ORDER BY signed_at DESC, tree_size DESC",
    )
    .bind(tenant_id.to_string())
    .fetch_all(pool)
    .await
    .map_err(internal)?;
    rows.iter()
        .map(|r| {
            let size: i64 = r.try_get("tree_size").map_err(internal)?;
            Ok(Checkpoint {
                tenant_id,
                tree_size: u64::try_from(size).map_err(|_| corrupt("checkpoint size"))?,
                root_hash: r.try_get("root_hash").map_err(internal)?,
                signed_at: super::sqlite::from_millis(r.try_get("signed_at").map_err(internal)?)?,
                key_id: r.try_get("key_id").map_err(internal)?,
                signature: r.try_get("signature").map_err(internal)?,
                note: r.try_get("note").map_err(internal)?,
            })
        })
        .collect()
}
